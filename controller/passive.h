/* Passive health input: the cumulative "<attempts> <failures>" counters each
 * node writes per upstream to {pf}:v1:node:<id>:upstreams, turned into
 * per-read deltas. Pure state, no I/O (tests/unit/test_health.c).
 *
 * Per node the previous read is kept. A read whose counters went down, or
 * lost an upstream the node had reported, means the node restarted: its
 * whole current counts are new. A node first seen after the first round is
 * new too (its counts since start count); in the controller's first round
 * every node is only a baseline, since nothing tells when those counts
 * happened. A node missing from a round is forgotten. */
#ifndef PF_PASSIVE_H
#define PF_PASSIVE_H

#include <stddef.h>
#include <stdint.h>

#include "pf.h"
#include "upstream-t.h"

#define PASSIVE_NODE_ID_MAX 64

struct passive_count {
    char     id[UPSTREAM_ID_MAX];       /* upstream id */
    uint64_t attempts;
    uint64_t failures;                  /* <= attempts */
};

struct passive_node {
    char     id[PASSIVE_NODE_ID_MAX];
    struct passive_count *counts;       /* owned, sorted by id */
    size_t   n;
    int      is_seen;                   /* read in the current round */
};

struct passive {
    struct passive_node *nodes;         /* owned array */
    size_t   n;
    size_t   cap;
    int      has_baseline;              /* a round has completed */
    int      is_in_round;
};

/* Called per upstream with a non-zero delta. */
typedef void (*passive_delta_fn)(const char *upstream_id, uint64_t attempts, uint64_t failures,
                                 void *arg);

/* Initialises <ps> empty. */
void passive_init(struct passive *ps);

/* Frees what <ps> owns (accepts NULL). */
void passive_deinit(struct passive *ps);

/* Starts a read of every live node. */
void passive_round_begin(struct passive *ps);

/* Records node <node_id>'s current counters <cur>[0..<n>) (malloc'd; taken
 * over: sorted here, kept or freed, also on error) and calls <fn>(<arg>)
 * for each upstream whose counts grew since the previous read (all of them
 * for a new or restarted node). Returns PF_OK, PF_EINVAL (bad node id) or
 * PF_ENOMEM. */
int passive_node_update(struct passive *ps, const char *node_id, struct passive_count *cur,
                        size_t n, passive_delta_fn fn, void *arg) PF_MUSTCHECK;

/* Ends the round: nodes not updated in it are forgotten. */
void passive_round_end(struct passive *ps);

/* Parses a counter value "<attempts> <failures>" of <len> bytes (untrusted).
 * Failures above attempts are clamped. Returns PF_OK or PF_EINVAL. */
int passive_parse_value(const char *s, size_t len, uint64_t *attempts, uint64_t *failures) PF_MUSTCHECK;

#endif
