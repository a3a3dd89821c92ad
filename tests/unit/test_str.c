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

/* One row of the sanitizer table: input bytes, max chars, expected output. */
struct sanitize_case {
    const char *in;
    size_t      in_len;
    size_t      max_chars;
    const char *out;
};

#define SC(s, max, out) { s, sizeof(s) - 1, max, out }

Test(str, sanitize_text_table)
{
    static const struct sanitize_case cases[] = {
        SC("plain ascii", 0, "plain ascii"),
        SC("\xe8\xaf\xb7\xe6\xb7\xbb\xe5\x8a\xa0\xe7\x99\xbd\xe5\x90\x8d\xe5\x8d\x95" "127.0.0.1", 0,
           "\xe8\xaf\xb7\xe6\xb7\xbb\xe5\x8a\xa0\xe7\x99\xbd\xe5\x90\x8d\xe5\x8d\x95" "127.0.0.1"),
        SC("caf\xc3\xa9 \xf0\x9f\x98\x80", 0, "caf\xc3\xa9 \xf0\x9f\x98\x80"),
        SC("a\tb\r\nc", 0, "a b  c"),
        SC("\x01\x02junk\x7f", 0, "??junk?"),
        SC("x\xc2\x85y", 0, "x?y"),                               /* C1 NEL */
        SC("\xff", 0, "\xef\xbf\xbd"),                             /* never valid */
        SC("\x80x", 0, "\xef\xbf\xbdx"),                           /* stray continuation */
        SC("\xc0\xaf", 0, "\xef\xbf\xbd\xef\xbf\xbd"),             /* overlong '/' */
        SC("\xe0\x80\xaf", 0, "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"), /* overlong, 3 bytes */
        SC("\xed\xa0\x80", 0, "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"), /* surrogate */
        SC("\xf4\x90\x80\x80", 0, "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"), /* > U+10FFFF */
        SC("ab\xe4\xbd", 0, "ab\xef\xbf\xbd\xef\xbf\xbd"),         /* cut short */
        SC("a\0b", 0, "a?b"),
        SC("abcdef", 3, "abc"),
        SC("\xe4\xbd\xa0\xe5\xa5\xbd!", 2, "\xe4\xbd\xa0\xe5\xa5\xbd"),
        SC("", 0, ""),
    };
    for (size_t i = 0; i < PF_ARRAY_LEN(cases); i++) {
        char buf[64];
        size_t n = str_sanitize_text(cases[i].in, cases[i].in_len, cases[i].max_chars, buf,
                                     sizeof(buf));
        cr_expect_str_eq(buf, cases[i].out, "case %zu", i);
        cr_expect_eq(n, strlen(cases[i].out), "case %zu", i);
        cr_expect(str_is_clean_text(buf, n), "case %zu: output clean", i);
    }
}

Test(str, sanitize_text_never_splits_a_character)
{
    /* "你好" is 6 bytes: a 5-byte buffer holds one character and the NUL. */
    char buf[5];
    cr_expect_eq(str_sanitize_text("\xe4\xbd\xa0\xe5\xa5\xbd", 6, 0, buf, sizeof(buf)), 3);
    cr_expect_str_eq(buf, "\xe4\xbd\xa0");
    char tiny[1];
    cr_expect_eq(str_sanitize_text("abc", 3, 0, tiny, sizeof(tiny)), 0);
    cr_expect_str_eq(tiny, "");
    cr_expect_eq(str_sanitize_text(NULL, 5, 0, buf, sizeof(buf)), 0);
    cr_expect_str_eq(buf, "");
}

Test(str, is_clean_text)
{
    cr_expect_eq(str_is_clean_text("ok \xe4\xbd\xa0", 6), 1);
    cr_expect_eq(str_is_clean_text("tab\t", 4), 0);
    cr_expect_eq(str_is_clean_text("\xc3", 1), 0);
    cr_expect_eq(str_is_clean_text("\xc2\x9b", 2), 0);        /* C1 CSI */
    cr_expect_eq(str_is_clean_text("", 0), 1);
}

Test(str, utf8_cut)
{
    cr_expect_eq(str_utf8_cut("abc", 3), 3);
    cr_expect_eq(str_utf8_cut("a\xe4\xbd", 3), 1);             /* 2 of 3 bytes */
    cr_expect_eq(str_utf8_cut("a\xe4", 2), 1);
    cr_expect_eq(str_utf8_cut("a\xe4\xbd\xa0", 4), 4);         /* whole */
    cr_expect_eq(str_utf8_cut("\xf0\x9f\x98", 3), 0);
    cr_expect_eq(str_utf8_cut("", 0), 0);
}

Test(str, appendf_cuts_at_the_end_never_past_it)
{
    char buf[8];
    size_t o = 0;
    str_appendf(buf, sizeof(buf), &o, "%s", "abc");
    cr_expect_eq(o, 3);
    cr_expect_str_eq(buf, "abc");
    str_appendf(buf, sizeof(buf), &o, "%d", 12345);     /* cut: 7 chars + NUL */
    cr_expect_eq(o, 7);
    cr_expect_str_eq(buf, "abc1234");
    str_appendf(buf, sizeof(buf), &o, "more");          /* full: nothing moves */
    cr_expect_eq(o, 7);
    cr_expect_str_eq(buf, "abc1234");
    o = sizeof(buf);                                    /* at the end already */
    str_appendf(buf, sizeof(buf), &o, "x");
    cr_expect_eq(o, sizeof(buf));
}
