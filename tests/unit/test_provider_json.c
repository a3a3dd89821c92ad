/* Unit tests of controller/provider_json.c, run through the answer entry
 * point (provider_answer_parse()) as provider.c runs it, and of the
 * classification of provider_intake.c (provider_classify_*()).
 * Fixed clock: NOW_MS is 2026-11-21 00:00:00 UTC. */
#include <criterion/criterion.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "provider_answer.h"
#include "provider_json.h"
#include "provider_parse.h"
#include "str.h"

#define NOW_MS 1795219200000LL     /* 2026-11-21T00:00:00Z */

static struct conf_provider_json jconf;
static struct conf_provider_errors econf;

static void setup(void)
{
    memset(&jconf, 0, sizeof(jconf));
    memset(&econf, 0, sizeof(econf));
    snprintf(jconf.list, sizeof(jconf.list), "data");
    snprintf(jconf.host, sizeof(jconf.host), "ip");
    snprintf(jconf.port, sizeof(jconf.port), "port");
    snprintf(econf.code_field, sizeof(econf.code_field), "code");
    snprintf(econf.message_field, sizeof(econf.message_field), "msg");
}

static struct provider_parse_opts opts_of(enum conf_body_format fmt)
{
    struct provider_parse_opts o = {
        .default_scheme = UPSTREAM_HTTP, .max_upstreams = 1000, .provider = "t",
        .format = fmt, .json = &jconf, .errors = &econf, .now_wall_ms = NOW_MS,
    };
    return o;
}

/* Parses <body> answered with <status> and returns the rc; <res> stays live. */
static int run(long status, const char *body, const char *retry_after, enum conf_body_format fmt,
               struct provider_parse_result *res, struct pf_err *err)
{
    struct provider_parse_opts o = opts_of(fmt);
    struct provider_response r = { status, body, strlen(body), retry_after };
    pf_err_clear(err);
    return provider_answer_parse(&r, &o, res, err);
}

struct cls_case {
    long        status;
    enum conf_body_format fmt;
    const char *body;
    const char *retry_after;
    int         expect_rc;
    enum provider_err_class cls;
    const char *reason_has;
    int         retry_after_s;
};

static const struct cls_case cls_cases[] = {
    /* HTTP status classes */
    { 401, CONF_FORMAT_LINES, "{\"code\":401,\"msg\":\"invalid api key\"}", "", PF_EINVAL,
      PROVIDER_ERR_FATAL, "HTTP 401", -1 },
    { 403, CONF_FORMAT_JSON, "forbidden", "", PF_EINVAL, PROVIDER_ERR_FATAL, "HTTP 403", -1 },
    { 429, CONF_FORMAT_LINES, "slow down", "7", PF_EINVAL, PROVIDER_ERR_TRANSIENT,
      "HTTP 429 retry-after 7", 7 },
    { 429, CONF_FORMAT_LINES, "", "Wed, 21 Oct 2026 07:28:00 GMT", PF_EINVAL,
      PROVIDER_ERR_TRANSIENT, "HTTP 429", -1 },
    { 500, CONF_FORMAT_LINES, "Internal Server Error", "", PF_EINVAL, PROVIDER_ERR_TRANSIENT,
      "HTTP 500 (body: 'Internal Server Error')", -1 },
    { 503, CONF_FORMAT_JSON, "", "30", PF_EINVAL, PROVIDER_ERR_TRANSIENT, "HTTP 503", 30 },
    { 400, CONF_FORMAT_LINES, "invalid key", "", PF_EINVAL, PROVIDER_ERR_FATAL, "HTTP 400", -1 },
    { 404, CONF_FORMAT_LINES, "not found", "", PF_EINVAL, PROVIDER_ERR_TRANSIENT, "HTTP 404", -1 },
    /* empty, HTML, truncated */
    { 200, CONF_FORMAT_LINES, "", "", PF_EINVAL, PROVIDER_ERR_TRANSIENT, "empty body", -1 },
    { 200, CONF_FORMAT_JSON, " \r\n", "", PF_EINVAL, PROVIDER_ERR_TRANSIENT, "empty body", -1 },
    { 200, CONF_FORMAT_JSON, "<html>502</html>", "", PF_EINVAL, PROVIDER_ERR_TRANSIENT,
      "HTML body", -1 },
    { 200, CONF_FORMAT_JSON, "{\"code\":0,\"data\":[{\"ip\":\"203.0.113.1\",\"po", "", PF_EINVAL,
      PROVIDER_ERR_TRANSIENT, "invalid or truncated JSON", -1 },
    /* text errors from a lines provider */
    { 200, CONF_FORMAT_LINES, "ERROR(-3): IP not in whitelist\r\n", "", PF_EINVAL,
      PROVIDER_ERR_FATAL, "first: 'ERROR(-3): IP not in whitelist'", -1 },
    { 200, CONF_FORMAT_LINES, "Please add 198.51.100.9 to your white list first", "", PF_EINVAL,
      PROVIDER_ERR_FATAL, "white list", -1 },
    { 200, CONF_FORMAT_LINES, "Your balance is insufficient", "", PF_EINVAL, PROVIDER_ERR_FATAL,
      "balance", -1 },
    { 200, CONF_FORMAT_LINES, "ERROR: Expired key", "", PF_EINVAL, PROVIDER_ERR_FATAL, "Expired", -1 },
    { 200, CONF_FORMAT_LINES, "busy, try again later", "", PF_EINVAL, PROVIDER_ERR_TRANSIENT,
      "no valid address in 1 line", -1 },
    /* JSON error to a lines provider: no table -> wording, else transient */
    { 200, CONF_FORMAT_LINES, "{\"code\":10001,\"msg\":\"IP not whitelisted\"}", "", PF_EINVAL,
      PROVIDER_ERR_FATAL, "provider error code 10001: IP not whitelisted", -1 },
    { 200, CONF_FORMAT_LINES, "{\"code\":\"E5\",\"msg\":\"system busy\"}", "", PF_EINVAL,
      PROVIDER_ERR_TRANSIENT, "provider error code E5: system busy", -1 },
    /* JSON provider errors: data changes type */
    { 200, CONF_FORMAT_JSON, "{\"code\":10002,\"msg\":\"no stock\",\"data\":\"\"}", "", PF_EINVAL,
      PROVIDER_ERR_TRANSIENT, "no list at 'data' (string), code 10002: no stock", -1 },
    { 200, CONF_FORMAT_JSON, "{\"data\":{}}", "", PF_EINVAL, PROVIDER_ERR_TRANSIENT,
      "no list at 'data' (object)", -1 },
    { 200, CONF_FORMAT_JSON, "{\"data\":null,\"msg\":\"balance exhausted\"}", "", PF_EINVAL,
      PROVIDER_ERR_FATAL, "no list at 'data' (null): balance exhausted", -1 },
    { 200, CONF_FORMAT_JSON, "[1,2]", "", PF_EINVAL, PROVIDER_ERR_TRANSIENT,
      "no list at 'data' (missing)", -1 },
    { 200, CONF_FORMAT_JSON, "{\"code\":0,\"data\":[]}", "", PF_EINVAL, PROVIDER_ERR_TRANSIENT,
      "empty list, code 0", -1 },
    { 200, CONF_FORMAT_JSON, "{\"data\":[{\"ip\":\"10.0.0.1\",\"port\":80}]}", "", PF_EINVAL,
      PROVIDER_ERR_TRANSIENT,
      "no valid address in 1 entry (first: entry 1 (10.0.0.1:80): private address 10.0.0.1 not allowed)",
      -1 },
    /* good */
    { 200, CONF_FORMAT_JSON, "{\"code\":0,\"data\":[\"203.0.113.1:80\"]}", "", PF_OK,
      PROVIDER_ERR_NONE, "", -1 },
    { 204, CONF_FORMAT_LINES, "203.0.113.1:80", "", PF_OK, PROVIDER_ERR_NONE, "", -1 },
};

Test(provider_json, classification_table, .init = setup)
{
    for (size_t i = 0; i < sizeof(cls_cases) / sizeof(cls_cases[0]); i++) {
        const struct cls_case *c = &cls_cases[i];
        struct provider_parse_result res;
        struct pf_err err;
        int rc = run(c->status, c->body, c->retry_after, c->fmt, &res, &err);
        cr_expect_eq(rc, c->expect_rc, "case %zu: rc %d (%s)", i, rc, err.msg);
        cr_expect_eq(res.err_class, c->cls, "case %zu: class %s (%s)", i,
                     provider_err_class_name(res.err_class), err.msg);
        if (c->reason_has[0] != '\0')
            cr_expect(strstr(err.msg, c->reason_has) != NULL, "case %zu: '%s' lacks '%s'", i,
                      err.msg, c->reason_has);
        cr_expect_eq(res.retry_after_s, c->retry_after_s, "case %zu: retry_after %d", i,
                     res.retry_after_s);
        provider_parse_result_deinit(&res);
    }
}

/* Codes as numbers or strings; table classes; default transient. */
Test(provider_json, code_table_numbers_and_strings, .init = setup)
{
    static const struct { const char *body; enum provider_err_class cls; } cases[] = {
        { "{\"code\":10001,\"msg\":\"x\",\"data\":[]}", PROVIDER_ERR_FATAL },
        { "{\"code\":\"10001\",\"msg\":\"x\",\"data\":[]}", PROVIDER_ERR_FATAL },
        { "{\"code\":10002,\"msg\":\"IP not whitelisted\",\"data\":[]}", PROVIDER_ERR_TRANSIENT },
        { "{\"code\":10003,\"msg\":\"x\",\"data\":[]}", PROVIDER_ERR_TRANSIENT },
        { "{\"code\":10001,\"msg\":\"x\",\"data\":[\"203.0.113.1:80\"]}", PROVIDER_ERR_FATAL },
    };
    snprintf(econf.codes[0].code, CONF_FIELD_MAX, "10001");
    econf.codes[0].is_fatal = 1;
    snprintf(econf.codes[1].code, CONF_FIELD_MAX, "10002");
    econf.ncodes = 2;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct provider_parse_result res;
        struct pf_err err;
        cr_expect_eq(run(200, cases[i].body, "", CONF_FORMAT_JSON, &res, &err), PF_EINVAL,
                     "case %zu", i);
        cr_expect_eq(res.err_class, cases[i].cls, "case %zu: %s", i, err.msg);
        provider_parse_result_deinit(&res);
    }
    /* The same table applies to a lines provider's JSON answer. */
    struct provider_parse_result res;
    struct pf_err err;
    cr_expect_eq(run(200, "{\"code\":\"10001\",\"msg\":\"slow\"}", "", CONF_FORMAT_LINES, &res,
                     &err), PF_EINVAL);
    cr_expect_eq(res.err_class, PROVIDER_ERR_FATAL);
    provider_parse_result_deinit(&res);
}

Test(provider_json, success_predicate, .init = setup)
{
    static const struct { const char *body; int rc; } cases[] = {
        { "{\"code\":0,\"data\":[\"203.0.113.1:80\"]}", PF_OK },
        { "{\"code\":\"0\",\"data\":[\"203.0.113.1:80\"]}", PF_OK },
        { "{\"code\":200,\"data\":[\"203.0.113.1:80\"]}", PF_OK },
        { "{\"code\":1,\"data\":[\"203.0.113.1:80\"]}", PF_EINVAL },
        { "{\"data\":[\"203.0.113.1:80\"]}", PF_EINVAL },
    };
    snprintf(jconf.success_field, CONF_FIELD_MAX, "code");
    snprintf(jconf.success_equals[0], CONF_FIELD_MAX, "0");
    snprintf(jconf.success_equals[1], CONF_FIELD_MAX, "200");
    jconf.nsuccess_equals = 2;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct provider_parse_result res;
        struct pf_err err;
        cr_expect_eq(run(200, cases[i].body, "", CONF_FORMAT_JSON, &res, &err), cases[i].rc,
                     "case %zu: %s", i, err.msg);
        provider_parse_result_deinit(&res);
    }
    snprintf(jconf.success_field, CONF_FIELD_MAX, "success");
    snprintf(jconf.success_equals[0], CONF_FIELD_MAX, "true");
    jconf.nsuccess_equals = 1;
    struct provider_parse_result res;
    struct pf_err err;
    cr_expect_eq(run(200, "{\"success\":true,\"data\":[\"203.0.113.1:80\"]}", "",
                     CONF_FORMAT_JSON, &res, &err), PF_OK);
    provider_parse_result_deinit(&res);
    cr_expect_eq(run(200, "{\"success\":false,\"message\":\"Insufficient balance\",\"data\":[]}",
                     "", CONF_FORMAT_JSON, &res, &err), PF_EINVAL);
    cr_expect_eq(res.err_class, PROVIDER_ERR_FATAL, "%s", err.msg);
    cr_expect(strstr(err.msg, "Insufficient balance") != NULL, "%s", err.msg);
    provider_parse_result_deinit(&res);
}

Test(provider_json, string_and_object_entries_with_creds, .init = setup)
{
    const char body[] = "{\"data\":{\"list\":["
        "\"203.0.113.1:8080\","
        "{\"host\":\"203.0.113.2\",\"p\":\"3128\",\"u\":\"al:ice\",\"pw\":\"p@ss/w\",\"s\":\"SOCKS5\"},"
        "{\"host\":\"2001:db8::1\",\"p\":1080},"
        "{\"host\":\"203.0.113.3:9000\"},"
        "{\"host\":\"203.0.113.4\",\"p\":0},"
        "{\"host\":[1],\"p\":80},"
        "42,"
        "{\"host\":\"203.0.113.5@evil\",\"p\":80}"
        "]}}";
    snprintf(jconf.list, CONF_FIELD_MAX, "data.list");
    snprintf(jconf.host, CONF_FIELD_MAX, "host");
    snprintf(jconf.port, CONF_FIELD_MAX, "p");
    snprintf(jconf.user, CONF_FIELD_MAX, "u");
    snprintf(jconf.pass, CONF_FIELD_MAX, "pw");
    snprintf(jconf.scheme, CONF_FIELD_MAX, "s");
    struct provider_parse_result res;
    struct pf_err err;
    cr_assert_eq(run(200, body, "", CONF_FORMAT_JSON, &res, &err), PF_OK, "%s", err.msg);
    cr_assert_eq(res.nupstreams, 4);
    cr_expect_str_eq(res.upstreams[0].host, "203.0.113.1");
    cr_expect_eq(res.upstreams[1].scheme, UPSTREAM_SOCKS5);
    cr_expect_str_eq(res.upstreams[1].user, "al:ice");
    cr_expect_str_eq(res.upstreams[1].pass, "p@ss/w");
    cr_expect_eq(res.upstreams[1].port, 3128);
    cr_expect_str_eq(res.upstreams[2].host, "2001:db8::1");
    cr_expect_eq(res.upstreams[3].port, 9000);
    cr_expect_eq(res.rejected[PROVIDER_REJECT_PORT], 1);
    cr_expect_eq(res.rejected[PROVIDER_REJECT_SYNTAX], 2);
    cr_expect_eq(res.rejected[PROVIDER_REJECT_HOST], 1);
    cr_expect_eq(res.nrejected, 4);
    cr_expect_eq(res.upstreams[0].expires_at_ms, 0);
    provider_parse_result_deinit(&res);
}

struct exp_case {
    enum conf_expire_kind kind;
    int tz;
    const char *value;          /* JSON text of the field */
    int64_t expect_ms;          /* 0 = rejected */
};

static const struct exp_case exp_cases[] = {
    { CONF_EXPIRE_TIMESTAMP, 0, "\"2026-11-21 00:05:00\"", NOW_MS + 300000 },
    { CONF_EXPIRE_TIMESTAMP, 480, "\"2026-11-21 08:05:00\"", NOW_MS + 300000 },
    { CONF_EXPIRE_TIMESTAMP, -300, "\"2026-11-20T19:05:00\"", NOW_MS + 300000 },
    { CONF_EXPIRE_TIMESTAMP, 480, "\"2026-11-21T00:05:00Z\"", NOW_MS + 300000 },
    { CONF_EXPIRE_TIMESTAMP, 0, "\"2026-11-21 00:05:00.123\"", NOW_MS + 300000 },
    { CONF_EXPIRE_TIMESTAMP, 480, "\"2026-11-21 07:59:59\"", 0 },       /* past */
    { CONF_EXPIRE_TIMESTAMP, 0, "\"2026-13-01 00:00:00\"", 0 },
    { CONF_EXPIRE_TIMESTAMP, 0, "\"tomorrow\"", 0 },
    { CONF_EXPIRE_TIMESTAMP, 0, "1795219500", 0 },
    { CONF_EXPIRE_EPOCH_S, 0, "1795219500", NOW_MS + 300000 },
    { CONF_EXPIRE_EPOCH_S, 0, "\"1795219500\"", NOW_MS + 300000 },
    { CONF_EXPIRE_EPOCH_S, 0, "1795219100", 0 },
    { CONF_EXPIRE_EPOCH_MS, 0, "1795219500000", NOW_MS + 300000 },
    { CONF_EXPIRE_EPOCH_MS, 0, "-5", 0 },
    { CONF_EXPIRE_LIFETIME_S, 0, "300", NOW_MS + 300000 },
    { CONF_EXPIRE_LIFETIME_S, 0, "\"300\"", NOW_MS + 300000 },
    { CONF_EXPIRE_LIFETIME_S, 0, "0", 0 },
    { CONF_EXPIRE_LIFETIME_S, 0, "null", 0 },
    { CONF_EXPIRE_LIFETIME_S, 0, "1e300", 0 },
};

Test(provider_json, expiry_kinds, .init = setup)
{
    snprintf(jconf.expire, CONF_FIELD_MAX, "expire_time");
    for (size_t i = 0; i < sizeof(exp_cases) / sizeof(exp_cases[0]); i++) {
        const struct exp_case *c = &exp_cases[i];
        char body[256];
        jconf.expire_kind = c->kind;
        jconf.expire_tz_offset_min = c->tz;
        snprintf(body, sizeof(body), "{\"code\":0,\"data\":[{\"ip\":\"203.0.113.1\",\"port\":80,"
                 "\"expire_time\":%s},\"203.0.113.9:80\"]}", c->value);
        struct provider_parse_result res;
        struct pf_err err;
        cr_expect_eq(run(200, body, "", CONF_FORMAT_JSON, &res, &err), PF_OK, "case %zu", i);
        if (c->expect_ms != 0) {
            cr_expect_eq(res.nupstreams, 2, "case %zu", i);
            cr_expect_eq(res.upstreams[0].expires_at_ms, c->expect_ms, "case %zu: %lld", i,
                         (long long)res.upstreams[0].expires_at_ms);
        } else {
            cr_expect_eq(res.nupstreams, 1, "case %zu", i);
            cr_expect_eq(res.rejected[PROVIDER_REJECT_EXPIRY], 1, "case %zu", i);
        }
        cr_expect_eq(res.upstreams[res.nupstreams - 1].expires_at_ms, 0,
                     "case %zu: string entries have no expiry", i);
        provider_parse_result_deinit(&res);
    }
}

Test(provider_json, classify_text_words)
{
    struct conf_provider_errors e;
    memset(&e, 0, sizeof(e));
    static const struct { const char *s; enum provider_err_class cls; } cases[] = {
        { "IP not in WHITELIST", PROVIDER_ERR_FATAL },
        { "white list", PROVIDER_ERR_FATAL },
        { "Balance", PROVIDER_ERR_FATAL },
        { "insufficient funds", PROVIDER_ERR_FATAL },
        { "invalid key", PROVIDER_ERR_FATAL },
        { "Unauthorized", PROVIDER_ERR_FATAL },
        { "Forbidden", PROVIDER_ERR_FATAL },
        { "expired key", PROVIDER_ERR_FATAL },
        { "timeout", PROVIDER_ERR_TRANSIENT },
        { "", PROVIDER_ERR_TRANSIENT },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        cr_expect_eq(provider_classify_text(cases[i].s, strlen(cases[i].s), NULL), cases[i].cls,
                     "case %zu", i);
    /* Config overrides: a transient word beats the built-in fatal ones. */
    snprintf(e.transient_words[0], CONF_FIELD_MAX, "balance refresh");
    e.ntransient_words = 1;
    snprintf(e.fatal_words[0], CONF_FIELD_MAX, "quota");
    e.nfatal_words = 1;
    const char *a = "balance refresh in progress", *b = "Quota exceeded";
    cr_expect_eq(provider_classify_text(a, strlen(a), &e), PROVIDER_ERR_TRANSIENT);
    cr_expect_eq(provider_classify_text(b, strlen(b), &e), PROVIDER_ERR_FATAL);
    cr_expect_eq(provider_retry_after_s(" 12 "), 12);
    cr_expect_eq(provider_retry_after_s("999999"), 86400);
    cr_expect_eq(provider_retry_after_s("1x"), -1);
    cr_expect_eq(provider_retry_after_s(NULL), -1);
}

Test(provider_json, lines_separator_option, .init = setup)
{
    struct provider_parse_opts o = opts_of(CONF_FORMAT_LINES);
    const char body[] = "203.0.113.1:80|203.0.113.2:81|203.0.113.3:82";
    struct provider_parse_result res;
    struct pf_err err;
    cr_expect_eq(provider_parse_lines(body, sizeof(body) - 1, &o, &res, &err), PF_EINVAL);
    provider_parse_result_deinit(&res);
    o.separators = "|";
    cr_expect_eq(provider_parse_lines(body, sizeof(body) - 1, &o, &res, &err), PF_OK);
    cr_expect_eq(res.nupstreams, 3);
    provider_parse_result_deinit(&res);
}

Test(provider_json, secrets_not_in_reasons, .init = setup)
{
    struct provider_parse_result res;
    struct pf_err err;
    cr_expect_eq(run(200, "{\"code\":1,\"msg\":\"bad http://u:s3cr3t@203.0.113.1:80\"}", "",
                     CONF_FORMAT_LINES, &res, &err), PF_EINVAL);
    cr_expect(strstr(err.msg, "s3cr3t") == NULL, "%s", err.msg);
    provider_parse_result_deinit(&res);
}

/* Every seed of tests/corpus/provider_json/ parses to success or a reason. */
Test(provider_json, corpus_replay, .init = setup)
{
    char dir[512];
    snprintf(dir, sizeof(dir), "%s/provider_json", PF_CORPUS_DIR);
    DIR *d = opendir(dir);
    int n = 0;
    cr_assert_not_null(d, "corpus dir %s", dir);
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        if (e->d_name[0] == '.')
            continue;
        char path[1024];
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        FILE *f = fopen(path, "rb");
        cr_assert_not_null(f, "%s", path);
        char *buf = malloc(1 << 20);
        cr_assert_not_null(buf);
        size_t len = fread(buf, 1, 1 << 20, f);
        fclose(f);
        struct provider_parse_opts o = opts_of(CONF_FORMAT_JSON);
        struct provider_parse_result res;
        struct pf_err err;
        pf_err_clear(&err);
        int rc = provider_parse_json(buf, len, &o, &res, &err);
        cr_expect(rc == PF_OK || (rc == PF_EINVAL && err.msg[0] != '\0'), "%s: %d", path, rc);
        provider_parse_result_deinit(&res);
        free(buf);
        n++;
    }
    closedir(d);
    cr_expect_gt(n, 0);
}

/* json.next: a string of printable ASCII, else no next page; labels are
 * copied as clean UTF-8, cut to fit, numbers as their text. */
Test(provider_json, next_link_and_labels_edges, .init = setup)
{
    static const struct { const char *next; const char *want; } nexts[] = {
        { "\"?page=2\"", "?page=2" },
        { "null", "" },
        { "2", "" },
        { "\"\"", "" },
        { "\"/list?page=2 x\"", "" },
        { "\"/list?\\u00e9=2\"", "" },
    };
    snprintf(jconf.next, CONF_FIELD_MAX, "links.next");
    snprintf(jconf.label_country, CONF_FIELD_MAX, "cc");
    snprintf(jconf.label_isp, CONF_FIELD_MAX, "asn");
    snprintf(jconf.label_city, CONF_FIELD_MAX, "city");
    for (size_t i = 0; i < PF_ARRAY_LEN(nexts); i++) {
        char body[512];
        snprintf(body, sizeof(body), "{\"links\":{\"next\":%s},\"data\":[{\"ip\":\"203.0.113.1\","
                 "\"port\":80,\"cc\":\"US\",\"asn\":64500,\"city\":\"a\\u0001b\\ud83d\\ude00"
                 "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"}]}",
                 nexts[i].next);
        struct provider_parse_result res;
        struct pf_err err;
        cr_assert_eq(run(200, body, "", CONF_FORMAT_JSON, &res, &err), PF_OK, "case %zu: %s", i,
                     err.msg);
        cr_expect_str_eq(res.next, nexts[i].want, "case %zu", i);
        const struct upstream_labels *l = &res.upstreams[0].labels;
        cr_expect_str_eq(l->country, "US");
        cr_expect_str_eq(l->isp, "64500");
        cr_expect(strncmp(l->city, "a?b\xf0\x9f\x98\x80xxx", 10) == 0, "city '%s'", l->city);
        cr_expect_lt(strlen(l->city), UPSTREAM_LABEL_MAX);
        cr_expect(str_is_clean_text(l->city, strlen(l->city)));
        provider_parse_result_deinit(&res);
    }
}

/* Every label from configurable fields, region and asn included; an asn
 * that is no number is left out, the upstream kept. */
Test(provider_json, labels_region_and_asn, .init = setup)
{
    snprintf(jconf.label_country, CONF_FIELD_MAX, "geo.cc");
    snprintf(jconf.label_region, CONF_FIELD_MAX, "geo.state");
    snprintf(jconf.label_city, CONF_FIELD_MAX, "geo.city");
    snprintf(jconf.label_isp, CONF_FIELD_MAX, "net.org");
    snprintf(jconf.label_asn, CONF_FIELD_MAX, "net.asn");
    const char *body =
        "{\"data\":[{\"ip\":\"203.0.113.1\",\"port\":80,\"geo\":{\"cc\":\"DE\",\"state\":\"Bayern\","
        "\"city\":\"M\\u00fcnchen\"},\"net\":{\"org\":\"Telekom\",\"asn\":\"AS3320\"}},"
        "{\"ip\":\"203.0.113.2\",\"port\":80,\"net\":{\"asn\":3320}},"
        "{\"ip\":\"203.0.113.3\",\"port\":80,\"net\":{\"asn\":\"Deutsche Telekom\"}},"
        "{\"ip\":\"203.0.113.4\",\"port\":80,\"net\":{\"asn\":-5}}]}";
    struct provider_parse_result res;
    struct pf_err err;
    cr_assert_eq(run(200, body, "", CONF_FORMAT_JSON, &res, &err), PF_OK, "%s", err.msg);
    cr_assert_eq(res.nupstreams, 4u);
    const struct upstream_labels *l = &res.upstreams[0].labels;
    cr_expect_str_eq(l->country, "DE");
    cr_expect_str_eq(l->region, "Bayern");
    cr_expect_str_eq(l->city, "M\xc3\xbcnchen");
    cr_expect_str_eq(l->isp, "Telekom");
    cr_expect_str_eq(l->asn, "AS3320");
    cr_expect_str_eq(res.upstreams[1].labels.asn, "3320", "a number");
    cr_expect_str_eq(res.upstreams[1].labels.country, "", "absent");
    cr_expect_str_eq(res.upstreams[2].labels.asn, "", "not an asn: left out");
    cr_expect_str_eq(res.upstreams[3].labels.asn, "", "negative: left out");
    provider_parse_result_deinit(&res);
}

/* The filter applies to objects; string entries carry no field to test. */
Test(provider_json, filter_objects_only, .init = setup)
{
    snprintf(jconf.filter_field, CONF_FIELD_MAX, "status");
    snprintf(jconf.filter_equals[0], CONF_FIELD_MAX, "1");
    snprintf(jconf.filter_equals[1], CONF_FIELD_MAX, "ok");
    jconf.nfilter_equals = 2;
    const char body[] = "{\"data\":[\"203.0.113.1:80\",{\"ip\":\"203.0.113.2\",\"port\":80,\"status\":1},"
                        "{\"ip\":\"203.0.113.3\",\"port\":80,\"status\":\"ok\"},"
                        "{\"ip\":\"203.0.113.4\",\"port\":80,\"status\":0},"
                        "{\"ip\":\"203.0.113.5\",\"port\":80}]}";
    struct provider_parse_result res;
    struct pf_err err;
    cr_assert_eq(run(200, body, "", CONF_FORMAT_JSON, &res, &err), PF_OK, "%s", err.msg);
    cr_expect_eq(res.nupstreams, 3);
    cr_expect_eq(res.rejected[PROVIDER_REJECT_FILTERED], 2);
    cr_expect_str_eq(provider_reject_name(PROVIDER_REJECT_FILTERED), "filtered");
    provider_parse_result_deinit(&res);
}
