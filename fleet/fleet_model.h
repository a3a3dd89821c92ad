/* The fleet status model's derived figures, pure (no I/O, no clock): what
 * fleet_read() gathered becomes node states, pool lag and the pool summary
 * (fleet_model_finish), requests and 5xx rates from two reads
 * (fleet_rates), and the --check verdict (fleet_check). */
#ifndef PF_FLEET_MODEL_H
#define PF_FLEET_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "fleet-t.h"
#include "pf.h"

/* An empty model read at wall clock <now_ms> (figures unknown). */
void fleet_init(struct fleet *f, int64_t now_ms);

/* Frees what <f> owns (accepts NULL); <f> is empty afterwards. */
void fleet_deinit(struct fleet *f);

/* Derives, as of f->now_ms: each node's state (up: hash present and its
 * heartbeat at most 2 report intervals old; stale: older; gone: listed,
 * hash expired), age and report interval (TTL + age = 3 intervals), pool
 * lag (versions behind pool:meta in the same epoch; milliseconds between
 * the publish it lacks and its latest heartbeat that still lacked it, so a
 * report written before the publish never counts); the pool groups by
 * provider, tier, label and health, and the sort orders fleet-t.h names.
 * Returns PF_OK or PF_ENOMEM. */
int fleet_model_finish(struct fleet *f) PF_MUSTCHECK;

/* Fills the rates of <now>'s nodes from the same nodes in <before> (an
 * earlier read): requests and 5xx responses per second between their two
 * heartbeats, when both carry the counters, the later heartbeat is newer
 * and the node did not restart in between (counters went down). */
void fleet_rates(struct fleet *now, const struct fleet *before);

/* The limits of fleet_check(). */
struct fleet_check_limits {
    int64_t max_lag_versions;     /* a live node more versions behind fails */
    int64_t max_lag_ms;           /* a live node behind (or on another epoch) this long fails */
};

/* The --check verdict on <f> (finished): PF_OK when healthy, else
 * PF_EINVAL with a one-line reason in <why> (<len> bytes), the first of: no
 * leader; no pool in Redis; empty pool; a provider's breaker open; a live
 * node lagging beyond <lim>. */
int fleet_check(const struct fleet *f, const struct fleet_check_limits *lim, char *why,
                size_t len) PF_MUSTCHECK;

#endif
