/* Upstream health, the pure table and filter; see health.h. */
#include "health.h"

#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "provider.h"

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
    return h->state == HEALTH_UNHEALTHY || h->ejected_until_ms > now_ms || h->ban_until_ms > now_ms;
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

int health_pool_filter(const struct health_table *t, const struct provider_entry *const *es,
                       size_t n, int64_t now_ms, struct health_pool *out)
{
    memset(out, 0, sizeof(*out));
    if (n == 0)
        return PF_OK;
    out->es = malloc(n * sizeof(*out->es));
    out->copies = malloc(n * sizeof(*out->copies));
    if (out->es == NULL || out->copies == NULL ||
        health_table_filter(t, es, n, now_ms, out->copies, out->es, &out->n, &out->nover) != PF_OK) {
        health_pool_deinit(out);
        return PF_ENOMEM;
    }
    return PF_OK;
}

void health_pool_deinit(struct health_pool *p)
{
    if (p == NULL)
        return;
    free(p->es);
    free(p->copies);
    memset(p, 0, sizeof(*p));
}

enum health_result health_result_of(enum fetch_error err, long http_status, int expect_min,
                                    int expect_max)
{
    switch (err) {
    case FETCH_OK:
        return http_status >= expect_min && http_status <= expect_max ? HEALTH_RES_OK
                                                                       : HEALTH_RES_STATUS;
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

const char *health_result_name(enum health_result r)
{
    static const char *const names[HEALTH_RES_COUNT] = {
        "ok", "status", "timeout", "connect", "error",
    };
    return (unsigned)r < HEALTH_RES_COUNT ? names[r] : "error";
}
