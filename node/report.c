/* Node heartbeat; see report.h. */
#include "report.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "clock.h"
#include "keys.h"
#include "log.h"
#include "node_metrics.h"
#include "redis_link.h"
#include "snapshot_file.h"
#include "version.h"

#define REPORT_NODES_MAX_AGE_MS (3600 * 1000) /* nodes zset entries kept */
#define REPORT_ARGS_MAX         1024          /* HSET fields per command */
#define REPORT_FIELDS_MAX       64            /* fields of the node hash */

struct report {
    struct node_ctx *ctx;           /* borrowed */
    struct event    *timer;         /* owned, persistent */
    int              was_connected; /* the link was up at the previous report */
    int              is_failing;    /* the last write got an error reply */
    int64_t          saved_version; /* pool pair last in node.snapshot_file ... */
    char             saved_epoch[POOL_EPOCH_MAX];
    int64_t          failed_version;/* ... and the last pair whose save failed */
    char             failed_epoch[POOL_EPOCH_MAX];
};

/* The heartbeat's fields, owned copies. */
struct report_fields {
    char  *names[REPORT_FIELDS_MAX];
    char  *values[REPORT_FIELDS_MAX];
    size_t n;
};

static int fields_add(void *arg, const char *name, const char *value)
{
    struct report_fields *f = arg;
    if (f->n >= REPORT_FIELDS_MAX)
        return -1;
    f->names[f->n] = strdup(name);
    f->values[f->n] = strdup(value);
    if (f->names[f->n] == NULL || f->values[f->n] == NULL) {
        free(f->names[f->n]);
        free(f->values[f->n]);
        return -1;
    }
    f->n++;
    return 0;
}

static void fields_free(struct report_fields *f)
{
    for (size_t i = 0; i < f->n; i++) {
        free(f->names[i]);
        free(f->values[i]);
    }
    f->n = 0;
}

/* The node's identity (id, listen, version, commit, updated_at_ms,
 * pool_epoch, redis_connected: <is_connected>), then the figures of the
 * table marked for the report (node_metrics.h). Returns PF_OK or
 * PF_ENOMEM (then <f> may hold some fields: fields_free() it). */
static int report_fields_build(struct report_fields *f, const struct node_ctx *ctx,
                               int64_t now_wall_ms, int is_connected)
{
    char now[24];
    snprintf(now, sizeof(now), "%" PRId64, now_wall_ms);
    const char *ident[][2] = {
        { "id", ctx->conf.node.id },
        { "listen", ctx->conf.node.listen },
        { "version", version_string() },
        { "commit", version_commit() },
        { "updated_at_ms", now },
        { "pool_epoch", ctx->pool.epoch },
        { "redis_connected", is_connected ? "1" : "0" },
    };
    for (size_t i = 0; i < PF_ARRAY_LEN(ident); i++)
        if (fields_add(f, ident[i][0], ident[i][1]) != 0)
            return PF_ENOMEM;
    struct node_metrics_src src;
    node_metrics_src_init(&src, ctx);
    return node_metrics_report(&src, fields_add, f);
}

/* Every reply of a report write: an error is logged once until a write
 * succeeds again. */
static void report_on_reply(struct redis_link_reply *reply, void *arg)
{
    struct report *r = arg;
    if (redis_link_reply_type(reply) == REDIS_LINK_REPLY_ERROR) {
        char buf[160];
        if (!r->is_failing)
            log_warn("redis: node report failed: %s",
                     redis_link_reply_describe(reply, buf, sizeof(buf)));
        r->is_failing = 1;
    } else {
        r->is_failing = 0;
    }
}

/* HSET <key> with <n> name/value pairs, in commands of at most
 * REPORT_ARGS_MAX pairs. Returns PF_OK or why a command was not sent. */
static int report_hset(struct report *r, const char *key, const char *const *names,
                       const char *const *values, size_t n)
{
    size_t batch = PF_MIN_OF(n, (size_t)REPORT_ARGS_MAX);
    const char **argv = calloc(2 + 2 * batch, sizeof(*argv));
    if (argv == NULL)
        return PF_ENOMEM;
    int rc = PF_OK;
    for (size_t off = 0; off < n && rc == PF_OK; off += batch) {
        size_t k = PF_MIN_OF(batch, n - off);
        argv[0] = "HSET";
        argv[1] = key;
        for (size_t i = 0; i < k; i++) {
            argv[2 + 2 * i] = names[off + i] != NULL ? names[off + i] : "";
            argv[3 + 2 * i] = values[off + i] != NULL ? values[off + i] : "";
        }
        rc = redis_link_command(r->ctx->redis, report_on_reply, r, (int)(2 + 2 * k), argv, NULL);
    }
    free(argv);
    return rc;
}

/* Writes the node hash: HSET {pf}:v1:node:<id> <nfields> name/value pairs,
 * PEXPIRE it to <ttl_ms>, ZADD {pf}:v1:nodes <now_wall_ms> <id> and trim
 * members older than an hour. Returns PF_OK or why it was dropped
 * (PF_EAGAIN while disconnected: a report is not worth queueing). */
static int report_node(struct report *r, const char *const *names, const char *const *values,
                       size_t nfields, int ttl_ms, int64_t now_wall_ms)
{
    struct node_ctx *ctx = r->ctx;
    const char *node_id = ctx->conf.node.id;
    char key[KEYS_NAME_MAX + 80];
    if (keys_node(&ctx->keys, node_id, key, sizeof(key)) != PF_OK)
        return PF_EINVAL;
    if (!redis_link_is_connected(ctx->redis))
        return PF_EAGAIN;
    int rc = PF_OK;
    if (nfields > 0 && (rc = report_hset(r, key, names, values, nfields)) != PF_OK)
        return rc;
    char ttl[24], now[24], old[24];
    snprintf(ttl, sizeof(ttl), "%d", ttl_ms);
    snprintf(now, sizeof(now), "%" PRId64, now_wall_ms);
    snprintf(old, sizeof(old), "%" PRId64, now_wall_ms - REPORT_NODES_MAX_AGE_MS);
    const char *pexpire[] = { "PEXPIRE", key, ttl };
    const char *zadd[] = { "ZADD", ctx->keys.nodes, now, node_id };
    const char *trim[] = { "ZREMRANGEBYSCORE", ctx->keys.nodes, "-inf", old };
    if ((nfields > 0 &&
         (rc = redis_link_command(ctx->redis, report_on_reply, r, 3, pexpire, NULL)) != PF_OK) ||
        (rc = redis_link_command(ctx->redis, report_on_reply, r, 4, zadd, NULL)) != PF_OK ||
        (rc = redis_link_command(ctx->redis, report_on_reply, r, 4, trim, NULL)) != PF_OK)
        return rc;
    return PF_OK;
}

/* Writes "<attempts> <failures>" of every upstream tried at least once to
 * {pf}:v1:node:<id>:upstreams (cumulative; the controller diffs reads),
 * then PEXPIRE it to <ttl_ms>. Nothing is written when none was tried. */
static int report_upstreams(struct report *r, int ttl_ms)
{
    struct node_ctx *ctx = r->ctx;
    const struct pool_cache *pc = &ctx->pool;
    char key[KEYS_NAME_MAX + 80];
    if (keys_node_upstreams(&ctx->keys, ctx->conf.node.id, key, sizeof(key)) != PF_OK)
        return PF_EINVAL;
    if (!redis_link_is_connected(ctx->redis))
        return PF_EAGAIN;
    size_t n = 0;
    for (size_t i = 0; i < pc->count; i++)
        n += pc->st[i].attempts > 0;
    if (n == 0)
        return PF_OK;
    const char **names = calloc(n, sizeof(*names));
    const char **vals = calloc(n, sizeof(*vals));
    char (*buf)[48] = calloc(n, sizeof(*buf));
    int rc = PF_ENOMEM;
    if (names != NULL && vals != NULL && buf != NULL) {
        size_t k = 0;
        for (size_t i = 0; i < pc->count && k < n; i++) {
            if (pc->st[i].attempts == 0)
                continue;
            snprintf(buf[k], sizeof(buf[k]), "%" PRIu64 " %" PRIu64, pc->st[i].attempts,
                     pc->st[i].failures);
            names[k] = pc->ids[i];
            vals[k] = buf[k];
            k++;
        }
        rc = report_hset(r, key, names, vals, k);
        if (rc == PF_OK) {
            char ttl[24];
            snprintf(ttl, sizeof(ttl), "%d", ttl_ms);
            const char *pexpire[] = { "PEXPIRE", key, ttl };
            rc = redis_link_command(ctx->redis, report_on_reply, r, 3, pexpire, NULL);
        }
    }
    free(names);
    free(vals);
    free(buf);
    return rc;
}

/* Saves the pool to node.snapshot_file when its (version, epoch) differs
 * from the last saved pair, whether or not Redis is up. A failed save is
 * tolerated (the node keeps serving) and retried at the next report; it is
 * logged at warn once per pair. */
static void report_save_snapshot(struct report *r)
{
    struct node_ctx *ctx = r->ctx;
    const struct pool_cache *pc = &ctx->pool;
    const char *path = ctx->conf.node.snapshot_file;
    if (path[0] == '\0' || pc->version <= 0 ||
        (pc->version == r->saved_version && strcmp(pc->epoch, r->saved_epoch) == 0))
        return;
    struct pf_err err;
    pf_err_clear(&err);
    if (snapshot_file_save(path, pc, ctx->cred_key, clock_wall_ms(), &err) != PF_OK) {
        if (pc->version != r->failed_version || strcmp(pc->epoch, r->failed_epoch) != 0)
            log_warn("saving pool version %" PRId64 " failed, ignored (retried): %s",
                     pc->version, err.msg);
        else
            log_debug("saving pool version %" PRId64 " failed again: %s", pc->version, err.msg);
        r->failed_version = pc->version;
        snprintf(r->failed_epoch, sizeof(r->failed_epoch), "%s", pc->epoch);
        return;
    }
    log_info("saved %zu upstreams to snapshot file %s (version %" PRId64 ", epoch %s)",
             pc->count, path, pc->version, pc->epoch);
    r->saved_version = pc->version;
    snprintf(r->saved_epoch, sizeof(r->saved_epoch), "%s", pc->epoch);
}

static void tick_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd; (void)what;
    struct report *r = arg;
    struct node_ctx *ctx = r->ctx;
    report_save_snapshot(r);
    int is_up = redis_link_is_connected(ctx->redis);
    if (!is_up) {
        r->was_connected = 0;
        return;              /* a report is not worth queueing */
    }
    struct report_fields f;
    memset(&f, 0, sizeof(f));
    int64_t now = clock_wall_ms();
    /* 0 on the first report after a (re)connect: readers see the gap */
    int rc = report_fields_build(&f, ctx, now, r->was_connected);
    if (rc == PF_OK)
        rc = report_node(r, (const char *const *)f.names, (const char *const *)f.values, f.n,
                         3 * ctx->conf.node.report_interval_ms, now);
    fields_free(&f);
    if (rc != PF_OK)
        log_debug("node report dropped: %s", pf_strstatus(rc));
    rc = report_upstreams(r, 3 * ctx->conf.node.report_interval_ms);
    if (rc != PF_OK)
        log_debug("upstream report dropped: %s", pf_strstatus(rc));
    r->was_connected = 1;
}

struct report *report_create(struct node_ctx *ctx)
{
    struct report *r = calloc(1, sizeof(*r));
    if (r == NULL)
        return NULL;
    r->ctx = ctx;
    /* a pool loaded from node.snapshot_file is already saved */
    r->saved_version = ctx->pool.version;
    snprintf(r->saved_epoch, sizeof(r->saved_epoch), "%s", ctx->pool.epoch);
    r->timer = event_new(ctx->base, -1, EV_PERSIST, tick_cb, r);
    if (r->timer == NULL) {
        free(r);
        return NULL;
    }
    int ms = ctx->conf.node.report_interval_ms;
    struct timeval tv = { .tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000 };
    event_add(r->timer, &tv);
    return r;
}

void report_destroy(struct report *r)
{
    if (r == NULL)
        return;
    if (r->timer != NULL)
        event_free(r->timer);
    free(r);
}
