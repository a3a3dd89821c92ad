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
    char *json = snapshot_record_encode(&u, NULL);
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
        char *json = snapshot_record_encode(&u, NULL);
        cr_assert_not_null(json);
        int rc = snapshot_record_decode(json, strlen(json), NULL, &v, &err);
        cr_expect_eq(rc, PF_OK, "case %zu: %s (%s)", i, err.msg, json);
        cr_expect_eq(memcmp(&u, &v, sizeof(u)), 0, "case %zu: round trip differs", i);
        free(json);
    }
}

/* cJSON prints numbers with %.15g and keeps that when it reads back "close
 * enough": an expiry past 10^15 came back with its last digit changed (a
 * fuzz_snapshot finding, tests/corpus/snapshot/crash-expiry-past-1e15). */
Test(snapshot, large_integers_round_trip_exactly)
{
    static const int64_t expiries[] = { 8976553953550561, 9007199254740992, 1000000000000001 };
    for (size_t i = 0; i < PF_ARRAY_LEN(expiries); i++) {
        struct upstream u = make("http://203.0.113.10:8080");
        struct upstream v;
        struct pf_err err = { 0 };
        u.expires_at_ms = expiries[i];
        u.weight = UINT32_MAX;
        u.latency_ms = UINT32_MAX;
        char *json = snapshot_record_encode(&u, NULL);
        cr_assert_not_null(json);
        cr_assert_eq(snapshot_record_decode(json, strlen(json), NULL, &v, &err), PF_OK, "%s", err.msg);
        cr_expect_eq(v.expires_at_ms, expiries[i], "%s", json);
        cr_expect_eq(memcmp(&u, &v, sizeof(u)), 0, "%s", json);
        free(json);
    }
}

Test(snapshot, empty_credentials_omitted)
{
    struct upstream u = make("1.2.3.4:80");
    char *json = snapshot_record_encode(&u, NULL);
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
    cr_assert_eq(snapshot_record_decode(j, strlen(j), NULL, &u, NULL), PF_OK);
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
    { "{\"scheme\":\"http\",\"host\":\"1.2.3.4\",\"port\":80,\"tier\":16}", "tier" },
    { "{\"scheme\":\"http\",\"host\":\"1.2.3.4\",\"port\":80,\"tier\":-1}", "tier" },
    { "{\"scheme\":\"http\",\"host\":\"1.2.3.4\",\"port\":80,\"tier\":\"1\"}", "tier" },
    { "{\"scheme\":\"http\",\"host\":\"1.2.3.4\",\"port\":80,\"labels\":[]}", "labels: must be an object" },
    { "{\"scheme\":\"http\",\"host\":\"1.2.3.4\",\"port\":80,\"labels\":{\"city\":5}}",
      "labels.city: must be a string" },
    { "{\"scheme\":\"http\",\"host\":\"1.2.3.4\",\"port\":80,\"labels\":{\"isp\":\"a\\u0001b\"}}",
      "labels.isp" },
    { "{\"scheme\":\"http\",\"host\":\"1.2.3.4\",\"port\":80,\"labels\":{\"country\":"
      "\"0123456789012345678901234567890123456789012345678901234567890123\"}}", "labels.country" },
};

/* tier and labels round trip; a record without them (what controllers
 * wrote before) decodes to tier 0 and no labels; unknown labels are ignored. */
Test(snapshot, tier_and_labels)
{
    struct upstream u = make("socks5://u:p@203.0.113.10:1080");
    struct upstream v;
    struct pf_err err = { 0 };
    u.tier = 3;
    strcpy(u.labels.country, "US");
    strcpy(u.labels.city, "S\xc3\xa3o Paulo");
    strcpy(u.labels.isp, "\xe7\x94\xb5\xe4\xbf\xa1");
    char *json = snapshot_record_encode(&u, NULL);
    cr_assert_not_null(json);
    cr_expect(strstr(json, "\"tier\":3") != NULL, "%s", json);
    cr_expect(strstr(json, "\"labels\":{\"country\":\"US\",\"city\":\"S\xc3\xa3o Paulo\"") != NULL,
              "%s", json);
    cr_assert_eq(snapshot_record_decode(json, strlen(json), NULL, &v, &err), PF_OK, "%s", err.msg);
    cr_expect_eq(memcmp(&u, &v, sizeof(u)), 0, "round trip differs");
    free(json);

    u.tier = 0;
    memset(&u.labels, 0, sizeof(u.labels));
    json = snapshot_record_encode(&u, NULL);
    cr_assert_not_null(json);
    cr_expect(strstr(json, "tier") == NULL && strstr(json, "labels") == NULL,
              "zero tier and empty labels are not written: %s", json);
    free(json);

    const char old[] = "{\"scheme\":\"http\",\"host\":\"203.0.113.10\",\"port\":8080,"
                       "\"provider\":\"plain\",\"expires_at_ms\":0,\"weight\":1,\"latency_ms\":0}";
    cr_assert_eq(snapshot_record_decode(old, sizeof(old) - 1, NULL, &v, &err), PF_OK);
    cr_expect_eq(v.tier, 0);
    cr_expect_str_eq(v.labels.country, "");
    const char extra[] = "{\"scheme\":\"http\",\"host\":\"203.0.113.10\",\"port\":8080,"
                         "\"tier\":15,\"labels\":{\"asn\":\"64500\",\"city\":\"Berlin\"}}";
    cr_assert_eq(snapshot_record_decode(extra, sizeof(extra) - 1, NULL, &v, &err), PF_OK, "%s",
                 err.msg);
    cr_expect_eq(v.tier, 15);
    cr_expect_str_eq(v.labels.city, "Berlin");
}

Test(snapshot, decode_bad_table)
{
    for (size_t i = 0; i < PF_ARRAY_LEN(bad_cases); i++) {
        struct upstream u;
        struct pf_err err = { 0 };
        int rc = snapshot_record_decode(bad_cases[i].json, strlen(bad_cases[i].json), NULL, &u, &err);
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
    cr_expect_eq(snapshot_record_decode(json, strlen(json), NULL, &u, &err), PF_EINVAL);
    cr_expect(strstr(err.msg, "user") != NULL);
}

Test(snapshot, decode_respects_len)
{
    const char *j = "{\"scheme\":\"http\",\"host\":\"1.2.3.4\",\"port\":80}GARBAGE";
    struct upstream u;
    size_t len = strlen(j) - strlen("GARBAGE");
    cr_expect_eq(snapshot_record_decode(j, len, NULL, &u, NULL), PF_OK);
    cr_expect_eq(snapshot_record_decode(j, strlen(j), NULL, &u, NULL), PF_EINVAL);
}

Test(snapshot, decode_embedded_nul)
{
    const char j[] = "{\"scheme\":\"http\",\"host\":\"1.2.3.4\",\"port\":80}\0";
    struct upstream u;
    cr_expect_eq(snapshot_record_decode(j, sizeof(j) - 1, NULL, &u, NULL), PF_EINVAL);
}

/* ---- sealed passwords (redis.credential_key_file) ---------------------- */

#include "seal.h"

static struct seal_key test_key(char fill)
{
    char hex[65];
    struct seal_key k;
    memset(hex, fill, 64);
    hex[64] = '\0';
    cr_assert_eq(seal_key_parse_hex(&k, hex, 64, NULL), PF_OK);
    return k;
}

Test(snapshot, sealed_round_trip_hides_password)
{
    struct seal_key k = test_key('a');
    struct upstream u = make("socks5h://alice:S3cretPassw0rd@proxy.example.com:1080");
    struct upstream v;
    struct pf_err err = { 0 };
    strcpy(u.provider, "prov");
    char *json = snapshot_record_encode(&u, &k);
    cr_assert_not_null(json);
    cr_expect(strstr(json, "S3cretPassw0rd") == NULL, "%s", json);
    cr_expect(strstr(json, "\"pass\"") == NULL, "%s", json);
    cr_expect(strstr(json, "\"pass_sealed\":\"v1.") != NULL, "%s", json);
    cr_expect(strstr(json, "\"user\":\"alice\"") != NULL, "%s", json);
    cr_assert_eq(snapshot_record_decode(json, strlen(json), &k, &v, &err), PF_OK, "%s", err.msg);
    cr_expect_eq(memcmp(&u, &v, sizeof(u)), 0);
    cr_expect_str_eq(v.pass, "S3cretPassw0rd");
    /* two encodes differ (random nonce) but both open */
    char *again = snapshot_record_encode(&u, &k);
    cr_assert_not_null(again);
    cr_expect_str_neq(json, again);
    snapshot_record_free(again);
    snapshot_record_free(json);
}

Test(snapshot, sealed_without_user_password_is_clear_of_pass)
{
    struct seal_key k = test_key('b');
    struct upstream u = make("http://203.0.113.10:8080");
    char *json = snapshot_record_encode(&u, &k);
    cr_assert_not_null(json);
    cr_expect(strstr(json, "pass") == NULL, "%s", json);
    snapshot_record_free(json);
}

Test(snapshot, clear_pass_accepted_with_key)
{
    struct seal_key k = test_key('c');
    struct upstream u = make("http://bob:clearpw@203.0.113.10:8080");
    struct upstream v;
    char *json = snapshot_record_encode(&u, NULL);
    cr_assert_not_null(json);
    cr_expect(strstr(json, "\"pass\":\"clearpw\"") != NULL, "%s", json);
    cr_assert_eq(snapshot_record_decode(json, strlen(json), &k, &v, NULL), PF_OK);
    cr_expect_str_eq(v.pass, "clearpw");
    snapshot_record_free(json);
}

Test(snapshot, sealed_rejected_without_or_with_wrong_key)
{
    struct seal_key k = test_key('d'), other = test_key('e');
    struct upstream u = make("http://bob:topsecret@203.0.113.10:8080");
    struct upstream v;
    struct pf_err err = { 0 };
    char *json = snapshot_record_encode(&u, &k);
    cr_assert_not_null(json);
    cr_expect_eq(snapshot_record_decode(json, strlen(json), NULL, &v, &err), PF_EINVAL);
    cr_expect(strstr(err.msg, "credential_key_file") != NULL, "%s", err.msg);
    cr_expect_str_eq(v.pass, "");
    cr_expect_str_eq(v.host, "");
    cr_expect_eq(snapshot_record_decode(json, strlen(json), &other, &v, &err), PF_EINVAL);
    cr_expect(strstr(err.msg, "pass_sealed: ") != NULL, "%s", err.msg);
    cr_expect(strstr(err.msg, "authentication failed") != NULL, "%s", err.msg);
    cr_expect_str_eq(v.pass, "");
    snapshot_record_free(json);
}

/* A sealed password moved to another upstream's record does not open. */
Test(snapshot, sealed_bound_to_upstream_id)
{
    struct seal_key k = test_key('f');
    struct upstream u = make("http://bob:topsecret@203.0.113.10:8080");
    struct upstream v;
    struct pf_err err = { 0 };
    char *json = snapshot_record_encode(&u, &k);
    cr_assert_not_null(json);
    const char *sealed = strstr(json, "\"pass_sealed\":\"");
    cr_assert_not_null(sealed);
    sealed += strlen("\"pass_sealed\":\"");
    char moved[1024];
    snprintf(moved, sizeof(moved), "{\"scheme\":\"http\",\"host\":\"203.0.113.11\",\"port\":8080,"
             "\"user\":\"bob\",\"pass_sealed\":\"%.*s\"}", (int)strcspn(sealed, "\""), sealed);
    cr_expect_eq(snapshot_record_decode(moved, strlen(moved), &k, &v, &err), PF_EINVAL);
    cr_expect(strstr(err.msg, "authentication failed") != NULL, "%s", err.msg);
    snprintf(moved, sizeof(moved), "{\"scheme\":\"http\",\"host\":\"203.0.113.10\",\"port\":8080,"
             "\"user\":\"eve\",\"pass_sealed\":\"%.*s\"}", (int)strcspn(sealed, "\""), sealed);
    cr_expect_eq(snapshot_record_decode(moved, strlen(moved), &k, &v, &err), PF_EINVAL);
    snapshot_record_free(json);
}

Test(snapshot, sealed_bad_shapes)
{
    struct seal_key k = test_key('1');
    struct upstream v;
    static const char *const bad[] = {
        "{\"scheme\":\"http\",\"host\":\"h.example\",\"port\":1,\"user\":\"u\",\"pass_sealed\":\"\"}",
        "{\"scheme\":\"http\",\"host\":\"h.example\",\"port\":1,\"user\":\"u\",\"pass_sealed\":7}",
        "{\"scheme\":\"http\",\"host\":\"h.example\",\"port\":1,\"user\":\"u\",\"pass_sealed\":\"v2.AAAA\"}",
        "{\"scheme\":\"http\",\"host\":\"h.example\",\"port\":1,\"user\":\"u\",\"pass_sealed\":\"v1.!!!!\"}",
        "{\"scheme\":\"http\",\"host\":\"h.example\",\"port\":1,\"user\":\"u\",\"pass_sealed\":\"v1.AAAA\"}",
        "{\"scheme\":\"http\",\"host\":\"h.example\",\"port\":1,\"user\":\"u\",\"pass\":\"p\","
        "\"pass_sealed\":\"v1.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\"}",
        "{\"scheme\":\"http\",\"host\":\"h.example\",\"port\":1,\"user\":\"u\",\"pass_sealed\":\"v1.A\","
        "\"pass_sealed\":\"v1.A\"}",
    };
    for (size_t i = 0; i < PF_ARRAY_LEN(bad); i++) {
        struct pf_err err = { 0 };
        cr_expect_eq(snapshot_record_decode(bad[i], strlen(bad[i]), &k, &v, &err), PF_EINVAL,
                     "case %zu", i);
        cr_expect(strncmp(err.msg, "pass_sealed: ", 13) == 0, "case %zu: %s", i, err.msg);
        cr_expect_str_eq(v.pass, "");
    }
}
