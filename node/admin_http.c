/* Admin HTTP port; see admin_http.h. */
#include "admin_http.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include <cjson/cJSON.h>

#include "addr.h"
#include "ban.h"
#include "ban_control.h"
#include "clock.h"
#include "log.h"
#include "node_metrics.h"
#include "readiness.h"
#include "redis_link.h"
#include "str.h"
#include "version.h"

struct admin_http {
    struct node_ctx *ctx;   /* borrowed */
    struct evhttp   *http;  /* owned */
};

static int write_evbuffer(void *arg, const char *s, size_t len)
{
    return evbuffer_add(arg, s, len) == 0 ? 0 : -1;
}

int admin_http_write_metrics(const struct node_ctx *ctx, struct evbuffer *out)
{
    struct node_metrics_src src;
    node_metrics_src_init(&src, ctx);
    return node_metrics_write_text(&src, write_evbuffer, out);
}

/* The figures of the table (node_metrics.h, named as in /metrics without
 * the pf_node_ prefix) and the node's identity, as one JSON object. */
int admin_http_write_stats(const struct node_ctx *ctx, struct evbuffer *out)
{
    struct node_metrics_src src;
    node_metrics_src_init(&src, ctx);
    cJSON *root = cJSON_CreateObject();
    int ok = root != NULL && cJSON_AddStringToObject(root, "id", ctx->conf.node.id) != NULL &&
             cJSON_AddStringToObject(root, "version", version_string()) != NULL &&
             cJSON_AddStringToObject(root, "commit", version_commit()) != NULL &&
             cJSON_AddStringToObject(root, "pool_epoch", ctx->pool.epoch) != NULL &&
             cJSON_AddStringToObject(root, "ready_reason", src.ready.why) != NULL &&
             cJSON_AddStringToObject(root, "redis_target",
                                     ctx->redis != NULL ? redis_link_target(ctx->redis) : "") != NULL &&
             node_metrics_add_json(&src, root) == PF_OK;
    char *text = ok ? cJSON_PrintUnformatted(root) : NULL;
    cJSON_Delete(root);
    if (text == NULL)
        return PF_ENOMEM;
    ok = evbuffer_add(out, text, strlen(text)) == 0 && evbuffer_add(out, "\n", 1) == 0;
    free(text);
    return ok ? PF_OK : PF_ENOMEM;
}

/* Sends <status> with JSON <json> (malloc'd; freed here; NULL = 500). */
static void send_json(struct evhttp_request *req, int status, char *json, struct evbuffer *body)
{
    if (json == NULL) {
        evhttp_send_error(req, 500, NULL);
        return;
    }
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", "application/json");
    evbuffer_add(body, json, strlen(json));
    evbuffer_add(body, "\n", 1);
    free(json);
    const char *text = status == 200 ? "OK" : status == 201 ? "Created" : status == 400 ? "Bad Request"
                     : status == 401 ? "Unauthorized" : status == 404 ? "Not Found"
                     : status == 405 ? "Method Not Allowed" : status == 503 ? "Service Unavailable"
                     : "Error";
    evhttp_send_reply(req, status, text, body);
}

/* Returns 1 when the request carries "Authorization: Bearer <token>" with
 * the configured token (constant-time compare). */
static int is_token_ok(struct evhttp_request *req, const char *token)
{
    const char *h = evhttp_find_header(evhttp_request_get_input_headers(req), "Authorization");
    if (h == NULL || strncasecmp(h, "Bearer ", 7) != 0)
        return 0;
    h += 7;
    while (*h == ' ')
        h++;
    return str_consttime_eq(h, strlen(h), token, strlen(token));
}

/* /v1/bans and /v1/bans/<id> (ban_control.h), behind node.admin_token:
 * off (404) without one, 401 without the right Bearer token. */
static void bans_cb(struct admin_http *a, struct evhttp_request *req, const char *uri,
                    size_t plen, struct evbuffer *body)
{
    enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
    const char *token = a->ctx->conf.node.admin_token;
    char *json = NULL;
    int status;
    if (token[0] == '\0') {
        status = ban_control_error(404, "the ban API is off: set node.admin_token", &json);
    } else if (!is_token_ok(req, token)) {
        evhttp_add_header(evhttp_request_get_output_headers(req), "WWW-Authenticate",
                          "Bearer realm=\"proxyfleet\"");
        status = ban_control_error(401, "a valid \"Authorization: Bearer <node.admin_token>\" "
                                   "is required", &json);
    } else if (plen == 8 && cmd == EVHTTP_REQ_GET) {
        status = ban_control_list(a->ctx, &json);
    } else if (plen == 8 && cmd == EVHTTP_REQ_POST) {
        struct evbuffer *in = evhttp_request_get_input_buffer(req);
        size_t len = evbuffer_get_length(in);
        const char *p = len > 0 ? (const char *)evbuffer_pullup(in, (ev_ssize_t)len) : "";
        status = ban_control_post(a->ctx, p, len, &json);
    } else if (plen > 9 && uri[8] == '/' && cmd == EVHTTP_REQ_DELETE) {
        char id[BAN_ID_LEN + 1];
        size_t idl = plen - 9;
        if (idl != BAN_ID_LEN) {
            status = ban_control_error(404, "no such ban", &json);
        } else {
            memcpy(id, uri + 9, BAN_ID_LEN);
            id[BAN_ID_LEN] = '\0';
            status = ban_control_delete(a->ctx, id, &json);
        }
    } else {
        status = ban_control_error(405, "use GET or POST /v1/bans, DELETE /v1/bans/<id>", &json);
    }
    send_json(req, status, json, body);
}

static void request_cb(struct evhttp_request *req, void *arg)
{
    struct admin_http *a = arg;
    const char *uri = evhttp_request_get_uri(req);
    size_t plen = strcspn(uri, "?");
    enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
    struct evbuffer *body = evbuffer_new();
    if (body == NULL) {
        evhttp_send_error(req, 500, NULL);
        return;
    }
    struct evkeyvalq *hdrs = evhttp_request_get_output_headers(req);
    if (plen >= 8 && strncmp(uri, "/v1/bans", 8) == 0 && (plen == 8 || uri[8] == '/')) {
        bans_cb(a, req, uri, plen, body);
    } else if (cmd != EVHTTP_REQ_GET && cmd != EVHTTP_REQ_HEAD) {
        evhttp_send_error(req, 405, NULL);
    } else if (plen == 7 && strncmp(uri, "/readyz", 7) == 0) {
        struct readiness r;
        readiness_check(a->ctx, clock_wall_ms(), clock_mono_ms(), &r);
        evhttp_add_header(hdrs, "Content-Type", "text/plain");
        evbuffer_add_printf(body, "%s\n", r.why);
        evhttp_send_reply(req, r.is_ready ? 200 : 503, r.is_ready ? "OK" : "Service Unavailable", body);
    } else if (plen == 6 && strncmp(uri, "/stats", 6) == 0) {
        if (admin_http_write_stats(a->ctx, body) != PF_OK) {
            evhttp_send_error(req, 500, NULL);
        } else {
            evhttp_add_header(hdrs, "Content-Type", "application/json");
            evhttp_send_reply(req, 200, "OK", body);
        }
    } else if (plen == 8 && strncmp(uri, "/healthz", 8) == 0) {
        evhttp_add_header(hdrs, "Content-Type", "text/plain");
        evbuffer_add(body, "ok\n", 3);
        evhttp_send_reply(req, 200, "OK", body);
    } else if (plen == 8 && strncmp(uri, "/metrics", 8) == 0) {
        if (admin_http_write_metrics(a->ctx, body) != PF_OK) {
            evhttp_send_error(req, 500, NULL);
        } else {
            evhttp_add_header(hdrs, "Content-Type", "text/plain; version=0.0.4");
            evhttp_send_reply(req, 200, "OK", body);
        }
    } else {
        evhttp_add_header(hdrs, "Content-Type", "text/plain");
        evbuffer_add(body, "not found\n", 10);
        evhttp_send_reply(req, 404, "Not Found", body);
    }
    evbuffer_free(body);
}

struct admin_http *admin_http_create(struct node_ctx *ctx, struct pf_err *err)
{
    char host[UPSTREAM_HOST_MAX];
    uint16_t port;
    if (addr_parse_hostport(ctx->conf.node.admin_listen, host, sizeof(host), &port, err) != PF_OK) {
        pf_err_prefix(err, "node.admin_listen: ");
        return NULL;
    }
    struct admin_http *a = calloc(1, sizeof(*a));
    if (a == NULL) {
        pf_err_set(err, PF_ENOMEM, "admin: out of memory");
        return NULL;
    }
    a->ctx = ctx;
    a->http = evhttp_new(ctx->base);
    if (a->http == NULL) {
        pf_err_set(err, PF_ENOMEM, "admin: out of memory");
        goto fail;
    }
    evhttp_set_allowed_methods(a->http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD | EVHTTP_REQ_POST |
                                            EVHTTP_REQ_DELETE);
    evhttp_set_max_headers_size(a->http, 16384);
    evhttp_set_max_body_size(a->http, 4096);   /* POST /v1/bans; the other paths take none */
    evhttp_set_timeout(a->http, 10);
    evhttp_set_gencb(a->http, request_cb, a);
    if (evhttp_bind_socket_with_handle(a->http, host, port) == NULL) {
        pf_err_set(err, PF_EIO, "admin: listen on %s failed", ctx->conf.node.admin_listen);
        goto fail;
    }
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
