#include <criterion/criterion.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json_text.h"

struct json_text_case {
    char json[64];
    int  rc;
    char text[32];
};

/* The form configured codes and provider answers are compared in. */
static const struct json_text_case cases[] = {
    { "0", PF_OK, "0" },
    { "\"0\"", PF_OK, "0" },
    { "0.0", PF_OK, "0" },
    { "-3", PF_OK, "-3" },
    { "200", PF_OK, "200" },
    { "1.5", PF_OK, "1.5" },
    { "true", PF_OK, "true" },
    { "false", PF_OK, "false" },
    { "null", PF_OK, "null" },
    { "\"ok\"", PF_OK, "ok" },
    { "[]", PF_EINVAL, "" },
    { "{}", PF_EINVAL, "" },
    { "\"0123456789012345678901234567890123456789\"", PF_EINVAL, "" },  /* over 32 */
};

Test(json_text, table)
{
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        cJSON *v = cJSON_Parse(cases[i].json);
        char buf[32] = "";
        cr_assert_not_null(v, "%s", cases[i].json);
        int rc = json_scalar_text(v, buf, sizeof(buf));
        cr_expect_eq(rc, cases[i].rc, "%s: rc %d", cases[i].json, rc);
        if (rc == PF_OK)
            cr_expect_str_eq(buf, cases[i].text, "%s", cases[i].json);
        cJSON_Delete(v);
    }
}

Test(json_text, number_and_string_codes_agree)
{
    cJSON *n = cJSON_Parse("10001");
    cJSON *s = cJSON_Parse("\"10001\"");
    char a[32], b[32];
    cr_assert_eq(json_scalar_text(n, a, sizeof(a)), PF_OK);
    cr_assert_eq(json_scalar_text(s, b, sizeof(b)), PF_OK);
    cr_expect_str_eq(a, b);
    cJSON_Delete(n);
    cJSON_Delete(s);
}

Test(json_text, add_int_is_exact)
{
    static const int64_t values[] = { 0, -1, 8976553953550561, 9007199254740993, INT64_MAX, INT64_MIN };
    static const char *const texts[] = { "0", "-1", "8976553953550561", "9007199254740993",
                                         "9223372036854775807", "-9223372036854775808" };
    for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
        cJSON *o = cJSON_CreateObject();
        cr_assert_not_null(json_add_int(o, "n", values[i]));
        char *text = cJSON_PrintUnformatted(o);
        char want[64];
        snprintf(want, sizeof(want), "{\"n\":%s}", texts[i]);
        cr_expect_str_eq(text, want);
        free(text);
        cJSON_Delete(o);
    }
}

/* json_text_quote: a JSON string of anything, valid and bounded. */
Test(json_text, quote)
{
    char buf[64];
    cr_expect_eq(json_text_quote("abc", 3, buf, sizeof(buf)), 5u);
    cr_expect_str_eq(buf, "\"abc\"");
    json_text_quote("a\"b\\c", 5, buf, sizeof(buf));
    cr_expect_str_eq(buf, "\"a\\\"b\\\\c\"");
    json_text_quote("a\nb\x01", 4, buf, sizeof(buf));
    cr_expect_str_eq(buf, "\"a b?\"", "controls sanitized");
    json_text_quote("\xff", 1, buf, sizeof(buf));
    cr_expect_str_eq(buf, "\"\xef\xbf\xbd\"", "invalid UTF-8 replaced");
    json_text_quote("", 0, buf, sizeof(buf));
    cr_expect_str_eq(buf, "\"\"");
    cr_expect_eq(json_text_quote("abc", 3, buf, 2), 0u);
    cr_expect_str_eq(buf, "");
}

/* Cut short: closed, never inside an escape or a character. */
Test(json_text, quote_cut)
{
    const char *s = "\xe8\xaf\xb7\"\"\xe6\xb7\xbb";
    for (size_t len = 3; len < 20; len++) {
        char buf[20];
        size_t n = json_text_quote(s, strlen(s), buf, len);
        cr_assert(n < len);
        cr_assert_eq(buf[0], '"');
        cr_assert_eq(buf[n - 1], '"', "closed at %zu: %s", len, buf);
        cJSON *v = cJSON_Parse(buf);
        cr_assert(cJSON_IsString(v), "valid at %zu: %s", len, buf);
        cJSON_Delete(v);
    }
}
