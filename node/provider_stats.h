/* Requests and bytes per provider (issue 12 item 1): the node counts each
 * request at its end (access_mark_end(), whether or not an access log is
 * written) under the provider of the upstream its last try went through,
 * with the bytes the request moved from and to the client; a direct-mode
 * node counts its requests under PROVIDER_STATS_DIRECT. A tunnel
 * (CONNECT, SOCKS5) is counted when it closes.
 *
 * A fixed table of PROVIDER_STATS_MAX providers with an open-addressed
 * index, so a request costs one hash and a compare or two, and a pool
 * that names more providers (a config has at most 256) cannot grow the
 * node's memory or the metric's label set: the rest is counted under
 * PROVIDER_STATS_OTHER. Pure, no allocation (tests/unit/test_provider_stats.c). */
#ifndef PF_NODE_PROVIDER_STATS_H
#define PF_NODE_PROVIDER_STATS_H

#include <stddef.h>
#include <stdint.h>

#include "upstream-t.h"

#define PROVIDER_STATS_MAX   256
#define PROVIDER_STATS_SLOTS 512          /* index slots, a power of two > MAX */
#define PROVIDER_STATS_OTHER "(other)"    /* providers beyond the table */
#define PROVIDER_STATS_DIRECT "(direct)"  /* direct mode: no upstream (no provider
                                             name has parentheses) */

struct provider_stats_row {
    char     name[UPSTREAM_NAME_MAX];
    uint64_t requests;
    uint64_t bytes_in;                    /* from the client */
    uint64_t bytes_out;                   /* to the client */
};

struct provider_stats {
    struct provider_stats_row rows[PROVIDER_STATS_MAX]; /* in order of first use */
    size_t   n;
    struct provider_stats_row other;      /* name PROVIDER_STATS_OTHER */
    uint16_t slot[PROVIDER_STATS_SLOTS];  /* row index + 1; 0 = empty */
};

/* Counts one request of provider <name> ("" = none: not counted) that
 * moved <bytes_in> from and <bytes_out> to its client. */
void provider_stats_add(struct provider_stats *ps, const char *name, uint64_t bytes_in,
                        uint64_t bytes_out);

/* The row of <name>, or NULL when it has none. */
const struct provider_stats_row *provider_stats_find(const struct provider_stats *ps,
                                                     const char *name);

#endif
