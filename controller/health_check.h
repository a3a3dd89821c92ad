/* The health checker: the shell around the health table (health.h). Timers
 * on the controller loop, active probes through every upstream on the
 * shared libcurl multi of fetch, passive outcome counters read from the
 * nodes' hashes, and {pf}:v1:health written, all through the controller's
 * Redis connection (redis.h). Only a leader probes, reads and writes.
 *
 * The sync loop drives it at each merge, in this order:
 *   health_check_track()      the table follows the merged pool;
 *   health_pool_filter()      on health_check_table(): pure, what to publish;
 *   health_check_note_cap()   logs when the cap keeps bad upstreams;
 *   health_check_probe_new()  new upstreams get their first probe now. */
#ifndef PF_HEALTH_CHECK_H
#define PF_HEALTH_CHECK_H

#include <stddef.h>
#include <stdint.h>

#include "conf.h"
#include "health.h"
#include "hist.h"
#include "pf.h"
#include "upstream_sid.h"

struct event_base;
struct fetch;
struct health_check;
struct keys;
struct provider_entry;
struct redis;

/* Runs when the published set (or a latency) may have changed. */
typedef void (*health_change_cb)(void *arg);

/* Creates the health checker of <conf> on <base>, probing through <fetch>'s
 * multi handle and using the Redis connection <redis> with <keys>; all
 * borrowed and outliving it. Timers start at once; nothing is probed until
 * health_check_track() has tracked a pool. Returns NULL on failure. */
struct health_check *health_check_create(struct event_base *base, struct fetch *fetch,
                                         struct redis *redis, const struct keys *keys,
                                         const struct conf_health *conf,
                                         health_change_cb on_change, void *arg);

/* Only a leader probes, reads node counters and writes {pf}:v1:health
 * (a standby must not delete the leader's entries). Stepping down (<is_leader>
 * 0) cancels probes and forgets all state; becoming leader starts afresh
 * (the first passive round is a baseline again). Starts as not leader. */
void health_check_set_leader(struct health_check *h, int is_leader);

/* Cancels probes in flight and frees <h> (accepts NULL). Call before
 * fetch_destroy(). */
void health_check_destroy(struct health_check *h);

/* The merge step: the table tracks <es>[0..<n>) (sorted by id): new
 * upstreams start unknown, gone ones are forgotten, and {pf}:v1:health is
 * due for a rewrite when the set changed. Starts no probe. Returns PF_OK or
 * PF_ENOMEM (the table is unchanged). */
int health_check_track(struct health_check *h, const struct provider_entry *const *es,
                       size_t n) PF_MUSTCHECK;

/* The table, for health_pool_filter(). */
const struct health_table *health_check_table(const struct health_check *h);

/* Hears that a filter of <n> upstreams kept <nover> bad ones because of
 * max_ejection_percent: logged at warn when that count changes. */
void health_check_note_cap(struct health_check *h, size_t nover, size_t n);

/* Queues a first probe of every upstream never probed and starts what the
 * concurrency allows (when a round has drained, this may also write
 * {pf}:v1:health). */
void health_check_probe_new(struct health_check *h);

/* The checker's counters (controller_metrics.c reads them). */
struct health_check_stats {
    uint64_t    probes_total[HEALTH_RES_COUNT]; /* probes by result */
    struct hist latency;                        /* of successful probes (us) */
    uint64_t    ejections_total;                /* passive ejections */
    uint64_t    passive_rounds;                 /* passive rounds run */
    uint64_t    passive_bad_values;             /* node counters that did not parse */
    uint64_t    ban_ejections_total;            /* upstreams ejected for bans on many domains */
    uint64_t    ban_ejected;                    /* upstreams ejected for bans now */
    uint64_t    ban_bad_records;                /* ban records that did not parse */
};

/* Upstreams' short ids are derived under <key> (copied; upstream_sid.h):
 * the bans name upstreams by them. The all-zero key until set. */
void health_check_set_sid_key(struct health_check *h, const struct upstream_sid_key *key);

/* <h>'s counters (owned by <h>). */
const struct health_check_stats *health_check_get_stats(const struct health_check *h);

/* Probes in flight now. */
size_t health_check_inflight(const struct health_check *h);

#endif
