/* Unit tests for common/seal.c: AES-256-GCM sealed secrets and key files. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "seal.h"

#define HEX_A "00112233445566778899aabbccddeeff00112233445566778899AABBCCDDEEFF"
#define HEX_B "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100"

static struct seal_key key_of(const char *hex)
{
    struct seal_key k;
    cr_assert_eq(seal_key_parse_hex(&k, hex, strlen(hex), NULL), PF_OK, "%s", hex);
    return k;
}

static void seal_ok(const struct seal_key *k, const char *pt, const char *aad, char *out,
                    size_t out_len)
{
    struct pf_err err = { 0 };
    cr_assert_eq(seal_encrypt(k, pt, strlen(pt), aad, out, out_len, &err), PF_OK, "%s", err.msg);
}

Test(seal, round_trip)
{
    static const char *const secrets[] = { "p", "pass word", "\xc3\xa9t\xc3\xa9", "x:y@z/%" };
    struct seal_key k = key_of(HEX_A);
    for (size_t i = 0; i < PF_ARRAY_LEN(secrets); i++) {
        char sealed[SEAL_TEXT_MAX], out[256];
        size_t n = 99;
        struct pf_err err = { 0 };
        seal_ok(&k, secrets[i], "http://h:1#0000", sealed, sizeof(sealed));
        cr_expect(strncmp(sealed, "v1.", 3) == 0, "%s", sealed);
        if (strlen(secrets[i]) > 3)   /* a 1-char secret may well be a base64 digit */
            cr_expect(strstr(sealed, secrets[i]) == NULL, "%s", sealed);
        cr_expect_eq(strspn(sealed + 3, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                        "0123456789-_"), strlen(sealed) - 3, "%s", sealed);
        cr_assert_eq(seal_decrypt(&k, sealed, strlen(sealed), "http://h:1#0000", out, sizeof(out),
                                  &n, &err), PF_OK, "case %zu: %s", i, err.msg);
        cr_expect_str_eq(out, secrets[i]);
        cr_expect_eq(n, strlen(secrets[i]));
    }
}

Test(seal, longest_secret_fits_text_max)
{
    struct seal_key k = key_of(HEX_A);
    static char pt[SEAL_PLAINTEXT_MAX + 2];
    char sealed[SEAL_TEXT_MAX], out[SEAL_PLAINTEXT_MAX + 1];
    memset(pt, 'q', SEAL_PLAINTEXT_MAX);
    pt[SEAL_PLAINTEXT_MAX] = '\0';
    seal_ok(&k, pt, "", sealed, sizeof(sealed));
    cr_expect_eq(seal_decrypt(&k, sealed, strlen(sealed), "", out, sizeof(out), NULL, NULL), PF_OK);
    cr_expect_str_eq(out, pt);
    pt[SEAL_PLAINTEXT_MAX] = 'q';
    pt[SEAL_PLAINTEXT_MAX + 1] = '\0';
    cr_expect_eq(seal_encrypt(&k, pt, strlen(pt), "", sealed, sizeof(sealed), NULL), PF_ERANGE);
    cr_expect_eq(seal_encrypt(&k, "", 0, "", sealed, sizeof(sealed), NULL), PF_ERANGE);
    cr_expect_eq(seal_encrypt(&k, "abc", 3, "", sealed, 10, NULL), PF_ERANGE);
    cr_expect_str_eq(sealed, "");
}

Test(seal, nonce_is_random)
{
    struct seal_key k = key_of(HEX_A);
    char s1[SEAL_TEXT_MAX], s2[SEAL_TEXT_MAX];
    seal_ok(&k, "same", "id", s1, sizeof(s1));
    seal_ok(&k, "same", "id", s2, sizeof(s2));
    cr_expect_str_neq(s1, s2);
}

Test(seal, wrong_key_and_wrong_aad)
{
    struct seal_key k = key_of(HEX_A), other = key_of(HEX_B);
    char sealed[SEAL_TEXT_MAX], out[64];
    struct pf_err err = { 0 };
    seal_ok(&k, "secret", "id-1", sealed, sizeof(sealed));
    cr_expect_eq(seal_decrypt(&other, sealed, strlen(sealed), "id-1", out, sizeof(out), NULL, &err),
                 PF_EDENIED);
    cr_expect(strstr(err.msg, "authentication failed") != NULL, "%s", err.msg);
    cr_expect_str_eq(out, "");
    cr_expect_eq(seal_decrypt(&k, sealed, strlen(sealed), "id-2", out, sizeof(out), NULL, &err),
                 PF_EDENIED);
    cr_expect_eq(seal_decrypt(&k, sealed, strlen(sealed), "", out, sizeof(out), NULL, &err),
                 PF_EDENIED);
    cr_expect_str_eq(out, "");
}

/* Flipping any one character of the encoding (nonce, ciphertext or tag)
 * fails authentication or the format check; it never opens. */
Test(seal, tampered_every_position)
{
    struct seal_key k = key_of(HEX_A);
    char sealed[SEAL_TEXT_MAX], out[64];
    seal_ok(&k, "secret", "id", sealed, sizeof(sealed));
    size_t len = strlen(sealed);
    for (size_t i = 0; i < len; i++) {
        char t[SEAL_TEXT_MAX];
        memcpy(t, sealed, len + 1);
        t[i] = t[i] == 'A' ? 'B' : 'A';
        int rc = seal_decrypt(&k, t, len, "id", out, sizeof(out), NULL, NULL);
        cr_expect(rc == PF_EDENIED || rc == PF_EINVAL, "pos %zu: rc %d", i, rc);
        cr_expect_str_eq(out, "");
    }
}

Test(seal, bad_format)
{
    struct seal_key k = key_of(HEX_A);
    char sealed[SEAL_TEXT_MAX], out[64];
    seal_ok(&k, "secret", "id", sealed, sizeof(sealed));
    size_t len = strlen(sealed);
    static const char *const bad[] = {
        "", "v1", "v1.", "v2.AAAA", "V1.AAAA", "v1.A", "v1.AAAA", "v1.AAAA=",
        "v1.AA AA", "v1.+/+/", "v1.\xff\xfe", "v1.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
    };
    for (size_t i = 0; i < PF_ARRAY_LEN(bad); i++) {
        struct pf_err err = { 0 };
        cr_expect_eq(seal_decrypt(&k, bad[i], strlen(bad[i]), "id", out, sizeof(out), NULL, &err),
                     PF_EINVAL, "case %zu", i);
        cr_expect(strncmp(err.msg, "sealed value: ", 14) == 0, "case %zu: %s", i, err.msg);
    }
    /* truncated: every proper prefix fails */
    for (size_t n = 0; n < len; n++) {
        int rc = seal_decrypt(&k, sealed, n, "id", out, sizeof(out), NULL, NULL);
        cr_expect(rc == PF_EINVAL || rc == PF_EDENIED, "prefix %zu: rc %d", n, rc);
    }
    /* too long for the decoder buffer */
    static char huge[4 * SEAL_TEXT_MAX];
    memset(huge, 'A', sizeof(huge) - 1);
    memcpy(huge, "v1.", 3);
    cr_expect_eq(seal_decrypt(&k, huge, strlen(huge), "id", out, sizeof(out), NULL, NULL),
                 PF_EINVAL);
    /* output buffer smaller than the secret */
    cr_expect_eq(seal_decrypt(&k, sealed, len, "id", out, 4, NULL, NULL), PF_ERANGE);
    /* non-canonical base64url: last char with stray low bits */
    char t[SEAL_TEXT_MAX];
    memcpy(t, sealed, len + 1);
    if ((len - 3) % 4 != 0) {
        t[len - 1] = 'B' + (t[len - 1] == 'B');
        cr_expect_neq(seal_decrypt(&k, t, len, "id", out, sizeof(out), NULL, NULL), PF_OK);
    }
}

Test(seal, key_hex_parsing)
{
    struct seal_key k;
    struct pf_err err = { 0 };
    cr_expect_eq(seal_key_parse_hex(&k, "  " HEX_A "\n", strlen(HEX_A) + 3, &err), PF_OK);
    cr_expect_eq(k.bytes[0], 0x00);
    cr_expect_eq(k.bytes[1], 0x11);
    cr_expect_eq(k.bytes[31], 0xff);
    cr_expect_eq(seal_key_parse_hex(&k, HEX_A "0", strlen(HEX_A) + 1, &err), PF_EINVAL);
    cr_expect(strstr(err.msg, "64 hex digits") != NULL, "%s", err.msg);
    cr_expect_eq(seal_key_parse_hex(&k, "abc", 3, &err), PF_EINVAL);
    cr_expect_eq(seal_key_parse_hex(&k, "", 0, &err), PF_EINVAL);
    char bad[] = HEX_A;
    bad[10] = 'g';
    cr_expect_eq(seal_key_parse_hex(&k, bad, strlen(bad), &err), PF_EINVAL);
    cr_expect(strstr(err.msg, "non-hex") != NULL, "%s", err.msg);
    cr_expect(strstr(err.msg, "gg") == NULL);
    bad[10] = ' ';
    cr_expect_eq(seal_key_parse_hex(&k, bad, strlen(bad), &err), PF_EINVAL);
}

static void write_file(const char *path, const char *text, mode_t mode)
{
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f, "%s", path);
    fputs(text, f);
    fclose(f);
    cr_assert_eq(chmod(path, mode), 0);
}

Test(seal, key_file_errors)
{
    char dir[] = "/tmp/pf-seal-XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    char path[256];
    struct pf_err err = { 0 };
    struct seal_key *k;

    snprintf(path, sizeof(path), "%s/key", dir);
    write_file(path, HEX_A "\n", 0600);
    k = seal_key_load(path, &err);
    cr_assert_not_null(k, "%s", err.msg);
    cr_expect_eq(k->is_mode_loose, 0);
    cr_expect_eq(k->bytes[31], 0xff);
    seal_key_destroy(k);

    write_file(path, HEX_A, 0644);
    k = seal_key_load(path, &err);
    cr_assert_not_null(k, "%s", err.msg);
    cr_expect_eq(k->is_mode_loose, 1);
    seal_key_destroy(k);

    write_file(path, "not a key\n", 0600);
    cr_expect_null(seal_key_load(path, &err));
    cr_expect(strstr(err.msg, path) != NULL, "%s", err.msg);
    cr_expect(strstr(err.msg, "hex") != NULL, "%s", err.msg);

    write_file(path, "", 0600);
    cr_expect_null(seal_key_load(path, &err));
    cr_expect(strstr(err.msg, path) != NULL, "%s", err.msg);

    static char big[SEAL_KEY_FILE_MAX + 10];
    memset(big, ' ', sizeof(big) - 1);
    write_file(path, big, 0600);
    cr_expect_null(seal_key_load(path, &err));
    cr_expect(strstr(err.msg, "larger") != NULL, "%s", err.msg);
    unlink(path);

    cr_expect_null(seal_key_load(path, &err));
    cr_expect(strstr(err.msg, path) != NULL && strstr(err.msg, "open failed") != NULL, "%s",
              err.msg);
    cr_expect_null(seal_key_load(dir, &err));
    cr_expect(strstr(err.msg, "not a regular file") != NULL, "%s", err.msg);
    cr_expect_null(seal_key_load("", &err));
    seal_key_destroy(NULL);
    rmdir(dir);
}
