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
    char bans[KEYS_NAME_MAX];               /* HASH: ban id -> JSON ban record (ban.h) */
    char bans_expiry[KEYS_NAME_MAX];        /* ZSET: ban id -> expires_at_ms */
    char bans_channel[KEYS_NAME_MAX];       /* pub/sub: "add <record>" / "del <id>" */
    char users[KEYS_NAME_MAX];              /* HASH: user name -> JSON record (user_record.h) */
    char users_version[KEYS_NAME_MAX];      /* STRING: INCR by every writer of users */
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

/* A user's usage HASHes (fields bytes, requests), fleet totals written by
 * the nodes' reports: "{pf}:v1:usage:<user>:day:<YYYYMMDD>" and
 * "{pf}:v1:usage:<user>:month:<YYYYMM>"; and "{pf}:v1:usage:<user>:live",
 * node id -> "<conns> <rps> <at_ms>" of each node's last report. <user> is
 * 1..64 of [A-Za-z0-9_.@-], <period> 6 or 8 digits. Returns PF_OK,
 * PF_EINVAL for a bad name or period, PF_ERANGE when it does not fit. */
int keys_user_day(const struct keys *k, const char *user, const char *day, char *buf,
                  size_t len) PF_MUSTCHECK;
int keys_user_month(const struct keys *k, const char *user, const char *month, char *buf,
                    size_t len) PF_MUSTCHECK;
int keys_user_live(const struct keys *k, const char *user, char *buf, size_t len) PF_MUSTCHECK;

/* Returns 1 when <user> may name usage keys (see keys_user_day()). */
int keys_valid_user(const char *user);

/* Returns 1 when <name> is a valid provider name or node id: 1..63 chars of
 * [A-Za-z0-9_.-]. Such names are safe inside keys and log lines. */
int keys_valid_name(const char *name);

#endif
