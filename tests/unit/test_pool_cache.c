/* Unit tests of node/pool_cache.c: staleness, stable order, round robin,
 * expiry and exclusion. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pool_cache.h"

static struct upstream *make(const int *ports, size_t n, const int64_t *expires)
{
    struct upstream *u = calloc(n, sizeof(*u));
    cr_assert_not_null(u);
    for (size_t i = 0; i < n; i++) {
        u[i].scheme = UPSTREAM_HTTP;
        u[i].host_kind = UPSTREAM_HOST_IPV4;
        snprintf(u[i].host, sizeof(u[i].host), "192.0.2.%d", ports[i] % 200);
        u[i].port = (uint16_t)ports[i];
        u[i].weight = 1;
        u[i].expires_at_ms = expires != NULL ? expires[i] : 0;
    }
    return u;
}

Test(pool_cache, empty_pick)
{
    struct pool_cache pc;
    pool_cache_init(&pc);
    cr_expect_eq(pool_cache_pick(&pc, 0, NULL, 0), -1);
    cr_expect_eq(pc.version, 0);
    pool_cache_deinit(&pc);
    pool_cache_deinit(NULL);
}

Test(pool_cache, is_stale)
{
    struct pool_cache pc;
    pool_cache_init(&pc);
    cr_expect(pool_cache_is_stale(&pc, 1, "e1"));          /* never loaded */
    pool_cache_replace(&pc, NULL, 0, 5, "e1", 100);
    cr_expect_not(pool_cache_is_stale(&pc, 5, "e1"));      /* duplicate */
    cr_expect_not(pool_cache_is_stale(&pc, 4, "e1"));      /* older */
    cr_expect(pool_cache_is_stale(&pc, 6, "e1"));          /* newer */
    cr_expect(pool_cache_is_stale(&pc, 1, "e2"));          /* new epoch, whatever the version */
    cr_expect_eq(pc.loaded_at_ms, 100);
    cr_expect_geq(pc.last_apply_us, 0);
    pool_cache_deinit(&pc);
}

Test(pool_cache, sorted_and_round_robin)
{
    int ports[] = { 30, 10, 20 };
    struct pool_cache pc;
    pool_cache_init(&pc);
    pool_cache_replace(&pc, make(ports, 3, NULL), 3, 1, "e", 0);
    /* sorted by id: http://192.0.2.10:10 < ...20:20 < ...30:30 */
    cr_expect_eq(pc.items[0].port, 10);
    cr_expect_eq(pc.items[1].port, 20);
    cr_expect_eq(pc.items[2].port, 30);
    long seq[6];
    for (int i = 0; i < 6; i++)
        seq[i] = pool_cache_pick(&pc, 0, NULL, 0);
    long want[6] = { 0, 1, 2, 0, 1, 2 };
    for (int i = 0; i < 6; i++)
        cr_expect_eq(seq[i], want[i], "pick %d", i);
    pool_cache_deinit(&pc);
}

Test(pool_cache, skips_expired_and_excluded)
{
    int ports[] = { 10, 20, 30 };
    int64_t exp[] = { 1000, 0, 5000 };
    struct pool_cache pc;
    pool_cache_init(&pc);
    pool_cache_replace(&pc, make(ports, 3, exp), 3, 1, "e", 0);
    /* at t=2000 index 0 has expired */
    for (int i = 0; i < 4; i++) {
        long idx = pool_cache_pick(&pc, 2000, NULL, 0);
        cr_expect_neq(idx, 0);
        cr_expect_geq(idx, 1);
    }
    long ex[] = { 1 };
    cr_expect_eq(pool_cache_pick(&pc, 2000, ex, 1), 2);
    cr_expect_eq(pool_cache_pick(&pc, 2000, ex, 1), 2);
    long ex2[] = { 1, 2 };
    cr_expect_eq(pool_cache_pick(&pc, 2000, ex2, 2), -1);
    cr_expect_eq(pool_cache_pick(&pc, 6000, ex, 1), -1);   /* 0 and 2 expired, 1 excluded */
    cr_expect_eq(pool_cache_pick(&pc, 500, ex, 1) != 1, 1);
    pool_cache_deinit(&pc);
}

Test(pool_cache, replace_keeps_cursor_in_range)
{
    int ports[] = { 10, 20, 30, 40 };
    struct pool_cache pc;
    pool_cache_init(&pc);
    pool_cache_replace(&pc, make(ports, 4, NULL), 4, 1, "e", 0);
    cr_expect_eq(pool_cache_pick(&pc, 0, NULL, 0), 0);
    cr_expect_eq(pool_cache_pick(&pc, 0, NULL, 0), 1);
    cr_expect_eq(pool_cache_pick(&pc, 0, NULL, 0), 2);
    pool_cache_replace(&pc, make(ports, 2, NULL), 2, 2, "e", 0);
    long idx = pool_cache_pick(&pc, 0, NULL, 0);
    cr_expect(idx == 0 || idx == 1);
    cr_expect_eq(pc.version, 2);
    cr_expect_str_eq(pc.epoch, "e");
    pool_cache_replace(&pc, NULL, 0, 3, "e", 0);
    cr_expect_eq(pool_cache_pick(&pc, 0, NULL, 0), -1);
    pool_cache_deinit(&pc);
}
