/* The proxy listeners: accept clients on node.listen (HTTP, or SOCKS5 by
 * its first byte) and node.socks5_listen, drop those node.client_allow
 * refuses, and hand the rest to their protocol (http_proxy.h,
 * socks5_server.h); over node.max_clients an HTTP client only gets a fast
 * 503. */
#ifndef PF_NODE_LISTENER_H
#define PF_NODE_LISTENER_H

#include "err.h"
#include "node.h"

struct listener;

/* Binds node.listen ("host:port", IPv4 or [IPv6]) on <ctx>->base and starts
 * accepting. Returns NULL with a reason in <err>. */
struct listener *listener_create(struct node_ctx *ctx, struct pf_err *err);

/* Binds node.socks5_listen the same way; its clients speak SOCKS5 only
 * (socks5_server_accept). Returns NULL with a reason in <err>. */
struct listener *listener_create_socks5(struct node_ctx *ctx, struct pf_err *err);

/* Stops accepting and frees <l> (accepts NULL). */
void listener_destroy(struct listener *l);

#endif
