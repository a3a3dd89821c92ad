/* The node's admin port (node.admin_listen), libevent evhttp:
 *   GET /healthz -> 200 "ok\n"
 *   GET /metrics -> Prometheus text exposition (pf_node_*), histograms included
 *   GET /readyz  -> 200 with a non-empty pool (direct mode: always) and not
 *                   draining, else 503
 *   GET /stats   -> JSON: outcomes, active conns, bytes, upstream errors,
 *                   retries, p50/p95/p99 latencies, pool size/version
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
