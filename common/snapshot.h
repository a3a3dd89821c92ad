/* The pool snapshot's record format: one JSON object per upstream, stored as
 * the value of {pf}:v1:pool:upstreams (docs/redis-keys.md). */
#ifndef PF_SNAPSHOT_H
#define PF_SNAPSHOT_H

#include <stddef.h>

#include "err.h"
#include "upstream-t.h"

/* Returns a malloc'd NUL-terminated JSON record for <u>; the caller frees it.
 * NULL on allocation failure. Empty user/pass are omitted. */
char *snapshot_record_encode(const struct upstream *u);

/* Parses a record of <len> bytes (untrusted: it comes from Redis) into <out>,
 * validating every field as addr_parse_upstream() would (scheme, host,
 * port range, string lengths). Returns PF_OK or PF_EINVAL with the field. */
int snapshot_record_decode(const char *json, size_t len, struct upstream *out,
                           struct pf_err *err) PF_MUSTCHECK;

#endif
