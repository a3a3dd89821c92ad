/* Graceful stop. The first SIGTERM or SIGINT drains: the listeners close
 * (new clients are refused, not queued), idle keep-alive clients are
 * closed, /readyz answers 503 (ctx->is_draining), and in-flight exchanges
 * and tunnels get node.drain_grace_ms to finish; the loop stops when the
 * last one closes (conn_close) or the grace time ends. A second signal, or
 * drain_grace_ms 0, stops at once. */
#ifndef PF_NODE_DRAIN_H
#define PF_NODE_DRAIN_H

#include "node.h"

struct drain;

/* Installs the SIGTERM/SIGINT handlers and the grace timer on
 * <ctx>->base. Returns NULL when out of memory or a handler could not be
 * installed. */
struct drain *drain_create(struct node_ctx *ctx);

/* Removes the handlers and the timer; accepts NULL. */
void drain_destroy(struct drain *d);

#endif
