/* Controller admin HTTP: /healthz, /metrics and /status. */
#include "admin_http.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>

#include <cjson/cJSON.h>

#include "addr.h"
#include "clock.h"
#include "controller.h"
#include "health_check.h"
#include "log.h"
#include "provider.h"
#include "publish.h"
#include "redis.h"

struct admin_http {
    struct ctl_ctx *ctx;     /* borrowed */
    struct evhttp  *http;    /* owned */
};

static void admin_send(struct evhttp_request *req, int code, const char *reason,
                       const char *type, struct evbuffer *body)
{
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", type);
    evhttp_send_reply(req, code, reason, body);
}

static void admin_healthz(struct evhttp_request *req, void *arg)
{
    struct admin_http *a = arg;
    struct evbuffer *b = evbuffer_new();

    (void)a;
    if (b == NULL) {
        evhttp_send_error(req, 500, NULL);
        return;
    }
    evbuffer_add_printf(b, "ok\n");
    admin_send(req, 200, "OK", "text/plain", b);
    evbuffer_free(b);
}

/* Retries, failures by class, breakers, leadership. */
static void admin_metrics_resilience(const struct ctl_ctx *ctx, struct evbuffer *b)
{
    static const enum provider_err_class classes[] = { PROVIDER_ERR_TRANSIENT, PROVIDER_ERR_FATAL };
    int64_t now = clock_mono_ms();

    evbuffer_add_printf(b, "# TYPE pf_controller_attempt_failures_total counter\n");
    for (size_t i = 0; i < ctx->nproviders; i++)
        for (size_t c = 0; c < PF_ARRAY_LEN(classes); c++)
            evbuffer_add_printf(b, "pf_controller_attempt_failures_total{provider=\"%s\",class=\"%s\"} %" PRIu64 "\n",
                                ctx->providers[i]->conf->name, provider_err_class_name(classes[c]),
                                ctx->providers[i]->attempt_failures[classes[c]]);
    evbuffer_add_printf(b, "# TYPE pf_controller_retries_total counter\n");
    for (size_t i = 0; i < ctx->nproviders; i++)
        evbuffer_add_printf(b, "pf_controller_retries_total{provider=\"%s\"} %" PRIu64 "\n",
                            ctx->providers[i]->conf->name, ctx->providers[i]->retries);
    evbuffer_add_printf(b, "# HELP pf_controller_breaker_state 0 closed, 1 open, 2 half-open\n"
                           "# TYPE pf_controller_breaker_state gauge\n");
    for (size_t i = 0; i < ctx->nproviders; i++)
        evbuffer_add_printf(b, "pf_controller_breaker_state{provider=\"%s\"} %d\n",
                            ctx->providers[i]->conf->name, (int)ctx->providers[i]->breaker.state);
    evbuffer_add_printf(b, "# TYPE pf_controller_breaker_opens_total counter\n");
    for (size_t i = 0; i < ctx->nproviders; i++)
        evbuffer_add_printf(b, "pf_controller_breaker_opens_total{provider=\"%s\"} %" PRIu64 "\n",
                            ctx->providers[i]->conf->name, ctx->providers[i]->breaker.opens);
    evbuffer_add_printf(b, "# HELP pf_controller_provider_failed 1 while a fatal failure parks the provider\n"
                           "# TYPE pf_controller_provider_failed gauge\n");
    for (size_t i = 0; i < ctx->nproviders; i++)
        evbuffer_add_printf(b, "pf_controller_provider_failed{provider=\"%s\"} %d\n",
                            ctx->providers[i]->conf->name,
                            ctx->providers[i]->state == PROVIDER_ST_FAILED);
    evbuffer_add_printf(b, "# TYPE pf_controller_leader gauge\npf_controller_leader %d\n",
                        lease_valid(&ctx->lease, now));
    evbuffer_add_printf(b, "# TYPE pf_controller_leader_acquisitions_total counter\n"
                           "pf_controller_leader_acquisitions_total %" PRIu64 "\n", ctx->lease.acquisitions);
    evbuffer_add_printf(b, "# TYPE pf_controller_leader_losses_total counter\n"
                           "pf_controller_leader_losses_total %" PRIu64 "\n", ctx->lease.losses);
    evbuffer_add_printf(b, "# TYPE pf_controller_fenced_total counter\npf_controller_fenced_total %" PRIu64 "\n",
                        ctx->pub->nfenced);
    evbuffer_add_printf(b, "# TYPE pf_controller_reloads_total counter\npf_controller_reloads_total %" PRIu64 "\n",
                        ctx->reloads);
    evbuffer_add_printf(b, "# TYPE pf_controller_reload_errors_total counter\n"
                           "pf_controller_reload_errors_total %" PRIu64 "\n", ctx->reload_errors);
}

/* GET /status: JSON view of leadership, snapshot and providers. */
static void admin_status(struct evhttp_request *req, void *arg)
{
    struct admin_http *a = arg;
    const struct ctl_ctx *ctx = a->ctx;
    int64_t now_mono = clock_mono_ms();
    int64_t now_wall = clock_wall_ms();
    struct evbuffer *b = evbuffer_new();
    cJSON *root = cJSON_CreateObject();
    cJSON *provs = NULL;
    char *text = NULL;

    if (b == NULL || root == NULL)
        goto fail;
    cJSON_AddStringToObject(root, "id", ctx->conf.controller.id);
    cJSON_AddBoolToObject(root, "leader", lease_valid(&ctx->lease, now_mono));
    cJSON_AddNumberToObject(root, "leader_since_ms", (double)ctx->lease.leader_since_ms);
    cJSON_AddNumberToObject(root, "lease_ms", (double)ctx->lease.lease_ms);
    cJSON_AddStringToObject(root, "last_leadership_loss", ctx->lease.last_loss);
    cJSON_AddStringToObject(root, "epoch", ctx->lease.is_leader ? ctx->pub->epoch : "");
    cJSON_AddNumberToObject(root, "version", (double)ctx->pub->version);
    cJSON_AddNumberToObject(root, "pool_size", (double)ctx->pool_size);
    cJSON_AddBoolToObject(root, "redis_connected", redis_is_connected(ctx->redis));
    cJSON_AddStringToObject(root, "redis_target", redis_target(ctx->redis));
    provs = cJSON_AddArrayToObject(root, "providers");
    if (provs == NULL)
        goto fail;
    for (size_t i = 0; i < ctx->nproviders; i++) {
        const struct provider *p = ctx->providers[i];
        cJSON *o = cJSON_CreateObject();
        if (o == NULL)
            goto fail;
        cJSON_AddItemToArray(provs, o);
        cJSON_AddStringToObject(o, "name", p->conf->name);
        cJSON_AddStringToObject(o, "state", provider_state_name(p->state));
        cJSON_AddStringToObject(o, "breaker", breaker_state_name(p->breaker.state));
        cJSON_AddNumberToObject(o, "breaker_opens", (double)p->breaker.opens);
        cJSON_AddNumberToObject(o, "breaker_wait_ms", (double)breaker_wait_ms(&p->breaker, now_mono));
        cJSON_AddNumberToObject(o, "consecutive_failures", (double)p->breaker.consecutive_failures);
        cJSON_AddNumberToObject(o, "upstreams", (double)provider_live_count(p, now_wall));
        cJSON_AddNumberToObject(o, "polls", (double)p->polls);
        cJSON_AddNumberToObject(o, "failures", (double)p->failures);
        cJSON_AddNumberToObject(o, "retries", (double)p->retries);
        cJSON_AddStringToObject(o, "last_error", p->last_error);
        cJSON_AddStringToObject(o, "last_error_class",
                                p->last_error[0] ? provider_err_class_name(p->last_error_class) : "");
        cJSON_AddNumberToObject(o, "last_error_at_ms", (double)p->last_error_at_ms);
        cJSON_AddNumberToObject(o, "last_success_at_ms", (double)p->last_success_at_ms);
        cJSON_AddNumberToObject(o, "next_poll_in_ms", p->next_poll_at_ms > 0
                                ? (double)PF_MAX_OF(p->next_poll_at_ms - now_mono, 0) : -1.0);
    }
    text = cJSON_PrintUnformatted(root);
    if (text == NULL)
        goto fail;
    evbuffer_add_printf(b, "%s\n", text);
    admin_send(req, 200, "OK", "application/json", b);
    cJSON_free(text);
    cJSON_Delete(root);
    evbuffer_free(b);
    return;

fail:
    cJSON_Delete(root);
    if (b != NULL)
        evbuffer_free(b);
    evhttp_send_error(req, 500, NULL);
}

static void admin_metrics(struct evhttp_request *req, void *arg)
{
    struct admin_http *a = arg;
    struct ctl_ctx *ctx = a->ctx;
    struct evbuffer *b = evbuffer_new();
    int64_t now = clock_wall_ms();

    if (b == NULL) {
        evhttp_send_error(req, 500, NULL);
        return;
    }
    evbuffer_add_printf(b, "# TYPE pf_controller_polls_total counter\n");
    for (size_t i = 0; i < ctx->nproviders; i++)
        evbuffer_add_printf(b, "pf_controller_polls_total{provider=\"%s\"} %" PRIu64 "\n",
                            ctx->providers[i]->conf->name, ctx->providers[i]->polls);
    evbuffer_add_printf(b, "# TYPE pf_controller_poll_failures_total counter\n");
    for (size_t i = 0; i < ctx->nproviders; i++)
        evbuffer_add_printf(b, "pf_controller_poll_failures_total{provider=\"%s\"} %" PRIu64 "\n",
                            ctx->providers[i]->conf->name, ctx->providers[i]->failures);
    evbuffer_add_printf(b, "# TYPE pf_controller_provider_upstreams gauge\n");
    for (size_t i = 0; i < ctx->nproviders; i++)
        evbuffer_add_printf(b, "pf_controller_provider_upstreams{provider=\"%s\"} %zu\n",
                            ctx->providers[i]->conf->name,
                            provider_live_count(ctx->providers[i], now));
    evbuffer_add_printf(b, "# TYPE pf_controller_rejected_addresses_total counter\n");
    for (size_t i = 0; i < ctx->nproviders; i++)
        for (int r = 0; r < PROVIDER_REJECT_COUNT; r++)
            evbuffer_add_printf(b, "pf_controller_rejected_addresses_total{provider=\"%s\",reason=\"%s\"} %" PRIu64 "\n",
                                ctx->providers[i]->conf->name,
                                provider_reject_name((enum provider_reject)r),
                                ctx->providers[i]->rejected[r]);
    evbuffer_add_printf(b, "# TYPE pf_controller_pool_size gauge\npf_controller_pool_size %zu\n",
                        ctx->pool_size);
    evbuffer_add_printf(b, "# TYPE pf_controller_pool_version gauge\npf_controller_pool_version %" PRId64 "\n",
                        ctx->pub->version);
    evbuffer_add_printf(b, "# TYPE pf_controller_publishes_total counter\npf_controller_publishes_total %" PRIu64 "\n",
                        ctx->pub->npublishes);
    evbuffer_add_printf(b, "# TYPE pf_controller_redis_errors_total counter\npf_controller_redis_errors_total %" PRIu64 "\n",
                        redis_drops(ctx->redis) + ctx->pub->nerrors);
    evbuffer_add_printf(b, "# TYPE pf_controller_redis_connected gauge\npf_controller_redis_connected %d\n",
                        redis_is_connected(ctx->redis));
    evbuffer_add_printf(b, "# HELP pf_controller_redis_master_moves_total Master changes followed (Sentinel).\n"
                        "# TYPE pf_controller_redis_master_moves_total counter\n"
                        "pf_controller_redis_master_moves_total %" PRIu64 "\n",
                        redis_master_moves(ctx->redis));
    admin_metrics_resilience(ctx, b);
    if (ctx->health != NULL)
        health_check_metrics(ctx->health, b, now);
    admin_send(req, 200, "OK", "text/plain; version=0.0.4", b);
    evbuffer_free(b);
}

static void admin_other(struct evhttp_request *req, void *arg)
{
    (void)arg;
    evhttp_send_error(req, 404, NULL);
}

struct admin_http *admin_http_create(struct ctl_ctx *ctx, const char *listen)
{
    struct admin_http *a = calloc(1, sizeof(*a));
    char host[UPSTREAM_HOST_MAX];
    uint16_t port = 0;
    struct pf_err err;

    pf_err_clear(&err);
    if (a == NULL)
        return NULL;
    a->ctx = ctx;
    if (addr_parse_hostport(listen, host, sizeof(host), &port, &err) != PF_OK) {
        log_error("admin: listen %s: %s", listen, err.msg);
        goto fail;
    }
    a->http = evhttp_new(ctx->base);
    if (a->http == NULL)
        goto fail;
    evhttp_set_allowed_methods(a->http, EVHTTP_REQ_GET);
    evhttp_set_timeout(a->http, 10);
    if (evhttp_set_cb(a->http, "/healthz", admin_healthz, a) != 0 ||
        evhttp_set_cb(a->http, "/metrics", admin_metrics, a) != 0 ||
        evhttp_set_cb(a->http, "/status", admin_status, a) != 0)
        goto fail;
    evhttp_set_gencb(a->http, admin_other, a);
    if (evhttp_bind_socket_with_handle(a->http, host, port) == NULL) {
        log_error("admin: listen on %s failed: %s", listen, strerror(errno));
        goto fail;
    }
    log_info("admin: listening on %s", listen);
    return a;

fail:
    admin_http_destroy(a);
    return NULL;
}

void admin_http_destroy(struct admin_http *a)
{
    if (a == NULL)
        return;
    if (a->http != NULL)
        evhttp_free(a->http);
    free(a);
}
