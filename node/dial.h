/* Outgoing connections: to a destination (direct mode) or to an upstream
 * proxy (pool mode), with name resolution on the node's evdns_base, the
 * destination policy, and a per-scheme handshake. Completion is always
 * reported later from the event loop, never from inside dial_start(). */
#ifndef PF_NODE_DIAL_H
#define PF_NODE_DIAL_H

#include <stdint.h>
#include <sys/socket.h>

#include "http_head.h"
#include "node.h"
#include "upstream-t.h"

struct bufferevent;
struct evdns_getaddrinfo_request;

enum dial_err {
    DIAL_OK = 0,
    DIAL_ERR_DNS,             /* name did not resolve */
    DIAL_ERR_POLICY,          /* resolved destination is not allowed */
    DIAL_ERR_REFUSED,         /* connect refused or failed */
    DIAL_ERR_RESET,           /* connection lost during the handshake */
    DIAL_ERR_TIMEOUT,         /* set by the caller's deadline via dial_fail_timeout() */
    DIAL_ERR_BAD_REPLY,       /* upstream spoke its protocol wrongly */
    DIAL_ERR_UPSTREAM_AUTH,   /* upstream answered 407 or refused our SOCKS5 credentials */
    DIAL_ERR_UPSTREAM_STATUS, /* upstream refused the tunnel (non-2xx) */
    DIAL_ERR_TLS,             /* https upstream: TLS handshake failed (certificate, name, protocol) */
    DIAL_ERR_UNSUPPORTED,     /* upstream scheme not implemented yet */
    DIAL_ERR_INTERNAL,        /* allocation or socket failure */
};

/* Called once per dial_start() unless cancelled. On DIAL_OK, takes nothing
 * and gives <bev> (connected, handshake done, callbacks unset, input may
 * already hold bytes that follow the handshake): the callee owns it. */
typedef void (*dial_done_fn)(void *arg, enum dial_err err, struct bufferevent *bev);

struct dial {
    struct node_ctx *ctx;                     /* borrowed */
    const struct conf_node *cn;               /* borrowed: the settings of the conn dialing
                                               * (c->cn), set by its caller before dial_start() */
    dial_done_fn     cb;
    void            *arg;
    struct event    *done_ev;                 /* owned: deferred completion */
    struct evdns_getaddrinfo_request *dns_req;/* owned by evdns while pending */
    struct bufferevent *bev;                  /* owned until handed to cb */
    struct http_head *reply;                  /* owned: HTTP handshake reply head, only while it is read */
    const struct upstream *up;                /* borrowed from the caller (attempt.up) while the dial runs; NULL direct */
    int      is_via_upstream;
    int      is_tunnel;                       /* ask the upstream for a CONNECT tunnel */
    int      is_policy_checked;               /* direct mode: check resolved address */
    int      is_active;
    int      is_finishing;                    /* completion scheduled */
    int      is_connected;
    int      is_tls_up;                       /* https upstream: TLS handshake done */
    char     host[UPSTREAM_HOST_MAX];         /* where to connect */
    uint16_t port;
    char     dest_host[UPSTREAM_HOST_MAX];    /* tunnel destination */
    uint16_t dest_port;
    enum dial_err err;
    int      reply_status;                    /* upstream's status on UPSTREAM_*: HTTP status, or SOCKS5 REP */
    int      sys_errno;                       /* connect() errno on DIAL_ERR_REFUSED, else 0 */
    const char *detail;                       /* static text refining err for logs (DIAL_ERR_TLS:
                                               * why, see upstream_tls_failure()), else NULL */
    int      socks5_step;                     /* socks5 upstream handshake progress */
    int      is_warm;                         /* dial_start_warm(): stop once the upstream is
                                               * ready for a request (preconnect.h) */
    struct bufferevent *warm_bev;             /* owned: dial_resume()'s warm connection until
                                               * it is taken up (after a socks5 resolve) */
    int      is_dest_resolved;                /* socks5: dest_host now holds the resolved address */
};

/* Prepares <d>; <cb>(<arg>, ...) gets each completion. Returns PF_OK or PF_ENOMEM. */
int dial_init(struct dial *d, struct node_ctx *ctx, dial_done_fn cb, void *arg) PF_MUSTCHECK;

/* Cancels anything pending (no callback) and frees what <d> owns. */
void dial_deinit(struct dial *d);

/* Starts connecting to <host>:<port>. When <up> is non-NULL the connection
 * goes to that upstream proxy (borrowed: <up>
 * must stay valid and unchanged until completion or dial_cancel()) and, with <is_tunnel>, asks it for a
 * tunnel to <host>:<port> (a SOCKS5 upstream always tunnels; for scheme
 * socks5 a name is first resolved here and its address must pass the
 * destination policy; an https upstream is spoken to over TLS, its
 * handshake within the caller's connect deadline: upstream_tls.h); otherwise it goes to the destination itself and
 * the resolved address is checked against the destination policy (policy.h). */
void dial_start(struct dial *d, const char *host, uint16_t port, const struct upstream *up,
                int is_tunnel);

/* Preconnect (preconnect.h): connects to upstream <up> (borrowed, as for
 * dial_start()) and sets the connection up as far as it can go without a
 * destination: TCP for http, TCP and TLS for https, TCP and the SOCKS5
 * greeting and RFC 1929 auth for socks5/socks5h. The callback then gets
 * the bev, ready for dial_resume(). */
void dial_start_warm(struct dial *d, const struct upstream *up);

/* As dial_start() through upstream <up>, on <warm> (owned from here on), a
 * connection dial_start_warm() set up to that upstream: what is left of
 * the handshake (the CONNECT, the SOCKS5 request; nothing for a plain
 * request through an http/https upstream) runs on it. A dead <warm> ends
 * like a connection lost during a handshake (DIAL_ERR_RESET, or
 * DIAL_ERR_BAD_REPLY with reply_status 0 on a close); the caller may
 * dial again. */
void dial_resume(struct dial *d, const char *host, uint16_t port, const struct upstream *up,
                 int is_tunnel, struct bufferevent *warm);

/* Stops a pending dial without calling back. Safe when idle. */
void dial_cancel(struct dial *d);

/* Fails a pending dial with DIAL_ERR_TIMEOUT (deferred callback). */
void dial_fail_timeout(struct dial *d);

/* Returns 1 when dial.c can speak <scheme> (http, https, socks5, socks5h). */
int dial_scheme_is_supported(enum upstream_scheme scheme);

/* Returns 1 when <scheme> is a SOCKS5 proxy: every connection through it is
 * a tunnel to the destination, so plain HTTP requests go in origin-form. */
int dial_scheme_is_socks(enum upstream_scheme scheme);

/* Appends "Proxy-Authorization: Basic base64(user:pass)\r\n" to <out> when
 * <up> has a user; nothing otherwise. Returns PF_OK or PF_ENOMEM. */
struct evbuffer;
int dial_append_upstream_auth(struct evbuffer *out, const struct upstream *up) PF_MUSTCHECK;

/* Short name of <err> for logs. */
const char *dial_err_name(enum dial_err err);

#endif
