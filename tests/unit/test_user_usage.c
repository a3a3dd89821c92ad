/* Unit tests for common/user_usage.c: periods, and the verdicts on the
 * fleet totals last read plus the local share, with fixed clocks. */
#include <criterion/criterion.h>
#include <string.h>

#include "user_usage.h"

/* 2026-12-07 16:30:00 UTC */
#define WALL INT64_C(1796661000000)

Test(user_usage, periods)
{
    char d[USER_DAY_LEN], m[USER_MONTH_LEN];
    user_period_day(WALL, d);
    user_period_month(WALL, m);
    cr_assert_str_eq(d, "20261207");
    cr_assert_str_eq(m, "202612");
    cr_assert_eq(user_period_day_left_s(WALL), 7 * 3600 + 30 * 60);
    /* to 2027-01-01 00:00 UTC: 24 days and 7.5 hours */
    cr_assert_eq(user_period_month_left_s(WALL), 24 * 86400 + 7 * 3600 + 30 * 60);
    /* 2027-02-28 23:59:59 UTC: one second to March */
    cr_assert_eq(user_period_month_left_s(INT64_C(1803859199000)), 1);
    user_period_day(INT64_C(1803859199000), d);
    cr_assert_str_eq(d, "20270228");
}

Test(user_usage, max_conns_counts_the_other_nodes)
{
    struct user_usage u;
    memset(&u, 0, sizeof(u));
    struct user_limits lim = { .max_conns = 3 };
    int ra = -1;
    u.conns = 1;
    u.other_conns = 1;
    cr_assert_eq(user_usage_check(&u, &lim, 5000, WALL, 1, &ra), USER_OK);
    cr_assert_eq(ra, 0);
    u.other_conns = 2;
    cr_assert_eq(user_usage_check(&u, &lim, 5000, WALL, 1, &ra), USER_OVER_CONNS);
    cr_assert_eq(ra, 1);
    /* a request on a connection already counted is not a new one */
    cr_assert_eq(user_usage_check(&u, &lim, 5000, WALL, 0, &ra), USER_OK);
}

Test(user_usage, max_rps_per_second_plus_fleet_rate)
{
    struct user_usage u;
    memset(&u, 0, sizeof(u));
    struct user_limits lim = { .max_rps = 3 };
    int ra;
    u.other_rps = 1;
    cr_assert_eq(user_usage_check(&u, &lim, 7100, WALL, 0, &ra), USER_OK);
    user_usage_count_request(&u, 7100);
    cr_assert_eq(user_usage_check(&u, &lim, 7200, WALL, 0, &ra), USER_OK);
    user_usage_count_request(&u, 7200);
    cr_assert_eq(user_usage_check(&u, &lim, 7300, WALL, 0, &ra), USER_OVER_RPS);
    cr_assert_eq(ra, 1);
    /* the next second starts afresh */
    cr_assert_eq(user_usage_check(&u, &lim, 8000, WALL, 0, &ra), USER_OK);
    cr_assert_eq(u.pend_reqs, 2);
}

Test(user_usage, day_quota_is_fleet_plus_in_flight_plus_pending)
{
    struct user_usage u;
    memset(&u, 0, sizeof(u));
    struct user_limits lim = { .bytes_per_day = 1000 };
    int ra;
    user_usage_report_done(&u, "20261207", "202612", 600, 600, 0, 0);
    user_usage_add_bytes(&u, 300);
    cr_assert_eq(user_usage_check(&u, &lim, 0, WALL, 0, &ra), USER_OK);
    int rps;
    user_usage_report_begin(&u, 1000, &rps);
    cr_assert_eq(u.sent_bytes, 300);
    user_usage_add_bytes(&u, 100);
    cr_assert_eq(user_usage_check(&u, &lim, 0, WALL, 0, &ra), USER_OVER_DAY);
    cr_assert_eq(ra, 7 * 3600 + 30 * 60);
    /* yesterday's total does not count today */
    user_usage_report_done(&u, "20261206", "202612", 900, 900, 0, 0);
    cr_assert_eq(user_usage_check(&u, &lim, 0, WALL, 0, &ra), USER_OK);
}

Test(user_usage, month_quota)
{
    struct user_usage u;
    memset(&u, 0, sizeof(u));
    struct user_limits lim = { .bytes_per_day = 10000, .bytes_per_month = 5000 };
    int ra;
    user_usage_report_done(&u, "20261207", "202612", 10, 5000, 0, 0);
    cr_assert_eq(user_usage_check(&u, &lim, 0, WALL, 0, &ra), USER_OVER_MONTH);
    cr_assert_eq(ra, user_period_month_left_s(WALL));
    cr_assert_str_eq(user_verdict_name(USER_OVER_MONTH), "user_bytes_per_month");
}

Test(user_usage, report_cycle_and_lost_reply)
{
    struct user_usage u;
    memset(&u, 0, sizeof(u));
    user_usage_count_request(&u, 100);
    user_usage_count_request(&u, 200);
    user_usage_count_request(&u, 300);
    user_usage_add_bytes(&u, 50);
    int rps = 0;
    user_usage_report_begin(&u, 2000, &rps);
    cr_assert_eq(rps, 2, "3 requests in 2 s, rounded up");
    cr_assert_eq(u.sent_reqs, 3);
    cr_assert_eq(u.pend_reqs, 0);
    user_usage_add_bytes(&u, 7);
    user_usage_report_lost(&u);
    cr_assert_eq(u.pend_bytes, 57, "sent again with the next report");
    cr_assert_eq(u.pend_reqs, 3);
    user_usage_report_begin(&u, 2000, &rps);
    cr_assert_eq(rps, 0);
    user_usage_report_done(&u, "20261207", "202612", 57, 57, 4, 9);
    cr_assert_eq(u.sent_bytes, 0);
    cr_assert_eq(u.other_conns, 4);
    cr_assert_eq(u.other_rps, 9);
}
