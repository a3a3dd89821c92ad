/* Building a pool snapshot aside in bounded steps; see pool_build.h. */
#include "pool_build.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "select.h"

#define POOL_BUILD_ID_GUESS 48      /* arena bytes per id at creation */
#define POOL_BUILD_LAYOUT_UNITS 16  /* step units per upstream laid out: an
                                     * 864-byte copy into fresh pages costs
                                     * about 16 sort moves */

struct pool_build *pool_build_create(size_t cap, int64_t version, const char *epoch)
{
    struct pool_build *b = calloc(1, sizeof(*b));
    if (b == NULL)
        return NULL;
    b->version = version;
    snprintf(b->epoch, sizeof(b->epoch), "%s", epoch != NULL ? epoch : "");
    b->cap = cap;
    b->is_sorted = 1;
    b->arena_cap = cap * POOL_BUILD_ID_GUESS + 64;
    b->arena = malloc(b->arena_cap);
    if (b->arena == NULL)
        goto fail;
    /* malloc, not calloc: only the slots really used get touched */
    if (cap > 0 && ((b->items = malloc(cap * sizeof(*b->items))) == NULL ||
                    (b->id_off = malloc(cap * sizeof(*b->id_off))) == NULL ||
                    (b->id_hash = malloc(cap * sizeof(*b->id_hash))) == NULL))
        goto fail;
    return b;
fail:
    pool_build_destroy(b);
    return NULL;
}

static void pool_build_free_sort(struct pool_build *b)
{
    free(b->ord);
    free(b->tmp);
    b->ord = NULL;
    b->tmp = NULL;
}

void pool_build_destroy(struct pool_build *b)
{
    if (b == NULL)
        return;
    free(b->items);
    free(b->id_off);
    free(b->id_hash);
    free(b->arena);
    pool_build_free_sort(b);
    free(b->out_items);
    free(b->out_ids);
    free(b->out_sel);
    free(b->out_st);
    free(b->prev_idx);
    free(b->old_items);
    free(b->old_ids);
    free(b->old_arena);
    free(b->old_sel);
    free(b->old_st);
    free(b);
}

struct upstream *pool_build_slot(struct pool_build *b)
{
    if (b->phase != POOL_BUILD_ADDING || b->count >= b->cap)
        return NULL;
    return &b->items[b->count];
}

static const char *pool_build_id(const struct pool_build *b, size_t item)
{
    return b->arena + b->id_off[item];
}

/* Appends <id> (<n> bytes with its NUL) to the arena; returns its offset
 * or (size_t)-1 on allocation failure. Offsets, not pointers, because the
 * arena may move while it grows. */
static size_t pool_build_arena_add(struct pool_build *b, const char *id, size_t n)
{
    if (b->arena_len + n > b->arena_cap) {
        size_t ncap = (b->arena_cap + n) * 2;
        char *p = realloc(b->arena, ncap);
        if (p == NULL)
            return (size_t)-1;
        b->arena = p;
        b->arena_cap = ncap;
    }
    size_t off = b->arena_len;
    memcpy(b->arena + off, id, n);
    b->arena_len += n;
    return off;
}

int pool_build_push(struct pool_build *b)
{
    if (pool_build_slot(b) == NULL)
        return PF_ERANGE;
    char id[UPSTREAM_ID_MAX];
    addr_upstream_id(&b->items[b->count], id, sizeof(id));
    size_t n = strlen(id);
    size_t off = pool_build_arena_add(b, id, n + 1);
    if (off == (size_t)-1)
        return PF_ENOMEM;
    b->id_off[b->count] = off;
    b->id_hash[b->count] = select_hash(id, n);
    if (b->count > 0 && strcmp(pool_build_id(b, b->count - 1), id) > 0)
        b->is_sorted = 0;
    b->count++;
    return PF_OK;
}

/* ADDING -> SORTING: the order array and the merge buffer. */
static int pool_build_start_sort(struct pool_build *b)
{
    size_t n = b->count;
    if (n > 0 && ((b->ord = malloc(n * sizeof(*b->ord))) == NULL ||
                  (b->tmp = malloc(n * sizeof(*b->tmp))) == NULL))
        return PF_ENOMEM;
    for (size_t i = 0; i < n; i++)
        b->ord[i] = (uint32_t)i;
    b->width = b->is_sorted ? n : 1;
    b->m_lo = b->m_i = b->m_k = 0;
    b->m_j = PF_MIN_OF(b->width, n);
    b->phase = POOL_BUILD_SORTING;
    return PF_OK;
}

/* Positions the merge at the pair of runs starting at <lo>. */
static void pool_build_merge_at(struct pool_build *b, size_t lo)
{
    b->m_lo = b->m_i = b->m_k = lo;
    b->m_j = PF_MIN_OF(lo + b->width, b->count);
}

/* One bottom-up merge sort, resumable at any element: at most <units>
 * elements moved. Stable (ties keep arrival order). Returns units used. */
static size_t pool_build_sort_some(struct pool_build *b, size_t units)
{
    size_t n = b->count, used = 0;
    while (used < units && b->width < n) {
        size_t mid = PF_MIN_OF(b->m_lo + b->width, n);
        size_t hi = PF_MIN_OF(b->m_lo + 2 * b->width, n);
        while (used < units && b->m_k < hi) {
            int take_left = b->m_i < mid &&
                            (b->m_j >= hi || strcmp(pool_build_id(b, b->ord[b->m_i]),
                                                    pool_build_id(b, b->ord[b->m_j])) <= 0);
            b->tmp[b->m_k++] = take_left ? b->ord[b->m_i++] : b->ord[b->m_j++];
            used++;
        }
        if (b->m_k < hi)
            break;
        if (hi < n) {
            pool_build_merge_at(b, hi);
            continue;
        }
        /* pass done: its output becomes the input of the next one */
        uint32_t *t = b->ord;
        b->ord = b->tmp;
        b->tmp = t;
        b->width *= 2;
        pool_build_merge_at(b, 0);
    }
    return used;
}

/* SORTING -> LAYOUT: the arrays the cache will serve from. */
static int pool_build_start_layout(struct pool_build *b)
{
    size_t n = b->count;
    free(b->tmp);
    b->tmp = NULL;
    if (n > 0 && ((b->out_items = malloc(n * sizeof(*b->out_items))) == NULL ||
                  (b->out_ids = malloc(n * sizeof(*b->out_ids))) == NULL ||
                  (b->out_sel = calloc(n, sizeof(*b->out_sel))) == NULL ||
                  (b->out_st = calloc(n, sizeof(*b->out_st))) == NULL ||
                  (b->prev_idx = malloc(n * sizeof(*b->prev_idx))) == NULL))
        return PF_ENOMEM;
    b->pos = 0;
    b->phase = POOL_BUILD_LAYOUT;
    return PF_OK;
}

/* Lays out at most <units> upstreams in id order, each checked against
 * the upstream policy of <pc>. Returns units used. */
static size_t pool_build_layout_some(struct pool_build *b, const struct pool_cache *pc,
                                     size_t units)
{
    size_t used = 0;
    while (used < units && b->pos < b->count) {
        size_t k = b->pos++, src = b->ord[k];
        used += POOL_BUILD_LAYOUT_UNITS - 1;
        b->out_items[k] = b->items[src];
        b->out_ids[k] = b->arena + b->id_off[src];
        b->out_sel[k].id_hash = b->id_hash[src];
        b->out_sel[k].weight = b->items[src].weight > 0 ? b->items[src].weight : 1;
        b->out_sel[k].latency_ms = b->items[src].latency_ms;
        b->out_sel[k].tier = b->items[src].tier;
        select_labels_of(&b->items[src], &b->out_sel[k].labels);
        b->out_sel[k].is_denied = addr_validate_upstream(&b->items[src], pc->policy, NULL) != PF_OK;
        b->ndenied += (size_t)b->out_sel[k].is_denied;
        used++;
    }
    return used;
}

/* LAYOUT -> MAPPING: the arrival-order copies are no longer needed. */
static void pool_build_start_mapping(struct pool_build *b, const struct pool_cache *pc)
{
    free(b->items);
    b->items = NULL;
    free(b->id_hash);
    b->id_hash = NULL;
    pool_build_free_sort(b);
    b->pos = 0;
    b->prev_pos = 0;
    b->base_gen = pc->generation;
    b->phase = POOL_BUILD_MAPPING;
}

/* Finds at most <units> new upstreams in the served pool (both sorted by
 * id: one merge walk). Returns units used. */
static size_t pool_build_map_some(struct pool_build *b, const struct pool_cache *pc,
                                  size_t units)
{
    size_t used = 0;
    while (used < units && b->pos < b->count) {
        size_t k = b->pos++;
        const char *id = b->out_ids[k];
        b->prev_idx[k] = -1;
        while (b->prev_pos < pc->count && strcmp(pc->ids[b->prev_pos], id) < 0)
            b->prev_pos++;
        /* a duplicate id takes the state once, as one upstream would */
        if (b->prev_pos < pc->count && strcmp(pc->ids[b->prev_pos], id) == 0)
            b->prev_idx[k] = (long)b->prev_pos++;
        used++;
    }
    return used;
}

int pool_build_step(struct pool_build *b, const struct pool_cache *pc, size_t units)
{
    if (units == 0)
        units = 1;
    size_t used = 0;
    while (used < units) {
        switch (b->phase) {
        case POOL_BUILD_ADDING:
            if (pool_build_start_sort(b) != PF_OK)
                return PF_ENOMEM;
            break;
        case POOL_BUILD_SORTING:
            used += pool_build_sort_some(b, units - used);
            if (b->width >= b->count && pool_build_start_layout(b) != PF_OK)
                return PF_ENOMEM;
            break;
        case POOL_BUILD_LAYOUT:
            used += pool_build_layout_some(b, pc, units - used);
            if (b->pos == b->count)
                pool_build_start_mapping(b, pc);
            break;
        case POOL_BUILD_MAPPING:
            used += pool_build_map_some(b, pc, units - used);
            if (b->pos == b->count)
                b->phase = POOL_BUILD_READY;
            break;
        case POOL_BUILD_READY:
        case POOL_BUILD_COMMITTED:
            return PF_OK;
        }
    }
    return b->phase == POOL_BUILD_READY ? PF_OK : PF_EAGAIN;
}

/* Copies the local state of upstreams that stay into the new arrays and
 * returns the new index of the rotate strategy's current upstream (-1). */
static long pool_build_carry_state(struct pool_build *b, const struct pool_cache *pc)
{
    long rotate = -1;
    for (size_t k = 0; k < b->count; k++) {
        long p = b->prev_idx[k];
        if (p < 0)
            continue;
        b->out_st[k] = pc->st[p];
        b->out_sel[k].active = pc->sel[p].active;
        b->out_sel[k].consecutive_failures = pc->sel[p].consecutive_failures;
        if (pc->rotate_idx == p)
            rotate = (long)k;
    }
    return rotate;
}

int pool_build_commit(struct pool_build *b, struct pool_cache *pc, int64_t now_mono_ms)
{
    if (b->phase != POOL_BUILD_READY)
        return PF_EAGAIN;
    if (b->base_gen != pc->generation) {
        /* the served pool changed under the map: make it again */
        b->pos = 0;
        b->prev_pos = 0;
        b->base_gen = pc->generation;
        b->phase = POOL_BUILD_MAPPING;
        return PF_EAGAIN;
    }
    pc->rotate_idx = pool_build_carry_state(b, pc);
    b->old_items = pc->items;
    b->old_ids = pc->ids;
    b->old_arena = pc->id_arena;
    b->old_sel = pc->sel;
    b->old_st = pc->st;
    pc->items = b->out_items;
    pc->ids = b->out_ids;
    pc->id_arena = b->arena;
    pc->sel = b->out_sel;
    pc->st = b->out_st;
    pc->count = b->count;
    pc->ndenied = b->ndenied;
    b->out_items = NULL;
    b->out_ids = NULL;
    b->arena = NULL;
    b->out_sel = NULL;
    b->out_st = NULL;
    pc->version = b->version;
    snprintf(pc->epoch, sizeof(pc->epoch), "%s", b->epoch);
    pc->loaded_at_ms = now_mono_ms;
    pc->rr_next = pc->count > 0 ? pc->rr_next % pc->count : 0;
    pc->generation++;
    b->phase = POOL_BUILD_COMMITTED;
    return PF_OK;
}
