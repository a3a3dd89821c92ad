/* The user-name parameter grammar (common/user_params.c). */
#include <criterion/criterion.h>
#include <string.h>

#include "user_params.h"

static struct user_params_words words(void)
{
    struct user_params_words w;
    struct pf_err err;
    cr_assert_eq(user_params_words_from_tags("-session-", "-sesstime-", &w, &err), PF_OK);
    return w;
}

static int parse(const char *user, struct user_params *p, struct pf_err *err)
{
    struct user_params_words w = words();
    pf_err_clear(err);
    return user_params_parse(user, &w, p, err);
}

Test(user_params, plain_user)
{
    struct user_params p;
    struct pf_err err;
    cr_assert_eq(parse("alice", &p, &err), PF_OK);
    cr_expect_str_eq(p.base_user, "alice");
    cr_expect_eq(p.label_mask, 0u);
    cr_expect_str_eq(p.session, "");
    cr_expect_eq(p.sesstime_min, 0);
}

Test(user_params, the_issue_examples)
{
    struct user_params p;
    struct pf_err err;
    cr_assert_eq(parse("alice-country-us-session-42-sesstime-10", &p, &err), PF_OK, "%s", err.msg);
    cr_expect_str_eq(p.base_user, "alice");
    cr_expect_str_eq(p.label[USER_LABEL_COUNTRY], "us");
    cr_expect_eq(p.label_mask, 1u << USER_LABEL_COUNTRY);
    cr_expect_str_eq(p.session, "42");
    cr_expect_eq(p.sesstime_min, 10);
    cr_assert_eq(parse("alice-provider-kdl", &p, &err), PF_OK);
    cr_expect_str_eq(p.label[USER_LABEL_PROVIDER], "kdl");
    cr_assert_eq(parse("alice-tier-01", &p, &err), PF_OK);
    cr_expect_str_eq(p.label[USER_LABEL_TIER], "1");
    cr_assert_eq(parse("alice-city-shanghai", &p, &err), PF_OK);
    cr_expect_str_eq(p.label[USER_LABEL_CITY], "shanghai");
}

Test(user_params, every_label_any_order_normalised)
{
    struct user_params p;
    struct pf_err err;
    cr_assert_eq(parse("bob-tier-1-asn-AS4134-isp-China_Telecom-region-Bavaria-city-New_York-"
                       "country-US-provider-kdl-session-x.y_z", &p, &err), PF_OK, "%s", err.msg);
    cr_expect_str_eq(p.base_user, "bob");
    cr_expect_str_eq(p.label[USER_LABEL_COUNTRY], "us");
    cr_expect_str_eq(p.label[USER_LABEL_REGION], "bavaria");
    cr_expect_str_eq(p.label[USER_LABEL_CITY], "new_york");
    cr_expect_str_eq(p.label[USER_LABEL_ISP], "china_telecom");
    cr_expect_str_eq(p.label[USER_LABEL_ASN], "4134");
    cr_expect_str_eq(p.label[USER_LABEL_PROVIDER], "kdl");
    cr_expect_str_eq(p.label[USER_LABEL_TIER], "1");
    cr_expect_eq(p.label_mask, (1u << USER_LABEL_COUNT) - 1);
    cr_expect_str_eq(p.session, "x.y_z");
    char f[256];
    user_params_format_filter(&p, f, sizeof(f));
    cr_expect_str_eq(f, "country=us region=bavaria city=new_york isp=china_telecom asn=4134 "
                        "provider=kdl tier=1");
}

/* The base ends at the first known key: dashes before it are the user's. */
Test(user_params, dashed_base_user)
{
    struct user_params p;
    struct pf_err err;
    cr_assert_eq(parse("john-doe", &p, &err), PF_OK);
    cr_expect_str_eq(p.base_user, "john-doe");
    cr_assert_eq(parse("john-doe-country-de", &p, &err), PF_OK);
    cr_expect_str_eq(p.base_user, "john-doe");
    cr_expect_str_eq(p.label[USER_LABEL_COUNTRY], "de");
    cr_assert_eq(parse("brd-customer-country", &p, &err), PF_OK, "no value dash: part of the name");
    cr_expect_str_eq(p.base_user, "brd-customer-country");
}

struct bad_case {
    char user[96];
    char reason[64];
};

Test(user_params, bad_names_say_why)
{
    static const struct bad_case cases[] = {
        { "alice-country-us-colour-red", "unknown parameter colour" },
        { "alice-country-us-Colour-red", "unknown parameter" },
        { "alice-country-us-", "unknown parameter" },
        { "alice-country-", "country: empty value" },
        { "alice-country-u$", "country: value may hold only A-Z a-z 0-9 _ ." },
        { "alice-country-us-country-de", "country given twice" },
        { "alice-session-1-session-2", "session given twice" },
        { "alice-tier-16", "tier: 0..15" },
        { "alice-tier-x", "tier: 0..15" },
        { "alice-asn-ASx", "asn: digits, optionally after AS" },
        { "alice-session-42-sesstime-0", "sesstime: minutes 1..1440" },
        { "alice-session-42-sesstime-1441", "sesstime: minutes 1..1440" },
        { "alice-sesstime-10", "sesstime without session" },
        { "-country-us", "parameters without a user name" },
        { "alice-city-new-york", "unknown parameter york" },
        { "alice-country-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
          "country: value longer than 64 characters" },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct user_params p;
        struct pf_err err;
        cr_expect_eq(parse(cases[i].user, &p, &err), PF_EINVAL, "%s", cases[i].user);
        cr_expect_str_eq(err.msg, cases[i].reason, "%s", cases[i].user);
        cr_expect_eq(p.label_mask, 0u, "nothing half-parsed");
        cr_expect_str_eq(p.session, "");
    }
}

Test(user_params, long_base_refused)
{
    char user[400];
    memset(user, 'a', sizeof(user) - 1);
    user[sizeof(user) - 1] = '\0';
    struct user_params p;
    struct pf_err err;
    cr_expect_eq(parse(user, &p, &err), PF_EINVAL);
    cr_expect_str_eq(err.msg, "user name too long");
}

Test(user_params, words_from_tags)
{
    struct user_params_words w;
    struct pf_err err;
    cr_assert_eq(user_params_words_from_tags("-sid-", "-ttl-", &w, &err), PF_OK);
    cr_expect_str_eq(w.session, "sid");
    cr_expect_str_eq(w.sesstime, "ttl");
    struct user_params p;
    cr_assert_eq(user_params_parse("alice-sid-7-ttl-5", &w, &p, &err), PF_OK);
    cr_expect_str_eq(p.session, "7");
    cr_expect_eq(p.sesstime_min, 5);
    cr_assert_eq(user_params_words_from_tags("", "", &w, &err), PF_OK);
    cr_assert_eq(user_params_parse("alice-session-42", &w, &p, &err), PF_OK, "sessions off");
    cr_expect_str_eq(p.base_user, "alice-session-42");
    cr_expect_eq(user_params_words_from_tags("_s_", "", &w, &err), PF_EINVAL);
    cr_expect(strstr(err.msg, "node.session_tag") != NULL);
    cr_expect_eq(user_params_words_from_tags("-Se-", "", &w, &err), PF_EINVAL);
    cr_expect_eq(user_params_words_from_tags("-country-", "", &w, &err), PF_EINVAL);
    cr_expect_eq(user_params_words_from_tags("-s-", "-s-", &w, &err), PF_EINVAL);
}

Test(user_params, norm)
{
    char out[32];
    cr_expect_eq(user_params_norm(USER_LABEL_CITY, "New York", 8, out, sizeof(out)), 8u);
    cr_expect_str_eq(out, "new_york");
    user_params_norm(USER_LABEL_REGION, "Baden-W", 7, out, sizeof(out));
    cr_expect_str_eq(out, "baden_w");
    user_params_norm(USER_LABEL_ASN, "AS13335", 7, out, sizeof(out));
    cr_expect_str_eq(out, "13335");
    user_params_norm(USER_LABEL_COUNTRY, "ASIA", 4, out, sizeof(out));
    cr_expect_str_eq(out, "asia", "the AS prefix is only the asn's");
    cr_expect_eq(user_params_norm(USER_LABEL_CITY, "abcdef", 6, out, 4), 3u);
    cr_expect_str_eq(out, "abc");
}
