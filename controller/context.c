/* The controller's context: built, wired and torn down; see context.h. */
#include "context.h"

#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

#include <event2/event.h>

#include "admin_http.h"
#include "clock.h"
#include "fetch.h"
#include "health_check.h"
#include "lease.h"
#include "log.h"
#include "provider.h"
#include "publish.h"
#include "redis.h"
#include "reload.h"
#include "seal.h"
#include "sentinel.h"
#include "svc_notify.h"
#include "upstream_sid.h"
#include "sync.h"

int context_check(struct ctl_ctx *ctx, struct pf_err *err)
{
    if (keys_init(&ctx->keys, ctx->conf.redis.prefix, err) != PF_OK) {
        pf_err_prefix(err, "redis.prefix: ");
        return PF_EINVAL;
    }
    for (int i = 0; i < ctx->conf.controller.nproviders; i++) {
        const struct conf_provider *cp = &ctx->conf.controller.providers[i];
        if (cp->type == CONF_PROVIDER_STATIC && provider_check_static(cp, err) != PF_OK) {
            pf_err_prefix(err, "controller.providers[%d].", i);
            return PF_EINVAL;
        }
    }
    return PF_OK;
}

/* Tells the service manager (systemd Type=notify, $NOTIFY_SOCKET) <state>;
 * the first failure is logged, later ones ignored. */
static void context_notify(struct ctl_ctx *ctx, const char *state)
{
    struct pf_err err;
    pf_err_clear(&err);
    if (svc_notify(ctx->notify_socket, state, &err) == PF_OK || ctx->is_notify_failed)
        return;
    ctx->is_notify_failed = 1;
    log_warn("telling the service manager failed, ignored from now on: %s", err.msg);
}

/* The loop runs, the admin port is up: READY=1. */
static void context_ready_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd; (void)what;
    context_notify(arg, "READY=1");
}

static void context_signal_cb(evutil_socket_t sig, short what, void *arg)
{
    struct ctl_ctx *ctx = arg;

    (void)what;
    context_notify(ctx, "STOPPING=1");
    log_info("signal %d: shutting down", (int)sig);
    sync_shutdown(ctx);
    event_base_loopbreak(ctx->base);
}

static void context_sighup_cb(evutil_socket_t sig, short what, void *arg)
{
    struct ctl_ctx *ctx = arg;
    char state[64];

    (void)sig;
    (void)what;
    snprintf(state, sizeof(state), "RELOADING=1\nMONOTONIC_USEC=%" PRId64, clock_mono_us());
    context_notify(ctx, state);
    log_info("signal SIGHUP: reloading the config");
    reload_run(ctx);
    context_notify(ctx, "READY=1");
}

int context_create(struct ctl_ctx *ctx)
{
    const struct conf_controller *cc = &ctx->conf.controller;

    ctx->base = event_base_new();
    if (ctx->base == NULL)
        return PF_ENOMEM;
    ctx->fetch = fetch_create(ctx->base);
    if (ctx->conf.redis.nsentinels > 0) {
        ctx->sentinel = sentinel_create(&ctx->conf.redis);
        if (ctx->sentinel == NULL ||
            sentinel_watch_start(ctx->sentinel, ctx->base, sync_on_master_moved, ctx) != PF_OK)
            return PF_ENOMEM;
    }
    ctx->redis = redis_create(&ctx->conf.redis, ctx->sentinel);
    ctx->pub = ctx->redis != NULL ? publish_create(ctx->redis, &ctx->keys, cc->id, ctx->cred_key)
                                  : NULL;
    ctx->sigint_ev = evsignal_new(ctx->base, SIGINT, context_signal_cb, ctx);
    ctx->sigterm_ev = evsignal_new(ctx->base, SIGTERM, context_signal_cb, ctx);
    ctx->sighup_ev = evsignal_new(ctx->base, SIGHUP, context_sighup_cb, ctx);
    if (ctx->fetch == NULL || ctx->pub == NULL || sync_init(ctx) != PF_OK ||
        ctx->sigint_ev == NULL || ctx->sigterm_ev == NULL || ctx->sighup_ev == NULL)
        return PF_ENOMEM;
    lease_init(&ctx->lease, ctx->redis, &ctx->keys, cc->id, cc->lease_ms);
    if (cc->health.is_enabled) {
        ctx->health = health_check_create(ctx->base, ctx->fetch, ctx->redis, &ctx->keys,
                                          &cc->health, sync_on_health, ctx);
        if (ctx->health == NULL)
            return PF_ENOMEM;
        if (ctx->cred_key != NULL) {    /* bans name upstreams by short ids under this key */
            struct upstream_sid_key sk;
            upstream_sid_key_derive(ctx->cred_key->bytes, sizeof(ctx->cred_key->bytes), &sk);
            health_check_set_sid_key(ctx->health, &sk);
        }
    }
    if (cc->nproviders > 0) {
        ctx->providers = calloc((size_t)cc->nproviders, sizeof(*ctx->providers));
        if (ctx->providers == NULL)
            return PF_ENOMEM;
    }
    for (int i = 0; i < cc->nproviders; i++) {
        ctx->providers[i] = provider_create(ctx->base, ctx->fetch, &cc->providers[i], i,
                                            sync_on_provider, ctx);
        if (ctx->providers[i] == NULL)
            return PF_ENOMEM;
        ctx->nproviders++;
    }
    if (cc->admin_listen[0] != '\0') {
        ctx->admin = admin_http_create(ctx, cc->admin_listen);
        if (ctx->admin == NULL)
            return PF_EIO;   /* logged by admin_http */
    }
    if (event_add(ctx->sigint_ev, NULL) != 0 || event_add(ctx->sigterm_ev, NULL) != 0 ||
        event_add(ctx->sighup_ev, NULL) != 0)
        return PF_EIO;
    ctx->notify_socket = getenv("NOTIFY_SOCKET");
    const struct timeval now = { 0, 0 };
    if (event_base_once(ctx->base, -1, EV_TIMEOUT, context_ready_cb, ctx, &now) != 0)
        return PF_ENOMEM;
    return sync_start(ctx);
}

void context_destroy(struct ctl_ctx *ctx)
{
    admin_http_destroy(ctx->admin);
    for (size_t i = 0; i < ctx->nproviders; i++)
        provider_destroy(ctx->providers[i]);
    free(ctx->providers);
    health_check_destroy(ctx->health);
    fetch_destroy(ctx->fetch);
    publish_destroy(ctx->pub);
    redis_destroy(ctx->redis);
    sentinel_destroy(ctx->sentinel);
    sync_deinit(ctx);
    struct event *evs[] = { ctx->sigint_ev, ctx->sigterm_ev, ctx->sighup_ev };
    for (size_t i = 0; i < PF_ARRAY_LEN(evs); i++)
        if (evs[i] != NULL)
            event_free(evs[i]);
    if (ctx->base != NULL)
        event_base_free(ctx->base);
    seal_key_destroy(ctx->cred_key);
    conf_deinit(&ctx->conf);
}
