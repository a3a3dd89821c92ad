/* Label values of pool records (common/label_value.c). */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <string.h>

#include "label_value.h"

Test(label_value, fields)
{
    struct upstream_labels l;
    memset(&l, 0, sizeof(l));
    cr_expect_eq(label_value_field(&l, USER_LABEL_COUNTRY), l.country);
    cr_expect_eq(label_value_field(&l, USER_LABEL_REGION), l.region);
    cr_expect_eq(label_value_field(&l, USER_LABEL_CITY), l.city);
    cr_expect_eq(label_value_field(&l, USER_LABEL_ISP), l.isp);
    cr_expect_eq(label_value_field(&l, USER_LABEL_ASN), l.asn);
    cr_expect_null(label_value_field(&l, USER_LABEL_PROVIDER));
    cr_expect_null(label_value_field(&l, USER_LABEL_TIER));
}

Test(label_value, good_values)
{
    static const char *const texts[] = { "US", "New York", "徐州市", "江苏省宿迁市 电信", "a",
                                         "China Telecom (AS4134)" };
    struct pf_err err;
    for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++)
        cr_expect_eq(label_value_check(USER_LABEL_CITY, texts[i], strlen(texts[i]), &err), PF_OK,
                     "%s: %s", texts[i], err.msg);
    static const char *const asns[] = { "4134", "AS4134", "as4134", "As1", "4294967295" };
    for (size_t i = 0; i < sizeof(asns) / sizeof(asns[0]); i++)
        cr_expect_eq(label_value_check(USER_LABEL_ASN, asns[i], strlen(asns[i]), &err), PF_OK,
                     "%s: %s", asns[i], err.msg);
    char max[UPSTREAM_LABEL_MAX];
    memset(max, 'x', sizeof(max) - 1);
    cr_expect_eq(label_value_check(USER_LABEL_ISP, max, sizeof(max) - 1, &err), PF_OK);
}

struct bad_label {
    int  label;
    char value[80];
    size_t len;        /* 0 = strlen */
    char reason[64];
};

static struct bad_label bad_labels[] = {
    { USER_LABEL_COUNTRY, "", 0, "empty" },
    { USER_LABEL_COUNTRY, "0123456789012345678901234567890123456789012345678901234567890123", 0,
      "longer than 63 bytes" },
    { USER_LABEL_CITY, "a\x01", 0, "not clean UTF-8 text" },
    { USER_LABEL_CITY, "a\nb", 0, "not clean UTF-8 text" },
    { USER_LABEL_CITY, "\xff\xfe", 0, "not clean UTF-8 text" },
    { USER_LABEL_CITY, "a\0b", 3, "not clean UTF-8 text" },
    { USER_LABEL_ASN, "AS", 0, "an asn is 1..10 digits" },
    { USER_LABEL_ASN, "ASN4134", 0, "an asn is 1..10 digits" },
    { USER_LABEL_ASN, "41 34", 0, "an asn is 1..10 digits" },
    { USER_LABEL_ASN, "12345678901", 0, "an asn is 1..10 digits" },
    { USER_LABEL_ASN, "-1", 0, "an asn is 1..10 digits" },
};

ParameterizedTestParameters(label_value, bad)
{
    return cr_make_param_array(struct bad_label, bad_labels, sizeof(bad_labels) / sizeof(bad_labels[0]));
}

ParameterizedTest(struct bad_label *c, label_value, bad)
{
    struct pf_err err;
    size_t len = c->len != 0 ? c->len : strlen(c->value);
    pf_err_clear(&err);
    cr_expect_eq(label_value_check((enum user_label)c->label, c->value, len, &err), PF_EINVAL);
    cr_expect(strstr(err.msg, c->reason) != NULL, "'%s' not in '%s'", c->reason, err.msg);
    struct upstream_labels l;
    memset(&l, 'q', sizeof(l));
    cr_expect_eq(label_value_set(&l, (enum user_label)c->label, c->value, len, &err), PF_EINVAL);
    cr_expect_str_eq(label_value_field(&l, (enum user_label)c->label), "", "left empty");
}

Test(label_value, set_and_merge_entry_wins)
{
    struct upstream_labels entry, stat;
    struct pf_err err;
    memset(&entry, 0, sizeof(entry));
    memset(&stat, 0, sizeof(stat));
    cr_assert_eq(label_value_set(&entry, USER_LABEL_COUNTRY, "US", 2, &err), PF_OK);
    cr_assert_eq(label_value_set(&entry, USER_LABEL_CITY, "Boston", 6, &err), PF_OK);
    cr_assert_eq(label_value_set(&stat, USER_LABEL_COUNTRY, "DE", 2, &err), PF_OK);
    cr_assert_eq(label_value_set(&stat, USER_LABEL_ASN, "AS3320", 6, &err), PF_OK);
    cr_assert_eq(label_value_set(&stat, USER_LABEL_ISP, "Telekom", 7, &err), PF_OK);
    cr_expect_eq(label_value_set(&stat, USER_LABEL_TIER, "1", 1, &err), PF_EINVAL);
    cr_expect_str_eq(err.msg, "tier is not a record label");
    label_value_merge(&entry, &stat);
    cr_expect_str_eq(entry.country, "US", "the entry's own value wins");
    cr_expect_str_eq(entry.city, "Boston");
    cr_expect_str_eq(entry.asn, "AS3320", "static fills the gaps");
    cr_expect_str_eq(entry.isp, "Telekom");
    cr_expect_str_eq(entry.region, "");
}
