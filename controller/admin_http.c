/* Controller admin HTTP; see admin_http.h. */
#include "admin_http.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>

#include <cjson/cJSON.h>

#include "addr.h"
#include "clock.h"
#include "controller.h"
#include "controller_metrics.h"
#include "log.h"
#include "provider.h"
#include "publish.h"
#include "redis.h"
#include "status_page.h"
#include "version.h"

struct admin_http {
    struct ctl_ctx *ctx;     /* borrowed */
    struct evhttp  *http;    /* owned */
    struct status_page *page;/* owned: GET / and /fleet.json */
};

static void admin_send(struct evhttp_request *req, int code, const char *reason,
                       const char *type, struct evbuffer *body)
{
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", type);
    evhttp_send_reply(req, code, reason, body);
}

/* Whether Redis is reachable: the connection is up. Fills <why> when not. */
static int admin_redis_ok(const struct ctl_ctx *ctx, char *why, size_t len)
{
    if (redis_is_connected(ctx->redis))
        return 1;
    snprintf(why, len, "redis unreachable: not connected, next attempt in %lld ms",
             (long long)redis_retry_in_ms(ctx->redis, clock_mono_ms()));
    return 0;
}

static void admin_text(struct evhttp_request *req, int is_ok, const char *text)
{
    struct evbuffer *b = evbuffer_new();
    if (b == NULL) {
        evhttp_send_error(req, 500, NULL);
        return;
    }
    evbuffer_add_printf(b, "%s\n", text);
    admin_send(req, is_ok ? 200 : 503, is_ok ? "OK" : "Service Unavailable", "text/plain", b);
    evbuffer_free(b);
}

/* GET /healthz: 200 "ok" while Redis is reachable, else 503 and why. */
static void admin_healthz(struct evhttp_request *req, void *arg)
{
    struct admin_http *a = arg;
    char why[128];
    int is_ok = admin_redis_ok(a->ctx, why, sizeof(why));
    admin_text(req, is_ok, is_ok ? "ok" : why);
}

/* GET /readyz: 200 for the leader, and for a standby that reaches Redis
 * (it can take over); else 503 and why. */
static void admin_readyz(struct evhttp_request *req, void *arg)
{
    struct admin_http *a = arg;
    char why[128], msg[160];
    if (lease_valid(&a->ctx->lease, clock_mono_ms())) {
        admin_text(req, 1, "ready: leader");
    } else if (admin_redis_ok(a->ctx, why, sizeof(why))) {
        admin_text(req, 1, "ready: standby");
    } else {
        snprintf(msg, sizeof(msg), "standby, %s", why);
        admin_text(req, 0, msg);
    }
}

/* GET /status: the controller's identity, every figure of its table
 * (controller_metrics.h, named without "pf_controller_") and each
 * provider's state in words. */
static void admin_status(struct evhttp_request *req, void *arg)
{
    struct admin_http *a = arg;
    const struct ctl_ctx *ctx = a->ctx;
    struct controller_metrics_src src;
    controller_metrics_src_init(&src, ctx);
    struct evbuffer *b = evbuffer_new();
    cJSON *root = cJSON_CreateObject();
    char *text = NULL;
    int ok = b != NULL && root != NULL &&
             cJSON_AddStringToObject(root, "id", ctx->conf.controller.id) != NULL &&
             cJSON_AddStringToObject(root, "version", version_string()) != NULL &&
             cJSON_AddStringToObject(root, "commit", version_commit()) != NULL &&
             cJSON_AddStringToObject(root, "epoch", ctx->lease.is_leader ? ctx->pub->epoch : "") != NULL &&
             cJSON_AddStringToObject(root, "last_leadership_loss", ctx->lease.last_loss) != NULL &&
             cJSON_AddStringToObject(root, "redis_target", redis_target(ctx->redis)) != NULL &&
             controller_metrics_add_json(&src, root) == PF_OK;
    cJSON *provs = ok ? cJSON_AddArrayToObject(root, "providers") : NULL;
    ok = provs != NULL;
    for (size_t i = 0; ok && i < ctx->nproviders; i++) {
        const struct provider *p = ctx->providers[i];
        cJSON *o = cJSON_CreateObject();
        if (o == NULL || !cJSON_AddItemToArray(provs, o)) {
            cJSON_Delete(o);
            ok = 0;
            break;
        }
        ok = cJSON_AddStringToObject(o, "name", p->conf->name) != NULL &&
             cJSON_AddStringToObject(o, "state", provider_state_name(p->state)) != NULL &&
             cJSON_AddStringToObject(o, "breaker", breaker_state_name(p->breaker.state)) != NULL &&
             cJSON_AddStringToObject(o, "last_error", p->last_error) != NULL &&
             cJSON_AddStringToObject(o, "last_error_class", p->last_error[0]
                                     ? provider_err_class_name(p->last_error_class) : "") != NULL;
    }
    text = ok ? cJSON_PrintUnformatted(root) : NULL;
    cJSON_Delete(root);
    if (text == NULL || evbuffer_add_printf(b, "%s\n", text) < 0) {
        evhttp_send_error(req, 500, NULL);
    } else {
        admin_send(req, 200, "OK", "application/json", b);
    }
    cJSON_free(text);
    if (b != NULL)
        evbuffer_free(b);
}

static int write_evbuffer(void *arg, const char *s, size_t len)
{
    return evbuffer_add(arg, s, len) == 0 ? 0 : -1;
}

/* GET /metrics: the Prometheus text of the table (controller_metrics.h). */
static void admin_metrics(struct evhttp_request *req, void *arg)
{
    struct admin_http *a = arg;
    struct controller_metrics_src src;
    controller_metrics_src_init(&src, a->ctx);
    struct evbuffer *b = evbuffer_new();
    if (b == NULL || controller_metrics_write_text(&src, write_evbuffer, b) != PF_OK)
        evhttp_send_error(req, 500, NULL);
    else
        admin_send(req, 200, "OK", "text/plain; version=0.0.4", b);
    if (b != NULL)
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
        evhttp_set_cb(a->http, "/readyz", admin_readyz, a) != 0 ||
        evhttp_set_cb(a->http, "/metrics", admin_metrics, a) != 0 ||
        evhttp_set_cb(a->http, "/status", admin_status, a) != 0 ||
        (a->page = status_page_create(ctx, a->http)) == NULL)
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
    status_page_destroy(a->page);
    free(a);
}
