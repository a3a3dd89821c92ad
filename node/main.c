/* proxyfleet-node: args, config, one context, wiring, loop, clean shutdown. */
#include <arpa/inet.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/dns.h>
#include <event2/event.h>

#include "addr.h"
#include "admin_http.h"
#include "cli.h"
#include "clock.h"
#include "conf.h"
#include "conn.h"
#include "http_proxy.h"
#include "keys.h"
#include "listener.h"
#include "log.h"
#include "node.h"
#include "pool_cache.h"
#include "pool_sync.h"
#include "redis_link.h"
#include "report.h"
#include "seal.h"
#include "snapshot_file.h"

#define EXIT_BAD_CONFIG 2
#define EXIT_RUNTIME    1

static void drain_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd; (void)what;
    struct node_ctx *ctx = arg;
    log_info("drain: grace time over, closing %llu connections",
             (unsigned long long)ctx->stats.conns_active);
    ctx->is_stopping = 1;
    event_base_loopbreak(ctx->base);
}

/* First SIGTERM/SIGINT: drain (stop accepting, /readyz 503, let in-flight
 * exchanges and tunnels finish for node.drain_grace_ms); a second one, or
 * the end of the grace time, stops at once. */
static void stop_cb(evutil_socket_t sig, short what, void *arg)
{
    (void)what;
    struct node_ctx *ctx = arg;
    if (ctx->is_draining || ctx->conf.node.drain_grace_ms == 0) {
        log_info("signal %d: shutting down", (int)sig);
        ctx->is_stopping = 1;
        event_base_loopbreak(ctx->base);
        return;
    }
    ctx->is_draining = 1;
    /* closed listeners refuse new connections instead of queueing them */
    listener_destroy(ctx->listener);
    ctx->listener = NULL;
    listener_destroy(ctx->socks5_listener);
    ctx->socks5_listener = NULL;
    for (struct conn *c = ctx->conns, *next; c != NULL; c = next) {
        next = c->next;
        if (c->state == CONN_ST_READ_HEAD && !c->is_head_started)
            conn_close(c, CONN_ERR_SHUTDOWN);    /* idle: nothing in flight */
    }
    log_info("signal %d: draining %llu connections for up to %d ms", (int)sig,
             (unsigned long long)ctx->stats.conns_active, ctx->conf.node.drain_grace_ms);
    if (ctx->conns == NULL) {
        event_base_loopbreak(ctx->base);
        return;
    }
    int ms = ctx->conf.node.drain_grace_ms;
    struct timeval tv = { .tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000 };
    if (ctx->drain_timer == NULL || evtimer_add(ctx->drain_timer, &tv) != 0) {
        ctx->is_stopping = 1;
        event_base_loopbreak(ctx->base);
    }
}

/* Refuses an open proxy: a listener off loopback needs node.users unless
 * node.allow_anonymous. Returns PF_OK or PF_EDENIED with the reason in <err>. */
static int check_open_proxy(const struct conf_node *cn, struct pf_err *err)
{
    const char *addrs[2] = { cn->listen, cn->socks5_listen };
    const char *names[2] = { "node.listen", "node.socks5_listen" };
    if (cn->nusers > 0 || cn->is_anonymous_allowed)
        return PF_OK;
    for (int i = 0; i < 2; i++) {
        char host[UPSTREAM_HOST_MAX];
        uint16_t port;
        struct pf_err perr;
        if (addrs[i][0] == '\0' || addr_parse_hostport(addrs[i], host, sizeof(host), &port, &perr) != PF_OK)
            continue;
        struct sockaddr_in6 s6;
        struct sockaddr_in s4;
        memset(&s6, 0, sizeof(s6));
        memset(&s4, 0, sizeof(s4));
        const struct sockaddr *sa = NULL;
        if (inet_pton(AF_INET, host, &s4.sin_addr) == 1) {
            s4.sin_family = AF_INET;
            sa = (const struct sockaddr *)&s4;
        } else if (inet_pton(AF_INET6, host, &s6.sin6_addr) == 1) {
            s6.sin6_family = AF_INET6;
            sa = (const struct sockaddr *)&s6;
        }
        if (sa == NULL || addr_classify(sa) != ADDR_LOOPBACK)
            return pf_err_set(err, PF_EDENIED, "%s %s is not on loopback: configure node.users "
                              "or set node.allow_anonymous: true (an open proxy)", names[i], addrs[i]);
    }
    return PF_OK;
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

/* Fills the pool from node.snapshot_file before Redis is tried, so a node
 * that cannot reach Redis at boot serves the last known pool. Never fatal:
 * a missing or corrupt file leaves the pool empty until Redis fills it. */
static void load_snapshot_file(struct node_ctx *ctx)
{
    const char *path = ctx->conf.node.snapshot_file;
    struct snapshot_file_info info;
    struct pf_err err;
    pf_err_clear(&err);
    int rc = snapshot_file_load(path, ctx->cred_key, &ctx->pool, clock_mono_ms(), &info, &err);
    if (rc == PF_ENOENT) {
        log_info("snapshot file %s not found; starting with an empty pool", path);
        return;
    }
    if (rc != PF_OK) {
        log_error("%s; starting with an empty pool", err.msg);
        return;
    }
    if (info.nbad > 0)
        log_warn("snapshot file %s: skipped %zu bad upstream record%s (first: %s)", path,
                 info.nbad, info.nbad == 1 ? "" : "s", info.first_bad);
    log_info("loaded %zu upstreams from snapshot file %s (version %" PRId64 ", epoch %s)",
             info.count, path, info.version, info.epoch);
}

int main(int argc, char **argv)
{
    struct cli_opts opts;
    int is_check_only = 0;
    switch (cli_parse(argc, argv, &opts)) {
    case CLI_VERSION:
        cli_print_version(stdout, "proxyfleet-node");
        return 0;
    case CLI_HELP:
        cli_print_usage(stdout, "proxyfleet-node");
        return 0;
    case CLI_USAGE_ERROR:
        cli_print_usage(stderr, "proxyfleet-node");
        return EXIT_BAD_CONFIG;
    case CLI_CHECK_CONFIG:
        is_check_only = 1;
        break;
    case CLI_RUN:
        break;
    }
    const char *config = opts.config_path;
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
    if (check_open_proxy(&ctx->conf.node, &err) != PF_OK) {
        fprintf(stderr, "config: %s\n", err.msg);
        status = EXIT_BAD_CONFIG;
        goto out_conf;
    }
    if (ctx->conf.node.mode == CONF_NODE_POOL && ctx->conf.redis.credential_key_file[0] != '\0') {
        ctx->cred_key = seal_key_load(ctx->conf.redis.credential_key_file, &err);
        if (ctx->cred_key == NULL) {
            fprintf(stderr, "config: redis.credential_key_file: %s\n", err.msg);
            status = EXIT_BAD_CONFIG;
            goto out_conf;
        }
    }
    if (is_check_only) {
        status = 0;
        goto out_conf;
    }
    log_set_level(level);
    if (ctx->cred_key != NULL && ctx->cred_key->is_mode_loose)
        log_warn("credential key file %s is accessible to group or others; chmod 600 it",
                 ctx->conf.redis.credential_key_file);
    signal(SIGPIPE, SIG_IGN);
    ctx->started_at_ms = clock_wall_ms();
    pool_cache_init(&ctx->pool);
    pool_cache_set_policy(&ctx->pool, &ctx->conf.node.upstream_policy);
    rng_seed_os(&ctx->rng);

    /* The epoll changelist folds the add/del pairs a bufferevent makes within
     * one loop turn into at most one epoll_ctl per fd (28 -> 18 syscalls per
     * new tunnel, docs/benchmarks.md). libevent's caveat: it is unsafe when
     * two fds are dup()s of one file and both have events; the node never
     * dup()s a socket (every fd comes from accept, socket or evdns/hiredis). */
    struct event_config *ecfg = event_config_new();
    if (ecfg != NULL) {
        event_config_set_flag(ecfg, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
        ctx->base = event_base_new_with_config(ecfg);
        event_config_free(ecfg);
    }
    if (ctx->base == NULL || setup_dns(ctx) != PF_OK || conn_module_init(ctx) != PF_OK ||
        http_proxy_init(ctx) != PF_OK) {
        log_error("start-up failed: out of memory");
        goto out;
    }
    ctx->drain_timer = evtimer_new(ctx->base, drain_timeout_cb, ctx);
    sigint = evsignal_new(ctx->base, SIGINT, stop_cb, ctx);
    sigterm = evsignal_new(ctx->base, SIGTERM, stop_cb, ctx);
    if (sigint == NULL || sigterm == NULL || evsignal_add(sigint, NULL) != 0 ||
        evsignal_add(sigterm, NULL) != 0) {
        log_error("installing signal handlers failed");
        goto out;
    }
    if (ctx->conf.node.mode == CONF_NODE_POOL) {
        if (ctx->conf.node.snapshot_file[0] != '\0')
            load_snapshot_file(ctx);
        ctx->redis = redis_link_create(ctx->base, &ctx->conf.redis, ctx->keys.pool_channel, &err);
        if (ctx->redis == NULL) {
            log_error("redis link: %s", err.msg);
            goto out;
        }
        ctx->sync = pool_sync_create(ctx->base, ctx->redis, &ctx->conf.redis, &ctx->keys,
                                     &ctx->pool, ctx->cred_key, &err);
        if (ctx->sync == NULL) {
            log_error("%s", err.msg);
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
    if (ctx->conf.node.socks5_listen[0] != '\0') {
        ctx->socks5_listener = listener_create_socks5(ctx, &err);
        if (ctx->socks5_listener == NULL) {
            log_error("%s", err.msg);
            goto out;
        }
        log_info("socks5 listening on %s", ctx->conf.node.socks5_listen);
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
    listener_destroy(ctx->socks5_listener);
    if (ctx->reaper != NULL)
        conn_close_all(ctx);
    admin_http_destroy(ctx->admin);
    report_destroy(ctx->report);
    pool_sync_destroy(ctx->sync);
    redis_link_destroy(ctx->redis);
    pool_cache_deinit(&ctx->pool);
    http_proxy_deinit(ctx);
    conn_module_deinit(ctx);
    if (ctx->drain_timer != NULL)
        event_free(ctx->drain_timer);
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
    seal_key_destroy(ctx->cred_key);
    conf_deinit(&ctx->conf);
    free(ctx);
    return status;
}
