/* Unit tests of controller/provider_parse.c: the `lines` body parser. */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "line_format.h"
#include "provider_parse.h"

#define REJ_NONE (-1)

/* Criterion 2.4.1 crashes on const char * fields in parameters: inline arrays. */
struct parse_case {
    char   name[32];
    char   body[256];
    int    is_private_allowed;
    int    expect_status;          /* PF_OK or PF_EINVAL */
    size_t nupstreams;             /* accepted on PF_OK */
    char   reason[200];            /* exact failure reason, "" = not checked */
    char   reason_has[64];         /* substring of the reason, "" = not checked */
    int    rej_kind;               /* enum provider_reject or REJ_NONE */
    size_t rej_count;              /* rejected[rej_kind] */
};

static struct parse_case parse_cases[] = {
    { "good", "203.0.113.10:8080\n198.51.100.7:3128\n", 0, PF_OK, 2, "", "", REJ_NONE, 0 },
    { "crlf", "203.0.113.10:8080\r\n198.51.100.7:3128\r\n", 0, PF_OK, 2, "", "", REJ_NONE, 0 },
    { "no_final_newline", "203.0.113.10:8080\n198.51.100.7:3128", 0, PF_OK, 2, "", "", REJ_NONE, 0 },
    { "blanks_and_junk", "\n  203.0.113.10:8080  \n\n\tnot-an-address\n# comment\n198.51.100.7:3128\r\n",
      0, PF_OK, 2, "", "", REJ_NONE, 0 },
    { "commas_semicolons_spaces", "203.0.113.10:8080, 198.51.100.7:3128;192.0.2.1:80 198.51.100.8:1080",
      0, PF_OK, 4, "", "", REJ_NONE, 0 },
    { "credential_forms", "user:pass@203.0.113.10:8080\nsocks5://u:p@198.51.100.7:1080\n",
      0, PF_OK, 2, "", "", REJ_NONE, 0 },
    { "userinfo_no_host", "http://user:pwd@\n", 0, PF_EINVAL, 0,
      "no valid address in 1 line (first: line 1 (16 bytes): missing host)", "", REJ_NONE, 0 },
    { "port_zero", "203.0.113.10:0\n", 0, PF_EINVAL, 0,
      "no valid address in 1 line (first: '203.0.113.10:0')", "", PROVIDER_REJECT_PORT, 1 },
    { "port_zero_among_good", "203.0.113.10:0\n203.0.113.11:80\n", 0, PF_OK, 1, "", "",
      PROVIDER_REJECT_PORT, 1 },
    { "html", "<!DOCTYPE html><html><body>502 Bad Gateway</body></html>", 0, PF_EINVAL, 0,
      "HTML body", "", REJ_NONE, 0 },
    { "html_after_blanks", "\r\n  <html><head><title>Error</title></head></html>\n", 0, PF_EINVAL, 0,
      "HTML body", "", REJ_NONE, 0 },
    { "empty", "", 0, PF_EINVAL, 0, "empty body", "", REJ_NONE, 0 },
    { "only_blanks", " \r\n\t\n\n", 0, PF_EINVAL, 0, "empty body", "", REJ_NONE, 0 },
    { "only_comments", "# nothing today\n", 0, PF_EINVAL, 0, "empty body", "", REJ_NONE, 0 },
    { "private_rejected", "127.0.0.1:3128\n10.0.0.1:80\n", 0, PF_EINVAL, 0, "", "in 2 lines",
      PROVIDER_REJECT_DENIED, 2 },
    { "private_allowed", "127.0.0.1:3128\n10.0.0.1:80\n", 1, PF_OK, 2, "", "", REJ_NONE, 0 },
    { "dedupe", "203.0.113.10:8080\n203.0.113.10:8080\nhttp://203.0.113.10:8080\n198.51.100.7:3128\n",
      0, PF_OK, 2, "", "", PROVIDER_REJECT_DUPLICATE, 2 },
    { "dedupe_users_distinct", "a:x@203.0.113.10:8080\nb:x@203.0.113.10:8080\na:y@203.0.113.10:8080\n",
      0, PF_OK, 2, "", "", PROVIDER_REJECT_DUPLICATE, 1 },
    { "whitelist_error", "ERROR(-3): IP not in whitelist\r\n", 0, PF_EINVAL, 0,
      "no valid address in 1 line (first: 'ERROR(-3): IP not in whitelist')", "", REJ_NONE, 0 },
    { "three_junk_lines", "foo\nbar\nbaz\n", 0, PF_EINVAL, 0,
      "no valid address in 3 lines (first: 'foo')", "", REJ_NONE, 0 },
    { "json_error", "{\"code\":10001,\"msg\":\"IP not whitelisted\",\"data\":[]}", 0, PF_EINVAL, 0,
      "", "first: '(23 bytes) not whitelisted", REJ_NONE, 0 },
    { "binary_sanitised", "\x01\x02junk\x7f\n", 0, PF_EINVAL, 0,
      "no valid address in 1 line (first: '??junk?')", "", PROVIDER_REJECT_BINARY, 1 },
    { "chinese_message_kept", "\xe8\xaf\xb7\xe6\xb7\xbb\xe5\x8a\xa0\xe7\x99\xbd\xe5\x90\x8d\xe5\x8d\x95"
      "127.0.0.1\r\n", 0, PF_EINVAL, 0,
      "no valid address in 1 line (first: '\xe8\xaf\xb7\xe6\xb7\xbb\xe5\x8a\xa0\xe7\x99\xbd\xe5\x90\x8d\xe5\x8d\x95"
      "127.0.0.1')", "", PROVIDER_REJECT_BINARY, 1 },
    { "invalid_utf8_replaced", "bad \xff\xfe text\n", 0, PF_EINVAL, 0,
      "no valid address in 1 line (first: 'bad \xef\xbf\xbd\xef\xbf\xbd text')", "", REJ_NONE, 0 },
    { "scheme_rejected", "ftp://203.0.113.10:21\n", 0, PF_EINVAL, 0,
      "no valid address in 1 line (first: line 1 (21 bytes): unsupported scheme)", "",
      PROVIDER_REJECT_SCHEME, 1 },
    /* host:port:user:pass, detected: four ':' fields, the second a port */
    { "hpup", "203.0.113.10:8080:u1:pw1\n198.51.100.7:3128:u2:pw2\n", 0, PF_OK, 2, "", "",
      REJ_NONE, 0 },
    { "hpup_crlf_spaces", "  203.0.113.10:8080:u1:pw1  \r\n", 0, PF_OK, 1, "", "", REJ_NONE, 0 },
    { "hpup_loopback_denied", "127.0.0.1:28128:up1:pw1\n", 0, PF_EINVAL, 0,
      "no valid address in 1 line (first: line 1 (127.0.0.1:28128): loopback address 127.0.0.1 not allowed)",
      "", PROVIDER_REJECT_DENIED, 1 },
    { "hpup_loopback_allowed", "127.0.0.1:28128:up1:pw1\n", 1, PF_OK, 1, "", "", REJ_NONE, 0 },
    { "hpup_five_fields", "203.0.113.10:8080:u1:pw:1\n", 0, PF_EINVAL, 0,
      "no valid address in 1 line (first: line 1 (25 bytes): IPv6 address must be in brackets)", "",
      PROVIDER_REJECT_HOST, 1 },
    { "hpup_second_not_port", "203.0.113.10:http:u1:pw1\n", 0, PF_EINVAL, 0, "",
      "(first: line 1 (24 bytes): ", REJ_NONE, 0 },
    { "hpup_port_zero", "203.0.113.10:0:u1:pw1\n", 0, PF_EINVAL, 0,
      "no valid address in 1 line (first: line 1 (21 bytes): port 0 out of range)", "",
      PROVIDER_REJECT_PORT, 1 },
    { "hpup_v6_needs_brackets", "2001:db8::1:8080\n", 0, PF_EINVAL, 0, "", "", PROVIDER_REJECT_HOST, 1 },
    { "metadata_denied_under_true", "169.254.169.254:80\n10.0.0.1:80\n", 1, PF_OK, 1,
      "", "", PROVIDER_REJECT_DENIED, 1 },
    { "bom", "\xEF\xBB\xBF" "203.0.113.10:8080\n", 0, PF_OK, 1, "", "", REJ_NONE, 0 },
};

static const struct conf_upstream_policy allow_all = { .is_private_allowed = 1 };

ParameterizedTestParameters(provider_parse, table)
{
    return cr_make_param_array(struct parse_case, parse_cases, PF_ARRAY_LEN(parse_cases));
}

ParameterizedTest(struct parse_case *c, provider_parse, table)
{
    struct provider_parse_opts opts = {
        .default_scheme = UPSTREAM_HTTP,
        .policy = c->is_private_allowed ? &allow_all : NULL,
        .max_upstreams = 0,
        .provider = "prov",
    };
    struct provider_parse_result res;
    struct pf_err err;

    pf_err_clear(&err);
    int rc = provider_parse_lines(c->body, strlen(c->body), &opts, &res, &err);
    cr_expect_eq(rc, c->expect_status, "%s: status %d, reason '%s'", c->name, rc, err.msg);
    if (c->expect_status == PF_OK)
        cr_expect_eq(res.nupstreams, c->nupstreams, "%s: %zu accepted", c->name, res.nupstreams);
    else
        cr_expect_eq(res.nupstreams, 0, "%s", c->name);
    if (c->reason[0] != '\0')
        cr_expect_str_eq(err.msg, c->reason, "%s", c->name);
    if (c->reason_has[0] != '\0')
        cr_expect(strstr(err.msg, c->reason_has) != NULL, "%s: reason '%s'", c->name, err.msg);
    if (c->rej_kind != REJ_NONE)
        cr_expect_eq(res.rejected[c->rej_kind], c->rej_count, "%s: %zu rejected as %s", c->name,
                     res.rejected[c->rej_kind], provider_reject_name((enum provider_reject)c->rej_kind));
    provider_parse_result_deinit(&res);
}

Test(provider_parse, fields_and_provider_name)
{
    const char body[] = "socks5://u:p%40ss@198.51.100.7:1080\n203.0.113.10:8080\n";
    struct provider_parse_opts opts = { .default_scheme = UPSTREAM_HTTPS, .max_upstreams = 0, .provider = "plain" };
    struct provider_parse_result res;
    struct pf_err err;

    cr_assert_eq(provider_parse_lines(body, sizeof(body) - 1, &opts, &res, &err), PF_OK);
    cr_assert_eq(res.nupstreams, 2);
    cr_expect_eq(res.upstreams[0].scheme, UPSTREAM_SOCKS5);
    cr_expect_str_eq(res.upstreams[0].user, "u");
    cr_expect_str_eq(res.upstreams[0].pass, "p@ss");
    cr_expect_eq(res.upstreams[0].port, 1080);
    cr_expect_eq(res.upstreams[1].scheme, UPSTREAM_HTTPS, "default scheme applies");
    cr_expect_str_eq(res.upstreams[1].provider, "plain");
    cr_expect_eq(res.upstreams[1].expires_at_ms, 0);
    provider_parse_result_deinit(&res);
}

Test(provider_parse, junk_counted_with_first_reason)
{
    const char body[] = "203.0.113.10:8080\n203.0.113.11:99999\nhello\n10.1.1.1:80\n";
    struct provider_parse_opts opts = { .default_scheme = UPSTREAM_HTTP, .max_upstreams = 0, .provider = NULL };
    struct provider_parse_result res;
    struct pf_err err;

    cr_assert_eq(provider_parse_lines(body, sizeof(body) - 1, &opts, &res, &err), PF_OK);
    cr_expect_eq(res.nupstreams, 1);
    cr_expect_eq(res.nlines, 4);
    cr_expect_eq(res.nentries, 4);
    cr_expect_eq(res.nrejected, 3);
    cr_expect_eq(res.rejected[PROVIDER_REJECT_PORT], 1);
    cr_expect_eq(res.rejected[PROVIDER_REJECT_DENIED], 1);
    cr_expect_str_eq(res.first_reject, "line 2 (18 bytes): port 99999 out of range");
    provider_parse_result_deinit(&res);
}

Test(provider_parse, password_never_in_reason)
{
    const char body[] = "alice:s3cr3t-pw@203.0.113.10:0\n";
    struct provider_parse_opts opts = { .default_scheme = UPSTREAM_HTTP, .max_upstreams = 0, .provider = NULL };
    struct provider_parse_result res;
    struct pf_err err;

    cr_assert_eq(provider_parse_lines(body, sizeof(body) - 1, &opts, &res, &err), PF_EINVAL);
    cr_expect(strstr(err.msg, "s3cr3t") == NULL, "reason '%s'", err.msg);
    cr_expect(strstr(err.msg, "alice") == NULL, "reason '%s'", err.msg);
    cr_expect(strstr(res.first_reject, "s3cr3t") == NULL, "first reject '%s'", res.first_reject);
    cr_expect_str_eq(err.msg, "no valid address in 1 line (first: line 1 (30 bytes): "
                     "port 0 out of range)");
    provider_parse_result_deinit(&res);
}

/* The issue's own example: a credentialed line that used to be quoted in
 * clear. Whatever fails in it, neither user nor password is in the reason,
 * the first reject or the examples. */
Test(provider_parse, credentialed_lines_never_quoted)
{
    static const char *const bodies[] = {
        "127.0.0.1:28128:up1:pw-SECRET-1\n",
        "127.0.0.1:28128:up1:pw-SECRET-1:extra\n",
        "up1:pw-SECRET-1@127.0.0.1:0\n",
        "socks5://up1:pw-SECRET-1@\n",
        "up1:pw-SECRET-1:203.0.113.1:99999\n",
        "note up1:pw-SECRET-1:x and more\n",
        "203.0.113.10:8080:up1:pw-SECRET-1\x01\n",
    };
    for (size_t i = 0; i < PF_ARRAY_LEN(bodies); i++) {
        struct provider_parse_opts opts = { .default_scheme = UPSTREAM_HTTP };
        struct provider_parse_result res;
        struct pf_err err;
        pf_err_clear(&err);
        int rc = provider_parse_lines(bodies[i], strlen(bodies[i]), &opts, &res, &err);
        cr_expect_eq(rc, PF_EINVAL, "case %zu: %s", i, err.msg);
        cr_expect(strstr(err.msg, "SECRET") == NULL, "case %zu: reason '%s'", i, err.msg);
        cr_expect(strstr(err.msg, "up1") == NULL, "case %zu: reason '%s'", i, err.msg);
        cr_expect(strstr(res.first_reject, "SECRET") == NULL, "case %zu: '%s'", i, res.first_reject);
        for (size_t k = 0; k < res.nexamples; k++)
            cr_expect(strstr(res.examples[k], "SECRET") == NULL, "case %zu", i);
        provider_parse_result_deinit(&res);
    }
}

/* host:port:user:pass fills the fields raw, and default_scheme applies. */
Test(provider_parse, host_port_user_pass_fields)
{
    const char body[] = "203.0.113.10:8080:user-1:p%40ss@w0rd\n";
    struct provider_parse_opts opts = { .default_scheme = UPSTREAM_SOCKS5, .provider = "ipr",
                                        .tier = 2 };
    struct provider_parse_result res;
    struct pf_err err;
    cr_assert_eq(provider_parse_lines(body, sizeof(body) - 1, &opts, &res, &err), PF_EINVAL,
                 "'@' makes it no four-field line: %s", err.msg);
    provider_parse_result_deinit(&res);
    const char body2[] = "203.0.113.10:8080:user-1:p%40ss!w0rd\n";
    cr_assert_eq(provider_parse_lines(body2, sizeof(body2) - 1, &opts, &res, &err), PF_OK, "%s",
                 err.msg);
    cr_assert_eq(res.nupstreams, 1);
    cr_expect_eq(res.upstreams[0].scheme, UPSTREAM_SOCKS5);
    cr_expect_str_eq(res.upstreams[0].host, "203.0.113.10");
    cr_expect_eq(res.upstreams[0].port, 8080);
    cr_expect_str_eq(res.upstreams[0].user, "user-1");
    cr_expect_str_eq(res.upstreams[0].pass, "p%40ss!w0rd", "raw, not percent-decoded");
    cr_expect_str_eq(res.upstreams[0].provider, "ipr");
    cr_expect_eq(res.upstreams[0].tier, 2);
    provider_parse_result_deinit(&res);
}

struct tmpl_case {
    char name[32];
    char tmpl[48];
    char body[160];
    size_t n;              /* accepted */
    char host[32];         /* of the first accepted */
    unsigned port;
    char user[16];
    char pass[24];
};

static struct tmpl_case tmpl_cases[] = {
    { "hpup", "{host}:{port}:{user}:{pass}", "203.0.113.1:80:u:p:w\n203.0.113.2:81:u:q\n", 2,
      "203.0.113.1", 80, "u", "p:w" },
    { "uphp", "{user}:{pass}:{host}:{port}", "u:p:w:203.0.113.1:80\n", 1, "203.0.113.1", 80, "u", "p:w" },
    { "up_at_hp", "{user}:{pass}@{host}:{port}", "u:p@w@203.0.113.1:80\nu2:x:y@[2001:db8::1]:1080\n", 2,
      "203.0.113.1", 80, "u", "p@w" },
    { "pipes", "{host}|{port}|{user}|{pass}", "203.0.113.1|80|u|p\n203.0.113.2|81|u|p\n", 2,
      "203.0.113.1", 80, "u", "p" },
    { "pipes_one_line", "{host}|{port}|{user}|{pass}", "203.0.113.1|80|u|p 203.0.113.2|81|u|p", 2,
      "203.0.113.1", 80, "u", "p" },
    { "blank_sep", "{host} {port} {user} {pass}", "203.0.113.1 80 u p\n", 1, "203.0.113.1", 80, "u", "p" },
    { "no_creds", "{host}|{port}", "203.0.113.1|80,203.0.113.2|81\n", 2, "203.0.113.1", 80, "", "" },
    { "prefix", "http://{user}:{pass}@{host}:{port}", "http://u:p@203.0.113.1:80\n", 1,
      "203.0.113.1", 80, "u", "p" },
    { "mismatch", "{host}|{port}|{user}|{pass}", "203.0.113.1:80:u:p\n", 0, "", 0, "", "" },
};

ParameterizedTestParameters(provider_parse, line_formats)
{
    return cr_make_param_array(struct tmpl_case, tmpl_cases, PF_ARRAY_LEN(tmpl_cases));
}

ParameterizedTest(struct tmpl_case *c, provider_parse, line_formats)
{
    struct line_format lf;
    cr_assert_eq(line_format_compile(c->tmpl, &lf, NULL), PF_OK, "%s", c->name);
    struct provider_parse_opts opts = { .default_scheme = UPSTREAM_HTTPS, .line_format = &lf };
    struct provider_parse_result res;
    struct pf_err err;
    pf_err_clear(&err);
    int rc = provider_parse_lines(c->body, strlen(c->body), &opts, &res, &err);
    cr_expect_eq(rc, c->n > 0 ? PF_OK : PF_EINVAL, "%s: %s", c->name, err.msg);
    cr_expect_eq(res.nupstreams, c->n, "%s", c->name);
    if (c->n > 0) {
        cr_expect_str_eq(res.upstreams[0].host, c->host, "%s", c->name);
        cr_expect_eq(res.upstreams[0].port, c->port, "%s", c->name);
        cr_expect_str_eq(res.upstreams[0].user, c->user, "%s", c->name);
        cr_expect_str_eq(res.upstreams[0].pass, c->pass, "%s", c->name);
        cr_expect_eq(res.upstreams[0].scheme, UPSTREAM_HTTPS, "%s: default_scheme", c->name);
    } else {
        cr_expect_eq(res.rejected[PROVIDER_REJECT_SYNTAX], 1, "%s", c->name);
        cr_expect(strstr(err.msg, "does not match line_format") != NULL, "%s: %s", c->name, err.msg);
    }
    provider_parse_result_deinit(&res);
}

Test(provider_parse, first_line_cut_to_80)
{
    char body[300];
    struct provider_parse_opts opts = { .default_scheme = UPSTREAM_HTTP, .max_upstreams = 0, .provider = NULL };
    struct provider_parse_result res;
    struct pf_err err;

    memset(body, 'x', 200);
    body[200] = '\0';
    cr_assert_eq(provider_parse_lines(body, 200, &opts, &res, &err), PF_EINVAL);
    const char *q = strchr(err.msg, '\'');
    cr_assert_not_null(q);
    const char *end = strchr(q + 1, '\'');
    cr_assert_not_null(end);
    cr_expect_eq(end - q - 1, PROVIDER_QUOTE_MAX);
    provider_parse_result_deinit(&res);
}

Test(provider_parse, max_upstreams_caps)
{
    const char body[] = "203.0.113.10:1\n203.0.113.10:2\n203.0.113.10:3\n";
    struct provider_parse_opts opts = { .default_scheme = UPSTREAM_HTTP, .max_upstreams = 2, .provider = NULL };
    struct provider_parse_result res;
    struct pf_err err;

    cr_assert_eq(provider_parse_lines(body, sizeof(body) - 1, &opts, &res, &err), PF_OK);
    cr_expect_eq(res.nupstreams, 2);
    cr_expect_eq(res.rejected[PROVIDER_REJECT_TOO_MANY], 1);
    provider_parse_result_deinit(&res);
}

Test(provider_parse, thousands_with_duplicates)
{
    size_t cap = 20000 * 24;
    char *body = malloc(cap);
    size_t len = 0;
    struct provider_parse_opts opts = { .default_scheme = UPSTREAM_HTTP, .max_upstreams = 0, .provider = NULL };
    struct provider_parse_result res;
    struct pf_err err;

    cr_assert_not_null(body);
    for (int i = 0; i < 10000; i++)   /* 5000 distinct, each twice */
        len += (size_t)snprintf(body + len, cap - len, "203.0.%d.%d:%d\n",
                                113, (i % 5000) / 250 + 1, 1000 + (i % 5000) % 250);
    cr_assert_eq(provider_parse_lines(body, len, &opts, &res, &err), PF_OK, "%s", err.msg);
    cr_expect_eq(res.nupstreams, 5000);
    cr_expect_eq(res.rejected[PROVIDER_REJECT_DUPLICATE], 5000);
    provider_parse_result_deinit(&res);
    free(body);
}

Test(provider_parse, not_nul_terminated_and_null_body)
{
    const char body[] = "203.0.113.10:8080\n203.0.113.11:8080";
    struct provider_parse_opts opts = { .default_scheme = UPSTREAM_HTTP, .max_upstreams = 0, .provider = NULL };
    struct provider_parse_result res;
    struct pf_err err;

    /* Only the first line is in range. */
    cr_assert_eq(provider_parse_lines(body, 18, &opts, &res, &err), PF_OK);
    cr_expect_eq(res.nupstreams, 1);
    provider_parse_result_deinit(&res);
    cr_expect_eq(provider_parse_lines(NULL, 0, &opts, &res, &err), PF_EINVAL);
    cr_expect_str_eq(err.msg, "empty body");
    provider_parse_result_deinit(&res);
    provider_parse_result_deinit(NULL);
}

Test(provider_parse, rejects_keep_three_examples)
{
    const char body[] = "127.0.0.1:80\n10.0.0.1:81\nfoo:bar:baz\n192.168.0.1:82\n203.0.113.1:80\n";
    struct provider_parse_opts opts = { .default_scheme = UPSTREAM_HTTP };
    struct provider_parse_result res;
    struct pf_err err;
    cr_assert_eq(provider_parse_lines(body, sizeof(body) - 1, &opts, &res, &err), PF_OK);
    cr_expect_eq(res.nrejected, 4);
    cr_expect_eq(res.nexamples, PROVIDER_EXAMPLES_MAX);
    cr_expect_str_eq(res.examples[0], "127.0.0.1:80");
    cr_expect_str_eq(res.examples[1], "10.0.0.1:81");
    cr_expect_str_eq(res.examples[2], "line 3 (11 bytes)", "unparsed: where and how big");
    provider_parse_result_deinit(&res);
}

/* Every seed body of the fuzzer parses without crashing or leaking. */
Test(provider_parse, corpus_seeds)
{
    char dir[512];
    snprintf(dir, sizeof(dir), "%s/provider_parse", PF_CORPUS_DIR);
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
        struct provider_parse_opts opts = { .default_scheme = UPSTREAM_HTTP, .max_upstreams = 1000, .provider = "seed" };
        struct provider_parse_result res;
        struct pf_err err;
        pf_err_clear(&err);
        int rc = provider_parse_lines(buf, len, &opts, &res, &err);
        cr_expect(rc == PF_OK || (rc == PF_EINVAL && err.msg[0] != '\0'), "%s: %d", path, rc);
        provider_parse_result_deinit(&res);
        free(buf);
        n++;
    }
    closedir(d);
    cr_expect_gt(n, 0);
}
