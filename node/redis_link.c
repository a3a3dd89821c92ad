/* The node's link to Redis (see redis_link.h and docs/redis-keys.md).
 *
 * A "session" is a pair of hiredis async connections on the node's loop:
 * <sub> SUBSCRIBEs to the pool channel, <cmd> carries the snapshot reads
 * and the reports. The pair lives and dies together: when either breaks
 * (error, EOF, AUTH refused, connect or command deadline) both are
 * dropped and, after a backoff with full jitter, reconnected. A silent
 * partition is caught by the deadlines: the subscriber is covered by the
 * connect deadline until its SUBSCRIBE is confirmed, and afterwards by the
 * command connection, whose periodic meta check is also the liveness
 * probe (the same server serves both). TCP keepalive is set on both.
 *
 * hiredis 0.14.1 runs pending reply callbacks with a NULL reply when a
 * context goes away, and frees the context itself after its disconnect
 * callback. So every callback first checks that its context is still the
 * current one (<conn->ac>); teardown clears <conn->ac> before calling
 * redisAsyncFree(), which turns the NULL-reply replays into no-ops. Nothing
 * is ever freed from inside a hiredis callback: failures only mark the
 * session DROPPING and arm a zero-delay teardown event.
 *
 * State machine (changed only by link_set_state):
 *   IDLE --reconnect timer--> CONNECTING --both ready--> READY
 *   CONNECTING/READY --failure--> DROPPING --teardown--> IDLE
 *   any --redis_link_destroy--> CLOSED */
#include "redis_link.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <hiredis/adapters/libevent.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#include "backoff.h"
#include "clock.h"
#include "log.h"
#include "pool_apply.h"
#include "rng.h"
#include "snapshot.h"

#define REDIS_LINK_BACKOFF_BASE_MS  100
#define REDIS_LINK_BACKOFF_CAP_MS   5000
#define REDIS_LINK_CHECK_MS         5000      /* periodic meta check / liveness */
#define REDIS_LINK_MAX_UPSTREAMS    100000    /* larger snapshots are refused */
#define REDIS_LINK_NODES_MAX_AGE_MS (3600 * 1000) /* report zset entries kept */
#define REDIS_LINK_REPORT_ARGS_MAX  1024      /* HSET fields per report */
#define REDIS_LINK_APPLY_TURN_US    1000      /* snapshot apply work per loop turn */

enum link_state {
    LINK_ST_IDLE = 0,       /* no connection; reconnect timer armed */
    LINK_ST_CONNECTING,     /* connections opened, AUTH/SELECT/SUBSCRIBE pending */
    LINK_ST_READY,          /* both up, subscribed: reads and reports allowed */
    LINK_ST_DROPPING,       /* failure seen; teardown event pending */
    LINK_ST_CLOSED,         /* redis_link_destroy() running */
};

static const char *const link_state_names[] = {
    "idle", "connecting", "ready", "dropping", "closed",
};

/* What a command-connection reply callback is for (its privdata). */
enum link_tag {
    LINK_TAG_SETUP = 0,     /* AUTH / SELECT during connect */
    LINK_TAG_PING,          /* last setup command: cmd connection ready */
    LINK_TAG_CHECK,         /* HMGET pool:meta version epoch */
    LINK_TAG_QUEUED,        /* MULTI and the queued HGETALLs */
    LINK_TAG_EXEC,          /* EXEC of the snapshot read */
    LINK_TAG_REPORT,        /* HSET / PEXPIRE / ZADD / ZREMRANGEBYSCORE */
    LINK_TAG_COUNT
};

/* One tag object per kind: hiredis wants a pointer as privdata. */
static const int link_tags[LINK_TAG_COUNT] = { 0, 1, 2, 3, 4, 5 };

struct redis_conn {
    struct redis_link  *link;         /* borrowed: the owner */
    redisAsyncContext  *ac;           /* owned by hiredis; NULL when down */
    const char         *name;         /* "cmd" or "sub", for logs */
    int                 is_tcp_up;    /* connect callback said OK */
    int                 is_ready;     /* cmd: PING answered; sub: SUBSCRIBE confirmed */
};

struct redis_link {
    struct event_base        *base;        /* borrowed */
    const struct conf_redis  *conf;        /* borrowed */
    const struct keys        *keys;        /* borrowed */
    struct pool_cache        *cache;       /* borrowed; replaced on newer snapshots */
    const struct seal_key    *cred_key;    /* borrowed; opens sealed passwords, NULL = none */
    enum link_state           state;
    struct redis_conn         cmd;         /* embedded */
    struct redis_conn         sub;         /* embedded */
    struct event             *reconnect_ev;/* owned: backoff timer (zero at start) */
    struct event             *teardown_ev; /* owned: zero-delay deferred free */
    struct event             *connect_ev;  /* owned: connect deadline */
    struct event             *command_ev;  /* owned: command deadline */
    struct event             *check_ev;    /* owned: periodic meta check */
    struct event             *apply_ev;    /* owned: zero-delay timer, one apply slice per loop turn */
    struct pool_apply        *apply;       /* owned: snapshot being applied; NULL when none */
    redisReply               *apply_ups;   /* owned: HGETALL pool:upstreams the job reads */
    struct snapshot_pair     *apply_pairs; /* owned: its pairs, pointing into <apply_ups> */
    size_t                    apply_npairs;
    size_t                    apply_released; /* pairs whose reply objects are freed */
    int64_t                   apply_fetch_ms;   /* its read time, for the log */
    int64_t                   apply_prev_version; /* cache version when it started */
    int64_t                   apply_meta_count; /* its meta count (-1 absent), for the log */
    struct backoff            backoff;
    unsigned                  attempt;     /* failed sessions since the last READY */
    struct rng                rng;         /* backoff jitter, seeded from the OS */
    unsigned                  outstanding; /* cmd replies still expected */
    uint64_t                  rx_mark;     /* cmd reader state when the deadline was armed */
    int                       is_busy;     /* a meta check or reload is in flight */
    int                       is_recheck_wanted; /* notice arrived while busy */
    int                       is_snapshot_absent; /* last check saw no version */
    int                       is_report_failing;  /* last report got an error */
    int64_t                   reload_started_ms;  /* monotonic */
    char                      drop_reason[160];
    struct redis_link_stats   stats;
};

static void link_fail(struct redis_link *link, struct redis_conn *c, const char *fmt, ...)
    PF_PRINTF(3, 4);
static void link_start_check(struct redis_link *link);

/* ---- small helpers ---------------------------------------------------- */

static int64_t link_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void link_timer_del(struct event *ev)
{
    if (ev != NULL)
        evtimer_del(ev);
}

static void link_timer_ms(struct event *ev, int64_t ms)
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
static const char *link_sanitize(char *buf, size_t len, const char *s, size_t slen)
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

/* Strict decimal int64 > 0, no sign, no leading zero, whole string. */
static int link_parse_version(const char *s, size_t len, int64_t *out)
{
    int64_t v = 0;
    if (len == 0 || len > 19 || s[0] < '1' || s[0] > '9')
        return PF_EINVAL;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return PF_EINVAL;
        int d = s[i] - '0';
        if (v > (INT64_MAX - d) / 10)
            return PF_ERANGE;
        v = v * 10 + d;
    }
    *out = v;
    return PF_OK;
}

/* Epoch token: 1..POOL_EPOCH_MAX-1 chars of [A-Za-z0-9_.-] (the controller
 * writes 16 hex chars). Safe for log lines. */
static int link_valid_epoch(const char *s, size_t len)
{
    if (len == 0 || len >= POOL_EPOCH_MAX)
        return 0;
    for (size_t i = 0; i < len; i++) {
        char ch = s[i];
        int ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                 (ch >= '0' && ch <= '9') || ch == '_' || ch == '-' || ch == '.';
        if (!ok)
            return 0;
    }
    return 1;
}

/* Parses a notice "<version> <epoch>" strictly. */
static int link_parse_notice(const char *s, size_t len, int64_t *version, char *epoch)
{
    const char *sp = memchr(s, ' ', len);
    if (sp == NULL)
        return PF_EINVAL;
    size_t vlen = (size_t)(sp - s);
    size_t elen = len - vlen - 1;
    if (link_parse_version(s, vlen, version) != PF_OK || !link_valid_epoch(sp + 1, elen))
        return PF_EINVAL;
    memcpy(epoch, sp + 1, elen);
    epoch[elen] = '\0';
    return PF_OK;
}

static int link_reply_is_str(const redisReply *r)
{
    return r != NULL && (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS) &&
           r->str != NULL;
}

static const char *link_reply_err(const redisReply *r, char *buf, size_t len)
{
    if (r->type == REDIS_REPLY_ERROR && r->str != NULL)
        return link_sanitize(buf, len, r->str, r->len);
    snprintf(buf, len, "unexpected reply type %d", r->type);
    return buf;
}

/* ---- state and session lifecycle -------------------------------------- */

static void link_set_state(struct redis_link *link, enum link_state st)
{
    log_debug("redis: link %s -> %s", link_state_names[link->state], link_state_names[st]);
    link->state = st;
}

/* Arms the reconnect timer with the next backoff delay. */
static void link_schedule_reconnect(struct redis_link *link)
{
    int64_t delay_ms = backoff_delay_ms(&link->backoff, link->attempt, rng_next(&link->rng));
    link->attempt = link->attempt < 63 ? link->attempt + 1 : link->attempt;
    log_info("redis: reconnecting to %s:%u in %" PRId64 " ms (attempt %u)",
             link->conf->host, (unsigned)link->conf->port, delay_ms, link->attempt);
    link_timer_ms(link->reconnect_ev, delay_ms);
}

/* Frees both contexts; must run outside hiredis callbacks. Pending reply
 * callbacks replay with NULL and find <conn->ac> cleared, so they do nothing. */
static void link_close_conns(struct redis_link *link)
{
    struct redis_conn *conns[2] = { &link->sub, &link->cmd };
    for (size_t i = 0; i < PF_ARRAY_LEN(conns); i++) {
        struct redis_conn *c = conns[i];
        redisAsyncContext *ac = c->ac;
        c->ac = NULL;
        c->is_tcp_up = 0;
        c->is_ready = 0;
        if (ac != NULL) {
            ac->data = NULL;
            redisAsyncFree(ac);
        }
    }
    link_timer_del(link->connect_ev);
    link_timer_del(link->command_ev);
    link_timer_del(link->check_ev);
    link->outstanding = 0;
    link->is_busy = 0;
    link->is_recheck_wanted = 0;
}

/* Records a failure of the session and defers the teardown to a zero-delay
 * event: this may run inside a hiredis callback. <c> is the connection
 * that failed, or NULL for the session. Logged once per session. */
static void link_fail(struct redis_link *link, struct redis_conn *c, const char *fmt, ...)
{
    if (link->state != LINK_ST_CONNECTING && link->state != LINK_ST_READY)
        return;
    char reason[128];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(reason, sizeof(reason), fmt, ap);
    va_end(ap);
    snprintf(link->drop_reason, sizeof(link->drop_reason), "%s%s%s",
             c != NULL ? c->name : "", c != NULL ? ": " : "", reason);
    if (link->state == LINK_ST_READY)
        log_warn("redis: disconnected from %s:%u: %s; keeping pool version %" PRId64,
                 link->conf->host, (unsigned)link->conf->port, link->drop_reason,
                 link->cache->version);
    else
        log_warn("redis: connect to %s:%u failed: %s", link->conf->host,
                 (unsigned)link->conf->port, link->drop_reason);
    link_set_state(link, LINK_ST_DROPPING);
    evtimer_del(link->connect_ev);
    evtimer_del(link->command_ev);
    evtimer_del(link->check_ev);
    link_timer_ms(link->teardown_ev, 0);
}

static void link_on_teardown(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct redis_link *link = arg;
    if (link->state != LINK_ST_DROPPING)
        return;
    if (link->cmd.is_tcp_up)
        link->stats.disconnects++;
    if (link->sub.is_tcp_up)
        link->stats.disconnects++;
    link_close_conns(link);
    link_set_state(link, LINK_ST_IDLE);
    link_schedule_reconnect(link);
}

/* A fingerprint of the command connection's read buffer: it changes when
 * bytes arrive, so a large reply still streaming in is not a timeout. */
static uint64_t link_rx_mark(const struct redis_link *link)
{
    const redisAsyncContext *ac = link->cmd.ac;
    if (ac == NULL || ac->c.reader == NULL)
        return 0;
    const redisReader *rd = ac->c.reader;
    return ((uint64_t)rd->len << 32) ^ (uint64_t)rd->pos ^ ((uint64_t)rd->ridx << 60) ^
           (uint64_t)(uintptr_t)rd->buf;
}

/* (Re)arms the command deadline: <command_timeout_ms> without progress. */
static void link_arm_command_deadline(struct redis_link *link)
{
    link->rx_mark = link_rx_mark(link);
    link_timer_ms(link->command_ev, link->conf->command_timeout_ms);
}

/* Sends one command on the command connection, counting it against the
 * command deadline. Returns PF_OK or PF_EIO (the session is then failing). */
static int link_cmd_argv(struct redis_link *link, redisCallbackFn *fn, enum link_tag tag,
                         int argc, const char **argv, const size_t *argvlen)
{
    if (link->cmd.ac == NULL)
        return PF_EIO;
    if (redisAsyncCommandArgv(link->cmd.ac, fn, (void *)&link_tags[tag], argc, argv,
                              argvlen) != REDIS_OK) {
        link_fail(link, &link->cmd, "cannot queue command");
        return PF_EIO;
    }
    if (link->outstanding++ == 0)
        link_arm_command_deadline(link);
    return PF_OK;
}

/* Convenience for commands whose arguments are all NUL-terminated. */
static int link_cmd(struct redis_link *link, redisCallbackFn *fn, enum link_tag tag,
                    int argc, const char **argv)
{
    return link_cmd_argv(link, fn, tag, argc, argv, NULL);
}

/* Bookkeeping at the top of every command-connection reply callback.
 * Returns the link when <reply> belongs to the current session and is
 * non-NULL; NULL when the callback must do nothing. */
static struct redis_link *link_cmd_reply(redisAsyncContext *ac, void *reply)
{
    struct redis_conn *c = ac->data;
    if (c == NULL || c->ac != ac || reply == NULL)
        return NULL;
    struct redis_link *link = c->link;
    if (link->state != LINK_ST_CONNECTING && link->state != LINK_ST_READY)
        return NULL;
    if (link->outstanding > 0)
        link->outstanding--;
    /* Progress resets the deadline for the next unanswered command. */
    if (link->outstanding > 0)
        link_arm_command_deadline(link);
    else
        evtimer_del(link->command_ev);
    return link;
}

/* Called when the busy command (check or reload) is done. */
static void link_done(struct redis_link *link)
{
    link->is_busy = 0;
    if (link->is_recheck_wanted && link->state == LINK_ST_READY) {
        link->is_recheck_wanted = 0;
        link_start_check(link);
    }
}

/* ---- snapshot loading ------------------------------------------------- */

struct link_meta {
    int     has_version;
    int64_t version;
    char    epoch[POOL_EPOCH_MAX];
    int64_t count;          /* -1 when absent */
};

/* Fills <m> from field/value pairs of <r> (an HGETALL array) or the two
 * values of an HMGET version epoch. Returns PF_OK, PF_ENOENT when there is
 * no version (snapshot absent), or PF_EINVAL with <why>. */
static int link_meta_value(struct link_meta *m, const char *field, const redisReply *v,
                           const char **why)
{
    if (strcmp(field, "version") == 0) {
        if (v == NULL || v->type == REDIS_REPLY_NIL)
            return PF_OK;
        if (!link_reply_is_str(v) || link_parse_version(v->str, v->len, &m->version) != PF_OK) {
            *why = "bad version";
            return PF_EINVAL;
        }
        m->has_version = 1;
    } else if (strcmp(field, "epoch") == 0) {
        if (v == NULL || v->type == REDIS_REPLY_NIL)
            return PF_OK;
        if (!link_reply_is_str(v) || !link_valid_epoch(v->str, v->len)) {
            *why = "bad epoch";
            return PF_EINVAL;
        }
        memcpy(m->epoch, v->str, v->len);
        m->epoch[v->len] = '\0';
    } else if (strcmp(field, "count") == 0) {
        if (link_reply_is_str(v) && link_parse_version(v->str, v->len, &m->count) != PF_OK)
            m->count = -1;   /* informational only; "0" lands here too */
    }
    return PF_OK;
}

static int link_meta_finish(const struct link_meta *m, const char **why)
{
    if (!m->has_version)
        return PF_ENOENT;
    if (m->epoch[0] == '\0') {
        *why = "version without epoch";
        return PF_EINVAL;
    }
    return PF_OK;
}

static int link_meta_from_hgetall(struct link_meta *m, const redisReply *r, const char **why)
{
    memset(m, 0, sizeof(*m));
    m->count = -1;
    if (r->type != REDIS_REPLY_ARRAY) {
        *why = r->type == REDIS_REPLY_ERROR ? r->str : "not a hash";
        return PF_EINVAL;
    }
    for (size_t i = 0; i + 1 < r->elements; i += 2) {
        const redisReply *f = r->element[i];
        if (!link_reply_is_str(f) || strlen(f->str) != f->len)
            continue;
        if (link_meta_value(m, f->str, r->element[i + 1], why) != PF_OK)
            return PF_EINVAL;
    }
    return link_meta_finish(m, why);
}

/* Returns 1 when snapshot (<version>, <epoch>) is worth reading: newer
 * than both the cache and the snapshot being applied (pool_apply.h). */
static int link_is_wanted(const struct redis_link *link, int64_t version, const char *epoch)
{
    return pool_apply_is_wanted(link->cache, link->apply, version, epoch);
}

/* Folds one apply slice of <slice_us> into the job's and the cache's
 * figures: the longest slice is what blocked the loop. */
static void link_apply_account(struct redis_link *link, int64_t slice_us)
{
    struct pool_apply *a = link->apply;
    a->nslices++;
    if (slice_us > a->max_slice_us)
        a->max_slice_us = slice_us;
}

static void link_apply_log(struct redis_link *link, const struct pool_apply *a, int64_t total_us)
{
    struct pool_cache *pc = link->cache;
    size_t count = pool_apply_count(a);
    link->stats.reloads++;
    link->stats.bad_records += a->nbad;
    if (a->nbad > 0)
        log_warn("redis: pool version %" PRId64 ": skipped %zu bad upstream record%s "
                 "(first: %s)", pc->version, a->nbad, a->nbad == 1 ? "" : "s", a->first_bad);
    if (link->apply_meta_count >= 0 && (size_t)link->apply_meta_count != count + a->nbad)
        log_debug("redis: pool version %" PRId64 ": meta count %" PRId64 " but %zu records",
                  pc->version, link->apply_meta_count, count + a->nbad);
    log_info("redis: pool reloaded: version %" PRId64 " (was %" PRId64 ") epoch %s, "
             "%zu upstreams, %zu skipped, fetched in %" PRId64 " ms, applied in %" PRId64 " us "
             "(%u slices, longest %" PRId64 " us)",
             pc->version, link->apply_prev_version, pc->epoch, count, a->nbad,
             link->apply_fetch_ms, total_us, a->nslices, a->max_slice_us);
}

/* The job swapped its pool in: publish its figures. Its destruction (the
 * retired pool's memory) waits for the next slice. */
static void link_apply_committed(struct redis_link *link)
{
    struct pool_apply *a = link->apply;
    struct pool_cache *pc = link->cache;
    int64_t total_us = link_now_us() - a->started_us;
    pc->last_apply_total_us = total_us;
    pc->last_apply_max_slice_us = a->max_slice_us;
    pc->last_apply_us = a->max_slice_us;
    pc->last_apply_slices = a->nslices;
    link_apply_log(link, a, total_us);
}

/* Frees the reply objects of the pairs the job has decoded, as it goes (all
 * of them, and the reply, with <is_all> or once every pair is decoded). */
static void link_apply_release(struct redis_link *link, int is_all)
{
    redisReply *ups = link->apply_ups;
    if (ups == NULL)
        return;
    size_t upto = is_all || link->apply == NULL ? link->apply_npairs
                                                 : pool_apply_consumed(link->apply);
    for (size_t i = link->apply_released; i < upto; i++) {
        freeReplyObject(ups->element[2 * i]);
        freeReplyObject(ups->element[2 * i + 1]);
        ups->element[2 * i] = ups->element[2 * i + 1] = NULL;
    }
    link->apply_released = upto;
    if (upto < link->apply_npairs)
        return;
    freeReplyObject(ups);
    free(link->apply_pairs);
    link->apply_ups = NULL;
    link->apply_pairs = NULL;
    link->apply_npairs = link->apply_released = 0;
}

/* Drops the job in progress, if any (superseded, or the link is going). */
static void link_apply_drop(struct redis_link *link, const char *why)
{
    struct pool_apply *a = link->apply;
    if (a == NULL)
        return;
    if (!pool_apply_is_done(a)) {
        link->stats.apply_superseded++;
        log_info("redis: applying pool version %" PRId64 " abandoned: %s", a->build->version, why);
    }
    link->apply = NULL;
    evtimer_del(link->apply_ev);
    pool_apply_destroy(a);
    link_apply_release(link, 1);
}

/* Runs apply quanta for about REDIS_LINK_APPLY_TURN_US, then yields: the
 * zero-delay timer fires again after the loop has polled for I/O, so
 * requests run between turns. <t0> is when this turn's apply work began. */
static int link_apply_turn(struct redis_link *link, int64_t t0)
{
    int rc;
    do {
        rc = pool_apply_slice(link->apply, link->cache, POOL_APPLY_QUANTUM_RECORDS,
                              POOL_APPLY_QUANTUM_UNITS, clock_mono_ms());
        link_apply_release(link, 0);
    } while (rc == PF_EAGAIN && link_now_us() - t0 < REDIS_LINK_APPLY_TURN_US);
    return rc;
}

/* The retired pool is freed a turn after the swap, on a turn of its own. */
static void link_apply_free_retired(struct redis_link *link, int64_t t0)
{
    struct pool_cache *pc = link->cache;
    pool_apply_destroy(link->apply);
    link->apply = NULL;
    int64_t us = link_now_us() - t0;
    if (us > pc->last_apply_max_slice_us)
        pc->last_apply_max_slice_us = pc->last_apply_us = us;
    pc->last_apply_slices++;
}

static void link_on_apply_turn(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct redis_link *link = arg;
    struct pool_apply *a = link->apply;
    if (a == NULL)
        return;
    int64_t t0 = link_now_us();
    if (pool_apply_is_done(a)) {
        link_apply_free_retired(link, t0);
        return;
    }
    int rc = link_apply_turn(link, t0);
    link_apply_account(link, link_now_us() - t0);
    if (rc == PF_OK) {
        link_apply_committed(link);
    } else if (rc != PF_EAGAIN) {
        log_error("redis: out of memory applying pool version %" PRId64 "; keeping pool "
                  "version %" PRId64, a->build->version, link->cache->version);
        link->apply = NULL;
        pool_apply_destroy(a);
        link_apply_release(link, 1);
        return;
    }
    link_timer_ms(link->apply_ev, 0);
}

/* Starts applying <r> (HGETALL pool:upstreams) as snapshot <m>, in slices.
 * Never trusts the data: wrong types, odd arrays, bad records are skipped.
 * <t0_us> is when the EXEC reply arrived: the job's timing starts there.
 * A job still running is superseded. Takes <r> out of <exec> (slot <idx>)
 * when the job starts. */
static void link_apply_start(struct redis_link *link, const struct link_meta *m,
                             redisReply *exec, size_t idx, int64_t t0_us)
{
    redisReply *r = exec->element[idx];
    char buf[160];
    if (r->type != REDIS_REPLY_ARRAY) {
        log_warn("redis: pool upstreams unreadable (%s); keeping pool version %" PRId64,
                 link_reply_err(r, buf, sizeof(buf)), link->cache->version);
        return;
    }
    size_t npairs = r->elements / 2;
    if (npairs > REDIS_LINK_MAX_UPSTREAMS) {
        log_warn("redis: pool version %" PRId64 " has %zu upstreams, over the %d limit; "
                 "keeping pool version %" PRId64, m->version, npairs,
                 REDIS_LINK_MAX_UPSTREAMS, link->cache->version);
        return;
    }
    char why[64];
    snprintf(why, sizeof(why), "version %" PRId64 " read", m->version);
    link_apply_drop(link, why);
    link->apply_pairs = npairs > 0 ? malloc(npairs * sizeof(*link->apply_pairs)) : NULL;
    if (npairs > 0 && link->apply_pairs == NULL) {
        log_error("redis: out of memory loading %zu upstreams; keeping pool version %" PRId64,
                  npairs, link->cache->version);
        return;
    }
    for (size_t i = 0; i < npairs; i++) {
        const redisReply *f = r->element[2 * i], *v = r->element[2 * i + 1];
        int is_f = f != NULL && f->type == REDIS_REPLY_STRING && f->str != NULL;
        int is_v = v != NULL && v->type == REDIS_REPLY_STRING && v->str != NULL;
        link->apply_pairs[i] = (struct snapshot_pair){
            is_f ? f->str : NULL, is_f ? f->len : 0, is_v ? v->str : NULL, is_v ? v->len : 0 };
    }
    link->apply = pool_apply_create(link->apply_pairs, npairs, m->version, m->epoch,
                                    link->cred_key);
    if (link->apply == NULL) {
        log_error("redis: out of memory loading %zu upstreams; keeping pool version %" PRId64,
                  npairs, link->cache->version);
        free(link->apply_pairs);
        link->apply_pairs = NULL;
        return;
    }
    exec->element[idx] = NULL;     /* the job's now; freed as it decodes */
    link->apply_ups = r;
    link->apply_npairs = npairs;
    link->apply_released = 0;
    link->apply->started_us = t0_us;
    link->apply_fetch_ms = clock_mono_ms() - link->reload_started_ms;
    link->apply_prev_version = link->cache->version;
    link->apply_meta_count = m->count;
    link_apply_account(link, link_now_us() - t0_us);
    link_timer_ms(link->apply_ev, 0);
}

static void link_on_exec(redisAsyncContext *ac, void *reply, void *privdata)
{
    (void)privdata;
    int64_t t0_us = link_now_us();
    struct redis_link *link = link_cmd_reply(ac, reply);
    if (link == NULL)
        return;
    const redisReply *r = reply;
    char buf[160];
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 2) {
        log_warn("redis: snapshot read failed (%s); keeping pool version %" PRId64,
                 r->type == REDIS_REPLY_ARRAY ? "short EXEC reply"
                                              : link_reply_err(r, buf, sizeof(buf)),
                 link->cache->version);
        link_done(link);
        return;
    }
    struct link_meta m;
    const char *why = "";
    int rc = link_meta_from_hgetall(&m, r->element[0], &why);
    if (rc == PF_ENOENT) {
        log_info("redis: no pool snapshot in Redis; keeping pool version %" PRId64,
                 link->cache->version);
        link->is_snapshot_absent = 1;
    } else if (rc != PF_OK) {
        char w[96];
        log_warn("redis: pool meta invalid (%s); keeping pool version %" PRId64,
                 link_sanitize(w, sizeof(w), why, strlen(why)), link->cache->version);
    } else if (link_is_wanted(link, m.version, m.epoch)) {
        link->is_snapshot_absent = 0;
        link_apply_start(link, &m, (redisReply *)reply, 1, t0_us);
    } else {
        link->is_snapshot_absent = 0;
        log_debug("redis: snapshot %" PRId64 " %s already loaded or being applied",
                  m.version, m.epoch);
    }
    link_done(link);
}

static void link_on_queued(redisAsyncContext *ac, void *reply, void *privdata)
{
    (void)privdata;
    struct redis_link *link = link_cmd_reply(ac, reply);
    const redisReply *r = reply;
    if (link != NULL && r->type == REDIS_REPLY_ERROR) {
        char buf[160];
        /* EXEC will then fail too (EXECABORT) and end the reload. */
        log_debug("redis: snapshot read: %s", link_reply_err(r, buf, sizeof(buf)));
    }
}

/* MULTI; HGETALL meta; HGETALL upstreams; EXEC: one consistent read. */
static void link_start_reload(struct redis_link *link)
{
    const char *multi[] = { "MULTI" };
    const char *meta[] = { "HGETALL", link->keys->pool_meta };
    const char *ups[] = { "HGETALL", link->keys->pool_upstreams };
    const char *exec[] = { "EXEC" };
    link->is_busy = 1;
    link->reload_started_ms = clock_mono_ms();
    /* A failure here already marked the session as failing (link_fail). */
    if (link_cmd(link, link_on_queued, LINK_TAG_QUEUED, 1, multi) != PF_OK ||
        link_cmd(link, link_on_queued, LINK_TAG_QUEUED, 2, meta) != PF_OK ||
        link_cmd(link, link_on_queued, LINK_TAG_QUEUED, 2, ups) != PF_OK)
        return;
    (void)link_cmd(link, link_on_exec, LINK_TAG_EXEC, 1, exec);
}

static void link_on_check(redisAsyncContext *ac, void *reply, void *privdata)
{
    (void)privdata;
    struct redis_link *link = link_cmd_reply(ac, reply);
    if (link == NULL)
        return;
    const redisReply *r = reply;
    char buf[160];
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 2) {
        log_warn("redis: pool meta check failed (%s)", link_reply_err(r, buf, sizeof(buf)));
        link_done(link);
        return;
    }
    struct link_meta m;
    const char *why = "";
    memset(&m, 0, sizeof(m));
    m.count = -1;
    int rc = link_meta_value(&m, "version", r->element[0], &why);
    if (rc == PF_OK)
        rc = link_meta_value(&m, "epoch", r->element[1], &why);
    if (rc == PF_OK)
        rc = link_meta_finish(&m, &why);
    if (rc == PF_ENOENT) {
        if (!link->is_snapshot_absent)
            log_info("redis: no pool snapshot in Redis; keeping pool version %" PRId64,
                     link->cache->version);
        link->is_snapshot_absent = 1;
        link_done(link);
        return;
    }
    link->is_snapshot_absent = 0;
    if (rc != PF_OK) {
        log_warn("redis: pool meta invalid (%s); keeping pool version %" PRId64, why,
                 link->cache->version);
        link_done(link);
        return;
    }
    if (!link_is_wanted(link, m.version, m.epoch)) {
        link_done(link);
        return;
    }
    log_debug("redis: meta says %" PRId64 " %s: reloading", m.version, m.epoch);
    link_start_reload(link);   /* stays busy */
}

static void link_start_check(struct redis_link *link)
{
    const char *argv[] = { "HMGET", link->keys->pool_meta, "version", "epoch" };
    link->is_busy = 1;
    (void)link_cmd(link, link_on_check, LINK_TAG_CHECK, 4, argv);
}

/* A newer snapshot was announced: reload, or remember to look again. */
static void link_want_reload(struct redis_link *link, int is_trusted)
{
    if (link->state != LINK_ST_READY)
        return;   /* the read after (re)connect covers it */
    if (link->is_busy) {
        link->is_recheck_wanted = 1;
        return;
    }
    if (is_trusted)
        link_start_reload(link);
    else
        link_start_check(link);
}

/* ---- timers ----------------------------------------------------------- */

static void link_on_check_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct redis_link *link = arg;
    /* When busy, the in-flight command's deadline is the liveness probe. */
    if (link->state == LINK_ST_READY && !link->is_busy)
        link_start_check(link);
}

static void link_on_connect_deadline(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct redis_link *link = arg;
    if (link->state == LINK_ST_CONNECTING)
        link_fail(link, NULL, "connect timeout after %d ms", link->conf->connect_timeout_ms);
}

static void link_on_command_deadline(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct redis_link *link = arg;
    /* While connecting, the setup commands are under the connect deadline. */
    if (link->state != LINK_ST_READY)
        return;
    int nready = 0;
    if (link->cmd.ac != NULL && ioctl(link->cmd.ac->c.fd, FIONREAD, &nready) != 0)
        nready = 0;
    if (link_rx_mark(link) != link->rx_mark || nready > 0) {
        /* Bytes of a reply arrived (or wait in the socket, e.g. after a long
         * snapshot apply): progress, wait another period. */
        link_arm_command_deadline(link);
        return;
    }
    link->stats.command_timeouts++;
    link_fail(link, &link->cmd, "command timeout after %d ms (%u unanswered)",
              link->conf->command_timeout_ms, link->outstanding);
}

/* ---- connection setup ------------------------------------------------- */

static void link_maybe_ready(struct redis_link *link)
{
    if (link->state != LINK_ST_CONNECTING || !link->cmd.is_ready || !link->sub.is_ready)
        return;
    evtimer_del(link->connect_ev);
    link_set_state(link, LINK_ST_READY);
    link->attempt = 0;
    link->stats.connects++;
    log_info("redis: connected to %s:%u db %d, subscribed to %s", link->conf->host,
             (unsigned)link->conf->port, link->conf->db, link->keys->pool_channel);
    int64_t every_ms = PF_MAX_OF((int64_t)REDIS_LINK_CHECK_MS,
                              2 * (int64_t)link->conf->command_timeout_ms);
    struct timeval tv = { .tv_sec = (time_t)(every_ms / 1000),
                          .tv_usec = (suseconds_t)((every_ms % 1000) * 1000) };
    evtimer_del(link->check_ev);
    event_add(link->check_ev, &tv);   /* check_ev is EV_PERSIST */
    /* Subscribed first, now read: no notice can fall in between. */
    link->is_recheck_wanted = 0;
    link_start_check(link);
}

static void link_on_setup(redisAsyncContext *ac, void *reply, void *privdata)
{
    struct redis_conn *c = ac->data;
    if (c == NULL || c->ac != ac || reply == NULL)
        return;
    struct redis_link *link = c->link;
    if (c == &link->cmd && link_cmd_reply(ac, reply) == NULL)
        return;
    const redisReply *r = reply;
    char buf[160];
    if (r->type == REDIS_REPLY_ERROR) {
        /* The error text comes from Redis and never holds the password. */
        link_fail(link, c, "setup refused: %s", link_reply_err(r, buf, sizeof(buf)));
        return;
    }
    if (privdata == &link_tags[LINK_TAG_PING]) {
        c->is_ready = 1;
        link_maybe_ready(link);
    }
}

static void link_on_message(redisAsyncContext *ac, void *reply, void *privdata)
{
    (void)privdata;
    struct redis_conn *c = ac->data;
    if (c == NULL || c->ac != ac || reply == NULL)
        return;
    struct redis_link *link = c->link;
    if (link->state != LINK_ST_CONNECTING && link->state != LINK_ST_READY)
        return;
    const redisReply *r = reply;
    char buf[160];
    if (r->type == REDIS_REPLY_ERROR) {
        link_fail(link, c, "subscribe refused: %s", link_reply_err(r, buf, sizeof(buf)));
        return;
    }
    if (r->type != REDIS_REPLY_ARRAY || r->elements < 3 || !link_reply_is_str(r->element[0]))
        return;
    const char *kind = r->element[0]->str;
    if (strcmp(kind, "subscribe") == 0) {
        c->is_ready = 1;
        link_maybe_ready(link);
        return;
    }
    if (strcmp(kind, "unsubscribe") == 0) {
        link_fail(link, c, "unsubscribed by the server");
        return;
    }
    if (strcmp(kind, "message") != 0)
        return;
    link->stats.notices++;
    const redisReply *p = r->element[2];
    int64_t version = 0;
    char epoch[POOL_EPOCH_MAX];
    if (p == NULL || p->type != REDIS_REPLY_STRING ||
        link_parse_notice(p->str, p->len, &version, epoch) != PF_OK) {
        log_warn("redis: malformed pool notice \"%s\"; checking pool meta",
                 p != NULL && p->type == REDIS_REPLY_STRING
                     ? link_sanitize(buf, sizeof(buf), p->str, p->len) : "(not a string)");
        link_want_reload(link, 0);
        return;
    }
    if (!link_is_wanted(link, version, epoch)) {
        log_debug("redis: notice %" PRId64 " %s ignored (have %" PRId64 " %s)", version,
                  epoch, link->cache->version, link->cache->epoch);
        return;
    }
    log_debug("redis: notice %" PRId64 " %s: reloading", version, epoch);
    link_want_reload(link, 1);
}

static void link_on_connect(const redisAsyncContext *ac, int status)
{
    struct redis_conn *c = ac->data;
    if (c == NULL || c->ac != ac)
        return;
    struct redis_link *link = c->link;
    if (status != REDIS_OK) {
        /* hiredis frees <ac> after this returns; onDisconnect will not run. */
        c->ac = NULL;
        link_fail(link, c, "%s", ac->errstr[0] != '\0' ? ac->errstr : "connect failed");
        return;
    }
    c->is_tcp_up = 1;
    if (redisEnableKeepAlive((redisContext *)&ac->c) != REDIS_OK)
        log_debug("redis: set keepalive on %s connection failed, ignored", c->name);
    log_debug("redis: %s connection to %s:%u established", c->name, link->conf->host,
              (unsigned)link->conf->port);
}

static void link_on_disconnect(const redisAsyncContext *ac, int status)
{
    struct redis_conn *c = ac->data;
    if (c == NULL || c->ac != ac)
        return;
    /* hiredis frees <ac> after this returns. */
    c->ac = NULL;
    link_fail(c->link, c, "%s", status == REDIS_OK ? "closed"
                              : ac->errstr[0] != '\0' ? ac->errstr : "connection lost");
}

/* Opens <c> and queues its setup commands (hiredis buffers them until the
 * socket connects). Returns PF_OK or PF_EIO after calling link_fail. */
static int link_open(struct redis_link *link, struct redis_conn *c)
{
    redisAsyncContext *ac = redisAsyncConnect(link->conf->host, link->conf->port);
    if (ac == NULL) {
        link_fail(link, c, "out of memory");
        return PF_EIO;
    }
    if (ac->err) {
        link_fail(link, c, "%s", ac->errstr);
        redisAsyncFree(ac);
        return PF_EIO;
    }
    ac->data = c;
    c->ac = ac;
    c->is_tcp_up = 0;
    c->is_ready = 0;
    if (redisLibeventAttach(ac, link->base) != REDIS_OK) {
        link_fail(link, c, "cannot attach to the event loop");
        return PF_EIO;
    }
    redisAsyncSetConnectCallback(ac, link_on_connect);
    redisAsyncSetDisconnectCallback(ac, link_on_disconnect);

    int rc = REDIS_OK;
    if (link->conf->password[0] != '\0' && rc == REDIS_OK) {
        const char *argv[] = { "AUTH", link->conf->password };
        if (c == &link->cmd)
            rc = link_cmd(link, link_on_setup, LINK_TAG_SETUP, 2, argv) == PF_OK
                     ? REDIS_OK : REDIS_ERR;
        else
            rc = redisAsyncCommandArgv(ac, link_on_setup, (void *)&link_tags[LINK_TAG_SETUP],
                                       2, argv, NULL);
    }
    if (c == &link->cmd) {
        char db[16];
        snprintf(db, sizeof(db), "%d", link->conf->db);
        const char *sel[] = { "SELECT", db };
        const char *ping[] = { "PING" };
        if (rc == REDIS_OK && link->conf->db != 0)
            rc = link_cmd(link, link_on_setup, LINK_TAG_SETUP, 2, sel) == PF_OK
                     ? REDIS_OK : REDIS_ERR;
        if (rc == REDIS_OK)
            rc = link_cmd(link, link_on_setup, LINK_TAG_PING, 1, ping) == PF_OK
                     ? REDIS_OK : REDIS_ERR;
    } else if (rc == REDIS_OK) {
        const char *argv[] = { "SUBSCRIBE", link->keys->pool_channel };
        rc = redisAsyncCommandArgv(ac, link_on_message, NULL, 2, argv, NULL);
    }
    if (rc != REDIS_OK) {
        link_fail(link, c, "cannot queue setup commands");
        return PF_EIO;
    }
    return PF_OK;
}

static void link_on_reconnect(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct redis_link *link = arg;
    if (link->state != LINK_ST_IDLE)
        return;
    log_debug("redis: connecting to %s:%u", link->conf->host, (unsigned)link->conf->port);
    link_set_state(link, LINK_ST_CONNECTING);
    link->outstanding = 0;
    link->is_busy = 0;
    link->is_recheck_wanted = 0;
    link_timer_ms(link->connect_ev, link->conf->connect_timeout_ms);
    /* Subscriber first; its confirmation gates the first meta read. */
    if (link_open(link, &link->sub) != PF_OK)
        return;
    (void)link_open(link, &link->cmd);
}

/* ---- public API ------------------------------------------------------- */

struct redis_link *redis_link_create(struct event_base *base, const struct conf_redis *conf,
                                     const struct keys *keys, struct pool_cache *cache,
                                     const struct seal_key *cred_key,
                                     struct pf_err *err)
{
    struct redis_link *link = calloc(1, sizeof(*link));
    if (link == NULL)
        goto fail;
    link->base = base;
    link->conf = conf;
    link->keys = keys;
    link->cache = cache;
    link->cred_key = cred_key;
    link->state = LINK_ST_IDLE;
    link->cmd.link = link;
    link->cmd.name = "cmd";
    link->sub.link = link;
    link->sub.name = "sub";
    link->backoff.base_ms = REDIS_LINK_BACKOFF_BASE_MS;
    link->backoff.cap_ms = REDIS_LINK_BACKOFF_CAP_MS;
    rng_seed_os(&link->rng);
    link->reconnect_ev = evtimer_new(base, link_on_reconnect, link);
    link->teardown_ev = evtimer_new(base, link_on_teardown, link);
    link->connect_ev = evtimer_new(base, link_on_connect_deadline, link);
    link->command_ev = evtimer_new(base, link_on_command_deadline, link);
    link->check_ev = event_new(base, -1, EV_PERSIST, link_on_check_timer, link);
    link->apply_ev = evtimer_new(base, link_on_apply_turn, link);
    if (link->reconnect_ev == NULL || link->teardown_ev == NULL || link->connect_ev == NULL ||
        link->command_ev == NULL || link->check_ev == NULL || link->apply_ev == NULL)
        goto fail;
    /* Connect from the loop, so create returns at once. */
    link_timer_ms(link->reconnect_ev, 0);
    return link;

fail:
    redis_link_destroy(link);
    pf_err_set(err, PF_ENOMEM, "redis link: out of memory");
    return NULL;
}

void redis_link_destroy(struct redis_link *link)
{
    if (link == NULL)
        return;
    link_set_state(link, LINK_ST_CLOSED);
    link_close_conns(link);
    if (link->apply_ev != NULL)
        link_apply_drop(link, "shutting down");
    struct event *evs[] = { link->reconnect_ev, link->teardown_ev, link->connect_ev,
                            link->command_ev, link->check_ev, link->apply_ev };
    for (size_t i = 0; i < PF_ARRAY_LEN(evs); i++)
        if (evs[i] != NULL)
            event_free(evs[i]);
    free(link);
}

int redis_link_is_connected(const struct redis_link *link)
{
    return link != NULL && link->state == LINK_ST_READY;
}

static void link_on_report(redisAsyncContext *ac, void *reply, void *privdata)
{
    (void)privdata;
    struct redis_link *link = link_cmd_reply(ac, reply);
    if (link == NULL)
        return;
    const redisReply *r = reply;
    if (r->type == REDIS_REPLY_ERROR) {
        char buf[160];
        if (!link->is_report_failing)
            log_warn("redis: node report failed: %s", link_reply_err(r, buf, sizeof(buf)));
        link->is_report_failing = 1;
    } else {
        link->is_report_failing = 0;
    }
}

int redis_link_report(struct redis_link *link, const char *node_id,
                      const char *const *names, const char *const *values, size_t nfields,
                      int ttl_ms, int64_t now_wall_ms)
{
    char key[KEYS_NAME_MAX + 80];
    if (link == NULL || node_id == NULL || ttl_ms <= 0 ||
        nfields > REDIS_LINK_REPORT_ARGS_MAX ||
        keys_node(link->keys, node_id, key, sizeof(key)) != PF_OK)
        return PF_EINVAL;
    if (link->state != LINK_ST_READY)
        return PF_EAGAIN;

    if (nfields > 0) {
        const char **argv = calloc(2 + 2 * nfields, sizeof(*argv));
        if (argv == NULL)
            return PF_ENOMEM;
        argv[0] = "HSET";
        argv[1] = key;
        for (size_t i = 0; i < nfields; i++) {
            argv[2 + 2 * i] = names[i] != NULL ? names[i] : "";
            argv[3 + 2 * i] = values[i] != NULL ? values[i] : "";
        }
        /* hiredis formats (copies) the arguments before returning. */
        int rc = link_cmd(link, link_on_report, LINK_TAG_REPORT, (int)(2 + 2 * nfields), argv);
        free(argv);
        if (rc != PF_OK)
            return PF_EAGAIN;
    }
    char ttl[24], now[24], old[24];
    snprintf(ttl, sizeof(ttl), "%d", ttl_ms);
    snprintf(now, sizeof(now), "%" PRId64, now_wall_ms);
    snprintf(old, sizeof(old), "%" PRId64, now_wall_ms - REDIS_LINK_NODES_MAX_AGE_MS);
    const char *pexpire[] = { "PEXPIRE", key, ttl };
    const char *zadd[] = { "ZADD", link->keys->nodes, now, node_id };
    const char *trim[] = { "ZREMRANGEBYSCORE", link->keys->nodes, "-inf", old };
    if ((nfields > 0 && link_cmd(link, link_on_report, LINK_TAG_REPORT, 3, pexpire) != PF_OK) ||
        link_cmd(link, link_on_report, LINK_TAG_REPORT, 4, zadd) != PF_OK ||
        link_cmd(link, link_on_report, LINK_TAG_REPORT, 4, trim) != PF_OK)
        return PF_EAGAIN;
    return PF_OK;
}

int redis_link_report_upstreams(struct redis_link *link, const char *node_id,
                                const char *const *names, const char *const *values,
                                size_t nfields, int ttl_ms)
{
    char key[KEYS_NAME_MAX + 80];
    if (link == NULL || node_id == NULL || ttl_ms <= 0 ||
        keys_node_upstreams(link->keys, node_id, key, sizeof(key)) != PF_OK)
        return PF_EINVAL;
    if (link->state != LINK_ST_READY)
        return PF_EAGAIN;
    if (nfields == 0)
        return PF_OK;
    size_t batch = PF_MIN_OF(nfields, (size_t)REDIS_LINK_REPORT_ARGS_MAX);
    const char **argv = calloc(2 + 2 * batch, sizeof(*argv));
    if (argv == NULL)
        return PF_ENOMEM;
    int rc = PF_OK;
    for (size_t off = 0; off < nfields && rc == PF_OK; off += batch) {
        size_t n = PF_MIN_OF(batch, nfields - off);
        argv[0] = "HSET";
        argv[1] = key;
        for (size_t i = 0; i < n; i++) {
            argv[2 + 2 * i] = names[off + i] != NULL ? names[off + i] : "";
            argv[3 + 2 * i] = values[off + i] != NULL ? values[off + i] : "";
        }
        if (link_cmd(link, link_on_report, LINK_TAG_REPORT, (int)(2 + 2 * n), argv) != PF_OK)
            rc = PF_EAGAIN;
    }
    free(argv);
    char ttl[24];
    snprintf(ttl, sizeof(ttl), "%d", ttl_ms);
    const char *pexpire[] = { "PEXPIRE", key, ttl };
    if (rc == PF_OK && link_cmd(link, link_on_report, LINK_TAG_REPORT, 3, pexpire) != PF_OK)
        rc = PF_EAGAIN;
    return rc;
}

const struct redis_link_stats *redis_link_get_stats(const struct redis_link *link)
{
    return &link->stats;
}
