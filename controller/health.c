/* Upstream health: the pure table first, then the shell. See health.h. */
#include "health.h"

#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <event2/buffer.h>
#include <event2/event.h>

#include "clock.h"
#include "fetch.h"
#include "keys.h"
#include "log.h"
#include "passive.h"
#include "provider.h"
#include "redis.h"

/* ---- pure table ------------------------------------------------------------ */

void health_params_from_conf(struct health_params *p, const struct conf_health *c)
{
    memset(p, 0, sizeof(*p));
    p->rise = c->rise > 0 ? c->rise : 1;
    p->fall = c->fall > 0 ? c->fall : 1;
    p->max_ejection_percent = c->max_ejection_percent;
    p->window_ms = c->passive.window_ms > 0 ? c->passive.window_ms : 30000;
    p->failure_ratio = c->passive.failure_ratio;
    p->min_requests = c->passive.min_requests > 0 ? (uint64_t)c->passive.min_requests : 1;
    p->ejection_ms = c->passive.ejection_ms > 0 ? c->passive.ejection_ms : 1;
    p->ejection_max_ms = c->passive.ejection_max_ms > p->ejection_ms ? c->passive.ejection_max_ms
                                                                     : p->ejection_ms;
}

void health_table_init(struct health_table *t, const struct health_params *params)
{
    memset(t, 0, sizeof(*t));
    t->params = *params;
}

void health_table_deinit(struct health_table *t)
{
    if (t == NULL)
        return;
    for (size_t i = 0; i < t->n; i++)
        free(t->ups[i]);
    free(t->ups);
    t->ups = NULL;
    t->n = t->cap = 0;
}

struct health_up *health_table_find(const struct health_table *t, const char *id)
{
    size_t lo = 0, hi = t->n;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(t->ups[mid]->id, id);
        if (c == 0)
            return t->ups[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

int health_table_track(struct health_table *t, const struct provider_entry *const *es, size_t n)
{
    struct health_up **nu = NULL;
    unsigned char *is_new = NULL;
    size_t i = 0;

    if (n > 0) {
        nu = calloc(n, sizeof(*nu));
        is_new = calloc(n, 1);
        if (nu == NULL || is_new == NULL)
            goto fail;
    }
    for (size_t k = 0; k < n; k++) {
        while (i < t->n && strcmp(t->ups[i]->id, es[k]->id) < 0)
            i++;
        if (i < t->n && strcmp(t->ups[i]->id, es[k]->id) == 0) {
            nu[k] = t->ups[i++];
            continue;
        }
        nu[k] = calloc(1, sizeof(**nu));
        if (nu[k] == NULL)
            goto fail;
        is_new[k] = 1;
        snprintf(nu[k]->id, sizeof(nu[k]->id), "%s", es[k]->id);
        nu[k]->state = HEALTH_UNKNOWN;
    }
    /* Committed: free the records whose upstream left the pool. */
    size_t j = 0;
    for (i = 0; i < t->n; i++) {
        while (j < n && strcmp(es[j]->id, t->ups[i]->id) < 0)
            j++;
        if (j == n || strcmp(es[j]->id, t->ups[i]->id) != 0)
            free(t->ups[i]);
    }
    for (size_t k = 0; k < n; k++)
        nu[k]->u = es[k]->u;
    free(t->ups);
    free(is_new);
    t->ups = nu;
    t->n = t->cap = n;
    return PF_OK;

fail:
    if (nu != NULL)
        for (size_t k = 0; k < n; k++)
            if (is_new[k])
                free(nu[k]);
    free(nu);
    free(is_new);
    return PF_ENOMEM;
}

int health_up_probe_result(struct health_up *h, const struct health_params *p, int is_ok,
                           double latency_ms, const char *reason, int64_t now_ms)
{
    enum health_state before = h->state;

    h->checked_at_ms = now_ms;
    if (is_ok) {
        if (h->successes < UINT_MAX)
            h->successes++;
        h->failures = 0;
        /* A sample below 1 us still counts as a sample. */
        if (latency_ms < 0.001)
            latency_ms = 0.001;
        if (h->latency_ewma_ms <= 0)
            h->latency_ewma_ms = latency_ms;
        else
            h->latency_ewma_ms = HEALTH_EWMA_ALPHA * latency_ms +
                                 (1.0 - HEALTH_EWMA_ALPHA) * h->latency_ewma_ms;
        if (h->state == HEALTH_UNKNOWN ||
            (h->state == HEALTH_UNHEALTHY && h->successes >= (unsigned)p->rise))
            h->state = HEALTH_HEALTHY;
    } else {
        if (h->failures < UINT_MAX)
            h->failures++;
        h->successes = 0;
        snprintf(h->reason, sizeof(h->reason), "%s", reason != NULL ? reason : "failed");
        if (h->state != HEALTH_UNHEALTHY && h->failures >= (unsigned)p->fall)
            h->state = HEALTH_UNHEALTHY;
    }
    return h->state != before;
}

int health_up_latency_refresh(struct health_up *h)
{
    double e = h->latency_ewma_ms;
    uint32_t v, old = h->latency_published_ms;

    if (e <= 0)
        return 0;
    v = e >= 4e9 ? 4000000000u : (uint32_t)(e + 0.999999);
    if (v == 0)
        v = 1;
    uint32_t diff = v > old ? v - old : old - v;
    uint32_t slack = PF_MAX_OF(old / 4, 2u);
    if (old != 0 && diff <= slack)
        return 0;
    h->latency_published_ms = v;
    return old != v;
}

int health_table_refresh_latencies(struct health_table *t)
{
    int is_changed = 0;
    for (size_t i = 0; i < t->n; i++)
        if (health_up_latency_refresh(t->ups[i]))
            is_changed = 1;
    return is_changed;
}

static int64_t health_slot_ms(const struct health_params *p)
{
    int64_t w = p->window_ms / HEALTH_WINDOW_BUCKETS;
    return w > 0 ? w : 1;
}

void health_up_passive_add(struct health_up *h, const struct health_params *p,
                           uint64_t attempts, uint64_t failures, int64_t now_ms)
{
    int64_t slot = now_ms / health_slot_ms(p);
    struct health_bucket *b = &h->win[(uint64_t)slot % HEALTH_WINDOW_BUCKETS];

    if (b->slot != slot) {
        b->slot = slot;
        b->attempts = 0;
        b->failures = 0;
    }
    b->attempts += attempts;
    b->failures += failures > attempts ? attempts : failures;
}

void health_up_window_sum(const struct health_up *h, const struct health_params *p,
                          int64_t now_ms, uint64_t *attempts, uint64_t *failures)
{
    int64_t slot = now_ms / health_slot_ms(p);

    *attempts = 0;
    *failures = 0;
    for (size_t i = 0; i < HEALTH_WINDOW_BUCKETS; i++) {
        const struct health_bucket *b = &h->win[i];
        if (b->slot <= slot && b->slot > slot - HEALTH_WINDOW_BUCKETS) {
            *attempts += b->attempts;
            *failures += b->failures;
        }
    }
}

int64_t health_ejection_ms(const struct health_params *p, unsigned nth)
{
    if (nth == 0)
        nth = 1;
    if ((int64_t)nth > p->ejection_max_ms / p->ejection_ms)
        return p->ejection_max_ms;
    return PF_MIN_OF(p->ejection_ms * (int64_t)nth, p->ejection_max_ms);
}

size_t health_max_excluded(const struct health_params *p, size_t n)
{
    if (p->max_ejection_percent <= 0)
        return 0;
    if (p->max_ejection_percent >= 100)
        return n;
    return (n / 100) * (size_t)p->max_ejection_percent +
           ((n % 100) * (size_t)p->max_ejection_percent) / 100;
}

int health_up_is_excluded(const struct health_up *h, int64_t now_ms)
{
    return h->state == HEALTH_UNHEALTHY || h->ejected_until_ms > now_ms;
}

struct health_cand {
    struct health_up *h;
    double ratio;
    uint64_t attempts;
};

static int health_cand_cmp(const void *a, const void *b)
{
    const struct health_cand *x = a, *y = b;
    if (x->ratio != y->ratio)
        return x->ratio > y->ratio ? -1 : 1;
    if (x->attempts != y->attempts)
        return x->attempts > y->attempts ? -1 : 1;
    return strcmp(x->h->id, y->h->id);
}

size_t health_table_passive_eval(struct health_table *t, int64_t now_ms, health_eject_fn fn,
                                 void *arg)
{
    const struct health_params *p = &t->params;
    size_t changed = 0, excluded = 0, ncand = 0;
    struct health_cand *cand = NULL;

    for (size_t i = 0; i < t->n; i++) {
        struct health_up *h = t->ups[i];
        if (h->ejected_until_ms != 0 && h->ejected_until_ms <= now_ms) {
            h->ejected_until_ms = 0;
            changed++;
            if (fn != NULL)
                fn(h, 0, arg);
        }
        if (health_up_is_excluded(h, now_ms))
            excluded++;
    }
    size_t cap = health_max_excluded(p, t->n);
    if (excluded >= cap || t->n == 0)
        return changed;
    cand = malloc(t->n * sizeof(*cand));
    if (cand == NULL)
        return changed;   /* evaluated again next round */
    for (size_t i = 0; i < t->n; i++) {
        struct health_up *h = t->ups[i];
        uint64_t a, f;
        if (health_up_is_excluded(h, now_ms))
            continue;
        health_up_window_sum(h, p, now_ms, &a, &f);
        if (a < p->min_requests || a == 0)
            continue;
        double ratio = (double)f / (double)a;
        if (ratio < p->failure_ratio)
            continue;
        cand[ncand].h = h;
        cand[ncand].ratio = ratio;
        cand[ncand].attempts = a;
        ncand++;
    }
    qsort(cand, ncand, sizeof(*cand), health_cand_cmp);
    for (size_t i = 0; i < ncand && excluded < cap; i++) {
        struct health_up *h = cand[i].h;
        if (h->ejections < UINT_MAX)
            h->ejections++;
        h->ejected_until_ms = now_ms + health_ejection_ms(p, h->ejections);
        /* Back from an ejection, it starts from a clean slate. */
        memset(h->win, 0, sizeof(h->win));
        excluded++;
        changed++;
        if (fn != NULL)
            fn(h, 1, arg);
    }
    free(cand);
    return changed;
}

struct health_bad {
    size_t idx;
    unsigned failures;
    const char *id;
};

static int health_bad_cmp(const void *a, const void *b)
{
    const struct health_bad *x = a, *y = b;
    if (x->failures != y->failures)
        return x->failures > y->failures ? -1 : 1;
    return strcmp(x->id, y->id);
}

int health_table_filter(const struct health_table *t, const struct provider_entry *const *es,
                        size_t n, int64_t now_ms, struct provider_entry *copies,
                        const struct provider_entry **out, size_t *nout, size_t *nover)
{
    struct health_bad *bad = NULL;
    unsigned char *is_out = NULL;
    size_t nbad = 0, m = 0;

    *nout = 0;
    if (nover != NULL)
        *nover = 0;
    if (n == 0)
        return PF_OK;
    bad = malloc(n * sizeof(*bad));
    is_out = calloc(n, 1);
    if (bad == NULL || is_out == NULL) {
        free(bad);
        free(is_out);
        return PF_ENOMEM;
    }
    for (size_t k = 0; k < n; k++) {
        const struct health_up *h = health_table_find(t, es[k]->id);
        if (h != NULL && health_up_is_excluded(h, now_ms)) {
            /* An ejected upstream that probes fine ranks after unhealthy ones. */
            bad[nbad].idx = k;
            bad[nbad].failures = h->state == HEALTH_UNHEALTHY ? h->failures : 0;
            bad[nbad].id = h->id;
            nbad++;
        }
    }
    size_t cap = health_max_excluded(&t->params, n);
    if (nbad > cap)
        qsort(bad, nbad, sizeof(*bad), health_bad_cmp);
    for (size_t i = 0; i < nbad && i < cap; i++)
        is_out[bad[i].idx] = 1;
    if (nover != NULL && nbad > cap)
        *nover = nbad - cap;
    for (size_t k = 0; k < n; k++) {
        if (is_out[k])
            continue;
        const struct health_up *h = health_table_find(t, es[k]->id);
        copies[m] = *es[k];
        if (h != NULL && h->latency_published_ms != 0)
            copies[m].u.latency_ms = h->latency_published_ms;
        out[m] = &copies[m];
        m++;
    }
    free(bad);
    free(is_out);
    *nout = m;
    return PF_OK;
}

const char *health_state_name(enum health_state s)
{
    switch (s) {
    case HEALTH_UNKNOWN:   return "unknown";
    case HEALTH_HEALTHY:   return "healthy";
    case HEALTH_UNHEALTHY: return "unhealthy";
    }
    return "unknown";
}

char *health_up_encode(const struct health_up *h, const struct health_params *p, int64_t now_ms)
{
    cJSON *o = cJSON_CreateObject();
    char *s = NULL;
    uint64_t a = 0, f = 0;
    double lat = h->latency_ewma_ms;

    if (o == NULL)
        return NULL;
    health_up_window_sum(h, p, now_ms, &a, &f);
    if (lat > 0 && lat < 1)
        lat = 1;
    if (cJSON_AddBoolToObject(o, "healthy", h->state != HEALTH_UNHEALTHY) == NULL ||
        cJSON_AddStringToObject(o, "state", health_state_name(h->state)) == NULL ||
        cJSON_AddNumberToObject(o, "latency_ms", (double)(int64_t)(lat + 0.5)) == NULL ||
        cJSON_AddNumberToObject(o, "successes", h->successes) == NULL ||
        cJSON_AddNumberToObject(o, "failures", h->failures) == NULL ||
        cJSON_AddNumberToObject(o, "checked_at_ms", (double)h->checked_at_ms) == NULL ||
        cJSON_AddStringToObject(o, "reason", h->reason) == NULL ||
        cJSON_AddNumberToObject(o, "ejected_until_ms",
                                h->ejected_until_ms > now_ms ? (double)h->ejected_until_ms : 0) == NULL ||
        cJSON_AddNumberToObject(o, "ejections", h->ejections) == NULL ||
        cJSON_AddNumberToObject(o, "window_attempts", (double)a) == NULL ||
        cJSON_AddNumberToObject(o, "window_failures", (double)f) == NULL)
        goto out;
    s = cJSON_PrintUnformatted(o);

out:
    cJSON_Delete(o);
    return s;
}

/* ---- shell ------------------------------------------------------------------ */

enum health_result {
    HEALTH_RES_OK = 0,
    HEALTH_RES_STATUS,          /* answered outside expect_status */
    HEALTH_RES_TIMEOUT,
    HEALTH_RES_CONNECT,         /* upstream refused or unreachable */
    HEALTH_RES_ERROR,           /* anything else: proxy refused, TLS, reset */
    HEALTH_RES_COUNT,
};

static const char *const health_result_names[HEALTH_RES_COUNT] = {
    "ok", "status", "timeout", "connect", "error",
};

/* Probe latency histogram bounds (ms); the last bucket is +Inf. */
static const double health_lat_bounds[] = { 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000 };
#define HEALTH_LAT_NB (PF_ARRAY_LEN(health_lat_bounds) + 1)

struct health_probe {
    struct health       *h;          /* borrowed: the owner */
    struct fetch_req    *req;        /* owned by fetch until the callback */
    char                 id[UPSTREAM_ID_MAX];
    struct health_probe *prev, *next;
};

struct health {
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
    struct health_probe      *probes;    /* owned list of probes in flight */
    size_t                    inflight;
    size_t                    scan_from; /* table index the queue scan resumes at */
    int                       is_leader; /* only a leader probes, reads and writes */
    int                       is_dirty;  /* {pf}:v1:health needs a write */
    int                       is_latency_changed; /* a first latency was measured this round */
    int64_t                   latency_refreshed_at_ms; /* mono: last refresh of every latency */
    size_t                    last_nover;/* bad upstreams kept by the cap at the last filter */
    uint64_t                  probes_total[HEALTH_RES_COUNT];
    uint64_t                  lat_buckets[HEALTH_LAT_NB];
    double                    lat_sum_ms;
    uint64_t                  lat_count;
    uint64_t                  ejections_total;
    uint64_t                  passive_rounds;
    uint64_t                  passive_errors;
};

static void health_changed(struct health *h)
{
    if (h->on_change != NULL)
        h->on_change(h->arg);
}

/* Writes every record to {pf}:v1:health and removes fields of upstreams no
 * longer tracked. Keeps is_dirty set when Redis is not there. */
static void health_write(struct health *h)
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

static const char *health_scheme_name(enum upstream_scheme s)
{
    switch (s) {
    case UPSTREAM_HTTP:    return "http";
    case UPSTREAM_HTTPS:   return "https";
    case UPSTREAM_SOCKS5:  return "socks5";
    case UPSTREAM_SOCKS5H: return "socks5h";
    }
    return "http";
}

static void health_pump(struct health *h);

static enum health_result health_classify(const struct health *h, const struct fetch_result *res)
{
    switch (res->err) {
    case FETCH_OK:
        return (res->http_status >= h->conf->expect_status_min &&
                res->http_status <= h->conf->expect_status_max) ? HEALTH_RES_OK : HEALTH_RES_STATUS;
    case FETCH_ERR_TIMEOUT:
        return HEALTH_RES_TIMEOUT;
    case FETCH_ERR_CONNECT:
        return HEALTH_RES_CONNECT;
    case FETCH_ERR_RESOLVE:
    case FETCH_ERR_TOO_BIG:
    case FETCH_ERR_OTHER:
    case FETCH_ERR__COUNT:
        break;
    }
    return HEALTH_RES_ERROR;
}

static void health_probe_done(struct fetch_req *req, const struct fetch_result *res, void *arg)
{
    struct health_probe *pr = arg;
    struct health *h = pr->h;
    enum health_result kind = health_classify(h, res);
    double lat_ms = (double)fetch_req_total_us(req) / 1000.0;
    char reason[HEALTH_REASON_MAX];

    if (pr->prev != NULL)
        pr->prev->next = pr->next;
    else
        h->probes = pr->next;
    if (pr->next != NULL)
        pr->next->prev = pr->prev;
    h->inflight--;
    h->probes_total[kind]++;
    if (kind == HEALTH_RES_OK) {
        size_t b = 0;
        while (b < PF_ARRAY_LEN(health_lat_bounds) && lat_ms > health_lat_bounds[b])
            b++;
        h->lat_buckets[b]++;
        h->lat_sum_ms += lat_ms;
        h->lat_count++;
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
            health_changed(h);
        }
    }
    free(pr);
    health_pump(h);
}

/* Starts a probe of <u>. Returns PF_OK or PF_ENOMEM. */
static int health_probe_start(struct health *h, struct health_up *u)
{
    struct health_probe *pr = calloc(1, sizeof(*pr));
    char proxy_url[UPSTREAM_HOST_MAX + 32];
    int is_v6 = u->u.host_kind == UPSTREAM_HOST_IPV6;

    if (pr == NULL)
        return PF_ENOMEM;
    pr->h = h;
    snprintf(pr->id, sizeof(pr->id), "%s", u->id);
    snprintf(proxy_url, sizeof(proxy_url), "%s://%s%s%s:%u", health_scheme_name(u->u.scheme),
             is_v6 ? "[" : "", u->u.host, is_v6 ? "]" : "", (unsigned)u->u.port);
    struct fetch_proxy proxy = { proxy_url, u->u.user, u->u.pass, h->conf->proxy_ca_file };
    struct fetch_opts opts = {
        .timeout_ms = h->conf->timeout_ms,
        .connect_timeout_ms = h->conf->timeout_ms,
        .max_body_bytes = 0,
    };
    pr->req = fetch_start_via(h->fetch, h->conf->url, &opts, &proxy, health_probe_done, pr);
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
static void health_pump(struct health *h)
{
    while (h->inflight < (size_t)h->conf->concurrency && h->scan_from < h->table.n) {
        struct health_up *u = h->table.ups[h->scan_from++];
        if (!u->is_queued)
            continue;
        u->is_queued = 0;
        if (health_probe_start(h, u) != PF_OK) {
            log_warn("health: cannot start a probe through %s, skipped this round", u->id);
            h->probes_total[HEALTH_RES_ERROR]++;
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
            health_changed(h);
        }
        if (h->is_dirty)
            health_write(h);
    }
}

/* Queues every upstream not already being probed (or, with <is_new_only>,
 * those never probed) and starts what the cap allows. */
static void health_queue(struct health *h, int is_new_only)
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
    health_pump(h);
}

static void health_probe_cb(evutil_socket_t fd, short what, void *arg)
{
    struct health *h = arg;

    (void)fd;
    (void)what;
    health_queue(h, 0);
}

static void health_delta(const char *upstream_id, uint64_t attempts, uint64_t failures, void *arg)
{
    struct health *h = arg;
    struct health_up *u = health_table_find(&h->table, upstream_id);

    /* Counts for upstreams outside the pool are of no use. */
    if (u != NULL)
        health_up_passive_add(u, &h->table.params, attempts, failures, clock_wall_ms());
}

static void health_eject_log(const struct health_up *u, int is_ejected, void *arg)
{
    struct health *h = arg;

    if (is_ejected) {
        h->ejections_total++;
        log_info("health: upstream %s ejected for %" PRId64 " ms (ejection %u): fleet failure "
                 "ratio over %.2f", u->id, u->ejected_until_ms - clock_wall_ms(), u->ejections,
                 h->table.params.failure_ratio);
    } else {
        log_info("health: upstream %s back from ejection", u->id);
    }
}

/* Reads one node's outcome hash. Returns PF_OK, PF_EIO (connection gone)
 * or PF_ENOMEM. */
static int health_read_node(struct health *h, const char *node_id)
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
                h->passive_errors++;
                continue;
            }
            memcpy(cur[n].id, fs, flen);
            cur[n].id[flen] = '\0';
            n++;
        }
    }
    redis_reply_free(r);
    return passive_node_update(&h->passive, node_id, cur, n, health_delta, h) == PF_ENOMEM
           ? PF_ENOMEM : PF_OK;
}

static void health_passive_cb(evutil_socket_t fd, short what, void *arg)
{
    struct health *h = arg;
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
        rc = health_read_node(h, node);
    }
    redis_reply_free(r);
    if (rc != PF_OK) {
        /* A partial round must not forget the nodes it did not reach. */
        h->passive.is_in_round = 0;
        return;
    }
    passive_round_end(&h->passive);
    h->passive_rounds++;
    if (health_table_passive_eval(&h->table, clock_wall_ms(), health_eject_log, h) > 0)
        health_changed(h);
    h->is_dirty = 1;
    if (h->inflight == 0)
        health_write(h);
}

static int health_timer(struct health *h, struct event **ev, int interval_ms,
                        event_callback_fn cb)
{
    struct timeval tv = { interval_ms / 1000, (interval_ms % 1000) * 1000 };

    *ev = event_new(h->base, -1, EV_PERSIST, cb, h);
    if (*ev == NULL || event_add(*ev, &tv) != 0)
        return PF_ENOMEM;
    return PF_OK;
}

struct health *health_create(struct event_base *base, struct fetch *fetch, struct redis *redis,
                             const struct keys *keys, const struct conf_health *conf,
                             health_change_cb on_change, void *arg)
{
    struct health *h = calloc(1, sizeof(*h));
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
        health_timer(h, &h->probe_ev, conf->interval_ms, health_probe_cb) != PF_OK)
        goto fail;
    if (conf->passive.is_enabled &&
        health_timer(h, &h->passive_ev, conf->passive.interval_ms, health_passive_cb) != PF_OK)
        goto fail;
    return h;

fail:
    health_destroy(h);
    return NULL;
}

static void health_cancel_probes(struct health *h)
{
    while (h->probes != NULL) {
        struct health_probe *pr = h->probes;
        h->probes = pr->next;
        fetch_cancel(h->fetch, pr->req);
        free(pr);
    }
    h->inflight = 0;
}

void health_set_leader(struct health *h, int is_leader)
{
    if (h == NULL || h->is_leader == !!is_leader)
        return;
    struct health_params params = h->table.params;
    h->is_leader = !!is_leader;
    health_cancel_probes(h);
    health_table_deinit(&h->table);
    health_table_init(&h->table, &params);
    passive_deinit(&h->passive);
    passive_init(&h->passive);
    h->scan_from = 0;
    h->is_dirty = 0;
    h->is_latency_changed = 0;
    h->last_nover = 0;
}

void health_destroy(struct health *h)
{
    if (h == NULL)
        return;
    health_cancel_probes(h);
    if (h->probe_ev != NULL)
        event_free(h->probe_ev);
    if (h->passive_ev != NULL)
        event_free(h->passive_ev);
    health_table_deinit(&h->table);
    passive_deinit(&h->passive);
    free(h);
}

int health_filter_pool(struct health *h, const struct provider_entry ***es, size_t *n,
                       struct provider_entry **copies, int64_t now_wall_ms)
{
    const struct provider_entry **out = NULL;
    size_t before = h->table.n, nout = 0, nover = 0;

    *copies = NULL;
    if (health_table_track(&h->table, *es, *n) != PF_OK)
        goto fail;
    if (h->table.n != before)
        h->is_dirty = 1;
    if (*n > 0) {
        out = malloc(*n * sizeof(*out));
        *copies = malloc(*n * sizeof(**copies));
        if (out == NULL || *copies == NULL)
            goto fail;
        if (health_table_filter(&h->table, *es, *n, now_wall_ms, *copies, out, &nout, &nover) != PF_OK)
            goto fail;
    }
    if (nover != h->last_nover && nover > 0)
        log_warn("health: %zu unhealthy or ejected upstreams kept in the pool: at most %d%% "
                 "of %zu may be excluded (max_ejection_percent)", nover,
                 h->table.params.max_ejection_percent, *n);
    h->last_nover = nover;
    free(*es);
    *es = out;
    *n = nout;
    /* New upstreams get their first probe now rather than at the next round. */
    health_queue(h, 1);
    return PF_OK;

fail:
    free(out);
    free(*copies);
    *copies = NULL;
    free(*es);
    *es = NULL;
    *n = 0;
    return PF_ENOMEM;
}

void health_metrics(const struct health *h, struct evbuffer *b, int64_t now_wall_ms)
{
    size_t nstate[3] = { 0, 0, 0 }, nejected = 0, nexcluded = 0;
    uint64_t cum = 0;

    for (size_t i = 0; i < h->table.n; i++) {
        const struct health_up *u = h->table.ups[i];
        nstate[u->state]++;
        nejected += u->ejected_until_ms > now_wall_ms;
        nexcluded += health_up_is_excluded(u, now_wall_ms);
    }
    evbuffer_add_printf(b, "# TYPE pf_controller_health_probes_total counter\n");
    for (int r = 0; r < HEALTH_RES_COUNT; r++)
        evbuffer_add_printf(b, "pf_controller_health_probes_total{result=\"%s\"} %" PRIu64 "\n",
                            health_result_names[r], h->probes_total[r]);
    evbuffer_add_printf(b, "# TYPE pf_controller_health_probe_latency_ms histogram\n");
    for (size_t i = 0; i < HEALTH_LAT_NB; i++) {
        cum += h->lat_buckets[i];
        if (i < PF_ARRAY_LEN(health_lat_bounds))
            evbuffer_add_printf(b, "pf_controller_health_probe_latency_ms_bucket{le=\"%g\"} %" PRIu64 "\n",
                                health_lat_bounds[i], cum);
        else
            evbuffer_add_printf(b, "pf_controller_health_probe_latency_ms_bucket{le=\"+Inf\"} %" PRIu64 "\n",
                                cum);
    }
    evbuffer_add_printf(b, "pf_controller_health_probe_latency_ms_sum %.3f\n", h->lat_sum_ms);
    evbuffer_add_printf(b, "pf_controller_health_probe_latency_ms_count %" PRIu64 "\n", h->lat_count);
    evbuffer_add_printf(b, "# TYPE pf_controller_health_probes_inflight gauge\n"
                        "pf_controller_health_probes_inflight %zu\n", h->inflight);
    evbuffer_add_printf(b, "# TYPE pf_controller_health_upstreams gauge\n");
    for (int s = 0; s < 3; s++)
        evbuffer_add_printf(b, "pf_controller_health_upstreams{state=\"%s\"} %zu\n",
                            health_state_name((enum health_state)s), nstate[s]);
    evbuffer_add_printf(b, "# TYPE pf_controller_health_ejected gauge\n"
                        "pf_controller_health_ejected %zu\n", nejected);
    evbuffer_add_printf(b, "# TYPE pf_controller_health_excluded gauge\n"
                        "pf_controller_health_excluded %zu\n", nexcluded);
    evbuffer_add_printf(b, "# TYPE pf_controller_health_ejections_total counter\n"
                        "pf_controller_health_ejections_total %" PRIu64 "\n", h->ejections_total);
    evbuffer_add_printf(b, "# TYPE pf_controller_health_passive_rounds_total counter\n"
                        "pf_controller_health_passive_rounds_total %" PRIu64 "\n", h->passive_rounds);
    evbuffer_add_printf(b, "# TYPE pf_controller_health_passive_bad_values_total counter\n"
                        "pf_controller_health_passive_bad_values_total %" PRIu64 "\n",
                        h->passive_errors);
}
