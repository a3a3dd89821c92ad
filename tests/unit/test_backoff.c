/* Unit tests for common/backoff.c. */
#include <criterion/criterion.h>

#include "backoff.h"
#include "pf.h"

static const struct backoff b100 = { .base_ms = 100, .cap_ms = 30000 };

Test(backoff, ceiling_doubles_until_cap)
{
    static const struct {
        unsigned attempt;
        int64_t ceiling;
    } cases[] = {
        { 0, 100 }, { 1, 200 }, { 2, 400 }, { 3, 800 }, { 8, 25600 }, { 9, 30000 },
        { 10, 30000 }, { 63, 30000 }, { 64, 30000 }, { 200, 30000 }, { 4000000000u, 30000 },
    };
    for (size_t i = 0; i < PF_ARRAY_LEN(cases); i++)
        cr_expect_eq(backoff_ceiling_ms(&b100, cases[i].attempt), cases[i].ceiling,
                     "attempt %u", cases[i].attempt);
}

Test(backoff, overflow_safe_with_huge_cap)
{
    struct backoff b = { .base_ms = 1000, .cap_ms = INT64_MAX };
    int64_t c = backoff_ceiling_ms(&b, 200);
    cr_expect_gt(c, 0);
    cr_expect_leq(c, INT64_MAX);
    cr_expect_eq(backoff_ceiling_ms(&b, 0), 1000);
    cr_expect_eq(backoff_ceiling_ms(&b, 10), 1024000);
}

Test(backoff, overflow_at_attempt_200)
{
    cr_expect_eq(backoff_ceiling_ms(&b100, 200), 30000);
    struct backoff big = { .base_ms = INT64_MAX / 2 + 1, .cap_ms = INT64_MAX };
    cr_expect_eq(backoff_ceiling_ms(&big, 200), INT64_MAX);
    cr_expect_eq(backoff_ceiling_ms(&big, 1), INT64_MAX);
}

Test(backoff, cap_equal_to_base)
{
    struct backoff b = { .base_ms = 500, .cap_ms = 500 };
    cr_expect_eq(backoff_ceiling_ms(&b, 0), 500);
    cr_expect_eq(backoff_ceiling_ms(&b, 5), 500);
}

Test(backoff, full_jitter_bounds_fixed_rnd)
{
    static const struct {
        unsigned attempt;
        uint64_t rnd;
        int64_t delay;
    } cases[] = {
        { 0, 0, 0 },
        { 0, 100, 100 },            /* rnd % 101 */
        { 0, 101, 0 },
        { 1, 150, 150 },
        { 3, 801, 0 },
        { 20, 30000, 30000 },
        { 20, 30001, 0 },
        { 200, UINT64_MAX, (int64_t)(UINT64_MAX % 30001) },
    };
    for (size_t i = 0; i < PF_ARRAY_LEN(cases); i++)
        cr_expect_eq(backoff_delay_ms(&b100, cases[i].attempt, cases[i].rnd), cases[i].delay,
                     "case %zu", i);
}

Test(backoff, delay_never_exceeds_ceiling)
{
    for (unsigned attempt = 0; attempt < 80; attempt++) {
        int64_t ceiling = backoff_ceiling_ms(&b100, attempt);
        for (uint64_t rnd = 0; rnd < 2000; rnd += 7) {
            int64_t d = backoff_delay_ms(&b100, attempt, rnd * 2654435761u);
            cr_assert(d >= 0 && d <= ceiling, "attempt %u rnd %llu", attempt,
                      (unsigned long long)rnd);
        }
    }
}

Test(backoff, delay_with_int64_max_ceiling)
{
    struct backoff b = { .base_ms = INT64_MAX, .cap_ms = INT64_MAX };
    cr_expect_eq(backoff_delay_ms(&b, 3, UINT64_MAX), (int64_t)(UINT64_MAX % ((uint64_t)INT64_MAX + 1)));
}
