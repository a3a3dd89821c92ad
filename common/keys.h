/* The Redis schema: every key and channel name is built here and nowhere else.
 * All names share one prefix carrying a single hash tag, "{<prefix>}:v1",
 * so MULTI and Lua across them also work on Redis Cluster.
 * docs/redis-keys.md documents types, writers and readers. */
#ifndef PF_KEYS_H
#define PF_KEYS_H

#include <stddef.h>

#include "err.h"

#define KEYS_PREFIX_MAX 32
#define KEYS_NAME_MAX   192

struct keys {
    char base[KEYS_PREFIX_MAX + 8];         /* "{pf}:v1" */
    char pool_meta[KEYS_NAME_MAX];          /* HASH: version, epoch, count, ... */
    char pool_upstreams[KEYS_NAME_MAX];     /* HASH: upstream id -> JSON record */
    char pool_expiry[KEYS_NAME_MAX];        /* ZSET: upstream id -> expires_at_ms */
    char pool_channel[KEYS_NAME_MAX];       /* pub/sub: "<version> <epoch>" */
    char pool_log[KEYS_NAME_MAX];           /* STREAM: one entry per version (pool_delta.h) */
    char providers[KEYS_NAME_MAX];          /* SET: provider names */
    char nodes[KEYS_NAME_MAX];              /* ZSET: node id -> last report ms */
    char controller[KEYS_NAME_MAX];         /* HASH: leader id, heartbeat, ... */
    char controller_lease[KEYS_NAME_MAX];   /* STRING with PX: leader token */
    char health[KEYS_NAME_MAX];             /* HASH: upstream id -> JSON health state */
};

/* Fills <k> for <prefix> (1..32 chars of [A-Za-z0-9_.-]; braces are added
 * here). Returns PF_OK, or PF_EINVAL with a reason in <err>. */
int keys_init(struct keys *k, const char *prefix, struct pf_err *err) PF_MUSTCHECK;

/* Per-provider HASH "{pf}:v1:provider:<name>" into <buf>.
 * Returns PF_OK or PF_ERANGE when it does not fit. */
int keys_provider(const struct keys *k, const char *name, char *buf, size_t len) PF_MUSTCHECK;

/* Per-node metrics HASH "{pf}:v1:node:<node_id>" (expires with the node). */
int keys_node(const struct keys *k, const char *node_id, char *buf, size_t len) PF_MUSTCHECK;

/* Per-node upstream outcome HASH "{pf}:v1:node:<node_id>:upstreams":
 * upstream id -> "<attempts> <failures>", cumulative since the node started,
 * expiring with the node. The controller diffs successive reads. */
int keys_node_upstreams(const struct keys *k, const char *node_id, char *buf, size_t len) PF_MUSTCHECK;

/* Returns 1 when <name> is a valid provider name or node id: 1..63 chars of
 * [A-Za-z0-9_.-]. Such names are safe inside keys and log lines. */
int keys_valid_name(const char *name);

#endif
