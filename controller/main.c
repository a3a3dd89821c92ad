/* proxyfleet-controller: polls providers, publishes the pool to Redis.
 *   proxyfleet-controller --config FILE [--check-config]
 * Exit: 0 after a clean shutdown (SIGINT/SIGTERM; the leader releases its
 * lease), 2 bad config or command line, 1 fatal runtime error. SIGHUP
 * reloads the config file. Only the lease holder polls and writes. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <event2/event.h>

#include "admin_http.h"
#include "cli.h"
#include "clock.h"
#include "controller.h"
#include "fetch.h"
#include "health_check.h"
#include "lease.h"
#include "log.h"
#include "provider.h"
#include "publish.h"
#include "redis.h"
#include "seal.h"

#define CTL_EXIT_OK     0
#define CTL_EXIT_FATAL  1
#define CTL_EXIT_CONFIG 2

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

static void ctl_arm_lease(struct ctl_ctx *ctx, int64_t delay_ms)
{
    struct timeval tv = { (time_t)(delay_ms / 1000), (suseconds_t)((delay_ms % 1000) * 1000) };
    if (evtimer_add(ctx->lease_ev, &tv) != 0)
        log_error("cannot arm lease timer");
}

/* Stops everything a leader does: polls stop, writes are no longer fenced
 * with the old token; the lease timer retries acquisition. */
static void ctl_step_down(struct ctl_ctx *ctx, const char *why)
{
    lease_step_down(&ctx->lease, why);
    if (ctx->health != NULL)
        health_check_set_leader(ctx->health, 0);
    for (size_t i = 0; i < ctx->nproviders; i++)
        provider_stop(ctx->providers[i]);
    publish_end_term(ctx->pub);
    ctx->is_sync_wanted = 0;
    evtimer_del(ctx->sync_ev);
    ctl_arm_lease(ctx, lease_renew_ms(&ctx->lease));
}

/* A new term: a new epoch, the whole state rewritten, polls start. */
static void ctl_become_leader(struct ctl_ctx *ctx)
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
    ctx->is_sync_wanted = 1;
}

static void ctl_arm_sync(struct ctl_ctx *ctx, int64_t delay_ms);

static void ctl_lease_cb(evutil_socket_t fd, short what, void *arg)
{
    struct ctl_ctx *ctx = arg;
    int64_t next_ms = 0;

    (void)fd;
    (void)what;
    switch (lease_tick(&ctx->lease, clock_mono_ms(), &next_ms)) {
    case LEASE_EV_ACQUIRED:
        ctl_become_leader(ctx);
        ctl_arm_sync(ctx, 0);
        break;
    case LEASE_EV_LOST:
        ctl_step_down(ctx, ctx->lease.last_loss);
        break;
    case LEASE_EV_NONE:
        break;
    }
    ctl_arm_lease(ctx, next_ms);
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
    int rc;

    /* Only the leader writes, and only while its lease is surely live (a
     * process resumed after a stall must not write before it renews). */
    if (!lease_valid(&ctx->lease, now_mono)) {
        if (ctx->lease.is_leader)
            ctl_step_down(ctx, "lease ran out (process stalled?)");
        return;
    }
    if (redis_connect(ctx->redis, now_mono) != PF_OK) {
        if (ctx->is_sync_wanted)
            ctl_arm_sync(ctx, redis_retry_in_ms(ctx->redis, now_mono) + 1);
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
        rc = publish_heartbeat(ctx->pub, now_wall, ctx->conf.controller.heartbeat_interval_ms);
        if (rc == PF_EDENIED)
            goto fenced;
        if (rc != PF_OK)
            goto retry;
    }
    return;

fenced:
    /* Another controller holds the lease: stop at once, write nothing more. */
    ctl_step_down(ctx, "write FENCED: another controller holds the lease");
    return;

retry:
    /* Providers must be rewritten after the reconnect. */
    for (size_t i = 0; i < ctx->nproviders; i++)
        ctx->providers[i]->is_dirty = 1;
    ctx->is_sync_wanted = 1;
    ctl_arm_sync(ctx, redis_retry_in_ms(ctx->redis, clock_mono_ms()) + 1);
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

static void ctl_health_update(void *arg)
{
    struct ctl_ctx *ctx = arg;

    ctx->is_sync_wanted = 1;
    ctl_arm_sync(ctx, 0);
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
    if (ctx->lease.is_leader && lease_release(&ctx->lease) != PF_OK)
        log_warn("lease: release failed, ignored: it expires in %lld ms",
                 (long long)ctx->lease.lease_ms);
    event_base_loopbreak(ctx->base);
}

/* SIGHUP: re-reads the config file. A bad file keeps the old config (one
 * error line); a good one rebuilds the providers, which keep their
 * upstreams and counters but lose fatal and breaker state. Redis, admin,
 * id and health settings need a restart. */
static void ctl_reload(struct ctl_ctx *ctx)
{
    struct conf nc, old;
    struct keys nk;
    struct pf_err err;
    struct provider **nps = NULL;
    size_t nn = 0;
    enum pf_log_level level = PF_LOG_INFO;

    pf_err_clear(&err);
    if (conf_load_file(&nc, ctx->config_path, &err) != PF_OK ||
        keys_init(&nk, nc.redis.prefix, &err) != PF_OK ||
        log_parse_level(nc.log_level, &level) != PF_OK) {
        log_error("reload: %s: %s; keeping the old config", ctx->config_path,
                  err.msg[0] ? err.msg : "log.level: unknown level");
        conf_deinit(&nc);
        ctx->reload_errors++;
        return;
    }
    for (int i = 0; i < nc.controller.nproviders; i++) {
        const struct conf_provider *cp = &nc.controller.providers[i];
        if (cp->type == CONF_PROVIDER_STATIC && provider_check_static(cp, &err) != PF_OK) {
            log_error("reload: %s: controller.providers[%d].%s; keeping the old config",
                      ctx->config_path, i, err.msg);
            conf_deinit(&nc);
            ctx->reload_errors++;
            return;
        }
    }
    if (strcmp(nc.redis.url, ctx->conf.redis.url) != 0 ||
        strcmp(nc.redis.prefix, ctx->conf.redis.prefix) != 0 ||
        strcmp(nc.redis.credential_key_file, ctx->conf.redis.credential_key_file) != 0 ||
        strcmp(nc.controller.admin_listen, ctx->conf.controller.admin_listen) != 0 ||
        strcmp(nc.controller.id, ctx->conf.controller.id) != 0)
        log_warn("reload: redis, admin_listen and id changes need a restart, ignored");
    if (nc.controller.nproviders > 0) {
        nps = calloc((size_t)nc.controller.nproviders, sizeof(*nps));
        if (nps == NULL) {
            log_error("reload: out of memory; keeping the old config");
            conf_deinit(&nc);
            ctx->reload_errors++;
            return;
        }
    }
    /* What the running process borrows stays: swap it back into <nc>. */
    struct conf_redis redis = nc.redis;
    nc.redis = ctx->conf.redis;
    ctx->conf.redis = redis;
    struct conf_health health = nc.controller.health;
    nc.controller.health = ctx->conf.controller.health;
    ctx->conf.controller.health = health;
    memcpy(nc.controller.id, ctx->conf.controller.id, sizeof(nc.controller.id));
    memcpy(nc.controller.admin_listen, ctx->conf.controller.admin_listen,
           sizeof(nc.controller.admin_listen));
    nc.controller.lease_ms = ctx->conf.controller.lease_ms;
    nc.controller.heartbeat_interval_ms = ctx->conf.controller.heartbeat_interval_ms;
    old = ctx->conf;
    ctx->conf = nc;
    for (int i = 0; i < ctx->conf.controller.nproviders; i++) {
        struct provider *p = provider_create(ctx->base, ctx->fetch, &ctx->conf.controller.providers[i],
                                             i, ctl_provider_update, ctx);
        if (p == NULL) {
            log_error("reload: provider %s: out of memory, dropped",
                      ctx->conf.controller.providers[i].name);
            continue;
        }
        for (size_t j = 0; j < ctx->nproviders; j++)
            if (ctx->providers[j] != NULL &&
                strcmp(ctx->providers[j]->conf->name, p->conf->name) == 0)
                provider_adopt(p, ctx->providers[j]);
        nps[nn++] = p;
    }
    for (size_t j = 0; j < ctx->nproviders; j++)
        provider_destroy(ctx->providers[j]);
    free(ctx->providers);
    ctx->providers = nps;
    ctx->nproviders = nn;
    conf_deinit(&old);
    log_set_level(level);
    ctx->reloads++;
    log_info("reload: %s: %zu providers", ctx->config_path, nn);
    if (ctx->lease.is_leader) {
        for (size_t i = 0; i < ctx->nproviders; i++)
            if (provider_start(ctx->providers[i]) != PF_OK)
                log_error("provider %s: cannot start", ctx->providers[i]->conf->name);
        ctx->is_sync_wanted = 1;
        ctl_arm_sync(ctx, 0);
    }
}

static void ctl_sighup_cb(evutil_socket_t sig, short what, void *arg)
{
    (void)sig;
    (void)what;
    log_info("signal SIGHUP: reloading the config");
    ctl_reload(arg);
}

static void ctl_destroy(struct ctl_ctx *ctx)
{
    admin_http_destroy(ctx->admin);
    for (size_t i = 0; i < ctx->nproviders; i++)
        provider_destroy(ctx->providers[i]);
    free(ctx->providers);
    health_check_destroy(ctx->health);
    fetch_destroy(ctx->fetch);
    publish_destroy(ctx->pub);
    redis_destroy(ctx->redis);
    if (ctx->sync_ev != NULL)
        event_free(ctx->sync_ev);
    if (ctx->heartbeat_ev != NULL)
        event_free(ctx->heartbeat_ev);
    if (ctx->sigint_ev != NULL)
        event_free(ctx->sigint_ev);
    if (ctx->sigterm_ev != NULL)
        event_free(ctx->sigterm_ev);
    if (ctx->sighup_ev != NULL)
        event_free(ctx->sighup_ev);
    if (ctx->lease_ev != NULL)
        event_free(ctx->lease_ev);
    if (ctx->base != NULL)
        event_base_free(ctx->base);
    seal_key_destroy(ctx->cred_key);
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
    ctx->redis = redis_create(&ctx->conf.redis);
    ctx->pub = ctx->redis != NULL ? publish_create(ctx->redis, &ctx->keys, cc->id, ctx->cred_key)
                                  : NULL;
    ctx->sync_ev = evtimer_new(ctx->base, ctl_sync_cb, ctx);
    ctx->heartbeat_ev = event_new(ctx->base, -1, EV_PERSIST, ctl_heartbeat_cb, ctx);
    ctx->sigint_ev = evsignal_new(ctx->base, SIGINT, ctl_signal_cb, ctx);
    ctx->sigterm_ev = evsignal_new(ctx->base, SIGTERM, ctl_signal_cb, ctx);
    ctx->sighup_ev = evsignal_new(ctx->base, SIGHUP, ctl_sighup_cb, ctx);
    ctx->lease_ev = evtimer_new(ctx->base, ctl_lease_cb, ctx);
    if (ctx->fetch == NULL || ctx->pub == NULL || ctx->sync_ev == NULL ||
        ctx->heartbeat_ev == NULL || ctx->sigint_ev == NULL || ctx->sigterm_ev == NULL ||
        ctx->sighup_ev == NULL || ctx->lease_ev == NULL)
        return PF_ENOMEM;
    lease_init(&ctx->lease, ctx->redis, &ctx->keys, cc->id, cc->lease_ms);
    if (cc->health.is_enabled) {
        ctx->health = health_check_create(ctx->base, ctx->fetch, ctx->redis, &ctx->keys, &cc->health,
                                    ctl_health_update, ctx);
        if (ctx->health == NULL)
            return PF_ENOMEM;
    }
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
        event_add(ctx->sighup_ev, NULL) != 0 || event_add(ctx->heartbeat_ev, &hb) != 0)
        return PF_EIO;
    /* Providers start when the lease is ours (ctl_become_leader). */
    ctl_arm_lease(ctx, 0);
    return PF_OK;
}

int main(int argc, char **argv)
{
    const char *path = NULL;
    int is_check = 0;
    int status = CTL_EXIT_FATAL;
    struct ctl_ctx ctx;
    struct pf_err err;

    struct cli_opts opts;
    switch (cli_parse(argc, argv, &opts)) {
    case CLI_VERSION:
        cli_print_version(stdout, "proxyfleet-controller");
        return 0;
    case CLI_HELP:
        cli_print_usage(stdout, "proxyfleet-controller");
        return 0;
    case CLI_USAGE_ERROR:
        cli_print_usage(stderr, "proxyfleet-controller");
        return CTL_EXIT_CONFIG;
    case CLI_CHECK_CONFIG:
        is_check = 1;
        break;
    case CLI_RUN:
        break;
    }
    path = opts.config_path;

    memset(&ctx, 0, sizeof(ctx));
    ctx.config_path = path;
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
    if (ctx.conf.redis.credential_key_file[0] != '\0') {
        ctx.cred_key = seal_key_load(ctx.conf.redis.credential_key_file, &err);
        if (ctx.cred_key == NULL) {
            fprintf(stderr, "config: %s: redis.credential_key_file: %s\n", path, err.msg);
            conf_deinit(&ctx.conf);
            return CTL_EXIT_CONFIG;
        }
    }
    if (is_check) {
        seal_key_destroy(ctx.cred_key);
        conf_deinit(&ctx.conf);
        return CTL_EXIT_OK;
    }
    log_set_level(level);
    if (ctx.cred_key == NULL)
        log_warn("redis.credential_key_file is not set: upstream passwords are stored in Redis "
                 "in clear; to seal them, write 64 hex chars (openssl rand -hex 32) to a file "
                 "with mode 0600 and set redis.credential_key_file to it on the controller and "
                 "every node");
    else if (ctx.cred_key->is_mode_loose)
        log_warn("credential key file %s is accessible to group or others; chmod 600 it",
                 ctx.conf.redis.credential_key_file);

    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        log_error("curl_global_init failed");
        seal_key_destroy(ctx.cred_key);
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
