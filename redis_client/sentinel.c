/* The blocking Redis Sentinel client; see sentinel.h.
 *
 * The watch is a synchronous hiredis context whose socket the loop polls
 * for reading: once SUBSCRIBEd, the only traffic is pushed messages, so a
 * readable socket is read once (redisBufferRead) and every complete reply
 * is taken from the reader; nothing blocks. Any read error, EOF or a reply
 * that breaks the protocol closes the watch; it reconnects to the next
 * sentinel after a backoff with full jitter. */
#include "sentinel.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <hiredis/hiredis.h>

#include "backoff.h"
#include "log.h"
#include "redis_proto.h"
#include "rng.h"

#define SENTINEL_BACKOFF_BASE_MS 200
#define SENTINEL_BACKOFF_CAP_MS  10000

struct sentinel {
    struct event_base        *base;        /* borrowed; NULL until the watch starts */
    const struct conf_redis  *conf;        /* borrowed from the binary's config */
    sentinel_moved_fn         moved;
    void                     *arg;         /* borrowed: <moved>'s argument */
    int                       first;       /* sentinel asked first: the last that answered */
    redisContext             *watch;       /* owned; NULL while the watch is down */
    int                       watch_idx;   /* sentinel the watch uses; the next after a failure */
    struct event             *read_ev;     /* owned: the watch's socket is readable */
    struct event             *retry_ev;    /* owned: (re)connect the watch */
    struct backoff            backoff;
    unsigned                  attempt;     /* failed watch connects in a row */
    int                       is_down_logged; /* the watch's outage was logged at warn */
    struct sentinel_stats     stats;
};

/* Printable copy of untrusted <s>/<len> for a log line or an error. */
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

static struct timeval sentinel_tv(int ms)
{
    struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };
    return tv;
}

/* Connects to sentinel <i> and authenticates. Returns the context, or NULL
 * with a reason in <err>. */
static redisContext *sentinel_open(struct sentinel *s, int i, struct pf_err *err)
{
    const struct conf_sentinel *sn = &s->conf->sentinels[i];
    redisContext *c = redisConnectWithTimeout(sn->host, sn->port,
                                              sentinel_tv(s->conf->connect_timeout_ms));
    char buf[160];

    if (c == NULL) {
        pf_err_set(err, PF_ENOMEM, "out of memory");
        return NULL;
    }
    if (c->err) {
        pf_err_set(err, PF_EIO, "connect: %s", c->errstr);
        goto fail;
    }
    if (redisSetTimeout(c, sentinel_tv(s->conf->command_timeout_ms)) != REDIS_OK) {
        pf_err_set(err, PF_EIO, "set timeout: %s", c->errstr);
        goto fail;
    }
    if (s->conf->sentinel_password[0] != '\0') {
        int has_user = s->conf->sentinel_user[0] != '\0';
        const char *argv[3];
        int argc = 0;
        argv[argc++] = "AUTH";
        if (has_user)
            argv[argc++] = s->conf->sentinel_user;
        argv[argc++] = s->conf->sentinel_password;
        redisReply *r = redisCommandArgv(c, argc, argv, NULL);
        if (r == NULL) {
            pf_err_set(err, PF_EIO, "AUTH: %s", c->errstr);
            goto fail;
        }
        int is_ok = r->type == REDIS_REPLY_STATUS;
        if (!is_ok)
            pf_err_set(err, PF_EDENIED, "AUTH%s%s refused: %s (check redis.sentinel_%s)",
                       has_user ? " as user " : "", has_user ? s->conf->sentinel_user : "",
                       r->type == REDIS_REPLY_ERROR
                           ? sentinel_sanitize(buf, sizeof(buf), r->str, r->len)
                           : "unexpected reply",
                       has_user ? "user and sentinel_password" : "password");
        freeReplyObject(r);
        if (!is_ok)
            goto fail;
    }
    return c;

fail:
    redisFree(c);
    return NULL;
}

/* One get-master-addr-by-name exchange on <c>. */
static int sentinel_ask(struct sentinel *s, redisContext *c, char *host, size_t host_len,
                        uint16_t *port, struct pf_err *err)
{
    const char *argv[] = { "SENTINEL", "get-master-addr-by-name", s->conf->master_name };
    redisReply *r = redisCommandArgv(c, 3, argv, NULL);
    char buf[160];
    int rc = PF_EIO;

    if (r == NULL)
        return pf_err_set(err, PF_EIO, "%s", c->errstr);
    if (r->type == REDIS_REPLY_NIL) {
        pf_err_set(err, PF_ENOENT, "does not monitor a master named %s", s->conf->master_name);
    } else if (r->type == REDIS_REPLY_ERROR) {
        pf_err_set(err, PF_EIO, "%s", sentinel_sanitize(buf, sizeof(buf), r->str, r->len));
    } else if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
               r->element[0]->type != REDIS_REPLY_STRING ||
               r->element[1]->type != REDIS_REPLY_STRING) {
        pf_err_set(err, PF_EPROTO, "unexpected reply to get-master-addr-by-name");
    } else {
        rc = redis_proto_master_addr(r->element[0]->str, r->element[0]->len, r->element[1]->str,
                                     r->element[1]->len, host, host_len, port, err);
        if (rc != PF_OK)
            rc = PF_EPROTO;
    }
    freeReplyObject(r);
    return rc;
}

int sentinel_get_master(struct sentinel *s, char *host, size_t host_len, uint16_t *port,
                        struct pf_err *err)
{
    int n = s->conf->nsentinels;
    char name[UPSTREAM_HOST_MAX + 8];
    struct pf_err e;

    pf_err_set(err, PF_EIO, "no sentinel configured");
    for (int k = 0; k < n; k++) {
        int i = (s->first + k) % n;
        sentinel_name(s, i, name, sizeof(name));
        pf_err_clear(&e);
        redisContext *c = sentinel_open(s, i, &e);
        if (c != NULL) {
            int rc = sentinel_ask(s, c, host, host_len, port, &e);
            redisFree(c);
            if (rc == PF_OK) {
                s->first = i;
                s->stats.asks++;
                log_debug("sentinel %s: master %s is at %s:%u", name, s->conf->master_name, host,
                          (unsigned)*port);
                return PF_OK;
            }
        }
        s->stats.ask_failures++;
        log_debug("sentinel %s: %s", name, e.msg);
        pf_err_set(err, PF_EIO, "no sentinel named master %s (last, %s: %s)",
                   s->conf->master_name, name, e.msg);
    }
    return PF_EIO;
}

/* ---- the watch -------------------------------------------------------- */

static void sentinel_watch_close(struct sentinel *s)
{
    if (s->read_ev != NULL) {
        event_free(s->read_ev);
        s->read_ev = NULL;
    }
    if (s->watch != NULL) {
        redisFree(s->watch);
        s->watch = NULL;
    }
}

/* The watch failed: close it, move to the next sentinel, retry later. */
static void sentinel_watch_fail(struct sentinel *s, const char *fmt, ...) PF_PRINTF(2, 3);
static void sentinel_watch_fail(struct sentinel *s, const char *fmt, ...)
{
    char why[256];
    char name[UPSTREAM_HOST_MAX + 8];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(why, sizeof(why), fmt, ap);
    va_end(ap);
    sentinel_name(s, s->watch_idx, name, sizeof(name));
    sentinel_watch_close(s);
    int64_t delay_ms = backoff_delay_ms(&s->backoff, s->attempt, rng_os_u64());
    if (s->attempt < 32)
        s->attempt++;
    if (!s->is_down_logged)
        log_warn("sentinel %s: watch of +switch-master failed: %s; trying the next sentinel in "
                 "%lld ms", name, why, (long long)delay_ms);
    else
        log_debug("sentinel %s: watch of +switch-master failed: %s", name, why);
    s->is_down_logged = 1;
    s->watch_idx = (s->watch_idx + 1) % s->conf->nsentinels;
    struct timeval tv = { (time_t)(delay_ms / 1000), (suseconds_t)((delay_ms % 1000) * 1000) };
    evtimer_add(s->retry_ev, &tv);
}

/* One pushed reply on the watch. Returns PF_OK, or PF_EPROTO when it is
 * not what a subscribed connection gets. */
static int sentinel_watch_reply(struct sentinel *s, const redisReply *r)
{
    char host[UPSTREAM_HOST_MAX];
    char buf[160];
    uint16_t port = 0;
    struct pf_err err;

    if (r->type != REDIS_REPLY_ARRAY || r->elements != 3 ||
        r->element[0]->type != REDIS_REPLY_STRING)
        return PF_EPROTO;
    if (strcmp(r->element[0]->str, "message") != 0)
        return PF_OK;   /* e.g. a late subscribe confirmation */
    const redisReply *p = r->element[2];
    if (p->type != REDIS_REPLY_STRING)
        return PF_EPROTO;
    pf_err_clear(&err);
    int rc = redis_proto_switch_master(p->str, p->len, s->conf->master_name, host, sizeof(host),
                                       &port, &err);
    if (rc == PF_ENOENT)
        return PF_OK;
    if (rc != PF_OK) {
        log_warn("sentinel: ignored a malformed +switch-master notice: %s (%s)", err.msg,
                 sentinel_sanitize(buf, sizeof(buf), p->str, p->len));
        return PF_OK;
    }
    s->stats.switch_notices++;
    log_info("sentinel: +switch-master: master %s is now at %s:%u", s->conf->master_name, host,
             (unsigned)port);
    s->moved(host, port, s->arg);
    return PF_OK;
}

static void sentinel_on_readable(evutil_socket_t fd, short what, void *arg)
{
    struct sentinel *s = arg;
    void *reply = NULL;

    (void)fd;
    (void)what;
    if (redisBufferRead(s->watch) != REDIS_OK) {
        sentinel_watch_fail(s, "%s", s->watch->errstr[0] != '\0' ? s->watch->errstr
                                                                  : "connection lost");
        return;
    }
    for (;;) {
        if (redisGetReplyFromReader(s->watch, &reply) != REDIS_OK) {
            sentinel_watch_fail(s, "%s", s->watch->errstr);
            return;
        }
        if (reply == NULL)
            return;
        int rc = sentinel_watch_reply(s, reply);
        freeReplyObject(reply);
        if (rc != PF_OK) {
            sentinel_watch_fail(s, "unexpected message on the subscribed connection");
            return;
        }
    }
}

static void sentinel_on_retry(evutil_socket_t fd, short what, void *arg)
{
    struct sentinel *s = arg;
    char name[UPSTREAM_HOST_MAX + 8];
    char host[UPSTREAM_HOST_MAX];
    uint16_t port = 0;
    struct pf_err err;

    (void)fd;
    (void)what;
    pf_err_clear(&err);
    sentinel_name(s, s->watch_idx, name, sizeof(name));
    s->watch = sentinel_open(s, s->watch_idx, &err);
    if (s->watch == NULL) {
        sentinel_watch_fail(s, "%s", err.msg);
        return;
    }
    if (redisEnableKeepAlive(s->watch) != REDIS_OK)
        log_debug("sentinel %s: set keepalive on the watch failed, ignored", name);
    const char *argv[] = { "SUBSCRIBE", REDIS_PROTO_SWITCH_CHANNEL };
    redisReply *r = redisCommandArgv(s->watch, 2, argv, NULL);
    int is_ok = r != NULL && r->type == REDIS_REPLY_ARRAY && r->elements == 3 &&
                r->element[0]->type == REDIS_REPLY_STRING &&
                strcmp(r->element[0]->str, "subscribe") == 0;
    if (r != NULL)
        freeReplyObject(r);
    if (!is_ok) {
        sentinel_watch_fail(s, "SUBSCRIBE %s: %s", REDIS_PROTO_SWITCH_CHANNEL,
                            r == NULL ? s->watch->errstr : "refused");
        return;
    }
    s->read_ev = event_new(s->base, s->watch->fd, EV_READ | EV_PERSIST, sentinel_on_readable, s);
    if (s->read_ev == NULL || event_add(s->read_ev, NULL) != 0) {
        sentinel_watch_fail(s, "cannot watch the socket");
        return;
    }
    s->attempt = 0;
    s->is_down_logged = 0;
    log_info("sentinel %s: watching %s for master %s", name, REDIS_PROTO_SWITCH_CHANNEL,
             s->conf->master_name);
    /* Subscribed first, then asked: a switch cannot fall in between. */
    if (sentinel_get_master(s, host, sizeof(host), &port, &err) == PF_OK)
        s->moved(host, port, s->arg);
}

int sentinel_watch_start(struct sentinel *s, struct event_base *base, sentinel_moved_fn moved,
                         void *arg)
{
    struct timeval now = { 0, 0 };
    if (s->retry_ev != NULL)
        return PF_EINVAL;
    s->base = base;
    s->moved = moved;
    s->arg = arg;
    s->retry_ev = evtimer_new(base, sentinel_on_retry, s);
    if (s->retry_ev == NULL)
        return PF_ENOMEM;
    return evtimer_add(s->retry_ev, &now) == 0 ? PF_OK : PF_ENOMEM;
}

struct sentinel *sentinel_create(const struct conf_redis *conf)
{
    struct sentinel *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return NULL;
    s->conf = conf;
    s->backoff.base_ms = SENTINEL_BACKOFF_BASE_MS;
    s->backoff.cap_ms = SENTINEL_BACKOFF_CAP_MS;
    return s;
}

void sentinel_destroy(struct sentinel *s)
{
    if (s == NULL)
        return;
    sentinel_watch_close(s);
    if (s->retry_ev != NULL)
        event_free(s->retry_ev);
    free(s);
}

const struct sentinel_stats *sentinel_get_stats(const struct sentinel *s)
{
    return &s->stats;
}
