/* The gateway user-name template (common/user_template.c). */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <stdio.h>
#include <string.h>

#include "user_params.h"
#include "user_template.h"

#define ISSUE_TMPL "customer-acme[-cc-{country}][-sessid-{session}][-sesstime-{sesstime}]"

static int check(const char *t, struct pf_err *err)
{
    pf_err_clear(err);
    return user_template_check(t, err);
}

static void render_ok(const char *t, const struct user_template_vars *v, const char *want)
{
    char out[USER_TEMPLATE_OUT_MAX];
    struct pf_err err;
    pf_err_clear(&err);
    cr_assert_eq(user_template_render(t, v, out, sizeof(out), &err), PF_OK, "%s: %s", t, err.msg);
    cr_expect_str_eq(out, want, "%s", t);
}

Test(user_template, the_issue_example_every_combination)
{
    struct user_template_vars v;
    memset(&v, 0, sizeof(v));
    render_ok(ISSUE_TMPL, &v, "customer-acme");
    snprintf(v.v[USER_TEMPLATE_COUNTRY], sizeof(v.v[0]), "us");
    render_ok(ISSUE_TMPL, &v, "customer-acme-cc-us");
    user_template_session_format(0x0123456789abcdefULL, &v);
    render_ok(ISSUE_TMPL, &v, "customer-acme-cc-us-sessid-0123456789abcdef");
    snprintf(v.v[USER_TEMPLATE_SESSTIME], sizeof(v.v[0]), "10");
    render_ok(ISSUE_TMPL, &v, "customer-acme-cc-us-sessid-0123456789abcdef-sesstime-10");
    v.v[USER_TEMPLATE_COUNTRY][0] = '\0';
    render_ok(ISSUE_TMPL, &v, "customer-acme-sessid-0123456789abcdef-sesstime-10");
}

Test(user_template, a_segment_drops_when_any_placeholder_in_it_is_empty)
{
    struct user_template_vars v;
    memset(&v, 0, sizeof(v));
    snprintf(v.v[USER_TEMPLATE_COUNTRY], sizeof(v.v[0]), "de");
    const char *t = "u[-geo-{country}-{city}]x[-{country}]";
    render_ok(t, &v, "ux-de");
    snprintf(v.v[USER_TEMPLATE_CITY], sizeof(v.v[0]), "berlin");
    render_ok(t, &v, "u-geo-de-berlinx-de");
}

Test(user_template, every_placeholder)
{
    struct user_template_vars v;
    memset(&v, 0, sizeof(v));
    const char *t = "a[c{country}][r{region}][t{city}][i{isp}][n{asn}][s{session}][l{sesstime}]";
    struct pf_err err;
    cr_assert_eq(check(t, &err), PF_OK, "%s", err.msg);
    for (int i = 0; i < USER_TEMPLATE__COUNT; i++)
        snprintf(v.v[i], sizeof(v.v[i]), "%d", i);
    render_ok(t, &v, "ac0r1t2i3n4s5l6");
}

Test(user_template, vars_from_params)
{
    struct user_params_words w;
    struct user_params p;
    struct user_template_vars v;
    struct pf_err err;
    cr_assert_eq(user_params_words_from_tags("-session-", "-sesstime-", &w, &err), PF_OK);
    cr_assert_eq(user_params_parse("alice-country-US-city-New_York-asn-AS4134-region-x-isp-y-"
                                   "session-42-sesstime-10", &w, &p, &err), PF_OK, "%s", err.msg);
    user_template_vars_from_params(&p, &v);
    cr_expect_str_eq(v.v[USER_TEMPLATE_COUNTRY], "us");
    cr_expect_str_eq(v.v[USER_TEMPLATE_CITY], "new_york");
    cr_expect_str_eq(v.v[USER_TEMPLATE_ASN], "4134");
    cr_expect_str_eq(v.v[USER_TEMPLATE_REGION], "x");
    cr_expect_str_eq(v.v[USER_TEMPLATE_ISP], "y");
    cr_expect_str_eq(v.v[USER_TEMPLATE_SESSTIME], "10");
    cr_expect_str_eq(v.v[USER_TEMPLATE_SESSION], "", "the session is hashed by the caller");
    /* never the client's user name nor its raw session id */
    char out[USER_TEMPLATE_OUT_MAX];
    user_template_session_format(7, &v);
    cr_assert_eq(user_template_render(ISSUE_TMPL, &v, out, sizeof(out), &err), PF_OK);
    cr_expect_null(strstr(out, "alice"));
    cr_expect_str_eq(out, "customer-acme-cc-us-sessid-0000000000000007-sesstime-10");
    cr_assert_eq(user_params_parse("bob", &w, &p, &err), PF_OK);
    user_template_vars_from_params(&p, &v);
    for (int i = 0; i < USER_TEMPLATE__COUNT; i++)
        cr_expect_str_eq(v.v[i], "");
}

struct bad_case {
    char tmpl[300];
    char reason[80];
};

static struct bad_case bad_cases[] = {
    { "", "outside [...]" },
    { "[-{country}]", "outside [...]" },
    { "user:x", "byte 4: ':' is not allowed" },
    { "us er", "byte 2: not a printable" },
    { "u\x01", "byte 1: not a printable" },
    { "u\xc3\xa9", "byte 1: not a printable" },
    { "u-{country}", "{country} must stand inside [...]" },
    { "u[-{colour}]", "unknown placeholder {colour}" },
    { "u[-{averyveryverylongplaceholdername}]", "byte 3: unknown placeholder" },
    { "u[-{Country}]", "byte 3: a placeholder is {name}" },
    { "u[-{}]", "byte 3: a placeholder is {name}" },
    { "u[-{country]", "byte 3: a placeholder is {name}" },
    { "u[-cc]", "byte 1: a segment needs a placeholder" },
    { "u[-[{country}]]", "byte 3: segments do not nest" },
    { "u]", "byte 1: ']' without '['" },
    { "u[-{country}", "byte 1: '[' without ']'" },
    { "u}", "byte 1: '}' without '{'" },
};

ParameterizedTestParameters(user_template, bad)
{
    return cr_make_param_array(struct bad_case, bad_cases, sizeof(bad_cases) / sizeof(bad_cases[0]));
}

ParameterizedTest(struct bad_case *c, user_template, bad)
{
    struct pf_err err;
    char out[USER_TEMPLATE_OUT_MAX] = "x";
    struct user_template_vars v;
    memset(&v, 0, sizeof(v));
    cr_expect_eq(check(c->tmpl, &err), PF_EINVAL, "%s", c->tmpl);
    cr_expect(strstr(err.msg, c->reason) != NULL, "'%s' not in '%s'", c->reason, err.msg);
    cr_expect_eq(user_template_render(c->tmpl, &v, out, sizeof(out), &err), PF_EINVAL);
    cr_expect_str_eq(out, "");
}

Test(user_template, too_long_template)
{
    char t[USER_TEMPLATE_MAX + 1];
    memset(t, 'a', sizeof(t) - 1);
    t[sizeof(t) - 1] = '\0';
    struct pf_err err;
    cr_expect_eq(check(t, &err), PF_EINVAL);
    cr_expect(strstr(err.msg, "longer than 255 bytes") != NULL, "%s", err.msg);
    t[USER_TEMPLATE_MAX - 1] = '\0';
    cr_expect_eq(check(t, &err), PF_OK, "%s", err.msg);
}

Test(user_template, the_longest_rendering_fits_and_longer_is_refused)
{
    /* 3 x 64 + 16 + 4 + 43 fixed = 255 */
    char t[USER_TEMPLATE_MAX];
    snprintf(t, sizeof(t), "%s[{country}][{city}][{isp}][{session}][{sesstime}][{asn}]",
             "0123456789012345678901234567890123456789012");
    struct pf_err err;
    cr_assert_eq(check(t, &err), PF_OK, "%s", err.msg);
    struct user_template_vars v;
    memset(&v, 'z', sizeof(v));
    for (int i = 0; i < USER_TEMPLATE__COUNT; i++)
        v.v[i][USER_PARAMS_VALUE_LEN] = '\0';
    user_template_session_format(~0ULL, &v);
    snprintf(v.v[USER_TEMPLATE_SESSTIME], sizeof(v.v[0]), "1440");
    v.v[USER_TEMPLATE_ASN][0] = '\0';
    char out[USER_TEMPLATE_OUT_MAX + 64];
    cr_assert_eq(user_template_render(t, &v, out, sizeof(out), &err), PF_OK, "%s", err.msg);
    cr_expect_eq(strlen(out), 255u);
    cr_expect_eq(user_template_render(t, &v, out, 100, &err), PF_ERANGE);
    cr_expect_str_eq(err.msg, "the user name would be 255 bytes, at most 99");
    cr_expect_str_eq(out, "");
    snprintf(v.v[USER_TEMPLATE_ASN], sizeof(v.v[0]), "1");
    cr_expect_eq(user_template_render(t, &v, out, sizeof(out), &err), PF_ERANGE);
    cr_expect_str_eq(err.msg, "the user name would be 256 bytes, at most 255");
    cr_expect_str_eq(out, "");
}

Test(user_template, bad_values_are_refused)
{
    struct user_template_vars v;
    memset(&v, 0, sizeof(v));
    snprintf(v.v[USER_TEMPLATE_COUNTRY], sizeof(v.v[0]), "u:s");
    char out[USER_TEMPLATE_OUT_MAX];
    struct pf_err err;
    pf_err_clear(&err);
    cr_expect_eq(user_template_render(ISSUE_TMPL, &v, out, sizeof(out), &err), PF_EINVAL);
    cr_expect_str_eq(err.msg, "{country}: bad value");
    cr_expect_str_eq(out, "");
    memset(v.v[USER_TEMPLATE_SESSTIME], '1', 10);
    v.v[USER_TEMPLATE_COUNTRY][0] = '\0';
    cr_expect_eq(user_template_render(ISSUE_TMPL, &v, out, sizeof(out), &err), PF_EINVAL);
    cr_expect_str_eq(err.msg, "{sesstime}: value too long");
}

Test(user_template, names)
{
    cr_expect_str_eq(user_template_var_name(USER_TEMPLATE_SESSION), "session");
    cr_expect_str_eq(user_template_var_name(USER_TEMPLATE__COUNT), "?");
}
