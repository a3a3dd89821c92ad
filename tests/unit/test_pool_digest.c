/* Unit tests for common/pool_digest.c: the pool digest. */
#include <criterion/criterion.h>
#include <string.h>

#include "addr.h"
#include "pool_digest.h"
#include "seal.h"

static struct upstream make(const char *addr)
{
    struct upstream u;
    cr_assert_eq(addr_parse_upstream(addr, strlen(addr), UPSTREAM_HTTP, &u, NULL), PF_OK, "%s", addr);
    strcpy(u.provider, "p");
    u.weight = 1;
    return u;
}

Test(pool_digest, every_field_changes_the_entry)
{
    struct upstream a = make("http://alice:pw@203.0.113.10:8080");
    uint64_t d = pool_digest_entry(&a, NULL);
    struct upstream b;
#define CHANGED(stmt) do { b = a; stmt; cr_expect_neq(pool_digest_entry(&b, NULL), d, #stmt); } while (0)
    CHANGED(b.port = 8081);
    CHANGED(strcpy(b.host, "203.0.113.11"));
    CHANGED(b.scheme = UPSTREAM_SOCKS5);
    CHANGED(strcpy(b.user, "bob"));
    CHANGED(strcpy(b.pass, "pw2"));
    CHANGED(strcpy(b.provider, "q"));
    CHANGED(b.expires_at_ms = 5);
    CHANGED(b.weight = 2);
    CHANGED(b.latency_ms = 7);
    CHANGED(b.tier = 1);
    CHANGED(strcpy(b.labels.country, "DE"));
    CHANGED(strcpy(b.labels.city, "Berlin"));
    CHANGED(strcpy(b.labels.isp, "x"));
    CHANGED(strcpy(b.labels.region, "BE"));
    CHANGED(strcpy(b.labels.asn, "AS1"));
#undef CHANGED
    b = a;
    b.digest = 12345;   /* the stored digest is not an input */
    cr_expect_eq(pool_digest_entry(&b, NULL), d);
}

Test(pool_digest, sum_does_not_depend_on_order)
{
    struct upstream u[3] = { make("http://1.2.3.4:1"), make("http://1.2.3.4:2"),
                             make("socks5://1.2.3.4:3") };
    uint64_t x = pool_digest_entry(&u[0], NULL) + pool_digest_entry(&u[1], NULL) +
                 pool_digest_entry(&u[2], NULL);
    uint64_t y = pool_digest_entry(&u[2], NULL) + pool_digest_entry(&u[0], NULL) +
                 pool_digest_entry(&u[1], NULL);
    cr_expect_eq(x, y);
}

Test(pool_digest, keyed_password)
{
    struct seal_key k1, k2;
    memset(&k1, 1, sizeof(k1));
    memset(&k2, 2, sizeof(k2));
    struct upstream a = make("http://alice:pw@203.0.113.10:8080");
    struct upstream b = a;
    strcpy(b.pass, "other");
    /* keyed: the key matters, and the password still does */
    cr_expect_neq(pool_digest_entry(&a, &k1), pool_digest_entry(&a, &k2));
    cr_expect_neq(pool_digest_entry(&a, &k1), pool_digest_entry(&b, &k1));
    cr_expect_eq(pool_digest_entry(&a, &k1), pool_digest_entry(&a, &k1));
    cr_expect_neq(pool_digest_entry(&a, &k1), pool_digest_entry(&a, NULL));
}

Test(pool_digest, text_round_trip)
{
    char buf[POOL_DIGEST_HEX_LEN + 1];
    uint64_t v = 0;
    cr_assert_eq(pool_digest_format(0x0123456789abcdefULL, buf, sizeof(buf)), PF_OK);
    cr_expect_str_eq(buf, "0123456789abcdef");
    cr_assert_eq(pool_digest_parse(buf, strlen(buf), &v), PF_OK);
    cr_expect_eq(v, 0x0123456789abcdefULL);
    cr_expect_eq(pool_digest_parse("0123456789ABCDEF", 16, &v), PF_OK);
    cr_expect_eq(v, 0x0123456789abcdefULL);
    cr_expect_eq(pool_digest_format(1, buf, 16), PF_ERANGE);
    static const char *const bad[] = { "", "0123456789abcde", "0123456789abcdef0",
                                       "0123456789abcdeg", " 123456789abcdef", "-123456789abcdef" };
    for (size_t i = 0; i < PF_ARRAY_LEN(bad); i++)
        cr_expect_eq(pool_digest_parse(bad[i], strlen(bad[i]), &v), PF_EINVAL, "%s", bad[i]);
    cr_expect_eq(pool_digest_parse(NULL, 16, &v), PF_EINVAL);
}
