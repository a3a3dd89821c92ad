/* A pool snapshot built aside from the one being served, in bounded steps,
 * so that a large snapshot never blocks the event loop for long
 * (docs/benchmarks.md, "Snapshot apply under load").
 *
 *   b = pool_build_create(cap, version, epoch);
 *   for each upstream: decode into pool_build_slot(b), then pool_build_push(b);
 *   while (pool_build_step(b, pc, units) == PF_EAGAIN) ... next loop turn ...;
 *   pool_build_commit(b, pc, now);      swap in, O(n) small copies
 *   pool_build_destroy(b);              frees the retired pool (next turn)
 *
 * pool_build_step() sorts the upstreams by id (a resumable bottom-up merge
 * sort), lays out the arrays the cache serves from, indexes them for
 * selection (select_index.h: label posting lists) and maps each upstream
 * to its index in the served pool, at most <units> elementary operations
 * per call. The served pool is untouched until pool_build_commit(), which
 * carries the per-upstream local state (it changes between loop turns, so
 * it is copied only at the swap) and hands the old arrays to the build, so
 * requests see either the old pool or the new one, whole, and freeing the
 * old one can wait for another turn. */
#ifndef PF_NODE_POOL_BUILD_H
#define PF_NODE_POOL_BUILD_H

#include <stddef.h>
#include <stdint.h>

#include "pf.h"
#include "pool-t.h"
#include "upstream-t.h"

enum pool_build_phase {
    POOL_BUILD_ADDING = 0,      /* upstreams being pushed */
    POOL_BUILD_SORTING,         /* merge passes over <ord> */
    POOL_BUILD_LAYOUT,          /* the arrays to serve, in id order */
    POOL_BUILD_INDEXING,        /* the selection index of those arrays */
    POOL_BUILD_MAPPING,         /* each upstream's index in the served pool */
    POOL_BUILD_READY,           /* pool_build_commit() may swap it in */
    POOL_BUILD_COMMITTED,       /* swapped in; holds the retired pool */
};

struct pool_build {
    enum pool_build_phase phase;
    int64_t              version;
    char                 epoch[POOL_EPOCH_MAX];
    size_t               count;       /* upstreams pushed */
    size_t               cap;         /* slots in <items> */
    struct upstream     *items;       /* owned; arrival order */
    size_t              *id_off;      /* owned; offset of each item's id in <arena> */
    uint64_t            *id_hash;     /* owned; select_hash() of each id */
    char                *arena;       /* owned; ids, NUL-terminated; moves to the cache */
    size_t               arena_len;
    size_t               arena_cap;
    int                  is_sorted;   /* ids arrived in order: no merge passes */
    uint32_t            *ord;         /* owned; item indexes, sorted when SORTING ends */
    uint32_t            *tmp;         /* owned; merge pass output */
    size_t               width;       /* SORTING: run length of this pass */
    size_t               m_lo, m_i, m_j, m_k; /* SORTING: position inside the pass */
    size_t               pos;         /* LAYOUT, MAPPING: next output index */
    size_t               prev_pos;    /* MAPPING: walk over the served ids */
    uint64_t             base_gen;    /* pool generation the map was made against */
    struct upstream     *out_items;   /* owned until commit; sorted by id */
    char               **out_ids;     /* owned until commit; point into <arena> */
    struct select_item  *out_sel;     /* owned until commit */
    struct pool_ustate  *out_st;      /* owned until commit */
    struct select_index *out_index;   /* owned until commit */
    long                *prev_idx;    /* owned; index in the served pool, -1 = new */
    size_t               ndenied;     /* laid out so far: refused by pc->policy */
    struct upstream     *old_items;   /* owned after commit: the retired pool */
    char               **old_ids;
    char                *old_arena;
    struct select_item  *old_sel;
    struct pool_ustate  *old_st;
    struct select_index *old_index;
};

/* Creates a build for at most <cap> upstreams of snapshot (<version>,
 * <epoch>). Returns NULL on allocation failure. */
struct pool_build *pool_build_create(size_t cap, int64_t version, const char *epoch);

/* Frees <b> and whatever it owns, the retired pool included (accepts NULL). */
void pool_build_destroy(struct pool_build *b);

/* The slot the next upstream is decoded into, or NULL when <cap> are
 * pushed already or the build is past ADDING. Its contents count only after
 * pool_build_push(); a slot not pushed is reused. */
struct upstream *pool_build_slot(struct pool_build *b);

/* Adds the upstream written into pool_build_slot(): computes its id and id
 * hash. Returns PF_OK, PF_ERANGE when full, PF_ENOMEM. */
int pool_build_push(struct pool_build *b) PF_MUSTCHECK;

/* Does about <units> operations (one compare-and-move while sorting, 16 per
 * upstream laid out, 7 per upstream indexed in each of two passes, one per
 * upstream mapped) towards READY against the served <pc>.
 * Returns PF_EAGAIN while there is more to do, PF_OK once READY, PF_ENOMEM. */
int pool_build_step(struct pool_build *b, const struct pool_cache *pc, size_t units) PF_MUSTCHECK;

/* Swaps the READY build into <pc>: carries the local state of upstreams
 * present in both, sets version and epoch, and moves the old arrays into
 * <b> (freed by pool_build_destroy). Returns PF_OK, or PF_EAGAIN when <pc>
 * was replaced by someone else since the map was made (the build went back
 * to MAPPING; step it again). */
int pool_build_commit(struct pool_build *b, struct pool_cache *pc, int64_t now_mono_ms) PF_MUSTCHECK;

#endif
