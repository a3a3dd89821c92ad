/* The one table of failure kinds (in the spirit of HAProxy's CO_ER_*): why
 * a client connection ended, and for each kind everything the node does
 * about it. conn_close() logs and counts by it, the HTTP and SOCKS5 error
 * answers take their status and reply code from it, the passive health of
 * upstreams asks it whose fault a failed attempt was. A new kind is one
 * enum constant and one row. Pure: unit-tested in tests/unit/test_conn_err.c. */
#ifndef PF_NODE_CONN_ERR_H
#define PF_NODE_CONN_ERR_H

#include <stdint.h>

#include "log.h"
#include "stats.h"

enum conn_err {
    CONN_ERR_NONE = 0,            /* client closed between requests */
    CONN_ERR_DONE,                /* exchange finished without keep-alive */
    CONN_ERR_CLIENT_EOF,          /* client closed mid-exchange */
    CONN_ERR_CLIENT_IO,           /* client socket error */
    CONN_ERR_HEADER_TIMEOUT,      /* no complete head (or SOCKS5 handshake) in time */
    CONN_ERR_IDLE_TIMEOUT,
    CONN_ERR_BAD_REQUEST,
    CONN_ERR_HEAD_TOO_LARGE,
    CONN_ERR_AUTH,                /* client credentials missing or wrong */
    CONN_ERR_POLICY,              /* destination, port or address denied */
    CONN_ERR_DNS,
    CONN_ERR_UPSTREAM_REFUSED,
    CONN_ERR_UPSTREAM_RESET,
    CONN_ERR_UPSTREAM_TIMEOUT,
    CONN_ERR_UPSTREAM_BAD_REPLY,
    CONN_ERR_UPSTREAM_AUTH,       /* an upstream refused our credentials */
    CONN_ERR_UPSTREAM_EOF,        /* upstream closed mid-response */
    CONN_ERR_UPSTREAM_TLS,        /* https upstream: TLS handshake failed (certificate, name, protocol) */
    CONN_ERR_NO_UPSTREAM,
    CONN_ERR_ALL_EJECTED,         /* every usable upstream is locally ejected */
    CONN_ERR_OVER_LIMIT,          /* max_clients reached */
    CONN_ERR_USER_MAX_CONNS,      /* the user's max_conns, fleet-wide (user_meter.h) */
    CONN_ERR_USER_MAX_RPS,        /* the user's max_rps, fleet-wide */
    CONN_ERR_USER_BYTES_PER_DAY,  /* the user's daily byte quota, fleet-wide */
    CONN_ERR_USER_BYTES_PER_MONTH,/* the user's monthly byte quota, fleet-wide */
    CONN_ERR_TUNNEL_DONE,         /* a tunnel side closed */
    CONN_ERR_SHUTDOWN,
    CONN_ERR_INTERNAL,
    CONN_ERR__COUNT
};

/* One row of the table. */
struct conn_err_kind {
    const char        *name;           /* metric label and log word: stable, it is API */
    int                http_status;    /* the node's answer to an HTTP client; 0 = none, just close */
    uint8_t            socks_rep;      /* SOCKS5 REP for a SOCKS5 client (the reply may refine it
                                        * from the dial's detail: socks5_server.c) */
    enum stats_outcome outcome;        /* how an accepted request answered with this kind ended */
    int                is_upstream_fault; /* a failed attempt of this kind counts against the
                                        * upstream: passive health, local ejection */
    enum pf_log_level  log_level;      /* conn_close()'s line */
};

/* The row of <err>; a row of "?" (internal error) for a value out of range. */
const struct conn_err_kind *conn_err_kind(enum conn_err err);

/* conn_err_kind(<err>)->name. */
const char *conn_err_name(enum conn_err err);

#endif
