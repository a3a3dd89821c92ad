/* The node's context (struct node_ctx, node.h) from config file to
 * teardown: main.c only parses its arguments and calls these in order.
 *
 *   node_ctx_create()   loads and checks the config (nothing runs yet:
 *                       --check-config stops here);
 *   node_ctx_start()    the loop, DNS, conns, drain signals, the pool
 *                       (snapshot file, Redis link, pool sync, report),
 *                       listeners and the admin endpoint;
 *   node_ctx_run()      the loop, until a stop or the end of a drain;
 *   node_ctx_destroy()  one teardown ladder for whatever was set up. */
#ifndef PF_NODE_NODE_CTX_H
#define PF_NODE_NODE_CTX_H

#include "err.h"
#include "node.h"
#include "pf.h"

/* Allocates a context and loads the config at <path> into it: log level,
 * key prefix, the open-proxy guard (policy.h), the credential key. Returns
 * PF_OK with the context in <*out>, PF_EINVAL for a bad config (the reason
 * in <err>, e.g. "redis.prefix: ..."), or PF_ENOMEM when not even the
 * context could be allocated; on error <*out> is NULL. */
int node_ctx_create(const char *path, struct node_ctx **out, struct pf_err *err) PF_MUSTCHECK;

/* Sets everything up to serve (see above). Returns PF_OK, or an error with
 * the reason in <err>; <ctx> is then left for node_ctx_destroy(). */
int node_ctx_start(struct node_ctx *ctx, struct pf_err *err) PF_MUSTCHECK;

/* Runs the loop. Returns PF_OK after a stop, PF_EIO when the loop failed. */
int node_ctx_run(struct node_ctx *ctx) PF_MUSTCHECK;

/* Closes every connection and frees everything <ctx> holds, whatever stage
 * it reached; accepts NULL. */
void node_ctx_destroy(struct node_ctx *ctx);

#endif
