/* The health checker: the shell around the health table (health.h); see
 * health_check.h. */
#include "health_check.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "ban.h"
#include "ban_eject.h"
#include "clock.h"
#include "fetch.h"
#include "keys.h"
#include "log.h"
#include "passive.h"
#include "provider.h"
#include "redis.h"

struct check_probe {
    struct health_check *h;          /* borrowed: the owner */
    struct fetch_req    *req;        /* owned by fetch until the callback */
    char                 id[UPSTREAM_ID_MAX];
    struct check_probe  *prev, *next;
};

struct health_check {
    struct event_base        *base;      /* borrowed from ctl_ctx */
    struct fetch             *fetch;     /* borrowed from ctl_ctx */
    struct redis             *redis;     /* borrowed from ctl_ctx */
    const struct keys        *keys;      /* borrowed from ctl_ctx */
    const struct conf_health *conf;      /* borrowed from ctl_ctx->conf */
    health_change_cb          on_change;
    void                     *arg;
    struct health_table       table;
    struct passive            passive;
    struct event             *probe_ev;  /* owned: persistent probe round timer; NULL without url */
    struct event             *passive_ev;/* owned: persistent passive round timer; NULL without passive */
    struct check_probe       *probes;    /* owned list of probes in flight */
    size_t                    inflight;
    size_t                    scan_from; /* table index the queue scan resumes at */
    int                       is_leader; /* only a leader probes, reads and writes */
    int                       is_dirty;  /* {pf}:v1:health needs a write */
    int                       is_latency_changed; /* a first latency was measured this round */
    int64_t                   latency_refreshed_at_ms; /* mono: last refresh of every latency */
    size_t                    last_nover;/* bad upstreams kept by the cap at the last filter */
    struct upstream_sid_key   sid_key;   /* short ids, as the bans name upstreams */
    struct health_check_stats stats;     /* the figures (controller_metrics.c) */
};

static void check_changed(struct health_check *h)
{
    if (h->on_change != NULL)
        h->on_change(h->arg);
}

/* Writes every record to {pf}:v1:health and removes fields of upstreams no
 * longer tracked. Keeps is_dirty set when Redis is not there. */
static void check_write(struct health_check *h)
{
    int64_t now = clock_wall_ms();
    size_t n = h->table.n;
    const char **argv = NULL;
    char **vals = NULL;
    struct redis_reply *r = NULL;

    if (!redis_is_connected(h->redis) || !h->is_leader)
        return;
    if (n > 0) {
        argv = calloc(2 + 2 * n, sizeof(*argv));
        vals = calloc(n, sizeof(*vals));
        if (argv == NULL || vals == NULL)
            goto out;
        argv[0] = "HSET";
        argv[1] = h->keys->health;
        for (size_t i = 0; i < n; i++) {
            vals[i] = health_up_encode(h->table.ups[i], &h->table.params, now);
            if (vals[i] == NULL)
                goto out;
            argv[2 + 2 * i] = h->table.ups[i]->id;
            argv[3 + 2 * i] = vals[i];
        }
        r = redis_command(h->redis, "HSET health", (int)(2 + 2 * n), argv, NULL);
        if (r == NULL)
            goto out;
        redis_reply_free(r);
    }
    const char *hkeys[] = { "HKEYS", h->keys->health };
    r = redis_command(h->redis, "HKEYS health", 2, hkeys, NULL);
    if (r == NULL)
        goto out;
    if (redis_reply_type(r) == REDIS_TYPE_ARRAY) {
        size_t nstale = 0, nkeys = redis_reply_count(r);
        const char **del = calloc(2 + nkeys, sizeof(*del));
        if (del != NULL) {
            del[0] = "HDEL";
            del[1] = h->keys->health;
            for (size_t i = 0; i < nkeys; i++) {
                const struct redis_reply *e = redis_reply_element(r, i);
                const char *id = redis_reply_type(e) == REDIS_TYPE_STRING
                                 ? redis_reply_str(e, NULL) : NULL;
                if (id != NULL && health_table_find(&h->table, id) == NULL)
                    del[2 + nstale++] = id;
            }
            if (nstale > 0)
                redis_reply_free(redis_command(h->redis, "HDEL health", (int)(2 + nstale), del,
                                               NULL));
            free(del);
        }
    }
    redis_reply_free(r);
    h->is_dirty = 0;

out:
    if (vals != NULL)
        for (size_t i = 0; i < n; i++)
            free(vals[i]);
    free(vals);
    free(argv);
}

static const char *check_scheme_name(enum upstream_scheme s)
{
    switch (s) {
    case UPSTREAM_HTTP:    return "http";
    case UPSTREAM_HTTPS:   return "https";
    case UPSTREAM_SOCKS5:  return "socks5";
    case UPSTREAM_SOCKS5H: return "socks5h";
    }
    return "http";
}

static void check_pump(struct health_check *h);

static void check_probe_done(struct fetch_req *req, const struct fetch_result *res, void *arg)
{
    struct check_probe *pr = arg;
    struct health_check *h = pr->h;
    enum health_result kind = health_result_of(res->err, res->http_status,
                                               h->conf->expect_status_min,
                                               h->conf->expect_status_max);
    double lat_ms = (double)fetch_req_total_us(req) / 1000.0;
    char reason[HEALTH_REASON_MAX];

    if (pr->prev != NULL)
        pr->prev->next = pr->next;
    else
        h->probes = pr->next;
    if (pr->next != NULL)
        pr->next->prev = pr->prev;
    h->inflight--;
    h->stats.probes_total[kind]++;
    if (kind == HEALTH_RES_OK) {
        hist_add(&h->stats.latency, fetch_req_total_us(req));
        reason[0] = '\0';
    } else if (kind == HEALTH_RES_STATUS) {
        snprintf(reason, sizeof(reason), "status %ld", res->http_status);
    } else {
        snprintf(reason, sizeof(reason), "%s", res->error[0] != '\0' ? res->error : "failed");
    }

    struct health_up *u = health_table_find(&h->table, pr->id);
    if (u != NULL) {
        enum health_state before = u->state;
        u->is_probing = 0;
        int is_changed = health_up_probe_result(u, &h->table.params, kind == HEALTH_RES_OK,
                                                lat_ms, reason, clock_wall_ms());
        /* A first measurement is published at once; later moves wait for
         * the periodic refresh at the end of a round. */
        if (u->latency_published_ms == 0 && health_up_latency_refresh(u))
            h->is_latency_changed = 1;
        h->is_dirty = 1;
        if (kind != HEALTH_RES_OK)
            log_debug("health: probe through %s failed (%u in a row): %s", u->id, u->failures,
                      reason);
        if (is_changed) {
            log_info("health: upstream %s %s -> %s%s%s", u->id, health_state_name(before),
                     health_state_name(u->state), u->state == HEALTH_UNHEALTHY ? ": " : "",
                     u->state == HEALTH_UNHEALTHY ? u->reason : "");
            check_changed(h);
        }
    }
    free(pr);
    check_pump(h);
}

/* Starts a probe of <u>. Returns PF_OK or PF_ENOMEM. */
static int check_probe_start(struct health_check *h, struct health_up *u)
{
    struct check_probe *pr = calloc(1, sizeof(*pr));
    char proxy_url[UPSTREAM_HOST_MAX + 32];
    int is_v6 = u->u.host_kind == UPSTREAM_HOST_IPV6;

    if (pr == NULL)
        return PF_ENOMEM;
    pr->h = h;
    snprintf(pr->id, sizeof(pr->id), "%s", u->id);
    snprintf(proxy_url, sizeof(proxy_url), "%s://%s%s%s:%u", check_scheme_name(u->u.scheme),
             is_v6 ? "[" : "", u->u.host, is_v6 ? "]" : "", (unsigned)u->u.port);
    struct fetch_proxy proxy = { proxy_url, u->u.user, u->u.pass, h->conf->proxy_ca_file };
    struct fetch_opts opts = {
        .timeout_ms = h->conf->timeout_ms,
        .connect_timeout_ms = h->conf->timeout_ms,
        .max_body_bytes = 0,
    };
    pr->req = fetch_start_via(h->fetch, h->conf->url, &opts, &proxy, check_probe_done, pr);
    if (pr->req == NULL) {
        free(pr);
        return PF_ENOMEM;
    }
    pr->next = h->probes;
    if (h->probes != NULL)
        h->probes->prev = pr;
    h->probes = pr;
    h->inflight++;
    u->is_probing = 1;
    return PF_OK;
}

/* Starts queued probes up to the concurrency cap; writes the health hash
 * when a round has drained. */
static void check_pump(struct health_check *h)
{
    while (h->inflight < (size_t)h->conf->concurrency && h->scan_from < h->table.n) {
        struct health_up *u = h->table.ups[h->scan_from++];
        if (!u->is_queued)
            continue;
        u->is_queued = 0;
        if (check_probe_start(h, u) != PF_OK) {
            log_warn("health: cannot start a probe through %s, skipped this round", u->id);
            h->stats.probes_total[HEALTH_RES_ERROR]++;
        }
    }
    if (h->inflight == 0 && h->scan_from >= h->table.n) {
        int64_t now = clock_mono_ms();
        if (now - h->latency_refreshed_at_ms >= h->conf->latency_publish_interval_ms) {
            h->latency_refreshed_at_ms = now;
            if (health_table_refresh_latencies(&h->table))
                h->is_latency_changed = 1;
        }
        if (h->is_latency_changed) {
            h->is_latency_changed = 0;
            check_changed(h);
        }
        if (h->is_dirty)
            check_write(h);
    }
}

/* Queues every upstream not already being probed (or, with <is_new_only>,
 * those never probed) and starts what the cap allows. */
static void check_queue(struct health_check *h, int is_new_only)
{
    if (h->conf->url[0] == '\0' || !h->is_leader)
        return;
    for (size_t i = 0; i < h->table.n; i++) {
        struct health_up *u = h->table.ups[i];
        if (u->is_probing || u->is_queued)
            continue;
        if (is_new_only && u->checked_at_ms != 0)
            continue;
        u->is_queued = 1;
    }
    h->scan_from = 0;
    check_pump(h);
}

static void check_probe_cb(evutil_socket_t fd, short what, void *arg)
{
    struct health_check *h = arg;

    (void)fd;
    (void)what;
    check_queue(h, 0);
}

static void check_delta(const char *upstream_id, uint64_t attempts, uint64_t failures, void *arg)
{
    struct health_check *h = arg;
    struct health_up *u = health_table_find(&h->table, upstream_id);

    /* Counts for upstreams outside the pool are of no use. */
    if (u != NULL)
        health_up_passive_add(u, &h->table.params, attempts, failures, clock_wall_ms());
}

static void check_eject_log(const struct health_up *u, int is_ejected, void *arg)
{
    struct health_check *h = arg;

    if (is_ejected) {
        h->stats.ejections_total++;
        log_info("health: upstream %s ejected for %" PRId64 " ms (ejection %u): fleet failure "
                 "ratio over %.2f", u->id, u->ejected_until_ms - clock_wall_ms(), u->ejections,
                 h->table.params.failure_ratio);
    } else {
        log_info("health: upstream %s back from ejection", u->id);
    }
}

/* Reads one node's outcome hash. Returns PF_OK, PF_EIO (connection gone)
 * or PF_ENOMEM. */
static int check_read_node(struct health_check *h, const char *node_id)
{
    char key[KEYS_NAME_MAX + PASSIVE_NODE_ID_MAX + 16];
    struct passive_count *cur = NULL;
    size_t n = 0;

    if (keys_node_upstreams(h->keys, node_id, key, sizeof(key)) != PF_OK)
        return PF_OK;
    const char *argv[] = { "HGETALL", key };
    struct redis_reply *r = redis_command(h->redis, "HGETALL node upstreams", 2, argv, NULL);
    if (r == NULL)
        return PF_EIO;
    size_t nel = redis_reply_count(r);
    if (nel >= 2) {
        cur = calloc(nel / 2, sizeof(*cur));
        if (cur == NULL) {
            redis_reply_free(r);
            return PF_ENOMEM;
        }
        for (size_t i = 0; i + 1 < nel; i += 2) {
            const struct redis_reply *f = redis_reply_element(r, i);
            const struct redis_reply *v = redis_reply_element(r, i + 1);
            size_t flen = 0, vlen = 0;
            const char *fs = redis_reply_type(f) == REDIS_TYPE_STRING ? redis_reply_str(f, &flen) : NULL;
            const char *vs = redis_reply_type(v) == REDIS_TYPE_STRING ? redis_reply_str(v, &vlen) : NULL;
            if (fs == NULL || vs == NULL || flen >= UPSTREAM_ID_MAX ||
                passive_parse_value(vs, vlen, &cur[n].attempts, &cur[n].failures) != PF_OK) {
                h->stats.passive_bad_values++;
                continue;
            }
            memcpy(cur[n].id, fs, flen);
            cur[n].id[flen] = '\0';
            n++;
        }
    }
    redis_reply_free(r);
    return passive_node_update(&h->passive, node_id, cur, n, check_delta, h) == PF_ENOMEM
           ? PF_ENOMEM : PF_OK;
}

/* Bans on many domains (passive.bans_eject_domains): reads the fleet bans
 * and sets each tracked upstream's ban_until_ms (ban_eject.h). Returns
 * 1 when an upstream was ejected or let back. Nothing changes when
 * Redis does not answer. */
static int check_read_bans(struct health_check *h, int64_t now)
{
    int max = h->conf->passive.bans_eject_domains;
    const char *argv[] = { "HGETALL", h->keys->bans };
    struct redis_reply *r = redis_command(h->redis, "HGETALL bans", 2, argv, NULL);
    if (r == NULL)
        return 0;
    size_t nel = redis_reply_count(r), n = 0, nej = 0;
    struct ban_eject_ban *bans = calloc(nel / 2 + 1, sizeof(*bans));
    struct ban_eject *ej = calloc(nel / 2 + 1, sizeof(*ej));
    struct ban b;
    struct pf_err err;
    if (bans == NULL || ej == NULL) {
        free(bans);
        free(ej);
        redis_reply_free(r);
        return 0;
    }
    for (size_t i = 1; i < nel; i += 2) {
        const struct redis_reply *v = redis_reply_element(r, i);
        size_t vlen = 0;
        const char *vs = redis_reply_type(v) == REDIS_TYPE_STRING ? redis_reply_str(v, &vlen) : NULL;
        pf_err_clear(&err);
        if (vs == NULL || ban_record_parse(vs, vlen, &b, &err) != PF_OK) {
            h->stats.ban_bad_records++;
            continue;
        }
        if (b.session[0] != '\0')
            continue;           /* a session's trouble, not the address's */
        memcpy(bans[n].sid, b.upstream, sizeof(bans[n].sid));
        memcpy(bans[n].domain, b.domain, sizeof(bans[n].domain));
        bans[n].expires_at_ms = b.expires_at_ms;
        n++;
    }
    redis_reply_free(r);
    nej = ban_eject_compute(bans, n, max, now, ej);
    int changed = 0;
    uint64_t nout = 0;
    for (size_t i = 0; i < h->table.n; i++) {
        struct health_up *u = h->table.ups[i];
        char sid[UPSTREAM_SID_LEN];
        upstream_sid_format(&h->sid_key, u->id, sid, sizeof(sid));
        const struct ban_eject *e = ban_eject_find(ej, nej, sid);
        int64_t old = u->ban_until_ms;  /* past when its bans expired since the last round */
        u->ban_until_ms = e != NULL ? e->until_ms : 0;
        if (e != NULL)
            nout++;
        if (e != NULL && old <= now) {
            h->stats.ban_ejections_total++;
            log_info("health: upstream %s (%s) ejected: fleet bans on %d domains (over "
                     "bans_eject_domains %d) until %" PRId64 " ms from now", u->id, sid,
                     e->ndomains, max, e->until_ms - now);
            changed = 1;
        } else if (e == NULL && old != 0) {
            log_info("health: upstream %s (%s) back: its bans cover %d domains at most", u->id,
                     sid, max);
            changed = 1;
        }
    }
    h->stats.ban_ejected = nout;
    free(bans);
    free(ej);
    return changed;
}

void health_check_set_sid_key(struct health_check *h, const struct upstream_sid_key *key)
{
    h->sid_key = *key;
}

static void check_passive_cb(evutil_socket_t fd, short what, void *arg)
{
    struct health_check *h = arg;
    int64_t now = clock_wall_ms();
    char min[24];
    int rc = PF_OK;

    (void)fd;
    (void)what;
    if (!redis_is_connected(h->redis) || !h->is_leader)
        return;
    snprintf(min, sizeof(min), "%" PRId64, now - h->conf->passive.node_max_age_ms);
    const char *argv[] = { "ZRANGEBYSCORE", h->keys->nodes, min, "+inf" };
    struct redis_reply *r = redis_command(h->redis, "ZRANGEBYSCORE nodes", 4, argv, NULL);
    if (r == NULL)
        return;
    passive_round_begin(&h->passive);
    for (size_t i = 0; i < redis_reply_count(r) && rc == PF_OK; i++) {
        const struct redis_reply *e = redis_reply_element(r, i);
        const char *node = redis_reply_type(e) == REDIS_TYPE_STRING ? redis_reply_str(e, NULL) : NULL;
        if (node == NULL || !keys_valid_name(node))
            continue;
        rc = check_read_node(h, node);
    }
    redis_reply_free(r);
    if (rc != PF_OK) {
        /* A partial round must not forget the nodes it did not reach. */
        h->passive.is_in_round = 0;
        return;
    }
    passive_round_end(&h->passive);
    h->stats.passive_rounds++;
    int is_changed = h->conf->passive.bans_eject_domains > 0 && check_read_bans(h, now);
    if (health_table_passive_eval(&h->table, clock_wall_ms(), check_eject_log, h) > 0 || is_changed)
        check_changed(h);
    h->is_dirty = 1;
    if (h->inflight == 0)
        check_write(h);
}

static int check_timer(struct health_check *h, struct event **ev, int interval_ms,
                        event_callback_fn cb)
{
    struct timeval tv = { interval_ms / 1000, (interval_ms % 1000) * 1000 };

    *ev = event_new(h->base, -1, EV_PERSIST, cb, h);
    if (*ev == NULL || event_add(*ev, &tv) != 0)
        return PF_ENOMEM;
    return PF_OK;
}

struct health_check *health_check_create(struct event_base *base, struct fetch *fetch,
                                         struct redis *redis, const struct keys *keys,
                                         const struct conf_health *conf,
                                         health_change_cb on_change, void *arg)
{
    struct health_check *h = calloc(1, sizeof(*h));
    struct health_params params;

    if (h == NULL)
        return NULL;
    h->base = base;
    h->fetch = fetch;
    h->redis = redis;
    h->keys = keys;
    h->conf = conf;
    h->on_change = on_change;
    h->arg = arg;
    health_params_from_conf(&params, conf);
    health_table_init(&h->table, &params);
    passive_init(&h->passive);
    if (conf->url[0] != '\0' &&
        check_timer(h, &h->probe_ev, conf->interval_ms, check_probe_cb) != PF_OK)
        goto fail;
    if (conf->passive.is_enabled &&
        check_timer(h, &h->passive_ev, conf->passive.interval_ms, check_passive_cb) != PF_OK)
        goto fail;
    return h;

fail:
    health_check_destroy(h);
    return NULL;
}

static void check_cancel_probes(struct health_check *h)
{
    while (h->probes != NULL) {
        struct check_probe *pr = h->probes;
        h->probes = pr->next;
        fetch_cancel(h->fetch, pr->req);
        free(pr);
    }
    h->inflight = 0;
}

void health_check_set_leader(struct health_check *h, int is_leader)
{
    if (h == NULL || h->is_leader == !!is_leader)
        return;
    struct health_params params = h->table.params;
    h->is_leader = !!is_leader;
    check_cancel_probes(h);
    health_table_deinit(&h->table);
    health_table_init(&h->table, &params);
    passive_deinit(&h->passive);
    passive_init(&h->passive);
    h->scan_from = 0;
    h->is_dirty = 0;
    h->is_latency_changed = 0;
    h->last_nover = 0;
}

void health_check_destroy(struct health_check *h)
{
    if (h == NULL)
        return;
    check_cancel_probes(h);
    if (h->probe_ev != NULL)
        event_free(h->probe_ev);
    if (h->passive_ev != NULL)
        event_free(h->passive_ev);
    health_table_deinit(&h->table);
    passive_deinit(&h->passive);
    free(h);
}

int health_check_track(struct health_check *h, const struct provider_entry *const *es, size_t n)
{
    size_t before = h->table.n;

    if (health_table_track(&h->table, es, n) != PF_OK)
        return PF_ENOMEM;
    if (h->table.n != before)
        h->is_dirty = 1;
    return PF_OK;
}

const struct health_table *health_check_table(const struct health_check *h)
{
    return &h->table;
}

void health_check_note_cap(struct health_check *h, size_t nover, size_t n)
{
    if (nover != h->last_nover && nover > 0)
        log_warn("health: %zu unhealthy or ejected upstreams kept in the pool: at most %d%% "
                 "of %zu may be excluded (max_ejection_percent)", nover,
                 h->table.params.max_ejection_percent, n);
    h->last_nover = nover;
}

void health_check_probe_new(struct health_check *h)
{
    /* New upstreams get their first probe now rather than at the next round. */
    check_queue(h, 1);
}

const struct health_check_stats *health_check_get_stats(const struct health_check *h)
{
    return &h->stats;
}

size_t health_check_inflight(const struct health_check *h)
{
    return h->inflight;
}
