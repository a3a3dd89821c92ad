/* Reads the fleet status model from Redis through the blocking client
 * (redis_client/redis): two pipelined round trips, the first for the
 * fleet-wide keys (lease, controller hash, providers, nodes, pool meta,
 * records, health, bans), the second for each provider's and node's hash. Every
 * value is decoded by fleet_decode (untrusted: a malformed one leaves its
 * figure unknown or its record counted bad, never fails the read); a key
 * of another type than the schema's (an error reply) fails the read with
 * a reason. Names that are not valid key names (a node id or provider name
 * put there by someone else) are listed, never used to build a key. */
#ifndef PF_FLEET_READ_H
#define PF_FLEET_READ_H

#include <stdint.h>

#include "err.h"
#include "fleet-t.h"
#include "keys.h"
#include "pf.h"

struct redis;

/* Reads into <f> (initialized here, then finished with
 * fleet_model_finish()) from <r> (borrowed; connected here when needed)
 * under <k>, as of wall clock <now_ms>. Returns PF_OK; PF_EIO with the
 * reason in <err> when Redis cannot be reached or answers out of step
 * (then <f> is empty); PF_ENOMEM. */
int fleet_read(struct redis *r, const struct keys *k, int64_t now_ms, struct fleet *f,
               struct pf_err *err) PF_MUSTCHECK;

/* Reads only the bans ({pf}:v1:bans) into <f> (initialized here; only
 * now_ms, prefix, redis_target and bans are set), as of <now_ms>. Returns
 * as fleet_read() does. */
int fleet_read_bans(struct redis *r, const struct keys *k, int64_t now_ms, struct fleet *f,
                    struct pf_err *err) PF_MUSTCHECK;

#endif
