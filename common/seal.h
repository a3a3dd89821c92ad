/* Sealed secrets: AES-256-GCM (OpenSSL EVP) under a 32-byte key read from
 * a file (redis.credential_key_file), so that upstream passwords are not
 * stored in Redis or in node snapshot files in clear (docs/redis-keys.md).
 *
 * Sealed text: "v1." + base64url without padding of
 *   nonce (12 random bytes, RAND_bytes) | ciphertext | tag (16 bytes)
 * The additional authenticated data (<aad>, e.g. the upstream id) is not
 * stored: the reader supplies it, so a sealed value copied into another
 * record fails to open.
 *
 * Deviation from STYLE.md rule 2 ("randomness comes in as arguments"): the
 * nonce comes from OpenSSL's CSPRNG inside seal_encrypt(); a GCM nonce must
 * never repeat under one key, so it is not left to the caller. */
#ifndef PF_SEAL_H
#define PF_SEAL_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "pf.h"

#define SEAL_KEY_LEN        32
#define SEAL_NONCE_LEN      12
#define SEAL_TAG_LEN        16
#define SEAL_PREFIX         "v1."
#define SEAL_PREFIX_LEN     3
#define SEAL_PLAINTEXT_MAX  512     /* longest secret sealed */
#define SEAL_RAW_MAX        (SEAL_NONCE_LEN + SEAL_PLAINTEXT_MAX + SEAL_TAG_LEN)
/* longest sealed text, NUL included: prefix + base64url of SEAL_RAW_MAX */
#define SEAL_TEXT_MAX       (SEAL_PREFIX_LEN + (SEAL_RAW_MAX + 2) / 3 * 4 + 1)
#define SEAL_KEY_FILE_MAX   4096    /* larger key files are refused */

struct seal_key {
    uint8_t bytes[SEAL_KEY_LEN];    /* secret; cleared by seal_key_destroy */
    int     is_mode_loose;          /* the file was group/world accessible (caller warns) */
};

/* Parses <len> bytes of <text>: 64 hex digits, surrounding whitespace
 * ignored, into <key>. Returns PF_OK or PF_EINVAL (<err> says why, never
 * echoing the text). <key> is cleared on error. */
int seal_key_parse_hex(struct seal_key *key, const char *text, size_t len,
                       struct pf_err *err) PF_MUSTCHECK;

/* Reads the key file <path> (a regular file of 64 hex digits plus
 * whitespace). Returns a malloc'd key (free with seal_key_destroy) or NULL
 * with a reason naming <path> in <err>. Sets is_mode_loose when the file
 * has any group or other permission bit. */
struct seal_key *seal_key_load(const char *path, struct pf_err *err);

/* Clears and frees <key> (accepts NULL). */
void seal_key_destroy(struct seal_key *key);

/* Seals <len> bytes of <plaintext> (1..SEAL_PLAINTEXT_MAX) under <key>,
 * bound to the NUL-terminated <aad>, into <out> (<out_len> bytes, NUL
 * terminated; SEAL_TEXT_MAX always suffices). Returns PF_OK, PF_ERANGE
 * (plaintext or output too long), or PF_EIO (OpenSSL failure). */
int seal_encrypt(const struct seal_key *key, const char *plaintext, size_t len, const char *aad,
                 char *out, size_t out_len, struct pf_err *err) PF_MUSTCHECK;

/* Opens <text_len> bytes of sealed <text> (untrusted) with <key> and <aad>
 * into <out> (<out_len> bytes), NUL terminated, its length in <*out_n>
 * (may be NULL). Returns PF_OK, PF_EINVAL (bad format: prefix, base64url,
 * length), PF_EDENIED (authentication failed: wrong key, wrong aad or
 * tampered), PF_ERANGE (<out> too small) or PF_EIO. <out> is cleared on
 * error. */
int seal_decrypt(const struct seal_key *key, const char *text, size_t text_len, const char *aad,
                 char *out, size_t out_len, size_t *out_n, struct pf_err *err) PF_MUSTCHECK;

/* HMAC-SHA256 under <key> of <len> bytes of <data>, its first 8 bytes as a
 * big-endian integer: a keyed fingerprint of a secret (the pool digest's
 * password part, common/pool_digest.h) that tells nothing without the key.
 * Returns 0 only when OpenSSL fails. */
uint64_t seal_mac64(const struct seal_key *key, const void *data, size_t len);

#endif
