/* Raw relay of an established tunnel (HTTP CONNECT, SOCKS5 CONNECT): once
 * the handshake is done the conn's two bufferevents are emptied into the
 * relay and freed (not their sockets), and bytes move between the two fds
 * with plain events, recv/send through one shared scratch buffer, or
 * splice(2) through a pipe borrowed from a small pool for bulk transfers.
 *
 * Per direction at most one chunk is held (in the pipe, or in a leftover
 * buffer allocated only after a short write); while it is held the source
 * is not read (backpressure). An idle tunnel holds no buffer and no pipe. */
#ifndef PF_NODE_TUNNEL_H
#define PF_NODE_TUNNEL_H

#include "pf.h"

struct conn;
struct tunnel;
struct tunnel_pool;

/* Creates the per-loop relay resources: the scratch buffer and an empty
 * pipe pool. Returns NULL when out of memory. */
struct tunnel_pool *tunnel_pool_create(void);

/* Closes the pool's idle pipes and frees it. Accepts NULL. Every tunnel
 * must have been destroyed before. */
void tunnel_pool_destroy(struct tunnel_pool *pool);

/* Takes over <c>'s sockets: moves what c->cbev and c->ubev still buffer
 * (in wire order, nothing lost) into the relay, frees both bufferevents
 * without closing their fds (c->cbev and c->ubev become NULL), sets
 * c->tun and relays what it can. The caller arms c->timer first; the conn
 * may be closed on return (c->is_closing). Returns PF_OK, or PF_ENOMEM with
 * <c> unchanged. */
int tunnel_start(struct conn *c) PF_MUSTCHECK;

/* The idle deadline fired: closes the tunnel when nothing moved for
 * node.idle_timeout_ms, else re-arms c->timer for the time left. */
void tunnel_on_timer(struct conn *c);

/* Removes <t>'s events from the loop (conn_close); nothing fires after. */
void tunnel_stop(struct tunnel *t);

/* Closes both sockets, gives back or closes the pipes, frees <t>. Accepts
 * NULL. Must follow tunnel_stop(). */
void tunnel_destroy(struct tunnel *t);

#endif
