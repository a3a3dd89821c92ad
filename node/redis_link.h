/* The node's link to Redis: hiredis async on the node's libevent loop.
 * Two connections: one SUBSCRIBEd to the pool channel, one for commands
 * (snapshot reads, reports). hiredis 0.14.1's libevent adapter has no
 * timers, so this module arms its own connect and command deadlines and a
 * PING, and reconnects with exponential backoff and full jitter.
 * While disconnected the pool cache is left as it is: the node keeps
 * serving the last snapshot it had. */
#ifndef PF_NODE_REDIS_LINK_H
#define PF_NODE_REDIS_LINK_H

#include <stddef.h>

#include "conf.h"
#include "err.h"
#include "keys.h"
#include "pool_cache.h"

struct event_base;
struct redis_link;
struct seal_key;

/* Counters the link keeps for /metrics and the report. */
struct redis_link_stats {
    uint64_t connects;            /* successful (re)connects of the command link */
    uint64_t disconnects;         /* losses of either connection */
    uint64_t notices;             /* pool notices received */
    uint64_t reloads;             /* snapshots applied */
    uint64_t bad_records;         /* upstream records skipped as undecodable */
    uint64_t command_timeouts;    /* commands that hit their deadline */
    uint64_t apply_superseded;    /* applies abandoned for a newer snapshot */
};

/* Creates the link and starts connecting (non-blocking; returns at once).
 * <conf>, <keys>, <cache> and <cred_key> (NULL = no credential key: sealed
 * records are skipped as bad) are borrowed and must outlive the link; the
 * link replaces <cache>'s contents when a newer snapshot is seen.
 * Returns NULL with a reason in <err> on allocation failure. */
struct redis_link *redis_link_create(struct event_base *base, const struct conf_redis *conf,
                                     const struct keys *keys, struct pool_cache *cache,
                                     const struct seal_key *cred_key,
                                     struct pf_err *err);

/* Disconnects and frees <link> (accepts NULL). Safe to call from outside
 * hiredis callbacks only. */
void redis_link_destroy(struct redis_link *link);

/* Returns 1 when the command connection is up and subscribed. */
int redis_link_is_connected(const struct redis_link *link);

/* Writes one node report: HSET <node key> <nfields> name/value pairs,
 * PEXPIRE it to <ttl_ms>, and ZADD {pf}:v1:nodes <now_wall_ms> <node_id>.
 * <names>/<values> are copied. Dropped (returns PF_EAGAIN) while
 * disconnected: a report is not worth queueing. */
int redis_link_report(struct redis_link *link, const char *node_id,
                      const char *const *names, const char *const *values, size_t nfields,
                      int ttl_ms, int64_t now_wall_ms);

/* Writes per-upstream outcome counters: HSET {pf}:v1:node:<node_id>:upstreams
 * with <nfields> id/value pairs (sent in batches) and PEXPIRE it to <ttl_ms>.
 * Nothing is written when <nfields> is 0. Dropped (PF_EAGAIN) while
 * disconnected. */
int redis_link_report_upstreams(struct redis_link *link, const char *node_id,
                                const char *const *names, const char *const *values,
                                size_t nfields, int ttl_ms);

/* Returns a pointer to the link's counters (owned by the link). */
const struct redis_link_stats *redis_link_get_stats(const struct redis_link *link);

#endif
