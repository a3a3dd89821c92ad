/* Unit tests for node/fd_budget.c: the descriptors max_clients needs and
 * the clients a limit allows (issue 11 item 4). */
#include <criterion/criterion.h>
#include <sys/resource.h>

#include "fd_budget.h"

Test(fd_budget, need)
{
    /* two per client, the pipe pool, the answering conns, the reserve */
    cr_expect_eq(fd_budget_need(4096, 256),
                 2 * 4096 + FD_BUDGET_PIPES + 256 + FD_BUDGET_RESERVE);
    cr_expect_eq(fd_budget_need(0, 0), (uint64_t)(FD_BUDGET_PIPES + FD_BUDGET_RESERVE));
    cr_expect_eq(FD_BUDGET_PIPES, 2 * TUNNEL_PIPES_MAX);
}

Test(fd_budget, enough)
{
    struct fd_budget b;
    fd_budget_fit(65536, 4096, &b);
    cr_expect_eq(b.is_short, 0);
    cr_expect_eq(b.max_clients, 4096);
    cr_expect_eq(b.rejecting_max, FD_BUDGET_REJECTING_MAX);
    cr_expect_eq(b.need, fd_budget_need(4096, FD_BUDGET_REJECTING_MAX));
    fd_budget_fit(b.need, 4096, &b);
    cr_expect_eq(b.is_short, 0, "exactly the need");
}

/* systemd's default 1024 and a tight 256: capped, and what is admitted
 * never needs more than the limit. */
Test(fd_budget, short_limits)
{
    static const uint64_t limits[] = { 1024, 256, 200, 4096, 8000 };
    for (size_t i = 0; i < PF_ARRAY_LEN(limits); i++) {
        struct fd_budget b;
        fd_budget_fit(limits[i], 4096, &b);
        cr_expect_eq(b.is_short, 1, "limit %llu", (unsigned long long)limits[i]);
        cr_expect(b.max_clients > 0 && b.max_clients < 4096);
        cr_expect(fd_budget_need(b.max_clients, b.rejecting_max) <= limits[i],
                  "limit %llu: %d clients fit", (unsigned long long)limits[i], b.max_clients);
        cr_expect(fd_budget_need(b.max_clients + 1, b.rejecting_max) > limits[i],
                  "limit %llu: no room for more", (unsigned long long)limits[i]);
        cr_expect(b.rejecting_max >= FD_BUDGET_REJECTING_MIN &&
                  b.rejecting_max <= FD_BUDGET_REJECTING_MAX);
    }
    struct fd_budget b;
    fd_budget_fit(256, 4096, &b);
    cr_expect_eq(b.rejecting_max, 16);
    cr_expect_eq(b.max_clients, (256 - FD_BUDGET_PIPES - FD_BUDGET_RESERVE - 16) / 2);
}

Test(fd_budget, too_small_for_any_client)
{
    struct fd_budget b;
    fd_budget_fit(100, 4096, &b);
    cr_expect_eq(b.is_short, 1);
    cr_expect_eq(b.max_clients, 0);
    fd_budget_fit(0, 10, &b);
    cr_expect_eq(b.max_clients, 0);
}

/* A configured max_clients below what the limit allows stays; fewer
 * answering conns make room when the limit is tight. */
Test(fd_budget, small_max_clients)
{
    struct fd_budget b;
    fd_budget_fit(1024, 10, &b);
    cr_expect_eq(b.is_short, 0);
    cr_expect_eq(b.max_clients, 10);
    cr_expect_eq(b.rejecting_max, FD_BUDGET_REJECTING_MAX);
    fd_budget_fit(256, 20, &b);
    cr_expect_eq(b.is_short, 0, "20 clients fit in 256 with fewer answering conns");
    cr_expect_eq(b.max_clients, 20);
    cr_expect_eq(b.rejecting_max, 16);
    cr_expect(b.need <= 256);
}

/* The real limit: raised toward the need, within the hard limit. */
Test(fd_budget, plan_raises_within_hard)
{
    struct rlimit rl;
    cr_assert_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
    struct rlimit low = { 256, rl.rlim_max };
    cr_assert_eq(setrlimit(RLIMIT_NOFILE, &low), 0);
    struct fd_budget b;
    cr_assert_eq(fd_budget_plan(100, &b), PF_OK);
    uint64_t need = fd_budget_need(100, FD_BUDGET_REJECTING_MAX);
    if (rl.rlim_max == RLIM_INFINITY || rl.rlim_max >= need) {
        cr_expect_eq(b.is_raised, 1);
        cr_expect_eq(b.limit, need);
        cr_expect_eq(b.is_short, 0);
        cr_expect_eq(b.max_clients, 100);
    } else {
        cr_expect_eq(b.limit, (uint64_t)rl.rlim_max);
    }
    struct rlimit now;
    cr_assert_eq(getrlimit(RLIMIT_NOFILE, &now), 0);
    cr_expect_eq((uint64_t)now.rlim_cur, b.limit, "the process limit is what was planned");
    cr_assert_eq(setrlimit(RLIMIT_NOFILE, &rl), 0);
}
