/* The node's pool snapshot kept in step with Redis; see pool_sync.h.
 *
 * At most one meta check or snapshot read is in flight (<is_busy>); a
 * notice arriving meanwhile only asks for another check when it is done
 * (<is_recheck_wanted>). A notice is trusted enough to read the snapshot
 * at once; a malformed one only triggers a check. The snapshot reply's
 * upstream array is taken out of the EXEC reply and held until the apply
 * job has decoded its pairs, its reply objects freed as the job goes. */
#include "pool_sync.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "addr.h"
#include "clock.h"
#include "log.h"
#include "pool_apply.h"
#include "pool_cache.h"
#include "pool_delta.h"
#include "pool_digest.h"
#include "redis_link.h"
#include "rng.h"
#include "snapshot.h"

#define POOL_SYNC_CHECK_MS         5000      /* periodic meta check / liveness */
#define POOL_SYNC_MAX_UPSTREAMS    100000    /* larger snapshots are refused */
#define POOL_SYNC_APPLY_TURN_US    1000      /* snapshot apply work per loop turn */
#define POOL_SYNC_PATCH_TURN_US    4000      /* pool log apply work per loop turn: a few
                                              * turns, each a trip through the scheduler
                                              * on a loaded box, instead of dozens */
#define POOL_SYNC_DELTA_MAX        64        /* versions behind still read from the log */
#define POOL_SYNC_DELTA_MAX_OPS    65536     /* changes taken from one log read */

_Static_assert(POOL_EPOCH_MAX == SNAPSHOT_EPOCH_MAX, "the cache holds any valid epoch");

struct pool_sync {
    struct event_base        *base;        /* borrowed */
    struct redis_link        *link;        /* borrowed from node_ctx */
    const struct conf_redis  *conf;        /* borrowed */
    const struct keys        *keys;        /* borrowed */
    struct pool_cache        *cache;       /* borrowed; replaced on newer snapshots */
    const struct seal_key    *cred_key;    /* borrowed; opens sealed passwords, NULL = none */
    struct event             *check_ev;    /* owned: periodic meta check, persistent */
    struct event             *apply_ev;    /* owned: zero-delay timer, one apply slice per loop turn */
    struct pool_apply        *apply;       /* owned: snapshot being applied; NULL when none */
    struct redis_link_reply  *apply_ups;   /* owned: HGETALL pool:upstreams the job reads */
    struct snapshot_pair     *apply_pairs; /* owned: its pairs, pointing into <apply_ups> */
    size_t                    apply_npairs;
    size_t                    apply_released;   /* pairs whose reply objects are freed */
    int64_t                   apply_fetch_ms;   /* its read time, for the log */
    int64_t                   apply_prev_version; /* cache version when it started */
    int64_t                   apply_meta_count; /* its meta count (-1 absent), for the log */
    int                       is_busy;     /* a meta check or reload is in flight */
    int                       is_recheck_wanted; /* notice arrived while busy */
    int                       is_snapshot_absent; /* last check saw no version */
    int                       is_full_wanted; /* the log failed us: next read is whole */
    int                       is_patch_recheck; /* a notice came while a log apply ran:
                                                 * check again once it is in */
    int                       resync_spread_ms; /* full reads of a node that serves a pool
                                               * wait a random 0..this (the herd) */
    struct event             *resync_ev;   /* owned: the jittered full read waits here */
    struct rng                rng;         /* that jitter */
    int64_t                   delta_base;  /* version the log read in flight starts after */
    int64_t                   reload_started_ms;  /* monotonic */
    struct pool_sync_stats    stats;
};

static void sync_start_check(struct pool_sync *s);
static void sync_fetch(struct pool_sync *s, int64_t version, const char *epoch);
static void sync_full(struct pool_sync *s);

/* ---- small helpers ---------------------------------------------------- */

static void sync_timer_ms(struct event *ev, int64_t ms)
{
    struct timeval tv;
    if (ms < 0)
        ms = 0;
    tv.tv_sec = (time_t)(ms / 1000);
    tv.tv_usec = (suseconds_t)((ms % 1000) * 1000);
    evtimer_add(ev, &tv);
}

/* Copies at most <max> bytes of untrusted <s> into <buf> for a log line,
 * replacing anything unprintable. */
static const char *sync_sanitize(char *buf, size_t len, const char *s, size_t slen)
{
    size_t n = 0;
    for (size_t i = 0; i < slen && n + 4 < len; i++) {
        unsigned char ch = (unsigned char)s[i];
        buf[n++] = (ch >= 0x20 && ch < 0x7f) ? (char)ch : '?';
    }
    if (n + 4 >= len && slen > n) {
        buf[n++] = '.';
        buf[n++] = '.';
        buf[n++] = '.';
    }
    buf[n] = '\0';
    return buf;
}

/* A hash field name: a string (bulk or status), else NULL. */
static const char *sync_field(const struct redis_link_reply *r, size_t *len)
{
    enum redis_link_reply_type t = redis_link_reply_type(r);
    if (t != REDIS_LINK_REPLY_STRING && t != REDIS_LINK_REPLY_STATUS) {
        *len = 0;
        return NULL;
    }
    return redis_link_reply_str(r, len);
}

/* A pool:meta value for snapshot_meta_field(): NULL when absent (nil), its
 * bytes when a string, "" (never valid) for anything else. */
static const char *sync_meta_value(const struct redis_link_reply *r, size_t *len)
{
    if (redis_link_reply_type(r) == REDIS_LINK_REPLY_NIL) {
        *len = 0;
        return NULL;
    }
    const char *v = sync_field(r, len);
    return v != NULL ? v : "";
}

/* Called when the busy command (check or reload) is done. */
static void sync_done(struct pool_sync *s)
{
    s->is_busy = 0;
    if (s->is_recheck_wanted && redis_link_is_connected(s->link)) {
        s->is_recheck_wanted = 0;
        sync_start_check(s);
    }
}

/* Returns 1 when snapshot (<version>, <epoch>) is worth reading: newer
 * than both the cache and the snapshot being applied (pool_apply.h). */
static int sync_is_wanted(const struct pool_sync *s, int64_t version, const char *epoch)
{
    return pool_apply_is_wanted(s->cache, s->apply, version, epoch);
}

/* Why a read of the pool log was given up for a whole read. */
enum sync_fallback {
    SYNC_FB_GAP = 0,       /* an entry missing between two, or too far behind */
    SYNC_FB_TRIMMED,       /* the log no longer starts right after our version */
    SYNC_FB_EPOCH,         /* another epoch in the meta or in an entry */
    SYNC_FB_DIGEST,        /* the pool built differs from the meta's digest or count */
    SYNC_FB_BAD,           /* an entry or record that does not parse, no digest */
};

static const char *const sync_fallback_names[] = { "gap", "trimmed", "epoch", "digest", "bad" };

static void sync_fallback(struct pool_sync *s, enum sync_fallback why, const char *detail)
{
    s->stats.delta_fallbacks[why]++;
    log_info("redis: pool log not usable after version %" PRId64 " (%s%s%s); reading the "
             "whole pool", s->cache->version, sync_fallback_names[why],
             detail[0] != '\0' ? ": " : "", detail);
    s->is_full_wanted = 1;
}

/* ---- the apply job ---------------------------------------------------- */

/* Folds one apply slice of <slice_us> into the job's figures: the longest
 * slice is what blocked the loop. */
static void sync_apply_account(struct pool_sync *s, int64_t slice_us)
{
    struct pool_apply *a = s->apply;
    a->nslices++;
    if (slice_us > a->max_slice_us)
        a->max_slice_us = slice_us;
}

static void sync_apply_log(struct pool_sync *s, const struct pool_apply *a, int64_t total_us)
{
    struct pool_cache *pc = s->cache;
    size_t count = pool_apply_count(a);
    if (a->ops != NULL) {
        s->stats.delta_applies++;
        log_info("redis: pool updated: version %" PRId64 " (was %" PRId64 ") epoch %s, "
                 "%zu upstreams, %zu changes from the pool log, read in %" PRId64 " ms, "
                 "applied in %" PRId64 " us (%u slices, longest %" PRId64 " us)",
                 pc->version, s->apply_prev_version, pc->epoch, count, a->nops,
                 s->apply_fetch_ms, total_us, a->nslices, a->max_slice_us);
        return;
    }
    s->is_full_wanted = 0;
    s->stats.reloads++;
    s->stats.bad_records += a->nbad;
    if (a->nbad > 0)
        log_warn("redis: pool version %" PRId64 ": skipped %zu bad upstream record%s "
                 "(first: %s)", pc->version, a->nbad, a->nbad == 1 ? "" : "s", a->first_bad);
    if (s->apply_meta_count >= 0 && (size_t)s->apply_meta_count != count + a->nbad)
        log_debug("redis: pool version %" PRId64 ": meta count %" PRId64 " but %zu records",
                  pc->version, s->apply_meta_count, count + a->nbad);
    log_info("redis: pool reloaded: version %" PRId64 " (was %" PRId64 ") epoch %s, "
             "%zu upstreams, %zu skipped, fetched in %" PRId64 " ms, applied in %" PRId64 " us "
             "(%u slices, longest %" PRId64 " us)",
             pc->version, s->apply_prev_version, pc->epoch, count, a->nbad,
             s->apply_fetch_ms, total_us, a->nslices, a->max_slice_us);
}

/* The job swapped its pool in: publish its figures. Its destruction (the
 * retired pool's memory) waits for the next slice. */
/* A notice that came while a log apply ran asks for a check now. */
static void sync_patch_recheck(struct pool_sync *s)
{
    if (!s->is_patch_recheck)
        return;
    s->is_patch_recheck = 0;
    if (s->is_busy)
        s->is_recheck_wanted = 1;
    else if (redis_link_is_connected(s->link))
        sync_start_check(s);
}

static void sync_apply_committed(struct pool_sync *s)
{
    struct pool_apply *a = s->apply;
    struct pool_cache *pc = s->cache;
    int64_t total_us = clock_mono_us() - a->started_us;
    pc->last_apply_total_us = total_us;
    pc->last_apply_max_slice_us = a->max_slice_us;
    pc->last_apply_slices = a->nslices;
    sync_apply_log(s, a, total_us);
}

/* Frees the reply objects of the pairs the job has decoded, as it goes (all
 * of them, and the reply, with <is_all> or once every pair is decoded). */
static void sync_apply_release(struct pool_sync *s, int is_all)
{
    struct redis_link_reply *ups = s->apply_ups;
    if (ups == NULL)
        return;
    size_t upto = is_all || s->apply == NULL ? s->apply_npairs : pool_apply_consumed(s->apply);
    for (size_t i = s->apply_released; i < upto; i++) {
        redis_link_reply_free(redis_link_reply_detach(ups, 2 * i));
        redis_link_reply_free(redis_link_reply_detach(ups, 2 * i + 1));
    }
    s->apply_released = upto;
    if (upto < s->apply_npairs)
        return;
    redis_link_reply_free(ups);
    free(s->apply_pairs);
    s->apply_ups = NULL;
    s->apply_pairs = NULL;
    s->apply_npairs = s->apply_released = 0;
}

/* Drops the job in progress, if any (superseded, or shutting down). */
static void sync_apply_drop(struct pool_sync *s, const char *why)
{
    struct pool_apply *a = s->apply;
    if (a == NULL)
        return;
    if (!pool_apply_is_done(a)) {
        s->stats.apply_superseded++;
        log_info("redis: applying pool version %" PRId64 " abandoned: %s", a->build->version, why);
    }
    s->apply = NULL;
    evtimer_del(s->apply_ev);
    pool_apply_destroy(a);
    sync_apply_release(s, 1);
}

/* Runs apply quanta for about POOL_SYNC_APPLY_TURN_US, then yields: the
 * zero-delay timer fires again after the loop has polled for I/O, so
 * requests run between turns. <t0> is when this turn's apply work began. */
static int sync_apply_turn(struct pool_sync *s, int64_t t0)
{
    int rc;
    do {
        rc = pool_apply_slice(s->apply, s->cache, POOL_APPLY_QUANTUM_RECORDS,
                              POOL_APPLY_QUANTUM_UNITS, clock_mono_ms());
        sync_apply_release(s, 0);
    } while (rc == PF_EAGAIN && clock_mono_us() - t0 < (s->apply->ops != NULL
                                                        ? POOL_SYNC_PATCH_TURN_US
                                                        : POOL_SYNC_APPLY_TURN_US));
    return rc;
}

/* The retired pool is freed a turn after the swap, on a turn of its own. */
static void sync_apply_free_retired(struct pool_sync *s, int64_t t0)
{
    struct pool_cache *pc = s->cache;
    pool_apply_destroy(s->apply);
    s->apply = NULL;
    int64_t us = clock_mono_us() - t0;
    if (us > pc->last_apply_max_slice_us)
        pc->last_apply_max_slice_us = us;
    pc->last_apply_slices++;
}

static void sync_on_apply_turn(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct pool_sync *s = arg;
    struct pool_apply *a = s->apply;
    if (a == NULL)
        return;
    int64_t t0 = clock_mono_us();
    if (pool_apply_is_done(a)) {
        sync_apply_free_retired(s, t0);
        return;
    }
    int rc = sync_apply_turn(s, t0);
    sync_apply_account(s, clock_mono_us() - t0);
    if (rc == PF_OK) {
        sync_apply_committed(s);
        sync_patch_recheck(s);
    } else if (rc == PF_EPROTO) {
        char d[96], w[POOL_DIGEST_HEX_LEN + 1], g[POOL_DIGEST_HEX_LEN + 1];
        (void)!pool_digest_format(a->digest, g, sizeof(g));
        (void)!pool_digest_format(a->want_digest, w, sizeof(w));
        snprintf(d, sizeof(d), "version %" PRId64 " built with digest %s and %zu upstreams, "
                 "meta says %s and %" PRId64, a->build->version, g, a->build->count, w,
                 a->want_count);
        s->apply = NULL;
        pool_apply_destroy(a);
        sync_fallback(s, SYNC_FB_DIGEST, d);
        if (!s->is_busy && redis_link_is_connected(s->link))
            sync_full(s);
        else
            s->is_recheck_wanted = 1;
        return;
    } else if (rc != PF_EAGAIN) {
        log_error("redis: out of memory applying pool version %" PRId64 "; keeping pool "
                  "version %" PRId64, a->build->version, s->cache->version);
        s->apply = NULL;
        pool_apply_destroy(a);
        sync_apply_release(s, 1);
        return;
    }
    sync_timer_ms(s->apply_ev, 0);
}

/* Starts applying element <idx> of <exec> (HGETALL pool:upstreams) as
 * snapshot <m>, in slices. Never trusts the data: wrong types, odd arrays,
 * bad records are skipped. <t0_us> is when the EXEC reply arrived: the
 * job's timing starts there. A job still running is superseded. Takes the
 * element out of <exec> when the job starts. */
static void sync_apply_start(struct pool_sync *s, const struct snapshot_meta *m,
                             struct redis_link_reply *exec, size_t idx, int64_t t0_us)
{
    const struct redis_link_reply *r = redis_link_reply_element(exec, idx);
    char buf[160];
    if (redis_link_reply_type(r) != REDIS_LINK_REPLY_ARRAY) {
        log_warn("redis: pool upstreams unreadable (%s); keeping pool version %" PRId64,
                 redis_link_reply_describe(r, buf, sizeof(buf)), s->cache->version);
        return;
    }
    size_t npairs = redis_link_reply_count(r) / 2;
    if (npairs > POOL_SYNC_MAX_UPSTREAMS) {
        log_warn("redis: pool version %" PRId64 " has %zu upstreams, over the %d limit; "
                 "keeping pool version %" PRId64, m->version, npairs,
                 POOL_SYNC_MAX_UPSTREAMS, s->cache->version);
        return;
    }
    char why[64];
    snprintf(why, sizeof(why), "version %" PRId64 " read", m->version);
    sync_apply_drop(s, why);
    s->apply_pairs = npairs > 0 ? malloc(npairs * sizeof(*s->apply_pairs)) : NULL;
    if (npairs > 0 && s->apply_pairs == NULL) {
        log_error("redis: out of memory loading %zu upstreams; keeping pool version %" PRId64,
                  npairs, s->cache->version);
        return;
    }
    for (size_t i = 0; i < npairs; i++) {
        const struct redis_link_reply *f = redis_link_reply_element(r, 2 * i);
        const struct redis_link_reply *v = redis_link_reply_element(r, 2 * i + 1);
        struct snapshot_pair *p = &s->apply_pairs[i];
        /* The record pairs are bulk strings; anything else is a bad record. */
        p->field = redis_link_reply_type(f) == REDIS_LINK_REPLY_STRING
                   ? redis_link_reply_str(f, &p->field_len) : NULL;
        p->value = redis_link_reply_type(v) == REDIS_LINK_REPLY_STRING
                   ? redis_link_reply_str(v, &p->value_len) : NULL;
        if (p->field == NULL)
            p->field_len = 0;
        if (p->value == NULL)
            p->value_len = 0;
    }
    s->apply = pool_apply_create(s->apply_pairs, npairs, m->version, m->epoch, s->cred_key);
    if (s->apply == NULL) {
        log_error("redis: out of memory loading %zu upstreams; keeping pool version %" PRId64,
                  npairs, s->cache->version);
        free(s->apply_pairs);
        s->apply_pairs = NULL;
        return;
    }
    s->apply_ups = redis_link_reply_detach(exec, idx);   /* freed as the job decodes */
    s->apply_npairs = npairs;
    s->apply_released = 0;
    s->apply->started_us = t0_us;
    s->apply_fetch_ms = clock_mono_ms() - s->reload_started_ms;
    s->apply_prev_version = s->cache->version;
    s->apply_meta_count = m->count;
    sync_apply_account(s, clock_mono_us() - t0_us);
    sync_timer_ms(s->apply_ev, 0);
}

/* ---- reads ------------------------------------------------------------ */

/* Reads pool:meta from HGETALL reply <r> into <m>. Returns what
 * snapshot_meta_finish() does, or PF_EINVAL with <err> when <r> is not a
 * hash. */
static int sync_meta_from_hgetall(struct snapshot_meta *m, const struct redis_link_reply *r,
                                  struct pf_err *err)
{
    snapshot_meta_init(m);
    if (redis_link_reply_type(r) != REDIS_LINK_REPLY_ARRAY) {
        char buf[160];
        if (redis_link_reply_type(r) == REDIS_LINK_REPLY_ERROR)
            return pf_err_set(err, PF_EINVAL, "%s", redis_link_reply_describe(r, buf, sizeof(buf)));
        return pf_err_set(err, PF_EINVAL, "not a hash");
    }
    size_t n = redis_link_reply_count(r);
    for (size_t i = 0; i + 1 < n; i += 2) {
        size_t flen = 0, vlen = 0;
        const char *f = sync_field(redis_link_reply_element(r, i), &flen);
        const char *v = sync_meta_value(redis_link_reply_element(r, i + 1), &vlen);
        if (snapshot_meta_field(m, f, flen, v, vlen, err) != PF_OK)
            return PF_EINVAL;
    }
    return snapshot_meta_finish(m, err);
}

/* The meta at the head of an EXEC reply of two (meta, then what <what>
 * read) into <m>: PF_OK, PF_ENOENT when Redis holds no snapshot, or
 * PF_EIO for a failed read or a bad meta, logged here. */
static int sync_exec_meta(const struct pool_sync *s, struct redis_link_reply *reply,
                          const char *what, struct snapshot_meta *m)
{
    char buf[160];
    if (redis_link_reply_type(reply) != REDIS_LINK_REPLY_ARRAY ||
        redis_link_reply_count(reply) != 2) {
        log_warn("redis: %s failed (%s); keeping pool version %" PRId64, what,
                 redis_link_reply_type(reply) == REDIS_LINK_REPLY_ARRAY
                     ? "short EXEC reply" : redis_link_reply_describe(reply, buf, sizeof(buf)),
                 s->cache->version);
        return PF_EIO;
    }
    struct pf_err err;
    pf_err_clear(&err);
    int rc = sync_meta_from_hgetall(m, redis_link_reply_element(reply, 0), &err);
    if (rc == PF_OK || rc == PF_ENOENT)
        return rc;
    char w[96];
    log_warn("redis: pool meta invalid (%s); keeping pool version %" PRId64,
             sync_sanitize(w, sizeof(w), err.msg, strlen(err.msg)), s->cache->version);
    return PF_EIO;
}

static void sync_on_exec(struct redis_link_reply *reply, void *arg)
{
    int64_t t0_us = clock_mono_us();
    struct pool_sync *s = arg;
    struct snapshot_meta m;
    int rc = sync_exec_meta(s, reply, "snapshot read", &m);
    if (rc == PF_ENOENT) {
        log_info("redis: no pool snapshot in Redis; keeping pool version %" PRId64,
                 s->cache->version);
        s->is_snapshot_absent = 1;
    } else if (rc != PF_OK) {
        /* logged */
    } else if (sync_is_wanted(s, m.version, m.epoch)) {
        s->is_snapshot_absent = 0;
        sync_apply_start(s, &m, reply, 1, t0_us);
    } else {
        s->is_snapshot_absent = 0;
        log_debug("redis: snapshot %" PRId64 " %s already loaded or being applied",
                  m.version, m.epoch);
    }
    sync_done(s);
}

static void sync_on_queued(struct redis_link_reply *reply, void *arg)
{
    (void)arg;
    if (redis_link_reply_type(reply) == REDIS_LINK_REPLY_ERROR) {
        char buf[160];
        /* EXEC will then fail too (EXECABORT) and end the reload. */
        log_debug("redis: snapshot read: %s", redis_link_reply_describe(reply, buf, sizeof(buf)));
    }
}

/* MULTI; HGETALL meta; HGETALL upstreams; EXEC: one consistent read. */
static void sync_read_full(struct pool_sync *s)
{
    const char *multi[] = { "MULTI" };
    const char *meta[] = { "HGETALL", s->keys->pool_meta };
    const char *ups[] = { "HGETALL", s->keys->pool_upstreams };
    const char *exec[] = { "EXEC" };
    s->is_busy = 1;
    s->reload_started_ms = clock_mono_ms();
    /* Not sent whole: the session is failing (redis_link_command), the
     * open MULTI goes with it, and the read after the reconnect covers it. */
    if (redis_link_command(s->link, sync_on_queued, s, 1, multi, NULL) != PF_OK ||
        redis_link_command(s->link, sync_on_queued, s, 2, meta, NULL) != PF_OK ||
        redis_link_command(s->link, sync_on_queued, s, 2, ups, NULL) != PF_OK ||
        redis_link_command(s->link, sync_on_exec, s, 1, exec, NULL) != PF_OK)
        s->is_busy = 0;
}

static void sync_on_check(struct redis_link_reply *reply, void *arg)
{
    struct pool_sync *s = arg;
    char buf[160];
    if (redis_link_reply_type(reply) != REDIS_LINK_REPLY_ARRAY ||
        redis_link_reply_count(reply) != 2) {
        log_warn("redis: pool meta check failed (%s)",
                 redis_link_reply_describe(reply, buf, sizeof(buf)));
        sync_done(s);
        return;
    }
    struct snapshot_meta m;
    struct pf_err err;
    size_t vlen = 0, elen = 0;
    const char *v = sync_meta_value(redis_link_reply_element(reply, 0), &vlen);
    const char *e = sync_meta_value(redis_link_reply_element(reply, 1), &elen);
    pf_err_clear(&err);
    snapshot_meta_init(&m);
    int rc = snapshot_meta_field(&m, SNAPSHOT_META_VERSION, strlen(SNAPSHOT_META_VERSION), v,
                                 vlen, &err);
    if (rc == PF_OK)
        rc = snapshot_meta_field(&m, SNAPSHOT_META_EPOCH, strlen(SNAPSHOT_META_EPOCH), e, elen,
                                 &err);
    if (rc == PF_OK)
        rc = snapshot_meta_finish(&m, &err);
    if (rc == PF_ENOENT) {
        if (!s->is_snapshot_absent)
            log_info("redis: no pool snapshot in Redis; keeping pool version %" PRId64,
                     s->cache->version);
        s->is_snapshot_absent = 1;
        sync_done(s);
        return;
    }
    s->is_snapshot_absent = 0;
    if (rc != PF_OK) {
        log_warn("redis: pool meta invalid (%s); keeping pool version %" PRId64, err.msg,
                 s->cache->version);
        sync_done(s);
        return;
    }
    if (!sync_is_wanted(s, m.version, m.epoch)) {
        sync_done(s);
        return;
    }
    log_debug("redis: meta says %" PRId64 " %s: reading", m.version, m.epoch);
    sync_fetch(s, m.version, m.epoch);   /* stays busy */
}

static void sync_start_check(struct pool_sync *s)
{
    const char *argv[] = { "HMGET", s->keys->pool_meta, SNAPSHOT_META_VERSION,
                           SNAPSHOT_META_EPOCH };
    s->is_busy = 1;
    /* Not sent: the session is failing; the read after the reconnect covers it. */
    if (redis_link_command(s->link, sync_on_check, s, 4, argv, NULL) != PF_OK)
        s->is_busy = 0;
}

/* A newer snapshot was announced: read it (<version>, <epoch>: the notice's,
 * when <is_trusted>), or remember to look again. */
static void sync_want_reload(struct pool_sync *s, int is_trusted, int64_t version,
                             const char *epoch)
{
    if (!redis_link_is_connected(s->link))
        return;   /* the read after (re)connect covers it */
    if (s->is_busy) {
        s->is_recheck_wanted = 1;
        return;
    }
    if (is_trusted)
        sync_fetch(s, version, epoch);
    else
        sync_start_check(s);
}

/* ---- the pool log ----------------------------------------------------- */

static void sync_on_resync_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct pool_sync *s = arg;
    if (redis_link_is_connected(s->link))
        sync_read_full(s);   /* still busy */
    else
        s->is_busy = 0;      /* on_down cleared it already; the read after connect covers it */
}

/* A whole read. A node that serves a pool waits a random 0..resync_spread_ms
 * first (full jitter): a new epoch, or a log every node finds trimmed,
 * reaches the whole fleet at once, and 100 nodes reading 1.5 MB each in the
 * same millisecond is the reconnect herd. A node without a pool reads now. */
static void sync_full(struct pool_sync *s)
{
    s->is_busy = 1;
    if (s->cache->version == 0 || s->resync_spread_ms <= 0) {
        sync_read_full(s);
        return;
    }
    int64_t delay_ms = (int64_t)(rng_next(&s->rng) % (uint64_t)s->resync_spread_ms);
    s->stats.resync_delayed++;
    log_debug("redis: whole pool read in %" PRId64 " ms (resync_spread_ms %d)", delay_ms,
              s->resync_spread_ms);
    sync_timer_ms(s->resync_ev, delay_ms);
}

/* One XRANGE entry <e> (id, [field, value, ...]) into <h>, its pairs in
 * <*pairs> (malloc'd; the caller frees). Returns PF_OK or PF_EINVAL with
 * <err>. */
static int sync_delta_entry(const struct redis_link_reply *e, struct pool_delta_head *h,
                            struct snapshot_pair **pairs, size_t *npairs, struct pf_err *err)
{
    *pairs = NULL;
    *npairs = 0;
    if (redis_link_reply_type(e) != REDIS_LINK_REPLY_ARRAY || redis_link_reply_count(e) != 2 ||
        redis_link_reply_type(redis_link_reply_element(e, 0)) != REDIS_LINK_REPLY_STRING ||
        redis_link_reply_type(redis_link_reply_element(e, 1)) != REDIS_LINK_REPLY_ARRAY)
        return pf_err_set(err, PF_EINVAL, "entry is not [id, fields]");
    size_t sid_len = 0;
    const char *sid = redis_link_reply_str(redis_link_reply_element(e, 0), &sid_len);
    const struct redis_link_reply *f = redis_link_reply_element(e, 1);
    size_t n = redis_link_reply_count(f) / 2;
    if (n > 0 && (*pairs = calloc(n, sizeof(**pairs))) == NULL)
        return pf_err_set(err, PF_ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        const struct redis_link_reply *k = redis_link_reply_element(f, 2 * i);
        const struct redis_link_reply *v = redis_link_reply_element(f, 2 * i + 1);
        struct snapshot_pair *p = &(*pairs)[i];
        if (redis_link_reply_type(k) == REDIS_LINK_REPLY_STRING)
            p->field = redis_link_reply_str(k, &p->field_len);
        if (redis_link_reply_type(v) == REDIS_LINK_REPLY_STRING)
            p->value = redis_link_reply_str(v, &p->value_len);
    }
    *npairs = n;
    return pool_delta_parse(sid, sid_len, *pairs, n, h, err);
}

/* Decodes op <op> into <out>: the record must decode and carry the id it
 * is filed under. Returns PF_OK or PF_EINVAL with <err>. */
static int sync_delta_op(const struct pool_sync *s, const struct pool_delta_op *op,
                         struct pool_patch_op *out, struct pf_err *err)
{
    memcpy(out->id, op->id, op->id_len);
    out->id[op->id_len] = '\0';
    out->is_del = !op->is_set;
    if (out->is_del)
        return PF_OK;
    if (snapshot_record_decode(op->record, op->record_len, s->cred_key, &out->u, err) != PF_OK)
        return PF_EINVAL;
    char id[UPSTREAM_ID_MAX];
    addr_upstream_id(&out->u, id, sizeof(id));
    if (strcmp(id, out->id) != 0)
        return pf_err_set(err, PF_EINVAL, "a record filed under another id");
    out->u.digest = pool_digest_entry(&out->u, s->cred_key);
    return PF_OK;
}

/* The changes of entries <log>[0..) from version <base> + 1 to <m>'s,
 * collapsed to one per id and sorted, into <*ops>. Returns -1 when they
 * apply, else the fallback (with a detail in <err>). */
static int sync_delta_collect(struct pool_sync *s, const struct redis_link_reply *log,
                              const struct snapshot_meta *m, int64_t base,
                              struct pool_patch_op **ops, size_t *nops, struct pf_err *err)
{
    size_t n = redis_link_reply_count(log), nall = 0, cap = 0;
    struct pool_patch_op *all = NULL;
    int why = -1;
    int64_t next = base + 1;

    *ops = NULL;
    *nops = 0;
    for (size_t i = 0; i < n && next <= m->version && why < 0; i++) {
        struct pool_delta_head h;
        struct snapshot_pair *pairs = NULL;
        size_t npairs = 0;
        if (sync_delta_entry(redis_link_reply_element(log, i), &h, &pairs, &npairs, err) != PF_OK) {
            why = SYNC_FB_BAD;
        } else if (h.version != next) {
            why = i == 0 && h.version > next ? SYNC_FB_TRIMMED : SYNC_FB_GAP;
            pf_err_set(err, PF_EINVAL, "entry %lld where %lld was due", (long long)h.version,
                       (long long)next);
        } else if (strcmp(h.epoch, s->cache->epoch) != 0) {
            why = SYNC_FB_EPOCH;
            pf_err_set(err, PF_EINVAL, "entry %lld of epoch %s", (long long)h.version, h.epoch);
        } else if (nall + h.nops > POOL_SYNC_DELTA_MAX_OPS) {
            why = SYNC_FB_BAD;
            pf_err_set(err, PF_ERANGE, "over %d changes", POOL_SYNC_DELTA_MAX_OPS);
        } else {
            if (nall + h.nops > cap) {
                size_t ncap = PF_MAX_OF(2 * cap, nall + h.nops);
                struct pool_patch_op *p = realloc(all, ncap * sizeof(*all));
                if (p == NULL) {
                    why = SYNC_FB_BAD;
                    pf_err_set(err, PF_ENOMEM, "out of memory");
                } else {
                    all = p;
                    cap = ncap;
                }
            }
            for (size_t k = 0; k < h.nops && why < 0; k++) {
                struct pool_delta_op op;
                pool_delta_op_at(pairs, k, &op);
                if (sync_delta_op(s, &op, &all[nall], err) != PF_OK) {
                    why = SYNC_FB_BAD;
                    pf_err_prefix(err, "entry %lld op %zu: ", (long long)h.version, k);
                } else {
                    nall++;
                }
            }
            next++;
        }
        free(pairs);
    }
    if (why < 0 && next <= m->version) {
        why = n == 0 ? SYNC_FB_TRIMMED : SYNC_FB_GAP;
        pf_err_set(err, PF_EINVAL, "no entry %lld", (long long)next);
    }
    if (why >= 0) {
        free(all);
        return why;
    }
    /* one change per id, the last; then the ops in id order */
    struct pool_delta_change *ch = nall > 0 ? malloc(nall * sizeof(*ch)) : NULL;
    struct pool_patch_op *out = nall > 0 ? malloc(nall * sizeof(*out)) : NULL;
    if (nall > 0 && (ch == NULL || out == NULL)) {
        free(ch);
        free(out);
        free(all);
        pf_err_set(err, PF_ENOMEM, "out of memory");
        return SYNC_FB_BAD;
    }
    for (size_t i = 0; i < nall; i++) {
        ch[i].id = all[i].id;
        ch[i].id_len = strlen(all[i].id);
        ch[i].seq = i;
        ch[i].data = &all[i];
    }
    size_t kept = pool_delta_collapse(ch, nall, NULL, NULL);
    for (size_t i = 0; i < kept; i++)
        out[i] = *(const struct pool_patch_op *)ch[i].data;
    free(ch);
    free(all);
    *ops = out;
    *nops = kept;
    return -1;
}

/* Starts applying the log read <exec> (meta, XRANGE) on top of the cache,
 * or falls back. */
static void sync_on_delta_exec(struct redis_link_reply *reply, void *arg)
{
    int64_t t0_us = clock_mono_us();
    struct pool_sync *s = arg;
    struct snapshot_meta m;
    int rc = sync_exec_meta(s, reply, "pool log read", &m);
    if (rc == PF_ENOENT)
        s->is_snapshot_absent = 1;
    if (rc != PF_OK) {
        sync_done(s);
        return;
    }
    struct pf_err err;
    char buf[160];
    pf_err_clear(&err);
    s->is_snapshot_absent = 0;
    if (!sync_is_wanted(s, m.version, m.epoch)) {
        sync_done(s);
        return;
    }
    if (s->cache->version != s->delta_base) {
        s->is_recheck_wanted = 1;   /* the cache moved meanwhile: look again */
        sync_done(s);
        return;
    }
    const struct redis_link_reply *log = redis_link_reply_element(reply, 1);
    struct pool_patch_op *ops = NULL;
    size_t nops = 0;
    int why;
    if (strcmp(m.epoch, s->cache->epoch) != 0) {
        why = SYNC_FB_EPOCH;
        pf_err_set(&err, PF_EINVAL, "meta names epoch %s", m.epoch);
    } else if (!m.has_digest) {
        why = SYNC_FB_BAD;
        pf_err_set(&err, PF_EINVAL, "meta without digest");
    } else if (m.version - s->delta_base > POOL_SYNC_DELTA_MAX) {
        why = SYNC_FB_GAP;
        pf_err_set(&err, PF_ERANGE, "%lld versions behind", (long long)(m.version - s->delta_base));
    } else if (redis_link_reply_type(log) != REDIS_LINK_REPLY_ARRAY) {
        why = SYNC_FB_BAD;
        pf_err_set(&err, PF_EINVAL, "%s", redis_link_reply_describe(log, buf, sizeof(buf)));
    } else {
        why = sync_delta_collect(s, log, &m, s->delta_base, &ops, &nops, &err);
    }
    if (why >= 0) {
        char w[160];
        sync_fallback(s, (enum sync_fallback)why, sync_sanitize(w, sizeof(w), err.msg,
                                                                 strlen(err.msg)));
        sync_full(s);   /* stays busy */
        return;
    }
    char why_drop[64];
    snprintf(why_drop, sizeof(why_drop), "version %" PRId64 " read", m.version);
    sync_apply_drop(s, why_drop);
    s->apply = pool_apply_create_patch(s->cache, ops, nops, m.version, m.epoch, 1, m.digest,
                                       m.count);
    if (s->apply == NULL) {
        log_error("redis: out of memory applying the pool log; keeping pool version %" PRId64,
                  s->cache->version);
        sync_done(s);
        return;
    }
    s->apply->started_us = t0_us;
    s->apply_fetch_ms = clock_mono_ms() - s->reload_started_ms;
    s->apply_prev_version = s->cache->version;
    s->apply_meta_count = m.count;
    sync_apply_account(s, clock_mono_us() - t0_us);
    sync_timer_ms(s->apply_ev, 0);
    sync_done(s);
}

/* MULTI; HGETALL meta; XRANGE pool:log (<version>+1)-0 + COUNT; EXEC: the
 * changes since the version served, in one consistent read. */
static void sync_read_delta(struct pool_sync *s)
{
    char start[32], count[16];
    if (pool_delta_entry_id(start, sizeof(start), s->cache->version + 1) != PF_OK) {
        sync_full(s);
        return;
    }
    snprintf(count, sizeof(count), "%d", POOL_SYNC_DELTA_MAX + 1);
    const char *multi[] = { "MULTI" };
    const char *meta[] = { "HGETALL", s->keys->pool_meta };
    const char *xr[] = { "XRANGE", s->keys->pool_log, start, "+", "COUNT", count };
    const char *exec[] = { "EXEC" };
    s->is_busy = 1;
    s->delta_base = s->cache->version;
    s->reload_started_ms = clock_mono_ms();
    if (redis_link_command(s->link, sync_on_queued, s, 1, multi, NULL) != PF_OK ||
        redis_link_command(s->link, sync_on_queued, s, 2, meta, NULL) != PF_OK ||
        redis_link_command(s->link, sync_on_queued, s, 6, xr, NULL) != PF_OK ||
        redis_link_command(s->link, sync_on_delta_exec, s, 1, exec, NULL) != PF_OK)
        s->is_busy = 0;
}

/* Reads snapshot (<version>, <epoch>), announced newer than the cache: the
 * log when the cache is a few versions behind in the same epoch and
 * nothing else is being applied, else the whole pool. */
static void sync_fetch(struct pool_sync *s, int64_t version, const char *epoch)
{
    const struct pool_cache *pc = s->cache;
    if (!s->is_full_wanted && s->apply != NULL && s->apply->ops != NULL &&
        !pool_apply_is_done(s->apply) && epoch != NULL && strcmp(epoch, pc->epoch) == 0) {
        /* A log apply runs: a whole read would supersede milliseconds of
         * work with seconds of it. Look again once it is in. */
        s->is_patch_recheck = 1;
        s->is_recheck_wanted = 0;
        s->is_busy = 0;
        return;
    }
    int is_log = !s->is_full_wanted && pc->version > 0 && epoch != NULL &&
                 strcmp(epoch, pc->epoch) == 0 && version > pc->version &&
                 version - pc->version <= POOL_SYNC_DELTA_MAX &&
                 (s->apply == NULL || pool_apply_is_done(s->apply));
    if (is_log)
        sync_read_delta(s);
    else
        sync_full(s);
}

/* ---- session events --------------------------------------------------- */

static void sync_on_ready(void *arg)
{
    struct pool_sync *s = arg;
    int64_t every_ms = PF_MAX_OF((int64_t)POOL_SYNC_CHECK_MS,
                                 2 * (int64_t)s->conf->command_timeout_ms);
    struct timeval tv = { .tv_sec = (time_t)(every_ms / 1000),
                          .tv_usec = (suseconds_t)((every_ms % 1000) * 1000) };
    evtimer_del(s->check_ev);
    event_add(s->check_ev, &tv);   /* check_ev is EV_PERSIST */
    /* Subscribed first, now read: no notice can fall in between. */
    s->is_recheck_wanted = 0;
    sync_start_check(s);
}

static void sync_on_down(void *arg, char *note, size_t len)
{
    struct pool_sync *s = arg;
    /* The check or read in flight will never be answered. */
    evtimer_del(s->check_ev);
    evtimer_del(s->resync_ev);
    s->is_busy = 0;
    s->is_recheck_wanted = 0;
    snprintf(note, len, "keeping pool version %" PRId64, s->cache->version);
}

static void sync_on_message(const char *payload, size_t len, void *arg)
{
    struct pool_sync *s = arg;
    char buf[160];
    int64_t version = 0;
    char epoch[SNAPSHOT_EPOCH_MAX];
    s->stats.notices++;
    if (payload == NULL || snapshot_notice_parse(payload, len, &version, epoch) != PF_OK) {
        log_warn("redis: malformed pool notice \"%s\"; checking pool meta",
                 payload != NULL ? sync_sanitize(buf, sizeof(buf), payload, len)
                                 : "(not a string)");
        sync_want_reload(s, 0, 0, NULL);
        return;
    }
    if (!sync_is_wanted(s, version, epoch)) {
        log_debug("redis: notice %" PRId64 " %s ignored (have %" PRId64 " %s)", version,
                  epoch, s->cache->version, s->cache->epoch);
        return;
    }
    log_debug("redis: notice %" PRId64 " %s: reading", version, epoch);
    sync_want_reload(s, 1, version, epoch);
}

static void sync_on_check_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct pool_sync *s = arg;
    /* When busy, the in-flight command's deadline is the liveness probe. */
    if (redis_link_is_connected(s->link) && !s->is_busy)
        sync_start_check(s);
}

/* ---- public API ------------------------------------------------------- */

struct pool_sync *pool_sync_create(struct event_base *base, struct redis_link *link,
                                   const struct conf_redis *conf, const struct keys *keys,
                                   struct pool_cache *cache, const struct seal_key *cred_key,
                                   int resync_spread_ms, struct pf_err *err)
{
    struct pool_sync *s = calloc(1, sizeof(*s));
    if (s == NULL)
        goto fail;
    s->base = base;
    s->link = link;
    s->conf = conf;
    s->keys = keys;
    s->cache = cache;
    s->cred_key = cred_key;
    s->resync_spread_ms = resync_spread_ms;
    rng_seed_os(&s->rng);
    s->check_ev = event_new(base, -1, EV_PERSIST, sync_on_check_timer, s);
    s->apply_ev = evtimer_new(base, sync_on_apply_turn, s);
    s->resync_ev = evtimer_new(base, sync_on_resync_timer, s);
    if (s->check_ev == NULL || s->apply_ev == NULL || s->resync_ev == NULL)
        goto fail;
    const struct redis_link_events ev = {
        .on_ready = sync_on_ready,
        .on_down = sync_on_down,
        .on_message = sync_on_message,
        .arg = s,
    };
    if (redis_link_listen(link, keys->pool_channel, &ev) != PF_OK)
        goto fail;
    return s;

fail:
    pool_sync_destroy(s);
    pf_err_set(err, PF_ENOMEM, "pool sync: out of memory");
    return NULL;
}

void pool_sync_destroy(struct pool_sync *s)
{
    if (s == NULL)
        return;
    if (s->link != NULL) {
        const struct redis_link_events none = { 0 };
        (void)!redis_link_listen(s->link, s->keys->pool_channel, &none);
    }
    if (s->apply_ev != NULL)
        sync_apply_drop(s, "shutting down");
    if (s->check_ev != NULL)
        event_free(s->check_ev);
    if (s->apply_ev != NULL)
        event_free(s->apply_ev);
    if (s->resync_ev != NULL)
        event_free(s->resync_ev);
    free(s);
}

const struct pool_sync_stats *pool_sync_get_stats(const struct pool_sync *s)
{
    return &s->stats;
}
