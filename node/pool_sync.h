/* Keeps the node's pool cache in step with the snapshot in Redis
 * (docs/redis-keys.md, "The pool snapshot"), over the redis_link session:
 *   - notices "<version> <epoch>" on {pf}:v1:pool:events;
 *   - the meta check, HMGET pool:meta version epoch, right after each
 *     (re)connect (subscribed first, so no notice falls in between) and
 *     every max(5 s, 2 x redis.command_timeout_ms), which catches a lost
 *     notice and is the session's liveness probe;
 *   - the log read, MULTI / HGETALL pool:meta / XRANGE pool:log <v+1>-0 +
 *     / EXEC, when a notice or the meta names a version at most 64 ahead of
 *     the one served, in the same epoch, and nothing else is being applied:
 *     the entries' changes go on top of the served pool, whose digest must
 *     then be the meta's (pool_apply_create_patch); a gap, a trimmed log, an
 *     epoch change, a digest mismatch or a bad entry falls back to
 *   - the snapshot read, MULTI / HGETALL pool:meta / HGETALL pool:upstreams
 *     / EXEC, when a notice or the meta names a snapshot newer than the one
 *     served and the one being applied (pool_apply_is_wanted). A node that
 *     serves a pool first waits a random 0..node.resync_spread_ms (full
 *     jitter), so a fleet that learns of a new epoch at once (a Redis
 *     restart) does not read it at once;
 *   - the apply: pool_apply slices from a zero-delay timer, about 1 ms of
 *     work per loop turn, then one swap into the cache.
 * While Redis is unreachable the cache is left as it is: the node keeps
 * serving the last snapshot it had, and an apply in progress goes on. */
#ifndef PF_NODE_POOL_SYNC_H
#define PF_NODE_POOL_SYNC_H

#include <stdint.h>

#include "conf.h"
#include "err.h"
#include "keys.h"
#include "pool-t.h"

struct event_base;
struct pool_sync;
struct redis_link;
struct seal_key;

/* Counters for /metrics, /stats and the report. */
struct pool_sync_stats {
    uint64_t notices;             /* pool notices received */
    uint64_t reloads;             /* snapshots applied */
    uint64_t bad_records;         /* upstream records skipped as undecodable */
    uint64_t apply_superseded;    /* applies abandoned for a newer snapshot */
    uint64_t delta_applies;       /* versions taken from the pool log (each read) */
    uint64_t delta_fallbacks[5];  /* log reads given up for a whole read: gap, trimmed,
                                   * epoch, digest, bad (pool_sync.c) */
    uint64_t resync_delayed;      /* whole reads that waited a resync_spread_ms jitter */
};

/* Creates the sync on <base> and makes it <link>'s listener. <link>,
 * <conf> (command_timeout_ms sets the check period), <keys>, <cache> and
 * <cred_key> (NULL = no credential key: sealed records are skipped as bad)
 * are borrowed and must outlive it; <cache> is replaced when a newer
 * snapshot is seen. <resync_spread_ms> (node.resync_spread_ms, 0 = none)
 * spreads whole reads. Returns NULL with a reason in <err> on allocation
 * failure. */
struct pool_sync *pool_sync_create(struct event_base *base, struct redis_link *link,
                                   const struct conf_redis *conf, const struct keys *keys,
                                   struct pool_cache *cache, const struct seal_key *cred_key,
                                   int resync_spread_ms, struct pf_err *err);

/* Stops and frees <s> (accepts NULL), an apply in progress included.
 * Destroy it together with its link (no loop turn in between): the link
 * still holds <s> as its listener and as the argument of commands in
 * flight. */
void pool_sync_destroy(struct pool_sync *s);

/* Returns a pointer to the counters (owned by <s>). */
const struct pool_sync_stats *pool_sync_get_stats(const struct pool_sync *s);

#endif
