/* The node's local copy of the upstream pool. Filled from Redis by
 * pool_sync.c, read by the selection code on every new connection. The
 * cache survives Redis outages: it is only replaced by a newer snapshot.
 *
 * Every record is checked against the node's own upstream policy
 * (node.upstream_allow_private, pool_cache_set_policy) when a snapshot is
 * laid out (pool_build): a record the policy refuses stays in the pool,
 * counted in <ndenied>, but is never selected, so a wrong or poisoned
 * snapshot cannot send the node to loopback, private or metadata
 * addresses. A hostname record is checked again once resolved (dial.c).
 * Selection honours provider tiers (select_restrict_tier()).
 *
 * Beside the snapshot it keeps per-upstream state, carried by upstream id
 * across snapshot swaps: active connections (least_conn), cumulative
 * attempts/failures (the node report), consecutive failures and local
 * passive ejection. An upstream that leaves the pool loses its state. */
#ifndef PF_NODE_POOL_CACHE_H
#define PF_NODE_POOL_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "conf.h"
#include "pf.h"
#include "pool-t.h"
#include "select.h"
#include "upstream-t.h"

/* Local passive ejection settings (node.eject_*). */
struct pool_eject_conf {
    int consecutive_failures;       /* 0 = never eject */
    int base_ms;                    /* n-th ejection lasts base_ms x n ... */
    int max_ms;                     /* ... capped here */
};

/* One pick (pool_cache_select). */
struct pool_select_req {
    enum conf_strategy strategy;
    int64_t      now_wall_ms;       /* expiry */
    int64_t      now_mono_ms;       /* ejection, rotation */
    const long  *exclude;           /* indexes this connection already failed on */
    size_t       nexclude;
    unsigned     scheme_mask;       /* bit (1u << scheme) set for schemes dial can speak */
    int          has_session;       /* sticky: rendezvous on session_hash */
    uint64_t     session_hash;
    uint64_t     rnd;               /* random bits for random/weighted */
    int          rotate_interval_s; /* rotate strategy */
    int          is_eject_panic;    /* every candidate ejected: pick among them anyway */
    const struct select_filter *filter; /* label subset (user-name parameters); NULL or
                                           mask 0 = the whole pool */
    int          is_filter_fallback;/* the subset is empty: use the whole pool instead */
    /* a caller's exclusion (bans): called for a candidate that passes every
     * other check; 1 = skip it. NULL = none. <idx> is a pool index. */
    int        (*is_excluded)(void *arg, size_t idx);
    void        *excluded_arg;
};

struct pool_select_res {
    size_t nunsupported;            /* upstreams skipped for their scheme */
    int    is_ejection_ignored;     /* every candidate was ejected: used anyway (panic) */
    int    is_all_ejected;          /* -1 returned: every candidate is ejected */
    int64_t retry_after_ms;         /* with is_all_ejected: until the first ejection ends */
    int    is_filter_empty;         /* -1 returned: no upstream the node could use matches
                                       rq->filter (the 503 names the filter) */
    int    is_filter_fallback_used; /* the subset was empty: picked from the whole pool */
};

void pool_cache_init(struct pool_cache *pc);

/* Sets the upstream policy records are checked against (borrowed: must
 * outlive <pc>; NULL = public addresses only, the default after
 * pool_cache_init()). Applies from the next snapshot laid out. */
void pool_cache_set_policy(struct pool_cache *pc, const struct conf_upstream_policy *policy);
void pool_cache_deinit(struct pool_cache *pc);

/* Returns 1 when a notice or meta read of (<version>, <epoch>) must trigger a
 * reload: new epoch, or a greater version. */
int pool_cache_is_stale(const struct pool_cache *pc, int64_t version, const char *epoch);

/* Replaces the contents with <items> (<count>) in one go (a pool_build run
 * to the end: sort by id, carry the local state of upstreams present in
 * both snapshots). Takes ownership of <items> (malloc'd array) and frees
 * it. On allocation failure the previous snapshot stays. For startup and
 * tests; pool_sync applies Redis snapshots in slices (pool_sync.c). */
void pool_cache_replace(struct pool_cache *pc, struct upstream *items, size_t count,
                        int64_t version, const char *epoch, int64_t now_mono_ms);

/* Picks the next upstream for a new connection (round robin), skipping
 * those expired at <now_wall_ms> and the <nexclude> indexes in <exclude>.
 * Returns the index, or -1 when none is usable. Callers copy the upstream:
 * the array is replaced on the next snapshot. */
long pool_cache_pick(struct pool_cache *pc, int64_t now_wall_ms,
                     const long *exclude, size_t nexclude);

/* Picks an upstream for <rq>: sticky (rendezvous) when rq->has_session,
 * else by rq->strategy, among upstreams allowed by the policy, not
 * expired, not excluded (rq->exclude, rq->is_excluded), matching
 * rq->filter, of a usable scheme and not ejected, of the lowest tier that
 * has any. When upstreams could serve but none matches the filter: with
 * rq->is_filter_fallback the whole pool is used
 * (res->is_filter_fallback_used), else -1 with res->is_filter_empty. When all those are ejected: with
 * rq->is_eject_panic they are used anyway (res->is_ejection_ignored), else
 * -1 with res->is_all_ejected and res->retry_after_ms (time until the
 * first ejection ends). Fills <res> (may be NULL). Returns the index or -1. */
long pool_cache_select(struct pool_cache *pc, const struct pool_select_req *rq,
                       struct pool_select_res *res);

/* What the pool holds for this node now (pool_cache_count_usable()): each
 * upstream counts once, under the first reason that applies. */
struct pool_usable {
    size_t usable;                  /* a pick can choose it */
    size_t denied;                  /* refused by the node's upstream policy */
    size_t expired;                 /* expires_at_ms passed */
    size_t unsupported;             /* a scheme this node cannot dial */
    size_t ejected;                 /* locally ejected now (not usable unless panic) */
};

/* Counts the upstreams of <pc> at <now_wall_ms> (expiry) and <now_mono_ms>
 * (ejection) by what pool_cache_select() would make of them: allowed by
 * the policy, not expired, schemes in
 * <scheme_mask> are supported; with <is_eject_panic> the ejected ones are
 * usable when nothing else is (selection then uses them anyway). */
void pool_cache_count_usable(const struct pool_cache *pc, int64_t now_wall_ms, int64_t now_mono_ms,
                             unsigned scheme_mask, int is_eject_panic, struct pool_usable *out);

/* Index of upstream <id>, or -1. O(log n). */
long pool_cache_find(const struct pool_cache *pc, const char *id);

/* A connection starts (+1) or stops (-1) using upstream <id> (least_conn). */
void pool_cache_conn_delta(struct pool_cache *pc, const char *id, int delta);

/* Records an attempt through upstream <id> and its outcome. Returns 1 when
 * this failure ejects the upstream (until <*until_ms>, may be NULL). */
int pool_cache_record(struct pool_cache *pc, const char *id, int is_failure,
                      int64_t now_mono_ms, const struct pool_eject_conf *ec, int64_t *until_ms);

#endif
