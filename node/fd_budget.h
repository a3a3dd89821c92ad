/* The node's descriptor budget (issue 11): two per client at max_clients
 * (its socket and its upstream's), the tunnel relay's splice pipes, the
 * over-limit conns still answering their 503, and a reserve for the
 * process' own: stdio, listeners, the admin port and its clients, Redis
 * and Sentinel, DNS, the access log, the loop's own descriptors, files.
 *
 * At start (and on a reload that changes max_clients) the soft
 * RLIMIT_NOFILE is raised toward the need, within the hard limit. When it
 * is still short, max_clients is capped to the clients it allows: idle
 * clients beyond them get the fast 503 instead of taking the descriptors
 * the requests in flight need for their upstreams. The arithmetic is pure
 * (tests/unit/test_fd_budget.c); fd_budget_plan() adds the two syscalls. */
#ifndef PF_NODE_FD_BUDGET_H
#define PF_NODE_FD_BUDGET_H

#include <stdint.h>

#include "pf.h"
#include "tunnel.h"

#define FD_BUDGET_RESERVE       64                    /* the process' own descriptors */
#define FD_BUDGET_PIPES         (2 * TUNNEL_PIPES_MAX) /* the relay's pipe pool at its bound */
#define FD_BUDGET_REJECTING_MAX 256                   /* over-limit conns answering at once */
#define FD_BUDGET_REJECTING_MIN 8

struct fd_budget {
    uint64_t limit;           /* soft RLIMIT_NOFILE (after any raise) */
    uint64_t hard;            /* hard limit; UINT64_MAX = unlimited */
    uint64_t need;            /* descriptors the configured max_clients needs */
    int      max_clients;     /* clients the limit allows: at most the configured number */
    int      rejecting_max;   /* over-limit conns answering 503 at once */
    int      is_short;        /* the limit caps max_clients */
    int      is_raised;       /* the soft limit was raised */
    int      raise_errno;     /* setrlimit() failed with it; 0 = fine or not tried */
};

/* Descriptors <max_clients> clients need with <rejecting_max> over-limit
 * conns answering: 2 x max_clients + pipes + rejecting + reserve. */
uint64_t fd_budget_need(int max_clients, int rejecting_max);

/* Fits <max_clients> into <limit> descriptors: fills b->limit, b->need,
 * b->max_clients, b->rejecting_max and b->is_short. FD_BUDGET_REJECTING_MAX
 * answering conns when everything fits, else limit/16 of them (within
 * 8..256); then max_clients, or what is left for clients when that is
 * fewer (is_short; may be 0). b->need counts those answering conns. */
void fd_budget_fit(uint64_t limit, int max_clients, struct fd_budget *b);

/* Reads RLIMIT_NOFILE, raises the soft limit toward the need of
 * <max_clients> (never above the hard limit), then fits <max_clients>
 * into it (fd_budget_fit). Returns PF_OK, or PF_EIO when the limit cannot
 * be read; a refused raise only sets b->raise_errno. */
int fd_budget_plan(int max_clients, struct fd_budget *b) PF_MUSTCHECK;

#endif
