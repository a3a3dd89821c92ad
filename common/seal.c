/* Sealed secrets; see seal.h. */
#include "seal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "str.h"

/* ---- key ------------------------------------------------------------------ */

static int seal_hex_val(unsigned char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

int seal_key_parse_hex(struct seal_key *key, const char *text, size_t len, struct pf_err *err)
{
    size_t b = 0, e = len;
    memset(key, 0, sizeof(*key));
    while (b < e && str_is_blank((unsigned char)text[b]))
        b++;
    while (e > b && str_is_blank((unsigned char)text[e - 1]))
        e--;
    if (e - b != 2 * SEAL_KEY_LEN)
        return pf_err_set(err, PF_EINVAL, "must hold exactly %d hex digits (found %zu characters)",
                          2 * SEAL_KEY_LEN, e - b);
    for (size_t i = 0; i < SEAL_KEY_LEN; i++) {
        int hi = seal_hex_val((unsigned char)text[b + 2 * i]);
        int lo = seal_hex_val((unsigned char)text[b + 2 * i + 1]);
        if (hi < 0 || lo < 0) {
            OPENSSL_cleanse(key, sizeof(*key));
            return pf_err_set(err, PF_EINVAL, "non-hex character at offset %zu",
                              b + 2 * i + (hi < 0 ? 0 : 1));
        }
        key->bytes[i] = (uint8_t)(hi << 4 | lo);
    }
    return PF_OK;
}

struct seal_key *seal_key_load(const char *path, struct pf_err *err)
{
    char buf[SEAL_KEY_FILE_MAX + 1];
    struct seal_key *key = NULL;
    struct stat st;
    size_t len = 0;
    int fd = -1;

    if (path == NULL || path[0] == '\0') {
        pf_err_set(err, PF_EINVAL, "credential key file: empty path");
        return NULL;
    }
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        pf_err_set(err, PF_EIO, "credential key file %s: open failed: %s", path, strerror(errno));
        goto fail;
    }
    if (fstat(fd, &st) != 0) {
        pf_err_set(err, PF_EIO, "credential key file %s: stat failed: %s", path, strerror(errno));
        goto fail;
    }
    if (!S_ISREG(st.st_mode)) {
        pf_err_set(err, PF_EINVAL, "credential key file %s: not a regular file", path);
        goto fail;
    }
    for (;;) {
        ssize_t n = read(fd, buf + len, sizeof(buf) - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            pf_err_set(err, PF_EIO, "credential key file %s: read failed: %s", path,
                       strerror(errno));
            goto fail;
        }
        if (n == 0)
            break;
        len += (size_t)n;
        if (len > SEAL_KEY_FILE_MAX) {
            pf_err_set(err, PF_EINVAL, "credential key file %s: larger than %d bytes", path,
                       SEAL_KEY_FILE_MAX);
            goto fail;
        }
    }
    key = malloc(sizeof(*key));
    if (key == NULL) {
        pf_err_set(err, PF_ENOMEM, "credential key file %s: out of memory", path);
        goto fail;
    }
    if (seal_key_parse_hex(key, buf, len, err) != PF_OK) {
        pf_err_prefix(err, "credential key file %s: ", path);
        goto fail;
    }
    key->is_mode_loose = (st.st_mode & (S_IRWXG | S_IRWXO)) != 0;
    OPENSSL_cleanse(buf, sizeof(buf));
    close(fd);
    return key;

fail:
    OPENSSL_cleanse(buf, sizeof(buf));
    seal_key_destroy(key);
    if (fd >= 0)
        close(fd);
    return NULL;
}

void seal_key_destroy(struct seal_key *key)
{
    if (key == NULL)
        return;
    OPENSSL_cleanse(key, sizeof(*key));
    free(key);
}

/* ---- AES-256-GCM ------------------------------------------------------------ */

int seal_encrypt(const struct seal_key *key, const char *plaintext, size_t len, const char *aad,
                 char *out, size_t out_len, struct pf_err *err)
{
    uint8_t raw[SEAL_RAW_MAX];
    EVP_CIPHER_CTX *cx = NULL;
    size_t aad_len = strlen(aad);
    int n = 0, fin = 0;
    int rc = PF_EIO;

    if (out_len > 0)
        out[0] = '\0';
    if (len == 0 || len > SEAL_PLAINTEXT_MAX)
        return pf_err_set(err, PF_ERANGE, "seal: secret must be 1..%d bytes", SEAL_PLAINTEXT_MAX);
    if (aad_len > INT32_MAX || out_len < SEAL_PREFIX_LEN + 1)
        return pf_err_set(err, PF_ERANGE, "seal: output buffer too small");
    if (RAND_bytes(raw, SEAL_NONCE_LEN) != 1)
        return pf_err_set(err, PF_EIO, "seal: RAND_bytes failed");
    cx = EVP_CIPHER_CTX_new();
    if (cx == NULL ||
        EVP_EncryptInit_ex(cx, EVP_aes_256_gcm(), NULL, NULL, NULL) != 1 ||
        EVP_CIPHER_CTX_ctrl(cx, EVP_CTRL_GCM_SET_IVLEN, SEAL_NONCE_LEN, NULL) != 1 ||
        EVP_EncryptInit_ex(cx, NULL, NULL, key->bytes, raw) != 1 ||
        (aad_len > 0 && EVP_EncryptUpdate(cx, NULL, &n, (const uint8_t *)aad, (int)aad_len) != 1) ||
        EVP_EncryptUpdate(cx, raw + SEAL_NONCE_LEN, &n, (const uint8_t *)plaintext,
                          (int)len) != 1 ||
        (size_t)n != len ||
        EVP_EncryptFinal_ex(cx, raw + SEAL_NONCE_LEN + n, &fin) != 1 || fin != 0 ||
        EVP_CIPHER_CTX_ctrl(cx, EVP_CTRL_GCM_GET_TAG, SEAL_TAG_LEN,
                            raw + SEAL_NONCE_LEN + len) != 1) {
        pf_err_set(err, PF_EIO, "seal: AES-256-GCM encryption failed");
        goto out;
    }
    memcpy(out, SEAL_PREFIX, SEAL_PREFIX_LEN);
    if (str_base64url_encode(raw, SEAL_NONCE_LEN + len + SEAL_TAG_LEN, out + SEAL_PREFIX_LEN,
                             out_len - SEAL_PREFIX_LEN) != PF_OK) {
        out[0] = '\0';
        rc = pf_err_set(err, PF_ERANGE, "seal: output buffer too small");
        goto out;
    }
    rc = PF_OK;
out:
    EVP_CIPHER_CTX_free(cx);
    OPENSSL_cleanse(raw, sizeof(raw));
    return rc;
}

int seal_decrypt(const struct seal_key *key, const char *text, size_t text_len, const char *aad,
                 char *out, size_t out_len, size_t *out_n, struct pf_err *err)
{
    uint8_t raw[SEAL_RAW_MAX + 1];   /* + the NUL str_base64url_decode() adds */
    EVP_CIPHER_CTX *cx = NULL;
    size_t aad_len = strlen(aad);
    int n = 0, fin = 0;
    int rc;

    if (out_n != NULL)
        *out_n = 0;
    if (out_len > 0)
        out[0] = '\0';
    if (text == NULL || text_len < SEAL_PREFIX_LEN || memcmp(text, SEAL_PREFIX, SEAL_PREFIX_LEN) != 0)
        return pf_err_set(err, PF_EINVAL, "sealed value: unknown format (expected \"%s\" prefix)",
                          SEAL_PREFIX);
    size_t raw_len = 0;
    rc = str_base64url_decode(text + SEAL_PREFIX_LEN, text_len - SEAL_PREFIX_LEN, raw,
                              sizeof(raw), &raw_len);
    if (rc == PF_ERANGE)
        return pf_err_set(err, PF_EINVAL, "sealed value: longer than %d bytes", SEAL_RAW_MAX);
    if (rc != PF_OK)
        return pf_err_set(err, PF_EINVAL, "sealed value: bad base64url");
    if (raw_len < SEAL_NONCE_LEN + SEAL_TAG_LEN + 1)
        return pf_err_set(err, PF_EINVAL, "sealed value: truncated (%zu bytes)", raw_len);
    size_t ct_len = raw_len - SEAL_NONCE_LEN - SEAL_TAG_LEN;
    if (ct_len + 1 > out_len)
        return pf_err_set(err, PF_ERANGE, "sealed value: secret longer than %zu bytes",
                          out_len > 0 ? out_len - 1 : 0);
    if (aad_len > INT32_MAX)
        return pf_err_set(err, PF_ERANGE, "sealed value: associated data too long");
    cx = EVP_CIPHER_CTX_new();
    if (cx == NULL ||
        EVP_DecryptInit_ex(cx, EVP_aes_256_gcm(), NULL, NULL, NULL) != 1 ||
        EVP_CIPHER_CTX_ctrl(cx, EVP_CTRL_GCM_SET_IVLEN, SEAL_NONCE_LEN, NULL) != 1 ||
        EVP_DecryptInit_ex(cx, NULL, NULL, key->bytes, raw) != 1 ||
        (aad_len > 0 && EVP_DecryptUpdate(cx, NULL, &n, (const uint8_t *)aad, (int)aad_len) != 1) ||
        EVP_DecryptUpdate(cx, (uint8_t *)out, &n, raw + SEAL_NONCE_LEN, (int)ct_len) != 1 ||
        (size_t)n != ct_len ||
        EVP_CIPHER_CTX_ctrl(cx, EVP_CTRL_GCM_SET_TAG, SEAL_TAG_LEN,
                            raw + SEAL_NONCE_LEN + ct_len) != 1) {
        rc = pf_err_set(err, PF_EIO, "sealed value: AES-256-GCM decryption failed");
        goto fail;
    }
    if (EVP_DecryptFinal_ex(cx, (uint8_t *)out + n, &fin) != 1 || fin != 0) {
        rc = pf_err_set(err, PF_EDENIED, "sealed value: authentication failed "
                        "(wrong credential key, moved to another record, or tampered)");
        goto fail;
    }
    out[ct_len] = '\0';
    if (out_n != NULL)
        *out_n = ct_len;
    EVP_CIPHER_CTX_free(cx);
    OPENSSL_cleanse(raw, sizeof(raw));
    return PF_OK;

fail:
    EVP_CIPHER_CTX_free(cx);
    OPENSSL_cleanse(raw, sizeof(raw));
    OPENSSL_cleanse(out, out_len);
    return rc;
}

/* ---- HMAC ------------------------------------------------------------------- */

uint64_t seal_mac64(const struct seal_key *key, const void *data, size_t len)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;
    uint64_t v = 0;

    if (HMAC(EVP_sha256(), key->bytes, SEAL_KEY_LEN, data, len, md, &md_len) == NULL ||
        md_len < 8)
        return 0;
    for (int i = 0; i < 8; i++)
        v = (v << 8) | md[i];
    OPENSSL_cleanse(md, sizeof(md));
    return v;
}
