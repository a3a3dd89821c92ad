/* The blocking Redis connection; see redis.h. */
#include "redis.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include "backoff.h"
#include "clock.h"
#include "log.h"
#include "redis_proto.h"
#include "rng.h"
#include "sentinel.h"

#define REDIS_BACKOFF_BASE_MS 200
#define REDIS_BACKOFF_CAP_MS  10000

struct redis {
    const struct conf_redis *conf;        /* borrowed from the binary's config */
    struct sentinel    *sentinel;         /* borrowed; NULL = plain redis.url */
    char                host[UPSTREAM_HOST_MAX]; /* TCP target: url's, or the master the sentinels named */
    uint16_t            port;
    char                addr[UPSTREAM_HOST_MAX + 16]; /* target for logs: host:port or unix:path */
    redisContext       *rc;               /* owned; NULL while disconnected */
    struct backoff      backoff;          /* reconnect delays */
    unsigned            attempt;          /* failed connects in a row */
    int64_t             next_connect_at_ms;/* monotonic; no attempt before */
    int                 is_down_logged;   /* the outage was logged at warn */
    int                 is_auth_logged;   /* a refused AUTH was logged (once per outage) */
    uint64_t            connection;       /* +1 per successful connect (scripts' cache) */
    uint64_t            ndrops;           /* connections dropped on an error */
    uint64_t            nmoves;           /* master changes followed (Sentinel) */
    char                last_error[192];  /* why the last connect or command failed, "" = none */
};

/* Printable copy of untrusted <s>/<len> (server text) for a log line. */
static const char *redis_sanitize(char *buf, size_t len, const char *s, size_t slen)
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

static void redis_set_target(struct redis *r, const char *host, uint16_t port)
{
    snprintf(r->host, sizeof(r->host), "%s", host);
    r->port = port;
    snprintf(r->addr, sizeof(r->addr), strchr(host, ':') != NULL ? "[%s]:%u" : "%s:%u", host,
             (unsigned)port);
}

struct redis *redis_create(const struct conf_redis *conf, struct sentinel *sentinel)
{
    struct redis *r = calloc(1, sizeof(*r));
    if (r == NULL)
        return NULL;
    r->conf = conf;
    r->sentinel = sentinel;
    r->backoff.base_ms = REDIS_BACKOFF_BASE_MS;
    r->backoff.cap_ms = REDIS_BACKOFF_CAP_MS;
    if (conf->unix_path[0] != '\0')
        snprintf(r->addr, sizeof(r->addr), "unix:%s", conf->unix_path);
    else if (sentinel != NULL)
        snprintf(r->addr, sizeof(r->addr), "master %s", conf->master_name);
    else
        redis_set_target(r, conf->host, conf->port);
    return r;
}

void redis_destroy(struct redis *r)
{
    if (r == NULL)
        return;
    if (r->rc != NULL)
        redisFree(r->rc);
    free(r);
}

/* Drops the connection after <what> failed because of <why> (NULL: the
 * context's error); the next connect waits a backoff. */
static int redis_drop_why(struct redis *r, const char *what, const char *why, int64_t now_mono_ms)
{
    if (why == NULL)
        why = (r->rc != NULL && r->rc->err) ? r->rc->errstr : "error";
    snprintf(r->last_error, sizeof(r->last_error), "%s: %s", what, why);
    if (!r->is_down_logged)
        log_warn("redis %s: %s failed: %s; retrying with backoff", r->addr, what, why);
    else
        log_debug("redis %s: %s failed: %s", r->addr, what, why);
    r->is_down_logged = 1;
    r->ndrops++;
    if (r->rc != NULL) {
        redisFree(r->rc);
        r->rc = NULL;
    }
    r->next_connect_at_ms = now_mono_ms +
        backoff_delay_ms(&r->backoff, r->attempt, rng_os_u64());
    if (r->attempt < 32)
        r->attempt++;
    return PF_EIO;
}

/* Drops the connection after an error <what>; the next connect waits. */
static int redis_drop(struct redis *r, const char *what, int64_t now_mono_ms)
{
    return redis_drop_why(r, what, NULL, now_mono_ms);
}

int redis_fail(struct redis *r, const char *what)
{
    return redis_drop(r, what, clock_mono_ms());
}

/* An error reply <x> that ends the connection's use: AUTH refused (logged
 * once per outage, at error, without the password) or, behind Sentinel,
 * READONLY (the master became a replica: ask the sentinels again now).
 * Drops the connection and returns 1; returns 0 for any other reply. */
static int redis_drop_on_error(struct redis *r, const char *what, const redisReply *x,
                               int64_t now_mono_ms)
{
    char buf[160];
    if (x == NULL || x->type != REDIS_REPLY_ERROR)
        return 0;
    enum redis_proto_error cls = redis_proto_error_class(x->str, x->len);
    redis_sanitize(buf, sizeof(buf), x->str, x->len);
    if (cls == REDIS_PROTO_ERR_AUTH) {
        if (!r->is_auth_logged)
            log_error("redis %s: %s: authentication refused: %s; check the credentials in "
                      "redis.url (%s); retrying with backoff", r->addr, what, buf,
                      r->conf->user[0] != '\0' ? "AUTH <user> <password>"
                      : r->conf->password[0] != '\0' ? "AUTH <password>, no user"
                      : "none given");
        r->is_auth_logged = 1;
        r->is_down_logged = 1;
        redis_drop_why(r, what, buf, now_mono_ms);
        return 1;
    }
    if (cls == REDIS_PROTO_ERR_READONLY && r->sentinel != NULL) {
        log_warn("redis %s: %s: %s; the master moved, asking the sentinels again", r->addr,
                 what, buf);
        r->is_down_logged = 1;
        redis_drop_why(r, what, "READONLY", now_mono_ms);
        r->next_connect_at_ms = now_mono_ms;
        r->attempt = 0;
        return 1;
    }
    return 0;
}

int redis_is_connected(const struct redis *r)
{
    return r->rc != NULL;
}

int64_t redis_retry_in_ms(const struct redis *r, int64_t now_mono_ms)
{
    if (r->rc != NULL || r->next_connect_at_ms <= now_mono_ms)
        return 0;
    return r->next_connect_at_ms - now_mono_ms;
}

uint64_t redis_drops(const struct redis *r)
{
    return r->ndrops;
}

uint64_t redis_master_moves(const struct redis *r)
{
    return r->nmoves;
}

const char *redis_target(const struct redis *r)
{
    return r->addr;
}

int redis_master_moved(struct redis *r, const char *host, uint16_t port)
{
    /* Before the first connect there is nothing to move from. */
    if (r->sentinel == NULL || r->host[0] == '\0' ||
        (r->port == port && strcmp(r->host, host) == 0))
        return 0;
    log_info("redis %s: the sentinels name %s%s%s:%u as master %s now; reconnecting", r->addr,
             strchr(host, ':') != NULL ? "[" : "", host, strchr(host, ':') != NULL ? "]" : "",
             (unsigned)port, r->conf->master_name);
    if (r->rc != NULL) {
        redisFree(r->rc);
        r->rc = NULL;
    }
    r->attempt = 0;
    r->next_connect_at_ms = 0;
    return 1;
}

/* One setup command on a fresh connection: PF_OK when answered with a
 * status (+OK), else the connection is dropped. */
static int redis_setup_cmd(struct redis *r, const char *what, int argc, const char **argv,
                           int64_t now_mono_ms)
{
    redisReply *x = redisCommandArgv(r->rc, argc, argv, NULL);
    char buf[160];
    if (x == NULL)
        return redis_drop(r, what, now_mono_ms);
    int is_ok = x->type == REDIS_REPLY_STATUS;
    if (!is_ok && !redis_drop_on_error(r, what, x, now_mono_ms))
        redis_drop_why(r, what, x->type == REDIS_REPLY_ERROR
                       ? redis_sanitize(buf, sizeof(buf), x->str, x->len) : "unexpected reply",
                       now_mono_ms);
    freeReplyObject(x);
    return is_ok ? PF_OK : PF_EIO;
}

/* Behind Sentinel: ROLE must say master (a replica means the sentinels'
 * answer is stale: ask again after the backoff). */
static int redis_check_role(struct redis *r, int64_t now_mono_ms)
{
    const char *argv[] = { "ROLE" };
    char why[160];
    redisReply *x = redisCommandArgv(r->rc, 1, argv, NULL);
    if (x == NULL)
        return redis_drop(r, "ROLE", now_mono_ms);
    if (redis_drop_on_error(r, "ROLE", x, now_mono_ms)) {
        freeReplyObject(x);
        return PF_EIO;
    }
    enum redis_proto_role role = REDIS_PROTO_ROLE_UNKNOWN;
    if (x->type == REDIS_REPLY_ARRAY && x->elements > 0 &&
        x->element[0]->type == REDIS_REPLY_STRING)
        role = redis_proto_role(x->element[0]->str, x->element[0]->len);
    freeReplyObject(x);
    if (role == REDIS_PROTO_ROLE_MASTER)
        return PF_OK;
    snprintf(why, sizeof(why), "it is a %s, not the master; asking the sentinels again",
             redis_proto_role_name(role));
    return redis_drop_why(r, "ROLE", why, now_mono_ms);
}

/* AUTH, ROLE (behind Sentinel), SELECT and PING on a fresh connection. */
static int redis_setup(struct redis *r, int64_t now_mono_ms)
{
    if (r->conf->password[0] != '\0') {
        const char *argv[3];
        int argc = 0;
        argv[argc++] = "AUTH";
        if (r->conf->user[0] != '\0')
            argv[argc++] = r->conf->user;
        argv[argc++] = r->conf->password;
        if (redis_setup_cmd(r, "AUTH", argc, argv, now_mono_ms) != PF_OK)
            return PF_EIO;
    }
    if (r->sentinel != NULL && redis_check_role(r, now_mono_ms) != PF_OK)
        return PF_EIO;
    if (r->conf->db != 0) {
        char db[16];
        snprintf(db, sizeof(db), "%d", r->conf->db);
        const char *argv[] = { "SELECT", db };
        if (redis_setup_cmd(r, "SELECT", 2, argv, now_mono_ms) != PF_OK)
            return PF_EIO;
    }
    /* Without a password, NOAUTH shows here, at connect, not later. */
    const char *ping[] = { "PING" };
    return redis_setup_cmd(r, "PING", 1, ping, now_mono_ms);
}

int redis_connect(struct redis *r, int64_t now_mono_ms)
{
    if (r->rc != NULL)
        return PF_OK;
    if (now_mono_ms < r->next_connect_at_ms)
        return PF_EAGAIN;
    struct timeval ctv = { r->conf->connect_timeout_ms / 1000,
                           (r->conf->connect_timeout_ms % 1000) * 1000 };
    struct timeval ctv_cmd = { r->conf->command_timeout_ms / 1000,
                               (r->conf->command_timeout_ms % 1000) * 1000 };
    if (r->sentinel != NULL) {
        char host[UPSTREAM_HOST_MAX];
        uint16_t port = 0;
        struct pf_err err;
        pf_err_clear(&err);
        if (sentinel_get_master(r->sentinel, host, sizeof(host), &port, &err) != PF_OK)
            return redis_drop_why(r, "asking the sentinels", err.msg, now_mono_ms);
        if (r->port != port || strcmp(r->host, host) != 0) {
            if (r->host[0] != '\0')
                r->nmoves++;
            log_info("redis: the sentinels name %s%s%s:%u as master %s", strchr(host, ':') ? "["
                     : "", host, strchr(host, ':') ? "]" : "", (unsigned)port,
                     r->conf->master_name);
            redis_set_target(r, host, port);
        }
    }
    if (r->conf->unix_path[0] != '\0')
        r->rc = redisConnectUnixWithTimeout(r->conf->unix_path, ctv);
    else
        r->rc = redisConnectWithTimeout(r->host, r->port, ctv);
    if (r->rc == NULL || r->rc->err)
        return redis_drop(r, "connect", now_mono_ms);
    if (redisSetTimeout(r->rc, ctv_cmd) != REDIS_OK)
        return redis_drop(r, "set timeout", now_mono_ms);
    if (redis_setup(r, now_mono_ms) != PF_OK)
        return PF_EIO;
    log_info("redis %s: connected%s", r->addr, r->sentinel != NULL ? " (master)" : "");
    r->last_error[0] = '\0';
    r->attempt = 0;
    r->is_down_logged = 0;
    r->is_auth_logged = 0;
    r->connection++;
    return PF_OK;
}

struct redis_reply *redis_command(struct redis *r, const char *what, int argc,
                                  const char **argv, const size_t *argvlen)
{
    if (r->rc == NULL)
        return NULL;
    redisReply *x = redisCommandArgv(r->rc, argc, argv, argvlen);
    if (x == NULL) {
        redis_drop(r, what, clock_mono_ms());
    } else if (redis_drop_on_error(r, what, x, clock_mono_ms())) {
        freeReplyObject(x);
        x = NULL;
    }
    return (struct redis_reply *)(void *)x;
}

int redis_pipeline(struct redis *r, const char *what, size_t n, const struct redis_cmd *cmds,
                   struct redis_reply **replies)
{
    size_t got = 0;

    for (size_t i = 0; i < n; i++)
        replies[i] = NULL;
    if (r->rc == NULL)
        return PF_EIO;
    for (size_t i = 0; i < n; i++) {
        if (redisAppendCommandArgv(r->rc, cmds[i].argc, (const char **)cmds[i].argv,
                                   cmds[i].argvlen) != REDIS_OK)
            goto fail;
    }
    for (; got < n; got++) {
        void *x = NULL;
        if (redisGetReply(r->rc, &x) != REDIS_OK || x == NULL)
            goto fail;
        replies[got] = x;
        if (redis_drop_on_error(r, what, x, clock_mono_ms())) {
            got++;
            goto dropped;
        }
    }
    return PF_OK;

fail:
    redis_drop(r, what, clock_mono_ms());
dropped:
    for (size_t i = 0; i < got; i++) {
        redis_reply_free(replies[i]);
        replies[i] = NULL;
    }
    return PF_EIO;
}

const char *redis_last_error(const struct redis *r)
{
    return r->last_error;
}

/* Loads <s> on this connection once (its SHA1 makes later calls small).
 * Returns PF_OK (<s->sha> may stay "": EVAL then) or PF_EIO (dropped). */
static int redis_script_load(struct redis *r, struct redis_script *s)
{
    if (s->connection == r->connection)
        return PF_OK;
    const char *argv[] = { "SCRIPT", "LOAD", s->text };
    const size_t argvlen[] = { 6, 4, s->len };
    redisReply *x = redisCommandArgv(r->rc, 3, argv, argvlen);
    if (x == NULL)
        return redis_drop(r, "SCRIPT LOAD", clock_mono_ms());
    if (x->type == REDIS_REPLY_STRING && x->len == 40)
        memcpy(s->sha, x->str, 41);
    else
        s->sha[0] = '\0';  /* EVAL still works */
    freeReplyObject(x);
    s->connection = r->connection;
    return PF_OK;
}

struct redis_reply *redis_eval(struct redis *r, struct redis_script *s, const char *what,
                               int nargs, const char **args, const size_t *argslen)
{
    const char **argv = NULL;
    size_t *argvlen = NULL;
    redisReply *x = NULL;

    if (r->rc == NULL || redis_script_load(r, s) != PF_OK)
        return NULL;
    argv = calloc((size_t)nargs + 2, sizeof(*argv));
    argvlen = calloc((size_t)nargs + 2, sizeof(*argvlen));
    if (argv == NULL || argvlen == NULL) {
        /* As an I/O error: the caller retries after the reconnect backoff. */
        log_error("redis: %s: out of memory", what);
        redis_drop(r, what, clock_mono_ms());
        goto out;
    }
    for (int i = 0; i < nargs; i++) {
        argv[2 + i] = args[i];
        argvlen[2 + i] = argslen != NULL ? argslen[i] : strlen(args[i]);
    }
    if (s->sha[0] != '\0') {
        argv[0] = "EVALSHA";
        argv[1] = s->sha;
        argvlen[0] = 7;
        argvlen[1] = strlen(s->sha);
        x = redisCommandArgv(r->rc, nargs + 2, argv, argvlen);
        if (x == NULL) {
            redis_drop(r, what, clock_mono_ms());
            goto out;
        }
        if (x->type == REDIS_REPLY_ERROR && strncmp(x->str, "NOSCRIPT", 8) == 0) {
            freeReplyObject(x);
            x = NULL;
        }
    }
    if (x == NULL) {
        argv[0] = "EVAL";
        argv[1] = s->text;
        argvlen[0] = 4;
        argvlen[1] = s->len;
        x = redisCommandArgv(r->rc, nargs + 2, argv, argvlen);
        if (x == NULL)
            redis_drop(r, what, clock_mono_ms());
    }
    if (x != NULL && redis_drop_on_error(r, what, x, clock_mono_ms())) {
        freeReplyObject(x);
        x = NULL;
    }

out:
    free(argv);
    free(argvlen);
    return (struct redis_reply *)(void *)x;
}

/* ---- reply view ------------------------------------------------------- */

/* The view is hiredis's own reply object, seen through an opaque type. */
static const redisReply *redis_view(const struct redis_reply *r)
{
    return (const redisReply *)(const void *)r;
}

enum redis_reply_type redis_reply_type(const struct redis_reply *r)
{
    const redisReply *x = redis_view(r);
    if (x == NULL)
        return REDIS_TYPE_NIL;
    switch (x->type) {
    case REDIS_REPLY_STRING:  return REDIS_TYPE_STRING;
    case REDIS_REPLY_STATUS:  return REDIS_TYPE_STATUS;
    case REDIS_REPLY_INTEGER: return REDIS_TYPE_INTEGER;
    case REDIS_REPLY_NIL:     return REDIS_TYPE_NIL;
    case REDIS_REPLY_ARRAY:   return REDIS_TYPE_ARRAY;
    case REDIS_REPLY_ERROR:   return REDIS_TYPE_ERROR;
    }
    return REDIS_TYPE_OTHER;
}

const char *redis_reply_str(const struct redis_reply *r, size_t *len)
{
    const redisReply *x = redis_view(r);
    if (x == NULL || x->str == NULL || (x->type != REDIS_REPLY_STRING &&
                                        x->type != REDIS_REPLY_STATUS &&
                                        x->type != REDIS_REPLY_ERROR)) {
        if (len != NULL)
            *len = 0;
        return NULL;
    }
    if (len != NULL)
        *len = x->len;
    return x->str;
}

long long redis_reply_integer(const struct redis_reply *r)
{
    const redisReply *x = redis_view(r);
    return x != NULL && x->type == REDIS_REPLY_INTEGER ? x->integer : 0;
}

size_t redis_reply_count(const struct redis_reply *r)
{
    const redisReply *x = redis_view(r);
    return x != NULL && x->type == REDIS_REPLY_ARRAY && x->element != NULL ? x->elements : 0;
}

const struct redis_reply *redis_reply_element(const struct redis_reply *r, size_t i)
{
    if (i >= redis_reply_count(r))
        return NULL;
    return (const struct redis_reply *)(const void *)redis_view(r)->element[i];
}

int redis_reply_is_error(const struct redis_reply *r, const char *word)
{
    const redisReply *x = redis_view(r);
    return x != NULL && x->type == REDIS_REPLY_ERROR && x->str != NULL &&
           strstr(x->str, word) != NULL;
}

void redis_reply_free(struct redis_reply *r)
{
    if (r != NULL)
        freeReplyObject(r);
}
