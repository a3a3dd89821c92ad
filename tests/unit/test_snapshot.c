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
    { "{\"scheme\":\"http\",\"host\":\"1.2.3.4\",\"port\":80,\"user_template\":5}",
      "user_template: must be a string" },
    { "{\"scheme\":\"http\",\"host\":\"1.2.3.4\",\"port\":80,\"user_template\":\"u-{country}\"}",
      "user_template: {country} must stand inside [...]" },
    { "{\"scheme\":\"http\",\"host\":\"1.2.3.4\",\"port\":80,\"user_template\":\"u:p[{session}]\"}",
      "user_template: byte 1: ':' is not allowed" },
};

/* user_template round trips; absent, it decodes to "" (records of older
 * controllers), and it is not written when empty. */
Test(snapshot, user_template)
{
    struct upstream u = make("http://customer-acme:p@203.0.113.10:7777");
    struct upstream v;
    struct pf_err err = { 0 };
    strcpy(u.user_template, "customer-acme[-cc-{country}][-sessid-{session}]");
    char *json = snapshot_record_encode(&u, NULL);
    cr_assert_not_null(json);
    cr_expect(strstr(json, "\"user_template\":\"customer-acme[-cc-{country}][-sessid-{session}]\"")
              != NULL, "%s", json);
    cr_assert_eq(snapshot_record_decode(json, strlen(json), NULL, &v, &err), PF_OK, "%s", err.msg);
    cr_expect_eq(memcmp(&u, &v, sizeof(u)), 0, "round trip differs");
    free(json);
    u.user_template[0] = '\0';
    json = snapshot_record_encode(&u, NULL);
    cr_assert_not_null(json);
    cr_expect_null(strstr(json, "user_template"), "%s", json);
    cr_assert_eq(snapshot_record_decode(json, strlen(json), NULL, &v, &err), PF_OK, "%s", err.msg);
    cr_expect_str_eq(v.user_template, "");
    free(json);
}

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

/* ---- pool:meta and the notice ------------------------------------------ */

struct version_case {
    char text[32];
    int  want_rc;
    long long want;
};

Test(snapshot, version_parse_table)
{
    static const struct version_case cases[] = {
        { "1", PF_OK, 1 },
        { "42", PF_OK, 42 },
        { "9223372036854775807", PF_OK, INT64_MAX },
        { "9223372036854775808", PF_ERANGE, 0 },
        { "99999999999999999999", PF_EINVAL, 0 },  /* 20 digits */
        { "0", PF_EINVAL, 0 },
        { "07", PF_EINVAL, 0 },
        { "-1", PF_EINVAL, 0 },
        { "+1", PF_EINVAL, 0 },
        { "1 ", PF_EINVAL, 0 },
        { "1x", PF_EINVAL, 0 },
        { "", PF_EINVAL, 0 },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int64_t v = -5;
        int rc = snapshot_version_parse(cases[i].text, strlen(cases[i].text), &v);
        cr_expect_eq(rc, cases[i].want_rc, "'%s': rc %d", cases[i].text, rc);
        if (cases[i].want_rc == PF_OK)
            cr_expect_eq(v, cases[i].want, "'%s'", cases[i].text);
        else
            cr_expect_eq(v, -5, "'%s' wrote its output", cases[i].text);
    }
    int64_t v = 0;
    cr_expect_eq(snapshot_version_parse("12", 1, &v), PF_OK);   /* respects len */
    cr_expect_eq(v, 1);
}

Test(snapshot, epoch_valid)
{
    char longest[SNAPSHOT_EPOCH_MAX];
    memset(longest, 'a', sizeof(longest) - 1);
    longest[sizeof(longest) - 1] = '\0';
    cr_expect(snapshot_epoch_valid("9f1c2a7be0d4431a", 16));
    cr_expect(snapshot_epoch_valid("A-z_0.9", 7));
    char too_long[SNAPSHOT_EPOCH_MAX + 1];
    memset(too_long, 'a', sizeof(too_long) - 1);
    too_long[sizeof(too_long) - 1] = '\0';
    cr_expect(snapshot_epoch_valid(longest, strlen(longest)));
    cr_expect_not(snapshot_epoch_valid(too_long, strlen(too_long)));
    cr_expect_not(snapshot_epoch_valid("", 0));
    cr_expect_not(snapshot_epoch_valid("a b", 3));
    cr_expect_not(snapshot_epoch_valid("a\nb", 3));
    cr_expect_not(snapshot_epoch_valid("a\0b", 3));
    cr_expect_not(snapshot_epoch_valid("\xc3\xa9", 2));
}

struct notice_case {
    char text[80];
    int  want_rc;
    long long version;
    char epoch[SNAPSHOT_EPOCH_MAX];
};

Test(snapshot, notice_parse_table)
{
    static const struct notice_case cases[] = {
        { "7 9f1c2a7be0d4431a", PF_OK, 7, "9f1c2a7be0d4431a" },
        { "1 e", PF_OK, 1, "e" },
        { "9223372036854775807 x.y-z_0", PF_OK, INT64_MAX, "x.y-z_0" },
        { "7", PF_EINVAL, 0, "" },
        { "7 ", PF_EINVAL, 0, "" },
        { " e1", PF_EINVAL, 0, "" },
        { "0 e1", PF_EINVAL, 0, "" },
        { "7  e1", PF_EINVAL, 0, "" },
        { "7 e1 ", PF_EINVAL, 0, "" },
        { "7 e 1", PF_EINVAL, 0, "" },
        { "-7 e1", PF_EINVAL, 0, "" },
        { "7\te1", PF_EINVAL, 0, "" },
        { "x e1", PF_EINVAL, 0, "" },
        { "7 0123456789012345678901234567890123456789", PF_EINVAL, 0, "" }, /* 40-char epoch */
        { "", PF_EINVAL, 0, "" },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct notice_case *c = &cases[i];
        int64_t v = 0;
        char epoch[SNAPSHOT_EPOCH_MAX] = "";
        int rc = snapshot_notice_parse(c->text, strlen(c->text), &v, epoch);
        cr_expect_eq(rc, c->want_rc, "'%s': rc %d", c->text, rc);
        if (c->want_rc == PF_OK) {
            cr_expect_eq(v, c->version, "'%s'", c->text);
            cr_expect_str_eq(epoch, c->epoch, "'%s'", c->text);
        }
    }
    /* untrusted bytes: a NUL inside is not a terminator */
    int64_t v = 0;
    char epoch[SNAPSHOT_EPOCH_MAX];
    cr_expect_eq(snapshot_notice_parse("7 e\0x", 5, &v, epoch), PF_EINVAL);
    cr_expect_eq(snapshot_notice_parse("7 e1 junk", 4, &v, epoch), PF_OK);
    cr_expect_str_eq(epoch, "e1");
}

Test(snapshot, notice_format_round_trips)
{
    char buf[SNAPSHOT_NOTICE_MAX];
    char epoch[SNAPSHOT_EPOCH_MAX];
    int64_t v = 0;
    cr_assert_eq(snapshot_notice_format(buf, sizeof(buf), 7, "9f1c2a7be0d4431a"), PF_OK);
    cr_expect_str_eq(buf, "7 9f1c2a7be0d4431a");   /* docs/redis-keys.md */
    cr_assert_eq(snapshot_notice_parse(buf, strlen(buf), &v, epoch), PF_OK);
    cr_expect_eq(v, 7);
    cr_expect_str_eq(epoch, "9f1c2a7be0d4431a");

    char longest[SNAPSHOT_EPOCH_MAX];
    memset(longest, 'z', sizeof(longest) - 1);
    longest[sizeof(longest) - 1] = '\0';
    cr_assert_eq(snapshot_notice_format(buf, sizeof(buf), INT64_MAX, longest), PF_OK);
    cr_assert_eq(snapshot_notice_parse(buf, strlen(buf), &v, epoch), PF_OK);
    cr_expect_eq(v, INT64_MAX);
    cr_expect_str_eq(epoch, longest);

    cr_expect_eq(snapshot_notice_format(buf, sizeof(buf), 0, "e1"), PF_EINVAL);
    cr_expect_eq(snapshot_notice_format(buf, sizeof(buf), 3, "e 1"), PF_EINVAL);
    cr_expect_eq(snapshot_notice_format(buf, sizeof(buf), 3, ""), PF_EINVAL);
    cr_expect_eq(snapshot_notice_format(buf, 4, 3, "e1"), PF_ERANGE);
    cr_expect_eq(snapshot_notice_format(buf, 5, 3, "e1"), PF_OK);
}

static struct snapshot_pair pair(const char *f, const char *v)
{
    struct snapshot_pair p = { f, f != NULL ? strlen(f) : 0, v, v != NULL ? strlen(v) : 0 };
    return p;
}

Test(snapshot, meta_from_pairs_reads_the_published_fields)
{
    const struct snapshot_pair ps[] = {
        pair(SNAPSHOT_META_VERSION, "7"), pair(SNAPSHOT_META_EPOCH, "9f1c2a7be0d4431a"),
        pair(SNAPSHOT_META_COUNT, "2"), pair(SNAPSHOT_META_UPDATED_AT, "1795306801123"),
        pair(SNAPSHOT_META_CONTROLLER, "ctl-a"), pair("future_field", "anything at all"),
    };
    struct snapshot_meta m;
    struct pf_err err;
    pf_err_clear(&err);
    cr_assert_eq(snapshot_meta_from_pairs(&m, ps, 6, &err), PF_OK, "%s", err.msg);
    cr_expect(m.has_version);
    cr_expect_eq(m.version, 7);
    cr_expect_str_eq(m.epoch, "9f1c2a7be0d4431a");
    cr_expect_eq(m.count, 2);
}

struct meta_case {
    char version[24];       /* "-" = absent (nil) */
    char epoch[48];         /* "-" = absent */
    char count[24];         /* "-" = absent */
    int  want_rc;
    char want_err[32];
    long long want_count;
};

Test(snapshot, meta_table)
{
    static const struct meta_case cases[] = {
        { "5", "e1", "3", PF_OK, "", 3 },
        { "5", "e1", "-", PF_OK, "", -1 },
        { "5", "e1", "0", PF_OK, "", -1 },           /* informational: unknown */
        { "5", "e1", "many", PF_OK, "", -1 },
        { "-", "-", "-", PF_ENOENT, "", -1 },        /* no snapshot */
        { "-", "e1", "3", PF_ENOENT, "", 3 },
        { "5", "-", "3", PF_EINVAL, "version without epoch", 3 },
        { "05", "e1", "3", PF_EINVAL, "bad version", -1 },
        { "", "e1", "3", PF_EINVAL, "bad version", -1 },
        { "5", "e 1", "3", PF_EINVAL, "bad epoch", -1 },
        { "5", "", "3", PF_EINVAL, "bad epoch", -1 },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct meta_case *c = &cases[i];
        struct snapshot_pair ps[3];
        size_t n = 0;
        if (strcmp(c->count, "-") != 0)
            ps[n++] = pair(SNAPSHOT_META_COUNT, c->count);
        ps[n++] = pair(SNAPSHOT_META_VERSION, strcmp(c->version, "-") != 0 ? c->version : NULL);
        ps[n++] = pair(SNAPSHOT_META_EPOCH, strcmp(c->epoch, "-") != 0 ? c->epoch : NULL);
        struct snapshot_meta m;
        struct pf_err err;
        pf_err_clear(&err);
        int rc = snapshot_meta_from_pairs(&m, ps, n, &err);
        cr_expect_eq(rc, c->want_rc, "case %zu: rc %d", i, rc);
        if (c->want_err[0] != '\0')
            cr_expect_str_eq(err.msg, c->want_err, "case %zu", i);
        if (rc != PF_EINVAL)
            cr_expect_eq(m.count, c->want_count, "case %zu", i);
    }
}

Test(snapshot, meta_fields_are_exact_byte_strings)
{
    struct snapshot_meta m;
    struct pf_err err;
    pf_err_clear(&err);
    snapshot_meta_init(&m);
    /* a field with a NUL inside or a different case is another field */
    cr_expect_eq(snapshot_meta_field(&m, "version\0x", 9, "zz", 2, &err), PF_OK);
    cr_expect_eq(snapshot_meta_field(&m, "Version", 7, "zz", 2, &err), PF_OK);
    cr_expect_eq(snapshot_meta_field(&m, NULL, 0, "zz", 2, &err), PF_OK);   /* not a string */
    cr_expect_not(m.has_version);
    cr_expect_eq(snapshot_meta_finish(&m, &err), PF_ENOENT);
    /* a value is read to its length, not to a NUL */
    cr_expect_eq(snapshot_meta_field(&m, "version", 7, "12\0", 3, &err), PF_EINVAL);
    cr_expect_eq(snapshot_meta_field(&m, "version", 7, "123", 2, &err), PF_OK);
    cr_expect_eq(m.version, 12);
    cr_expect_eq(snapshot_meta_field(&m, "epoch", 5, "e1", 2, &err), PF_OK);
    cr_expect_eq(snapshot_meta_finish(&m, &err), PF_OK);
}

/* The public decode (fleet status): every field but the password, which is
 * neither opened nor kept; a sealed one needs no key; a bad one is still
 * refused. */
Test(snapshot, decode_public_drops_the_password)
{
    static const char clear[] = "{\"scheme\":\"http\",\"host\":\"203.0.113.10\",\"port\":8080,"
                                "\"user\":\"u\",\"pass\":\"secret\",\"provider\":\"plain\","
                                "\"tier\":2,\"labels\":{\"country\":\"DE\"}}";
    static const char sealed[] = "{\"scheme\":\"http\",\"host\":\"203.0.113.10\",\"port\":8080,"
                                 "\"user\":\"u\",\"pass_sealed\":\"v1.AAAA\"}";
    static const char bad_pass[] = "{\"scheme\":\"http\",\"host\":\"203.0.113.10\",\"port\":8080,"
                                   "\"user\":\"u\",\"pass\":7}";
    static const char bad_sealed[] = "{\"scheme\":\"http\",\"host\":\"203.0.113.10\",\"port\":8080,"
                                     "\"user\":\"u\",\"pass_sealed\":[]}";
    struct upstream u;
    struct pf_err err;

    cr_assert_eq(snapshot_record_decode_public(clear, sizeof(clear) - 1, &u, &err), PF_OK, "%s",
                 err.msg);
    cr_expect_str_eq(u.pass, "");
    cr_expect_str_eq(u.user, "u");
    cr_expect_str_eq(u.provider, "plain");
    cr_expect_eq(u.tier, 2);
    cr_expect_str_eq(u.labels.country, "DE");
    cr_expect_eq(snapshot_record_decode_public(sealed, sizeof(sealed) - 1, &u, &err), PF_OK, "%s",
                 err.msg);
    cr_expect_str_eq(u.pass, "");
    /* the keyed decode refuses the same record without a key */
    cr_expect_neq(snapshot_record_decode(sealed, sizeof(sealed) - 1, NULL, &u, &err), PF_OK);
    cr_expect_eq(snapshot_record_decode_public(bad_pass, sizeof(bad_pass) - 1, &u, &err), PF_EINVAL);
    cr_expect_eq(snapshot_record_decode_public(bad_sealed, sizeof(bad_sealed) - 1, &u, &err),
                 PF_EINVAL);
}
