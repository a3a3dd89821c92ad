/* A client connection and, at most, one upstream connection: the node's
 * protocol-neutral transport. It owns both sockets (bufferevents, or the
 * raw relay of a tunnel), the deadline timer, the outgoing dial, the
 * per-state counters and the single close path with a reason (STYLE rules
 * 18, 19). What the bytes mean is the business of the protocol plugged in
 * through struct conn_ops (http_proxy.c, socks5_server.c); conn.c includes
 * no protocol header.
 *
 *   READ_HEAD -> DIALING -> FORWARD -> READ_HEAD (keep-alive) ...
 *                       \-> TUNNEL (CONNECT; bufferevents freed, raw relay in tunnel.c;
 *                                  through a TLS upstream the bufferevent relay, tunnel_bev.c)
 *   SOCKS5 (handshake, see socks5_server.h) -> DIALING -> TUNNEL
 *   any -> FLUSH (final answer or last bytes) -> LINGER -> closed
 *
 * conn.c runs FLUSH, LINGER and TUNNEL itself and calls the protocol's
 * dispatchers in the other states; each dispatcher asserts the states it
 * handles on entry (CONN_ASSERT). Objects are never freed from their own
 * callbacks: conn_close() unlinks the conn and hands it to the reaper
 * event, which frees it at the loop tail. */
#ifndef PF_NODE_CONN_H
#define PF_NODE_CONN_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "conf_gen.h"
#include "conn_err.h"
#include "dial.h"
#include "node.h"

struct bufferevent;
struct tunnel;
struct tunnel_bev;

/* Upper bound of bytes queued towards one side before reading the other
 * side stops (backpressure); reading resumes below half of it. */
#define CONN_HIGH_WATER (256 * 1024)

enum conn_state {
    CONN_ST_READ_HEAD = 0,    /* waiting for / reading a request head */
    CONN_ST_DIALING,          /* resolving, connecting, upstream handshake */
    CONN_ST_FORWARD,          /* request body and response relayed */
    CONN_ST_TUNNEL,           /* CONNECT: bytes spliced both ways */
    CONN_ST_FLUSH,            /* writing the last bytes, then closing */
    CONN_ST_LINGER,           /* write side shut; reading until EOF or a short deadline */
    CONN_ST_SOCKS5,           /* SOCKS5 greeting, auth and request (socks5_server.c) */
    CONN_ST__COUNT
};

struct conn;

/* The protocol spoken on a conn's client side. conn.c calls these from its
 * dispatchers in the protocol's states (READ_HEAD, DIALING, FORWARD,
 * SOCKS5), never in FLUSH, LINGER or TUNNEL, and never once the conn is
 * closing. Each may close the conn. */
struct conn_ops {
    /* Client bytes are readable, or (FORWARD) the upstream took what was
     * queued for it. */
    void (*on_client_data)(struct conn *c);
    /* The client sent FIN (c->is_client_eof is set). */
    void (*on_client_eof)(struct conn *c);
    /* The upstream side is ready: c->ubev is connected (dialed, handshake
     * done) or kept alive from the previous exchange. Called by attempt.c. */
    void (*on_upstream_ready)(struct conn *c);
    /* FORWARD: upstream bytes are readable, or the client took what was
     * queued for it. NULL for a protocol that never forwards. */
    void (*on_upstream_data)(struct conn *c);
    /* FORWARD: the upstream closed (<is_error>: a socket error). NULL for
     * a protocol that never forwards. */
    void (*on_upstream_close)(struct conn *c, int is_error);
    /* The deadline of the current state passed. */
    void (*on_timeout)(struct conn *c);
    /* Answers failure kind <reason> (conn_err.h) in the protocol's words,
     * counts it, then flushes and closes (see conn_reply_error()). */
    void (*reply_error)(struct conn *c, enum conn_err reason);
    /* 1 when nothing is in flight, so a drain may close the conn now. */
    int  (*is_idle)(const struct conn *c);
    /* The conn is being freed: release what c->proto owns. Also runs for
     * a conn closed before the protocol set up its state (all zero). */
    void (*release)(struct conn *c);
    /* conn_close() runs with <reason>: the protocol's last word on its
     * open exchange (the access log line), before both sides stop. NULL
     * when it has none. */
    void (*on_close)(struct conn *c, enum conn_err reason);
};

struct conn {
    struct node_ctx       *ctx;          /* borrowed */
    struct conf_gen       *gen;          /* one reference: the settings generation of the
                                          * current exchange (conf_gen.h) */
    const struct conf_node *cn;          /* &gen->node: every setting a conn reads */
    struct conn           *next;         /* in ctx->conns or ctx->closing */
    struct conn           *prev;
    uint64_t               id;
    char                   peer[64];     /* "ip:port" of the client */
    enum conn_state        state;
    enum conn_err          reason;       /* why we are flushing/closing */
    int                    is_closing;   /* conn_close() ran; waiting for the reaper */
    int                    is_reject;    /* over max_clients: only answers 503 */
    int                    is_client_eof;/* client sent FIN */
    struct bufferevent    *cbev;         /* owned: client; NULL in a tunnel (its relay owns the socket) */
    struct bufferevent    *ubev;         /* owned: upstream or destination (a TLS one for an https
                                          * upstream); may be NULL; NULL in a tunnel */
    struct tunnel         *tun;          /* owned: raw relay and both sockets in CONN_ST_TUNNEL, else NULL */
    struct tunnel_bev     *btun;         /* owned: the bufferevent relay and both bufferevents in
                                          * CONN_ST_TUNNEL through a TLS upstream, else NULL */
    struct event          *timer;        /* owned: the deadline of the current state */
    struct dial            dial;         /* embedded: the outgoing connection being made; set up
                                          * by attempt_init(), cancelled by conn_close() */
    uint64_t               bytes_in;     /* from the client */
    uint64_t               bytes_out;    /* to the client */
    uint64_t               nreq;         /* requests on this connection */
    const struct conn_ops *ops;          /* borrowed (static): the client-side protocol */
    void                  *proto;        /* the protocol's state: in the conn's own allocation,
                                          * zeroed, released by ops->release */
};

/* Accepts client socket <fd> from <sa> for protocol <ops>: allocates the
 * conn with <proto_size> zeroed bytes of protocol state behind c->proto,
 * links it into <ctx> and starts reading in READ_HEAD under
 * node.header_timeout_ms. With <is_reject> it counts as an over-limit conn
 * (the protocol answers, see conn_reply_error()). Takes ownership of <fd>.
 * Returns the conn, or NULL when it could not be set up (then <fd> is
 * closed, or the conn already closed with CONN_ERR_INTERNAL). */
struct conn *conn_create(struct node_ctx *ctx, int fd, const struct sockaddr *sa,
                         const struct conn_ops *ops, size_t proto_size, int is_reject);

/* The one close path: logs once, bumps the reason's counter, cancels the
 * dial, stops both sides and hands the conn to the reaper. Idempotent. */
void conn_close(struct conn *c, enum conn_err reason);

/* Between exchanges (nothing in flight): moves <c> to the current
 * settings generation (ctx->gen) when a reload made a new one, so a
 * kept-alive client meets the new users, timeouts and limits at its next
 * request. */
void conn_use_current_settings(struct conn *c);

/* Changes state and keeps per-state counters. */
void conn_set_state(struct conn *c, enum conn_state st);

/* Closes every live conn (shutdown), then frees all closed ones. */
void conn_close_all(struct node_ctx *ctx);

/* Drain: closes every live conn with nothing in flight (ops->is_idle). */
void conn_close_idle(struct node_ctx *ctx);

/* Creates the reaper event and the tunnel pool in <ctx>. Returns PF_OK or
 * PF_ENOMEM. */
int conn_module_init(struct node_ctx *ctx) PF_MUSTCHECK;
void conn_module_deinit(struct node_ctx *ctx);

/* Name of <st> for logs and metrics. */
const char *conn_state_name(enum conn_state st);

/* Answers failure kind <reason> to the client through the protocol
 * (ops->reply_error: an HTTP status or a SOCKS5 reply, from conn_err.h),
 * which counts it, flushes and closes with <reason>. Nothing when the conn
 * is already closing. */
void conn_reply_error(struct conn *c, enum conn_err reason);

/* (Re)arms the conn's timer for <ms>. */
void conn_arm_timer(struct conn *c, int ms);

/* Takes ownership of connected <bev> as the conn's upstream side (replacing
 * any previous one): sets its callbacks and watermarks and enables it. */
void conn_attach_upstream(struct conn *c, struct bufferevent *bev);

/* Frees the upstream side, if any (not a close of the conn). */
void conn_drop_upstream(struct conn *c);

/* Switches to TUNNEL: hands both sockets and what their bufferevents hold
 * to the raw relay (tunnel.h) under node.idle_timeout_ms, and counts the
 * tunnel; through a TLS upstream, both bufferevents to the bufferevent
 * relay (tunnel_bev.h) instead. The conn may be closed on return. */
void conn_tunnel_start(struct conn *c);

/* Cancels the dial, drops the upstream side, flushes the client's output,
 * then closes with <reason>. */
void conn_flush_and_close(struct conn *c, enum conn_err reason);

/* Adds <len> bytes at <data> to the client's output and counts them. */
int conn_client_write(struct conn *c, const void *data, size_t len) PF_MUSTCHECK;

/* A dispatcher's state check (STYLE rule 18), always compiled in: a conn
 * in a state its dispatcher does not handle is a bug in the state
 * machine, so it is logged with the conn's id and state and the process
 * aborts (as HAProxy's BUG_ON) rather than act on a wrong state. */
#define CONN_ASSERT(c, cond) \
    do { if (!(cond)) conn_bug((c), #cond, __FILE__, __LINE__); } while (0)
void conn_bug(const struct conn *c, const char *what, const char *file, int line)
    __attribute__((noreturn));

#endif
