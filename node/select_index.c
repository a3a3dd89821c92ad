/* A pool's selection index; see select_index.h. */
#include "select_index.h"

#include <stdlib.h>
#include <string.h>

#define SELECT_INDEX_TOPK 8         /* rendezvous ranks kept per pass over a subset */

struct select_index *select_index_create(size_t n)
{
    struct select_index *x = calloc(1, sizeof(*x));
    if (x == NULL)
        return NULL;
    x->n = n;
    x->min_tier = UINT32_MAX;
    if (n > 0 && (x->hrw_mix = malloc(n * sizeof(*x->hrw_mix))) == NULL) {
        free(x);
        return NULL;
    }
    return x;
}

void select_index_destroy(struct select_index *x)
{
    if (x == NULL)
        return;
    for (int l = 0; l < USER_LABEL_COUNT; l++)
        free(x->t[l].slots);
    free(x->members);
    free(x->hrw_mix);
    free(x);
}

/* The slot of value <h> in <t>: its posting, or the free slot it would
 * take. <t> has a free slot (load <= 1/2). */
static struct select_posting *table_slot(const struct select_label_table *t, uint64_t h)
{
    size_t mask = t->cap - 1;
    for (size_t i = (size_t)(h ^ (h >> 29)) & mask;; i = (i + 1) & mask)
        if (t->slots[i].h == h || t->slots[i].h == 0)
            return &t->slots[i];
}

static int table_grow(struct select_label_table *t)
{
    size_t ncap = t->cap > 0 ? t->cap * 2 : 16;
    struct select_posting *old = t->slots;
    size_t ocap = t->cap;
    t->slots = calloc(ncap, sizeof(*t->slots));
    if (t->slots == NULL) {
        t->slots = old;
        return PF_ENOMEM;
    }
    t->cap = ncap;
    for (size_t i = 0; i < ocap; i++)
        if (old[i].h != 0)
            *table_slot(t, old[i].h) = old[i];
    free(old);
    return PF_OK;
}

/* COUNTING: one item's values. */
static int index_count(struct select_index *x, const struct select_item *it)
{
    for (int l = 0; l < USER_LABEL_COUNT; l++) {
        uint64_t h = it->labels.h[l];
        struct select_label_table *t = &x->t[l];
        if (h == 0)
            continue;
        if ((t->used + 1) * 2 > t->cap && table_grow(t) != PF_OK)
            return PF_ENOMEM;
        struct select_posting *p = table_slot(t, h);
        if (p->h == 0) {
            p->h = h;
            p->min_tier = UINT32_MAX;
            t->used++;
        }
        p->len++;
        p->min_tier = PF_MIN_OF(p->min_tier, it->tier);
        p->max_tier = p->max_tier > it->tier ? p->max_tier : it->tier;
    }
    return PF_OK;
}

/* COUNTING -> FILLING: each posting list's place in <members>. */
static int index_start_fill(struct select_index *x)
{
    size_t total = 0;
    for (int l = 0; l < USER_LABEL_COUNT; l++)
        for (size_t i = 0; i < x->t[l].cap; i++) {
            struct select_posting *p = &x->t[l].slots[i];
            if (p->h == 0)
                continue;
            p->off = (uint32_t)total;
            total += p->len;
        }
    if (total > 0 && (x->members = malloc(total * sizeof(*x->members))) == NULL)
        return PF_ENOMEM;
    x->nmembers = total;
    x->pos = 0;
    x->phase = SELECT_INDEX_FILLING;
    return PF_OK;
}

int select_index_build_some(struct select_index *x, const struct select_item *v, size_t units,
                            size_t *nused)
{
    size_t used = 0;
    if (units == 0)
        units = 1;
    while (used < units && x->phase != SELECT_INDEX_READY) {
        switch (x->phase) {
        case SELECT_INDEX_COUNTING:
            if (x->pos == x->n) {
                if (index_start_fill(x) != PF_OK)
                    return PF_ENOMEM;
                break;
            }
            if (index_count(x, &v[x->pos]) != PF_OK)
                return PF_ENOMEM;
            x->hrw_mix[x->pos] = select_hrw_mix(v[x->pos].id_hash);
            x->min_tier = PF_MIN_OF(x->min_tier, v[x->pos].tier);
            x->max_tier = x->max_tier > v[x->pos].tier ? x->max_tier : v[x->pos].tier;
            x->pos++;
            used += USER_LABEL_COUNT;
            break;
        case SELECT_INDEX_FILLING:
            if (x->pos == x->n) {
                x->phase = SELECT_INDEX_READY;
                break;
            }
            for (int l = 0; l < USER_LABEL_COUNT; l++) {
                uint64_t h = v[x->pos].labels.h[l];
                if (h == 0)
                    continue;
                struct select_posting *p = table_slot(&x->t[l], h);
                x->members[p->off + p->fill++] = (uint32_t)x->pos;
            }
            x->pos++;
            used += USER_LABEL_COUNT;
            break;
        case SELECT_INDEX_READY:
            break;
        }
    }
    *nused += used;
    return x->phase == SELECT_INDEX_READY ? PF_OK : PF_EAGAIN;
}

void select_index_subset(const struct select_index *x, const struct select_filter *f,
                         struct select_subset *out)
{
    memset(out, 0, sizeof(*out));
    out->n = x->n;
    out->is_single_tier = x->n == 0 || x->min_tier == x->max_tier;
    if (f == NULL || f->mask == 0)
        return;
    out->filter = f;
    const struct select_posting *best = NULL;
    int best_l = -1;
    for (int l = 0; l < USER_LABEL_COUNT; l++) {
        if (!(f->mask & (1u << l)) || f->h[l] == 0)
            continue;   /* an empty value matches the upstreams without the label: checked */
        const struct select_posting *p = x->t[l].cap > 0 ? table_slot(&x->t[l], f->h[l]) : NULL;
        if (p == NULL || p->h == 0) {
            out->n = 0;                 /* no upstream has that value */
            out->idx = x->members;
            return;
        }
        if (best == NULL || p->len < best->len) {
            best = p;
            best_l = l;
        }
    }
    out->check_mask = f->mask;
    if (best == NULL)
        return;                         /* every member is checked */
    out->idx = x->members + best->off;
    out->n = best->len;
    out->check_mask &= ~(1u << best_l);
    out->is_single_tier = best->min_tier == best->max_tier;
}

/* 1 when member <i> passes the labels the posting list did not check. */
static inline int subset_match(const struct select_subset *s, const struct select_item *v,
                               size_t i)
{
    for (unsigned m = s->check_mask, l = 0; m != 0; m >>= 1, l++)
        if ((m & 1u) && v[i].labels.h[l] != s->filter->h[l])
            return 0;
    return 1;
}

struct rank {
    uint32_t tier;
    uint32_t idx;
    uint64_t score;
};

/* 1 when <a> comes before <b> in rendezvous order. */
static inline int rank_before(const struct rank *a, const struct rank *b)
{
    if (a->tier != b->tier)
        return a->tier < b->tier;
    if (a->score != b->score)
        return a->score > b->score;
    return a->idx < b->idx;
}

long select_index_hrw(const struct select_index *x, const struct select_subset *s,
                      const struct select_item *v, uint64_t key_hash,
                      select_accept_fn accept, void *arg)
{
    struct rank top[SELECT_INDEX_TOPK], floor = { 0, 0, 0 };
    int has_floor = 0;
    for (;;) {
        /* one pass: the SELECT_INDEX_TOPK first members after <floor> */
        size_t ntop = 0;
        for (size_t k = 0; k < s->n; k++) {
            size_t i = s->idx != NULL ? s->idx[k] : k;
            struct rank r = { s->is_single_tier ? 0 : v[i].tier, (uint32_t)i,
                              select_hrw_score_mixed(key_hash, x->hrw_mix[i]) };
            if (ntop == SELECT_INDEX_TOPK && !rank_before(&r, &top[ntop - 1]))
                continue;
            if (has_floor && !rank_before(&floor, &r))
                continue;
            if (s->check_mask != 0 && !subset_match(s, v, i))
                continue;
            size_t j = ntop < SELECT_INDEX_TOPK ? ntop++ : ntop - 1;
            for (; j > 0 && rank_before(&r, &top[j - 1]); j--)
                top[j] = top[j - 1];
            top[j] = r;
        }
        for (size_t k = 0; k < ntop; k++)
            if (accept(arg, top[k].idx))
                return (long)top[k].idx;
        if (ntop < SELECT_INDEX_TOPK)
            return -1;
        floor = top[ntop - 1];
        has_floor = 1;
    }
}

/* The position in <s> of the first member >= <idx> (s->n when none). */
static size_t subset_lower_bound(const struct select_subset *s, size_t idx)
{
    if (s->idx == NULL)
        return idx < s->n ? idx : s->n;
    size_t lo = 0, hi = s->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (s->idx[mid] < idx)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

long select_index_rr(const struct select_subset *s, const struct select_item *v, size_t n,
                     uint64_t *cursor, select_accept_fn accept, void *arg)
{
    if (n == 0 || s->n == 0)
        return -1;
    size_t start = subset_lower_bound(s, (size_t)(*cursor % n));
    for (size_t k = 0; k < s->n; k++) {
        size_t pos = start + k < s->n ? start + k : start + k - s->n;
        size_t i = s->idx != NULL ? s->idx[pos] : pos;
        if (s->check_mask != 0 && !subset_match(s, v, i))
            continue;
        if (accept(arg, i)) {
            *cursor = (i + 1) % n;
            return (long)i;
        }
    }
    return -1;
}

int select_subset_has(const struct select_subset *s, const struct select_item *v, size_t idx)
{
    size_t pos = subset_lower_bound(s, idx);
    if (pos == s->n || (s->idx != NULL && s->idx[pos] != idx))
        return 0;
    return s->check_mask == 0 || subset_match(s, v, idx);
}
