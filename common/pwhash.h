/* Password hashes of the users kept in Redis ({pf}:v1:users,
 * docs/redis-keys.md): scrypt (RFC 7914) through OpenSSL 3's EVP_KDF
 * "SCRYPT", in one self-describing string
 *
 *     $scrypt$ln=<log2 N>,r=<r>,p=<p>$<salt>$<hash>
 *
 * where salt (8..64 bytes) and hash (16..64 bytes) are unpadded base64url.
 * The string is parsed strictly (it comes from Redis, so it is untrusted:
 * fuzz/fuzz_pwhash.c): exact field order, no blanks, decimal numbers
 * without leading zeros, every bound checked before any work is done.
 * Pure: the salt comes in as bytes (the caller draws it), no logging, no
 * globals (tests/unit/test_pwhash.c). */
#ifndef PF_PWHASH_H
#define PF_PWHASH_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "pf.h"

#define PWHASH_SALT_MIN   8
#define PWHASH_SALT_MAX   64
#define PWHASH_HASH_MIN   16
#define PWHASH_HASH_MAX   64
#define PWHASH_LN_MAX     20         /* N = 2^20: 1 GiB at r=8; the parse bound */
#define PWHASH_R_MAX      32
#define PWHASH_P_MAX      16
#define PWHASH_TEXT_MAX   256        /* the longest string this module writes or accepts */

/* The recommended cost of a new hash: N = 2^12, r = 8, p = 1 (4 MiB). A
 * node verifies a (user, password) pair once and caches the result, so the
 * cost is paid per new password, not per request; but it is paid on the
 * node's event loop, so it stays modest (docs/scrapers.md, "Users and
 * limits"). */
#define PWHASH_DEFAULT_LN 12
#define PWHASH_DEFAULT_R  8
#define PWHASH_DEFAULT_P  1

/* A parsed hash string. */
struct pwhash {
    int      ln;                     /* log2 of N, 1..PWHASH_LN_MAX */
    int      r;                      /* block size, 1..PWHASH_R_MAX */
    int      p;                      /* parallelism, 1..PWHASH_P_MAX */
    uint8_t  salt[PWHASH_SALT_MAX];
    size_t   salt_len;
    uint8_t  hash[PWHASH_HASH_MAX];
    size_t   hash_len;
};

/* Parses <len> bytes at <text> (no NUL needed) into <out>. Returns PF_OK,
 * or PF_EINVAL with a reason in <err> that names the part, never quoting
 * the input. */
int pwhash_parse(const char *text, size_t len, struct pwhash *out, struct pf_err *err) PF_MUSTCHECK;

/* The memory scrypt needs for <h>: 128 * r * N bytes (plus p blocks). */
uint64_t pwhash_mem_bytes(const struct pwhash *h);

/* Hashes password <pass> of <pass_len> bytes with cost <ln>, <r>, <p> and
 * salt <salt> of <salt_len> bytes into a 32-byte hash, and writes the
 * string into <out> of <out_len> bytes (PWHASH_TEXT_MAX is enough).
 * Returns PF_OK, PF_EINVAL (a cost or the salt out of bounds), PF_ERANGE
 * (<out> too small) or PF_EIO (OpenSSL failed), with a reason in <err>. */
int pwhash_encode(const char *pass, size_t pass_len, int ln, int r, int p, const uint8_t *salt,
                  size_t salt_len, char *out, size_t out_len, struct pf_err *err) PF_MUSTCHECK;

/* Checks password <pass> of <pass_len> bytes against <h>: scrypt with its
 * cost and salt, then one constant-time compare. Returns 1 on a match, 0
 * on a mismatch, PF_EIO when OpenSSL failed (e.g. out of memory). */
int pwhash_verify(const struct pwhash *h, const char *pass, size_t pass_len);

#endif
