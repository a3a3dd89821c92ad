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
#include "upstream-t.h"
#include "user_params.h"

/* The labels of one upstream as a filter compares them: for each label
 * (enum user_label) select_label_hash() of its normalised value, 0 = none.
 * Equal hashes are taken as equal values (64 bits: a false match between
 * two of a pool's values is ~n^2/2^65 likely). */
struct select_labels {
    uint64_t h[USER_LABEL_COUNT];
};

/* A label filter (user-name parameters): every label in <mask> must have
 * hash h[label]. mask 0 = no filter. */
struct select_filter {
    unsigned mask;
    uint64_t h[USER_LABEL_COUNT];
};

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
    struct select_labels labels;    /* controller record: its labels, provider and tier */
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

/* The hash of label <l>'s value <value> (<len> bytes) after
 * user_params_norm(); 0 for an empty value (never 0 otherwise). */
uint64_t select_label_hash(enum user_label l, const char *value, size_t len);

/* The labels of <u>: its record labels, provider and tier, into <out>. */
void select_labels_of(const struct upstream *u, struct select_labels *out);

/* The filter of parsed user-name parameters <p> into <out>. */
void select_filter_from_params(const struct user_params *p, struct select_filter *out);

/* 1 when labels <l> pass filter <f> (every label of f->mask equal). */
static inline int select_filter_match(const struct select_filter *f, const struct select_labels *l)
{
    for (unsigned m = f->mask, i = 0; m != 0; m >>= 1, i++)
        if ((m & 1u) && l->h[i] != f->h[i])
            return 0;
    return 1;
}

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
