/* Unit tests of common/hist.c: bucketing, counts and quantile estimates. */
#include <criterion/criterion.h>

#include "hist.h"

Test(hist, empty_is_zero)
{
    struct hist h;
    hist_init(&h);
    cr_expect_eq(h.count, 0);
    cr_expect_float_eq(hist_quantile_us(&h, 0.5), 0.0, 1e-9);
}

Test(hist, bounds_are_increasing)
{
    for (int i = 1; i < HIST_NBUCKETS; i++)
        cr_expect_gt(hist_bucket_le_us(i), hist_bucket_le_us(i - 1), "bucket %d", i);
    cr_expect_eq(hist_bucket_le_us(0), 100);
    cr_expect_eq(hist_bucket_le_us(HIST_NBUCKETS - 1), 60000000);
}

Test(hist, bucketing_uses_upper_inclusive_bounds)
{
    struct hist h;
    hist_init(&h);
    hist_add(&h, 100);        /* le 100 */
    hist_add(&h, 101);        /* le 200 */
    hist_add(&h, -5);         /* clamped to 0: le 100 */
    hist_add(&h, 61000000);   /* +Inf */
    cr_expect_eq(h.counts[0], 2);
    cr_expect_eq(h.counts[1], 1);
    cr_expect_eq(h.counts[HIST_NBUCKETS], 1);
    cr_expect_eq(h.count, 4);
    cr_expect_eq(h.sum_us, 100 + 101 + 61000000);
}

Test(hist, quantiles_interpolate_within_bucket)
{
    struct hist h;
    hist_init(&h);
    for (int i = 0; i < 90; i++)
        hist_add(&h, 1500);      /* bucket (1000, 2000] */
    for (int i = 0; i < 10; i++)
        hist_add(&h, 150000);    /* bucket (100000, 200000] */
    double p50 = hist_quantile_us(&h, 0.50);
    double p95 = hist_quantile_us(&h, 0.95);
    double p99 = hist_quantile_us(&h, 0.99);
    cr_expect(p50 > 1000 && p50 <= 2000, "p50 %f", p50);
    cr_expect(p95 > 100000 && p95 <= 200000, "p95 %f", p95);
    cr_expect(p99 >= p95, "p99 %f < p95 %f", p99, p95);
    cr_expect_float_eq(hist_quantile_us(&h, 1.0), 200000.0, 1e-6);
}

Test(hist, overflow_reports_last_bound)
{
    struct hist h;
    hist_init(&h);
    hist_add(&h, 100000000);
    cr_expect_float_eq(hist_quantile_us(&h, 0.99), 60000000.0, 1e-6);
}
