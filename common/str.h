/* Small byte-string helpers shared by parsers: trimming, bounded copies,
 * percent-decoding, Base64 (HTTP Basic auth) and base64url (sealed
 * credentials) from one codec, constant-time compare and the one sanitizer
 * of untrusted text (str_sanitize_text) that every message quoting outside
 * input goes through. Pure: no allocation, no globals. */
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

/* Bytes one replacement character of str_sanitize_text() takes (U+FFFD). */
#define STR_REPLACEMENT_LEN 3

/* Writes <len> bytes of untrusted text at <s> into <dst> of <dst_len> as
 * valid UTF-8 without control characters:
 *   - a byte that does not begin a well-formed UTF-8 sequence (a stray
 *     continuation byte, an overlong form, a surrogate, a code point above
 *     U+10FFFF, a sequence cut short) becomes U+FFFD, one per byte;
 *   - tab, CR and LF become ' '; every other C0 control, DEL and the C1
 *     controls (U+0080..U+009F) become '?';
 *   - everything else is copied unchanged (so "请添加白名单" stays readable).
 * At most <max_chars> characters are written (0 = no limit). The output
 * stops early rather than cut a character, so it is always valid UTF-8, and
 * it is always NUL-terminated when <dst_len> > 0. Returns the bytes written,
 * NUL excluded. */
size_t str_sanitize_text(const char *s, size_t len, size_t max_chars, char *dst, size_t dst_len);

/* Returns 1 when <len> bytes at <s> are valid UTF-8 holding no control
 * character (what str_sanitize_text() always produces), else 0. */
int str_is_clean_text(const char *s, size_t len);

/* Length of the longest prefix of the <len> bytes at <s> that does not end
 * inside a UTF-8 sequence: <len> itself unless the text ends with the first
 * bytes of a multi-byte character. Used to cut text without splitting one. */
size_t str_utf8_cut(const char *s, size_t len);

/* snprintf() at buf + *o that never moves *o past len - 1: a line built in
 * steps is cut at the end of <buf>, never overrun. */
void str_appendf(char *buf, size_t len, size_t *o, const char *fmt, ...) PF_PRINTF(4, 5);

#endif
