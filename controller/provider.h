/* One configured provider: its poll timer, the last good upstream set with
 * expiry, and the counters written to {pf}:v1:provider:<name>.
 * A failed poll never empties the set: good upstreams stay until they expire.
 * Breakers and retry backoff (next issue) plug into provider_poll_done():
 * the outcome is classified there before the next poll is scheduled. */
#ifndef PF_PROVIDER_H
#define PF_PROVIDER_H

#include <stddef.h>
#include <stdint.h>

#include "conf.h"
#include "err.h"
#include "provider_parse.h"
#include "upstream-t.h"

struct event;
struct event_base;
struct fetch;
struct fetch_req;
struct provider;

#define PROVIDER_MAX_UPSTREAMS 20000   /* per provider and poll; more are rejected */

enum provider_state {
    PROVIDER_ST_OK = 0,          /* last poll good */
    PROVIDER_ST_FAILING,         /* last poll failed, will retry */
    PROVIDER_ST_FAILED,          /* fatal, not retried (used from the breaker issue on) */
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
    provider_update_cb  on_update;
    void               *arg;

    struct provider_entry *entries;        /* owned: last good set, sorted by id */
    size_t              nentries;

    enum provider_state state;
    const char         *breaker;           /* "closed" until breakers land */
    uint64_t            polls;             /* polls attempted */
    uint64_t            failures;          /* failed polls */
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

/* Schedules the first poll on the next loop turn. Returns PF_OK or PF_EIO. */
int provider_start(struct provider *p) PF_MUSTCHECK;

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

/* Records a failed poll with <reason> (sanitised here); the set is kept. */
void provider_apply_failure(struct provider *p, const char *reason, int64_t now_wall_ms);

/* Number of upstreams of <p> not expired at <now_wall_ms>. */
size_t provider_live_count(const struct provider *p, int64_t now_wall_ms);

/* "ok", "failing" or "failed". */
const char *provider_state_name(enum provider_state s);

/* Merges the unexpired upstreams of <ps>[0..<n>) at <now_wall_ms>: one per
 * id, the higher provider priority wins, then the earlier provider. Sets
 * <*out> to a malloc'd array (caller frees; entries borrowed from the
 * providers, valid until their next poll) sorted by id, and <*nout>.
 * Returns PF_OK or PF_ENOMEM. */
int provider_merge(struct provider *const *ps, size_t n, int64_t now_wall_ms,
                   const struct provider_entry ***out, size_t *nout) PF_MUSTCHECK;

#endif
