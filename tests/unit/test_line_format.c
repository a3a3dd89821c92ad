/* Unit tests for common/line_format.c: compiling entry templates and
 * splitting entries by them. */
#include <criterion/criterion.h>
#include <string.h>

#include "line_format.h"

struct compile_case {
    const char *tmpl;
    int         rc;
    const char *reason;      /* exact, for failures */
};

Test(line_format, compile_table)
{
    static const struct compile_case cases[] = {
        { "{host}:{port}:{user}:{pass}", PF_OK, NULL },
        { "{user}:{pass}:{host}:{port}", PF_OK, NULL },
        { "{user}:{pass}@{host}:{port}", PF_OK, NULL },
        { "{host}|{port}|{user}|{pass}", PF_OK, NULL },
        { "{host}:{port}", PF_OK, NULL },
        { "{host} {port} {user}", PF_OK, NULL },
        { "http://{user}:{pass}@{host}:{port}/", PF_OK, NULL },
        { "{host}::{port}", PF_OK, NULL },
        { "", PF_EINVAL, "empty template" },
        { "{host}{port}", PF_EINVAL, "{host} and the next field need a separator" },
        { "{host}:{port}:{pass}", PF_EINVAL, "{pass} needs {user}" },
        { "{host}:{user}", PF_EINVAL, "needs {host} and {port}" },
        { "{host}:{port}:{host}", PF_EINVAL, "{host} given twice" },
        { "{ip}:{port}", PF_EINVAL, "unknown field (use {host}, {port}, {user}, {pass})" },
        { "{host:{port}", PF_EINVAL, "unknown field (use {host}, {port}, {user}, {pass})" },
        { "{host}:{port", PF_EINVAL, "unclosed '{'" },
        { "{host}}:{port}", PF_EINVAL, "'}' without '{'" },
        { "{host}x{port}", PF_EINVAL,
          "separator after {host} may not use letters, digits, '.', '-' or '_'" },
        { "{host}.{port}", PF_EINVAL,
          "separator after {host} may not use letters, digits, '.', '-' or '_'" },
        { "{host}:{port}\t", PF_EINVAL, "literal text must be printable ASCII" },
        { "{host}:::::::::::::::::{port}", PF_EINVAL, "literal text longer than 16 bytes" },
    };
    for (size_t i = 0; i < PF_ARRAY_LEN(cases); i++) {
        struct line_format f;
        struct pf_err err = { 0 };
        int rc = line_format_compile(cases[i].tmpl, &f, &err);
        cr_expect_eq(rc, cases[i].rc, "case %zu (%s): %s", i, cases[i].tmpl, err.msg);
        if (cases[i].reason != NULL)
            cr_expect_str_eq(err.msg, cases[i].reason, "case %zu", i);
    }
    cr_expect_eq(line_format_compile(NULL, &(struct line_format){ 0 }, NULL), PF_EINVAL);
}

struct match_case {
    const char *tmpl;
    const char *in;
    int         rc;
    const char *host, *port, *user, *pass;
};

static int part_eq(const char *p, size_t n, const char *want)
{
    return strlen(want) == n && (n == 0 || memcmp(p, want, n) == 0);
}

Test(line_format, match_table)
{
    static const struct match_case cases[] = {
        { "{host}:{port}:{user}:{pass}", "1.2.3.4:80:u:p", PF_OK, "1.2.3.4", "80", "u", "p" },
        /* the password may hold the separator, on either side of it */
        { "{host}:{port}:{user}:{pass}", "1.2.3.4:80:u:p:w:x", PF_OK, "1.2.3.4", "80", "u", "p:w:x" },
        { "{user}:{pass}:{host}:{port}", "u:p:w:1.2.3.4:80", PF_OK, "1.2.3.4", "80", "u", "p:w" },
        { "{user}:{pass}@{host}:{port}", "u:p@w@1.2.3.4:80", PF_OK, "1.2.3.4", "80", "u", "p@w" },
        { "{user}:{pass}@{host}:{port}", "u:p@[2001:db8::1]:80", PF_OK, "[2001:db8::1]", "80", "u", "p" },
        { "{host}:{port}:{user}:{pass}", "[2001:db8::1]:80:u:p", PF_OK, "[2001:db8::1]", "80", "u", "p" },
        { "{host}|{port}|{user}|{pass}", "h|80|u|p|q", PF_OK, "h", "80", "u", "p|q" },
        { "{host}|{port}", "h|80", PF_OK, "h", "80", "", "" },
        { "{host}|{port}", "h|80|x", PF_OK, "h", "80|x", "", "" },   /* the port check rejects it */
        { "http://{user}:{pass}@{host}:{port}/", "http://u:p@h:80/", PF_OK, "h", "80", "u", "p" },
        { "http://{user}:{pass}@{host}:{port}/", "https://u:p@h:80/", PF_EINVAL, NULL, NULL, NULL, NULL },
        { "http://{user}:{pass}@{host}:{port}/", "http://u:p@h:80", PF_EINVAL, NULL, NULL, NULL, NULL },
        { "{host}:{port}:{user}:{pass}", "1.2.3.4:80:u", PF_EINVAL, NULL, NULL, NULL, NULL },
        { "{host}:{port}:{user}:{pass}", ":80:u:p", PF_EINVAL, NULL, NULL, NULL, NULL },
        { "{host}:{port}:{user}:{pass}", "1.2.3.4:80:u:", PF_EINVAL, NULL, NULL, NULL, NULL },
        { "{user}:{pass}@{host}:{port}", "u:p@1.2.3.4:", PF_EINVAL, NULL, NULL, NULL, NULL },
        /* split fine; addr_upstream_from_parts() then refuses the host */
        { "{user}:{pass}@{host}:{port}", "u:p@[2001:db8::1:80", PF_OK, "[2001:db8::1", "80", "u", "p" },
        { "{host}:{port}:{user}:{pass}", "[2001:db8::1:80:u:p", PF_EINVAL, NULL, NULL, NULL, NULL },
        { "{host}:{port}", "", PF_EINVAL, NULL, NULL, NULL, NULL },
    };
    for (size_t i = 0; i < PF_ARRAY_LEN(cases); i++) {
        const struct match_case *c = &cases[i];
        struct line_format f;
        struct addr_parts p;
        cr_assert_eq(line_format_compile(c->tmpl, &f, NULL), PF_OK, "case %zu", i);
        int rc = line_format_match(&f, c->in, strlen(c->in), &p);
        cr_expect_eq(rc, c->rc, "case %zu (%s): rc %d", i, c->in, rc);
        if (rc != PF_OK || c->rc != PF_OK)
            continue;
        cr_expect(part_eq(p.host, p.host_len, c->host), "case %zu: host '%.*s'", i,
                  (int)p.host_len, p.host);
        cr_expect(part_eq(p.port, p.port_len, c->port), "case %zu: port", i);
        cr_expect(part_eq(p.user, p.user_len, c->user), "case %zu: user", i);
        cr_expect(part_eq(p.pass, p.pass_len, c->pass), "case %zu: pass '%.*s'", i,
                  (int)p.pass_len, p.pass);
    }
}

Test(line_format, uses)
{
    struct line_format f;
    cr_assert_eq(line_format_compile("{host} {port}|{user}:{pass}", &f, NULL), PF_OK);
    cr_expect(line_format_uses(&f, ' '));
    cr_expect(line_format_uses(&f, '|'));
    cr_expect(line_format_uses(&f, ':'));
    cr_expect(!line_format_uses(&f, ','));
    cr_expect(!line_format_uses(&f, '\0'));
}
