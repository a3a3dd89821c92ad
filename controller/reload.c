/* SIGHUP reload of the controller's config; see reload.h. */
#include "reload.h"

#include <stdlib.h>
#include <string.h>

#include "keys.h"
#include "log.h"
#include "provider.h"
#include "sync.h"

/* 1 when a setting of the Redis connection differs (they need a restart). */
static int reload_redis_changed(const struct conf_redis *a, const struct conf_redis *b)
{
    if (strcmp(a->url, b->url) != 0 || strcmp(a->prefix, b->prefix) != 0 ||
        strcmp(a->credential_key_file, b->credential_key_file) != 0 ||
        strcmp(a->master_name, b->master_name) != 0 ||
        strcmp(a->sentinel_user, b->sentinel_user) != 0 ||
        strcmp(a->sentinel_password, b->sentinel_password) != 0 ||
        a->nsentinels != b->nsentinels)
        return 1;
    for (int i = 0; i < a->nsentinels; i++)
        if (a->sentinels[i].port != b->sentinels[i].port ||
            strcmp(a->sentinels[i].host, b->sentinels[i].host) != 0)
            return 1;
    return 0;
}

void reload_run(struct ctl_ctx *ctx)
{
    struct conf nc, old;
    struct keys nk;
    struct pf_err err;
    struct provider **nps = NULL;
    size_t nn = 0;
    enum pf_log_level level = PF_LOG_INFO;
    enum pf_log_format format = PF_LOG_TEXT;

    pf_err_clear(&err);
    if (conf_load_file(&nc, ctx->config_path, &err) != PF_OK ||
        keys_init(&nk, nc.redis.prefix, &err) != PF_OK ||
        log_parse_level(nc.log_level, &level) != PF_OK ||
        log_parse_format(nc.log_format, &format) != PF_OK) {
        log_error("reload: %s: %s; keeping the old config", ctx->config_path,
                  err.msg[0] ? err.msg : "log: unknown level or format");
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
    if (reload_redis_changed(&nc.redis, &ctx->conf.redis) ||
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
                                             i, sync_on_provider, ctx);
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
    log_set_format(format);
    ctx->reloads++;
    log_info("reload: %s: %zu providers", ctx->config_path, nn);
    sync_providers_changed(ctx);
}
