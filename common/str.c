#include "str.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int str_is_blank(int c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

void str_trim(const char **s, size_t *len)
{
    const char *p = *s;
    size_t n = *len;
    while (n > 0 && str_is_blank((unsigned char)p[0])) {
        p++;
        n--;
    }
    while (n > 0 && str_is_blank((unsigned char)p[n - 1]))
        n--;
    *s = p;
    *len = n;
}

int str_copy(char *dst, size_t dst_len, const char *src, size_t src_len)
{
    if (dst_len == 0)
        return PF_ERANGE;
    if (src_len >= dst_len) {
        dst[0] = '\0';
        return PF_ERANGE;
    }
    if (src_len > 0)
        memcpy(dst, src, src_len);
    dst[src_len] = '\0';
    return PF_OK;
}

int str_has_nul(const char *s, size_t len)
{
    return len > 0 && memchr(s, '\0', len) != NULL;
}

static int str_hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int str_pct_decode(const char *s, size_t len, char *dst, size_t dst_len, size_t *out_len)
{
    size_t o = 0;
    if (dst_len == 0)
        return PF_ERANGE;
    dst[0] = '\0';
    for (size_t i = 0; i < len; i++) {
        int c = (unsigned char)s[i];
        if (c == '\0')
            return PF_EINVAL;
        if (c == '%') {
            if (len - i < 3)
                return PF_EINVAL;
            int hi = str_hexval((unsigned char)s[i + 1]);
            int lo = str_hexval((unsigned char)s[i + 2]);
            if (hi < 0 || lo < 0)
                return PF_EINVAL;
            c = hi * 16 + lo;
            if (c == 0)
                return PF_EINVAL;
            i += 2;
        }
        if (o + 1 >= dst_len) {
            dst[0] = '\0';
            return PF_ERANGE;
        }
        dst[o++] = (char)c;
    }
    dst[o] = '\0';
    if (out_len != NULL)
        *out_len = o;
    return PF_OK;
}

/* The two RFC 4648 alphabets: Base64 with padding (HTTP Basic auth) and
 * base64url without padding (sealed credentials, common/seal.c). One codec
 * serves both. */
struct str_b64 {
    char alphabet[65];
    int  is_padded;
};

static const struct str_b64 str_b64_std = {
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/", 1 };
static const struct str_b64 str_b64_url = {
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", 0 };

static int str_b64_encode(const struct str_b64 *v, const void *src, size_t len, char *dst,
                          size_t dst_len)
{
    const unsigned char *in = src;
    const char *a = v->alphabet;
    size_t need;
    if (len > (((size_t)-1) / 4) * 3 - 3)
        need = (size_t)-1;
    else
        need = v->is_padded ? STR_BASE64_ENC_LEN(len) : STR_BASE64URL_ENC_LEN(len);
    if (dst_len < need) {
        if (dst_len > 0)
            dst[0] = '\0';
        return PF_ERANGE;
    }
    size_t o = 0;
    size_t i = 0;
    for (; i + 2 < len; i += 3) {
        uint32_t w = ((uint32_t)in[i] << 16) | ((uint32_t)in[i + 1] << 8) | in[i + 2];
        dst[o++] = a[(w >> 18) & 63];
        dst[o++] = a[(w >> 12) & 63];
        dst[o++] = a[(w >> 6) & 63];
        dst[o++] = a[w & 63];
    }
    if (len - i == 1) {
        uint32_t w = (uint32_t)in[i] << 16;
        dst[o++] = a[(w >> 18) & 63];
        dst[o++] = a[(w >> 12) & 63];
        if (v->is_padded) {
            dst[o++] = '=';
            dst[o++] = '=';
        }
    } else if (len - i == 2) {
        uint32_t w = ((uint32_t)in[i] << 16) | ((uint32_t)in[i + 1] << 8);
        dst[o++] = a[(w >> 18) & 63];
        dst[o++] = a[(w >> 12) & 63];
        dst[o++] = a[(w >> 6) & 63];
        if (v->is_padded)
            dst[o++] = '=';
    }
    dst[o] = '\0';
    return PF_OK;
}

static int str_b64_val(const struct str_b64 *v, int c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == v->alphabet[62])
        return 62;
    if (c == v->alphabet[63])
        return 63;
    return -1;
}

static int str_b64_decode(const struct str_b64 *v, const char *src, size_t len, void *dst,
                          size_t dst_len, size_t *out_len)
{
    unsigned char *out = dst;
    size_t o = 0;
    if (dst_len == 0)
        return PF_ERANGE;
    out[0] = '\0';
    if (v->is_padded ? len % 4 != 0 : len % 4 == 1)
        return PF_EINVAL;
    /* unpadded: the size is known before any byte is decoded */
    if (!v->is_padded && len / 4 * 3 + (len % 4 == 0 ? 0 : len % 4 - 1) + 1 > dst_len)
        return PF_ERANGE;
    for (size_t i = 0; i < len; i += 4) {
        size_t k = PF_MIN_OF(len - i, (size_t)4);   /* < 4 only for an unpadded tail */
        int d[4] = { 0, 0, 0, 0 };
        int npad = 0;                        /* '=' seen in this quantum */
        int is_last = (i + 4 >= len);
        for (size_t j = 0; j < k; j++) {
            int c = (unsigned char)src[i + j];
            if (v->is_padded && c == '=' && is_last && j >= 2) {
                npad++;
                continue;
            }
            if (npad > 0)
                return PF_EINVAL;           /* data after padding */
            d[j] = str_b64_val(v, c);
            if (d[j] < 0)
                return PF_EINVAL;
        }
        npad += (int)(4 - k);               /* an unpadded tail: the missing characters */
        uint32_t w = ((uint32_t)d[0] << 18) | ((uint32_t)d[1] << 12) |
                     ((uint32_t)d[2] << 6) | (uint32_t)d[3];
        int nbytes = 3 - npad;
        /* Non-canonical encodings (stray low bits in the last character) are rejected. */
        if ((npad == 1 && (w & 0xff) != 0) || (npad == 2 && (w & 0xffff) != 0))
            return PF_EINVAL;
        if (o + (size_t)nbytes + 1 > dst_len) {
            out[0] = '\0';
            return PF_ERANGE;
        }
        out[o++] = (unsigned char)(w >> 16);
        if (nbytes > 1)
            out[o++] = (unsigned char)(w >> 8);
        if (nbytes > 2)
            out[o++] = (unsigned char)w;
    }
    out[o] = '\0';
    if (out_len != NULL)
        *out_len = o;
    return PF_OK;
}

int str_base64_encode(const void *src, size_t len, char *dst, size_t dst_len)
{
    return str_b64_encode(&str_b64_std, src, len, dst, dst_len);
}

int str_base64_decode(const char *src, size_t len, void *dst, size_t dst_len, size_t *out_len)
{
    return str_b64_decode(&str_b64_std, src, len, dst, dst_len, out_len);
}

int str_base64url_encode(const void *src, size_t len, char *dst, size_t dst_len)
{
    return str_b64_encode(&str_b64_url, src, len, dst, dst_len);
}

int str_base64url_decode(const char *src, size_t len, void *dst, size_t dst_len, size_t *out_len)
{
    return str_b64_decode(&str_b64_url, src, len, dst, dst_len, out_len);
}

int str_consttime_eq(const void *a, size_t a_len, const void *b, size_t b_len)
{
    const volatile unsigned char *pa = a;
    const volatile unsigned char *pb = b;
    unsigned diff = (unsigned)(a_len != b_len);
    /* Always walk all of <b>; read <a> cyclically so lengths don't leak. */
    for (size_t i = 0; i < b_len; i++) {
        unsigned char ca = a_len > 0 ? pa[i % a_len] : 0;
        diff |= (unsigned)(ca ^ pb[i]);
    }
    return diff == 0;
}

/* Decodes the UTF-8 sequence at <s> (<len> bytes left). Returns its length
 * (1..4) and the code point in <*cp>, or 0 when it is not well formed
 * (RFC 3629: no overlong forms, no surrogates, nothing above U+10FFFF). */
static size_t str_utf8_decode(const unsigned char *s, size_t len, uint32_t *cp)
{
    unsigned char c = s[0];
    size_t n;
    uint32_t v, min;

    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    if (c >= 0xc2 && c <= 0xdf) {
        n = 2;
        v = c & 0x1f;
        min = 0x80;
    } else if (c >= 0xe0 && c <= 0xef) {
        n = 3;
        v = c & 0x0f;
        min = 0x800;
    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4;
        v = c & 0x07;
        min = 0x10000;
    } else {
        return 0;                       /* continuation byte, 0xc0, 0xc1, 0xf5.. */
    }
    if (len < n)
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        v = (v << 6) | (s[i] & 0x3f);
    }
    if (v < min || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))
        return 0;
    *cp = v;
    return n;
}

static int str_is_control(uint32_t cp)
{
    return cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp <= 0x9f);
}

size_t str_sanitize_text(const char *s, size_t len, size_t max_chars, char *dst, size_t dst_len)
{
    static const char replacement[STR_REPLACEMENT_LEN] = { '\xef', '\xbf', '\xbd' };
    const unsigned char *p = (const unsigned char *)s;
    size_t o = 0, nchars = 0;

    if (dst_len == 0)
        return 0;
    for (size_t i = 0; s != NULL && i < len;) {
        uint32_t cp = 0;
        size_t n = str_utf8_decode(p + i, len - i, &cp);
        const char *out = (const char *)p + i;
        size_t out_len = n;
        char one;
        if (max_chars != 0 && nchars == max_chars)
            break;
        if (n == 0) {
            out = replacement;
            out_len = STR_REPLACEMENT_LEN;
            n = 1;
        } else if (str_is_control(cp)) {
            one = (cp == '\t' || cp == '\r' || cp == '\n') ? ' ' : '?';
            out = &one;
            out_len = 1;
        }
        if (o + out_len + 1 > dst_len)
            break;
        memcpy(dst + o, out, out_len);
        o += out_len;
        nchars++;
        i += n;
    }
    dst[o] = '\0';
    return o;
}

int str_is_clean_text(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    for (size_t i = 0; i < len;) {
        uint32_t cp = 0;
        size_t n = str_utf8_decode(p + i, len - i, &cp);
        if (n == 0 || str_is_control(cp))
            return 0;
        i += n;
    }
    return 1;
}

size_t str_utf8_cut(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t back = 0;
    /* At most 3 continuation bytes before a lead byte. */
    while (back < len && back < 4 && (p[len - 1 - back] & 0xc0) == 0x80)
        back++;
    if (back == len || back == 4)
        return len;                     /* no lead byte in reach: not ours to fix */
    unsigned char lead = p[len - 1 - back];
    size_t need = lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : lead >= 0xc0 ? 2 : 1;
    return need > back + 1 ? len - back - 1 : len;
}

void str_appendf(char *buf, size_t len, size_t *o, const char *fmt, ...)
{
    if (*o >= len)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf + *o, len - *o, fmt, ap);
    va_end(ap);
    if (n > 0)
        *o = PF_MIN_OF(*o + (size_t)n, len - 1);
}
