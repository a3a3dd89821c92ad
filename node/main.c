/* proxyfleet-node: args, config, one context, wiring, loop, clean shutdown. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/dns.h>
#include <event2/event.h>

#include "admin_http.h"
#include "clock.h"
#include "conf.h"
#include "conn.h"
#include "http_proxy.h"
#include "keys.h"
#include "listener.h"
#include "log.h"
#include "node.h"
#include "pool_cache.h"
#include "redis_link.h"
#include "report.h"

#define EXIT_BAD_CONFIG 2
#define EXIT_RUNTIME    1

static void usage(FILE *f)
{
    fprintf(f, "usage: proxyfleet-node --config FILE [--check-config]\n");
}

static void stop_cb(evutil_socket_t sig, short what, void *arg)
{
    (void)what;
    struct node_ctx *ctx = arg;
    log_info("signal %d: shutting down", (int)sig);
    ctx->is_stopping = 1;
    event_base_loopbreak(ctx->base);
}

static int setup_dns(struct node_ctx *ctx)
{
    ctx->dns = evdns_base_new(ctx->base, 0);
    if (ctx->dns == NULL)
        return PF_ENOMEM;
    /* a missing resolv.conf leaves a default nameserver; /etc/hosts is always loaded */
    int rc = evdns_base_resolv_conf_parse(ctx->dns, DNS_OPTIONS_ALL, "/etc/resolv.conf");
    if (rc != 0)
        log_warn("reading /etc/resolv.conf failed (code %d), ignored", rc);
    if (evdns_base_load_hosts(ctx->dns, NULL) != 0)
        log_warn("reading /etc/hosts failed, ignored");
    char secs[32];
    snprintf(secs, sizeof(secs), "%d", PF_MAX_OF(1, ctx->conf.node.connect_timeout_ms / 1000));
    if (evdns_base_set_option(ctx->dns, "timeout:", secs) != 0)
        log_warn("setting the DNS timeout failed, ignored");
    return PF_OK;
}

int main(int argc, char **argv)
{
    const char *config = NULL;
    int is_check_only = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--config") == 0 && i + 1 < argc) {
            config = argv[++i];
        } else if (strcmp(argv[i], "--check-config") == 0) {
            is_check_only = 1;
        } else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return 0;
        } else {
            usage(stderr);
            return EXIT_BAD_CONFIG;
        }
    }
    if (config == NULL) {
        usage(stderr);
        return EXIT_BAD_CONFIG;
    }
    log_set_ident("node");

    int status = EXIT_RUNTIME;
    struct event *sigint = NULL, *sigterm = NULL;
    struct pf_err err;
    pf_err_clear(&err);
    struct node_ctx *ctx = calloc(1, sizeof(*ctx));
    if (ctx == NULL) {
        log_error("out of memory");
        return EXIT_RUNTIME;
    }
    if (conf_load_file(&ctx->conf, config, &err) != PF_OK) {
        fprintf(stderr, "config: %s\n", err.msg);
        status = EXIT_BAD_CONFIG;
        goto out_conf;
    }
    enum pf_log_level level;
    if (log_parse_level(ctx->conf.log_level, &level) != PF_OK) {
        fprintf(stderr, "config: log.level: bad level\n");
        status = EXIT_BAD_CONFIG;
        goto out_conf;
    }
    if (ctx->conf.node.mode == CONF_NODE_POOL && keys_init(&ctx->keys, ctx->conf.redis.prefix, &err) != PF_OK) {
        fprintf(stderr, "config: redis.prefix: %s\n", err.msg);
        status = EXIT_BAD_CONFIG;
        goto out_conf;
    }
    if (is_check_only) {
        status = 0;
        goto out_conf;
    }
    log_set_level(level);
    signal(SIGPIPE, SIG_IGN);
    ctx->started_at_ms = clock_wall_ms();
    pool_cache_init(&ctx->pool);

    ctx->base = event_base_new();
    if (ctx->base == NULL || setup_dns(ctx) != PF_OK || conn_module_init(ctx) != PF_OK ||
        http_proxy_init(ctx) != PF_OK) {
        log_error("start-up failed: out of memory");
        goto out;
    }
    sigint = evsignal_new(ctx->base, SIGINT, stop_cb, ctx);
    sigterm = evsignal_new(ctx->base, SIGTERM, stop_cb, ctx);
    if (sigint == NULL || sigterm == NULL || evsignal_add(sigint, NULL) != 0 ||
        evsignal_add(sigterm, NULL) != 0) {
        log_error("installing signal handlers failed");
        goto out;
    }
    if (ctx->conf.node.mode == CONF_NODE_POOL) {
        ctx->redis = redis_link_create(ctx->base, &ctx->conf.redis, &ctx->keys, &ctx->pool, &err);
        if (ctx->redis == NULL) {
            log_error("redis link: %s", err.msg);
            goto out;
        }
        ctx->report = report_create(ctx);
        if (ctx->report == NULL) {
            log_error("report: out of memory");
            goto out;
        }
    }
    ctx->listener = listener_create(ctx, &err);
    if (ctx->listener == NULL) {
        log_error("%s", err.msg);
        goto out;
    }
    if (ctx->conf.node.admin_listen[0] != '\0') {
        ctx->admin = admin_http_create(ctx, &err);
        if (ctx->admin == NULL) {
            log_error("%s", err.msg);
            goto out;
        }
        log_info("admin listening on %s", ctx->conf.node.admin_listen);
    }
    log_info("listening on %s (node %s, mode %s)", ctx->conf.node.listen, ctx->conf.node.id,
             ctx->conf.node.mode == CONF_NODE_POOL ? "pool" : "direct");
    if (event_base_dispatch(ctx->base) < 0) {
        log_error("event loop failed");
        goto out;
    }
    status = 0;
out:
    listener_destroy(ctx->listener);
    if (ctx->reaper != NULL)
        conn_close_all(ctx);
    admin_http_destroy(ctx->admin);
    report_destroy(ctx->report);
    redis_link_destroy(ctx->redis);
    pool_cache_deinit(&ctx->pool);
    http_proxy_deinit(ctx);
    conn_module_deinit(ctx);
    if (sigint != NULL)
        event_free(sigint);
    if (sigterm != NULL)
        event_free(sigterm);
    if (ctx->dns != NULL)
        evdns_base_free(ctx->dns, 0);
    if (ctx->base != NULL)
        event_base_free(ctx->base);
    if (status == 0)
        log_info("%s", "stopped");
out_conf:
    conf_deinit(&ctx->conf);
    free(ctx);
    return status;
}
