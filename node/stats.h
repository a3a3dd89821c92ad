/* The node's counters: plain integers bumped on the event loop thread,
 * read by admin_http (/metrics) and report (the Redis heartbeat). */
#ifndef PF_NODE_STATS_H
#define PF_NODE_STATS_H

#include <stdint.h>

#define STATS_REASONS_MAX 32    /* >= CONN_ERR__COUNT (checked in conn.c) */

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
    uint64_t upstream_unsupported;  /* pool upstreams skipped: scheme not implemented yet */
    int64_t  conns_by_state[8];     /* live client conns per enum conn_state */
    uint64_t close_reasons[STATS_REASONS_MAX]; /* closed client conns by enum conn_err */
};

#endif
