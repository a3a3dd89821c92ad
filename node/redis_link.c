/* The node's Redis session (see redis_link.h and docs/redis-keys.md).
 *
 * A "session" is a pair of hiredis async connections on the node's loop:
 * <sub> SUBSCRIBEs to the channel, <cmd> carries the users' commands. The
 * pair lives and dies together: when either breaks (error, EOF, AUTH
 * refused, connect or command deadline) both are dropped and, after a
 * backoff with full jitter, reconnected. TCP keepalive is set on both.
 *
 * hiredis 0.14.1 runs pending reply callbacks with a NULL reply when a
 * context goes away, and frees the context itself after its disconnect
 * callback. So every callback first checks that its context is still the
 * current one (<conn->ac>); teardown clears <conn->ac> before calling
 * redisAsyncFree(), which turns the NULL-reply replays into no-ops (they
 * only free the command's request record). Nothing is ever freed from
 * inside a hiredis callback: failures only mark the session DROPPING and
 * arm a zero-delay teardown event.
 *
 * State machine (changed only by link_set_state):
 *   IDLE --reconnect timer--> CONNECTING --both ready--> READY
 *   CONNECTING/READY --failure--> DROPPING --teardown--> IDLE
 *   any --redis_link_destroy--> CLOSED */
#include "redis_link.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include <event2/event.h>
#include <hiredis/adapters/libevent.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#include "backoff.h"
#include "log.h"
#include "redis_proto.h"
#include "rng.h"
#include "sentinel.h"

#define REDIS_LINK_BACKOFF_BASE_MS  100
#define REDIS_LINK_BACKOFF_CAP_MS   5000

enum link_state {
    LINK_ST_IDLE = 0,       /* no connection; reconnect timer armed */
    LINK_ST_CONNECTING,     /* connections opened, AUTH/SELECT/SUBSCRIBE pending */
    LINK_ST_READY,          /* both up, subscribed: users' commands allowed */
    LINK_ST_DROPPING,       /* failure seen; teardown event pending */
    LINK_ST_CLOSED,         /* redis_link_destroy() running */
};

static const char *const link_state_names[] = {
    "idle", "connecting", "ready", "dropping", "closed",
};

/* What a setup reply callback is for (its privdata). */
enum link_tag {
    LINK_TAG_SETUP = 0,     /* AUTH / SELECT during connect */
    LINK_TAG_ROLE,          /* behind Sentinel: must say master */
    LINK_TAG_PING,          /* last setup command: cmd connection ready */
    LINK_TAG_COUNT
};

/* One tag object per kind: hiredis wants a pointer as privdata. */
static const int link_tags[LINK_TAG_COUNT] = { 0, 1, 2 };

struct redis_conn {
    struct redis_link  *link;         /* borrowed: the owner */
    redisAsyncContext  *ac;           /* owned by hiredis; NULL when down */
    const char         *name;         /* "cmd" or "sub", for logs */
    int                 is_tcp_up;    /* connect callback said OK */
    int                 is_ready;     /* cmd: PING answered; sub: SUBSCRIBE confirmed */
};

/* A user's command in flight: hiredis's privdata, freed when hiredis runs
 * the callback (with the reply, or with NULL when the context goes). */
struct link_req {
    redis_link_reply_fn fn;           /* may be NULL */
    void               *arg;          /* borrowed from the user */
};

/* One channel and who hears it. */
struct link_listener {
    const char               *channel;     /* borrowed: SUBSCRIBEd */
    struct redis_link_events  ev;          /* callbacks (all NULL = none) */
};

struct redis_link {
    struct event_base        *base;        /* borrowed */
    const struct conf_redis  *conf;        /* borrowed */
    struct link_listener      listeners[REDIS_LINK_LISTENERS_MAX]; /* one per channel */
    size_t                    nlisteners;
    enum link_state           state;
    struct sentinel          *sentinel;    /* owned; NULL = plain redis.url */
    char                      host[UPSTREAM_HOST_MAX]; /* TCP target: url's, or the master
                                                          the sentinels named */
    uint16_t                  port;
    char                      addr[UPSTREAM_HOST_MAX + 16]; /* target for logs */
    int                       is_resolving;     /* CONNECTING: waiting for the sentinels */
    int                       is_reconnect_now; /* the master moved: no backoff this time */
    int                       is_auth_logged;   /* a refused AUTH was logged (once per outage) */
    int                       is_fail_quiet;    /* the next failure was logged already */
    struct redis_conn         cmd;         /* embedded */
    struct redis_conn         sub;         /* embedded */
    struct event             *reconnect_ev;/* owned: backoff timer (zero at start) */
    struct event             *teardown_ev; /* owned: zero-delay deferred free */
    struct event             *connect_ev;  /* owned: connect deadline */
    struct event             *command_ev;  /* owned: command deadline */
    struct backoff            backoff;
    unsigned                  attempt;     /* failed sessions since the last READY */
    struct rng                rng;         /* backoff jitter, seeded from the OS */
    unsigned                  outstanding; /* cmd replies still expected */
    uint64_t                  rx_mark;     /* cmd reader state when the deadline was armed */
    char                      drop_reason[320];
    struct redis_link_stats   stats;
};

static void link_fail(struct redis_link *link, struct redis_conn *c, const char *fmt, ...)
    PF_PRINTF(3, 4);

/* ---- small helpers ---------------------------------------------------- */

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

static int link_reply_is_str(const redisReply *r)
{
    return r != NULL && (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS) &&
           r->str != NULL;
}

/* ---- state and session lifecycle -------------------------------------- */

static void link_set_state(struct redis_link *link, enum link_state st)
{
    log_debug("redis: link %s -> %s", link_state_names[link->state], link_state_names[st]);
    link->state = st;
}

static void link_set_target(struct redis_link *link, const char *host, uint16_t port)
{
    snprintf(link->host, sizeof(link->host), "%s", host);
    link->port = port;
    snprintf(link->addr, sizeof(link->addr), strchr(host, ':') != NULL ? "[%s]:%u" : "%s:%u",
             host, (unsigned)port);
}

/* Arms the reconnect timer with the next backoff delay (none after the
 * master moved). */
static void link_schedule_reconnect(struct redis_link *link)
{
    if (link->is_reconnect_now) {
        link->is_reconnect_now = 0;
        link->attempt = 0;
        log_info("redis: reconnecting to master %s now", link->conf->master_name);
        link_timer_ms(link->reconnect_ev, 0);
        return;
    }
    int64_t delay_ms = backoff_delay_ms(&link->backoff, link->attempt, rng_next(&link->rng));
    link->attempt = link->attempt < 63 ? link->attempt + 1 : link->attempt;
    log_info("redis: reconnecting to %s in %" PRId64 " ms (attempt %u)",
             link->sentinel != NULL ? "the master the sentinels name" : link->addr, delay_ms,
             link->attempt);
    link_timer_ms(link->reconnect_ev, delay_ms);
}

/* Frees both contexts; must run outside hiredis callbacks. Pending reply
 * callbacks replay with NULL and find <conn->ac> cleared, so they only free
 * their request records. */
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
    link->outstanding = 0;
}

/* Records a failure of the session and defers the teardown to a zero-delay
 * event: this may run inside a hiredis callback. <c> is the connection
 * that failed, or NULL for the session. Logged once per session; a
 * listener of a session that was up hears of it first. */
static void link_fail(struct redis_link *link, struct redis_conn *c, const char *fmt, ...)
{
    if (link->state != LINK_ST_CONNECTING && link->state != LINK_ST_READY) {
        link->is_fail_quiet = 0;
        return;
    }
    char reason[288];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(reason, sizeof(reason), fmt, ap);
    va_end(ap);
    snprintf(link->drop_reason, sizeof(link->drop_reason), "%s%s%s",
             c != NULL ? c->name : "", c != NULL ? ": " : "", reason);
    enum link_state was = link->state;
    int is_quiet = link->is_fail_quiet;
    link->is_fail_quiet = 0;
    link->is_resolving = 0;
    link_set_state(link, LINK_ST_DROPPING);
    evtimer_del(link->connect_ev);
    evtimer_del(link->command_ev);
    link_timer_ms(link->teardown_ev, 0);
    if (was == LINK_ST_READY) {
        char note[160] = "";
        for (size_t i = 0; i < link->nlisteners; i++) {
            const struct redis_link_events *ev = &link->listeners[i].ev;
            size_t used = strlen(note);
            if (ev->on_down == NULL)
                continue;
            if (used > 0 && used + 2 < sizeof(note)) {
                memcpy(note + used, "; ", 3);
                used += 2;
            }
            ev->on_down(ev->arg, note + used, sizeof(note) - used);
        }
        log_warn("redis: disconnected from %s: %s%s%s", link->addr, link->drop_reason,
                 note[0] != '\0' ? "; " : "", note);
    } else if (is_quiet) {
        log_debug("redis: connect to %s failed: %s", link->addr, link->drop_reason);
    } else {
        log_warn("redis: connect to %s failed: %s", link->addr, link->drop_reason);
    }
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
static int link_cmd_argv(struct redis_link *link, redisCallbackFn *fn, void *privdata,
                         int argc, const char **argv, const size_t *argvlen)
{
    if (link->cmd.ac == NULL)
        return PF_EIO;
    if (redisAsyncCommandArgv(link->cmd.ac, fn, privdata, argc, argv, argvlen) != REDIS_OK) {
        link_fail(link, &link->cmd, "cannot queue command");
        return PF_EIO;
    }
    if (link->outstanding++ == 0)
        link_arm_command_deadline(link);
    return PF_OK;
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

/* ---- timers ----------------------------------------------------------- */

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
    link->is_auth_logged = 0;
    log_info("redis: connected to %s%s db %d, subscribed to %zu channel%s", link->addr,
             link->sentinel != NULL ? " (master)" : "", link->conf->db, link->nlisteners,
             link->nlisteners == 1 ? "" : "s");
    /* Subscribed first, now the listeners read: no message can fall in between. */
    for (size_t i = 0; i < link->nlisteners; i++)
        if (link->listeners[i].ev.on_ready != NULL)
            link->listeners[i].ev.on_ready(link->listeners[i].ev.arg);
}

/* An error reply <r> on <c> that ends the session: AUTH refused (logged
 * once per outage, at error, without the password) or, behind Sentinel,
 * READONLY (the master became a replica: ask again at once). Fails the
 * session and returns 1; returns 0 for any other reply. <what> names the
 * command in the log. */
static int link_fail_on_error(struct redis_link *link, struct redis_conn *c, const char *what,
                              const redisReply *r)
{
    char buf[160];
    if (r == NULL || r->type != REDIS_REPLY_ERROR)
        return 0;
    /* The error text comes from Redis and never holds the password. */
    redis_link_reply_describe((const struct redis_link_reply *)(const void *)r, buf, sizeof(buf));
    switch (redis_proto_error_class(r->str, r->len)) {
    case REDIS_PROTO_ERR_AUTH:
        if (!link->is_auth_logged)
            log_error("redis: %s: authentication refused (%s): %s; check the credentials in "
                      "redis.url (%s); retrying with backoff", link->addr, what, buf,
                      link->conf->user[0] != '\0' ? "AUTH <user> <password>"
                      : link->conf->password[0] != '\0' ? "AUTH <password>, no user"
                      : "none given");
        link->is_fail_quiet = 1;   /* the line above is the loud one */
        link->is_auth_logged = 1;
        link_fail(link, c, "%s refused: %s", what, buf);
        return 1;
    case REDIS_PROTO_ERR_READONLY:
        if (link->sentinel == NULL)
            return 0;
        link->is_reconnect_now = 1;
        link_fail(link, c, "%s: %s; the master moved, asking the sentinels again", what, buf);
        return 1;
    case REDIS_PROTO_ERR_OTHER:
        break;
    }
    return 0;
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
        if (!link_fail_on_error(link, c, "setup", r))
            link_fail(link, c, "setup refused: %s",
                      redis_link_reply_describe(reply, buf, sizeof(buf)));
        return;
    }
    if (privdata == &link_tags[LINK_TAG_ROLE]) {
        enum redis_proto_role role = REDIS_PROTO_ROLE_UNKNOWN;
        if (r->type == REDIS_REPLY_ARRAY && r->elements > 0 && link_reply_is_str(r->element[0]))
            role = redis_proto_role(r->element[0]->str, r->element[0]->len);
        if (role != REDIS_PROTO_ROLE_MASTER)
            link_fail(link, c, "ROLE: it is a %s, not the master; asking the sentinels again",
                      redis_proto_role_name(role));
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
        if (!link_fail_on_error(link, c, "SUBSCRIBE", r))
            link_fail(link, c, "subscribe refused: %s",
                      redis_link_reply_describe(reply, buf, sizeof(buf)));
        return;
    }
    if (r->type != REDIS_REPLY_ARRAY || r->elements < 3 || !link_reply_is_str(r->element[0]))
        return;
    const char *kind = r->element[0]->str;
    if (strcmp(kind, "subscribe") == 0) {
        /* one confirmation per channel; the third element counts them */
        if (r->element[2]->type == REDIS_REPLY_INTEGER &&
            r->element[2]->integer >= (long long)link->nlisteners) {
            c->is_ready = 1;
            link_maybe_ready(link);
        }
        return;
    }
    if (strcmp(kind, "unsubscribe") == 0) {
        link_fail(link, c, "unsubscribed by the server");
        return;
    }
    if (strcmp(kind, "message") != 0 || !link_reply_is_str(r->element[1]))
        return;
    const struct link_listener *l = NULL;
    for (size_t i = 0; i < link->nlisteners && l == NULL; i++)
        if (strcmp(link->listeners[i].channel, r->element[1]->str) == 0)
            l = &link->listeners[i];
    if (l == NULL || l->ev.on_message == NULL)
        return;
    const redisReply *p = r->element[2];
    int is_str = p != NULL && p->type == REDIS_REPLY_STRING && p->str != NULL;
    l->ev.on_message(is_str ? p->str : NULL, is_str ? p->len : 0, l->ev.arg);
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
    /* Not on a unix socket: hiredis 0.14 would mark the context failed. */
    if (link->conf->unix_path[0] == '\0' &&
        redisEnableKeepAlive((redisContext *)&ac->c) != REDIS_OK)
        log_debug("redis: set keepalive on %s connection failed, ignored", c->name);
    log_debug("redis: %s connection to %s established", c->name, link->addr);
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
    redisAsyncContext *ac = link->conf->unix_path[0] != '\0'
                            ? redisAsyncConnectUnix(link->conf->unix_path)
                            : redisAsyncConnect(link->host, link->port);
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

    void *setup = (void *)&link_tags[LINK_TAG_SETUP];
    int rc = REDIS_OK;
    if (link->conf->password[0] != '\0' && rc == REDIS_OK) {
        /* AUTH <password>, or AUTH <user> <password> for an ACL user. */
        const char *argv[3];
        int argc = 0;
        argv[argc++] = "AUTH";
        if (link->conf->user[0] != '\0')
            argv[argc++] = link->conf->user;
        argv[argc++] = link->conf->password;
        if (c == &link->cmd)
            rc = link_cmd_argv(link, link_on_setup, setup, argc, argv, NULL) == PF_OK
                     ? REDIS_OK : REDIS_ERR;
        else
            rc = redisAsyncCommandArgv(ac, link_on_setup, setup, argc, argv, NULL);
    }
    if (c == &link->cmd && link->sentinel != NULL && rc == REDIS_OK) {
        const char *role[] = { "ROLE" };
        rc = link_cmd_argv(link, link_on_setup, (void *)&link_tags[LINK_TAG_ROLE], 1, role,
                           NULL) == PF_OK ? REDIS_OK : REDIS_ERR;
    }
    if (c == &link->cmd) {
        char db[16];
        snprintf(db, sizeof(db), "%d", link->conf->db);
        const char *sel[] = { "SELECT", db };
        const char *ping[] = { "PING" };
        if (rc == REDIS_OK && link->conf->db != 0)
            rc = link_cmd_argv(link, link_on_setup, setup, 2, sel, NULL) == PF_OK
                     ? REDIS_OK : REDIS_ERR;
        if (rc == REDIS_OK)
            rc = link_cmd_argv(link, link_on_setup, (void *)&link_tags[LINK_TAG_PING], 1, ping,
                               NULL) == PF_OK ? REDIS_OK : REDIS_ERR;
    } else if (rc == REDIS_OK) {
        const char *argv[1 + REDIS_LINK_LISTENERS_MAX] = { "SUBSCRIBE" };
        for (size_t i = 0; i < link->nlisteners; i++)
            argv[1 + i] = link->listeners[i].channel;
        rc = link->nlisteners == 0 ? REDIS_ERR
             : redisAsyncCommandArgv(ac, link_on_message, NULL, 1 + (int)link->nlisteners, argv,
                                     NULL);
    }
    if (rc != REDIS_OK) {
        link_fail(link, c, "cannot queue setup commands");
        return PF_EIO;
    }
    return PF_OK;
}

/* Opens both connections to the target, under the connect deadline. */
static void link_open_both(struct redis_link *link)
{
    log_debug("redis: connecting to %s", link->addr);
    link_timer_ms(link->connect_ev, link->conf->connect_timeout_ms);
    /* Subscriber first; its confirmation gates the listener's first read. */
    if (link_open(link, &link->sub) != PF_OK)
        return;
    (void)link_open(link, &link->cmd);
}

static void link_on_reconnect(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct redis_link *link = arg;
    if (link->state != LINK_ST_IDLE)
        return;
    link_set_state(link, LINK_ST_CONNECTING);
    link->outstanding = 0;
    if (link->sentinel != NULL) {
        /* Each session asks where the master is; the sentinel's own
         * deadlines bound the question. */
        link->is_resolving = 1;
        sentinel_ask(link->sentinel);
        return;
    }
    link_open_both(link);
}

/* ---- Sentinel --------------------------------------------------------- */

static void link_on_sentinel_master(const char *host, uint16_t port, void *arg)
{
    struct redis_link *link = arg;
    if (link->state != LINK_ST_CONNECTING || !link->is_resolving)
        return;
    link->is_resolving = 0;
    if (link->port != port || strcmp(link->host, host) != 0) {
        if (link->host[0] != '\0')
            link->stats.master_moves++;
        link_set_target(link, host, port);
        log_info("redis: the sentinels name %s as master %s", link->addr,
                 link->conf->master_name);
    }
    link_open_both(link);
}

static void link_on_sentinel_failed(const char *why, void *arg)
{
    struct redis_link *link = arg;
    if (link->state != LINK_ST_CONNECTING || !link->is_resolving)
        return;
    link_fail(link, NULL, "%s", why);
}

/* The sentinels name <host>:<port> as the master (a +switch-master notice,
 * or the watch's check): a session elsewhere ends and the next starts at
 * once. May run inside the watch's hiredis callback: only marks and arms. */
static void link_on_sentinel_moved(const char *host, uint16_t port, void *arg)
{
    struct redis_link *link = arg;
    /* Before the first answer there is nothing to move from. */
    if (link->host[0] == '\0' || (link->port == port && strcmp(link->host, host) == 0))
        return;
    if (link->state == LINK_ST_CONNECTING && link->is_resolving)
        return;     /* the answer to the pending question will tell */
    log_info("redis: the sentinels moved master %s from %s to %s%s%s:%u", link->conf->master_name,
             link->addr, strchr(host, ':') != NULL ? "[" : "", host,
             strchr(host, ':') != NULL ? "]" : "", (unsigned)port);
    switch (link->state) {
    case LINK_ST_CONNECTING:
    case LINK_ST_READY:
        link->is_reconnect_now = 1;
        link_fail(link, NULL, "the master moved");
        break;
    case LINK_ST_DROPPING:
        link->is_reconnect_now = 1;
        break;
    case LINK_ST_IDLE:
        link->attempt = 0;
        link_timer_ms(link->reconnect_ev, 0);
        break;
    case LINK_ST_CLOSED:
        break;
    }
}

/* ---- users' commands -------------------------------------------------- */

static void link_on_reply(redisAsyncContext *ac, void *reply, void *privdata)
{
    struct link_req *req = privdata;
    struct redis_link *link = link_cmd_reply(ac, reply);
    /* A refused AUTH (the password changed under us) or, behind Sentinel,
     * READONLY ends the session: the reply is not delivered. */
    if (link != NULL && link->state == LINK_ST_READY)
        (void)link_fail_on_error(link, &link->cmd, "command", reply);
    /* Users' commands are sent when READY only; a reply that arrives while
     * the session is failing is dropped with the session. */
    if (link != NULL && link->state == LINK_ST_READY && req->fn != NULL)
        req->fn(reply, req->arg);
    free(req);
}

int redis_link_command(struct redis_link *link, redis_link_reply_fn fn, void *arg, int argc,
                       const char **argv, const size_t *argvlen)
{
    if (link == NULL || link->state != LINK_ST_READY)
        return PF_EAGAIN;
    struct link_req *req = malloc(sizeof(*req));
    if (req == NULL) {
        /* Never leave a sequence (MULTI ... EXEC) half-sent on a live
         * connection: a command that cannot be sent ends the session. */
        link_fail(link, &link->cmd, "out of memory");
        return PF_EIO;
    }
    req->fn = fn;
    req->arg = arg;
    /* hiredis formats (copies) the arguments before returning. */
    if (link_cmd_argv(link, link_on_reply, req, argc, argv, argvlen) != PF_OK) {
        free(req);
        return PF_EIO;
    }
    return PF_OK;
}

/* ---- public API ------------------------------------------------------- */

struct redis_link *redis_link_create(struct event_base *base, const struct conf_redis *conf,
                                     struct pf_err *err)
{
    struct redis_link *link = calloc(1, sizeof(*link));
    if (link == NULL)
        goto fail;
    link->base = base;
    link->conf = conf;
    link->state = LINK_ST_IDLE;
    link->cmd.link = link;
    link->cmd.name = "cmd";
    link->sub.link = link;
    link->sub.name = "sub";
    if (conf->unix_path[0] != '\0') {
        snprintf(link->addr, sizeof(link->addr), "unix:%s", conf->unix_path);
    } else if (conf->nsentinels > 0) {
        snprintf(link->addr, sizeof(link->addr), "master %s", conf->master_name);
    } else {
        link_set_target(link, conf->host, conf->port);
    }
    link->backoff.base_ms = REDIS_LINK_BACKOFF_BASE_MS;
    link->backoff.cap_ms = REDIS_LINK_BACKOFF_CAP_MS;
    rng_seed_os(&link->rng);
    link->reconnect_ev = evtimer_new(base, link_on_reconnect, link);
    link->teardown_ev = evtimer_new(base, link_on_teardown, link);
    link->connect_ev = evtimer_new(base, link_on_connect_deadline, link);
    link->command_ev = evtimer_new(base, link_on_command_deadline, link);
    if (link->reconnect_ev == NULL || link->teardown_ev == NULL || link->connect_ev == NULL ||
        link->command_ev == NULL)
        goto fail;
    if (conf->nsentinels > 0) {
        const struct sentinel_events sev = {
            .on_master = link_on_sentinel_master,
            .on_failed = link_on_sentinel_failed,
            .on_moved = link_on_sentinel_moved,
            .arg = link,
        };
        link->sentinel = sentinel_create(base, conf, &sev, err);
        if (link->sentinel == NULL) {
            redis_link_destroy(link);
            return NULL;
        }
    }
    /* Connect from the loop, so create returns at once. */
    link_timer_ms(link->reconnect_ev, 0);
    return link;

fail:
    redis_link_destroy(link);
    pf_err_set(err, PF_ENOMEM, "redis link: out of memory");
    return NULL;
}

int redis_link_listen(struct redis_link *link, const char *channel,
                      const struct redis_link_events *ev)
{
    for (size_t i = 0; i < link->nlisteners; i++)
        if (strcmp(link->listeners[i].channel, channel) == 0) {
            link->listeners[i].ev = *ev;
            return PF_OK;
        }
    if (link->nlisteners == REDIS_LINK_LISTENERS_MAX)
        return PF_ERANGE;
    link->listeners[link->nlisteners].channel = channel;
    link->listeners[link->nlisteners].ev = *ev;
    link->nlisteners++;
    return PF_OK;
}

void redis_link_destroy(struct redis_link *link)
{
    if (link == NULL)
        return;
    link_set_state(link, LINK_ST_CLOSED);
    link_close_conns(link);
    sentinel_destroy(link->sentinel);
    struct event *evs[] = { link->reconnect_ev, link->teardown_ev, link->connect_ev,
                            link->command_ev };
    for (size_t i = 0; i < PF_ARRAY_LEN(evs); i++)
        if (evs[i] != NULL)
            event_free(evs[i]);
    free(link);
}

int redis_link_is_connected(const struct redis_link *link)
{
    return link != NULL && link->state == LINK_ST_READY;
}

const struct redis_link_stats *redis_link_get_stats(const struct redis_link *link)
{
    return &link->stats;
}

const char *redis_link_target(const struct redis_link *link)
{
    return link->addr;
}

/* ---- reply view ------------------------------------------------------- */

/* The view is hiredis's own reply object, seen through an opaque type. */
static const redisReply *link_view(const struct redis_link_reply *r)
{
    return (const redisReply *)(const void *)r;
}

enum redis_link_reply_type redis_link_reply_type(const struct redis_link_reply *r)
{
    const redisReply *x = link_view(r);
    if (x == NULL)
        return REDIS_LINK_REPLY_NIL;
    switch (x->type) {
    case REDIS_REPLY_STRING:  return REDIS_LINK_REPLY_STRING;
    case REDIS_REPLY_STATUS:  return REDIS_LINK_REPLY_STATUS;
    case REDIS_REPLY_INTEGER: return REDIS_LINK_REPLY_INTEGER;
    case REDIS_REPLY_NIL:     return REDIS_LINK_REPLY_NIL;
    case REDIS_REPLY_ARRAY:   return REDIS_LINK_REPLY_ARRAY;
    case REDIS_REPLY_ERROR:   return REDIS_LINK_REPLY_ERROR;
    }
    return REDIS_LINK_REPLY_OTHER;
}

const char *redis_link_reply_str(const struct redis_link_reply *r, size_t *len)
{
    const redisReply *x = link_view(r);
    if (x == NULL || x->str == NULL || (x->type != REDIS_REPLY_STRING &&
                                        x->type != REDIS_REPLY_STATUS &&
                                        x->type != REDIS_REPLY_ERROR)) {
        *len = 0;
        return NULL;
    }
    *len = x->len;
    return x->str;
}

long long redis_link_reply_integer(const struct redis_link_reply *r)
{
    const redisReply *x = link_view(r);
    return x != NULL && x->type == REDIS_REPLY_INTEGER ? x->integer : 0;
}

size_t redis_link_reply_count(const struct redis_link_reply *r)
{
    const redisReply *x = link_view(r);
    return x != NULL && x->type == REDIS_REPLY_ARRAY && x->element != NULL ? x->elements : 0;
}

const struct redis_link_reply *redis_link_reply_element(const struct redis_link_reply *r,
                                                        size_t i)
{
    if (i >= redis_link_reply_count(r))
        return NULL;
    return (const struct redis_link_reply *)(const void *)link_view(r)->element[i];
}

struct redis_link_reply *redis_link_reply_detach(struct redis_link_reply *r, size_t i)
{
    if (i >= redis_link_reply_count(r))
        return NULL;
    redisReply *x = (redisReply *)(void *)r;
    redisReply *e = x->element[i];
    /* freeReplyObject() skips NULL elements: the array's owner no longer
     * frees this one. */
    x->element[i] = NULL;
    return (struct redis_link_reply *)(void *)e;
}

void redis_link_reply_free(struct redis_link_reply *r)
{
    if (r != NULL)
        freeReplyObject(r);
}

const char *redis_link_reply_describe(const struct redis_link_reply *r, char *buf, size_t len)
{
    const redisReply *x = link_view(r);
    if (x != NULL && x->type == REDIS_REPLY_ERROR && x->str != NULL)
        return link_sanitize(buf, len, x->str, x->len);
    snprintf(buf, len, "unexpected reply type %d", x != NULL ? x->type : REDIS_REPLY_NIL);
    return buf;
}
