/* proxyfleet-controller: polls providers, publishes the pool to Redis.
 *   proxyfleet-controller --config FILE [--check-config]
 * Exit: 0 after a clean shutdown (SIGINT/SIGTERM), 2 bad config or command
 * line, 1 fatal runtime error. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <event2/event.h>

#include "admin_http.h"
#include "clock.h"
#include "controller.h"
#include "fetch.h"
#include "log.h"
#include "provider.h"
#include "publish.h"

#define CTL_EXIT_OK     0
#define CTL_EXIT_FATAL  1
#define CTL_EXIT_CONFIG 2

static void ctl_usage(void)
{
    fprintf(stderr, "usage: proxyfleet-controller --config FILE [--check-config]\n");
}

/* Validates what conf_parse() cannot: the Redis prefix and static lists. */
static int ctl_check(struct ctl_ctx *ctx, struct pf_err *err)
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

static void ctl_arm_sync(struct ctl_ctx *ctx, int64_t delay_ms)
{
    struct timeval tv = { (time_t)(delay_ms / 1000), (suseconds_t)((delay_ms % 1000) * 1000) };
    if (evtimer_add(ctx->sync_ev, &tv) != 0)
        log_error("cannot arm sync timer");
}

/* Brings Redis in line with memory: pool snapshot when it changed or Redis
 * lost it, dirty provider hashes (all of them on a heartbeat), heartbeat. */
static void ctl_sync(struct ctl_ctx *ctx, int is_heartbeat)
{
    int64_t now_mono = clock_mono_ms();
    int64_t now_wall = clock_wall_ms();
    int has_success = 0;

    if (publish_connect(ctx->pub, now_mono) != PF_OK) {
        if (ctx->is_sync_wanted)
            ctl_arm_sync(ctx, publish_retry_in_ms(ctx->pub, now_mono) + 1);
        return;
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
        int rc = publish_pool(ctx->pub, es, n, now_wall, &is_published);
        free(es);
        if (rc == PF_OK)
            ctx->is_sync_wanted = 0;
        else if (rc == PF_EIO)
            goto retry;
    }
    for (size_t i = 0; i < ctx->nproviders; i++) {
        struct provider *p = ctx->providers[i];
        if (!p->is_dirty && !is_heartbeat)
            continue;
        if (publish_provider(ctx->pub, p, now_wall) != PF_OK)
            goto retry;
        p->is_dirty = 0;
    }
    if (is_heartbeat &&
        publish_heartbeat(ctx->pub, now_wall, ctx->conf.controller.heartbeat_interval_ms) != PF_OK)
        goto retry;
    return;

retry:
    /* Providers must be rewritten after the reconnect. */
    for (size_t i = 0; i < ctx->nproviders; i++)
        ctx->providers[i]->is_dirty = 1;
    ctx->is_sync_wanted = 1;
    ctl_arm_sync(ctx, publish_retry_in_ms(ctx->pub, clock_mono_ms()) + 1);
}

static void ctl_sync_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    ctl_sync(arg, 0);
}

static void ctl_heartbeat_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    ctl_sync(arg, 1);
}

static void ctl_provider_update(struct provider *p, void *arg)
{
    struct ctl_ctx *ctx = arg;

    (void)p;
    ctx->is_sync_wanted = 1;
    /* Coalesce: every poll finishing in this loop turn shares one sync. */
    ctl_arm_sync(ctx, 0);
}

static void ctl_signal_cb(evutil_socket_t sig, short what, void *arg)
{
    struct ctl_ctx *ctx = arg;

    (void)what;
    log_info("signal %d: shutting down", (int)sig);
    event_base_loopbreak(ctx->base);
}

static void ctl_destroy(struct ctl_ctx *ctx)
{
    admin_http_destroy(ctx->admin);
    for (size_t i = 0; i < ctx->nproviders; i++)
        provider_destroy(ctx->providers[i]);
    free(ctx->providers);
    fetch_destroy(ctx->fetch);
    publish_destroy(ctx->pub);
    if (ctx->sync_ev != NULL)
        event_free(ctx->sync_ev);
    if (ctx->heartbeat_ev != NULL)
        event_free(ctx->heartbeat_ev);
    if (ctx->sigint_ev != NULL)
        event_free(ctx->sigint_ev);
    if (ctx->sigterm_ev != NULL)
        event_free(ctx->sigterm_ev);
    if (ctx->base != NULL)
        event_base_free(ctx->base);
    conf_deinit(&ctx->conf);
}

static int ctl_setup(struct ctl_ctx *ctx)
{
    const struct conf_controller *cc = &ctx->conf.controller;
    int hb_ms = cc->heartbeat_interval_ms > 0 ? cc->heartbeat_interval_ms : 2000;
    struct timeval hb = { hb_ms / 1000, (hb_ms % 1000) * 1000 };

    ctx->base = event_base_new();
    if (ctx->base == NULL)
        return PF_ENOMEM;
    ctx->fetch = fetch_create(ctx->base);
    ctx->pub = publish_create(&ctx->conf.redis, &ctx->keys, cc->id);
    ctx->sync_ev = evtimer_new(ctx->base, ctl_sync_cb, ctx);
    ctx->heartbeat_ev = event_new(ctx->base, -1, EV_PERSIST, ctl_heartbeat_cb, ctx);
    ctx->sigint_ev = evsignal_new(ctx->base, SIGINT, ctl_signal_cb, ctx);
    ctx->sigterm_ev = evsignal_new(ctx->base, SIGTERM, ctl_signal_cb, ctx);
    if (ctx->fetch == NULL || ctx->pub == NULL || ctx->sync_ev == NULL ||
        ctx->heartbeat_ev == NULL || ctx->sigint_ev == NULL || ctx->sigterm_ev == NULL)
        return PF_ENOMEM;
    if (cc->nproviders > 0) {
        ctx->providers = calloc((size_t)cc->nproviders, sizeof(*ctx->providers));
        if (ctx->providers == NULL)
            return PF_ENOMEM;
    }
    for (int i = 0; i < cc->nproviders; i++) {
        ctx->providers[i] = provider_create(ctx->base, ctx->fetch, &cc->providers[i], i,
                                            ctl_provider_update, ctx);
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
        event_add(ctx->heartbeat_ev, &hb) != 0)
        return PF_EIO;
    for (size_t i = 0; i < ctx->nproviders; i++)
        if (provider_start(ctx->providers[i]) != PF_OK)
            return PF_EIO;
    return PF_OK;
}

int main(int argc, char **argv)
{
    const char *path = NULL;
    int is_check = 0;
    int status = CTL_EXIT_FATAL;
    struct ctl_ctx ctx;
    struct pf_err err;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--config") == 0 && i + 1 < argc) {
            path = argv[++i];
        } else if (strcmp(argv[i], "--check-config") == 0) {
            is_check = 1;
        } else {
            ctl_usage();
            return CTL_EXIT_CONFIG;
        }
    }
    if (path == NULL) {
        ctl_usage();
        return CTL_EXIT_CONFIG;
    }

    memset(&ctx, 0, sizeof(ctx));
    pf_err_clear(&err);
    log_set_ident("controller");
    if (conf_load_file(&ctx.conf, path, &err) != PF_OK || ctl_check(&ctx, &err) != PF_OK) {
        fprintf(stderr, "config: %s: %s\n", path, err.msg);
        conf_deinit(&ctx.conf);
        return CTL_EXIT_CONFIG;
    }
    enum pf_log_level level = PF_LOG_INFO;
    if (log_parse_level(ctx.conf.log_level, &level) != PF_OK) {
        fprintf(stderr, "config: %s: log.level: unknown level\n", path);
        conf_deinit(&ctx.conf);
        return CTL_EXIT_CONFIG;
    }
    if (is_check) {
        conf_deinit(&ctx.conf);
        return CTL_EXIT_OK;
    }
    log_set_level(level);

    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        log_error("curl_global_init failed");
        conf_deinit(&ctx.conf);
        return CTL_EXIT_FATAL;
    }
    /* A Redis peer closing mid-write must be an error, not a signal. */
    signal(SIGPIPE, SIG_IGN);

    if (ctl_setup(&ctx) != PF_OK) {
        log_error("controller setup failed");
        goto out;
    }
    log_info("controller %s started: %zu providers, redis %s:%u prefix %s", ctx.conf.controller.id,
             ctx.nproviders, ctx.conf.redis.host, (unsigned)ctx.conf.redis.port, ctx.keys.base);
    if (event_base_dispatch(ctx.base) < 0) {
        log_error("event loop failed");
        goto out;
    }
    status = CTL_EXIT_OK;
    log_info("controller stopped");

out:
    ctl_destroy(&ctx);
    curl_global_cleanup();
    libevent_global_shutdown();
    return status;
}
