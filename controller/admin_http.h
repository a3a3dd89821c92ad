/* Controller admin port (evhttp): GET /healthz, GET /metrics (Prometheus
 * text format) and GET /status (JSON: leader, epoch, version, providers with
 * state, breaker, last_error, upstreams). Read-only views of struct ctl_ctx. */
#ifndef PF_CTL_ADMIN_HTTP_H
#define PF_CTL_ADMIN_HTTP_H

struct admin_http;
struct ctl_ctx;

/* Listens on <listen> ("host:port") on <ctx>->base; <ctx> is borrowed and
 * must outlive the server. Returns NULL (logged) when it cannot listen. */
struct admin_http *admin_http_create(struct ctl_ctx *ctx, const char *listen);

/* Closes the listener and frees <a> (accepts NULL). */
void admin_http_destroy(struct admin_http *a);

#endif
