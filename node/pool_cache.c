/* The node's local pool copy; see pool_cache.h. */
#include "pool_cache.h"

#include <stdlib.h>
#include <string.h>
#include <stdio.h>

#include "clock.h"
#include "pool_build.h"

void pool_cache_init(struct pool_cache *pc)
{
    memset(pc, 0, sizeof(*pc));
    pc->rotate_idx = -1;
}

void pool_cache_set_policy(struct pool_cache *pc, const struct conf_upstream_policy *policy)
{
    pc->policy = policy;
}

static void pool_free_arrays(struct upstream *items, char **ids, char *arena,
                             struct select_item *sel, struct pool_ustate *st)
{
    free(items);
    free(ids);
    free(arena);
    free(sel);
    free(st);
}

void pool_cache_deinit(struct pool_cache *pc)
{
    if (pc == NULL)
        return;
    pool_free_arrays(pc->items, pc->ids, pc->id_arena, pc->sel, pc->st);
    pc->items = NULL;
    pc->ids = NULL;
    pc->id_arena = NULL;
    pc->sel = NULL;
    pc->st = NULL;
    pc->count = 0;
    pc->rotate_idx = -1;
}

int pool_cache_is_stale(const struct pool_cache *pc, int64_t version, const char *epoch)
{
    if (epoch == NULL)
        epoch = "";
    if (pc->version == 0 || strcmp(pc->epoch, epoch) != 0)
        return 1;
    return version > pc->version;
}

/* Moves <items> into a new build, one struct copy each. */
static struct pool_build *build_from(struct upstream *items, size_t count, int64_t version,
                                     const char *epoch)
{
    struct pool_build *b = pool_build_create(count, version, epoch);
    if (b == NULL)
        return NULL;
    for (size_t i = 0; i < count; i++) {
        *pool_build_slot(b) = items[i];
        if (pool_build_push(b) != PF_OK) {
            pool_build_destroy(b);
            return NULL;
        }
    }
    return b;
}

void pool_cache_replace(struct pool_cache *pc, struct upstream *items, size_t count,
                        int64_t version, const char *epoch, int64_t now_mono_ms)
{
    int64_t t0 = clock_mono_us();
    struct pool_build *b = build_from(items, count, version, epoch);
    free(items);
    /* out of memory: keep the previous snapshot (a later reload retries) */
    if (b == NULL || pool_build_step(b, pc, SIZE_MAX) != PF_OK ||
        pool_build_commit(b, pc, now_mono_ms) != PF_OK) {
        pool_build_destroy(b);
        return;
    }
    pool_build_destroy(b);
    pc->last_apply_total_us = clock_mono_us() - t0;
    pc->last_apply_max_slice_us = pc->last_apply_total_us;
    pc->last_apply_slices = 1;
}

static int is_excluded(const long *exclude, size_t nexclude, size_t idx)
{
    for (size_t k = 0; k < nexclude; k++)
        if (exclude[k] == (long)idx)
            return 1;
    return 0;
}

/* 1 when <u> carries an expiry (0 = none) that has passed at <now_wall_ms>. */
static int is_expired(const struct upstream *u, int64_t now_wall_ms)
{
    return u->expires_at_ms != 0 && u->expires_at_ms <= now_wall_ms;
}

long pool_cache_pick(struct pool_cache *pc, int64_t now_wall_ms,
                     const long *exclude, size_t nexclude)
{
    for (size_t i = 0; i < pc->count; i++) {
        const struct upstream *u = &pc->items[i];
        pc->sel[i].is_usable = !pc->sel[i].is_denied && !is_expired(u, now_wall_ms) &&
                               !is_excluded(exclude, nexclude, i);
    }
    select_restrict_tier(pc->sel, pc->count);
    return select_round_robin(pc->sel, pc->count, &pc->rr_next);
}

/* Marks usable upstreams for <rq> (matching <filter> when not NULL);
 * returns how many. */
static size_t mark_usable(struct pool_cache *pc, const struct pool_select_req *rq,
                          const struct select_filter *filter, int is_ejection_checked,
                          struct pool_select_res *res)
{
    size_t n = 0;
    for (size_t i = 0; i < pc->count; i++) {
        const struct upstream *u = &pc->items[i];
        int ok = !pc->sel[i].is_denied &&
                 (filter == NULL || select_filter_match(filter, &pc->sel[i].labels)) &&
                 !is_expired(u, rq->now_wall_ms) && !is_excluded(rq->exclude, rq->nexclude, i);
        if (ok && !(rq->scheme_mask & (1u << (unsigned)u->scheme))) {
            ok = 0;
            if (is_ejection_checked && res != NULL)
                res->nunsupported++;
        }
        if (ok && is_ejection_checked && pc->st[i].ejected_until_ms > rq->now_mono_ms)
            ok = 0;
        if (ok && rq->is_excluded != NULL && rq->is_excluded(rq->excluded_arg, i))
            ok = 0;
        pc->sel[i].is_usable = ok;
        n += (size_t)ok;
    }
    return n;
}

static long pick_rotate(struct pool_cache *pc, const struct pool_select_req *rq)
{
    long cur = pc->rotate_idx;
    if (cur >= 0 && (size_t)cur < pc->count && pc->sel[cur].is_usable &&
        rq->rotate_interval_s > 0 && rq->now_mono_ms < pc->rotate_until_ms)
        return cur;
    /* the next usable one after the current, in id order */
    uint64_t cursor = cur >= 0 ? (uint64_t)cur + 1 : pc->rr_next;
    long idx = select_round_robin(pc->sel, pc->count, &cursor);
    if (idx >= 0) {
        pc->rotate_idx = idx;
        pc->rotate_until_ms = rq->now_mono_ms + (int64_t)rq->rotate_interval_s * 1000;
    }
    return idx;
}

long pool_cache_select(struct pool_cache *pc, const struct pool_select_req *rq,
                       struct pool_select_res *res)
{
    if (res != NULL)
        memset(res, 0, sizeof(*res));
    if (pc->count == 0)
        return -1;
    const struct select_filter *filter = rq->filter != NULL && rq->filter->mask != 0 ? rq->filter : NULL;
    struct pool_select_req plain = *rq;
    plain.is_excluded = NULL;   /* the subset is empty of itself, not through bans */
    if (filter != NULL && mark_usable(pc, &plain, filter, 0, NULL) == 0) {
        /* nothing of the subset could serve, ejected or not */
        if (mark_usable(pc, &plain, NULL, 0, NULL) == 0)
            return -1;          /* nor could anything else: plain "no upstream" */
        if (!rq->is_filter_fallback) {
            if (res != NULL)
                res->is_filter_empty = 1;
            return -1;
        }
        filter = NULL;
        if (res != NULL)
            res->is_filter_fallback_used = 1;
    }
    if (mark_usable(pc, rq, filter, 1, res) == 0) {
        if (mark_usable(pc, rq, filter, 0, NULL) == 0)
            return -1;
        if (!rq->is_eject_panic) {
            /* HAProxy's "no server available": a fast 503 with Retry-After
             * instead of dialing upstreams that just failed in a row; the
             * first to come back is tried by the next request */
            if (res != NULL) {
                res->is_all_ejected = 1;
                res->retry_after_ms = INT64_MAX;
                for (size_t i = 0; i < pc->count; i++)
                    if (pc->sel[i].is_usable)
                        res->retry_after_ms = PF_MIN_OF(res->retry_after_ms,
                                                        pc->st[i].ejected_until_ms - rq->now_mono_ms);
            }
            return -1;
        }
        if (res != NULL)
            res->is_ejection_ignored = 1;
    }
    /* The lowest tier with a usable upstream serves (HAProxy's backup). */
    select_restrict_tier(pc->sel, pc->count);
    if (rq->has_session)
        return select_hrw(pc->sel, pc->count, rq->session_hash);
    /* A retry (something already excluded) walks on from the shared cursor
     * without moving it: each request advances round robin once, so a dead
     * upstream is tried first by its fair share of requests, not by all. */
    uint64_t retry_cursor = pc->rr_next;
    uint64_t *cursor = rq->nexclude > 0 ? &retry_cursor : &pc->rr_next;
    switch (rq->strategy) {
    case CONF_STRATEGY_RANDOM:     return select_random(pc->sel, pc->count, rq->rnd);
    case CONF_STRATEGY_LEAST_CONN: return select_least_conn(pc->sel, pc->count, cursor);
    case CONF_STRATEGY_WEIGHTED:   return select_weighted(pc->sel, pc->count, rq->rnd);
    case CONF_STRATEGY_ROTATE:     return pick_rotate(pc, rq);
    case CONF_STRATEGY_ROUND_ROBIN:
    default:                       return select_round_robin(pc->sel, pc->count, cursor);
    }
}

void pool_cache_count_usable(const struct pool_cache *pc, int64_t now_wall_ms, int64_t now_mono_ms,
                             unsigned scheme_mask, int is_eject_panic, struct pool_usable *out)
{
    memset(out, 0, sizeof(*out));
    for (size_t i = 0; i < pc->count; i++) {
        const struct upstream *u = &pc->items[i];
        if (pc->sel[i].is_denied)
            out->denied++;
        else if (is_expired(u, now_wall_ms))
            out->expired++;
        else if (!(scheme_mask & (1u << (unsigned)u->scheme)))
            out->unsupported++;
        else if (pc->st[i].ejected_until_ms > now_mono_ms)
            out->ejected++;
        else
            out->usable++;
    }
    if (out->usable == 0 && is_eject_panic)
        out->usable = out->ejected;
}

long pool_cache_find(const struct pool_cache *pc, const char *id)
{
    size_t lo = 0, hi = pc->count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int d = strcmp(pc->ids[mid], id);
        if (d == 0)
            return (long)mid;
        if (d < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

void pool_cache_conn_delta(struct pool_cache *pc, const char *id, int delta)
{
    long i = pool_cache_find(pc, id);
    if (i < 0)
        return;       /* left the pool: its state went with it */
    pc->sel[i].active += delta;
    if (pc->sel[i].active < 0)
        pc->sel[i].active = 0;
}

int pool_cache_record(struct pool_cache *pc, const char *id, int is_failure,
                      int64_t now_mono_ms, const struct pool_eject_conf *ec, int64_t *until_ms)
{
    long i = pool_cache_find(pc, id);
    if (i < 0)
        return 0;
    struct pool_ustate *s = &pc->st[i];
    struct select_item *v = &pc->sel[i];
    s->attempts++;
    if (!is_failure) {
        v->consecutive_failures = 0;
        /* a long healthy stretch forgets past ejections */
        if (s->ejections > 0 && ec != NULL &&
            now_mono_ms > s->ejected_until_ms + (int64_t)ec->max_ms)
            s->ejections = 0;
        return 0;
    }
    s->failures++;
    v->consecutive_failures++;
    if (ec == NULL || ec->consecutive_failures <= 0 ||
        v->consecutive_failures < (uint32_t)ec->consecutive_failures)
        return 0;
    s->ejections++;
    int64_t ms = (int64_t)ec->base_ms * s->ejections;
    if (ms > ec->max_ms)
        ms = ec->max_ms;
    s->ejected_until_ms = now_mono_ms + ms;
    v->consecutive_failures = 0;
    if (until_ms != NULL)
        *until_ms = s->ejected_until_ms;
    return 1;
}
