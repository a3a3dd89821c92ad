/* Upstream selection strategies and rendezvous hashing. Pure: no event
 * loop, no clock, no globals; randomness and cursors come in as arguments,
 * so every strategy is unit-tested with fixed inputs (tests/unit/test_select.c).
 *
 * Sticky sessions use rendezvous (highest random weight) hashing: for a
 * session key K every upstream id I gets score(K, I) and the highest usable
 * score wins. The hash is fixed (FNV-1a 64 of K and of I, combined and mixed
 * by the MurmurHash3 64-bit finalizer, no seed), so every node picks the
 * same upstream for the same key and snapshot, and removing an upstream
 * moves only the keys it was winning. A failed-over retry excludes the
 * winner and so gets the next highest score. */
#ifndef PF_NODE_SELECT_H
#define PF_NODE_SELECT_H

#include <stddef.h>
#include <stdint.h>

#include "pf.h"

/* One upstream as the strategies see it (pool_cache keeps these parallel to
 * its items). */
struct select_item {
    uint64_t id_hash;               /* select_hash() of the upstream id */
    uint32_t weight;                /* controller record, >= 1 */
    uint32_t latency_ms;            /* controller record, 0 = unknown */
    uint32_t consecutive_failures;  /* local, reset by a success */
    int64_t  active;                /* connections using it on this node now */
    uint32_t tier;                  /* controller record: provider tier, 0 = primary */
    int      is_denied;             /* fails node.upstream_allow_private: never usable */
    int      is_usable;             /* set by the caller before each pick */
};

/* FNV-1a 64 of <len> bytes at <data>. */
uint64_t select_hash(const void *data, size_t len);

/* Rendezvous score of upstream <id_hash> for session <key_hash>. */
uint64_t select_hrw_score(uint64_t key_hash, uint64_t id_hash);

/* The hash of a session key (from a client user name, auth.h, or the
 * sticky header): select_hash(<key>) and, when <lifetime_min> > 0, the
 * index of the aligned <lifetime_min>-minute window of <now_wall_ms> (so
 * all nodes with synchronised clocks move the session at the same time). */
uint64_t select_session_hash(const char *key, size_t len, int lifetime_min, int64_t now_wall_ms);

/* Provider tiers, as HAProxy's "backup" servers: keeps usable only the
 * usable items of the lowest tier any usable item has, so tier n+1 serves
 * only while no upstream of tier <= n is usable. Sticky sessions then rank
 * inside that tier. Returns how many items stay usable. */
size_t select_restrict_tier(struct select_item *v, size_t n);

/* Round robin from <*cursor> (advanced past the pick). Returns the index
 * of a usable item or -1. */
long select_round_robin(const struct select_item *v, size_t n, uint64_t *cursor);

/* Uniform among usable items, from random <rnd>. Returns an index or -1. */
long select_random(const struct select_item *v, size_t n, uint64_t rnd);

/* Fewest active connections; ties go round robin from <*cursor>. */
long select_least_conn(const struct select_item *v, size_t n, uint64_t *cursor);

/* Effective weight used by select_weighted(), scaled by 1000:
 * weight x 1000 / (1 + latency/250 ms) / (1 + consecutive failures);
 * unknown latency counts as 250 ms. Never 0. */
uint64_t select_effective_weight(const struct select_item *it);

/* Random, proportional to select_effective_weight(), from <rnd>. */
long select_weighted(const struct select_item *v, size_t n, uint64_t rnd);

/* Highest rendezvous score for <key_hash> among usable items (ties: lower
 * index). Returns an index or -1. */
long select_hrw(const struct select_item *v, size_t n, uint64_t key_hash);

#endif
