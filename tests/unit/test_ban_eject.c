/* controller/ban_eject: upstreams banned on more than N distinct domains. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "ban_eject.h"

static struct ban_eject_ban B(const char *sid, const char *domain, int64_t exp)
{
    struct ban_eject_ban b;
    memset(&b, 0, sizeof(b));
    snprintf(b.sid, sizeof(b.sid), "%s", sid);
    snprintf(b.domain, sizeof(b.domain), "%s", domain);
    b.expires_at_ms = exp;
    return b;
}

Test(ban_eject, over_the_limit_until_enough_expire)
{
    struct ban_eject_ban bans[] = {
        B("aaaaaaaaaaaa", "a.com", 5000), B("bbbbbbbbbbbb", "a.com", 9000),
        B("aaaaaaaaaaaa", "b.com", 3000), B("aaaaaaaaaaaa", "c.com", 7000),
        B("aaaaaaaaaaaa", "b.com", 4000),   /* b.com again: counts once, latest expiry */
        B("bbbbbbbbbbbb", "b.com", 9000), B("aaaaaaaaaaaa", "d.com", 500),  /* expired */
        B("cccccccccccc", "x.com", 8000), B("cccccccccccc", "y.com", 8000),
        B("cccccccccccc", "*", 8000),
    };
    struct ban_eject out[PF_ARRAY_LEN(bans)];
    size_t n = ban_eject_compute(bans, PF_ARRAY_LEN(bans), 2, 1000, out);
    cr_assert_eq(n, 2);
    cr_expect_str_eq(out[0].sid, "aaaaaaaaaaaa");
    cr_expect_eq(out[0].ndomains, 3, "a, b, c (d expired, b once)");
    cr_expect_eq(out[0].until_ms, 4000, "back at 2 domains when b.com's latest ban ends");
    cr_expect_str_eq(out[1].sid, "cccccccccccc");
    cr_expect_eq(out[1].until_ms, 8000);
    cr_expect_not_null(ban_eject_find(out, n, "cccccccccccc"));
    cr_expect_null(ban_eject_find(out, n, "bbbbbbbbbbbb"), "two domains: not more than 2");
    cr_expect_null(ban_eject_find(out, 0, "aaaaaaaaaaaa"));
}

Test(ban_eject, later_time_and_limits)
{
    struct ban_eject_ban bans[] = {
        B("aaaaaaaaaaaa", "a.com", 5000), B("aaaaaaaaaaaa", "b.com", 3000),
        B("aaaaaaaaaaaa", "c.com", 7000),
    };
    struct ban_eject out[3];
    cr_expect_eq(ban_eject_compute(bans, 3, 2, 4000, out), 0, "b.com expired: two left");
    struct ban_eject_ban again[] = {
        B("aaaaaaaaaaaa", "a.com", 5000), B("aaaaaaaaaaaa", "b.com", 3000),
        B("aaaaaaaaaaaa", "c.com", 7000),
    };
    cr_assert_eq(ban_eject_compute(again, 3, 0, 1000, out), 1);
    cr_expect_eq(out[0].until_ms, 7000, "limit 0: out until the last ban ends");
    cr_expect_eq(ban_eject_compute(NULL, 0, 1, 1000, out), 0);
}
