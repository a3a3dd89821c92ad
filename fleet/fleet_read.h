/* Reads the fleet status model from Redis through the blocking client
 * (redis_client/redis): two pipelined round trips, the first for the
 * fleet-wide keys (lease, controller hash, providers, nodes, pool meta,
 * records, health), the second for each provider's and node's hash. Every
 * value is decoded by fleet_decode (untrusted: a malformed one leaves its
 * figure unknown or its record counted bad, never fails the read). */
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

#endif
