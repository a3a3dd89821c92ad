/* scrypt password hashes; see pwhash.h. */
#include "pwhash.h"

#include <stdio.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>

#include "str.h"

#define PWHASH_PREFIX     "$scrypt$"
#define PWHASH_OUT_LEN    32          /* bytes of a hash this module writes */

/* Reads a decimal number of 1..3 digits without a leading zero at <*p>
 * (before <end>), then expects <sep> (0 = none). Returns the number or -1. */
static int read_num(const char **p, const char *end, char sep)
{
    const char *s = *p;
    int v = 0, nd = 0;
    while (s < end && *s >= '0' && *s <= '9' && nd < 3) {
        if (nd == 1 && v == 0)
            return -1;               /* a leading zero */
        v = v * 10 + (*s - '0');
        s++;
        nd++;
    }
    if (nd == 0 || (s < end && *s >= '0' && *s <= '9'))
        return -1;
    if (sep != 0) {
        if (s >= end || *s != sep)
            return -1;
        s++;
    }
    *p = s;
    return v;
}

/* Expects the literal <lit> at <*p>; advances past it. Returns 1 or 0. */
static int read_lit(const char **p, const char *end, const char *lit)
{
    size_t n = strlen(lit);
    if ((size_t)(end - *p) < n || memcmp(*p, lit, n) != 0)
        return 0;
    *p += n;
    return 1;
}

/* Decodes the base64url field from <s> up to <stop> (or <end>) into <dst>
 * of <cap> bytes, between <min> and <max> bytes. Returns PF_OK or PF_EINVAL. */
static int read_b64(const char *s, size_t n, uint8_t *dst, size_t cap, size_t min, size_t max,
                    size_t *out_len)
{
    char tmp[PWHASH_HASH_MAX > PWHASH_SALT_MAX ? PWHASH_HASH_MAX + 1 : PWHASH_SALT_MAX + 1];
    /* bound the length first: max bytes take at most 4*max/3+1 characters */
    if (n == 0 || n > (max * 4 + 2) / 3)
        return PF_EINVAL;
    size_t got = 0;
    if (str_base64url_decode(s, n, tmp, sizeof(tmp), &got) != PF_OK || got < min || got > max ||
        got > cap)
        return PF_EINVAL;
    memcpy(dst, tmp, got);
    *out_len = got;
    return PF_OK;
}

static int pwhash_parse_fields(const char *text, size_t len, struct pwhash *out,
                               struct pf_err *err)
{
    if (len > PWHASH_TEXT_MAX)
        return pf_err_set(err, PF_EINVAL, "password hash longer than %d bytes", PWHASH_TEXT_MAX);
    const char *p = text, *end = text + len;
    if (!read_lit(&p, end, PWHASH_PREFIX))
        return pf_err_set(err, PF_EINVAL, "password hash is not \"$scrypt$...\"");
    if (!read_lit(&p, end, "ln=") || (out->ln = read_num(&p, end, ',')) < 1 ||
        out->ln > PWHASH_LN_MAX)
        return pf_err_set(err, PF_EINVAL, "password hash: ln must be 1..%d", PWHASH_LN_MAX);
    if (!read_lit(&p, end, "r=") || (out->r = read_num(&p, end, ',')) < 1 ||
        out->r > PWHASH_R_MAX)
        return pf_err_set(err, PF_EINVAL, "password hash: r must be 1..%d", PWHASH_R_MAX);
    if (!read_lit(&p, end, "p=") || (out->p = read_num(&p, end, '$')) < 1 ||
        out->p > PWHASH_P_MAX)
        return pf_err_set(err, PF_EINVAL, "password hash: p must be 1..%d", PWHASH_P_MAX);
    const char *dollar = memchr(p, '$', (size_t)(end - p));
    if (dollar == NULL)
        return pf_err_set(err, PF_EINVAL, "password hash: no hash after the salt");
    if (read_b64(p, (size_t)(dollar - p), out->salt, sizeof(out->salt), PWHASH_SALT_MIN,
                 PWHASH_SALT_MAX, &out->salt_len) != PF_OK)
        return pf_err_set(err, PF_EINVAL, "password hash: salt must be %d..%d bytes of base64url",
                          PWHASH_SALT_MIN, PWHASH_SALT_MAX);
    p = dollar + 1;
    if (read_b64(p, (size_t)(end - p), out->hash, sizeof(out->hash), PWHASH_HASH_MIN,
                 PWHASH_HASH_MAX, &out->hash_len) != PF_OK)
        return pf_err_set(err, PF_EINVAL, "password hash: hash must be %d..%d bytes of base64url",
                          PWHASH_HASH_MIN, PWHASH_HASH_MAX);
    return PF_OK;
}

int pwhash_parse(const char *text, size_t len, struct pwhash *out, struct pf_err *err)
{
    memset(out, 0, sizeof(*out));
    int rc = pwhash_parse_fields(text, len, out, err);
    if (rc != PF_OK)
        memset(out, 0, sizeof(*out));
    return rc;
}

uint64_t pwhash_mem_bytes(const struct pwhash *h)
{
    return 128u * (uint64_t)h->r * ((uint64_t)1 << h->ln) + 128u * (uint64_t)h->r * (uint64_t)h->p;
}

/* scrypt of <pass> into <out> of <out_len> bytes. Returns PF_OK or PF_EIO. */
static int pwhash_derive(const char *pass, size_t pass_len, int ln, int r, int p,
                         const uint8_t *salt, size_t salt_len, uint8_t *out, size_t out_len)
{
    EVP_KDF *kdf = EVP_KDF_fetch(NULL, "SCRYPT", NULL);
    EVP_KDF_CTX *kctx = kdf != NULL ? EVP_KDF_CTX_new(kdf) : NULL;
    EVP_KDF_free(kdf);
    if (kctx == NULL)
        return PF_EIO;
    uint64_t n = (uint64_t)1 << ln;
    uint32_t rr = (uint32_t)r, pp = (uint32_t)p;
    /* room for 1 GiB at the parse bound; the caller chose the cost */
    uint64_t maxmem = 128u * (uint64_t)r * n + 128u * (uint64_t)r * (uint64_t)p + (1u << 20);
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_PASSWORD, (void *)pass, pass_len),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *)salt, salt_len),
        OSSL_PARAM_construct_uint64(OSSL_KDF_PARAM_SCRYPT_N, &n),
        OSSL_PARAM_construct_uint32(OSSL_KDF_PARAM_SCRYPT_R, &rr),
        OSSL_PARAM_construct_uint32(OSSL_KDF_PARAM_SCRYPT_P, &pp),
        OSSL_PARAM_construct_uint64(OSSL_KDF_PARAM_SCRYPT_MAXMEM, &maxmem),
        OSSL_PARAM_construct_end(),
    };
    int ok = EVP_KDF_derive(kctx, out, out_len, params) == 1;
    EVP_KDF_CTX_free(kctx);
    return ok ? PF_OK : PF_EIO;
}

int pwhash_encode(const char *pass, size_t pass_len, int ln, int r, int p, const uint8_t *salt,
                  size_t salt_len, char *out, size_t out_len, struct pf_err *err)
{
    if (out_len > 0)
        out[0] = '\0';
    if (ln < 1 || ln > PWHASH_LN_MAX || r < 1 || r > PWHASH_R_MAX || p < 1 || p > PWHASH_P_MAX)
        return pf_err_set(err, PF_EINVAL, "scrypt cost out of bounds (ln 1..%d, r 1..%d, p 1..%d)",
                          PWHASH_LN_MAX, PWHASH_R_MAX, PWHASH_P_MAX);
    if (salt_len < PWHASH_SALT_MIN || salt_len > PWHASH_SALT_MAX)
        return pf_err_set(err, PF_EINVAL, "salt must be %d..%d bytes", PWHASH_SALT_MIN,
                          PWHASH_SALT_MAX);
    uint8_t h[PWHASH_OUT_LEN];
    if (pwhash_derive(pass, pass_len, ln, r, p, salt, salt_len, h, sizeof(h)) != PF_OK)
        return pf_err_set(err, PF_EIO, "scrypt failed (OpenSSL)");
    char s64[STR_BASE64URL_ENC_LEN(PWHASH_SALT_MAX)];
    char h64[STR_BASE64URL_ENC_LEN(PWHASH_OUT_LEN)];
    int rc = PF_OK;
    if (str_base64url_encode(salt, salt_len, s64, sizeof(s64)) != PF_OK ||
        str_base64url_encode(h, sizeof(h), h64, sizeof(h64)) != PF_OK)
        rc = pf_err_set(err, PF_EIO, "base64url encoding failed");
    OPENSSL_cleanse(h, sizeof(h));
    if (rc != PF_OK)
        return rc;
    int n = snprintf(out, out_len, PWHASH_PREFIX "ln=%d,r=%d,p=%d$%s$%s", ln, r, p, s64, h64);
    if (n < 0 || (size_t)n >= out_len) {
        if (out_len > 0)
            out[0] = '\0';
        return pf_err_set(err, PF_ERANGE, "password hash needs %d bytes", n + 1);
    }
    return PF_OK;
}

int pwhash_verify(const struct pwhash *h, const char *pass, size_t pass_len)
{
    uint8_t got[PWHASH_HASH_MAX];
    if (pwhash_derive(pass, pass_len, h->ln, h->r, h->p, h->salt, h->salt_len, got,
                      h->hash_len) != PF_OK)
        return PF_EIO;
    int ok = CRYPTO_memcmp(got, h->hash, h->hash_len) == 0;
    OPENSSL_cleanse(got, sizeof(got));
    return ok;
}
