/* The node's local pool copy; see pool_cache.h. */
#include "pool_cache.h"

#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include <time.h>

#include "addr.h"

void pool_cache_init(struct pool_cache *pc)
{
    memset(pc, 0, sizeof(*pc));
}

void pool_cache_deinit(struct pool_cache *pc)
{
    if (pc == NULL)
        return;
    free(pc->items);
    pc->items = NULL;
    pc->count = 0;
}

int pool_cache_is_stale(const struct pool_cache *pc, int64_t version, const char *epoch)
{
    if (epoch == NULL)
        epoch = "";
    if (pc->version == 0 || strcmp(pc->epoch, epoch) != 0)
        return 1;
    return version > pc->version;
}

static int64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

struct keyed {
    char   id[UPSTREAM_ID_MAX];
    size_t idx;
};

static int keyed_cmp(const void *a, const void *b)
{
    return strcmp(((const struct keyed *)a)->id, ((const struct keyed *)b)->id);
}

void pool_cache_replace(struct pool_cache *pc, struct upstream *items, size_t count,
                        int64_t version, const char *epoch, int64_t now_mono_ms)
{
    int64_t t0 = now_us();
    struct keyed *keys = count > 0 ? malloc(count * sizeof(*keys)) : NULL;
    struct upstream *sorted = count > 0 ? malloc(count * sizeof(*sorted)) : NULL;
    if (keys != NULL && sorted != NULL) {
        for (size_t i = 0; i < count; i++) {
            addr_upstream_id(&items[i], keys[i].id, sizeof(keys[i].id));
            keys[i].idx = i;
        }
        qsort(keys, count, sizeof(*keys), keyed_cmp);
        for (size_t i = 0; i < count; i++)
            sorted[i] = items[keys[i].idx];
        free(items);
        items = sorted;
        sorted = NULL;
    }
    /* On allocation failure the snapshot order is kept: still correct, only unsorted. */
    free(sorted);
    free(keys);
    free(pc->items);
    pc->items = items;
    pc->count = count;
    pc->version = version;
    snprintf(pc->epoch, sizeof(pc->epoch), "%s", epoch != NULL ? epoch : "");
    pc->loaded_at_ms = now_mono_ms;
    if (count > 0)
        pc->rr_next %= count;
    else
        pc->rr_next = 0;
    pc->last_apply_us = now_us() - t0;
}

long pool_cache_pick(struct pool_cache *pc, int64_t now_wall_ms,
                     const long *exclude, size_t nexclude)
{
    for (size_t n = 0; n < pc->count; n++) {
        size_t idx = (size_t)((pc->rr_next + n) % pc->count);
        const struct upstream *u = &pc->items[idx];
        if (u->expires_at_ms != 0 && u->expires_at_ms <= now_wall_ms)
            continue;
        int is_excluded = 0;
        for (size_t k = 0; k < nexclude; k++)
            if (exclude[k] == (long)idx)
                is_excluded = 1;
        if (is_excluded)
            continue;
        pc->rr_next = (idx + 1) % pc->count;
        return (long)idx;
    }
    return -1;
}
