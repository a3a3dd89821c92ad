/* Controller admin port (evhttp), read-only views of struct ctl_ctx:
 *   GET /healthz -> 200 "ok" while Redis is reachable, else 503 and why
 *   GET /readyz  -> 200 for the leader, or a standby that reaches Redis;
 *                   else 503 and why
 *   GET /metrics -> Prometheus text of the controller's table of figures
 *                   (controller_metrics.h): pf_controller_* and process_*
 *   GET /status  -> JSON: id, version, commit, epoch, last_leadership_loss,
 *                   the same figures named without "pf_controller_", and
 *                   providers: [{name, state, breaker, last_error,
 *                   last_error_class}]
 *   GET /, GET /fleet.json -> the live status page and its data
 *                   (status_page.h; /fleet.json guarded by
 *                   controller.admin_token when set)
 *   anything else -> 404. */
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
