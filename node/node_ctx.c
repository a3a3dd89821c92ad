/* The node's context: create, start, run, destroy; see node_ctx.h. */
#include "node_ctx.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/dns.h>
#include <event2/event.h>

#include "access_log.h"
#include "admin_http.h"
#include "auth.h"
#include "ban_sync.h"
#include "clock.h"
#include "conf.h"
#include "conf_gen.h"
#include "conn.h"
#include "drain.h"
#include "fd_budget.h"
#include "keys.h"
#include "listener.h"
#include "log.h"
#include "notify.h"
#include "policy.h"
#include "pool_cache.h"
#include "pool_sync.h"
#include "preconnect.h"
#include "redis_link.h"
#include "reload.h"
#include "report.h"
#include "user_meter.h"
#include "user_store.h"
#include "rng.h"
#include "seal.h"
#include "snapshot_file.h"
#include "upstream_idle.h"
#include "upstream_tls.h"

int node_ctx_create(const char *path, struct node_ctx **out, struct pf_err *err)
{
    *out = NULL;
    struct node_ctx *ctx = calloc(1, sizeof(*ctx));
    if (ctx == NULL)
        return pf_err_set(err, PF_ENOMEM, "out of memory");
    ctx->config_path = path;
    int rc = conf_load_file(&ctx->conf, path, err);
    enum pf_log_level level;
    enum pf_log_format format;
    if (rc == PF_OK && log_parse_level(ctx->conf.log_level, &level) != PF_OK)
        rc = pf_err_set(err, PF_EINVAL, "log.level: bad level");
    if (rc == PF_OK && log_parse_format(ctx->conf.log_format, &format) != PF_OK)
        rc = pf_err_set(err, PF_EINVAL, "log.format: bad format");
    if (rc == PF_OK && ctx->conf.node.mode == CONF_NODE_POOL &&
        (rc = keys_init(&ctx->keys, ctx->conf.redis.prefix, err)) != PF_OK)
        pf_err_prefix(err, "redis.prefix: ");
    if (rc == PF_OK)
        rc = auth_check_conf(&ctx->conf.node, err);
    if (rc == PF_OK)
        rc = policy_check_open_proxy(&ctx->conf.node, err);
    if (rc == PF_OK && ctx->conf.node.is_redis_users && ctx->conf.node.mode != CONF_NODE_POOL)
        rc = pf_err_set(err, PF_EINVAL, "node.redis_users: needs node.mode \"pool\" (Redis)");
    if (rc == PF_OK && ctx->conf.node.mode == CONF_NODE_POOL &&
        ctx->conf.redis.credential_key_file[0] != '\0') {
        ctx->cred_key = seal_key_load(ctx->conf.redis.credential_key_file, err);
        if (ctx->cred_key == NULL) {
            pf_err_prefix(err, "redis.credential_key_file: ");
            rc = PF_EINVAL;
        } else {
            upstream_sid_key_derive(ctx->cred_key->bytes, sizeof(ctx->cred_key->bytes),
                                    &ctx->sid_key);
        }
    }
    /* the TLS context for https upstreams, here so that --check-config
     * reads node.upstream_ca_file too; direct mode dials no upstream */
    if (rc == PF_OK && (ctx->conf.node.mode == CONF_NODE_POOL ||
                        ctx->conf.node.upstream_ca_file[0] != '\0')) {
        ctx->upstream_tls = upstream_tls_create(&ctx->conf.node, err);
        if (ctx->upstream_tls == NULL)
            rc = PF_EINVAL;
    }
    if (rc != PF_OK) {
        node_ctx_destroy(ctx);
        return PF_EINVAL;
    }
    ctx->gen = conf_gen_create(&ctx->conf.node, 1);
    if (ctx->gen == NULL) {
        node_ctx_destroy(ctx);
        return pf_err_set(err, PF_ENOMEM, "out of memory");
    }
    *out = ctx;
    return PF_OK;
}

/* Raises RLIMIT_NOFILE toward what node.max_clients needs and caps the
 * clients admitted to what it allows (fd_budget.h), with one warning. */
static int setup_fd_budget(struct node_ctx *ctx, struct pf_err *err)
{
    const struct conf_node *cn = &ctx->conf.node;
    struct fd_budget b;
    ctx->max_clients = cn->max_clients;
    ctx->rejecting_max = FD_BUDGET_REJECTING_MAX;
    if (fd_budget_plan(cn->max_clients, &b) != PF_OK) {
        log_warn("descriptors: reading RLIMIT_NOFILE failed, ignored: %s", strerror(errno));
        return PF_OK;
    }
    ctx->rejecting_max = b.rejecting_max;
    if (b.raise_errno != 0)
        log_info("descriptors: raising RLIMIT_NOFILE toward %llu failed, ignored: %s",
                 (unsigned long long)b.need, strerror(b.raise_errno));
    else if (b.is_raised)
        log_info("descriptors: RLIMIT_NOFILE raised to %llu", (unsigned long long)b.limit);
    if (!b.is_short)
        return PF_OK;
    if (b.max_clients < 1)
        return pf_err_set(err, PF_ERANGE, "descriptors: RLIMIT_NOFILE %llu (hard %llu) leaves no "
                          "room for a client: the node needs at least %llu",
                          (unsigned long long)b.limit, (unsigned long long)b.hard,
                          (unsigned long long)fd_budget_need(1, FD_BUDGET_REJECTING_MIN));
    ctx->max_clients = b.max_clients;
    log_warn("descriptors: RLIMIT_NOFILE %llu (hard %llu) is short of the %llu that "
             "node.max_clients %d needs; serving at most %d clients (raise LimitNOFILE= or "
             "ulimit -n)", (unsigned long long)b.limit, (unsigned long long)b.hard,
             (unsigned long long)b.need, cn->max_clients, b.max_clients);
    return PF_OK;
}

/* The loop runs with every listener up: the service manager may send
 * traffic (READY=1). */
static void ready_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd; (void)what;
    notify_state(arg, "READY=1");
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

/* Pool mode: the snapshot file, the Redis link, the pool sync that keeps
 * the pool through it, and the report of this node's figures. */
static int start_pool(struct node_ctx *ctx, struct pf_err *err)
{
    if (ctx->conf.node.snapshot_file[0] != '\0')
        load_snapshot_file(ctx);
    ctx->redis = redis_link_create(ctx->base, &ctx->conf.redis, err);
    if (ctx->redis == NULL) {
        pf_err_prefix(err, "redis link: ");
        return PF_EIO;
    }
    ctx->sync = pool_sync_create(ctx->base, ctx->redis, &ctx->conf.redis, &ctx->keys,
                                 &ctx->pool, ctx->cred_key, ctx->conf.node.resync_spread_ms, err);
    if (ctx->sync == NULL)
        return PF_EIO;
    ctx->bans = ban_sync_create(ctx->base, ctx->redis, &ctx->keys,
                                ctx->cred_key != NULL ? ctx->cred_key->bytes : NULL,
                                ctx->cred_key != NULL ? sizeof(ctx->cred_key->bytes) : 0, err);
    if (ctx->bans == NULL)
        return PF_EIO;
    ctx->report = report_create(ctx);
    if (ctx->report == NULL)
        return pf_err_set(err, PF_ENOMEM, "report: out of memory");
    if (ctx->conf.node.is_redis_users) {
        ctx->users = user_store_create(ctx->base, ctx->redis, &ctx->keys);
        if (ctx->users == NULL)
            return pf_err_set(err, PF_ENOMEM, "users: out of memory or no randomness");
    }
    ctx->idle = upstream_idle_create(ctx);
    ctx->preconnect = preconnect_create(ctx);
    if (ctx->idle == NULL || ctx->preconnect == NULL)
        return pf_err_set(err, PF_ENOMEM, "upstream reuse: out of memory");
    return PF_OK;
}

int node_ctx_start(struct node_ctx *ctx, struct pf_err *err)
{
    enum pf_log_level level = PF_LOG_INFO;
    enum pf_log_format format = PF_LOG_TEXT;
    if (log_parse_level(ctx->conf.log_level, &level) == PF_OK)   /* checked by node_ctx_create() */
        log_set_level(level);
    if (log_parse_format(ctx->conf.log_format, &format) == PF_OK)
        log_set_format(format);
    ctx->notify_socket = getenv("NOTIFY_SOCKET");
    if (ctx->cred_key != NULL && ctx->cred_key->is_mode_loose)
        log_warn("credential key file %s is accessible to group or others; chmod 600 it",
                 ctx->conf.redis.credential_key_file);
    for (int i = 0; i < ctx->conf.warnings.n && i < CONF_WARNINGS_MAX; i++)
        log_warn("config: %s", ctx->conf.warnings.msg[i]);
    if (ctx->upstream_tls != NULL && !upstream_tls_is_verified(ctx->upstream_tls))
        log_warn("%s", "node.upstream_tls_verify is false: the certificates of https upstreams "
                 "are NOT verified; anyone on the path can impersonate them and read the proxy "
                 "credentials and traffic sent to them");
    signal(SIGPIPE, SIG_IGN);
    int rc = setup_fd_budget(ctx, err);
    if (rc != PF_OK)
        return rc;
    if (ctx->conf.node.access_log[0] != '\0') {
        ctx->access_log = access_log_open(ctx->conf.node.access_log, err);
        if (ctx->access_log == NULL) {
            pf_err_prefix(err, "node.access_log: ");
            return PF_EIO;
        }
    }
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
    if (ctx->base == NULL || setup_dns(ctx) != PF_OK || conn_module_init(ctx) != PF_OK)
        return pf_err_set(err, PF_ENOMEM, "start-up failed: out of memory");
    ctx->drain = drain_create(ctx);
    ctx->reload = reload_create(ctx);
    if (ctx->drain == NULL || ctx->reload == NULL)
        return pf_err_set(err, PF_EIO, "installing signal handlers failed");
    if (ctx->conf.node.mode == CONF_NODE_POOL) {
        rc = start_pool(ctx, err);
        if (rc != PF_OK)
            return rc;
    }
    ctx->meter = user_meter_create(ctx);   /* after the link: it reports through it */
    if (ctx->meter == NULL)
        return pf_err_set(err, PF_ENOMEM, "user meter: out of memory");
    ctx->listener = listener_create(ctx, err);
    if (ctx->listener == NULL)
        return PF_EIO;
    if (ctx->conf.node.socks5_listen[0] != '\0') {
        ctx->socks5_listener = listener_create_socks5(ctx, err);
        if (ctx->socks5_listener == NULL)
            return PF_EIO;
        log_info("socks5 listening on %s", ctx->conf.node.socks5_listen);
    }
    if (ctx->conf.node.admin_listen[0] != '\0') {
        ctx->admin = admin_http_create(ctx, err);
        if (ctx->admin == NULL)
            return PF_EIO;
        log_info("admin listening on %s", ctx->conf.node.admin_listen);
    }
    log_info("listening on %s (node %s, mode %s)", ctx->conf.node.listen, ctx->conf.node.id,
             ctx->conf.node.mode == CONF_NODE_POOL ? "pool" : "direct");
    if (ctx->access_log != NULL)
        log_info("access log to %s", access_log_dest(ctx->access_log));
    const struct timeval now = { 0, 0 };
    if (event_base_once(ctx->base, -1, EV_TIMEOUT, ready_cb, ctx, &now) != 0)
        return pf_err_set(err, PF_ENOMEM, "start-up failed: out of memory");
    return PF_OK;
}

int node_ctx_run(struct node_ctx *ctx)
{
    return event_base_dispatch(ctx->base) < 0 ? PF_EIO : PF_OK;
}

void node_ctx_destroy(struct node_ctx *ctx)
{
    if (ctx == NULL)
        return;
    listener_destroy(ctx->listener);
    listener_destroy(ctx->socks5_listener);
    if (ctx->reaper != NULL)
        conn_close_all(ctx);
    upstream_idle_destroy(ctx->idle);     /* after the conns: a closing one may park its upstream */
    preconnect_destroy(ctx->preconnect);
    admin_http_destroy(ctx->admin);
    user_meter_destroy(ctx->meter);
    user_store_destroy(ctx->users);
    report_destroy(ctx->report);
    ban_sync_destroy(ctx->bans);
    pool_sync_destroy(ctx->sync);
    redis_link_destroy(ctx->redis);
    pool_cache_deinit(&ctx->pool);
    conn_module_deinit(ctx);
    drain_destroy(ctx->drain);
    reload_destroy(ctx->reload);
    access_log_destroy(ctx->access_log);
    conf_gen_put(ctx->gen);
    if (ctx->dns != NULL)
        evdns_base_free(ctx->dns, 0);
    if (ctx->base != NULL)
        event_base_free(ctx->base);
    seal_key_destroy(ctx->cred_key);
    upstream_tls_destroy(ctx->upstream_tls);
    conf_deinit(&ctx->conf);
    free(ctx);
}
