/* The node's local copy of the upstream pool. Filled from Redis by
 * redis_link.c, read by the selection code on every new connection. The
 * cache survives Redis outages: it is only replaced by a newer snapshot. */
#ifndef PF_NODE_POOL_CACHE_H
#define PF_NODE_POOL_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "pf.h"
#include "upstream-t.h"

#define POOL_EPOCH_MAX 40

struct pool_cache {
    struct upstream *items;          /* owned; sorted by id for stable order */
    size_t           count;
    int64_t          version;        /* 0 = never loaded */
    char             epoch[POOL_EPOCH_MAX];
    int64_t          loaded_at_ms;   /* monotonic */
    uint64_t         rr_next;        /* round-robin cursor */
    int64_t          last_apply_us;  /* how long the last replace took */
};

void pool_cache_init(struct pool_cache *pc);
void pool_cache_deinit(struct pool_cache *pc);

/* Returns 1 when a notice or meta read of (<version>, <epoch>) must trigger a
 * reload: new epoch, or a greater version. */
int pool_cache_is_stale(const struct pool_cache *pc, int64_t version, const char *epoch);

/* Replaces the contents with <items> (<count>). Takes ownership of <items>
 * (malloc'd array) and frees the previous array. */
void pool_cache_replace(struct pool_cache *pc, struct upstream *items, size_t count,
                        int64_t version, const char *epoch, int64_t now_mono_ms);

/* Picks the next upstream for a new connection (round robin), skipping
 * those expired at <now_wall_ms> and the <nexclude> indexes in <exclude>
 * (upstreams this connection already failed on). Returns the index, or -1
 * when none is usable. Callers copy the upstream: the array is replaced on
 * the next snapshot. */
long pool_cache_pick(struct pool_cache *pc, int64_t now_wall_ms,
                     const long *exclude, size_t nexclude);

#endif
