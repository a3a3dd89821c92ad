/* Unit tests of controller/provider_answer.c with bodies in the real shapes
 * of the providers docs/providers.md has recipes for (Kuaidaili, Zhima,
 * Xiequ, Webshare, IPRoyal), their configs as the recipes give them, and
 * answers that must never quote a secret. Fixed clock: NOW_MS is
 * 2026-11-21 00:00:00 UTC. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "provider_answer.h"
#include "str.h"

#define NOW_MS 1795219200000LL

static struct conf_provider_json jconf;
static struct conf_provider_errors econf;
static const char *const secrets[] = { "k-APIKEY-2718", "sig-SECRET-31" };

static void reset(const char *list)
{
    memset(&jconf, 0, sizeof(jconf));
    memset(&econf, 0, sizeof(econf));
    snprintf(jconf.list, sizeof(jconf.list), "%s", list);
    snprintf(jconf.host, sizeof(jconf.host), "ip");
    snprintf(jconf.port, sizeof(jconf.port), "port");
    snprintf(econf.code_field, sizeof(econf.code_field), "code");
    snprintf(econf.message_field, sizeof(econf.message_field), "msg");
}

static void code(const char *c, int is_fatal)
{
    snprintf(econf.codes[econf.ncodes].code, CONF_FIELD_MAX, "%s", c);
    econf.codes[econf.ncodes++].is_fatal = is_fatal;
}

static void success(const char *field, const char *eq)
{
    snprintf(jconf.success_field, CONF_FIELD_MAX, "%s", field);
    snprintf(jconf.success_equals[0], CONF_FIELD_MAX, "%s", eq);
    jconf.nsuccess_equals = 1;
}

static int answer(long status, enum conf_body_format fmt, const char *body,
                  struct provider_parse_result *res, struct pf_err *err)
{
    struct provider_parse_opts o = {
        .default_scheme = UPSTREAM_HTTP, .max_upstreams = 1000, .provider = "t",
        .format = fmt, .json = &jconf, .errors = &econf, .secrets = secrets, .nsecrets = 2,
        .now_wall_ms = NOW_MS,
    };
    struct provider_response r = { status, body, strlen(body), "" };
    pf_err_clear(err);
    int rc = provider_answer_parse(&r, &o, res, err);
    cr_expect(str_is_clean_text(err->msg, strlen(err->msg)), "reason not clean: %s", err->msg);
    cr_expect(strstr(err->msg, "APIKEY") == NULL && strstr(err->msg, "SECRET") == NULL,
              "a secret in the reason: %s", err->msg);
    return rc;
}

/* Kuaidaili: text (format=text), text with f_auth=1, and JSON. */
Test(provider_answer, kuaidaili)
{
    struct provider_parse_result res;
    struct pf_err err;

    reset("data.proxy_list");
    cr_assert_eq(answer(200, CONF_FORMAT_LINES, "113.74.109.131:15818\r\n117.69.13.54:20016", &res,
                        &err), PF_OK, "%s", err.msg);
    cr_expect_eq(res.nupstreams, 2);
    provider_parse_result_deinit(&res);

    cr_assert_eq(answer(200, CONF_FORMAT_LINES,
                        "113.74.109.131:15818:d2018:pw-kdl-1\n117.69.13.54:20016:d2018:pw-kdl-1\n",
                        &res, &err), PF_OK, "%s", err.msg);
    cr_expect_eq(res.nupstreams, 2);
    cr_expect_str_eq(res.upstreams[0].user, "d2018");
    cr_expect_str_eq(res.upstreams[0].pass, "pw-kdl-1");
    provider_parse_result_deinit(&res);

    success("code", "0");
    code("-15", 1);
    code("-16", 1);
    code("-51", 0);
    const char good[] = "{\"msg\": \"\", \"code\": 0, \"data\": {\"count\": 2, \"dedup_count\": 2, "
        "\"order_left_count\": 998, \"proxy_list\": [\"113.74.109.131:15818:d2018:pw-kdl-1\", "
        "\"117.69.13.54:20016:d2018:pw-kdl-1\"]}}";
    cr_assert_eq(answer(200, CONF_FORMAT_JSON, good, &res, &err), PF_OK, "%s", err.msg);
    cr_expect_eq(res.nupstreams, 2);
    cr_expect_str_eq(res.upstreams[1].host, "117.69.13.54");
    provider_parse_result_deinit(&res);

    /* 订单已过期: the code table says fatal; 调用频率限制: transient */
    cr_expect_eq(answer(200, CONF_FORMAT_JSON,
                        "{\"msg\": \"\xe8\xae\xa2\xe5\x8d\x95\xe5\xb7\xb2\xe8\xbf\x87\xe6\x9c\x9f\", \"code\": -15}",
                        &res, &err), PF_EINVAL);
    cr_expect_eq(res.err_class, PROVIDER_ERR_FATAL);
    cr_expect_str_eq(err.msg, "provider error code -15: \xe8\xae\xa2\xe5\x8d\x95\xe5\xb7\xb2\xe8\xbf\x87\xe6\x9c\x9f");
    provider_parse_result_deinit(&res);
    cr_expect_eq(answer(200, CONF_FORMAT_JSON,
                        "{\"msg\": \"\xe8\xb0\x83\xe7\x94\xa8\xe9\xa2\x91\xe7\x8e\x87\xe9\x99\x90\xe5\x88\xb6\", \"code\": -51}",
                        &res, &err), PF_EINVAL);
    cr_expect_eq(res.err_class, PROVIDER_ERR_TRANSIENT);
    provider_parse_result_deinit(&res);
    /* a text provider answering the same JSON error, and a text error */
    cr_expect_eq(answer(200, CONF_FORMAT_LINES,
                        "{\"msg\": \"\xe8\xae\xa2\xe5\x8d\x95\xe5\xb7\xb2\xe8\xbf\x87\xe6\x9c\x9f\", \"code\": -15}",
                        &res, &err), PF_EINVAL);
    cr_expect_eq(res.err_class, PROVIDER_ERR_FATAL);
    provider_parse_result_deinit(&res);
    cr_expect_eq(answer(200, CONF_FORMAT_LINES, "ERROR(-51)\xef\xbc\x9a\xe8\xb0\x83\xe7\x94\xa8"
                        "\xe9\xa2\x91\xe7\x8e\x87\xe9\x99\x90\xe5\x88\xb6\r\n", &res, &err), PF_EINVAL);
    cr_expect_eq(res.err_class, PROVIDER_ERR_TRANSIENT);
    cr_expect(strstr(err.msg, "ERROR(-51)\xef\xbc\x9a\xe8\xb0\x83") != NULL, "%s", err.msg);
    provider_parse_result_deinit(&res);
}

/* Zhima (芝麻代理), type=2 JSON with expiry (UTC+8), city and ISP labels. */
Test(provider_answer, zhima)
{
    struct provider_parse_result res;
    struct pf_err err;

    reset("data");
    success("success", "true");
    snprintf(jconf.expire, CONF_FIELD_MAX, "expire_time");
    jconf.expire_kind = CONF_EXPIRE_TIMESTAMP;
    jconf.expire_tz_offset_min = 480;
    snprintf(jconf.label_city, CONF_FIELD_MAX, "city");
    snprintf(jconf.label_isp, CONF_FIELD_MAX, "isp");
    code("113", 1);
    code("114", 1);
    code("121", 1);
    code("111", 0);
    code("115", 0);
    const char good[] = "{\"code\":0,\"data\":[{\"ip\":\"49.68.68.197\",\"port\":4232,"
        "\"expire_time\":\"2026-11-21 08:05:00\",\"city\":\"\xe5\xbe\x90\xe5\xb7\x9e\xe5\xb8\x82\","
        "\"isp\":\"\xe7\x94\xb5\xe4\xbf\xa1\"}],\"msg\":\"0\",\"success\":true}";
    cr_assert_eq(answer(200, CONF_FORMAT_JSON, good, &res, &err), PF_OK, "%s", err.msg);
    cr_assert_eq(res.nupstreams, 1);
    cr_expect_eq(res.upstreams[0].expires_at_ms, NOW_MS + 300000);
    cr_expect_str_eq(res.upstreams[0].labels.city, "\xe5\xbe\x90\xe5\xb7\x9e\xe5\xb8\x82");
    cr_expect_str_eq(res.upstreams[0].labels.isp, "\xe7\x94\xb5\xe4\xbf\xa1");
    provider_parse_result_deinit(&res);

    /* 请添加白名单183.1.2.3: fatal, quoted whole in the reason */
    cr_expect_eq(answer(200, CONF_FORMAT_JSON, "{\"code\":113,\"data\":null,\"msg\":\"\xe8\xaf\xb7"
                        "\xe6\xb7\xbb\xe5\x8a\xa0\xe7\x99\xbd\xe5\x90\x8d\xe5\x8d\x95" "183.1.2.3\","
                        "\"success\":false}", &res, &err), PF_EINVAL);
    cr_expect_eq(res.err_class, PROVIDER_ERR_FATAL);
    cr_expect_str_eq(err.msg, "provider error code 113: \xe8\xaf\xb7\xe6\xb7\xbb\xe5\x8a\xa0"
                     "\xe7\x99\xbd\xe5\x90\x8d\xe5\x8d\x95" "183.1.2.3");
    provider_parse_result_deinit(&res);
    /* without the code table the wording says the same */
    econf.ncodes = 0;
    cr_expect_eq(answer(200, CONF_FORMAT_JSON, "{\"code\":114,\"data\":null,\"msg\":\"\xe8\xb4\xa6"
                        "\xe6\x88\xb7\xe4\xbd\x99\xe9\xa2\x9d\xe4\xb8\x8d\xe8\xb6\xb3\","
                        "\"success\":false}", &res, &err), PF_EINVAL);
    cr_expect_eq(res.err_class, PROVIDER_ERR_FATAL, "%s", err.msg);
    provider_parse_result_deinit(&res);
    cr_expect_eq(answer(200, CONF_FORMAT_JSON, "{\"code\":111,\"data\":null,\"msg\":\"\xe6\x8f\x90"
                        "\xe5\x8f\x96\xe9\xa2\x91\xe7\xb9\x81\xef\xbc\x8c\xe8\xaf\xb7\xe6\x8c\x89"
                        "\xe8\xa7\x84\xe5\xae\x9a\xe9\xa2\x91\xe7\x8e\x87\xe6\x8f\x90\xe5\x8f\x96\","
                        "\"success\":false}", &res, &err), PF_EINVAL);
    cr_expect_eq(res.err_class, PROVIDER_ERR_TRANSIENT, "%s", err.msg);
    provider_parse_result_deinit(&res);
    cr_expect_eq(answer(200, CONF_FORMAT_JSON, "{\"code\":121,\"data\":null,\"msg\":\"\xe6\x82\xa8"
                        "\xe7\x9a\x84\xe8\xaf\xa5\xe5\xa5\x97\xe9\xa4\x90\xe5\xb7\xb2\xe7\xbb\x8f"
                        "\xe8\xbf\x87\xe6\x9c\x9f\xe4\xba\x86!\",\"success\":false}", &res, &err), PF_EINVAL);
    cr_expect_eq(res.err_class, PROVIDER_ERR_FATAL, "%s", err.msg);
    provider_parse_result_deinit(&res);
}

/* Xiequ (携趣), type=1 JSON: "IP", "Port" and "IpAddress". */
Test(provider_answer, xiequ)
{
    struct provider_parse_result res;
    struct pf_err err;

    reset("data");
    snprintf(jconf.host, CONF_FIELD_MAX, "IP");
    snprintf(jconf.port, CONF_FIELD_MAX, "Port");
    snprintf(jconf.label_city, CONF_FIELD_MAX, "IpAddress");
    success("code", "0");
    const char good[] = "{\"code\":0,\"success\":\"true\",\"msg\":\"\",\"data\":["
        "{\"IP\":\"114.239.2.21\",\"Port\":40001,\"IpAddress\":\"\xe6\xb1\x9f\xe8\x8b\x8f\xe7\x9c\x81"
        "\xe5\xae\xbf\xe8\xbf\x81\xe5\xb8\x82 \xe7\x94\xb5\xe4\xbf\xa1\"},"
        "{\"IP\":\"183.166.7.9\",\"Port\":40002,\"IpAddress\":\"\"}]}";
    cr_assert_eq(answer(200, CONF_FORMAT_JSON, good, &res, &err), PF_OK, "%s", err.msg);
    cr_expect_eq(res.nupstreams, 2);
    cr_expect_eq(res.upstreams[1].port, 40002);
    provider_parse_result_deinit(&res);
    cr_expect_eq(answer(200, CONF_FORMAT_JSON, "{\"code\":-10,\"success\":\"false\",\"msg\":\"\xe8\xaf\xb7"
                        "\xe5\xb0\x86\xe6\x82\xa8\xe7\x9a\x84IP:183.1.2.3\xe5\x8a\xa0\xe5\x85\xa5"
                        "\xe7\x99\xbd\xe5\x90\x8d\xe5\x8d\x95\",\"data\":[]}", &res, &err), PF_EINVAL);
    cr_expect_eq(res.err_class, PROVIDER_ERR_FATAL, "%s", err.msg);
    cr_expect(strstr(err.msg, "IP:183.1.2.3") != NULL, "%s", err.msg);
    provider_parse_result_deinit(&res);
}

/* Webshare /api/v2/proxy/list/: results with valid, credentials, labels, next. */
Test(provider_answer, webshare_page)
{
    struct provider_parse_result res;
    struct pf_err err;

    reset("results");
    snprintf(jconf.host, CONF_FIELD_MAX, "proxy_address");
    snprintf(jconf.user, CONF_FIELD_MAX, "username");
    snprintf(jconf.pass, CONF_FIELD_MAX, "password");
    snprintf(jconf.filter_field, CONF_FIELD_MAX, "valid");
    snprintf(jconf.filter_equals[0], CONF_FIELD_MAX, "true");
    jconf.nfilter_equals = 1;
    snprintf(jconf.label_country, CONF_FIELD_MAX, "country_code");
    snprintf(jconf.label_city, CONF_FIELD_MAX, "city_name");
    snprintf(jconf.label_isp, CONF_FIELD_MAX, "asn_name");
    snprintf(jconf.next, CONF_FIELD_MAX, "next");
    const char page[] = "{\"count\":3,\"next\":\"https://proxy.webshare.io/api/v2/proxy/list/?mode=direct&page=2&page_size=2\","
        "\"previous\":null,\"results\":["
        "{\"id\":\"d-10513\",\"username\":\"wsuser\",\"password\":\"pw-ws-77\",\"proxy_address\":\"203.0.113.7\","
        "\"port\":8168,\"valid\":true,\"last_verification\":\"2026-11-20T23:34:00.095501-07:00\","
        "\"country_code\":\"US\",\"city_name\":\"New York\",\"asn_name\":\"Example ISP\",\"asn_number\":64500},"
        "{\"id\":\"d-10514\",\"username\":\"wsuser\",\"password\":\"pw-ws-77\",\"proxy_address\":\"203.0.113.8\","
        "\"port\":8169,\"valid\":false,\"country_code\":\"DE\",\"city_name\":\"Berlin\"}]}";
    cr_assert_eq(answer(200, CONF_FORMAT_JSON, page, &res, &err), PF_OK, "%s", err.msg);
    cr_assert_eq(res.nupstreams, 1);
    cr_expect_str_eq(res.upstreams[0].user, "wsuser");
    cr_expect_str_eq(res.upstreams[0].pass, "pw-ws-77");
    cr_expect_str_eq(res.upstreams[0].labels.country, "US");
    cr_expect_str_eq(res.upstreams[0].labels.city, "New York");
    cr_expect_str_eq(res.upstreams[0].labels.isp, "Example ISP");
    cr_expect_eq(res.rejected[PROVIDER_REJECT_FILTERED], 1);
    cr_expect_str_eq(res.first_reject, "entry 2: left out by json.filter");
    cr_expect_str_eq(res.next, "https://proxy.webshare.io/api/v2/proxy/list/?mode=direct&page=2&page_size=2");
    cr_expect(res.is_page);
    provider_parse_result_deinit(&res);

    /* the last page: next null; a page whose entries are all invalid is
     * still a page (the poll goes on), not an error answer */
    cr_assert_eq(answer(200, CONF_FORMAT_JSON, "{\"count\":3,\"next\":null,\"previous\":\"x\","
                        "\"results\":[{\"proxy_address\":null,\"port\":8168,\"valid\":false}]}",
                        &res, &err), PF_EINVAL);
    cr_expect(res.is_page);
    cr_expect_str_eq(res.next, "");
    provider_parse_result_deinit(&res);
    /* a bad token: 401 {"detail": "Invalid token."}, fatal */
    cr_expect_eq(answer(401, CONF_FORMAT_JSON, "{\"detail\":\"Invalid token.\"}", &res, &err), PF_EINVAL);
    cr_expect_eq(res.err_class, PROVIDER_ERR_FATAL);
    cr_expect(!res.is_page);
    provider_parse_result_deinit(&res);
}

/* IPRoyal-style lists: host:port:user:pass, IPs or names. Entries that
 * differ only in the password are one upstream (the id never derives from
 * a password), the first kept. */
Test(provider_answer, iproyal_list)
{
    struct provider_parse_result res;
    struct pf_err err;
    reset("data");
    cr_assert_eq(answer(200, CONF_FORMAT_LINES,
                        "203.0.113.21:12323:ipr-user:pw-ipr-1\r\n"
                        "203.0.113.22:12323:ipr-user:pw-ipr-1\r\n"
                        "geo.iproyal.com:12321:ipr-user:pw-ipr_country-us\r\n"
                        "geo.iproyal.com:12321:ipr-user:pw-ipr_country-de\r\n", &res, &err),
                 PF_OK, "%s", err.msg);
    cr_expect_eq(res.nupstreams, 3);
    cr_expect_eq(res.rejected[PROVIDER_REJECT_DUPLICATE], 1);
    cr_expect_str_eq(res.upstreams[2].host, "geo.iproyal.com");
    cr_expect_str_eq(res.upstreams[2].pass, "pw-ipr_country-us");
    provider_parse_result_deinit(&res);
}

/* Whatever an answer says, the request's secrets never come back out. */
Test(provider_answer, echoed_secrets_are_dropped)
{
    static const struct { long status; const char *body; } cases[] = {
        { 200, "invalid key k-APIKEY-2718, check your account" },
        { 200, "{\"code\":3,\"msg\":\"app_key k-APIKEY-2718 invalid\"}" },
        { 401, "{\"detail\":\"bad signature sig-SECRET-31\"}" },
        { 500, "upstream error for /list?key=k-APIKEY-2718" },
        { 429, "slow down k-APIKEY-2718" },
        { 200, "{\"data\":\"\",\"msg\":\"key=k-APIKEY-2718\"}" },
    };
    reset("data");
    for (size_t i = 0; i < PF_ARRAY_LEN(cases); i++) {
        struct provider_parse_result res;
        struct pf_err err;
        enum conf_body_format fmt = cases[i].body[0] == '{' && i == 5 ? CONF_FORMAT_JSON
                                                                    : CONF_FORMAT_LINES;
        cr_expect_eq(answer(cases[i].status, fmt, cases[i].body, &res, &err), PF_EINVAL,
                     "case %zu", i);
        cr_expect(strstr(err.msg, " bytes)") != NULL, "case %zu: %s", i, err.msg);
        provider_parse_result_deinit(&res);
    }
}
