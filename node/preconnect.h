/* Preconnect (issue 14 item 3): warm connections to the upstreams in use,
 * set up before a client asks, in the spirit of Envoy's
 * per_upstream_preconnect_ratio. A warm connection is as far as a
 * connection goes without a destination (dial_start_warm()): TCP for
 * http, TCP and TLS for https, TCP and the SOCKS5 greeting and RFC 1929
 * auth for socks5/socks5h. A try that takes one finishes the handshake on
 * it (dial_resume(): the CONNECT or the SOCKS5 request), so a new tunnel
 * through an upstream R away starts 1 (http), 2 (https) or 3 (socks5 with
 * auth) round trips sooner.
 *
 * Sizing: every try that needs a new connection to an upstream counts one
 * use of it (preconnect_take()). Once a second the uses become a rate
 * (halved each second, plus half the last second's uses), and the upstream
 * keeps ceil(node.preconnect_ratio x rate) warm connections, ready or being
 * set up (at least one while it is used at all; none once its rate falls
 * under 0.05/s or it leaves the pool), within node.preconnect_max in all.
 * A take starts the replacement at once. A warm connection is closed and
 * replaced after node.preconnect_max_idle_ms (before the upstream's own
 * idle timeout closes it under us), and closed when its upstream needs
 * fewer. While warm it is read: a close, a reset or a byte throws it away;
 * a take checks the socket once more (MSG_PEEK, upstream_idle.h).
 *
 * Figures: the preconnect_* fields of struct node_stats. Pool mode only;
 * nothing happens while node.preconnect_ratio is 0 (the default). */
#ifndef PF_NODE_PRECONNECT_H
#define PF_NODE_PRECONNECT_H

#include "node.h"
#include "upstream-t.h"

struct bufferevent;
struct preconnect;

/* The preconnect of <ctx> (its settings read from ctx->conf.node and its
 * warm dials made with ctx->gen, so a reload applies), with its once-a-
 * second tick. Returns NULL when out of memory. */
struct preconnect *preconnect_create(struct node_ctx *ctx);

/* Closes every warm connection, cancels the ones being set up, frees <p>.
 * Accepts NULL. */
void preconnect_destroy(struct preconnect *p);

/* A try needs a new connection to upstream <up> (id <id>; copied when the
 * upstream is new here): counts the use, tops the upstream's warm
 * connections up, and returns the newest live one, which the caller then
 * owns (callbacks unset, disabled: for dial_resume()), or NULL when none is
 * ready (counted as a miss). NULL and nothing counted while
 * node.preconnect_ratio is 0 or the node drains. */
struct bufferevent *preconnect_take(struct preconnect *p, const char *id, const struct upstream *up);

/* Closes every warm connection and forgets every upstream's use (a
 * reload). */
void preconnect_flush(struct preconnect *p);

#endif
