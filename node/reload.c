/* SIGHUP reload and SIGUSR1 reopen; see reload.h. */
#include "reload.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/dns.h>
#include <event2/event.h>

#include "access_log.h"
#include "auth.h"
#include "conf_gen.h"
#include "fd_budget.h"
#include "log.h"
#include "notify.h"
#include "policy.h"

struct reload {
    struct node_ctx *ctx;               /* borrowed */
    struct event    *sighup;            /* owned */
    struct event    *sigusr1;           /* owned */
};

/* The checks node_ctx_create() makes beyond the schema, on <nc> as it
 * would run (restart-only keys already at their running values). */
static int check(const struct conf *nc, enum pf_log_level *level, enum pf_log_format *format,
                 struct pf_err *err)
{
    if (log_parse_level(nc->log_level, level) != PF_OK)
        return pf_err_set(err, PF_EINVAL, "log.level: bad level");
    if (log_parse_format(nc->log_format, format) != PF_OK)
        return pf_err_set(err, PF_EINVAL, "log.format: bad format");
    if (auth_check_conf(&nc->node, err) != PF_OK)
        return PF_EINVAL;
    return policy_check_open_proxy(&nc->node, err);
}

/* Sets up what a reload applies outside the generation: the descriptor
 * budget of a new max_clients and the DNS timeout. */
static void apply_limits(struct node_ctx *ctx, const struct conf_node *before)
{
    const struct conf_node *cn = &ctx->conf.node;
    if (cn->max_clients != before->max_clients) {
        struct fd_budget b;
        ctx->max_clients = cn->max_clients;
        if (fd_budget_plan(cn->max_clients, &b) == PF_OK) {
            ctx->rejecting_max = b.rejecting_max;
            if (b.is_short) {
                ctx->max_clients = PF_MAX_OF(b.max_clients, 1);
                log_warn("reload: descriptors: RLIMIT_NOFILE %llu is short of the %llu that "
                         "node.max_clients %d needs; serving at most %d clients",
                         (unsigned long long)b.limit, (unsigned long long)b.need,
                         cn->max_clients, ctx->max_clients);
            }
        }
    }
    if (cn->connect_timeout_ms != before->connect_timeout_ms && ctx->dns != NULL) {
        char secs[32];
        snprintf(secs, sizeof(secs), "%d", PF_MAX_OF(1, cn->connect_timeout_ms / 1000));
        if (evdns_base_set_option(ctx->dns, "timeout:", secs) != 0)
            log_warn("reload: setting the DNS timeout failed, ignored");
    }
}

void reload_run(struct node_ctx *ctx)
{
    struct pf_err err;
    enum pf_log_level level = PF_LOG_INFO;
    enum pf_log_format format = PF_LOG_TEXT;
    struct access_log *al = NULL;
    struct conf_gen *gen = NULL;
    struct conf old;
    char restart[512], changed[1024];
    int nrestart = 0, nchanged = 0, rc;

    notify_reloading(ctx);
    pf_err_clear(&err);
    struct conf *nc = malloc(sizeof(*nc));
    if (nc == NULL) {
        rc = pf_err_set(&err, PF_ENOMEM, "out of memory");
        goto fail;
    }
    rc = conf_load_file(nc, ctx->config_path, &err);
    if (rc != PF_OK)
        goto fail;
    nrestart = conf_gen_restart_keys(&ctx->conf, nc, restart, sizeof(restart));
    conf_gen_keep_restart(nc, &ctx->conf);
    nchanged = conf_gen_changed_keys(&ctx->conf, nc, changed, sizeof(changed));
    rc = check(nc, &level, &format, &err);
    if (rc != PF_OK)
        goto fail;
    if (strcmp(nc->node.access_log, ctx->conf.node.access_log) != 0 &&
        nc->node.access_log[0] != '\0') {
        al = access_log_open(nc->node.access_log, &err);
        if (al == NULL) {
            rc = PF_EIO;
            pf_err_prefix(&err, "node.access_log: ");
            goto fail;
        }
    }
    gen = conf_gen_create(&nc->node, ctx->gen->id + 1);
    if (gen == NULL) {
        rc = pf_err_set(&err, PF_ENOMEM, "out of memory");
        goto fail;
    }

    /* commit: nothing below can fail */
    old = ctx->conf;
    ctx->conf = *nc;                    /* takes what nc owns */
    free(nc);
    nc = NULL;
    if (strcmp(old.node.access_log, ctx->conf.node.access_log) != 0) {
        access_log_destroy(ctx->access_log);
        ctx->access_log = al;           /* NULL when turned off */
        al = NULL;
    }
    conf_gen_put(ctx->gen);             /* conns in flight keep theirs */
    ctx->gen = gen;
    log_set_level(level);
    log_set_format(format);
    apply_limits(ctx, &old.node);
    conf_deinit(&old);
    ctx->stats.reloads++;
    log_info("reload: %s: settings generation %llu, %s%s", ctx->config_path,
             (unsigned long long)ctx->gen->id, nchanged > 0 ? "changed: " : "nothing changed",
             nchanged > 0 ? changed : "");
    for (int i = 0; i < ctx->conf.warnings.n && i < CONF_WARNINGS_MAX; i++)
        log_warn("reload: config: %s", ctx->conf.warnings.msg[i]);
    if (nrestart > 0)
        log_warn("reload: %s need%s a restart; the running value%s stay%s", restart,
                 nrestart == 1 ? "s" : "", nrestart == 1 ? "" : "s", nrestart == 1 ? "s" : "");
    notify_state(ctx, "READY=1");
    return;

fail:
    ctx->stats.reload_errors++;
    log_error("reload: %s: %s; keeping the running config (settings generation %llu)",
              ctx->config_path, err.msg[0] != '\0' ? err.msg : pf_strstatus(rc),
              (unsigned long long)ctx->gen->id);
    access_log_destroy(al);
    if (nc != NULL) {
        conf_deinit(nc);
        free(nc);
    }
    notify_state(ctx, "READY=1");
}

static void sighup_cb(evutil_socket_t sig, short what, void *arg)
{
    (void)sig; (void)what;
    struct reload *r = arg;
    if (r->ctx->is_draining)
        return;                         /* stopping anyway: nothing to reload for */
    log_info("signal SIGHUP: reloading %s", r->ctx->config_path);
    reload_run(r->ctx);
}

static void sigusr1_cb(evutil_socket_t sig, short what, void *arg)
{
    (void)sig; (void)what;
    struct reload *r = arg;
    struct node_ctx *ctx = r->ctx;
    struct pf_err err;
    pf_err_clear(&err);
    if (ctx->access_log == NULL) {
        log_info("signal SIGUSR1: no access log to reopen");
        return;
    }
    if (access_log_reopen(ctx->access_log, &err) != PF_OK)
        log_error("signal SIGUSR1: %s; still writing to the old file", err.msg);
    else
        log_info("signal SIGUSR1: access log %s reopened", access_log_dest(ctx->access_log));
}

struct reload *reload_create(struct node_ctx *ctx)
{
    struct reload *r = calloc(1, sizeof(*r));
    if (r == NULL)
        return NULL;
    r->ctx = ctx;
    r->sighup = evsignal_new(ctx->base, SIGHUP, sighup_cb, r);
    r->sigusr1 = evsignal_new(ctx->base, SIGUSR1, sigusr1_cb, r);
    if (r->sighup == NULL || r->sigusr1 == NULL || evsignal_add(r->sighup, NULL) != 0 ||
        evsignal_add(r->sigusr1, NULL) != 0) {
        reload_destroy(r);
        return NULL;
    }
    return r;
}

void reload_destroy(struct reload *r)
{
    if (r == NULL)
        return;
    if (r->sighup != NULL)
        event_free(r->sighup);
    if (r->sigusr1 != NULL)
        event_free(r->sigusr1);
    free(r);
}
