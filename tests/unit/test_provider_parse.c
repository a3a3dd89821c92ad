/* Unit tests of controller/provider_parse.c: the `lines` body parser. */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "provider_parse.h"

#define REJ_NONE (-1)

/* Criterion 2.4.1 crashes on const char * fields in parameters: inline arrays. */
struct parse_case {
    char   name[32];
    char   body[256];
    int    is_private_allowed;
    int    expect_status;          /* PF_OK or PF_EINVAL */
    size_t nupstreams;             /* accepted on PF_OK */
    char   reason[160];            /* exact failure reason, "" = not checked */
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
      "no valid address in 1 line (first: 'http://***@')", "", REJ_NONE, 0 },
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
      "", "first: '{\"code\":10001", REJ_NONE, 0 },
    { "binary_sanitised", "\x01\x02junk\x7f\n", 0, PF_EINVAL, 0,
      "no valid address in 1 line (first: '??junk?')", "", PROVIDER_REJECT_BINARY, 1 },
    { "scheme_rejected", "ftp://203.0.113.10:21\n", 0, PF_EINVAL, 0, "", "ftp://",
      PROVIDER_REJECT_SCHEME, 1 },
    { "bom", "\xEF\xBB\xBF" "203.0.113.10:8080\n", 0, PF_OK, 1, "", "", REJ_NONE, 0 },
};

ParameterizedTestParameters(provider_parse, table)
{
    return cr_make_param_array(struct parse_case, parse_cases, PF_ARRAY_LEN(parse_cases));
}

ParameterizedTest(struct parse_case *c, provider_parse, table)
{
    struct provider_parse_opts opts = {
        .default_scheme = UPSTREAM_HTTP,
        .is_private_allowed = c->is_private_allowed,
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
    struct provider_parse_opts opts = { .default_scheme = UPSTREAM_HTTPS, .is_private_allowed = 0, .max_upstreams = 0, .provider = "plain" };
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
    struct provider_parse_opts opts = { .default_scheme = UPSTREAM_HTTP, .is_private_allowed = 0, .max_upstreams = 0, .provider = NULL };
    struct provider_parse_result res;
    struct pf_err err;

    cr_assert_eq(provider_parse_lines(body, sizeof(body) - 1, &opts, &res, &err), PF_OK);
    cr_expect_eq(res.nupstreams, 1);
    cr_expect_eq(res.nlines, 4);
    cr_expect_eq(res.nentries, 4);
    cr_expect_eq(res.nrejected, 3);
    cr_expect_eq(res.rejected[PROVIDER_REJECT_PORT], 1);
    cr_expect_eq(res.rejected[PROVIDER_REJECT_DENIED], 1);
    cr_expect(strncmp(res.first_reject, "line 2: ", 8) == 0, "first reject '%s'", res.first_reject);
    provider_parse_result_deinit(&res);
}

Test(provider_parse, password_never_in_reason)
{
    const char body[] = "alice:s3cr3t-pw@203.0.113.10:0\n";
    struct provider_parse_opts opts = { .default_scheme = UPSTREAM_HTTP, .is_private_allowed = 0, .max_upstreams = 0, .provider = NULL };
    struct provider_parse_result res;
    struct pf_err err;

    cr_assert_eq(provider_parse_lines(body, sizeof(body) - 1, &opts, &res, &err), PF_EINVAL);
    cr_expect(strstr(err.msg, "s3cr3t") == NULL, "reason '%s'", err.msg);
    cr_expect(strstr(err.msg, "alice") == NULL, "reason '%s'", err.msg);
    cr_expect(strstr(res.first_reject, "s3cr3t") == NULL, "first reject '%s'", res.first_reject);
    cr_expect_str_eq(err.msg, "no valid address in 1 line (first: '***@203.0.113.10:0')");
    provider_parse_result_deinit(&res);
}

Test(provider_parse, first_line_cut_to_80)
{
    char body[300];
    struct provider_parse_opts opts = { .default_scheme = UPSTREAM_HTTP, .is_private_allowed = 0, .max_upstreams = 0, .provider = NULL };
    struct provider_parse_result res;
    struct pf_err err;

    memset(body, 'x', 200);
    body[200] = '\0';
    cr_assert_eq(provider_parse_lines(body, 200, &opts, &res, &err), PF_EINVAL);
    const char *q = strchr(err.msg, '\'');
    cr_assert_not_null(q);
    const char *end = strchr(q + 1, '\'');
    cr_assert_not_null(end);
    cr_expect_eq(end - q - 1, PROVIDER_PARSE_FIRST_MAX);
    provider_parse_result_deinit(&res);
}

Test(provider_parse, max_upstreams_caps)
{
    const char body[] = "203.0.113.10:1\n203.0.113.10:2\n203.0.113.10:3\n";
    struct provider_parse_opts opts = { .default_scheme = UPSTREAM_HTTP, .is_private_allowed = 0, .max_upstreams = 2, .provider = NULL };
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
    struct provider_parse_opts opts = { .default_scheme = UPSTREAM_HTTP, .is_private_allowed = 0, .max_upstreams = 0, .provider = NULL };
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
    struct provider_parse_opts opts = { .default_scheme = UPSTREAM_HTTP, .is_private_allowed = 0, .max_upstreams = 0, .provider = NULL };
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

Test(provider_parse, sanitize_masks_userinfo)
{
    char buf[128];

    provider_sanitize("x http://u:p@h:1 y:z@h", 22, 80, buf, sizeof(buf));
    cr_expect_str_eq(buf, "x http://***@h:1 ***@h");
    provider_sanitize("abc", 3, 2, buf, sizeof(buf));
    cr_expect_str_eq(buf, "ab");
    provider_sanitize("abcdef", 6, 80, buf, 4);
    cr_expect_str_eq(buf, "abc");
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
        struct provider_parse_opts opts = { .default_scheme = UPSTREAM_HTTP, .is_private_allowed = 0, .max_upstreams = 1000, .provider = "seed" };
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
