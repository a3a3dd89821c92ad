/* The proxy listener: accepts clients on node.listen and hands them to
 * conn.c; over node.max_clients a client only gets a fast 503. */
#ifndef PF_NODE_LISTENER_H
#define PF_NODE_LISTENER_H

#include "err.h"
#include "node.h"

struct listener;

/* Binds node.listen ("host:port", IPv4 or [IPv6]) on <ctx>->base and starts
 * accepting. Returns NULL with a reason in <err>. */
struct listener *listener_create(struct node_ctx *ctx, struct pf_err *err);

/* Binds node.socks5_listen the same way; its clients speak SOCKS5 only
 * (conn_create_socks5). Returns NULL with a reason in <err>. */
struct listener *listener_create_socks5(struct node_ctx *ctx, struct pf_err *err);

/* Stops accepting and frees <l> (accepts NULL). */
void listener_destroy(struct listener *l);

/* Writes the bound address ("host:port") into <buf>. */
void listener_format(const struct listener *l, char *buf, size_t len);

#endif
