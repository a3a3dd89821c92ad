/* Small byte-string helpers shared by parsers: trimming, bounded copies,
 * percent-decoding, Base64 (HTTP Basic auth) and base64url (sealed
 * credentials) from one codec, and constant-time compare.
 * Pure: no allocation, no globals. */
#ifndef PF_STR_H
#define PF_STR_H

#include <stddef.h>

#include "pf.h"

/* Characters str_base64_encode() writes for <n> input bytes, plus the NUL. */
#define STR_BASE64_ENC_LEN(n) ((((n) + 2) / 3) * 4 + 1)

/* Maximum bytes str_base64_decode() writes for <n> input chars, plus a NUL. */
#define STR_BASE64_DEC_LEN(n) ((((n) + 3) / 4) * 3 + 1)

/* Returns 1 for ' ', '\t', '\r' and '\n'. */
int str_is_blank(int c);

/* Narrows <*s>/<*len> to skip leading and trailing blanks (str_is_blank). */
void str_trim(const char **s, size_t *len);

/* Copies <src_len> bytes of <src> into <dst> of <dst_len> bytes and
 * NUL-terminates. Returns PF_OK, or PF_ERANGE (and leaves "" in <dst>) when it
 * does not fit. */
int str_copy(char *dst, size_t dst_len, const char *src, size_t src_len) PF_MUSTCHECK;

/* Returns 1 when <len> bytes at <s> contain a NUL byte. */
int str_has_nul(const char *s, size_t len);

/* Percent-decodes <len> bytes of <s> ("%40" -> '@') into <dst> of <dst_len>
 * bytes, NUL-terminated; <*out_len> (may be NULL) gets the decoded length.
 * Returns PF_OK, PF_EINVAL for a malformed escape or one decoding to NUL,
 * or PF_ERANGE when the result does not fit. */
int str_pct_decode(const char *s, size_t len, char *dst, size_t dst_len,
                   size_t *out_len) PF_MUSTCHECK;

/* Base64-encodes (RFC 4648, with padding) <len> bytes at <src> into <dst> of
 * <dst_len> bytes, NUL-terminated; needs STR_BASE64_ENC_LEN(len) bytes.
 * Returns PF_OK or PF_ERANGE ("" in <dst> when <dst_len> > 0). */
int str_base64_encode(const void *src, size_t len, char *dst, size_t dst_len) PF_MUSTCHECK;

/* Decodes strict padded Base64 (RFC 4648, no blanks; "" decodes to "") of
 * <len> chars at <src> into <dst> of <dst_len> bytes, NUL-terminated;
 * <*out_len> (may be NULL) gets the byte count. Needs STR_BASE64_DEC_LEN(len).
 * Returns PF_OK, PF_EINVAL for bad input or PF_ERANGE when it does not fit. */
int str_base64_decode(const char *src, size_t len, void *dst, size_t dst_len,
                      size_t *out_len) PF_MUSTCHECK;

/* Characters str_base64url_encode() writes for <n> input bytes, plus the NUL. */
#define STR_BASE64URL_ENC_LEN(n) ((n) / 3 * 4 + ((n) % 3 == 0 ? 0 : (n) % 3 + 1) + 1)

/* base64url (RFC 4648 section 5) without padding: as str_base64_encode()
 * with "-_" for "+/" and no "=". Needs STR_BASE64URL_ENC_LEN(len) bytes.
 * Returns PF_OK or PF_ERANGE ("" in <dst> when <dst_len> > 0). */
int str_base64url_encode(const void *src, size_t len, char *dst, size_t dst_len) PF_MUSTCHECK;

/* Decodes strict unpadded base64url (only its alphabet, no "=", zero unused
 * bits in the last character) of <len> chars at <src> into <dst> of
 * <dst_len> bytes, NUL-terminated; <*out_len> (may be NULL) gets the byte
 * count. Returns PF_OK, PF_EINVAL for bad input (a length of 4n+1
 * included), or PF_ERANGE when the result and its NUL do not fit (checked
 * before any character is read). */
int str_base64url_decode(const char *src, size_t len, void *dst, size_t dst_len,
                         size_t *out_len) PF_MUSTCHECK;

/* Compares <a_len> bytes at <a> with <b_len> bytes at <b> in time that depends
 * only on <b_len> (pass the secret as <b>), not on where they differ.
 * Returns 1 when equal, 0 otherwise. */
int str_consttime_eq(const void *a, size_t a_len, const void *b, size_t b_len);

#endif
