/* Unit tests for common/cred_cache.c: keyed digests of verified
 * credentials, bounded and invalidated by the record's serial. */
#include <criterion/criterion.h>
#include <string.h>

#include "cred_cache.h"

static const uint8_t key_a[CRED_CACHE_KEY_LEN] = { 1, 2, 3 };
static const uint8_t key_b[CRED_CACHE_KEY_LEN] = { 4, 5, 6 };

Test(cred_cache, digest_is_keyed_and_separates_user_from_password)
{
    struct cred_cache a, b;
    cr_assert_eq(cred_cache_init(&a, key_a, 16), PF_OK);
    cr_assert_eq(cred_cache_init(&b, key_b, 16), PF_OK);
    uint8_t d1[32], d2[32], d3[32], d4[32];
    cr_assert_eq(cred_cache_digest(&a, "alice", "pw", 2, d1), PF_OK);
    cr_assert_eq(cred_cache_digest(&b, "alice", "pw", 2, d2), PF_OK);
    cr_assert_eq(cred_cache_digest(&a, "alicep", "w", 1, d3), PF_OK);
    cr_assert_eq(cred_cache_digest(&a, "alice", "pw", 2, d4), PF_OK);
    cr_assert_neq(memcmp(d1, d2, 32), 0, "another key, another digest");
    cr_assert_neq(memcmp(d1, d3, 32), 0, "user and password are separated");
    cr_assert_eq(memcmp(d1, d4, 32), 0, "deterministic");
    /* the digest is not the password in clear */
    cr_assert_null(memmem(d1, 32, "pw", 2));
    cred_cache_deinit(&a);
    cred_cache_deinit(&b);
}

Test(cred_cache, hit_miss_and_serial_invalidation)
{
    struct cred_cache cc;
    cr_assert_eq(cred_cache_init(&cc, key_a, 100), PF_OK);
    cr_assert_eq(cc.nslots, 128);
    uint8_t d[32], other[32];
    cr_assert_eq(cred_cache_digest(&cc, "alice", "pw", 2, d), PF_OK);
    cr_assert_eq(cred_cache_digest(&cc, "alice", "wrong", 5, other), PF_OK);
    cr_assert_eq(cred_cache_lookup(&cc, d, 7), 0);
    cred_cache_put(&cc, d, 7);
    cr_assert_eq(cred_cache_lookup(&cc, d, 7), 1);
    cr_assert_eq(cred_cache_lookup(&cc, d, 8), 0, "a changed record does not match");
    cr_assert_eq(cred_cache_lookup(&cc, d, 0), 0, "no record, no match");
    cr_assert_eq(cred_cache_lookup(&cc, other, 7), 0, "another password does not match");
    cr_assert_eq(cc.hits, 1);
    cr_assert_eq(cc.misses, 4);
    cred_cache_clear(&cc);
    cr_assert_eq(cred_cache_lookup(&cc, d, 7), 0);
    cred_cache_deinit(&cc);
}

Test(cred_cache, bounded_and_collisions_only_evict)
{
    struct cred_cache cc;
    cr_assert_eq(cred_cache_init(&cc, key_a, 1), PF_OK);
    cr_assert_eq(cc.nslots, 1);
    uint8_t d1[32], d2[32];
    cr_assert_eq(cred_cache_digest(&cc, "alice", "pw", 2, d1), PF_OK);
    cr_assert_eq(cred_cache_digest(&cc, "bob", "pw", 2, d2), PF_OK);
    cred_cache_put(&cc, d1, 1);
    cred_cache_put(&cc, d2, 1);
    cr_assert_eq(cred_cache_lookup(&cc, d1, 1), 0, "evicted, never a false hit");
    cr_assert_eq(cred_cache_lookup(&cc, d2, 1), 1);
    cred_cache_deinit(&cc);
    cr_assert_eq(cred_cache_init(&cc, key_a, 0), PF_EINVAL);
    cr_assert_eq(cred_cache_init(&cc, key_a, CRED_CACHE_SLOTS_MAX + 1), PF_EINVAL);
}
