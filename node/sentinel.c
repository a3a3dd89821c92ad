/* The node's Redis Sentinel client; see sentinel.h.
 *
 * Two hiredis async connections at most: <ask> (one sentinel at a time,
 * closed after its answer) and <watch> (SUBSCRIBEd to +switch-master).
 * As in redis_link.c, hiredis runs pending callbacks with a NULL reply
 * when a context goes, and frees a context itself after its connect
 * callback failed or its disconnect callback ran; so every callback first
 * checks that its context is the current one, failures only mark the
 * connection closing and arm the zero-delay step event, and the step
 * frees closing contexts (clearing <ac->data> first, which turns the
 * replays into no-ops), then moves the ask on.
 *
 * The ask, one round over the sentinels (changed only in sentinel_step):
 *   IDLE --sentinel_ask / watch subscribed--> OPEN --open--> WAITING
 *   WAITING --answer--> ANSWERED --step--> IDLE (on_master / on_moved)
 *   WAITING --error, deadline--> FAILED --step--> OPEN (next sentinel)
 *                                              or IDLE (all failed: on_failed) */
#include "sentinel.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <hiredis/adapters/libevent.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#include "backoff.h"
#include "log.h"
#include "redis_proto.h"
#include "rng.h"

#define SENTINEL_BACKOFF_BASE_MS 100
#define SENTINEL_BACKOFF_CAP_MS  5000

enum ask_state {
    ASK_ST_IDLE = 0,        /* no round */
    ASK_ST_OPEN,            /* open sentinel <ask.idx> at the next step */
    ASK_ST_WAITING,         /* asked; the answer or a failure is pending */
    ASK_ST_ANSWERED,        /* <ask_host>:<ask_port> came; report at the next step */
    ASK_ST_FAILED,          /* this sentinel failed (<ask_why>); try the next */
};

struct sentinel_conn {
    struct sentinel    *s;            /* borrowed: the owner */
    redisAsyncContext  *ac;           /* owned by hiredis; NULL when down */
    int                 idx;          /* which of conf->sentinels */
    int                 is_closing;   /* failed or done: freed at the next step */
};

struct sentinel {
    struct event_base        *base;        /* borrowed */
    const struct conf_redis  *conf;        /* borrowed */
    struct sentinel_events    ev;          /* the listener */
    int                       first;       /* asked first: the last that answered */
    struct sentinel_conn      ask;         /* embedded */
    enum ask_state            ask_st;
    int                       ntried;      /* sentinels tried in this round */
    int                       is_resolve_wanted; /* the answer goes to on_master */
    int                       is_check_wanted;   /* ... or else to on_moved */
    char                      ask_host[UPSTREAM_HOST_MAX];
    uint16_t                  ask_port;
    char                      ask_why[256];      /* why the last sentinel failed */
    struct event             *ask_deadline_ev;   /* owned */
    struct sentinel_conn      watch;       /* embedded */
    int                       is_watch_up; /* SUBSCRIBE confirmed */
    struct event             *watch_retry_ev;    /* owned: (re)connect the watch */
    struct event             *watch_deadline_ev; /* owned: until SUBSCRIBE is confirmed */
    struct backoff            backoff;
    unsigned                  attempt;     /* failed watch connects in a row */
    int                       is_down_logged;    /* the watch's outage was logged at warn */
    struct rng                rng;         /* backoff jitter, seeded from the OS */
    struct event             *step_ev;     /* owned: zero-delay step */
    struct sentinel_stats     stats;
};

/* ---- small helpers ---------------------------------------------------- */

static void sentinel_timer_ms(struct event *ev, int64_t ms)
{
    struct timeval tv;
    if (ms < 0)
        ms = 0;
    tv.tv_sec = (time_t)(ms / 1000);
    tv.tv_usec = (suseconds_t)((ms % 1000) * 1000);
    evtimer_add(ev, &tv);
}

/* Printable copy of untrusted <s>/<len> for a log line. */
static const char *sentinel_sanitize(char *buf, size_t len, const char *s, size_t slen)
{
    size_t n = 0;
    for (size_t i = 0; s != NULL && i < slen && n + 4 < len; i++) {
        unsigned char ch = (unsigned char)s[i];
        buf[n++] = (ch >= 0x20 && ch < 0x7f) ? (char)ch : '?';
    }
    if (s != NULL && n + 4 >= len && slen > n) {
        buf[n++] = '.';
        buf[n++] = '.';
        buf[n++] = '.';
    }
    buf[n] = '\0';
    return buf;
}

static void sentinel_name(const struct sentinel *s, int i, char *buf, size_t len)
{
    const struct conf_sentinel *sn = &s->conf->sentinels[i];
    snprintf(buf, len, strchr(sn->host, ':') != NULL ? "[%s]:%u" : "%s:%u", sn->host,
             (unsigned)sn->port);
}

/* The connection <ac> belongs to, when it is still the current one. */
static struct sentinel_conn *sentinel_conn_of(const redisAsyncContext *ac)
{
    struct sentinel_conn *c = ac->data;
    return c != NULL && c->ac == ac ? c : NULL;
}

static void sentinel_arm_step(struct sentinel *s)
{
    sentinel_timer_ms(s->step_ev, 0);
}

/* Frees <c>'s context when it is closing; outside hiredis callbacks only. */
static void sentinel_reap(struct sentinel_conn *c)
{
    if (!c->is_closing)
        return;
    c->is_closing = 0;
    redisAsyncContext *ac = c->ac;
    c->ac = NULL;
    if (ac != NULL) {
        ac->data = NULL;
        redisAsyncFree(ac);
    }
}

static void sentinel_on_connect(const redisAsyncContext *ac, int status);
static void sentinel_on_disconnect(const redisAsyncContext *ac, int status);

/* Opens <c> to sentinel <c->idx> and queues AUTH when configured, with
 * <auth_fn> as its callback. Returns PF_OK, or PF_EIO with <why> filled:
 * the caller then fails <c> (which closes what was opened). */
static int sentinel_open(struct sentinel *s, struct sentinel_conn *c, redisCallbackFn *auth_fn,
                         char *why, size_t why_len)
{
    const struct conf_sentinel *sn = &s->conf->sentinels[c->idx];
    redisAsyncContext *ac = redisAsyncConnect(sn->host, sn->port);
    if (ac == NULL) {
        snprintf(why, why_len, "out of memory");
        return PF_EIO;
    }
    if (ac->err) {
        snprintf(why, why_len, "connect: %s", ac->errstr);
        redisAsyncFree(ac);
        return PF_EIO;
    }
    ac->data = c;
    c->ac = ac;
    c->is_closing = 0;
    if (redisLibeventAttach(ac, s->base) != REDIS_OK) {
        snprintf(why, why_len, "cannot attach to the event loop");
        return PF_EIO;
    }
    redisAsyncSetConnectCallback(ac, sentinel_on_connect);
    redisAsyncSetDisconnectCallback(ac, sentinel_on_disconnect);
    if (s->conf->sentinel_password[0] != '\0') {
        const char *argv[3];
        int argc = 0;
        argv[argc++] = "AUTH";
        if (s->conf->sentinel_user[0] != '\0')
            argv[argc++] = s->conf->sentinel_user;
        argv[argc++] = s->conf->sentinel_password;
        if (redisAsyncCommandArgv(ac, auth_fn, NULL, argc, argv, NULL) != REDIS_OK) {
            snprintf(why, why_len, "cannot queue AUTH");
            return PF_EIO;
        }
    }
    return PF_OK;
}

/* "AUTH refused: <server text> (check ...)" into <buf>. */
static const char *sentinel_auth_why(const struct sentinel *s, const redisReply *r, char *buf,
                                     size_t len)
{
    char text[160];
    int has_user = s->conf->sentinel_user[0] != '\0';
    /* A cut-short reason is still a reason. */
    if (snprintf(buf, len, "AUTH%s%s refused: %s (check redis.sentinel_%s)",
                 has_user ? " as user " : "", has_user ? s->conf->sentinel_user : "",
                 r->type == REDIS_REPLY_ERROR
                     ? sentinel_sanitize(text, sizeof(text), r->str, r->len) : "unexpected reply",
                 has_user ? "user and sentinel_password" : "password") < 0)
        buf[0] = '\0';
    return buf;
}

/* ---- the ask ---------------------------------------------------------- */

static void sentinel_ask_fail(struct sentinel *s, const char *fmt, ...) PF_PRINTF(2, 3);
static void sentinel_ask_fail(struct sentinel *s, const char *fmt, ...)
{
    va_list ap;
    if (s->ask_st != ASK_ST_WAITING)
        return;
    va_start(ap, fmt);
    vsnprintf(s->ask_why, sizeof(s->ask_why), fmt, ap);
    va_end(ap);
    s->ask_st = ASK_ST_FAILED;
    s->ask.is_closing = 1;
    s->stats.ask_failures++;
    evtimer_del(s->ask_deadline_ev);
    sentinel_arm_step(s);
}

static void sentinel_ask_on_auth(redisAsyncContext *ac, void *reply, void *privdata)
{
    char why[256];
    (void)privdata;
    struct sentinel_conn *c = sentinel_conn_of(ac);
    if (c == NULL || reply == NULL || c->is_closing)
        return;
    const redisReply *r = reply;
    if (r->type != REDIS_REPLY_STATUS)
        sentinel_ask_fail(c->s, "%s", sentinel_auth_why(c->s, r, why, sizeof(why)));
}

static void sentinel_ask_on_reply(redisAsyncContext *ac, void *reply, void *privdata)
{
    char buf[160];
    struct pf_err err;
    (void)privdata;
    struct sentinel_conn *c = sentinel_conn_of(ac);
    if (c == NULL || reply == NULL || c->is_closing)
        return;
    struct sentinel *s = c->s;
    const redisReply *r = reply;
    if (s->ask_st != ASK_ST_WAITING)
        return;
    if (r->type == REDIS_REPLY_NIL) {
        sentinel_ask_fail(s, "does not monitor a master named %s", s->conf->master_name);
        return;
    }
    if (r->type == REDIS_REPLY_ERROR) {
        sentinel_ask_fail(s, "%s", sentinel_sanitize(buf, sizeof(buf), r->str, r->len));
        return;
    }
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
        r->element[0]->type != REDIS_REPLY_STRING || r->element[1]->type != REDIS_REPLY_STRING) {
        sentinel_ask_fail(s, "unexpected reply to get-master-addr-by-name");
        return;
    }
    pf_err_clear(&err);
    if (redis_proto_master_addr(r->element[0]->str, r->element[0]->len, r->element[1]->str,
                                r->element[1]->len, s->ask_host, sizeof(s->ask_host),
                                &s->ask_port, &err) != PF_OK) {
        sentinel_ask_fail(s, "%s", err.msg);
        return;
    }
    s->ask_st = ASK_ST_ANSWERED;
    c->is_closing = 1;
    evtimer_del(s->ask_deadline_ev);
    sentinel_arm_step(s);
}

static void sentinel_ask_on_deadline(evutil_socket_t fd, short what, void *arg)
{
    struct sentinel *s = arg;
    (void)fd;
    (void)what;
    sentinel_ask_fail(s, "no answer within %d ms",
                      s->conf->connect_timeout_ms + s->conf->command_timeout_ms);
}

/* Asks sentinel <ask.idx>; outside hiredis callbacks. */
static void sentinel_ask_open(struct sentinel *s)
{
    s->ask_st = ASK_ST_WAITING;
    s->ask_why[0] = '\0';
    if (sentinel_open(s, &s->ask, sentinel_ask_on_auth, s->ask_why, sizeof(s->ask_why))
        != PF_OK) {
        char why[sizeof(s->ask_why)];
        memcpy(why, s->ask_why, sizeof(why));
        sentinel_ask_fail(s, "%s", why);
        return;
    }
    const char *argv[] = { "SENTINEL", "get-master-addr-by-name", s->conf->master_name };
    if (redisAsyncCommandArgv(s->ask.ac, sentinel_ask_on_reply, NULL, 3, argv, NULL)
        != REDIS_OK) {
        sentinel_ask_fail(s, "cannot queue the question");
        return;
    }
    sentinel_timer_ms(s->ask_deadline_ev,
                      (int64_t)s->conf->connect_timeout_ms + s->conf->command_timeout_ms);
}

/* Ends the round and tells the listener. */
static void sentinel_ask_finish(struct sentinel *s, int is_ok)
{
    char name[UPSTREAM_HOST_MAX + 8];
    int is_resolve = s->is_resolve_wanted;
    int is_check = s->is_check_wanted;

    s->ask_st = ASK_ST_IDLE;
    s->is_resolve_wanted = 0;
    s->is_check_wanted = 0;
    sentinel_name(s, s->ask.idx, name, sizeof(name));
    if (is_ok) {
        s->first = s->ask.idx;
        s->stats.asks++;
        log_debug("sentinel %s: master %s is at %s:%u", name, s->conf->master_name, s->ask_host,
                  (unsigned)s->ask_port);
        if (is_resolve && s->ev.on_master != NULL)
            s->ev.on_master(s->ask_host, s->ask_port, s->ev.arg);
        else if (is_check && s->ev.on_moved != NULL)
            s->ev.on_moved(s->ask_host, s->ask_port, s->ev.arg);
        return;
    }
    char why[sizeof(s->ask_why) + 160];
    if (snprintf(why, sizeof(why), "no sentinel named master %s (last, %s: %s)",
                 s->conf->master_name, name, s->ask_why) < 0)
        why[0] = '\0';
    if (is_resolve && s->ev.on_failed != NULL)
        s->ev.on_failed(why, s->ev.arg);
    else
        log_debug("sentinel: check of master %s failed: %s", s->conf->master_name, why);
}

/* Starts a round unless one runs (its answer serves both). */
static void sentinel_ask_begin(struct sentinel *s)
{
    if (s->ask_st != ASK_ST_IDLE)
        return;
    s->ntried = 0;
    s->ask.idx = s->first;
    s->ask_st = ASK_ST_OPEN;
    sentinel_arm_step(s);
}

void sentinel_ask(struct sentinel *s)
{
    s->is_resolve_wanted = 1;
    sentinel_ask_begin(s);
}

static void sentinel_on_step(evutil_socket_t fd, short what, void *arg)
{
    struct sentinel *s = arg;
    char name[UPSTREAM_HOST_MAX + 8];
    (void)fd;
    (void)what;
    sentinel_reap(&s->ask);
    sentinel_reap(&s->watch);
    switch (s->ask_st) {
    case ASK_ST_OPEN:
        sentinel_ask_open(s);
        break;
    case ASK_ST_ANSWERED:
        sentinel_ask_finish(s, 1);
        break;
    case ASK_ST_FAILED:
        sentinel_name(s, s->ask.idx, name, sizeof(name));
        log_debug("sentinel %s: %s", name, s->ask_why);
        if (++s->ntried < s->conf->nsentinels) {
            s->ask.idx = (s->ask.idx + 1) % s->conf->nsentinels;
            sentinel_ask_open(s);
        } else {
            sentinel_ask_finish(s, 0);
        }
        break;
    case ASK_ST_IDLE:
    case ASK_ST_WAITING:
        break;
    }
}

/* ---- the watch -------------------------------------------------------- */

static void sentinel_watch_fail(struct sentinel *s, const char *fmt, ...) PF_PRINTF(2, 3);
static void sentinel_watch_fail(struct sentinel *s, const char *fmt, ...)
{
    char why[256];
    char name[UPSTREAM_HOST_MAX + 8];
    va_list ap;

    if (s->watch.is_closing || evtimer_pending(s->watch_retry_ev, NULL))
        return;
    va_start(ap, fmt);
    vsnprintf(why, sizeof(why), fmt, ap);
    va_end(ap);
    sentinel_name(s, s->watch.idx, name, sizeof(name));
    s->watch.is_closing = 1;
    s->is_watch_up = 0;
    evtimer_del(s->watch_deadline_ev);
    sentinel_arm_step(s);
    int64_t delay_ms = backoff_delay_ms(&s->backoff, s->attempt, rng_next(&s->rng));
    if (s->attempt < 63)
        s->attempt++;
    if (!s->is_down_logged)
        log_warn("sentinel %s: watch of %s failed: %s; trying the next sentinel in %lld ms",
                 name, REDIS_PROTO_SWITCH_CHANNEL, why, (long long)delay_ms);
    else
        log_debug("sentinel %s: watch of %s failed: %s", name, REDIS_PROTO_SWITCH_CHANNEL, why);
    s->is_down_logged = 1;
    s->watch.idx = (s->watch.idx + 1) % s->conf->nsentinels;
    sentinel_timer_ms(s->watch_retry_ev, delay_ms);
}

static void sentinel_watch_on_auth(redisAsyncContext *ac, void *reply, void *privdata)
{
    char why[256];
    (void)privdata;
    struct sentinel_conn *c = sentinel_conn_of(ac);
    if (c == NULL || reply == NULL || c->is_closing)
        return;
    const redisReply *r = reply;
    if (r->type != REDIS_REPLY_STATUS)
        sentinel_watch_fail(c->s, "%s", sentinel_auth_why(c->s, r, why, sizeof(why)));
}

static void sentinel_watch_on_message(redisAsyncContext *ac, void *reply, void *privdata)
{
    char name[UPSTREAM_HOST_MAX + 8];
    char host[UPSTREAM_HOST_MAX];
    char buf[160];
    uint16_t port = 0;
    struct pf_err err;
    (void)privdata;
    struct sentinel_conn *c = sentinel_conn_of(ac);
    if (c == NULL || reply == NULL || c->is_closing)
        return;
    struct sentinel *s = c->s;
    const redisReply *r = reply;
    if (r->type == REDIS_REPLY_ERROR) {
        sentinel_watch_fail(s, "SUBSCRIBE refused: %s",
                            sentinel_sanitize(buf, sizeof(buf), r->str, r->len));
        return;
    }
    if (r->type != REDIS_REPLY_ARRAY || r->elements < 3 ||
        r->element[0]->type != REDIS_REPLY_STRING)
        return;
    const char *kind = r->element[0]->str;
    if (strcmp(kind, "subscribe") == 0) {
        s->is_watch_up = 1;
        s->attempt = 0;
        s->is_down_logged = 0;
        evtimer_del(s->watch_deadline_ev);
        sentinel_name(s, c->idx, name, sizeof(name));
        log_info("sentinel %s: watching %s for master %s", name, REDIS_PROTO_SWITCH_CHANNEL,
                 s->conf->master_name);
        /* Subscribed first, then asked: no switch can fall in between. */
        s->is_check_wanted = 1;
        sentinel_ask_begin(s);
        return;
    }
    if (strcmp(kind, "unsubscribe") == 0) {
        sentinel_watch_fail(s, "unsubscribed by the sentinel");
        return;
    }
    const redisReply *p = r->element[2];
    if (strcmp(kind, "message") != 0 || p->type != REDIS_REPLY_STRING)
        return;
    pf_err_clear(&err);
    int rc = redis_proto_switch_master(p->str, p->len, s->conf->master_name, host, sizeof(host),
                                       &port, &err);
    if (rc == PF_ENOENT)
        return;
    if (rc != PF_OK) {
        log_warn("sentinel: ignored a malformed %s notice: %s (%s)", REDIS_PROTO_SWITCH_CHANNEL,
                 err.msg, sentinel_sanitize(buf, sizeof(buf), p->str, p->len));
        return;
    }
    s->stats.switch_notices++;
    log_info("sentinel: %s: master %s is now at %s:%u", REDIS_PROTO_SWITCH_CHANNEL,
             s->conf->master_name, host, (unsigned)port);
    if (s->ev.on_moved != NULL)
        s->ev.on_moved(host, port, s->ev.arg);
}

static void sentinel_watch_on_deadline(evutil_socket_t fd, short what, void *arg)
{
    struct sentinel *s = arg;
    (void)fd;
    (void)what;
    sentinel_watch_fail(s, "not subscribed within %d ms",
                        s->conf->connect_timeout_ms + s->conf->command_timeout_ms);
}

static void sentinel_watch_on_retry(evutil_socket_t fd, short what, void *arg)
{
    struct sentinel *s = arg;
    char why[256];
    (void)fd;
    (void)what;
    sentinel_reap(&s->watch);
    if (s->watch.ac != NULL)
        return;     /* hiredis has not let go of the last one yet: its failure re-arms */
    if (sentinel_open(s, &s->watch, sentinel_watch_on_auth, why, sizeof(why)) != PF_OK) {
        sentinel_watch_fail(s, "%s", why);
        return;
    }
    const char *argv[] = { "SUBSCRIBE", REDIS_PROTO_SWITCH_CHANNEL };
    if (redisAsyncCommandArgv(s->watch.ac, sentinel_watch_on_message, NULL, 2, argv, NULL)
        != REDIS_OK) {
        sentinel_watch_fail(s, "cannot queue SUBSCRIBE");
        return;
    }
    sentinel_timer_ms(s->watch_deadline_ev,
                      (int64_t)s->conf->connect_timeout_ms + s->conf->command_timeout_ms);
}

/* ---- connection callbacks (both connections) -------------------------- */

static void sentinel_conn_failed(struct sentinel_conn *c, const char *why)
{
    struct sentinel *s = c->s;
    if (c == &s->ask)
        sentinel_ask_fail(s, "%s", why);
    else
        sentinel_watch_fail(s, "%s", why);
}

static void sentinel_on_connect(const redisAsyncContext *ac, int status)
{
    struct sentinel_conn *c = sentinel_conn_of(ac);
    if (c == NULL)
        return;
    if (status != REDIS_OK) {
        /* hiredis frees <ac> after this returns; onDisconnect will not run. */
        c->ac = NULL;
        sentinel_conn_failed(c, ac->errstr[0] != '\0' ? ac->errstr : "connect failed");
        return;
    }
    if (redisEnableKeepAlive((redisContext *)&ac->c) != REDIS_OK)
        log_debug("sentinel: set keepalive failed, ignored");
}

static void sentinel_on_disconnect(const redisAsyncContext *ac, int status)
{
    struct sentinel_conn *c = sentinel_conn_of(ac);
    if (c == NULL)
        return;
    /* hiredis frees <ac> after this returns. */
    c->ac = NULL;
    if (!c->is_closing)
        sentinel_conn_failed(c, status == REDIS_OK ? "closed"
                             : ac->errstr[0] != '\0' ? ac->errstr : "connection lost");
}

/* ---- public API ------------------------------------------------------- */

struct sentinel *sentinel_create(struct event_base *base, const struct conf_redis *conf,
                                 const struct sentinel_events *ev, struct pf_err *err)
{
    struct sentinel *s = calloc(1, sizeof(*s));
    if (s == NULL)
        goto fail;
    s->base = base;
    s->conf = conf;
    s->ev = *ev;
    s->ask.s = s;
    s->watch.s = s;
    s->backoff.base_ms = SENTINEL_BACKOFF_BASE_MS;
    s->backoff.cap_ms = SENTINEL_BACKOFF_CAP_MS;
    rng_seed_os(&s->rng);
    s->ask_deadline_ev = evtimer_new(base, sentinel_ask_on_deadline, s);
    s->watch_retry_ev = evtimer_new(base, sentinel_watch_on_retry, s);
    s->watch_deadline_ev = evtimer_new(base, sentinel_watch_on_deadline, s);
    s->step_ev = evtimer_new(base, sentinel_on_step, s);
    if (s->ask_deadline_ev == NULL || s->watch_retry_ev == NULL || s->watch_deadline_ev == NULL ||
        s->step_ev == NULL)
        goto fail;
    /* The watch starts from the loop, so create returns at once. */
    sentinel_timer_ms(s->watch_retry_ev, 0);
    return s;

fail:
    sentinel_destroy(s);
    pf_err_set(err, PF_ENOMEM, "sentinel: out of memory");
    return NULL;
}

void sentinel_destroy(struct sentinel *s)
{
    if (s == NULL)
        return;
    s->ask.is_closing = 1;
    s->watch.is_closing = 1;
    sentinel_reap(&s->ask);
    sentinel_reap(&s->watch);
    struct event *evs[] = { s->ask_deadline_ev, s->watch_retry_ev, s->watch_deadline_ev,
                            s->step_ev };
    for (size_t i = 0; i < PF_ARRAY_LEN(evs); i++)
        if (evs[i] != NULL)
            event_free(evs[i]);
    free(s);
}

const struct sentinel_stats *sentinel_get_stats(const struct sentinel *s)
{
    return &s->stats;
}
