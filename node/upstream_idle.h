/* Idle upstream connections shared across clients (issue 14 item 2), in
 * the spirit of HAProxy's "http-reuse safe": a plain-HTTP connection to an
 * http or https upstream that ended its exchange cleanly (response
 * complete, keep-alive, nothing buffered) and whose client went away waits
 * here for the next request the strategy sends to the same upstream.
 *
 * Keyed by upstream id (addr_upstream_id(): scheme, user, host, port), so
 * a connection only ever serves the upstream it leads to. Per upstream the
 * newest connections stay (node.reuse_max_idle_per_upstream), in all at
 * most node.reuse_max_idle_total (the oldest go first), each at most
 * node.reuse_max_idle_ms (one timer for the store, armed at the oldest).
 * While parked a connection is read: a close, a reset or any byte from
 * the upstream (a 408, say) throws it away. A take checks the socket once
 * more (MSG_PEEK) so a FIN that arrived in this loop turn is not handed
 * out. Which requests may take one is the attempt's business (attempt.c:
 * idempotent, no sticky session); what is left is the race with a close
 * in flight, which the attempt covers by sending an idempotent request
 * again on a fresh connection.
 *
 * Figures: the reuse_* fields of struct node_stats. Pool mode only. */
#ifndef PF_NODE_UPSTREAM_IDLE_H
#define PF_NODE_UPSTREAM_IDLE_H

#include "node.h"

struct bufferevent;
struct upstream_idle;

/* An empty store on <ctx>'s loop, its caps read from ctx->conf.node at
 * each put (so a reload applies). Returns NULL when out of memory. */
struct upstream_idle *upstream_idle_create(struct node_ctx *ctx);

/* Closes every idle connection and frees <s>. Accepts NULL. */
void upstream_idle_destroy(struct upstream_idle *s);

/* Parks <bev>, an idle connection to upstream <id> with nothing buffered
 * either way: takes ownership (its callbacks are replaced). Closes the
 * oldest of <id> beyond the per-upstream cap and the oldest of all beyond
 * the total, or <bev> itself when a cap is 0. */
void upstream_idle_put(struct upstream_idle *s, const char *id, struct bufferevent *bev);

/* The newest live idle connection to <id>, given to the caller (callbacks
 * unset, disabled), or NULL when none. Dead ones met on the way are closed
 * and counted. */
struct bufferevent *upstream_idle_take(struct upstream_idle *s, const char *id);

/* Closes every idle connection (a reload: none made under the old
 * settings serves afterwards). */
void upstream_idle_flush(struct upstream_idle *s);

/* 1 when <bev>, idle, still looks usable: nothing buffered, and the
 * socket has no FIN or error pending (and, on a plain socket, no byte:
 * an idle upstream has nothing to say). Shared with preconnect.c. */
int upstream_idle_bev_is_alive(struct bufferevent *bev);

/* 1 when one more shared connection (idle or warm) fits the descriptor
 * budget (fd_budget.h): it counts two descriptors per client up to
 * max_clients, so shared connections live on what the clients not
 * connected now leave (2 per active client, 1 per shared connection). */
int upstream_idle_fd_room(const struct node_ctx *ctx);

#endif
