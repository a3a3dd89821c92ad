/* Unit tests for common/snapshot.c: the pool record format. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "snapshot.h"

static struct upstream make(const char *addr)
{
    struct upstream u;
    cr_assert_eq(addr_parse_upstream(addr, strlen(addr), UPSTREAM_HTTP, &u, NULL), PF_OK, "%s", addr);
    return u;
}

Test(snapshot, encode_matches_doc_example)
{
    struct upstream u = make("http://203.0.113.10:8080");
    strcpy(u.provider, "plain");
    u.expires_at_ms = 1795307101123;
    char *json = snapshot_record_encode(&u);
    cr_assert_not_null(json);
    cr_expect_str_eq(json, "{\"scheme\":\"http\",\"host\":\"203.0.113.10\",\"port\":8080,"
                           "\"provider\":\"plain\",\"expires_at_ms\":1795307101123,"
                           "\"weight\":1,\"latency_ms\":0}");
    free(json);
}

Test(snapshot, round_trip_table)
{
    static const char *const addrs[] = {
        "http://203.0.113.10:8080",
        "socks5h://u:p%40ss@proxy.example.com:1080",
        "https://alice:s%22e%5Cc@[2001:db8::1]:443",
        "socks5://bob@198.51.100.7:65535",
    };
    for (size_t i = 0; i < PF_ARRAY_LEN(addrs); i++) {
        struct upstream u = make(addrs[i]);
        struct upstream v;
        struct pf_err err = { 0 };
        strcpy(u.provider, "prov-1");
        u.expires_at_ms = 4102444800000;
        u.weight = 7;
        u.latency_ms = 42;
        char *json = snapshot_record_encode(&u);
        cr_assert_not_null(json);
        int rc = snapshot_record_decode(json, strlen(json), &v, &err);
        cr_expect_eq(rc, PF_OK, "case %zu: %s (%s)", i, err.msg, json);
        cr_expect_eq(memcmp(&u, &v, sizeof(u)), 0, "case %zu: round trip differs", i);
        free(json);
    }
}

Test(snapshot, empty_credentials_omitted)
{
    struct upstream u = make("1.2.3.4:80");
    char *json = snapshot_record_encode(&u);
    cr_assert_not_null(json);
    cr_expect(strstr(json, "\"user\"") == NULL);
    cr_expect(strstr(json, "\"pass\"") == NULL);
    free(json);
}

Test(snapshot, decode_defaults_and_unknown_fields)
{
    const char *j = "{\"scheme\":\"socks5\",\"host\":\"h.example\",\"port\":1080,"
                    "\"future_field\":{\"x\":[1,2]}}";
    struct upstream u;
    cr_assert_eq(snapshot_record_decode(j, strlen(j), &u, NULL), PF_OK);
    cr_expect_eq(u.scheme, UPSTREAM_SOCKS5);
    cr_expect_eq(u.host_kind, UPSTREAM_HOST_NAME);
    cr_expect_str_eq(u.host, "h.example");
    cr_expect_eq(u.port, 1080);
    cr_expect_eq(u.weight, 1u);
    cr_expect_eq(u.latency_ms, 0u);
    cr_expect_eq(u.expires_at_ms, 0);
    cr_expect_str_eq(u.provider, "");
}

struct bad_case {
    const char *json;
    const char *msg;
};

static const struct bad_case bad_cases[] = {
    { "", "empty" },
    { "not json", "JSON" },
    { "[1,2]", "object" },
    { "{\"scheme\":\"http\",\"host\":\"1.2.3.4\",\"port\":80} x", "JSON" },
    { "{\"host\":\"1.2.3.4\",\"port\":80}", "scheme: missing" },
    { "{\"scheme\":\"http\",\"port\":80}", "host: missing" },
    { "{\"scheme\":\"http\",\"host\":\"1.2.3.4\"}", "port: missing" },
    { "{\"scheme\":\"ftp\",\"host\":\"1.2.3.4\",\"port\":80}", "scheme" },
    { "{\"scheme\":1,\"host\":\"1.2.3.4\",\"port\":80}", "scheme: must be a string" },
    { "{\"scheme\":\"http\",\"host\":\"1.2.3.4\",\"port\":\"80\"}", "port: must be a number" },
    { "{\"scheme\":\"http\",\"host\":\"1.2.3.4\",\"port\":0}", "port" },
    { "{\"scheme\":\"http\",\"host\":\"1.2.3.4\",\"port\":65536}", "port" },
    { "{\"scheme\":\"http\",\"host\":\"1.2.3.4\",\"port\":80.5}", "port" },
    { "{\"scheme\":\"http\",\"host\":\"1.2.3.4\",\"port\":-1}", "port" },
    { "{\"scheme\":\"http\",\"host\":\"1.2.3.4\",\"port\":1e300}", "port" },
    { "{\"scheme\":\"http\",\"host\":\"\",\"port\":80}", "host" },
    { "{\"scheme\":\"http\",\"host\":\"a@b\",\"port\":80}", "host" },
    { "{\"scheme\":\"http\",\"host\":\"bad host\",\"port\":80}", "host" },
    { "{\"scheme\":\"http\",\"host\":\"[::1]\",\"port\":80}", "host" },
    { "{\"scheme\":\"http\",\"host\":\"999.1.1.1\",\"port\":80}", "host" },
    { "{\"scheme\":\"http\",\"host\":\"1.2.3.4\",\"port\":80,\"user\":7}", "user" },
    { "{\"scheme\":\"http\",\"host\":\"1.2.3.4\",\"port\":80,\"pass\":\"x\"}", "pass" },
    { "{\"scheme\":\"http\",\"host\":\"1.2.3.4\",\"port\":80,\"provider\":\"a b\"}", "provider" },
    { "{\"scheme\":\"http\",\"host\":\"1.2.3.4\",\"port\":80,\"weight\":0}", "weight" },
    { "{\"scheme\":\"http\",\"host\":\"1.2.3.4\",\"port\":80,\"weight\":4294967296}", "weight" },
    { "{\"scheme\":\"http\",\"host\":\"1.2.3.4\",\"port\":80,\"latency_ms\":-1}", "latency_ms" },
    { "{\"scheme\":\"http\",\"host\":\"1.2.3.4\",\"port\":80,\"expires_at_ms\":-5}", "expires_at_ms" },
    { "{\"scheme\":\"http\",\"host\":\"1.2.3.4\",\"port\":80,\"expires_at_ms\":true}", "expires_at_ms" },
    { "{\"scheme\":\"http\",\"host\":\"1.2.3.4\",\"port\":80,\"port\":81}", "duplicate" },
};

Test(snapshot, decode_bad_table)
{
    for (size_t i = 0; i < PF_ARRAY_LEN(bad_cases); i++) {
        struct upstream u;
        struct pf_err err = { 0 };
        int rc = snapshot_record_decode(bad_cases[i].json, strlen(bad_cases[i].json), &u, &err);
        cr_expect_eq(rc, PF_EINVAL, "case %zu (%s)", i, bad_cases[i].json);
        cr_expect(strstr(err.msg, bad_cases[i].msg) != NULL, "case %zu: msg '%s' lacks '%s'",
                  i, err.msg, bad_cases[i].msg);
    }
}

Test(snapshot, decode_overlong_user)
{
    char json[1024];
    char user[300];
    memset(user, 'u', 256);
    user[256] = '\0';
    snprintf(json, sizeof(json),
             "{\"scheme\":\"http\",\"host\":\"1.2.3.4\",\"port\":80,\"user\":\"%s\"}", user);
    struct upstream u;
    struct pf_err err = { 0 };
    cr_expect_eq(snapshot_record_decode(json, strlen(json), &u, &err), PF_EINVAL);
    cr_expect(strstr(err.msg, "user") != NULL);
}

Test(snapshot, decode_respects_len)
{
    const char *j = "{\"scheme\":\"http\",\"host\":\"1.2.3.4\",\"port\":80}GARBAGE";
    struct upstream u;
    size_t len = strlen(j) - strlen("GARBAGE");
    cr_expect_eq(snapshot_record_decode(j, len, &u, NULL), PF_OK);
    cr_expect_eq(snapshot_record_decode(j, strlen(j), &u, NULL), PF_EINVAL);
}

Test(snapshot, decode_embedded_nul)
{
    const char j[] = "{\"scheme\":\"http\",\"host\":\"1.2.3.4\",\"port\":80}\0";
    struct upstream u;
    cr_expect_eq(snapshot_record_decode(j, sizeof(j) - 1, &u, NULL), PF_EINVAL);
}
