/* Unit tests for common/breaker.c: an injected monotonic clock. */
#include <criterion/criterion.h>

#include "breaker.h"
#include "pf.h"

static const struct breaker_conf conf3 = { .failures = 3, .open_ms = 1000, .open_max_ms = 5000 };

static void fail_n(struct breaker *b, int n, int64_t now)
{
    for (int i = 0; i < n; i++)
        (void)breaker_failure(b, now);
}

Test(breaker, starts_closed_and_allows)
{
    struct breaker b;
    breaker_init(&b, &conf3);
    cr_expect_eq(b.state, BREAKER_CLOSED);
    cr_expect_eq(breaker_allow(&b, 0), 1);
    cr_expect_eq(breaker_allow(&b, 0), 1);
    cr_expect_str_eq(breaker_state_name(b.state), "closed");
}

Test(breaker, opens_after_n_consecutive_failures)
{
    struct breaker b;
    breaker_init(&b, &conf3);
    cr_expect_eq(breaker_failure(&b, 100), 0);
    cr_expect_eq(breaker_failure(&b, 200), 0);
    cr_expect_eq(b.state, BREAKER_CLOSED);
    cr_expect_eq(breaker_failure(&b, 300), 1);
    cr_expect_eq(b.state, BREAKER_OPEN);
    cr_expect_eq(b.open_until_ms, 1300);
    cr_expect_eq(b.opens, 1);
    cr_expect_eq(b.consecutive_failures, 3);
    cr_expect_str_eq(breaker_state_name(b.state), "open");
}

Test(breaker, success_resets_the_failure_run)
{
    struct breaker b;
    breaker_init(&b, &conf3);
    fail_n(&b, 2, 0);
    breaker_success(&b);
    cr_expect_eq(b.consecutive_failures, 0);
    fail_n(&b, 2, 0);
    cr_expect_eq(b.state, BREAKER_CLOSED);
}

Test(breaker, open_refuses_until_deadline)
{
    struct breaker b;
    breaker_init(&b, &conf3);
    fail_n(&b, 3, 0);
    cr_expect_eq(breaker_allow(&b, 0), 0);
    cr_expect_eq(breaker_allow(&b, 999), 0);
    cr_expect_eq(breaker_wait_ms(&b, 400), 600);
    cr_expect_eq(b.state, BREAKER_OPEN);
}

Test(breaker, half_open_allows_exactly_one_probe)
{
    struct breaker b;
    breaker_init(&b, &conf3);
    fail_n(&b, 3, 0);
    cr_expect_eq(breaker_allow(&b, 1000), 1);
    cr_expect_eq(b.state, BREAKER_HALF_OPEN);
    cr_expect_str_eq(breaker_state_name(b.state), "half_open");
    cr_expect_eq(breaker_allow(&b, 1001), 0);
    cr_expect_eq(breaker_allow(&b, 5000), 0);
    cr_expect_eq(breaker_wait_ms(&b, 5000), 0);
}

Test(breaker, probe_success_closes)
{
    struct breaker b;
    breaker_init(&b, &conf3);
    fail_n(&b, 3, 0);
    cr_assert_eq(breaker_allow(&b, 1000), 1);
    breaker_success(&b);
    cr_expect_eq(b.state, BREAKER_CLOSED);
    cr_expect_eq(b.reopens, 0);
    cr_expect_eq(breaker_allow(&b, 1000), 1);
    cr_expect_eq(breaker_allow(&b, 1000), 1);
    /* A new run of failures opens for the first open time again. */
    fail_n(&b, 3, 2000);
    cr_expect_eq(b.open_until_ms, 3000);
    cr_expect_eq(b.opens, 2);
}

Test(breaker, probe_failure_reopens_longer_up_to_cap)
{
    static const int64_t open_times[] = { 1000, 2000, 4000, 5000, 5000 };
    struct breaker b;
    int64_t now = 0;

    breaker_init(&b, &conf3);
    fail_n(&b, 3, now);
    cr_assert_eq(b.open_until_ms - now, open_times[0]);
    for (size_t i = 1; i < PF_ARRAY_LEN(open_times); i++) {
        now = b.open_until_ms;
        cr_assert_eq(breaker_allow(&b, now), 1, "probe %zu", i);
        cr_expect_eq(breaker_failure(&b, now), 1, "probe %zu re-opens", i);
        cr_expect_eq(b.state, BREAKER_OPEN);
        cr_expect_eq(b.open_until_ms - now, open_times[i], "open time %zu", i);
    }
    cr_expect_eq(b.opens, PF_ARRAY_LEN(open_times));
}

Test(breaker, failure_while_open_does_not_extend)
{
    struct breaker b;
    breaker_init(&b, &conf3);
    fail_n(&b, 3, 0);
    cr_expect_eq(breaker_failure(&b, 500), 0);
    cr_expect_eq(b.open_until_ms, 1000);
    cr_expect_eq(b.opens, 1);
}

Test(breaker, one_failure_threshold)
{
    struct breaker_conf c = { .failures = 1, .open_ms = 10, .open_max_ms = 10 };
    struct breaker b;
    breaker_init(&b, &c);
    cr_expect_eq(breaker_failure(&b, 0), 1);
    cr_expect_eq(b.open_until_ms, 10);
}

Test(breaker, zero_conf_gets_defaults)
{
    struct breaker_conf c = { 0, 0, 0 };
    struct breaker b;
    breaker_init(&b, &c);
    cr_expect_eq(b.conf.failures, 5);
    cr_expect_eq(b.conf.open_ms, 30000);
    cr_expect_eq(b.conf.open_max_ms, 600000);
    cr_expect_eq(breaker_next_open_ms(&b), 30000);
}
