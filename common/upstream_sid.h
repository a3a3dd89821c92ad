/* The upstream's short id: 12 lowercase hex characters naming one upstream
 * to clients (node.upstream_header, the access log, bans), the same on
 * every node, and revealing neither its address nor its user.
 *
 * It is 48 bits of SipHash-2-4 of the upstream id (the pool record's id,
 * "scheme://[user@]host:port") under a 128-bit fleet key. Nodes that share
 * redis.credential_key_file derive the key from it
 * (upstream_sid_key_derive()), so nobody without that file can confirm a
 * guessed address by hashing it; without one the key is all zeros: still
 * opaque to the eye and stable across the fleet, but a guessed address
 * and user can be checked against it (docs/scrapers.md says so).
 * Pure: no globals, no allocation (tests/unit/test_upstream_sid.c). */
#ifndef PF_UPSTREAM_SID_H
#define PF_UPSTREAM_SID_H

#include <stddef.h>
#include <stdint.h>

#define UPSTREAM_SID_KEY_LEN 16
#define UPSTREAM_SID_LEN     13     /* 12 hex characters and the NUL */

struct upstream_sid_key {
    uint8_t bytes[UPSTREAM_SID_KEY_LEN];
};

/* SipHash-2-4 of <len> bytes at <data> under <key>. */
uint64_t upstream_sid_siphash(const struct upstream_sid_key *key, const void *data, size_t len);

/* Derives the short-id key from secret <secret> of <len> bytes (the
 * credential key) into <out>: one-way, so the short ids reveal nothing of
 * the secret. <secret> NULL or <len> 0 gives the all-zero key. */
void upstream_sid_key_derive(const uint8_t *secret, size_t len, struct upstream_sid_key *out);

/* The short id of upstream id <up_id> under <key> (NULL = all zeros), into
 * <buf> of <len> >= UPSTREAM_SID_LEN bytes ("" when <len> is too small). */
void upstream_sid_format(const struct upstream_sid_key *key, const char *up_id, char *buf,
                         size_t len);

/* 1 when <s> has the short id shape: exactly 12 of [0-9a-f]. */
int upstream_sid_is_valid(const char *s);

#endif
