/* Upstream health, the pure part (docs/configuration.md "controller.health"):
 * the table of the merged pool's upstreams with their probe and passive
 * state, and the filter that keeps unhealthy and ejected upstreams out of
 * the published pool. No I/O, no clock, no logging: time comes in as
 * arguments; unit-tested in tests/unit/test_health.c. The shell (timers,
 * probes, Redis reads and writes) is health_check.h.
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
#include "fetch_error.h"
#include "upstream-t.h"

struct provider_entry;

#define HEALTH_EWMA_ALPHA      0.3
#define HEALTH_WINDOW_BUCKETS  10       /* the passive window is cut into this many slots */
#define HEALTH_REASON_MAX      128

/* The outcome of one probe. */
enum health_result {
    HEALTH_RES_OK = 0,
    HEALTH_RES_STATUS,          /* answered outside expect_status */
    HEALTH_RES_TIMEOUT,
    HEALTH_RES_CONNECT,         /* upstream refused or unreachable */
    HEALTH_RES_ERROR,           /* anything else: proxy refused, TLS, reset */
    HEALTH_RES_COUNT,
};

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
    int64_t  ban_until_ms;              /* wall clock: ejected for bans on many domains
                                           (ban_eject.h) until then; 0 = not */
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

/* 1 when <h> is not to be published at <now_ms> (unhealthy, ejected, or
 * banned on too many domains). */
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

/* The entries to publish: health_pool_filter() fills it, health_pool_deinit()
 * frees what it owns. */
struct health_pool {
    const struct provider_entry **es;   /* owned array; entries point into <copies> */
    struct provider_entry *copies;      /* owned: records carrying latency_ms */
    size_t   n;
    size_t   nover;                     /* bad upstreams kept by the cap */
};

/* health_table_filter() into arrays of its own: fills <out> with the
 * entries of <es>[0..<n>) (sorted, tracked) to publish at <now_ms>. No side
 * effects but the allocations: the table is read only. Returns PF_OK or
 * PF_ENOMEM (<out> is then empty). */
int health_pool_filter(const struct health_table *t, const struct provider_entry *const *es,
                       size_t n, int64_t now_ms, struct health_pool *out) PF_MUSTCHECK;

/* Frees what <p> owns and empties it (accepts NULL). */
void health_pool_deinit(struct health_pool *p);

/* The result of a probe that ended with <err> and, when it completed,
 * <http_status>: OK within [<expect_min>, <expect_max>], else STATUS;
 * TIMEOUT; CONNECT (upstream refused or unreachable); ERROR otherwise. */
enum health_result health_result_of(enum fetch_error err, long http_status, int expect_min,
                                    int expect_max);

/* "ok", "status", "timeout", "connect" or "error" (metric label). */
const char *health_result_name(enum health_result r);

#endif
