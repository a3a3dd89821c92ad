/* Requests and bytes per provider (node/provider_stats.c). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "provider_stats.h"

Test(provider_stats, counts_per_provider)
{
    struct provider_stats *ps = calloc(1, sizeof(*ps));
    cr_assert_not_null(ps);
    provider_stats_add(ps, "kdl", 100, 1000);
    provider_stats_add(ps, "gw", 5, 7);
    provider_stats_add(ps, "kdl", 1, 2);
    provider_stats_add(ps, "", 9, 9);        /* no provider: not counted */
    provider_stats_add(ps, NULL, 9, 9);
    cr_expect_eq(ps->n, 2u);
    const struct provider_stats_row *k = provider_stats_find(ps, "kdl");
    cr_assert_not_null(k);
    cr_expect_eq(k->requests, 2u);
    cr_expect_eq(k->bytes_in, 101u);
    cr_expect_eq(k->bytes_out, 1002u);
    const struct provider_stats_row *g = provider_stats_find(ps, "gw");
    cr_assert_not_null(g);
    cr_expect_eq(g->requests, 1u);
    cr_expect_str_eq(ps->rows[0].name, "kdl", "order of first use");
    cr_expect_null(provider_stats_find(ps, "other"));
    free(ps);
}

Test(provider_stats, bounded_with_the_rest_as_other)
{
    struct provider_stats *ps = calloc(1, sizeof(*ps));
    cr_assert_not_null(ps);
    char name[32];
    for (int round = 0; round < 2; round++)
        for (int i = 0; i < PROVIDER_STATS_MAX + 10; i++) {
            snprintf(name, sizeof(name), "p%d", i);
            provider_stats_add(ps, name, 1, 2);
        }
    cr_expect_eq(ps->n, (size_t)PROVIDER_STATS_MAX);
    for (int i = 0; i < PROVIDER_STATS_MAX; i++) {
        snprintf(name, sizeof(name), "p%d", i);
        const struct provider_stats_row *r = provider_stats_find(ps, name);
        cr_assert_not_null(r, "%s", name);
        cr_expect_eq(r->requests, 2u, "%s", name);
    }
    cr_expect_null(provider_stats_find(ps, "p300"));
    cr_expect_str_eq(ps->other.name, PROVIDER_STATS_OTHER);
    cr_expect_eq(ps->other.requests, 20u);
    cr_expect_eq(ps->other.bytes_out, 40u);
    free(ps);
}
