/* Unit tests for common/str.c. */
#include <criterion/criterion.h>
#include <string.h>

#include "str.h"

Test(str, trim)
{
    static const struct {
        const char *in;
        const char *out;
    } cases[] = {
        { "  abc \r\n", "abc" }, { "abc", "abc" }, { " \t\r\n", "" }, { "", "" },
        { "a b", "a b" }, { "\tx", "x" },
    };
    for (size_t i = 0; i < PF_ARRAY_LEN(cases); i++) {
        const char *p = cases[i].in;
        size_t n = strlen(p);
        str_trim(&p, &n);
        cr_expect_eq(n, strlen(cases[i].out), "case %zu", i);
        cr_expect(memcmp(p, cases[i].out, n) == 0, "case %zu", i);
    }
}

Test(str, copy)
{
    char buf[4];
    cr_expect_eq(str_copy(buf, sizeof(buf), "abc", 3), PF_OK);
    cr_expect_str_eq(buf, "abc");
    cr_expect_eq(str_copy(buf, sizeof(buf), "abcd", 4), PF_ERANGE);
    cr_expect_str_eq(buf, "");
    cr_expect_eq(str_copy(buf, sizeof(buf), "", 0), PF_OK);
    cr_expect_str_eq(buf, "");
    cr_expect_eq(str_copy(buf, 0, "a", 1), PF_ERANGE);
}

Test(str, has_nul)
{
    cr_expect_eq(str_has_nul("ab\0c", 4), 1);
    cr_expect_eq(str_has_nul("abc", 3), 0);
    cr_expect_eq(str_has_nul("", 0), 0);
}

Test(str, pct_decode_table)
{
    static const struct {
        const char *in;
        int rc;
        const char *out;
    } cases[] = {
        { "p%40ss", PF_OK, "p@ss" },
        { "%3a%3A", PF_OK, "::" },
        { "plain", PF_OK, "plain" },
        { "", PF_OK, "" },
        { "%", PF_EINVAL, NULL },
        { "%4", PF_EINVAL, NULL },
        { "%zz", PF_EINVAL, NULL },
        { "%00", PF_EINVAL, NULL },
        { "a%2", PF_EINVAL, NULL },
        { "%ff", PF_OK, "\xff" },
    };
    for (size_t i = 0; i < PF_ARRAY_LEN(cases); i++) {
        char buf[16];
        size_t n = 99;
        int rc = str_pct_decode(cases[i].in, strlen(cases[i].in), buf, sizeof(buf), &n);
        cr_expect_eq(rc, cases[i].rc, "case %zu (%s)", i, cases[i].in);
        if (rc == PF_OK && cases[i].out != NULL) {
            cr_expect_str_eq(buf, cases[i].out, "case %zu", i);
            cr_expect_eq(n, strlen(cases[i].out), "case %zu", i);
        }
    }
}

Test(str, pct_decode_range)
{
    char buf[4];
    cr_expect_eq(str_pct_decode("abc", 3, buf, sizeof(buf), NULL), PF_OK);
    cr_expect_eq(str_pct_decode("abcd", 4, buf, sizeof(buf), NULL), PF_ERANGE);
    cr_expect_eq(str_pct_decode("ab%41d", 6, buf, sizeof(buf), NULL), PF_ERANGE);
}

/* RFC 4648 section 10 test vectors. */
static const struct {
    const char *plain;
    const char *b64;
} b64_vectors[] = {
    { "", "" }, { "f", "Zg==" }, { "fo", "Zm8=" }, { "foo", "Zm9v" },
    { "foob", "Zm9vYg==" }, { "fooba", "Zm9vYmE=" }, { "foobar", "Zm9vYmFy" },
    { "alice:secret", "YWxpY2U6c2VjcmV0" },
};

Test(str, base64_encode_vectors)
{
    for (size_t i = 0; i < PF_ARRAY_LEN(b64_vectors); i++) {
        char buf[64];
        size_t n = strlen(b64_vectors[i].plain);
        cr_expect_eq(str_base64_encode(b64_vectors[i].plain, n, buf, sizeof(buf)), PF_OK);
        cr_expect_str_eq(buf, b64_vectors[i].b64, "case %zu", i);
        cr_expect_eq(STR_BASE64_ENC_LEN(n), strlen(b64_vectors[i].b64) + 1, "case %zu", i);
    }
}

Test(str, base64_encode_exact_buffer)
{
    char buf[STR_BASE64_ENC_LEN(3)];
    cr_expect_eq(str_base64_encode("foo", 3, buf, sizeof(buf)), PF_OK);
    cr_expect_eq(str_base64_encode("foob", 4, buf, sizeof(buf)), PF_ERANGE);
    cr_expect_str_eq(buf, "");
}

Test(str, base64_decode_vectors)
{
    for (size_t i = 0; i < PF_ARRAY_LEN(b64_vectors); i++) {
        char buf[64];
        size_t n = 99;
        const char *b = b64_vectors[i].b64;
        cr_expect_eq(str_base64_decode(b, strlen(b), buf, sizeof(buf), &n), PF_OK, "case %zu", i);
        cr_expect_str_eq(buf, b64_vectors[i].plain, "case %zu", i);
        cr_expect_eq(n, strlen(b64_vectors[i].plain), "case %zu", i);
    }
}

Test(str, base64_decode_bad)
{
    static const char *const bad[] = {
        "Zg", "Zg=", "Z===", "Zg==Zg==", "Zm9v!", "Zm 9v", "Zh==", "Zm9=", "====", "Zm=v",
    };
    for (size_t i = 0; i < PF_ARRAY_LEN(bad); i++) {
        char buf[64];
        cr_expect_eq(str_base64_decode(bad[i], strlen(bad[i]), buf, sizeof(buf), NULL), PF_EINVAL,
                     "case %zu (%s)", i, bad[i]);
    }
}

Test(str, base64_decode_range)
{
    char buf[3];
    cr_expect_eq(str_base64_decode("Zm8=", 4, buf, sizeof(buf), NULL), PF_OK);
    cr_expect_eq(str_base64_decode("Zm9v", 4, buf, sizeof(buf), NULL), PF_ERANGE);
}

Test(str, consttime_eq)
{
    cr_expect_eq(str_consttime_eq("secret", 6, "secret", 6), 1);
    cr_expect_eq(str_consttime_eq("secreT", 6, "secret", 6), 0);
    cr_expect_eq(str_consttime_eq("secret", 6, "secre", 5), 0);
    cr_expect_eq(str_consttime_eq("secre", 5, "secret", 6), 0);
    cr_expect_eq(str_consttime_eq("", 0, "", 0), 1);
    cr_expect_eq(str_consttime_eq("", 0, "x", 1), 0);
    cr_expect_eq(str_consttime_eq("x", 1, "", 0), 0);
    cr_expect_eq(str_consttime_eq("abab", 4, "ab", 2), 0);
}

/* base64url without padding (RFC 4648 section 5; the vectors of section 10
 * with the padding dropped, plus the two characters that differ). */
Test(str, base64url_vectors)
{
    static const struct { char plain[16]; char enc[16]; } v[] = {
        { "", "" }, { "f", "Zg" }, { "fo", "Zm8" }, { "foo", "Zm9v" }, { "foob", "Zm9vYg" },
        { "fooba", "Zm9vYmE" }, { "foobar", "Zm9vYmFy" }, { "\xfb\xff", "-_8" },
    };
    for (size_t i = 0; i < PF_ARRAY_LEN(v); i++) {
        char enc[32], dec[32];
        size_t n = strlen(v[i].plain), m = 99;
        cr_expect_eq(str_base64url_encode(v[i].plain, n, enc, sizeof(enc)), PF_OK, "case %zu", i);
        cr_expect_str_eq(enc, v[i].enc, "case %zu", i);
        cr_expect_eq(STR_BASE64URL_ENC_LEN(n), strlen(v[i].enc) + 1, "case %zu", i);
        cr_expect_eq(str_base64url_decode(enc, strlen(enc), dec, sizeof(dec), &m), PF_OK, "case %zu", i);
        cr_expect_eq(m, n, "case %zu", i);
        cr_expect_str_eq(dec, v[i].plain, "case %zu", i);
    }
}

Test(str, base64url_bad)
{
    static const char *const bad[] = {
        "Z", "Zg=", "Zm9v+", "Zm9v/A", "Zh", "Zm9", "Zm 9v", "Zg==",
    };
    for (size_t i = 0; i < PF_ARRAY_LEN(bad); i++) {
        char buf[32];
        cr_expect_eq(str_base64url_decode(bad[i], strlen(bad[i]), buf, sizeof(buf), NULL), PF_EINVAL,
                     "case %zu (%s)", i, bad[i]);
    }
}

Test(str, base64url_range)
{
    char buf[3];
    cr_expect_eq(str_base64url_decode("Zm8", 3, buf, sizeof(buf), NULL), PF_OK);
    /* too long is known before the characters are read */
    cr_expect_eq(str_base64url_decode("Zm9!", 4, buf, sizeof(buf), NULL), PF_ERANGE);
    cr_expect_eq(str_base64url_encode("foo", 3, buf, sizeof(buf)), PF_ERANGE);
    cr_expect_str_eq(buf, "");
}
