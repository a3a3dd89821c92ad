/* One client connection and, at most, one upstream connection: an explicit
 * state machine (STYLE rule 18) with a single close path (rule 19).
 *
 *   READ_HEAD -> DIALING -> FORWARD -> READ_HEAD (keep-alive) ...
 *                       \-> TUNNEL (CONNECT; bufferevents freed, raw relay in tunnel.c)
 *   SOCKS5 (handshake, see socks5_server.h) -> DIALING -> TUNNEL
 *   any -> FLUSH (final answer or last bytes) -> LINGER -> closed
 *
 * Objects are never freed from their own callbacks: conn_close() unlinks
 * the conn and hands it to the reaper event, which frees it at the loop tail. */
#ifndef PF_NODE_CONN_H
#define PF_NODE_CONN_H

#include <stdint.h>
#include <sys/socket.h>

#include "conn_err.h"
#include "dial.h"
#include "http_head.h"
#include "node.h"

struct bufferevent;
struct tunnel;

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


#define CONN_TRIED_MAX 16

struct conn {
    struct node_ctx    *ctx;            /* borrowed */
    struct conn        *next;           /* in ctx->conns or ctx->closing */
    struct conn        *prev;
    uint64_t            id;
    char                peer[64];       /* "ip:port" of the client */
    enum conn_state     state;
    enum conn_err       reason;         /* why we are flushing/closing */
    int                 is_closing;     /* conn_close() ran; waiting for the reaper */
    int                 is_reject;      /* over max_clients: only answers 503 */
    int                 is_socks5;      /* speaks SOCKS5: errors are SOCKS5 replies */
    int                 is_socks5_port; /* accepted on node.socks5_listen */
    int                 socks5_step;    /* handshake progress in CONN_ST_SOCKS5 */
    struct bufferevent *cbev;           /* owned: client; NULL in a tunnel (c->tun owns the socket) */
    struct bufferevent *ubev;           /* owned: upstream or destination; may be NULL; NULL in a tunnel */
    struct tunnel      *tun;            /* owned: raw relay and both sockets in CONN_ST_TUNNEL, else NULL */
    struct event       *timer;          /* owned: the deadline of the current state */
    struct dial         dial;           /* embedded */
    uint64_t            bytes_in;       /* from the client */
    uint64_t            bytes_out;      /* to the client */
    uint64_t            nreq;           /* requests on this connection */
    int                 is_head_started;/* bytes of the current head arrived */
    int                 is_client_eof;  /* client sent FIN */
    int                 is_upstream_eof;/* upstream sent FIN (2: error) in FORWARD */
    int                 is_client_shut; /* we sent FIN to the client (unused in a tunnel: see tunnel.c) */
    int                 is_upstream_shut;/* we sent FIN to the upstream (idem) */
    /* current request */
    struct http_head   *req;            /* owned: from the first head byte to the exchange's end; NULL in a tunnel */
    struct http_target  tgt;
    int                 is_connect;
    int                 is_head_req;
    int                 is_req_keep_alive;
    struct http_body    req_body;
    uint64_t            req_body_sent;
    char                dest[300];      /* "host:port" for logs; never userinfo */
    /* current response */
    struct http_head   *resp;           /* owned: from sending the request to the exchange's end */
    struct http_body    resp_body;
    int                 is_resp_head_done;
    int                 is_resp_waiting;/* request all written upstream: response_timeout_ms runs */
    int                 is_resp_started;/* bytes went to the client */
    int                 is_client_keep_alive; /* promised on this response */
    int                 is_upstream_keep_alive;
    /* upstream choice and reuse */
    struct upstream     up;             /* copy of the chosen upstream (pool mode) */
    int                 has_up;
    char                ukey[UPSTREAM_ID_MAX + 300]; /* what ubev is connected to */
    int                 is_ubev_reused; /* this request went on a kept-alive ubev */
    int64_t             ubev_pool_version; /* pool version when ubev was dialed */
    long                tried[CONN_TRIED_MAX]; /* pool indexes failed on, valid in tried_generation */
    size_t              ntried;
    uint64_t            tried_generation; /* pool_cache generation tried[] refers to */
    int                 retry_after_s;  /* Retry-After of a 503; 0 = the default 1 s */
    int                 nattempts;
    enum conn_err       last_reason;    /* last failed attempt, for the final answer */
    /* selection and timing (node/select.h, common/hist.h) */
    int                 has_session;    /* sticky: rendezvous on session_hash */
    uint64_t            session_hash;
    int                 is_up_counted;  /* counted in pool_cache active conns of c->up */
    int                 is_attempt_open;/* plain request dialed c->up: its passive-health outcome waits for the response head */
    int64_t             req_start_us;   /* head parsed: time-to-first-byte origin */
    int64_t             dial_start_us;  /* current attempt's dial start */
};

/* Accepts client socket <fd> from <sa>: creates the conn and links it into
 * <ctx>. With <is_reject> the conn only answers 503 (max_clients reached).
 * Takes ownership of <fd> (closed on failure). */
void conn_create(struct node_ctx *ctx, int fd, const struct sockaddr *sa, int is_reject);

/* conn_create() for the SOCKS5-only listener: the conn starts in
 * CONN_ST_SOCKS5. Over max_clients (<is_reject>) it is just closed, as
 * SOCKS5 has no answer before the greeting. Takes ownership of <fd>. */
void conn_create_socks5(struct node_ctx *ctx, int fd, const struct sockaddr *sa, int is_reject);

/* The one close path: logs once, bumps the reason's counter, and hands the
 * conn to the reaper. Idempotent. */
void conn_close(struct conn *c, enum conn_err reason);

/* Changes state and keeps per-state counters. */
void conn_set_state(struct conn *c, enum conn_state st);

/* Closes every live conn (shutdown), then frees all closed ones. */
void conn_close_all(struct node_ctx *ctx);

/* Creates the reaper event in <ctx>. Returns PF_OK or PF_ENOMEM. */
int conn_module_init(struct node_ctx *ctx) PF_MUSTCHECK;
void conn_module_deinit(struct node_ctx *ctx);

/* Name of <st> for logs and metrics. */
const char *conn_state_name(enum conn_state st);

/* Sends a complete small error answer for failure kind <reason> (its HTTP
 * status, Connection: close; on a SOCKS5 conn its SOCKS5 reply, see
 * socks5_server.c), counts it, and flushes then closes with <reason>. */
void conn_reply_error(struct conn *c, enum conn_err reason);

/* (Re)arms the conn's timer for <ms>. */
void conn_arm_timer(struct conn *c, int ms);

/* Takes ownership of connected <bev> as the conn's upstream side (replacing
 * any previous one; ukey is kept): sets its callbacks and watermarks and
 * enables it. */
void conn_attach_upstream(struct conn *c, struct bufferevent *bev);

/* Frees the upstream side, if any (not a close of the conn). */
void conn_drop_upstream(struct conn *c);

/* Switches to TUNNEL: hands both sockets and what their bufferevents hold
 * to the raw relay (tunnel.h) and relays whatever both sides already sent. */
void conn_tunnel_start(struct conn *c);

/* Flushes the client's output, then closes with <reason>. */
void conn_flush_and_close(struct conn *c, enum conn_err reason);

/* Back to READ_HEAD for the next request on a kept-alive client, and parses
 * any pipelined bytes already received. */
void conn_next_request(struct conn *c);

/* Adds <len> bytes at <data> to the client's output and counts them. */
int conn_client_write(struct conn *c, const void *data, size_t len) PF_MUSTCHECK;

#endif
