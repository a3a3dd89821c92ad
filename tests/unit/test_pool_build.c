/* Unit tests of node/pool_build.c: a pool built in bounded steps equals the
 * one-shot build, the served pool stays whole until the commit, local state
 * and the rotate cursor carry over by id, a pool swapped in meanwhile is
 * re-mapped. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "pool_build.h"
#include "pool_cache.h"
#include "select.h"

/* Pushes upstreams 192.0.2.x:<ports[i]> in the given (arrival) order. */
static struct pool_build *build_of(const int *ports, size_t n, int64_t version)
{
    struct pool_build *b = pool_build_create(n, version, "e");
    cr_assert_not_null(b);
    for (size_t i = 0; i < n; i++) {
        struct upstream *u = pool_build_slot(b);
        cr_assert_not_null(u);
        memset(u, 0, sizeof(*u));
        u->scheme = UPSTREAM_HTTP;
        snprintf(u->host, sizeof(u->host), "192.0.2.%d", ports[i] % 200);
        u->port = (uint16_t)ports[i];
        u->weight = (uint32_t)(ports[i] % 3);     /* 0 is served as 1 */
        cr_assert_eq(pool_build_push(b), PF_OK);
    }
    return b;
}

/* Steps <b> <units> at a time; returns how many calls it took. */
static int step_all(struct pool_build *b, const struct pool_cache *pc, size_t units)
{
    int calls = 1, rc;
    while ((rc = pool_build_step(b, pc, units)) == PF_EAGAIN)
        calls++;
    cr_assert_eq(rc, PF_OK);
    return calls;
}

static void commit_all(struct pool_build *b, struct pool_cache *pc)
{
    step_all(b, pc, 1);
    cr_assert_eq(pool_build_commit(b, pc, 7), PF_OK);
    pool_build_destroy(b);
}

static void expect_sorted_consistent(const struct pool_cache *pc)
{
    for (size_t i = 0; i < pc->count; i++) {
        char id[UPSTREAM_ID_MAX];
        addr_upstream_id(&pc->items[i], id, sizeof(id));
        cr_assert_str_eq(pc->ids[i], id);
        cr_assert_eq(pc->sel[i].id_hash, select_hash(id, strlen(id)));
        cr_assert_geq(pc->sel[i].weight, 1);
        if (i > 0)
            cr_assert_leq(strcmp(pc->ids[i - 1], pc->ids[i]), 0);
    }
}

Test(pool_build, one_unit_at_a_time_sorts_and_lays_out)
{
    int ports[300];
    for (int i = 0; i < 300; i++)
        ports[i] = 1000 + (i * 7919) % 300;       /* shuffled */
    struct pool_cache pc;
    pool_cache_init(&pc);
    struct pool_build *b = build_of(ports, 300, 1);
    int calls = step_all(b, &pc, 1);
    cr_expect_gt(calls, 300, "one unit per call must take many calls, took %d", calls);
    cr_assert_eq(pool_build_commit(b, &pc, 7), PF_OK);
    pool_build_destroy(b);
    cr_expect_eq(pc.count, 300);
    cr_expect_eq(pc.version, 1);
    cr_expect_eq(pc.loaded_at_ms, 7);
    expect_sorted_consistent(&pc);
    pool_cache_deinit(&pc);
}

Test(pool_build, served_pool_untouched_until_commit)
{
    int p1[] = { 10, 20, 30 }, p2[] = { 40, 5, 20, 25 };
    struct pool_cache pc;
    pool_cache_init(&pc);
    commit_all(build_of(p1, 3, 1), &pc);
    struct upstream *items = pc.items;
    char **ids = pc.ids;
    struct pool_build *b = build_of(p2, 4, 2);
    while (pool_build_step(b, &pc, 1) == PF_EAGAIN) {
        cr_assert_eq(pc.items, items);
        cr_assert_eq(pc.ids, ids);
        cr_assert_eq(pc.count, 3);
        cr_assert_eq(pc.version, 1);
    }
    cr_assert_eq(pool_build_commit(b, &pc, 7), PF_OK);
    cr_expect_eq(pc.count, 4);
    cr_expect_eq(pc.version, 2);
    /* the retired arrays belong to the build until it is destroyed */
    cr_expect_eq(b->old_items, items);
    pool_build_destroy(b);
    expect_sorted_consistent(&pc);
    pool_cache_deinit(&pc);
}

Test(pool_build, state_and_rotate_carried_by_id)
{
    int p1[] = { 10, 20, 30 }, p2[] = { 30, 5, 20 };
    struct pool_cache pc;
    pool_cache_init(&pc);
    commit_all(build_of(p1, 3, 1), &pc);
    pool_cache_conn_delta(&pc, "http://192.0.2.20:20", 1);
    cr_expect_eq(pool_cache_record(&pc, "http://192.0.2.30:30", 1, 0, NULL, NULL), 0);
    pc.rotate_idx = pool_cache_find(&pc, "http://192.0.2.30:30");
    commit_all(build_of(p2, 3, 2), &pc);
    long i20 = pool_cache_find(&pc, "http://192.0.2.20:20");
    long i30 = pool_cache_find(&pc, "http://192.0.2.30:30");
    long i5 = pool_cache_find(&pc, "http://192.0.2.5:5");
    cr_assert(i20 >= 0 && i30 >= 0 && i5 >= 0);
    cr_expect_eq(pc.sel[i20].active, 1);
    cr_expect_eq(pc.st[i30].failures, 1);
    cr_expect_eq(pc.sel[i30].consecutive_failures, 1);
    cr_expect_eq(pc.st[i5].attempts, 0);
    cr_expect_eq(pc.rotate_idx, i30);
    cr_expect_eq(pool_cache_find(&pc, "http://192.0.2.10:10"), -1);
    pool_cache_deinit(&pc);
}

Test(pool_build, swap_by_someone_else_remaps_before_commit)
{
    int p1[] = { 10, 20 }, p2[] = { 20, 30 }, p3[] = { 30, 40 };
    struct pool_cache pc;
    pool_cache_init(&pc);
    commit_all(build_of(p1, 2, 1), &pc);
    struct pool_build *b = build_of(p3, 2, 3);
    step_all(b, &pc, 1);                       /* mapped against version 1 */
    commit_all(build_of(p2, 2, 2), &pc);       /* e.g. a one-shot replace */
    pool_cache_conn_delta(&pc, "http://192.0.2.30:30", 1);
    cr_expect_eq(pool_build_commit(b, &pc, 7), PF_EAGAIN);
    step_all(b, &pc, 1);
    cr_assert_eq(pool_build_commit(b, &pc, 7), PF_OK);
    pool_build_destroy(b);
    long i30 = pool_cache_find(&pc, "http://192.0.2.30:30");
    cr_assert_geq(i30, 0);
    cr_expect_eq(pc.sel[i30].active, 1);
    cr_expect_eq(pc.version, 3);
    pool_cache_deinit(&pc);
}

Test(pool_build, duplicates_stable_and_empty_build)
{
    int p[] = { 20, 10, 20 };
    struct pool_cache pc;
    pool_cache_init(&pc);
    commit_all(build_of(p, 3, 1), &pc);
    cr_expect_eq(pc.count, 3);
    expect_sorted_consistent(&pc);
    commit_all(build_of(NULL, 0, 2), &pc);
    cr_expect_eq(pc.count, 0);
    cr_expect_eq(pc.version, 2);
    cr_expect_eq(pool_cache_pick(&pc, 0, NULL, 0), -1);
    pool_cache_deinit(&pc);
}

Test(pool_build, full_build_refuses_more)
{
    int p[] = { 10 };
    struct pool_build *b = build_of(p, 1, 1);
    cr_expect_null(pool_build_slot(b));
    cr_expect_eq(pool_build_push(b), PF_ERANGE);
    pool_build_destroy(b);
    pool_build_destroy(NULL);
}
