/* One configured provider: its poll state machine, the last good upstream
 * set with expiry, and the counters written to {pf}:v1:provider:<name>.
 * A failed poll never empties the set: good upstreams stay until they expire.
 *
 * A poll is up to retry_attempts attempts. An attempt of a json provider
 * with json.next follows the next-page links of its answers, up to
 * max_pages pages and only within the origin of its URL (fetch_url_next());
 * the pages' upstreams count together, a page that fails fails the
 * attempt. Each attempt's outcome is classified by provider_answer_parse()
 * (enum provider_err_class): transient failures are retried within
 * the poll after a full-jitter backoff (a 429's Retry-After replaces the
 * delay, capped by retry_cap_ms); a fatal one (401/403, whitelist, bad key,
 * balance) ends the poll at once, sets state "failed" and parks the
 * provider for fatal_recheck_s. Every finished poll feeds the breaker
 * (common/breaker.h): while it is open no poll starts; half-open lets one
 * single-attempt probe poll through. Polls only run between
 * provider_start() and provider_stop() (while this controller leads). */
#ifndef PF_PROVIDER_H
#define PF_PROVIDER_H

#include <stddef.h>
#include <stdint.h>

#include "breaker.h"
#include "conf.h"
#include "err.h"
#include "line_format.h"
#include "provider_intake.h"
#include "rng.h"
#include "upstream-t.h"

struct event;
struct event_base;
struct fetch;
struct fetch_req;
struct provider;

#define PROVIDER_MAX_UPSTREAMS 20000   /* per provider and poll; more are rejected */
#define PROVIDER_SECRETS_MAX   16      /* secrets of a request kept for redaction */
#define PROVIDER_REJECT_LOG_MS 60000   /* at most one reject summary a minute */

/* The rejects of one poll, pages included, for its summary line. */
struct provider_rejects {
    size_t   n[PROVIDER_REJECT_COUNT];
    size_t   total;
    size_t   entries;                      /* entries examined */
    char     examples[PROVIDER_EXAMPLES_MAX][PROVIDER_EXAMPLE_LEN];
    size_t   nexamples;
};

enum provider_state {
    PROVIDER_ST_OK = 0,          /* last poll good */
    PROVIDER_ST_FAILING,         /* last poll failed, will retry */
    PROVIDER_ST_FAILED,          /* fatal, not retried until fatal_recheck_s or a reload */
};


/* One upstream of a provider with its Redis id, sorted by id in a set. */
struct provider_entry {
    char            id[UPSTREAM_ID_MAX];   /* addr_upstream_id() */
    struct upstream u;                     /* u.provider names the provider */
};

/* Runs after every poll (good or failed), from the event loop. */
typedef void (*provider_update_cb)(struct provider *p, void *arg);

struct provider {
    const struct conf_provider *conf;      /* borrowed from ctl_ctx->conf */
    int                 order;             /* index in the config: tie-break of merges */
    struct event_base  *base;              /* borrowed from ctl_ctx */
    struct fetch       *fetch;             /* borrowed from ctl_ctx */
    struct event       *timer;             /* owned: next poll */
    struct fetch_req   *req;               /* request in flight, owned by fetch; NULL when idle */
    struct source_file *file;              /* owned: type file only, created at its first poll */
    provider_update_cb  on_update;
    void               *arg;

    struct provider_entry *entries;        /* owned: last good set, sorted by id */
    size_t              nentries;

    struct line_format  line_format;       /* conf->line_format compiled */
    int                 has_line_format;
    char               *secrets_buf;       /* owned: the request's secrets, NUL-separated */
    const char         *secrets[PROVIDER_SECRETS_MAX]; /* into secrets_buf: API key, auth
                                              password, query values; redacted everywhere */
    size_t              nsecrets;

    unsigned            page;              /* 1-based page of the attempt in flight, 0 = none */
    char                page_url[CONF_URL_MAX]; /* the page being fetched (may hold a key) */
    struct upstream    *acc;               /* owned: upstreams of the attempt's earlier pages */
    size_t              nacc;
    size_t              acc_cap;
    char                page_error[PF_ERR_MSG_LEN]; /* first page without a usable entry */
    enum provider_err_class page_error_class;
    struct provider_rejects poll_rejects;  /* this poll's rejects, for the summary */
    int64_t             rejects_logged_at_ms; /* monotonic, 0 = never */
    int                 is_max_pages_logged; /* the "max_pages reached" warning was given */
    uint64_t            rejects_unlogged;  /* polls with rejects since the last summary */

    enum provider_state state;
    struct breaker      breaker;           /* per-provider circuit breaker */
    int                 is_running;        /* between provider_start() and provider_stop() */
    unsigned            attempt;           /* 0-based attempt of the poll in progress, 0 when idle */
    int                 is_probe;          /* the poll in progress is the half-open probe */
    int64_t             retry_after_ms;    /* last 429's Retry-After (capped), 0 = none */
    int64_t             next_poll_at_ms;   /* monotonic time the timer fires, 0 = not armed */
    int64_t             fatal_until_ms;    /* monotonic end of a fatal park, 0 = none */
    struct rng          rng;               /* retry jitter */
    uint64_t            polls;             /* polls attempted */
    uint64_t            failures;          /* failed polls */
    uint64_t            retries;           /* extra attempts within polls */
    uint64_t            attempt_failures[3]; /* failed attempts by enum provider_err_class */
    enum provider_err_class last_error_class; /* of the last failed poll */
    uint64_t            rejected[PROVIDER_REJECT_COUNT]; /* rejected entries, all polls */
    char                last_error[PF_ERR_MSG_LEN];      /* sanitised, "" = none */
    int64_t             last_error_at_ms;  /* wall clock, 0 = never */
    int64_t             last_success_at_ms;/* wall clock, 0 = never */
    int                 has_polled;        /* at least one poll finished */
    int                 is_dirty;          /* provider hash needs writing */
};

/* Creates the provider of <conf> (borrowed, must outlive it) number <order>.
 * <on_update>(<arg>) runs after each poll. Nothing happens until
 * provider_start(). Returns NULL on allocation failure. */
struct provider *provider_create(struct event_base *base, struct fetch *fetch,
                                 const struct conf_provider *conf, int order,
                                 provider_update_cb on_update, void *arg);

/* Cancels a poll in flight and frees <p> (accepts NULL). */
void provider_destroy(struct provider *p);

/* Starts polling: the first poll on the next loop turn (or when a fatal
 * park ends). Returns PF_OK or PF_EIO. */
int provider_start(struct provider *p) PF_MUSTCHECK;

/* Stops polling: cancels the timer and a request in flight; the upstream
 * set and counters are kept. Used when this controller stops leading. */
void provider_stop(struct provider *p);

/* Takes over what <old> (same name, being replaced by a config reload)
 * learned: its upstream set (moved: <old> keeps none) and counters. Breaker
 * and fatal state start afresh, so a reload re-checks failed providers. */
void provider_adopt(struct provider *p, struct provider *old);

/* Parses a Retry-After <value> (delta seconds or an HTTP-date, RFC 9110
 * 10.2.3) at <now_wall_ms>. Returns the delay in ms (0 for a past date), or
 * -1 when absent or malformed. */
int64_t provider_retry_after_ms(const char *value, int64_t now_wall_ms);

/* Writes <s> into <buf> of <len> with every secret of <p> (pieces of at
 * least PROVIDER_SECRET_MIN bytes) replaced by "(N bytes)", as clean UTF-8.
 * Every provider text that reaches a log line or Redis goes through it. */
void provider_redact(const struct provider *p, const char *s, char *buf, size_t len);

/* Parses the static list of <conf> into a fresh set: the same checks as a
 * poll. Used by --check-config. Returns PF_OK or PF_EINVAL with
 * "upstreams[<i>]: <reason>" in <err>. */
int provider_check_static(const struct conf_provider *conf, struct pf_err *err) PF_MUSTCHECK;

/* Records a good poll: <ups> (<n>, not owned) replace the set. Upstreams
 * without expiry get <now_wall_ms> + ttl_s, except that one already in the
 * set keeps its expiry while more than half the ttl remains, so an
 * unchanged list does not change the published snapshot at every poll.
 * Returns PF_OK or PF_ENOMEM (the old set is kept). */
int provider_apply_success(struct provider *p, const struct upstream *ups, size_t n,
                           int64_t now_wall_ms) PF_MUSTCHECK;

/* Records a failed poll of class <cls> with <reason> (the provider's
 * secrets redacted and the text made clean UTF-8 here); the set is kept. State becomes "failed" for PROVIDER_ERR_FATAL, else
 * "failing". */
void provider_apply_failure(struct provider *p, const char *reason, enum provider_err_class cls,
                            int64_t now_wall_ms);

/* Number of upstreams of <p> not expired at <now_wall_ms>. */
size_t provider_live_count(const struct provider *p, int64_t now_wall_ms);

/* "ok", "failing" or "failed". */
const char *provider_state_name(enum provider_state s);

/* Merges the unexpired upstreams of <ps>[0..<n>) at <now_wall_ms>: one per
 * id, the lower provider tier wins, then the higher priority, then the
 * earlier provider. Sets
 * <*out> to a malloc'd array (caller frees; entries borrowed from the
 * providers, valid until their next poll) sorted by id, and <*nout>.
 * Returns PF_OK or PF_ENOMEM. */
int provider_merge(struct provider *const *ps, size_t n, int64_t now_wall_ms,
                   const struct provider_entry ***out, size_t *nout) PF_MUSTCHECK;

#endif
