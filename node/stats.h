/* The node's counters: plain integers bumped on the event loop thread,
 * read by admin_http (/metrics) and report (the Redis heartbeat). */
#ifndef PF_NODE_STATS_H
#define PF_NODE_STATS_H

#include <stdint.h>

#include "hist.h"

#define STATS_REASONS_MAX 40    /* >= CONN_ERR__COUNT (checked in conn.c) */

/* How an accepted request or tunnel ended, for /stats and /metrics. */
enum stats_outcome {
    STATS_OUT_OK = 0,           /* response head relayed / tunnel established */
    STATS_OUT_DENIED,           /* 403, 407 */
    STATS_OUT_CLIENT_ERROR,     /* other 4xx the node generated */
    STATS_OUT_UPSTREAM_ERROR,   /* 502, 504, 500 */
    STATS_OUT_UNAVAILABLE,      /* 503 */
    STATS_OUT__COUNT
};

struct node_stats {
    uint64_t requests_total;        /* HTTP requests and CONNECT tunnels accepted (head parsed) */
    uint64_t responses_1xx;         /* response heads sent to clients, by class */
    uint64_t responses_2xx;
    uint64_t responses_3xx;
    uint64_t responses_4xx;
    uint64_t responses_5xx;
    uint64_t errors_502;            /* failure answers the node generated */
    uint64_t errors_503;
    uint64_t errors_504;
    uint64_t retries;               /* extra upstream attempts after a failed one */
    uint64_t conns_active;          /* client connections open now */
    uint64_t conns_total;           /* client connections accepted */
    uint64_t rejected_over_limit;   /* clients answered 503 at max_clients */
    uint64_t bytes_in;              /* from clients */
    uint64_t bytes_out;             /* to clients */
    uint64_t tunnels_total;         /* CONNECT tunnels established */
    uint64_t auth_failures;         /* 407 answers */
    uint64_t policy_denials;        /* 403 answers (destination policy) */
    uint64_t upstream_reused;       /* requests sent on a kept-alive upstream connection */
    uint64_t upstream_dials;        /* upstream/destination connections attempted */
    uint64_t upstream_tls_handshakes; /* TLS handshakes completed with https upstreams */
    uint64_t upstream_tls_resumed;  /* ... of which resumed an earlier session */
    uint64_t upstream_unsupported;  /* pool upstreams skipped: scheme not implemented yet */
    uint64_t label_misses;          /* picks whose label filter matched no usable upstream (503) */
    uint64_t label_fallbacks;       /* ... served from the whole pool (node.label_fallback) */
    uint64_t user_param_errors;     /* client user names with bad parameters (407) */
    uint64_t socks5_total;          /* client conns that spoke SOCKS5 (either port) */
    int64_t  conns_by_state[8];     /* live client conns per enum conn_state */
    uint64_t close_reasons[STATS_REASONS_MAX]; /* closed client conns by enum conn_err */
    uint64_t outcomes[2][STATS_OUT__COUNT]; /* [0] HTTP requests, [1] CONNECT tunnels */
    uint64_t upstream_errors[STATS_REASONS_MAX]; /* failed upstream attempts by enum conn_err */
    uint64_t clients_denied;        /* connections closed by node.client_allow */
    uint64_t connect_port_denials;  /* CONNECT to a port outside node.connect_ports */
    uint64_t ejections;             /* local passive ejections of upstreams */
    uint64_t ban_skips;             /* upstreams a pick skipped because a ban covers them */
    uint64_t accept_errors;         /* accept() failures (EMFILE, ENFILE, ...): listener paused */
    uint64_t reloads;               /* good SIGHUP reloads */
    uint64_t reload_errors;         /* refused SIGHUP reloads (running config kept) */
    uint64_t access_log_errors;     /* access log lines lost (write failed) */
    struct hist ttfb;               /* request head parsed -> response head from upstream */
    struct hist connect_time;       /* dial start -> connected (and handshake done) */
};

#endif
