/* The controller's sync loop; see sync.h. */
#include "sync.h"

#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "clock.h"
#include "controller_metrics.h"
#include "health_check.h"
#include "lease.h"
#include "log.h"
#include "provider.h"
#include "publish.h"
#include "redis.h"

#define SYNC_HEARTBEAT_FIELDS_MAX 16   /* figures in the controller hash */

static void sync_arm(struct ctl_ctx *ctx, int64_t delay_ms)
{
    struct timeval tv = { (time_t)(delay_ms / 1000), (suseconds_t)((delay_ms % 1000) * 1000) };
    if (evtimer_add(ctx->sync_ev, &tv) != 0)
        log_error("cannot arm sync timer");
}

static void sync_arm_lease(struct ctl_ctx *ctx, int64_t delay_ms)
{
    struct timeval tv = { (time_t)(delay_ms / 1000), (suseconds_t)((delay_ms % 1000) * 1000) };
    if (evtimer_add(ctx->lease_ev, &tv) != 0)
        log_error("cannot arm lease timer");
}

/* Stops everything a leader does: polls stop, writes are no longer fenced
 * with the old token; the lease timer retries acquisition. */
static void sync_step_down(struct ctl_ctx *ctx, const char *why)
{
    lease_step_down(&ctx->lease, why);
    if (ctx->health != NULL)
        health_check_set_leader(ctx->health, 0);
    for (size_t i = 0; i < ctx->nproviders; i++)
        provider_stop(ctx->providers[i]);
    publish_end_term(ctx->pub);
    ctx->is_sync_wanted = 0;
    evtimer_del(ctx->sync_ev);
    sync_arm_lease(ctx, lease_renew_ms(&ctx->lease));
}

/* A new term: a new epoch, the whole state rewritten, polls start. */
static void sync_become_leader(struct ctl_ctx *ctx)
{
    publish_begin_term(ctx->pub, ctx->lease.token, clock_wall_ms());
    log_info("leader: epoch %s, starting %zu providers", ctx->pub->epoch, ctx->nproviders);
    if (ctx->health != NULL)
        health_check_set_leader(ctx->health, 1);
    for (size_t i = 0; i < ctx->nproviders; i++) {
        ctx->providers[i]->is_dirty = 1;
        if (provider_start(ctx->providers[i]) != PF_OK)
            log_error("provider %s: cannot start", ctx->providers[i]->conf->name);
    }
    /* Redis follows this leader's config: providers it does not have go. */
    ctx->is_prune_wanted = 1;
    ctx->is_sync_wanted = 1;
}

/* Removes the providers no longer configured from {pf}:v1:providers, with
 * their hashes, in one fenced write. Returns PF_OK, PF_EIO, PF_EDENIED or
 * PF_ENOMEM. */
static int sync_prune(struct ctl_ctx *ctx)
{
    const char **names = calloc(ctx->nproviders + 1, sizeof(*names));
    size_t nremoved = 0;

    if (names == NULL)
        return PF_ENOMEM;
    for (size_t i = 0; i < ctx->nproviders; i++)
        names[i] = ctx->providers[i]->conf->name;
    int rc = publish_prune_providers(ctx->pub, names, ctx->nproviders, &nremoved);
    free(names);
    return rc;
}

static void sync_lease_cb(evutil_socket_t fd, short what, void *arg)
{
    struct ctl_ctx *ctx = arg;
    int64_t next_ms = 0;

    (void)fd;
    (void)what;
    switch (lease_tick(&ctx->lease, clock_mono_ms(), &next_ms)) {
    case LEASE_EV_ACQUIRED:
        sync_become_leader(ctx);
        sync_arm(ctx, 0);
        break;
    case LEASE_EV_LOST:
        sync_step_down(ctx, ctx->lease.last_loss);
        break;
    case LEASE_EV_NONE:
        break;
    }
    sync_arm_lease(ctx, next_ms);
}


/* The heartbeat's figures, owned copies (name, value, name, value ...). */
struct sync_fields {
    char *fv[2 * SYNC_HEARTBEAT_FIELDS_MAX];
    int   n;
};

static int sync_field_add(void *arg, const char *name, const char *value)
{
    struct sync_fields *f = arg;
    if (f->n >= SYNC_HEARTBEAT_FIELDS_MAX)
        return -1;
    f->fv[2 * f->n] = strdup(name);
    f->fv[2 * f->n + 1] = strdup(value);
    f->n++;
    return f->fv[2 * f->n - 2] != NULL && f->fv[2 * f->n - 1] != NULL ? 0 : -1;
}

/* Writes the controller hash: publish's identity fields and the figures
 * the table marks for the heartbeat (controller_metrics.h). */
static int sync_heartbeat(struct ctl_ctx *ctx, int64_t now_wall)
{
    struct controller_metrics_src src;
    struct sync_fields f;
    memset(&f, 0, sizeof(f));
    controller_metrics_src_init(&src, ctx);
    int rc = controller_metrics_report(&src, sync_field_add, &f);
    if (rc == PF_OK)
        rc = publish_heartbeat(ctx->pub, now_wall, ctx->conf.controller.heartbeat_interval_ms,
                               (const char *const *)f.fv, f.n);
    for (int i = 0; i < 2 * f.n; i++)
        free(f.fv[i]);
    return rc;
}

/* Brings Redis in line with memory: pool snapshot when it changed or Redis
 * lost it, dirty provider hashes (all of them on a heartbeat), heartbeat. */
static void sync_run(struct ctl_ctx *ctx, int is_heartbeat)
{
    int64_t now_mono = clock_mono_ms();
    int64_t now_wall = clock_wall_ms();
    int has_success = 0;
    int rc;

    /* Only the leader writes, and only while its lease is surely live (a
     * process resumed after a stall must not write before it renews). */
    if (!lease_valid(&ctx->lease, now_mono)) {
        if (ctx->lease.is_leader)
            sync_step_down(ctx, "lease ran out (process stalled?)");
        return;
    }
    if (redis_connect(ctx->redis, now_mono) != PF_OK) {
        if (ctx->is_sync_wanted)
            sync_arm(ctx, redis_retry_in_ms(ctx->redis, now_mono) + 1);
        return;
    }
    /* First, so that a leader that lost its lease is fenced before it could
     * touch anything else. */
    if (ctx->is_prune_wanted) {
        rc = sync_prune(ctx);
        if (rc == PF_EDENIED)
            goto fenced;
        if (rc == PF_EIO)
            goto retry;
        if (rc == PF_OK)
            ctx->is_prune_wanted = 0;
        else
            log_error("provider prune: out of memory; retried at the next sync");
    }
    for (size_t i = 0; i < ctx->nproviders; i++)
        if (ctx->providers[i]->last_success_at_ms != 0)
            has_success = 1;
    /* Until one provider answered well we know nothing: leave Redis alone
     * rather than publish an empty pool over a good one. */
    if (has_success) {
        const struct provider_entry **es = NULL;
        size_t n = 0;
        int is_published = 0;
        if (provider_merge(ctx->providers, ctx->nproviders, now_wall, &es, &n) != PF_OK) {
            log_error("pool merge: out of memory");
            return;
        }
        ctx->pool_size = n;
        /* Health: unhealthy and ejected upstreams leave the published pool. */
        struct health_pool hp;
        memset(&hp, 0, sizeof(hp));
        if (ctx->health != NULL) {
            if (health_check_track(ctx->health, es, n) != PF_OK ||
                health_pool_filter(health_check_table(ctx->health), es, n, now_wall, &hp) != PF_OK) {
                log_error("pool health filter: out of memory");
                free(es);
                return;
            }
            health_check_note_cap(ctx->health, hp.nover, n);
            health_check_probe_new(ctx->health);
            free(es);
            es = hp.es;
            n = hp.n;
        }
        rc = publish_pool(ctx->pub, es, n, now_wall, &is_published);
        if (ctx->health != NULL)
            health_pool_deinit(&hp);
        else
            free(es);
        if (rc == PF_OK)
            ctx->is_sync_wanted = 0;
        else if (rc == PF_EDENIED)
            goto fenced;
        else if (rc == PF_EIO)
            goto retry;
    }
    for (size_t i = 0; i < ctx->nproviders; i++) {
        struct provider *p = ctx->providers[i];
        if (!p->is_dirty && !is_heartbeat)
            continue;
        rc = publish_provider(ctx->pub, p, now_wall);
        if (rc == PF_EDENIED)
            goto fenced;
        if (rc != PF_OK)
            goto retry;
        p->is_dirty = 0;
    }
    if (is_heartbeat) {
        rc = sync_heartbeat(ctx, now_wall);
        if (rc == PF_EDENIED)
            goto fenced;
        if (rc != PF_OK)
            goto retry;
    }
    return;

fenced:
    /* Another controller holds the lease: stop at once, write nothing more. */
    sync_step_down(ctx, "write FENCED: another controller holds the lease");
    return;

retry:
    /* Providers must be rewritten after the reconnect. */
    for (size_t i = 0; i < ctx->nproviders; i++)
        ctx->providers[i]->is_dirty = 1;
    ctx->is_sync_wanted = 1;
    sync_arm(ctx, redis_retry_in_ms(ctx->redis, clock_mono_ms()) + 1);
}

static void sync_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    sync_run(arg, 0);
}

static void sync_heartbeat_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    sync_run(arg, 1);
}

void sync_want(struct ctl_ctx *ctx)
{
    ctx->is_sync_wanted = 1;
    /* Coalesce: every poll finishing in this loop turn shares one sync. */
    sync_arm(ctx, 0);
}

void sync_on_health(void *arg)
{
    sync_want(arg);
}

void sync_on_master_moved(const char *host, uint16_t port, void *arg)
{
    struct ctl_ctx *ctx = arg;
    if (!redis_master_moved(ctx->redis, host, port))
        return;
    /* Only timers here: the watch that calls this is still reading. */
    sync_arm_lease(ctx, 0);
    if (ctx->lease.is_leader) {
        for (size_t i = 0; i < ctx->nproviders; i++)
            ctx->providers[i]->is_dirty = 1;
        sync_want(ctx);
    }
}

void sync_on_provider(struct provider *p, void *arg)
{
    (void)p;
    sync_want(arg);
}

int sync_init(struct ctl_ctx *ctx)
{
    ctx->sync_ev = evtimer_new(ctx->base, sync_cb, ctx);
    ctx->heartbeat_ev = event_new(ctx->base, -1, EV_PERSIST, sync_heartbeat_cb, ctx);
    ctx->lease_ev = evtimer_new(ctx->base, sync_lease_cb, ctx);
    if (ctx->sync_ev == NULL || ctx->heartbeat_ev == NULL || ctx->lease_ev == NULL)
        return PF_ENOMEM;
    return PF_OK;
}

void sync_deinit(struct ctl_ctx *ctx)
{
    struct event **evs[] = { &ctx->sync_ev, &ctx->heartbeat_ev, &ctx->lease_ev };
    for (size_t i = 0; i < PF_ARRAY_LEN(evs); i++) {
        if (*evs[i] != NULL)
            event_free(*evs[i]);
        *evs[i] = NULL;
    }
}

int sync_start(struct ctl_ctx *ctx)
{
    int hb_ms = ctx->conf.controller.heartbeat_interval_ms > 0
                ? ctx->conf.controller.heartbeat_interval_ms : 2000;
    struct timeval hb = { hb_ms / 1000, (hb_ms % 1000) * 1000 };

    if (event_add(ctx->heartbeat_ev, &hb) != 0)
        return PF_EIO;
    /* Providers start when the lease is ours (sync_become_leader). */
    sync_arm_lease(ctx, 0);
    return PF_OK;
}

void sync_providers_changed(struct ctl_ctx *ctx)
{
    if (!ctx->lease.is_leader)
        return;   /* a term begins with a prune anyway */
    ctx->is_prune_wanted = 1;
    for (size_t i = 0; i < ctx->nproviders; i++)
        if (provider_start(ctx->providers[i]) != PF_OK)
            log_error("provider %s: cannot start", ctx->providers[i]->conf->name);
    sync_want(ctx);
}

void sync_shutdown(struct ctl_ctx *ctx)
{
    if (ctx->lease.is_leader && lease_release(&ctx->lease) != PF_OK)
        log_warn("lease: release failed, ignored: it expires in %lld ms",
                 (long long)ctx->lease.lease_ms);
}
