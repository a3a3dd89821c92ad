/* The upstream short id (common/upstream_sid.c). */
#include <criterion/criterion.h>
#include <string.h>

#include "pf.h"
#include "upstream_sid.h"

static struct upstream_sid_key ref_key(void)
{
    struct upstream_sid_key k;
    for (int i = 0; i < UPSTREAM_SID_KEY_LEN; i++)
        k.bytes[i] = (uint8_t)i;
    return k;
}

/* The reference vectors of the SipHash paper (key 00..0f, message 00..n-1). */
Test(upstream_sid, siphash_reference_vectors)
{
    struct upstream_sid_key k = ref_key();
    uint8_t msg[16];
    for (int i = 0; i < 16; i++)
        msg[i] = (uint8_t)i;
    cr_expect_eq(upstream_sid_siphash(&k, msg, 0), 0x726fdb47dd0e0e31ULL);
    cr_expect_eq(upstream_sid_siphash(&k, msg, 1), 0x74f839c593dc67fdULL);
    cr_expect_eq(upstream_sid_siphash(&k, msg, 8), 0x93f5f5799a932462ULL);
    cr_expect_eq(upstream_sid_siphash(&k, msg, 15), 0xa129ca6149be45e5ULL);
}

/* Short and opaque: 12 hex characters, stable, distinct per upstream, and
 * nothing of the address or user in it. */
Test(upstream_sid, shape_stable_distinct)
{
    static const char *const ids[] = {
        "http://127.0.0.1:3301", "http://127.0.0.1:3302", "http://user@127.0.0.1:3301",
        "socks5://10.0.0.1:1080", "https://proxy.example.com:443",
    };
    char seen[PF_ARRAY_LEN(ids)][UPSTREAM_SID_LEN];
    for (size_t i = 0; i < PF_ARRAY_LEN(ids); i++) {
        char a[UPSTREAM_SID_LEN], b[UPSTREAM_SID_LEN];
        upstream_sid_format(NULL, ids[i], a, sizeof(a));
        upstream_sid_format(NULL, ids[i], b, sizeof(b));
        cr_expect_str_eq(a, b, "stable");
        cr_expect(upstream_sid_is_valid(a), "%s", a);
        cr_expect(strstr(a, "3301") == NULL && strstr(a, "1080") == NULL);
        for (size_t j = 0; j < i; j++)
            cr_expect_str_neq(a, seen[j], "%s and %s", ids[i], ids[j]);
        memcpy(seen[i], a, sizeof(a));
    }
}

/* A key changes every id (so nobody without it can check a guess); the
 * derivation is deterministic (every node with the same file agrees) and
 * differs from the secret itself. */
Test(upstream_sid, keyed)
{
    uint8_t secret[32];
    for (int i = 0; i < 32; i++)
        secret[i] = (uint8_t)(0xa0 + i);
    struct upstream_sid_key k1, k2, zero;
    upstream_sid_key_derive(secret, sizeof(secret), &k1);
    upstream_sid_key_derive(secret, sizeof(secret), &k2);
    upstream_sid_key_derive(NULL, 0, &zero);
    cr_expect(memcmp(&k1, &k2, sizeof(k1)) == 0);
    cr_expect(memcmp(k1.bytes, secret, UPSTREAM_SID_KEY_LEN) != 0);
    for (int i = 0; i < UPSTREAM_SID_KEY_LEN; i++)
        cr_expect_eq(zero.bytes[i], 0);
    char a[UPSTREAM_SID_LEN], b[UPSTREAM_SID_LEN], z[UPSTREAM_SID_LEN];
    upstream_sid_format(&k1, "http://127.0.0.1:3301", a, sizeof(a));
    upstream_sid_format(&k2, "http://127.0.0.1:3301", b, sizeof(b));
    upstream_sid_format(&zero, "http://127.0.0.1:3301", z, sizeof(z));
    cr_expect_str_eq(a, b);
    cr_expect_str_neq(a, z);
    secret[31] ^= 1;
    upstream_sid_key_derive(secret, sizeof(secret), &k2);
    upstream_sid_format(&k2, "http://127.0.0.1:3301", b, sizeof(b));
    cr_expect_str_neq(a, b, "one secret bit changes the ids");
}

Test(upstream_sid, small_buffer_and_validity)
{
    char buf[12] = "x";
    upstream_sid_format(NULL, "http://h:1", buf, sizeof(buf));
    cr_expect_str_eq(buf, "");
    cr_expect(upstream_sid_is_valid("0123456789ab"));
    cr_expect(!upstream_sid_is_valid("0123456789a"));
    cr_expect(!upstream_sid_is_valid("0123456789abc"));
    cr_expect(!upstream_sid_is_valid("0123456789AB"));
    cr_expect(!upstream_sid_is_valid(""));
}
