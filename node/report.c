/* Node heartbeat; see report.h. */
#include "report.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "clock.h"
#include "log.h"
#include "redis_link.h"
#include "snapshot_file.h"

struct report {
    struct node_ctx *ctx;           /* borrowed */
    struct event    *timer;         /* owned, persistent */
    int              was_connected; /* the link was up at the previous report */
    int64_t          saved_version; /* pool pair last in node.snapshot_file ... */
    char             saved_epoch[POOL_EPOCH_MAX];
    int64_t          failed_version;/* ... and the last pair whose save failed */
    char             failed_epoch[POOL_EPOCH_MAX];
};

void report_build(const struct node_ctx *ctx, int64_t now_wall_ms, int is_connected,
                  const char **names, char (*values)[REPORT_VALUE_MAX])
{
    static const char *const fields[REPORT_NFIELDS] = {
        "id", "listen", "started_at_ms", "updated_at_ms", "pool_version", "pool_epoch",
        "pool_size", "redis_connected", "conns_active", "requests_total", "responses_2xx",
        "responses_4xx", "responses_5xx", "errors_502", "errors_503", "errors_504",
        "bytes_in", "bytes_out", "tunnels_total",
    };
    const struct node_stats *s = &ctx->stats;
    int i = 0;
    for (int k = 0; k < REPORT_NFIELDS; k++)
        names[k] = fields[k];
    snprintf(values[i++], REPORT_VALUE_MAX, "%s", ctx->conf.node.id);
    snprintf(values[i++], REPORT_VALUE_MAX, "%s", ctx->conf.node.listen);
    snprintf(values[i++], REPORT_VALUE_MAX, "%" PRId64, ctx->started_at_ms);
    snprintf(values[i++], REPORT_VALUE_MAX, "%" PRId64, now_wall_ms);
    snprintf(values[i++], REPORT_VALUE_MAX, "%" PRId64, ctx->pool.version);
    snprintf(values[i++], REPORT_VALUE_MAX, "%s", ctx->pool.epoch);
    snprintf(values[i++], REPORT_VALUE_MAX, "%zu", ctx->pool.count);
    snprintf(values[i++], REPORT_VALUE_MAX, "%d", is_connected);
    snprintf(values[i++], REPORT_VALUE_MAX, "%" PRIu64, s->conns_active);
    snprintf(values[i++], REPORT_VALUE_MAX, "%" PRIu64, s->requests_total);
    snprintf(values[i++], REPORT_VALUE_MAX, "%" PRIu64, s->responses_2xx);
    snprintf(values[i++], REPORT_VALUE_MAX, "%" PRIu64, s->responses_4xx);
    snprintf(values[i++], REPORT_VALUE_MAX, "%" PRIu64, s->responses_5xx);
    snprintf(values[i++], REPORT_VALUE_MAX, "%" PRIu64, s->errors_502);
    snprintf(values[i++], REPORT_VALUE_MAX, "%" PRIu64, s->errors_503);
    snprintf(values[i++], REPORT_VALUE_MAX, "%" PRIu64, s->errors_504);
    snprintf(values[i++], REPORT_VALUE_MAX, "%" PRIu64, s->bytes_in);
    snprintf(values[i++], REPORT_VALUE_MAX, "%" PRIu64, s->bytes_out);
    snprintf(values[i++], REPORT_VALUE_MAX, "%" PRIu64, s->tunnels_total);
}

/* Writes "<attempts> <failures>" of every upstream tried at least once to
 * {pf}:v1:node:<id>:upstreams (cumulative; the controller diffs reads). */
static int report_upstreams(struct node_ctx *ctx, int ttl_ms)
{
    const struct pool_cache *pc = &ctx->pool;
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
        rc = redis_link_report_upstreams(ctx->redis, ctx->conf.node.id, names, vals, k, ttl_ms);
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
    const char *names[REPORT_NFIELDS];
    char values[REPORT_NFIELDS][REPORT_VALUE_MAX];
    const char *vals[REPORT_NFIELDS];
    int64_t now = clock_wall_ms();
    /* 0 on the first report after a (re)connect: readers see the gap */
    report_build(ctx, now, r->was_connected, names, values);
    for (int i = 0; i < REPORT_NFIELDS; i++)
        vals[i] = values[i];
    int rc = redis_link_report(ctx->redis, ctx->conf.node.id, names, vals, REPORT_NFIELDS,
                               3 * ctx->conf.node.report_interval_ms, now);
    if (rc != PF_OK)
        log_debug("node report dropped: %s", pf_strstatus(rc));
    rc = report_upstreams(ctx, 3 * ctx->conf.node.report_interval_ms);
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
