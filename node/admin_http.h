/* The node's admin port (node.admin_listen), libevent evhttp:
 *   GET /healthz -> 200 "ok\n"
 *   GET /metrics -> Prometheus text exposition of the node's table of
 *                   figures (node_metrics.h): pf_node_* and process_*
 *   GET /readyz  -> 200 when ready (readiness.h: not draining and, in pool
 *                   mode, an upstream this node can use), else 503; the
 *                   body says why
 *   GET /stats   -> JSON: the same figures named without "pf_node_", plus
 *                   id, version, commit, pool_epoch and ready_reason
 *   anything else -> 404. */
#ifndef PF_NODE_ADMIN_HTTP_H
#define PF_NODE_ADMIN_HTTP_H

#include "err.h"
#include "node.h"

struct admin_http;
struct evbuffer;

/* Binds node.admin_listen on <ctx>->base. Returns NULL with a reason in <err>. */
struct admin_http *admin_http_create(struct node_ctx *ctx, struct pf_err *err);

/* Frees <a> (accepts NULL). */
void admin_http_destroy(struct admin_http *a);

/* Appends the metrics of <ctx> in Prometheus text format to <out>.
 * Returns PF_OK or PF_ENOMEM. */
int admin_http_write_metrics(const struct node_ctx *ctx, struct evbuffer *out) PF_MUSTCHECK;

/* Appends the /stats JSON document of <ctx> to <out>. Returns PF_OK or PF_ENOMEM. */
int admin_http_write_stats(const struct node_ctx *ctx, struct evbuffer *out) PF_MUSTCHECK;

#endif
