/* Per-provider poll state. */
#include "provider.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "addr.h"
#include "clock.h"
#include "fetch.h"
#include "log.h"

static void provider_timer_cb(evutil_socket_t fd, short what, void *arg);

const char *provider_state_name(enum provider_state s)
{
    switch (s) {
    case PROVIDER_ST_OK:      return "ok";
    case PROVIDER_ST_FAILING: return "failing";
    case PROVIDER_ST_FAILED:  return "failed";
    }
    return "unknown";
}

struct provider *provider_create(struct event_base *base, struct fetch *fetch,
                                 const struct conf_provider *conf, int order,
                                 provider_update_cb on_update, void *arg)
{
    struct provider *p = calloc(1, sizeof(*p));

    if (p == NULL)
        return NULL;
    p->conf = conf;
    p->order = order;
    p->base = base;
    p->fetch = fetch;
    p->on_update = on_update;
    p->arg = arg;
    p->state = PROVIDER_ST_OK;
    p->breaker = "closed";
    p->is_dirty = 1;
    p->timer = evtimer_new(base, provider_timer_cb, p);
    if (p->timer == NULL) {
        provider_destroy(p);
        return NULL;
    }
    return p;
}

void provider_destroy(struct provider *p)
{
    if (p == NULL)
        return;
    fetch_cancel(p->fetch, p->req);
    if (p->timer != NULL)
        event_free(p->timer);
    free(p->entries);
    free(p);
}

static int provider_arm(struct provider *p, int delay_ms)
{
    struct timeval tv = { delay_ms / 1000, (delay_ms % 1000) * 1000 };
    return evtimer_add(p->timer, &tv) == 0 ? PF_OK : PF_EIO;
}

int provider_start(struct provider *p)
{
    return provider_arm(p, 0);
}

size_t provider_live_count(const struct provider *p, int64_t now_wall_ms)
{
    size_t n = 0;
    for (size_t i = 0; i < p->nentries; i++) {
        int64_t exp = p->entries[i].u.expires_at_ms;
        if (exp == 0 || exp > now_wall_ms)
            n++;
    }
    return n;
}

static int provider_entry_cmp(const void *a, const void *b)
{
    const struct provider_entry *x = a, *y = b;
    return strcmp(x->id, y->id);
}

static const struct provider_entry *provider_find(const struct provider *p, const char *id)
{
    struct provider_entry key;

    if (p->nentries == 0)
        return NULL;
    /* bsearch compares ids only; copy just the id into the key. */
    snprintf(key.id, sizeof(key.id), "%s", id);
    return bsearch(&key, p->entries, p->nentries, sizeof(*p->entries), provider_entry_cmp);
}

int provider_apply_success(struct provider *p, const struct upstream *ups, size_t n,
                           int64_t now_wall_ms)
{
    struct provider_entry *set = NULL;
    size_t nset = 0;
    int64_t ttl_ms = (int64_t)(p->conf->ttl_s > 0 ? p->conf->ttl_s : 300) * 1000;
    int is_static = p->conf->type == CONF_PROVIDER_STATIC;

    if (n > 0) {
        set = malloc(n * sizeof(*set));
        if (set == NULL)
            return PF_ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        set[i].u = ups[i];
        snprintf(set[i].u.provider, sizeof(set[i].u.provider), "%s", p->conf->name);
        addr_upstream_id(&set[i].u, set[i].id, sizeof(set[i].id));
    }
    if (n > 1)
        qsort(set, n, sizeof(*set), provider_entry_cmp);
    for (size_t i = 0; i < n; i++) {
        if (nset > 0 && strcmp(set[nset - 1].id, set[i].id) == 0)
            continue;   /* duplicate id: the first kept */
        if (nset != i)
            set[nset] = set[i];
        struct provider_entry *e = &set[nset++];
        if (is_static) {
            e->u.expires_at_ms = 0;
        } else if (e->u.expires_at_ms == 0) {
            const struct provider_entry *old = provider_find(p, e->id);
            int64_t exp = old != NULL ? old->u.expires_at_ms : 0;
            e->u.expires_at_ms = (exp != 0 && exp - now_wall_ms >= ttl_ms / 2)
                                 ? exp : now_wall_ms + ttl_ms;
        }
    }
    free(p->entries);
    p->entries = set;
    p->nentries = nset;
    p->state = PROVIDER_ST_OK;
    p->last_success_at_ms = now_wall_ms;
    p->has_polled = 1;
    p->is_dirty = 1;
    return PF_OK;
}

void provider_apply_failure(struct provider *p, const char *reason, int64_t now_wall_ms)
{
    provider_sanitize(reason, strlen(reason), sizeof(p->last_error) - 1,
                      p->last_error, sizeof(p->last_error));
    p->failures++;
    p->state = PROVIDER_ST_FAILING;
    p->last_error_at_ms = now_wall_ms;
    p->has_polled = 1;
    p->is_dirty = 1;
}

static void provider_add_rejects(struct provider *p, const struct provider_parse_result *res)
{
    for (size_t i = 0; i < PROVIDER_REJECT_COUNT; i++)
        p->rejected[i] += res->rejected[i];
}

/* The one place a poll outcome lands: logs once, updates the state, and
 * schedules the next poll. Breakers and retry backoff hook in here. */
static void provider_poll_done(struct provider *p, const struct upstream *ups, size_t n,
                               const struct provider_parse_result *res, const char *failure)
{
    int64_t now = clock_wall_ms();
    size_t before = p->nentries;

    if (failure == NULL && provider_apply_success(p, ups, n, now) != PF_OK)
        failure = "out of memory";
    if (failure != NULL) {
        provider_apply_failure(p, failure, now);
        log_warn("provider %s: poll failed: %s (keeping %zu upstreams)", p->conf->name,
                 p->last_error, provider_live_count(p, now));
    } else if (before != p->nentries || p->polls == 1) {
        log_info("provider %s: %zu upstreams, %zu entries rejected%s%s", p->conf->name,
                 p->nentries, res != NULL ? res->nrejected : 0,
                 res != NULL && res->first_reject[0] ? ", first " : "",
                 res != NULL ? res->first_reject : "");
    } else {
        log_debug("provider %s: %zu upstreams unchanged in count", p->conf->name, p->nentries);
    }
    if (provider_arm(p, p->conf->interval_ms > 0 ? p->conf->interval_ms : 10000) != PF_OK)
        log_error("provider %s: cannot arm poll timer", p->conf->name);
    if (p->on_update != NULL)
        p->on_update(p, p->arg);
}

int provider_check_static(const struct conf_provider *conf, struct pf_err *err)
{
    for (int i = 0; i < conf->nstatic; i++) {
        struct upstream u;
        const char *s = conf->static_upstreams[i];
        if (addr_parse_upstream(s, strlen(s), conf->default_scheme, &u, err) != PF_OK ||
            addr_validate_upstream(&u, conf->is_private_allowed, err) != PF_OK) {
            pf_err_prefix(err, "upstreams[%d]: ", i);
            return PF_EINVAL;
        }
    }
    return PF_OK;
}

static void provider_poll_static(struct provider *p)
{
    struct upstream *ups = NULL;
    size_t n = 0;
    struct pf_err err;
    const char *failure = NULL;

    pf_err_clear(&err);
    if (p->conf->nstatic > 0) {
        ups = calloc((size_t)p->conf->nstatic, sizeof(*ups));
        if (ups == NULL)
            failure = "out of memory";
    }
    for (int i = 0; ups != NULL && i < p->conf->nstatic; i++) {
        const char *s = p->conf->static_upstreams[i];
        if (addr_parse_upstream(s, strlen(s), p->conf->default_scheme, &ups[n], &err) != PF_OK ||
            addr_validate_upstream(&ups[n], p->conf->is_private_allowed, &err) != PF_OK) {
            /* --check-config rejects these; keep the good ones if one slips by. */
            log_warn("provider %s: upstreams[%d] skipped: %s", p->conf->name, i, err.msg);
            continue;
        }
        n++;
    }
    if (failure == NULL && n == 0)
        failure = "no valid static upstream";
    provider_poll_done(p, ups, n, NULL, failure);
    free(ups);
}

static void provider_fetch_done(struct fetch_req *req, const struct fetch_result *res, void *arg)
{
    struct provider *p = arg;
    struct provider_parse_result parsed;
    struct provider_parse_opts opts = {
        .default_scheme = p->conf->default_scheme,
        .is_private_allowed = p->conf->is_private_allowed,
        .max_upstreams = PROVIDER_MAX_UPSTREAMS,
        .provider = p->conf->name,
    };
    struct pf_err err;
    char reason[PF_ERR_MSG_LEN];

    (void)req;
    p->req = NULL;      /* fetch frees it after we return */
    pf_err_clear(&err);
    memset(&parsed, 0, sizeof(parsed));
    if (res->curl_code != 0) {
        snprintf(reason, sizeof(reason), "%s", res->error[0] ? res->error : "transfer failed");
        provider_poll_done(p, NULL, 0, NULL, reason);
        return;
    }
    if (res->http_status != 200) {
        char first[PROVIDER_PARSE_FIRST_MAX * 2];
        size_t len = 0;
        while (len < res->body_len && res->body[len] != '\n' && res->body[len] != '\r')
            len++;
        provider_sanitize(res->body, len, PROVIDER_PARSE_FIRST_MAX, first, sizeof(first));
        snprintf(reason, sizeof(reason), "HTTP %ld%s%s%s%s%s", res->http_status,
                 res->retry_after[0] ? " retry-after " : "", res->retry_after,
                 first[0] ? " (body: '" : "", first, first[0] ? "')" : "");
        provider_poll_done(p, NULL, 0, NULL, reason);
        return;
    }
    int rc = provider_parse_lines(res->body, res->body_len, &opts, &parsed, &err);
    provider_add_rejects(p, &parsed);
    if (rc != PF_OK)
        provider_poll_done(p, NULL, 0, &parsed, err.msg);
    else
        provider_poll_done(p, parsed.upstreams, parsed.nupstreams, &parsed, NULL);
    provider_parse_result_deinit(&parsed);
}

static void provider_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    struct provider *p = arg;

    (void)fd;
    (void)what;
    if (p->req != NULL)
        return;     /* still in flight: its completion re-arms the timer */
    p->polls++;
    if (p->conf->type == CONF_PROVIDER_STATIC) {
        provider_poll_static(p);
        return;
    }
    struct fetch_opts opts = {
        .timeout_ms = p->conf->timeout_ms > 0 ? p->conf->timeout_ms : 10000,
        .connect_timeout_ms = p->conf->connect_timeout_ms > 0 ? p->conf->connect_timeout_ms : 3000,
        .max_body_bytes = p->conf->max_body_bytes > 0 ? p->conf->max_body_bytes : 1048576,
    };
    p->req = fetch_start(p->fetch, p->conf->url, &opts, provider_fetch_done, p);
    if (p->req == NULL)
        provider_poll_done(p, NULL, 0, NULL, "cannot start request");
    else if (log_get_level() >= PF_LOG_DEBUG) {
        char safe[CONF_URL_MAX];
        fetch_url_safe(p->conf->url, safe, sizeof(safe));
        log_debug("provider %s: GET %s", p->conf->name, safe);
    }
}

struct provider_merge_item {
    const struct provider_entry *e;
    int priority;
    int order;
};

static int provider_merge_cmp(const void *a, const void *b)
{
    const struct provider_merge_item *x = a, *y = b;
    int c = strcmp(x->e->id, y->e->id);
    if (c != 0)
        return c;
    if (x->priority != y->priority)
        return x->priority > y->priority ? -1 : 1;
    return x->order < y->order ? -1 : (x->order > y->order);
}

int provider_merge(struct provider *const *ps, size_t n, int64_t now_wall_ms,
                   const struct provider_entry ***out, size_t *nout)
{
    size_t total = 0, k = 0, m = 0;
    struct provider_merge_item *items = NULL;
    const struct provider_entry **res = NULL;

    *out = NULL;
    *nout = 0;
    for (size_t i = 0; i < n; i++)
        total += ps[i]->nentries;
    if (total == 0)
        return PF_OK;
    items = malloc(total * sizeof(*items));
    res = malloc(total * sizeof(*res));
    if (items == NULL || res == NULL) {
        free(items);
        free(res);
        return PF_ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < ps[i]->nentries; j++) {
            const struct provider_entry *e = &ps[i]->entries[j];
            if (e->u.expires_at_ms != 0 && e->u.expires_at_ms <= now_wall_ms)
                continue;
            items[k].e = e;
            items[k].priority = ps[i]->conf->priority;
            items[k].order = ps[i]->order;
            k++;
        }
    }
    qsort(items, k, sizeof(*items), provider_merge_cmp);
    for (size_t i = 0; i < k; i++) {
        if (m > 0 && strcmp(res[m - 1]->id, items[i].e->id) == 0)
            continue;
        res[m++] = items[i].e;
    }
    free(items);
    *out = res;
    *nout = m;
    return PF_OK;
}
