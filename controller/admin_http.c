/* Controller admin HTTP: /healthz and /metrics. */
#include "admin_http.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>

#include "addr.h"
#include "clock.h"
#include "controller.h"
#include "log.h"
#include "provider.h"
#include "publish.h"

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
                        ctx->pub->nerrors);
    evbuffer_add_printf(b, "# TYPE pf_controller_redis_connected gauge\npf_controller_redis_connected %d\n",
                        ctx->pub->rc != NULL);
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
        evhttp_set_cb(a->http, "/metrics", admin_metrics, a) != 0)
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
