/* The pool digest: a 64-bit fingerprint of a whole pool that the controller
 * writes into pool:meta ("digest", docs/redis-keys.md) and a node computes
 * over the pool it built, so a node that applied changes from the pool log
 * (common/pool_delta.h) can tell it holds exactly the published pool.
 *
 * It is the sum (mod 2^64) of one digest per upstream, so it does not
 * depend on order, and a pool changed by a few entries needs only those
 * entries hashed again. An entry's digest covers every field of struct
 * upstream that a record carries. The password enters keyed: with a
 * credential key, as an HMAC-SHA256 under it (the digest in Redis then
 * gives no offline test of a guessed password); without one, in clear,
 * as the record itself holds it then. The controller and the nodes must
 * therefore agree on the key, as they must to read sealed records. */
#ifndef PF_POOL_DIGEST_H
#define PF_POOL_DIGEST_H

#include <stddef.h>
#include <stdint.h>

#include "pf.h"
#include "upstream-t.h"

struct seal_key;

#define POOL_DIGEST_HEX_LEN 16      /* the text form: 16 lower-case hex digits */

/* The digest of one upstream <u> (its id, address, credentials, provider,
 * expiry, weight, latency, tier and every label); <key> (NULL = none) keys the
 * password. Never 0 for a valid upstream only by chance; callers add it. */
uint64_t pool_digest_entry(const struct upstream *u, const struct seal_key *key);

/* Writes <d> as POOL_DIGEST_HEX_LEN hex digits plus NUL into <buf> of
 * <len> bytes. Returns PF_OK or PF_ERANGE. */
int pool_digest_format(uint64_t d, char *buf, size_t len) PF_MUSTCHECK;

/* Parses exactly POOL_DIGEST_HEX_LEN hex digits (either case) of <s> (<len>
 * bytes, untrusted) into <*out>. Returns PF_OK or PF_EINVAL. */
int pool_digest_parse(const char *s, size_t len, uint64_t *out) PF_MUSTCHECK;

#endif
