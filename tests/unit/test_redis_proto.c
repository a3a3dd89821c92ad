/* Unit tests for common/redis_proto.c: error classes, ROLE, the sentinels'
 * master address and the +switch-master notice, as Redis 7 and Sentinel 7
 * send them. */
#include <criterion/criterion.h>
#include <string.h>

#include "redis_proto.h"

struct err_case {
    char text[160];
    int  cls;
};

static const struct err_case err_cases[] = {
    /* Redis 7 answers to AUTH and to commands sent without it */
    { "WRONGPASS invalid username-password pair or user is disabled.", REDIS_PROTO_ERR_AUTH },
    { "NOAUTH Authentication required.", REDIS_PROTO_ERR_AUTH },
    { "ERR AUTH <password> called without any password configured for the default user. "
      "Are you sure your configuration is correct?", REDIS_PROTO_ERR_AUTH },
    { "ERR invalid password", REDIS_PROTO_ERR_AUTH },
    { "ERR Client sent AUTH, but no password is set", REDIS_PROTO_ERR_AUTH },
    { "READONLY You can't write against a read only replica.", REDIS_PROTO_ERR_READONLY },
    { "READONLY You can't write against a read only replica. script: 0a9f, on @user_script:1.",
      REDIS_PROTO_ERR_READONLY },
    { "READONLY", REDIS_PROTO_ERR_READONLY },
    /* look-alikes are not */
    { "READONLYX", REDIS_PROTO_ERR_OTHER },
    { "NOAUTHX", REDIS_PROTO_ERR_OTHER },
    { "ERR unknown command 'ROLE'", REDIS_PROTO_ERR_OTHER },
    { "NOPERM this user has no permissions to run the 'hset' command", REDIS_PROTO_ERR_OTHER },
    { "LOADING Redis is loading the dataset in memory", REDIS_PROTO_ERR_OTHER },
    { "", REDIS_PROTO_ERR_OTHER },
};

Test(redis_proto, error_classes)
{
    for (size_t i = 0; i < PF_ARRAY_LEN(err_cases); i++)
        cr_expect_eq((int)redis_proto_error_class(err_cases[i].text, strlen(err_cases[i].text)),
                     err_cases[i].cls, "case %zu (%s)", i, err_cases[i].text);
    cr_expect_eq(redis_proto_error_class(NULL, 3), REDIS_PROTO_ERR_OTHER);
    /* only <len> bytes count */
    cr_expect_eq(redis_proto_error_class("READONLY", 4), REDIS_PROTO_ERR_OTHER);
}

Test(redis_proto, roles)
{
    cr_expect_eq(redis_proto_role("master", 6), REDIS_PROTO_ROLE_MASTER);
    cr_expect_eq(redis_proto_role("slave", 5), REDIS_PROTO_ROLE_REPLICA);
    cr_expect_eq(redis_proto_role("replica", 7), REDIS_PROTO_ROLE_REPLICA);
    cr_expect_eq(redis_proto_role("sentinel", 8), REDIS_PROTO_ROLE_SENTINEL);
    cr_expect_eq(redis_proto_role("masterx", 7), REDIS_PROTO_ROLE_UNKNOWN);
    cr_expect_eq(redis_proto_role("master", 5), REDIS_PROTO_ROLE_UNKNOWN);
    cr_expect_eq(redis_proto_role(NULL, 0), REDIS_PROTO_ROLE_UNKNOWN);
    cr_expect_str_eq(redis_proto_role_name(REDIS_PROTO_ROLE_REPLICA), "replica");
    cr_expect_str_eq(redis_proto_role_name(REDIS_PROTO_ROLE_UNKNOWN), "unknown");
}

Test(redis_proto, master_addr)
{
    char host[256];
    uint16_t port = 0;
    struct pf_err err = { 0 };

    cr_assert_eq(redis_proto_master_addr("127.0.0.1", 9, "6380", 4, host, sizeof(host), &port,
                                         &err), PF_OK, "%s", err.msg);
    cr_expect_str_eq(host, "127.0.0.1");
    cr_expect_eq(port, 6380);
    cr_assert_eq(redis_proto_master_addr("::1", 3, "7000", 4, host, sizeof(host), &port, &err),
                 PF_OK, "%s", err.msg);
    cr_expect_str_eq(host, "::1");
    cr_expect_eq(port, 7000);
    /* sentinels with announce-hostnames answer a name */
    cr_assert_eq(redis_proto_master_addr("redis-replica", 13, "6379", 4, host, sizeof(host),
                                         &port, &err), PF_OK, "%s", err.msg);
    cr_expect_str_eq(host, "redis-replica");

    struct { const char *h; const char *p; const char *msg; } bad[] = {
        { "", "6379", "empty master host" },
        { "127.0.0.1", "", "master port must be 1..65535" },
        { "127.0.0.1", "0", "master address: port 0 out of range" },
        { "127.0.0.1", "65536", "master address: port 65536 out of range" },
        { "127.0.0.1", "123456", "master port must be 1..65535" },
        { "127.0.0.1", "-1", "master port must be 1..65535" },
        { "[::1]", "6379", "invalid master host" },
        { "a b", "6379", "master address: invalid character in address" },
        { "a/b", "6379", "master address: invalid character in address" },
        { "1.2.3.4.5", "6379", "master address: invalid IPv4 address" },
    };
    for (size_t i = 0; i < PF_ARRAY_LEN(bad); i++) {
        int rc = redis_proto_master_addr(bad[i].h, strlen(bad[i].h), bad[i].p, strlen(bad[i].p),
                                         host, sizeof(host), &port, &err);
        cr_expect_eq(rc, PF_EINVAL, "case %zu", i);
        cr_expect_str_eq(err.msg, bad[i].msg, "case %zu", i);
        cr_expect_str_eq(host, "", "case %zu", i);
    }
    /* a NUL inside the reply is refused, not cut short */
    cr_expect_eq(redis_proto_master_addr("10.0.0.1\0x", 10, "1", 1, host, sizeof(host), &port,
                                         &err), PF_EINVAL);
    /* the host must fit the caller's buffer */
    cr_expect_eq(redis_proto_master_addr("10.0.0.1", 8, "1", 1, host, 8, &port, &err), PF_EINVAL);
}

Test(redis_proto, switch_master)
{
    char host[256];
    uint16_t port = 0;
    struct pf_err err = { 0 };
    static const char msg[] = "pfmaster 127.0.0.1 6379 127.0.0.1 6380";

    cr_assert_eq(redis_proto_switch_master(msg, strlen(msg), "pfmaster", host, sizeof(host),
                                           &port, &err), PF_OK, "%s", err.msg);
    cr_expect_str_eq(host, "127.0.0.1");
    cr_expect_eq(port, 6380);
    /* another master's failover is not ours */
    cr_expect_eq(redis_proto_switch_master(msg, strlen(msg), "other", host, sizeof(host), &port,
                                           &err), PF_ENOENT);
    cr_expect_eq(redis_proto_switch_master(msg, strlen(msg), "pfmaste", host, sizeof(host),
                                           &port, &err), PF_ENOENT);

    static const char ipv6[] = "m ::1 6379 ::2 6381";
    cr_assert_eq(redis_proto_switch_master(ipv6, strlen(ipv6), "m", host, sizeof(host), &port,
                                           &err), PF_OK, "%s", err.msg);
    cr_expect_str_eq(host, "::2");
    cr_expect_eq(port, 6381);

    static const char *const bad[] = {
        "", "m", "m 1.1.1.1 1 2.2.2.2", "m 1.1.1.1 1 2.2.2.2 2 extra", "m  1.1.1.1 1 2.2.2.2 2",
        "m 1.1.1.1 1 2.2.2.2 2 ", " m 1.1.1.1 1 2.2.2.2 2", "m 1.1.1.1 1 2.2.2.2 x",
        "m 1.1.1.1 1 2.2.2.2 0", "m 1.1.1.1 1 bad/host 2",
    };
    for (size_t i = 0; i < PF_ARRAY_LEN(bad); i++) {
        int rc = redis_proto_switch_master(bad[i], strlen(bad[i]), "m", host, sizeof(host), &port,
                                           &err);
        cr_expect_eq(rc, PF_EINVAL, "case %zu (%s): rc %d", i, bad[i], rc);
        cr_expect_neq(err.msg[0], '\0', "case %zu", i);
    }
}
