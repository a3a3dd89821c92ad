/* SIGHUP reload of the controller's config; see reload.h. */
#include "reload.h"

#include <stdlib.h>
#include <string.h>

#include "keys.h"
#include "log.h"
#include "provider.h"
#include "sync.h"

void reload_run(struct ctl_ctx *ctx)
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
    for (int i = 0; i < ctx->conf.warnings.n && i < CONF_WARNINGS_MAX; i++)
        log_warn("reload: config: %s", ctx->conf.warnings.msg[i]);
    ctx->reloads++;
    log_info("reload: %s: %zu providers", ctx->config_path, nn);
    sync_providers_changed(ctx);
}
