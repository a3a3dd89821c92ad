/* Raw relay of an established tunnel (HTTP CONNECT, SOCKS5 CONNECT): once
 * the handshake is done its owner hands over the two sockets and the bytes
 * it had already buffered, and bytes move between the two fds
 * with plain events, recv/send through one shared scratch buffer, or
 * splice(2) through a pipe borrowed from a small pool for bulk transfers.
 *
 * Per direction at most one chunk is held (in the pipe, or in a leftover
 * buffer allocated only after a short write); while it is held the source
 * is not read (backpressure). An idle tunnel holds no buffer and no pipe.
 * The relay knows nothing of connections: it counts into the counters it
 * is given and reports its end through a callback. */
#ifndef PF_NODE_TUNNEL_H
#define PF_NODE_TUNNEL_H

#include <stddef.h>
#include <stdint.h>

#include "pf.h"

struct event_base;
struct tunnel;
struct tunnel_pool;

enum { TUNNEL_CLIENT = 0, TUNNEL_UPSTREAM = 1 };   /* the two sides */

#define TUNNEL_PIPES_MAX  32            /* pipes lent plus idle, 2 fds each (fd_budget.h) */

/* How a relay ended. */
enum tunnel_end {
    TUNNEL_END_DONE = 0,        /* both sides sent FIN and got everything */
    TUNNEL_END_CLIENT_ERROR,    /* socket error or RST on the client side */
    TUNNEL_END_UPSTREAM_ERROR,  /* socket error or RST on the upstream side */
    TUNNEL_END_NOMEM,           /* no memory for a short write's remainder */
};

/* Called once when the relay ends, after its events are stopped; the
 * callee destroys the tunnel later (never from inside the callback). */
typedef void (*tunnel_done_fn)(void *arg, enum tunnel_end end);

/* What a relay starts from: both sockets and what their owner had already
 * buffered in each direction. */
struct tunnel_args {
    struct event_base  *base;           /* borrowed: the loop */
    struct tunnel_pool *pool;           /* borrowed: scratch buffer and pipes */
    int                 fd[2];          /* owned by the tunnel once created: [TUNNEL_CLIENT], [TUNNEL_UPSTREAM] */
    char               *pending[2];     /* owned by the tunnel once created (malloc'd, or NULL):
                                         * [s] holds bytes still to write to side !s, in wire order */
    size_t              pending_len[2];
    uint64_t           *nread[2][2];    /* borrowed counters: [s][0..1] both get what is read from side s */
    tunnel_done_fn      done;
    void               *arg;            /* for done */
    uint64_t            id;             /* the owner's id and peer, for log lines (clog.h) */
    const char         *peer;           /* borrowed: outlives the tunnel */
};

/* Creates the per-loop relay resources: the scratch buffer and an empty
 * pipe pool. Returns NULL when out of memory. */
struct tunnel_pool *tunnel_pool_create(void);

/* Closes the pool's idle pipes and frees it. Accepts NULL. Every tunnel
 * must have been destroyed before. */
void tunnel_pool_destroy(struct tunnel_pool *pool);

/* Starts relaying between <a>->fd[]: takes ownership of both sockets and of
 * both pending buffers (also on failure: then they are closed and freed),
 * writes what is pending and watches the sockets. <a>->done may run
 * before this returns (a side already failed). Returns the tunnel, or NULL
 * when out of memory. */
struct tunnel *tunnel_create(const struct tunnel_args *a);

/* Milliseconds since bytes last moved (cached loop time). */
int64_t tunnel_idle_ms(const struct tunnel *t);

/* Removes <t>'s events from the loop; nothing fires after. Idempotent,
 * accepts NULL. */
void tunnel_stop(struct tunnel *t);

/* Closes both sockets, gives back or closes the pipes, frees <t>. Accepts
 * NULL. Must follow tunnel_stop() (or the done callback). */
void tunnel_destroy(struct tunnel *t);

#endif
