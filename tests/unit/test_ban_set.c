/* Unit tests for common/ban_set.c: matching, sessions, expiry, removal,
 * growth. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "ban_set.h"

#define NOW 1000000LL

static struct ban mk(const char *id, const char *sid, const char *session, const char *domain,
                     int64_t expires_at_ms)
{
    struct ban b;
    memset(&b, 0, sizeof(b));
    snprintf(b.id, sizeof(b.id), "%s", id);
    snprintf(b.upstream, sizeof(b.upstream), "%s", sid);
    snprintf(b.session, sizeof(b.session), "%s", session);
    snprintf(b.domain, sizeof(b.domain), "%s", domain);
    b.expires_at_ms = expires_at_ms;
    return b;
}

#define U1 "aaaaaaaaaaaa"
#define U2 "bbbbbbbbbbbb"

Test(ban_set, empty_matches_nothing)
{
    struct ban_set s;
    ban_set_init(&s);
    cr_expect_null(ban_set_match(&s, U1, NULL, "example.com", 11, NOW));
    ban_set_deinit(&s);
}

Test(ban_set, fleet_ban_by_domain_and_subdomain)
{
    struct ban_set s;
    ban_set_init(&s);
    struct ban b = mk("0000000000000001", U1, "", "example.com", NOW + 10);
    cr_assert_eq(ban_set_put(&s, &b), PF_OK);
    cr_expect_not_null(ban_set_match(&s, U1, NULL, "example.com", 11, NOW));
    cr_expect_not_null(ban_set_match(&s, U1, "alice-session-1", "www.example.com", 15, NOW));
    cr_expect_null(ban_set_match(&s, U1, NULL, "example.org", 11, NOW));
    cr_expect_null(ban_set_match(&s, U2, NULL, "example.com", 11, NOW));
    cr_expect_null(ban_set_match(&s, U1, NULL, "example.com", 11, NOW + 10), "expired");
    ban_set_deinit(&s);
}

Test(ban_set, session_ban_is_the_sessions_only)
{
    struct ban_set s;
    ban_set_init(&s);
    struct ban b = mk("0000000000000002", U1, "alice-session-42", "example.com", NOW + 10);
    cr_assert_eq(ban_set_put(&s, &b), PF_OK);
    cr_expect_not_null(ban_set_match(&s, U1, "alice-session-42", "example.com", 11, NOW));
    cr_expect_null(ban_set_match(&s, U1, "alice-session-43", "example.com", 11, NOW));
    cr_expect_null(ban_set_match(&s, U1, NULL, "example.com", 11, NOW));
    cr_expect_null(ban_set_match(&s, U1, "alice-session-42", "other.com", 9, NOW));
    cr_expect_eq(ban_set_upstream_domains(&s, U1, NOW), 0, "session bans do not count");
    ban_set_deinit(&s);
}

Test(ban_set, star_remove_replace_get)
{
    struct ban_set s;
    ban_set_init(&s);
    struct ban b = mk("0000000000000003", U2, "", "*", NOW + 10);
    cr_assert_eq(ban_set_put(&s, &b), PF_OK);
    cr_expect_not_null(ban_set_match(&s, U2, NULL, "anything.net", 12, NOW));
    cr_expect_not_null(ban_set_get(&s, "0000000000000003", NOW));
    b = mk("0000000000000003", U2, "", "a.com", NOW + 10);   /* same id: replaces */
    cr_assert_eq(ban_set_put(&s, &b), PF_OK);
    cr_expect_eq(s.count, 1);
    cr_expect_null(ban_set_match(&s, U2, NULL, "anything.net", 12, NOW));
    cr_expect_eq(ban_set_remove(&s, "0000000000000003"), 1);
    cr_expect_eq(ban_set_remove(&s, "0000000000000003"), 0);
    cr_expect_null(ban_set_match(&s, U2, NULL, "a.com", 5, NOW));
    cr_expect_eq(s.count, 0);
    ban_set_deinit(&s);
}

static int count_cb(const struct ban *b, void *arg)
{
    (void)b;
    (*(size_t *)arg)++;
    return 0;
}

Test(ban_set, growth_expiry_and_domain_counts)
{
    struct ban_set s;
    ban_set_init(&s);
    char id[17], sid[13], dom[32];
    for (int i = 0; i < 3000; i++) {
        snprintf(id, sizeof(id), "%016x", i);
        snprintf(sid, sizeof(sid), "%012x", i % 500);
        snprintf(dom, sizeof(dom), "d%d.example", i % 7);
        struct ban b = mk(id, sid, "", dom, i % 2 == 0 ? NOW + 100 : NOW + 5);
        cr_assert_eq(ban_set_put(&s, &b), PF_OK);
    }
    cr_expect_eq(s.count, 3000);
    snprintf(sid, sizeof(sid), "%012x", 0);
    /* upstream 0: bans i = 0, 500, ..., 2500: domains d0,d3,d6,d2,d5,d1 */
    cr_expect_eq(ban_set_upstream_domains(&s, sid, NOW), 6);
    cr_expect_not_null(ban_set_match(&s, sid, NULL, "x.d3.example", 12, NOW));
    size_t n = 0;
    ban_set_foreach(&s, NOW + 10, count_cb, &n);
    cr_expect_eq(n, 1500);
    cr_expect_eq(ban_set_expire(&s, NOW + 10), 1500);
    cr_expect_eq(s.count, 1500);
    /* i = 500 (d3) was odd? 500 is even: kept; 1500 (d2) even: kept */
    cr_expect_eq(ban_set_upstream_domains(&s, sid, NOW + 10), 6);
    ban_set_clear(&s);
    cr_expect_eq(s.count, 0);
    cr_expect_null(ban_set_match(&s, sid, NULL, "x.d3.example", 12, NOW));
    ban_set_deinit(&s);
}
