/* The controller's Redis connection; see redis.h. */
#include "redis.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include "backoff.h"
#include "clock.h"
#include "log.h"
#include "rng.h"

#define REDIS_BACKOFF_BASE_MS 200
#define REDIS_BACKOFF_CAP_MS  10000

struct redis {
    const struct conf_redis *conf;        /* borrowed from ctl_ctx->conf */
    redisContext       *rc;               /* owned; NULL while disconnected */
    struct backoff      backoff;          /* reconnect delays */
    unsigned            attempt;          /* failed connects in a row */
    int64_t             next_connect_at_ms;/* monotonic; no attempt before */
    int                 is_down_logged;   /* the outage was logged at warn */
    uint64_t            connection;       /* +1 per successful connect (scripts' cache) */
    uint64_t            ndrops;           /* connections dropped on an error */
};

struct redis *redis_create(const struct conf_redis *conf)
{
    struct redis *r = calloc(1, sizeof(*r));
    if (r == NULL)
        return NULL;
    r->conf = conf;
    r->backoff.base_ms = REDIS_BACKOFF_BASE_MS;
    r->backoff.cap_ms = REDIS_BACKOFF_CAP_MS;
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

/* Drops the connection after an error <what>; the next connect waits. */
static int redis_drop(struct redis *r, const char *what, int64_t now_mono_ms)
{
    const char *why = (r->rc != NULL && r->rc->err) ? r->rc->errstr : "error";

    if (!r->is_down_logged)
        log_warn("redis %s:%u: %s failed: %s; retrying with backoff", r->conf->host,
                 (unsigned)r->conf->port, what, why);
    else
        log_debug("redis %s:%u: %s failed: %s", r->conf->host, (unsigned)r->conf->port, what, why);
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

int redis_fail(struct redis *r, const char *what)
{
    return redis_drop(r, what, clock_mono_ms());
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

/* AUTH and SELECT on a fresh connection. */
static int redis_setup(struct redis *r, int64_t now_mono_ms)
{
    redisReply *x;

    if (r->conf->password[0] != '\0') {
        const char *argv[] = { "AUTH", r->conf->password };
        x = redisCommandArgv(r->rc, 2, argv, NULL);
        if (x == NULL)
            return redis_drop(r, "AUTH", now_mono_ms);
        int is_ok = x->type == REDIS_REPLY_STATUS;
        freeReplyObject(x);
        if (!is_ok)
            return redis_drop(r, "AUTH (rejected)", now_mono_ms);
    }
    if (r->conf->db != 0) {
        char db[16];
        snprintf(db, sizeof(db), "%d", r->conf->db);
        const char *argv[] = { "SELECT", db };
        x = redisCommandArgv(r->rc, 2, argv, NULL);
        if (x == NULL)
            return redis_drop(r, "SELECT", now_mono_ms);
        int is_ok = x->type == REDIS_REPLY_STATUS;
        freeReplyObject(x);
        if (!is_ok)
            return redis_drop(r, "SELECT (rejected)", now_mono_ms);
    }
    return PF_OK;
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
    r->rc = redisConnectWithTimeout(r->conf->host, r->conf->port, ctv);
    if (r->rc == NULL || r->rc->err)
        return redis_drop(r, "connect", now_mono_ms);
    if (redisSetTimeout(r->rc, ctv_cmd) != REDIS_OK)
        return redis_drop(r, "set timeout", now_mono_ms);
    if (redis_setup(r, now_mono_ms) != PF_OK)
        return PF_EIO;
    log_info("redis %s:%u: connected", r->conf->host, (unsigned)r->conf->port);
    r->attempt = 0;
    r->is_down_logged = 0;
    r->connection++;
    return PF_OK;
}

struct redis_reply *redis_command(struct redis *r, const char *what, int argc,
                                  const char **argv, const size_t *argvlen)
{
    if (r->rc == NULL)
        return NULL;
    redisReply *x = redisCommandArgv(r->rc, argc, argv, argvlen);
    if (x == NULL)
        redis_drop(r, what, clock_mono_ms());
    return (struct redis_reply *)(void *)x;
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
