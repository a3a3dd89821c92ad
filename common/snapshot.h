/* The pool snapshot's record format: one JSON object per upstream, stored as
 * the value of {pf}:v1:pool:upstreams (docs/redis-keys.md). */
#ifndef PF_SNAPSHOT_H
#define PF_SNAPSHOT_H

#include <stddef.h>

#include "err.h"
#include "upstream-t.h"

struct seal_key;

/* Returns a malloc'd NUL-terminated JSON record for <u>; the caller frees it.
 * NULL on allocation or sealing failure. Empty user/pass are omitted, and
 * so are "tier" when 0 and "labels" when all are empty (records without
 * them are what older controllers wrote and still decode the same). With
 * <key> (borrowed; NULL = none) the password is written sealed
 * ("pass_sealed", common/seal.h, bound to the upstream id), else in clear
 * ("pass"). */
char *snapshot_record_encode(const struct upstream *u, const struct seal_key *key);

/* Clears (it may hold a password in clear) and frees record <rec> from
 * snapshot_record_encode() (accepts NULL). */
void snapshot_record_free(char *rec);

/* Parses a record of <len> bytes (untrusted: it comes from Redis) into <out>,
 * validating every field as addr_parse_upstream() would (scheme, host,
 * port range, string lengths; "tier" 0..UPSTREAM_TIER_MAX, default 0;
 * "labels" strings of clean UTF-8). Unknown members are ignored. A clear "pass" is accepted with or without
 * <key> (records written before sealing); "pass_sealed" is opened with <key>
 * and is an error when <key> is NULL or wrong, or the value was moved from
 * another upstream, so such a record is never used with an empty password.
 * Returns PF_OK or PF_EINVAL with the field. */
int snapshot_record_decode(const char *json, size_t len, const struct seal_key *key,
                           struct upstream *out, struct pf_err *err) PF_MUSTCHECK;

#endif
