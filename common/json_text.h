/* Canonical text of a JSON scalar: the one form in which configured codes
 * and success values are compared with what a provider answered, so that
 * 0, "0" and 0.0 match, and true matches true. */
#ifndef PF_JSON_TEXT_H
#define PF_JSON_TEXT_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "pf.h"

/* Writes the canonical text of <v> into <buf> (<len> bytes): strings as
 * they are, integers without a fraction, other numbers as %.17g, "true",
 * "false", "null". Returns PF_OK, or PF_EINVAL for arrays, objects,
 * non-finite numbers and strings that do not fit. */
int json_scalar_text(const cJSON *v, char *buf, size_t len) PF_MUSTCHECK;

/* Adds member <name> = <value> to object <o>, written as the exact decimal
 * integer. cJSON_AddNumberToObject() prints with %.15g and keeps that form
 * when it reads back "close enough", so integers past 10^15 would lose their
 * last digits. Returns the new item, or NULL when out of memory. */
cJSON *json_add_int(cJSON *o, const char *name, int64_t value);

/* Characters of one string json_text_quote() keeps; the rest is cut. */
#define JSON_TEXT_QUOTE_MAX 1024

/* Writes the <len> bytes at <s> (untrusted: any bytes) as one JSON string,
 * quotes included, into <dst> of <dst_len> bytes, NUL-terminated: the text
 * goes through str_sanitize_text() (invalid UTF-8 becomes U+FFFD, control
 * characters ' ' or '?'), then '"' and '\\' are escaped. At most
 * JSON_TEXT_QUOTE_MAX characters are kept, and fewer when <dst> is short:
 * the string is cut at a character boundary and still closed, so the
 * result is always valid JSON when <dst_len> >= 3 ("" otherwise). Returns
 * the bytes written, NUL excluded. For log lines built without cJSON. */
size_t json_text_quote(const char *s, size_t len, char *dst, size_t dst_len);

#endif
