/* Upstream health (docs/configuration.md "controller.health"): active probes
 * through every upstream of the merged pool, passive outcome counters of the
 * fleet's nodes, and the filter that keeps unhealthy and ejected upstreams
 * out of the published pool.
 *
 * Two layers:
 *   - the health table (struct health_table, health_table_* / health_up_*):
 *     pure state, time passed in, no I/O; unit-tested in tests/unit/test_health.c;
 *   - the shell (struct health, health_create ...): timers on the controller
 *     loop, probes on the shared libcurl multi of fetch, Redis reads and
 *     writes through the controller's Redis connection (redis.h).
 *
 * Choices:
 *   - a new upstream is "unknown" and published at once; it leaves the pool
 *     only after <fall> failed probes in a row (an unhealthy one comes back
 *     after <rise> good ones). Unknown turns healthy on its first good probe.
 *   - unhealthy and ejected upstreams stay in the table and keep being probed.
 *   - at most max_ejection_percent of the pool (rounded down) is excluded,
 *     active and passive together: a probe URL outage must not empty the pool.
 *     When more are bad than that, the ones with the most failures in a row
 *     stay out and the others are published anyway (logged).
 *   - latency_ms in the pool record is the probe EWMA (alpha 0.3), rounded up
 *     to >= 1 ms; it is republished only when it moves by more than 25% (and
 *     2 ms), so the snapshot version does not bump at every probe round. */
#ifndef PF_HEALTH_H
#define PF_HEALTH_H

#include <stddef.h>
#include <stdint.h>

#include "conf.h"
#include "upstream-t.h"

struct event_base;
struct evbuffer;
struct fetch;
struct health;
struct keys;
struct provider_entry;
struct redis;

#define HEALTH_EWMA_ALPHA      0.3
#define HEALTH_WINDOW_BUCKETS  10       /* the passive window is cut into this many slots */
#define HEALTH_REASON_MAX      128

enum health_state {
    HEALTH_UNKNOWN = 0,         /* never probed (or active probes off): published */
    HEALTH_HEALTHY,             /* published */
    HEALTH_UNHEALTHY,           /* <fall> failed probes in a row: not published */
};

/* The numbers of conf_health the table needs. */
struct health_params {
    int      rise;
    int      fall;
    int      max_ejection_percent;      /* 0..100 */
    int64_t  window_ms;                 /* passive window */
    double   failure_ratio;
    uint64_t min_requests;
    int64_t  ejection_ms;
    int64_t  ejection_max_ms;
};

struct health_bucket {
    int64_t  slot;                      /* now_ms / (window_ms / BUCKETS) it counts for */
    uint64_t attempts;
    uint64_t failures;
};

/* One upstream of the merged pool. */
struct health_up {
    char     id[UPSTREAM_ID_MAX];
    struct upstream u;                  /* last record seen; credentials to probe with */
    enum health_state state;
    unsigned successes;                 /* consecutive good probes */
    unsigned failures;                  /* consecutive failed probes */
    double   latency_ewma_ms;           /* 0 = no sample yet */
    uint32_t latency_published_ms;      /* what goes into the pool record, 0 = unknown */
    int64_t  checked_at_ms;             /* wall clock of the last probe result, 0 = never */
    char     reason[HEALTH_REASON_MAX]; /* last probe failure, sanitised, "" = none */
    int64_t  ejected_until_ms;          /* wall clock; 0 = not ejected */
    unsigned ejections;                 /* passive ejections so far: grows the time */
    struct health_bucket win[HEALTH_WINDOW_BUCKETS];
    int      is_queued;                 /* waiting for a probe slot */
    int      is_probing;                /* probe in flight */
};

/* The upstreams being watched, sorted by id. */
struct health_table {
    struct health_params params;
    struct health_up **ups;             /* owned array of owned records */
    size_t   n;
    size_t   cap;
};

/* ---- pure table ------------------------------------------------------------ */

/* Fills <p> from <c>. */
void health_params_from_conf(struct health_params *p, const struct conf_health *c);

/* Initialises <t> empty with <params>. */
void health_table_init(struct health_table *t, const struct health_params *params);

/* Frees what <t> owns (accepts NULL). */
void health_table_deinit(struct health_table *t);

/* Returns the record of <id> or NULL. */
struct health_up *health_table_find(const struct health_table *t, const char *id);

/* Makes the table hold exactly the ids of <es>[0..<n>) (sorted by id, as
 * provider_merge() gives): new ones start unknown, known ones keep their
 * state and take the new record, gone ones are freed. Returns PF_OK or
 * PF_ENOMEM (the table is unchanged). */
int health_table_track(struct health_table *t, const struct provider_entry *const *es,
                       size_t n) PF_MUSTCHECK;

/* Records a probe result on <h> at <now_ms>: <is_ok>, <latency_ms> (ok only)
 * and <reason> (failure only; copied, may be NULL). Returns 1 when the
 * upstream's state changed, else 0. */
int health_up_probe_result(struct health_up *h, const struct health_params *p, int is_ok,
                           double latency_ms, const char *reason, int64_t now_ms);

/* Updates the latency that goes into the pool record from the EWMA, with the
 * hysteresis described above. Returns 1 when it changed. */
int health_up_latency_refresh(struct health_up *h);

/* health_up_latency_refresh() on every upstream of <t>. Returns 1 when any
 * published latency changed. Called at most once per
 * latency_publish_interval_ms: with hundreds of upstreams some latency
 * always crosses the hysteresis, and each change is a new pool version that
 * every node reloads. */
int health_table_refresh_latencies(struct health_table *t);

/* Adds passive outcome deltas to <h>'s window at <now_ms>. */
void health_up_passive_add(struct health_up *h, const struct health_params *p,
                           uint64_t attempts, uint64_t failures, int64_t now_ms);

/* Sums <h>'s window at <now_ms> into <*attempts> and <*failures>. */
void health_up_window_sum(const struct health_up *h, const struct health_params *p,
                          int64_t now_ms, uint64_t *attempts, uint64_t *failures);

/* Ejection time for the <nth> ejection (1 = first): ejection_ms x nth, capped. */
int64_t health_ejection_ms(const struct health_params *p, unsigned nth);

/* How many of <n> upstreams health may exclude: n x max_ejection_percent / 100,
 * rounded down. */
size_t health_max_excluded(const struct health_params *p, size_t n);

/* 1 when <h> is not to be published at <now_ms> (unhealthy or ejected). */
int health_up_is_excluded(const struct health_up *h, int64_t now_ms);

/* Called by health_table_passive_eval() for each upstream it ejects
 * (<is_ejected> 1) or lets back (0). */
typedef void (*health_eject_fn)(const struct health_up *h, int is_ejected, void *arg);

/* Passive evaluation at <now_ms>: ejections that ended are lifted, then the
 * upstreams whose window holds >= min_requests attempts with a failure ratio
 * >= failure_ratio are ejected, worst ratio first, while fewer than
 * health_max_excluded() are excluded. An ejected upstream's window is
 * cleared. <fn> (may be NULL) hears of each change. Returns the number of
 * upstreams ejected or let back. */
size_t health_table_passive_eval(struct health_table *t, int64_t now_ms, health_eject_fn fn,
                                 void *arg);

/* Filters <es>[0..<n>) (sorted, tracked) for publishing at <now_ms>: writes
 * to <out> (room for <n>) the entries to publish in order, pointing at
 * copies of the records in <copies> (room for <n>) that carry latency_ms,
 * and sets <*nout>. Excluded entries are dropped, at most
 * health_max_excluded(n): past that the ones with the most failed probes in
 * a row stay out; <*nover> (may be NULL) is set to how many bad ones were
 * kept. Returns PF_OK or PF_ENOMEM. */
int health_table_filter(const struct health_table *t, const struct provider_entry *const *es,
                        size_t n, int64_t now_ms, struct provider_entry *copies,
                        const struct provider_entry **out, size_t *nout, size_t *nover) PF_MUSTCHECK;

/* "unknown", "healthy" or "unhealthy". */
const char *health_state_name(enum health_state s);

/* Returns the malloc'd JSON of {pf}:v1:health for <h> at <now_ms>
 * (docs/redis-keys.md); caller frees. NULL on allocation failure. */
char *health_up_encode(const struct health_up *h, const struct health_params *p, int64_t now_ms);

/* ---- shell ------------------------------------------------------------------ */

/* Runs when the published set (or a latency) may have changed. */
typedef void (*health_change_cb)(void *arg);

/* Creates the health checker of <conf> on <base>, probing through <fetch>'s
 * multi handle and using the Redis connection <redis> with <keys>; all borrowed
 * and outliving it. Timers start at once; nothing is probed until
 * health_filter_pool() has tracked a pool. Returns NULL on failure. */
struct health *health_create(struct event_base *base, struct fetch *fetch, struct redis *redis,
                             const struct keys *keys, const struct conf_health *conf,
                             health_change_cb on_change, void *arg);

/* Only a leader probes, reads node counters and writes {pf}:v1:health
 * (a standby must not delete the leader's entries). Stepping down (<is_leader>
 * 0) cancels probes and forgets all state; becoming leader starts afresh
 * (the first passive round is a baseline again). Starts as not leader. */
void health_set_leader(struct health *h, int is_leader);

/* Cancels probes in flight and frees <h> (accepts NULL). Call before
 * fetch_destroy(). */
void health_destroy(struct health *h);

/* The merge step of a publish: tracks <*es>[0..<*n>) (sorted by id) and
 * replaces it by the entries to publish. Takes ownership of <*es> (frees it,
 * also on error) and sets <*es> to a new malloc'd array (caller frees) whose
 * entries point into <*copies>, a malloc'd array the caller frees after the
 * publish. Returns PF_OK or PF_ENOMEM (then <*es> is NULL, <*n> 0). */
int health_filter_pool(struct health *h, const struct provider_entry ***es, size_t *n,
                       struct provider_entry **copies, int64_t now_wall_ms) PF_MUSTCHECK;

/* Appends the health metrics (Prometheus text) to <b> at <now_wall_ms>. */
void health_metrics(const struct health *h, struct evbuffer *b, int64_t now_wall_ms);

#endif
