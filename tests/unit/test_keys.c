/* Unit tests for common/keys.c: the exact names of docs/redis-keys.md. */
#include <criterion/criterion.h>
#include <string.h>

#include "keys.h"

Test(keys, default_prefix_names)
{
    struct keys k;
    cr_assert_eq(keys_init(&k, "pf", NULL), PF_OK);
    cr_expect_str_eq(k.base, "{pf}:v1");
    cr_expect_str_eq(k.pool_meta, "{pf}:v1:pool:meta");
    cr_expect_str_eq(k.pool_upstreams, "{pf}:v1:pool:upstreams");
    cr_expect_str_eq(k.pool_expiry, "{pf}:v1:pool:expiry");
    cr_expect_str_eq(k.pool_channel, "{pf}:v1:pool:events");
    cr_expect_str_eq(k.pool_log, "{pf}:v1:pool:log");
    cr_expect_str_eq(k.providers, "{pf}:v1:providers");
    cr_expect_str_eq(k.nodes, "{pf}:v1:nodes");
    cr_expect_str_eq(k.controller, "{pf}:v1:controller");
    cr_expect_str_eq(k.controller_lease, "{pf}:v1:controller:lease");
    cr_expect_str_eq(k.bans, "{pf}:v1:bans");
    cr_expect_str_eq(k.bans_expiry, "{pf}:v1:bans:expiry");
    cr_expect_str_eq(k.bans_channel, "{pf}:v1:bans:events");
}

Test(keys, custom_prefix)
{
    struct keys k;
    cr_assert_eq(keys_init(&k, "prod.eu-1_a", NULL), PF_OK);
    cr_expect_str_eq(k.pool_meta, "{prod.eu-1_a}:v1:pool:meta");
}

Test(keys, prefix_limits)
{
    struct keys k;
    struct pf_err err = { 0 };
    char p32[33], p33[34];
    memset(p32, 'a', 32);
    p32[32] = '\0';
    memset(p33, 'a', 33);
    p33[33] = '\0';
    cr_expect_eq(keys_init(&k, p32, NULL), PF_OK);
    cr_expect_eq(keys_init(&k, p33, &err), PF_EINVAL);
    cr_expect_neq(err.msg[0], '\0');
}

Test(keys, invalid_prefixes)
{
    static const char *const bad[] = { "", "a}b", "{pf}", "a b", "a:b", "pf\n", "é" };
    struct keys k;
    for (size_t i = 0; i < PF_ARRAY_LEN(bad); i++)
        cr_expect_eq(keys_init(&k, bad[i], NULL), PF_EINVAL, "case %zu", i);
    cr_expect_eq(keys_init(&k, NULL, NULL), PF_EINVAL);
}

Test(keys, provider_and_node_keys)
{
    struct keys k;
    char buf[KEYS_NAME_MAX];
    cr_assert_eq(keys_init(&k, "pf", NULL), PF_OK);
    cr_expect_eq(keys_provider(&k, "plain", buf, sizeof(buf)), PF_OK);
    cr_expect_str_eq(buf, "{pf}:v1:provider:plain");
    cr_expect_eq(keys_node(&k, "node-a", buf, sizeof(buf)), PF_OK);
    cr_expect_str_eq(buf, "{pf}:v1:node:node-a");
}

Test(keys, invalid_names)
{
    static const char *const bad[] = { "", "a b", "a:b", "a{b", "x\r\n", "a/b", "a*" };
    struct keys k;
    char buf[KEYS_NAME_MAX];
    cr_assert_eq(keys_init(&k, "pf", NULL), PF_OK);
    for (size_t i = 0; i < PF_ARRAY_LEN(bad); i++) {
        cr_expect_eq(keys_provider(&k, bad[i], buf, sizeof(buf)), PF_EINVAL, "provider %zu", i);
        cr_expect_eq(keys_node(&k, bad[i], buf, sizeof(buf)), PF_EINVAL, "node %zu", i);
        cr_expect_eq(keys_valid_name(bad[i]), 0, "valid %zu", i);
    }
    cr_expect_eq(keys_valid_name(NULL), 0);
}

Test(keys, name_length_limit)
{
    char n63[64], n64[65];
    memset(n63, 'n', 63);
    n63[63] = '\0';
    memset(n64, 'n', 64);
    n64[64] = '\0';
    cr_expect_eq(keys_valid_name(n63), 1);
    cr_expect_eq(keys_valid_name(n64), 0);
}

Test(keys, small_buffer_is_erange)
{
    struct keys k;
    char buf[10];
    cr_assert_eq(keys_init(&k, "pf", NULL), PF_OK);
    cr_expect_eq(keys_provider(&k, "plain", buf, sizeof(buf)), PF_ERANGE);
    cr_expect_eq(keys_node(&k, "node-a", buf, sizeof(buf)), PF_ERANGE);
}

Test(keys, users_and_usage)
{
    struct keys k;
    cr_assert_eq(keys_init(&k, "pf", NULL), PF_OK);
    cr_expect_str_eq(k.users, "{pf}:v1:users");
    cr_expect_str_eq(k.users_version, "{pf}:v1:users:version");
    char buf[KEYS_NAME_MAX];
    cr_assert_eq(keys_user_day(&k, "alice", "20261207", buf, sizeof(buf)), PF_OK);
    cr_expect_str_eq(buf, "{pf}:v1:usage:alice:day:20261207");
    cr_assert_eq(keys_user_month(&k, "a.b@c", "202612", buf, sizeof(buf)), PF_OK);
    cr_expect_str_eq(buf, "{pf}:v1:usage:a.b@c:month:202612");
    cr_assert_eq(keys_user_live(&k, "alice", buf, sizeof(buf)), PF_OK);
    cr_expect_str_eq(buf, "{pf}:v1:usage:alice:live");
    cr_expect_eq(keys_user_day(&k, "al ice", "20261207", buf, sizeof(buf)), PF_EINVAL);
    cr_expect_eq(keys_user_day(&k, "alice", "2026120", buf, sizeof(buf)), PF_EINVAL);
    cr_expect_eq(keys_user_month(&k, "alice", "2026x2", buf, sizeof(buf)), PF_EINVAL);
    cr_expect_eq(keys_user_live(&k, "", buf, sizeof(buf)), PF_EINVAL);
    cr_expect_eq(keys_user_live(&k, "alice", buf, 10), PF_ERANGE);
}
