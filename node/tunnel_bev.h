/* The tunnel relay over two bufferevents, for a tunnel whose upstream
 * speaks TLS (an https upstream, upstream_tls.h). The raw relay
 * (tunnel.h) moves bytes between plain sockets with recv/send/splice;
 * TLS records must be sealed and opened by OpenSSL, so here the upstream
 * side stays a TLS bufferevent and the client side a socket bufferevent,
 * and bytes move between their buffers with evbuffer_add_buffer() (chains
 * handed over, never copied). The plain path never comes here and pays
 * nothing for it.
 *
 * Backpressure: a side is read only while the other side's output holds
 * less than CONN_HIGH_WATER, and read again once it drained below half.
 * Half-close: a side's EOF is passed on once everything before it was
 * written: shutdown(SHUT_WR) towards the client, TLS close_notify towards
 * the upstream (retried when the socket is full); the relay ends when
 * both directions are done. Idle time is kept for the conn's timer, as
 * the raw relay does. */
#ifndef PF_NODE_TUNNEL_BEV_H
#define PF_NODE_TUNNEL_BEV_H

#include <stdint.h>

#include "tunnel.h"

struct bufferevent;
struct tunnel_bev;

/* What a relay starts from. */
struct tunnel_bev_args {
    struct event_base  *base;           /* borrowed: the loop */
    struct bufferevent *bev[2];         /* owned by the relay once created: [TUNNEL_CLIENT] a socket
                                         * bufferevent, [TUNNEL_UPSTREAM] a TLS one; what their
                                         * buffers hold is relayed first (input to the other side) */
    uint64_t           *nread[2][2];    /* borrowed counters: [s][0..1] both get what is read from side s */
    size_t              high_water;     /* output bytes held towards a side before the other stops */
    tunnel_done_fn      done;
    void               *arg;            /* for done */
    uint64_t            id;             /* the owner's id and peer, for log lines (clog.h) */
    const char         *peer;           /* borrowed: outlives the relay */
};

/* Starts relaying between <a>->bev[]: takes ownership of both (also on
 * failure: then they are freed), moves what they already hold and
 * watches them. <a>->done may run before this returns. Returns the relay,
 * or NULL when out of memory. */
struct tunnel_bev *tunnel_bev_create(const struct tunnel_bev_args *a);

/* Milliseconds since bytes last moved (cached loop time). */
int64_t tunnel_bev_idle_ms(const struct tunnel_bev *t);

/* Stops every callback and event of <t>; nothing fires after. Idempotent,
 * accepts NULL. */
void tunnel_bev_stop(struct tunnel_bev *t);

/* Frees both bufferevents (closing their sockets) and <t>. Accepts NULL.
 * Must follow tunnel_bev_stop() (or the done callback). */
void tunnel_bev_destroy(struct tunnel_bev *t);

#endif
