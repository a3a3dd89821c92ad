/* Unit tests for common/upstream_sid.c: the definition of docs/redis-keys.md. */
#include <criterion/criterion.h>
#include <string.h>

#include "upstream_sid.h"

Test(upstream_sid, known_value)
{
    /* python3: hashlib.sha256(b"pf-upstream-sid:v1\n" + id).hexdigest()[:12] */
    const char *id = "http://203.0.113.10:8080";
    char sid[UPSTREAM_SID_LEN + 1];
    upstream_sid(id, strlen(id), sid);
    cr_expect_str_eq(sid, "9b59643fe740");
}

Test(upstream_sid, reveals_no_address_and_differs)
{
    const char *a = "http://203.0.113.10:8080", *b = "http://203.0.113.11:8080";
    char sa[UPSTREAM_SID_LEN + 1], sb[UPSTREAM_SID_LEN + 1];
    upstream_sid(a, strlen(a), sa);
    upstream_sid(b, strlen(b), sb);
    cr_expect_str_neq(sa, sb);
    cr_expect_null(strstr(sa, "203"));
    cr_expect(upstream_sid_is_valid(sa, strlen(sa)));
}

Test(upstream_sid, long_id_takes_the_other_path)
{
    char id[2000];
    memset(id, 'x', sizeof(id));
    char s1[UPSTREAM_SID_LEN + 1], s2[UPSTREAM_SID_LEN + 1];
    upstream_sid(id, sizeof(id), s1);
    id[1999] = 'y';
    upstream_sid(id, sizeof(id), s2);
    cr_expect(upstream_sid_is_valid(s1, strlen(s1)));
    cr_expect_str_neq(s1, s2);
}

Test(upstream_sid, validity)
{
    cr_expect(upstream_sid_is_valid("0123456789ab", 12));
    cr_expect_not(upstream_sid_is_valid("0123456789AB", 12));
    cr_expect_not(upstream_sid_is_valid("0123456789a", 11));
    cr_expect_not(upstream_sid_is_valid("0123456789abc", 13));
    cr_expect_not(upstream_sid_is_valid("0123456789ag", 12));
    cr_expect_not(upstream_sid_is_valid(NULL, 12));
}
