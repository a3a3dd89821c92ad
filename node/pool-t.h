/* The node's pool types, apart from the functions (STYLE rule 4): the
 * served pool (pool_cache) and the pool built beside it (pool_build) both
 * lay out these arrays, so the types live here and neither module's header
 * includes the other's. */
#ifndef PF_NODE_POOL_T_H
#define PF_NODE_POOL_T_H

#include <stddef.h>
#include <stdint.h>

#include "upstream-t.h"

struct conf_upstream_policy;
struct select_item;
struct select_index;

/* Longest epoch token plus its NUL (equal to SNAPSHOT_EPOCH_MAX of
 * common/snapshot.h, the wire format's limit; pool_sync.c checks it). */
#define POOL_EPOCH_MAX 40

/* Per-upstream local state (parallel to items). */
struct pool_ustate {
    uint64_t attempts;              /* connect/handshake attempts since start */
    uint64_t failures;              /* of which failed */
    uint32_t ejections;             /* times ejected; grows the ejection time */
    int64_t  ejected_until_ms;      /* monotonic; 0 = not ejected */
};

struct pool_cache {
    struct upstream     *items;     /* owned; sorted by id for stable order */
    char               **ids;       /* owned array; strings in id_arena */
    char                *id_arena;  /* owned */
    struct select_item  *sel;       /* owned; parallel to items */
    struct pool_ustate  *st;        /* owned; parallel to items */
    struct select_index *index;     /* owned; labels' posting lists, rendezvous mixes */
    size_t               count;
    int64_t              version;   /* 0 = never loaded */
    char                 epoch[POOL_EPOCH_MAX];
    int64_t              loaded_at_ms;   /* monotonic */
    uint64_t             rr_next;        /* round-robin cursor */
    uint64_t             generation;     /* +1 on every swap (pool_build_commit) */
    int64_t              last_apply_max_slice_us; /* last apply: longest loop turn it took */
    int64_t              last_apply_total_us;     /* last apply: reply arrival to swap, wall */
    uint32_t             last_apply_slices;       /* last apply: loop turns it took */
    long                 rotate_idx;     /* rotate: current upstream, -1 = none */
    int64_t              rotate_until_ms;/* monotonic end of its turn */
    const struct conf_upstream_policy *policy; /* borrowed from the node's conf; NULL =
                                            public addresses only */
    size_t               ndenied;        /* records of this snapshot the policy refuses */
};

#endif
