/* A pool's selection index, built once per snapshot beside it (pool_build)
 * so that a pick costs what its candidate subset costs, not what the pool
 * does (issue 12, "Speed"; docs/benchmarks.md, "Selection").
 *
 * It holds, for the pool's select_item array <v> of <n> items:
 *   - per label (enum user_label) a posting list per value: the indexes of
 *     the items with that value hash, ascending, with their lowest and
 *     highest tier. A label filter's candidates are the shortest posting
 *     list among its labels; the other labels are checked per member.
 *   - per item the upstream half of the rendezvous score
 *     (select_hrw_mix()), so a score costs one fmix64 over a dense array.
 *
 * The walks below visit a subset in a strategy's order and stop at the
 * first member the caller's predicate accepts, so the usual pick checks
 * one or two upstreams (expiry, ejection, bans ...) instead of all:
 *   - select_index_hrw(): (tier ascending, rendezvous score descending,
 *     index ascending), i.e. select_restrict_tier() then select_hrw() over
 *     the accepted members, whatever the predicate accepts;
 *   - select_index_rr(): round robin from a cursor over pool indexes, as
 *     select_round_robin() over the accepted members.
 * Pure: no event loop, no clock (tests/unit/test_select_index.c). */
#ifndef PF_NODE_SELECT_INDEX_H
#define PF_NODE_SELECT_INDEX_H

#include <stddef.h>
#include <stdint.h>

#include "pf.h"
#include "select.h"

struct select_posting {
    uint64_t h;                     /* value hash (select_label_hash); 0 = free slot */
    uint32_t off;                   /* first member in select_index.members */
    uint32_t len;                   /* members */
    uint32_t fill;                  /* build: members placed so far */
    uint32_t min_tier;              /* lowest tier among the members */
    uint32_t max_tier;              /* highest tier among the members */
};

struct select_label_table {
    struct select_posting *slots;   /* owned; open addressing, linear probing */
    size_t                 cap;     /* power of two, or 0 */
    size_t                 used;    /* distinct values */
};

enum select_index_phase {
    SELECT_INDEX_COUNTING = 0,      /* one pass: values, their sizes and tiers */
    SELECT_INDEX_FILLING,           /* second pass: members in index order */
    SELECT_INDEX_READY,
};

struct select_index {
    enum select_index_phase  phase;
    size_t                   n;         /* items indexed */
    size_t                   pos;       /* build: next item of this pass */
    uint64_t                *hrw_mix;   /* owned; select_hrw_mix() of each item's id */
    uint32_t                 min_tier;  /* whole pool */
    uint32_t                 max_tier;
    struct select_label_table t[USER_LABEL_COUNT];
    uint32_t                *members;   /* owned; every posting list, back to back */
    size_t                   nmembers;
};

/* The candidates of one pick. */
struct select_subset {
    const uint32_t *idx;            /* borrowed from the index; NULL = all items */
    size_t          n;              /* members (all: the pool's size) */
    unsigned        check_mask;     /* filter labels each member must still match */
    const struct select_filter *filter; /* borrowed: the filter (with check_mask) */
    int             is_single_tier; /* every member has the same tier */
};

/* Creates an empty index for <n> items. Returns NULL on allocation failure. */
struct select_index *select_index_create(size_t n);

/* Frees <x> (accepts NULL). */
void select_index_destroy(struct select_index *x);

/* Indexes the items of <v> (<x->n> of them, their id_hash, tier and
 * labels set), about <units> label insertions per call (adds those done
 * to <*used>), so a big pool is indexed over several loop turns. Returns
 * PF_EAGAIN while there is more to do, PF_OK when ready, PF_ENOMEM (then
 * destroy <x>). */
int select_index_build_some(struct select_index *x, const struct select_item *v,
                            size_t units, size_t *used) PF_MUSTCHECK;

/* The candidates of filter <f> (NULL or mask 0: the whole pool) in <x>
 * into <out>: the shortest posting list among f's labels (an absent value
 * gives an empty subset). <x> must be ready. */
void select_index_subset(const struct select_index *x, const struct select_filter *f,
                         struct select_subset *out);

/* Accepts pool index <idx> (1) or refuses it (0) for the pick. */
typedef int (*select_accept_fn)(void *arg, size_t idx);

/* The first member of <s> accepted by <accept> in rendezvous order for
 * session <key_hash>: lowest tier first, then highest score
 * (select_hrw_score()), then lowest index. <accept> is called on members
 * in that order until it accepts one. Returns its index or -1. */
long select_index_hrw(const struct select_index *x, const struct select_subset *s,
                      const struct select_item *v, uint64_t key_hash,
                      select_accept_fn accept, void *arg);

/* Round robin over <s> among pool indexes 0..<n>-1 from <*cursor>: the
 * first member accepted by <accept>, at or after the cursor and then from
 * 0; the cursor moves past it. Returns its index or -1. */
long select_index_rr(const struct select_subset *s, const struct select_item *v, size_t n,
                     uint64_t *cursor, select_accept_fn accept, void *arg);

/* 1 when <s> has member <idx> (a binary search; members are ascending). */
int select_subset_has(const struct select_subset *s, const struct select_item *v, size_t idx);

#endif
