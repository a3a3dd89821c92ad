/* Per-provider poll state machine: attempts, retries, breaker, fatal park. */
#include "provider.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "addr.h"
#include "backoff.h"
#include "clock.h"
#include "fetch.h"
#include "label_value.h"
#include "log.h"
#include "provider_answer.h"
#include "source_file.h"
#include "str.h"

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

/* Adds a copy of <n> bytes at <v> to the secrets of <p> (<*off> into
 * secrets_buf of <cap>), when long enough to be worth redacting. */
static void provider_secret_add(struct provider *p, size_t *off, size_t cap, const char *v,
                                size_t n)
{
    if (n < PROVIDER_SECRET_MIN || p->nsecrets == PROVIDER_SECRETS_MAX || *off + n + 1 > cap)
        return;
    memcpy(p->secrets_buf + *off, v, n);
    p->secrets_buf[*off + n] = '\0';
    p->secrets[p->nsecrets++] = p->secrets_buf + *off;
    *off += n + 1;
}

/* The secrets of <p>'s request: the auth header value and password, the
 * URL's password, and every value of its query (raw and percent-decoded,
 * since any of them may be the key) and long path segment (some APIs put
 * the key in the path), and long tokens of a POST body. They are redacted
 * from whatever the provider says before it reaches a log line or Redis. */
static int provider_collect_secrets(struct provider *p)
{
    const struct conf_provider *c = p->conf;
    size_t cap = 2 * strlen(c->url) + strlen(c->auth.value) + strlen(c->auth.pass) +
                 strlen(c->request_body) + 64;
    size_t off = 0;
    char dec[CONF_URL_MAX];
    size_t dn;

    p->secrets_buf = calloc(1, cap);
    if (p->secrets_buf == NULL)
        return PF_ENOMEM;
    provider_secret_add(p, &off, cap, c->auth.value, strlen(c->auth.value));
    provider_secret_add(p, &off, cap, c->auth.pass, strlen(c->auth.pass));
    /* A key in a POST body: any run of 12+ key characters ("api_key":"..."). */
    for (const char *b = c->request_body; *b != '\0';) {
        size_t n = strspn(b, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~+/=");
        if (n >= 12)
            provider_secret_add(p, &off, cap, b, n);
        b += n > 0 ? n : 1;
    }
    const char *u = strstr(c->url, "://");
    if (u == NULL)
        return PF_OK;
    u += 3;
    size_t auth_len = strcspn(u, "/?#");
    const char *at = memchr(u, '@', auth_len);
    if (at != NULL) {
        const char *colon = memchr(u, ':', (size_t)(at - u));
        if (colon != NULL)
            provider_secret_add(p, &off, cap, colon + 1, (size_t)(at - colon - 1));
    }
    const char *path = u + auth_len;
    while (*path == '/') {
        size_t n = strcspn(path + 1, "/?#");
        if (n >= 16)
            provider_secret_add(p, &off, cap, path + 1, n);
        path += 1 + n;
    }
    if (*path != '?')
        return PF_OK;
    for (const char *q = path + 1; *q != '\0' && *q != '#';) {
        size_t n = strcspn(q, "&#");
        const char *eq = memchr(q, '=', n);
        if (eq != NULL) {
            size_t vn = n - (size_t)(eq + 1 - q);
            provider_secret_add(p, &off, cap, eq + 1, vn);
            if (memchr(eq + 1, '%', vn) != NULL &&
                str_pct_decode(eq + 1, vn, dec, sizeof(dec), &dn) == PF_OK)
                provider_secret_add(p, &off, cap, dec, dn);
        }
        q += n;
        if (*q == '&')
            q++;
    }
    return PF_OK;
}

void provider_redact(const struct provider *p, const char *s, char *buf, size_t len)
{
    char tmp[PF_ERR_MSG_LEN * 2];
    size_t o = 0;
    size_t n = strlen(s);

    for (size_t i = 0; i < n && o + 1 < sizeof(tmp);) {
        size_t hit = 0;
        for (size_t k = 0; k < p->nsecrets && hit == 0; k++) {
            size_t sn = strlen(p->secrets[k]);
            if (sn <= n - i && memcmp(s + i, p->secrets[k], sn) == 0)
                hit = sn;
        }
        if (hit > 0) {
            int w = snprintf(tmp + o, sizeof(tmp) - o, "(%zu bytes)", hit);
            o = w > 0 && (size_t)w < sizeof(tmp) - o ? o + (size_t)w : sizeof(tmp) - 1;
            i += hit;
            continue;
        }
        tmp[o++] = s[i++];
    }
    str_sanitize_text(tmp, o, 0, buf, len);
}

struct provider *provider_create(struct event_base *base, struct fetch *fetch,
                                 const struct conf_provider *conf, int order,
                                 provider_update_cb on_update, void *arg)
{
    struct provider *p = calloc(1, sizeof(*p));
    struct breaker_conf bc;

    if (p == NULL)
        return NULL;
    p->conf = conf;
    p->order = order;
    p->base = base;
    p->fetch = fetch;
    p->on_update = on_update;
    p->arg = arg;
    p->state = PROVIDER_ST_OK;
    bc.failures = conf->breaker_failures > 0 ? (unsigned)conf->breaker_failures : 5;
    bc.open_ms = conf->breaker_open_ms > 0 ? conf->breaker_open_ms : 30000;
    bc.open_max_ms = conf->breaker_open_max_ms > 0 ? conf->breaker_open_max_ms : 600000;
    breaker_init(&p->breaker, &bc);
    rng_seed_os(&p->rng);
    p->is_dirty = 1;
    if (conf->line_format[0] != '\0') {
        /* conf_parse() compiled it once already: it cannot fail here. */
        if (line_format_compile(conf->line_format, &p->line_format, NULL) != PF_OK) {
            provider_destroy(p);
            return NULL;
        }
        p->has_line_format = 1;
    }
    p->timer = evtimer_new(base, provider_timer_cb, p);
    if (p->timer == NULL || provider_collect_secrets(p) != PF_OK) {
        provider_destroy(p);
        return NULL;
    }
    return p;
}

/* Forgets the pages of the attempt in progress. */
static void provider_pages_reset(struct provider *p)
{
    if (p->acc != NULL)
        memset(p->acc, 0, p->acc_cap * sizeof(*p->acc));   /* passwords */
    free(p->acc);
    p->acc = NULL;
    p->nacc = 0;
    p->acc_cap = 0;
    p->page = 0;
    p->page_url[0] = '\0';
    p->page_error[0] = '\0';
    p->page_error_class = PROVIDER_ERR_NONE;
}

void provider_destroy(struct provider *p)
{
    if (p == NULL)
        return;
    fetch_cancel(p->fetch, p->req);
    source_file_destroy(p->file);
    if (p->timer != NULL)
        event_free(p->timer);
    provider_pages_reset(p);
    if (p->entries != NULL)
        memset(p->entries, 0, p->nentries * sizeof(*p->entries));
    free(p->entries);
    if (p->secrets_buf != NULL) {
        size_t n = 0;
        for (size_t i = 0; i < p->nsecrets; i++)
            n += strlen(p->secrets[i]) + 1;
        memset(p->secrets_buf, 0, n);
    }
    free(p->secrets_buf);
    free(p);
}

/* Arms the poll timer for monotonic time <at_ms>, which becomes
 * next_poll_at_ms exactly (so a deadline computed from an earlier clock read,
 * such as the breaker's open_until_ms, is published as is however long the
 * caller took since). */
static int provider_arm(struct provider *p, int64_t at_ms)
{
    int64_t delay_ms = PF_MAX_OF(at_ms - clock_mono_ms(), 0);
    struct timeval tv = { (time_t)(delay_ms / 1000), (suseconds_t)((delay_ms % 1000) * 1000) };
    p->next_poll_at_ms = at_ms;
    return evtimer_add(p->timer, &tv) == 0 ? PF_OK : PF_EIO;
}

/* Arms the poll timer for <delay_ms> after monotonic time <now_ms>. */
static void provider_arm_or_log(struct provider *p, int64_t now_ms, int64_t delay_ms)
{
    if (provider_arm(p, now_ms + PF_MAX_OF(delay_ms, 0)) != PF_OK)
        log_error("provider %s: cannot arm poll timer", p->conf->name);
}

int provider_start(struct provider *p)
{
    int64_t now = clock_mono_ms();
    int64_t delay = 0;

    p->is_running = 1;
    p->attempt = 0;
    p->is_probe = 0;
    if (p->state == PROVIDER_ST_FAILED && p->fatal_until_ms > now)
        delay = p->fatal_until_ms - now;
    return provider_arm(p, now + delay);
}

void provider_stop(struct provider *p)
{
    if (p == NULL)
        return;
    fetch_cancel(p->fetch, p->req);
    p->req = NULL;
    provider_pages_reset(p);
    if (p->timer != NULL)
        evtimer_del(p->timer);
    p->is_running = 0;
    p->attempt = 0;
    p->next_poll_at_ms = 0;
    if (p->is_probe && p->breaker.state == BREAKER_HALF_OPEN)
        p->breaker.is_probing = 0;  /* the probe never finished: hand it out again */
    p->is_probe = 0;
}

void provider_adopt(struct provider *p, struct provider *old)
{
    free(p->entries);
    p->entries = old->entries;
    p->nentries = old->nentries;
    old->entries = NULL;
    old->nentries = 0;
    p->polls = old->polls;
    p->failures = old->failures;
    p->retries = old->retries;
    memcpy(p->attempt_failures, old->attempt_failures, sizeof(p->attempt_failures));
    memcpy(p->rejected, old->rejected, sizeof(p->rejected));
    memcpy(p->last_error, old->last_error, sizeof(p->last_error));
    p->last_error_class = old->last_error_class;
    p->last_error_at_ms = old->last_error_at_ms;
    p->last_success_at_ms = old->last_success_at_ms;
    p->has_polled = old->has_polled;
    p->is_dirty = 1;
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

/* The expiry to publish for an upstream seen again: a lifetime that slides
 * forward with every answer ("now + N", or our own ttl_s) would otherwise
 * change the pool, and bump its version, on every poll. An extension is
 * published only once the known expiry has less than half the new lifetime
 * left; a shorter expiry is taken at once. */
static int64_t provider_sticky_expiry(int64_t old_exp, int64_t new_exp, int64_t now_wall_ms)
{
    if (old_exp == 0 || new_exp <= old_exp)
        return new_exp;
    return old_exp - now_wall_ms >= (new_exp - now_wall_ms) / 2 ? old_exp : new_exp;
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
        /* the provider's static labels fill what the entry did not say */
        label_value_merge(&set[i].u.labels, &p->conf->labels);
        snprintf(set[i].u.user_template, sizeof(set[i].u.user_template), "%s",
                 p->conf->user_template);
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
        } else {
            const struct provider_entry *old = provider_find(p, e->id);
            int64_t old_exp = old != NULL ? old->u.expires_at_ms : 0;
            int64_t new_exp = e->u.expires_at_ms != 0 ? e->u.expires_at_ms : now_wall_ms + ttl_ms;
            e->u.expires_at_ms = provider_sticky_expiry(old_exp, new_exp, now_wall_ms);
        }
    }
    free(p->entries);
    p->entries = set;
    p->nentries = nset;
    p->state = PROVIDER_ST_OK;
    p->fatal_until_ms = 0;
    p->last_success_at_ms = now_wall_ms;
    p->has_polled = 1;
    p->is_dirty = 1;
    return PF_OK;
}

void provider_apply_failure(struct provider *p, const char *reason, enum provider_err_class cls,
                            int64_t now_wall_ms)
{
    provider_redact(p, reason, p->last_error, sizeof(p->last_error));
    p->failures++;
    p->state = cls == PROVIDER_ERR_FATAL ? PROVIDER_ST_FAILED : PROVIDER_ST_FAILING;
    p->last_error_class = cls;
    p->last_error_at_ms = now_wall_ms;
    p->has_polled = 1;
    p->is_dirty = 1;
}

/* Counts the rejects of one parsed answer: in the totals of the provider
 * hash and metrics, and in the summary of the poll in progress. */
static void provider_add_rejects(struct provider *p, const struct provider_parse_result *res)
{
    struct provider_rejects *pr = &p->poll_rejects;
    for (size_t i = 0; i < PROVIDER_REJECT_COUNT; i++) {
        p->rejected[i] += res->rejected[i];
        pr->n[i] += res->rejected[i];
    }
    pr->total += res->nrejected;
    pr->entries += res->nentries;
    for (size_t i = 0; i < res->nexamples && pr->nexamples < PROVIDER_EXAMPLES_MAX; i++)
        memcpy(pr->examples[pr->nexamples++], res->examples[i], PROVIDER_EXAMPLE_LEN);
}

/* The one summary line of a poll that rejected entries, at most once per
 * PROVIDER_REJECT_LOG_MS: counts by reason and a few examples, each a
 * parsed host:port or a position and a size, never an entry's bytes. */
static void provider_log_rejects(struct provider *p)
{
    struct provider_rejects *pr = &p->poll_rejects;
    int64_t now = clock_mono_ms();
    char by[256] = "", ex[PROVIDER_EXAMPLES_MAX * PROVIDER_EXAMPLE_LEN + 16] = "";
    char extra[64] = "";
    size_t o = 0;

    if (pr->total == 0)
        return;
    if (p->rejects_logged_at_ms != 0 && now - p->rejects_logged_at_ms < PROVIDER_REJECT_LOG_MS) {
        p->rejects_unlogged++;
        memset(pr, 0, sizeof(*pr));
        return;
    }
    for (size_t i = 0; i < PROVIDER_REJECT_COUNT; i++) {
        if (pr->n[i] == 0 || o >= sizeof(by))
            continue;
        int w = snprintf(by + o, sizeof(by) - o, "%s%s %zu", o ? ", " : "",
                         provider_reject_name((enum provider_reject)i), pr->n[i]);
        o = w > 0 ? o + (size_t)w : o;
    }
    o = 0;
    for (size_t i = 0; i < pr->nexamples && o < sizeof(ex); i++) {
        int w = snprintf(ex + o, sizeof(ex) - o, "%s%s", i ? ", " : ", e.g. ", pr->examples[i]);
        o = w > 0 ? o + (size_t)w : o;
    }
    if (p->rejects_unlogged > 0)
        snprintf(extra, sizeof(extra), " (%" PRIu64 " earlier polls with rejects not logged)",
                 p->rejects_unlogged);
    char safe[sizeof(ex)];
    provider_redact(p, ex, safe, sizeof(safe));
    log_info("provider %s: %zu of %zu entries rejected (%s)%s%s", p->conf->name, pr->total,
             pr->entries, by, safe, extra);
    p->rejects_logged_at_ms = now;
    p->rejects_unlogged = 0;
    memset(pr, 0, sizeof(*pr));
}

int64_t provider_retry_after_ms(const char *value, int64_t now_wall_ms)
{
    const char *s = value;
    struct tm tm;

    if (s == NULL)
        return -1;
    while (*s == ' ' || *s == '\t')
        s++;
    if (*s == '\0')
        return -1;
    if (isdigit((unsigned char)*s)) {
        int64_t secs = 0;
        for (; isdigit((unsigned char)*s); s++) {
            if (secs > 100000000)
                return -1;
            secs = secs * 10 + (*s - '0');
        }
        while (*s == ' ' || *s == '\t')
            s++;
        return *s == '\0' ? secs * 1000 : -1;
    }
    /* IMF-fixdate, RFC 9110 5.6.7: "Sun, 06 Nov 1994 08:49:37 GMT". */
    memset(&tm, 0, sizeof(tm));
    const char *end = strptime(s, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    if (end == NULL)
        return -1;
    while (*end == ' ' || *end == '\t')
        end++;
    if (*end != '\0')
        return -1;
    time_t at = timegm(&tm);
    if (at == (time_t)-1)
        return -1;
    int64_t delay = (int64_t)at * 1000 - now_wall_ms;
    return delay > 0 ? delay : 0;
}

static int64_t provider_interval_ms(const struct provider *p)
{
    return p->conf->interval_ms > 0 ? p->conf->interval_ms : 10000;
}

static void provider_notify(struct provider *p)
{
    if (p->on_update != NULL)
        p->on_update(p, p->arg);
}

/* Ends the poll in progress as failed with <reason> of class <cls>: the
 * breaker hears of it and the next poll is scheduled. */
static void provider_poll_failed(struct provider *p, const char *reason, enum provider_err_class cls)
{
    int64_t now = clock_mono_ms();
    int64_t wall = clock_wall_ms();
    int64_t next = provider_interval_ms(p);
    int is_opened;

    provider_apply_failure(p, reason, cls, wall);
    is_opened = breaker_failure(&p->breaker, now);
    p->attempt = 0;
    p->is_probe = 0;
    if (cls == PROVIDER_ERR_FATAL) {
        int64_t park = (int64_t)(p->conf->fatal_recheck_s > 0 ? p->conf->fatal_recheck_s : 3600) * 1000;
        p->fatal_until_ms = now + park;
        next = park;
        log_error("provider %s: fatal: %s; not retried, next check in %" PRId64 " s "
                  "(or on reload), keeping %zu upstreams", p->conf->name, p->last_error,
                  park / 1000, provider_live_count(p, wall));
    } else {
        log_warn("provider %s: poll failed: %s (keeping %zu upstreams)", p->conf->name,
                 p->last_error, provider_live_count(p, wall));
    }
    if (is_opened)
        log_warn("provider %s: breaker open for %" PRId64 " ms after %u failed polls (open #%" PRIu64 ")",
                 p->conf->name, breaker_wait_ms(&p->breaker, now),
                 p->breaker.consecutive_failures, p->breaker.opens);
    if (breaker_wait_ms(&p->breaker, now) > next)
        next = breaker_wait_ms(&p->breaker, now);
    if (p->retry_after_ms > next)
        next = p->retry_after_ms;
    provider_arm_or_log(p, now, next);
    provider_notify(p);
}

/* The one place an attempt's outcome lands. <failure> NULL = good answer
 * with <ups>[0..<n>). A transient failure with attempts left schedules the
 * retry (after <retry_after_ms> when >= 0, else the jittered backoff). */
static void provider_attempt_done(struct provider *p, const struct upstream *ups, size_t n,
                                  const struct provider_parse_result *res, const char *failure,
                                  enum provider_err_class cls, int64_t retry_after_ms)
{
    int64_t wall = clock_wall_ms();
    size_t before = p->nentries;

    int64_t cap_ms = p->conf->retry_cap_ms > 0 ? p->conf->retry_cap_ms : 30000;
    unsigned attempts = p->conf->retry_attempts > 0 ? (unsigned)p->conf->retry_attempts : 3;

    if (failure == NULL && provider_apply_success(p, ups, n, wall) != PF_OK) {
        failure = "out of memory";
        cls = PROVIDER_ERR_TRANSIENT;
    }
    provider_pages_reset(p);        /* <ups> may have been its pages: used up now */
    p->retry_after_ms = retry_after_ms >= 0 ? PF_MIN_OF(retry_after_ms, cap_ms) : 0;
    if (failure == NULL) {
        int was_open = p->breaker.state != BREAKER_CLOSED;
        breaker_success(&p->breaker);
        if (was_open)
            log_info("provider %s: breaker closed", p->conf->name);
        (void)res;
        if (before != p->nentries || p->polls == 1 || p->attempt > 0)
            log_info("provider %s: %zu upstreams", p->conf->name, p->nentries);
        else
            log_debug("provider %s: %zu upstreams unchanged in count", p->conf->name, p->nentries);
        provider_log_rejects(p);
        p->attempt = 0;
        p->is_probe = 0;
        provider_arm_or_log(p, clock_mono_ms(), provider_interval_ms(p));
        provider_notify(p);
        return;
    }
    if (cls == PROVIDER_ERR_NONE)
        cls = PROVIDER_ERR_TRANSIENT;
    p->attempt_failures[cls]++;
    if (cls == PROVIDER_ERR_TRANSIENT && !p->is_probe && p->attempt + 1 < attempts) {
        struct backoff bo = { p->conf->retry_base_ms > 0 ? p->conf->retry_base_ms : 500, cap_ms };
        int64_t delay = p->retry_after_ms > 0 || retry_after_ms == 0
                        ? p->retry_after_ms
                        : backoff_delay_ms(&bo, p->attempt, rng_next(&p->rng));
        char safe[PF_ERR_MSG_LEN];
        provider_redact(p, failure, safe, sizeof(safe));
        log_warn("provider %s: attempt %u/%u failed: %s; retry in %" PRId64 " ms",
                 p->conf->name, p->attempt + 1, attempts, safe, delay);
        p->attempt++;
        provider_arm_or_log(p, clock_mono_ms(), delay);
        return;
    }
    provider_poll_failed(p, failure, cls);
    provider_log_rejects(p);
}

int provider_check_static(const struct conf_provider *conf, struct pf_err *err)
{
    for (int i = 0; i < conf->nstatic; i++) {
        struct upstream u;
        const char *s = conf->static_upstreams[i];
        if (addr_parse_upstream(s, strlen(s), conf->default_scheme, &u, err) != PF_OK ||
            addr_validate_upstream(&u, &conf->allow_private, err) != PF_OK) {
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
            addr_validate_upstream(&ups[n], &p->conf->allow_private, &err) != PF_OK) {
            /* --check-config rejects these; keep the good ones if one slips by. */
            log_warn("provider %s: upstreams[%d] skipped: %s", p->conf->name, i, err.msg);
            continue;
        }
        ups[n].tier = (uint32_t)p->conf->tier;
        n++;
    }
    if (failure == NULL && n == 0)
        failure = "no valid static upstream";
    provider_attempt_done(p, ups, n, NULL, failure,
                          failure != NULL ? PROVIDER_ERR_TRANSIENT : PROVIDER_ERR_NONE, -1);
    if (ups != NULL)
        memset(ups, 0, (size_t)p->conf->nstatic * sizeof(*ups));
    free(ups);
}

/* The parse options of <p> for an answer at <now_wall_ms>; <max> caps the
 * upstreams this answer may add. */
static struct provider_parse_opts provider_opts(const struct provider *p, int64_t now_wall_ms,
                                                size_t max)
{
    struct provider_parse_opts opts = {
        .default_scheme = p->conf->default_scheme,
        .policy = &p->conf->allow_private,
        .max_upstreams = max,
        .provider = p->conf->name,
        .tier = (uint32_t)p->conf->tier,
        .separators = p->conf->separators[0] ? p->conf->separators : NULL,
        .line_format = p->has_line_format ? &p->line_format : NULL,
        .format = p->conf->format,
        .json = &p->conf->json,
        .errors = &p->conf->errors,
        .secrets = p->secrets,
        .nsecrets = p->nsecrets,
        .now_wall_ms = now_wall_ms,
    };
    return opts;
}

/* The file provider: its (cached) contents parsed as a 200 answer. */
static void provider_poll_file(struct provider *p)
{
    struct provider_parse_result parsed;
    struct provider_parse_opts opts = provider_opts(p, clock_wall_ms(), PROVIDER_MAX_UPSTREAMS);
    struct provider_response r = { .http_status = 200, .retry_after = "" };
    struct pf_err err;
    int is_changed = 0;

    pf_err_clear(&err);
    if (p->file == NULL)
        p->file = source_file_create(p->conf->path, p->conf->max_body_bytes);
    if (p->file == NULL) {
        provider_attempt_done(p, NULL, 0, NULL, "out of memory", PROVIDER_ERR_TRANSIENT, -1);
        return;
    }
    if (source_file_poll(p->file, &r.body, &r.body_len, &is_changed, &err) != PF_OK) {
        /* A missing file is being rewritten or not deployed yet: retry. */
        provider_attempt_done(p, NULL, 0, NULL, err.msg, PROVIDER_ERR_TRANSIENT, -1);
        return;
    }
    if (is_changed)
        log_debug("provider %s: file changed, %zu bytes", p->conf->name, r.body_len);
    int rc = provider_answer_parse(&r, &opts, &parsed, &err);
    if (is_changed)
        provider_add_rejects(p, &parsed);   /* count a file's rejects once */
    if (rc == PF_OK)
        provider_attempt_done(p, parsed.upstreams, parsed.nupstreams, &parsed, NULL,
                              PROVIDER_ERR_NONE, -1);
    else
        provider_attempt_done(p, NULL, 0, &parsed, err.msg[0] ? err.msg : "bad file",
                              rc == PF_ENOMEM || parsed.err_class == PROVIDER_ERR_NONE
                              ? PROVIDER_ERR_TRANSIENT : parsed.err_class, -1);
    provider_parse_result_deinit(&parsed);
}

static void provider_fetch_done(struct fetch_req *req, const struct fetch_result *res, void *arg);

/* Starts the request for page p->page of the attempt in progress, at
 * <url>. Returns PF_OK, or PF_ENOMEM when it cannot start. */
static int provider_fetch_start(struct provider *p, const char *url)
{
    const struct conf_provider_auth *auth = &p->conf->auth;
    struct fetch_opts opts = {
        .timeout_ms = p->conf->timeout_ms > 0 ? p->conf->timeout_ms : 10000,
        .connect_timeout_ms = p->conf->connect_timeout_ms > 0 ? p->conf->connect_timeout_ms : 3000,
        .max_body_bytes = p->conf->max_body_bytes > 0 ? p->conf->max_body_bytes : 1048576,
        .is_post = p->conf->is_post,
        .post_body = p->conf->request_body,
        .content_type = p->conf->content_type,
        .header_name = auth->kind == CONF_AUTH_HEADER ? auth->name : NULL,
        .header_value = auth->kind == CONF_AUTH_HEADER ? auth->value : NULL,
        .basic_user = auth->kind == CONF_AUTH_BASIC ? auth->user : NULL,
        .basic_pass = auth->kind == CONF_AUTH_BASIC ? auth->pass : NULL,
    };
    p->req = fetch_start(p->fetch, url, &opts, provider_fetch_done, p);
    if (p->req == NULL)
        return PF_ENOMEM;
    if (log_get_level() >= PF_LOG_DEBUG) {
        char safe[CONF_URL_MAX];
        fetch_url_safe(url, safe, sizeof(safe));
        log_debug("provider %s: %s %s (attempt %u, page %u)", p->conf->name,
                  p->conf->is_post ? "POST" : "GET", safe, p->attempt + 1, p->page);
    }
    return PF_OK;
}

/* Keeps the upstreams of a good page for the end of the attempt. */
static int provider_pages_add(struct provider *p, const struct upstream *ups, size_t n)
{
    if (p->nacc + n > p->acc_cap) {
        size_t cap = PF_MAX_OF(p->acc_cap * 2, p->nacc + n);
        struct upstream *a = malloc(cap * sizeof(*a));
        if (a == NULL)
            return PF_ENOMEM;
        if (p->nacc > 0)
            memcpy(a, p->acc, p->nacc * sizeof(*a));
        if (p->acc != NULL)
            memset(p->acc, 0, p->acc_cap * sizeof(*p->acc));
        free(p->acc);
        p->acc = a;
        p->acc_cap = cap;
    }
    memcpy(p->acc + p->nacc, ups, n * sizeof(*ups));
    p->nacc += n;
    return PF_OK;
}

/* A page was good: follows its next link when there is one, pages are
 * left and the origin is the provider's; else ends the attempt with what
 * the pages gave. Returns 1 when the next page is in flight. */
static int provider_next_page(struct provider *p, const struct provider_parse_result *parsed)
{
    int max_pages = p->conf->max_pages > 0 ? p->conf->max_pages : 10;

    if (parsed->next[0] == '\0' || p->conf->json.next[0] == '\0')
        return 0;
    if ((int)p->page >= max_pages) {
        if (!p->is_max_pages_logged)
            log_warn("provider %s: page %u has a next page, not followed: max_pages is %d "
                     "(said once)", p->conf->name, p->page, max_pages);
        p->is_max_pages_logged = 1;
        return 0;
    }
    if (p->nacc >= PROVIDER_MAX_UPSTREAMS)
        return 0;
    char url[CONF_URL_MAX];
    int rc = fetch_url_next(p->page_url, parsed->next, url, sizeof(url));
    if (rc != PF_OK) {
        /* The link itself is never logged: it may carry a key. */
        log_warn("provider %s: page %u: next link %s, not followed", p->conf->name, p->page,
                 rc == PF_EDENIED ? "leaves the provider's origin (scheme, host, port)"
                 : rc == PF_ERANGE ? "too long" : "malformed");
        return 0;
    }
    memcpy(p->page_url, url, strlen(url) + 1);
    memset(url, 0, sizeof(url));
    p->page++;
    if (provider_fetch_start(p, p->page_url) != PF_OK) {
        p->page--;
        return 0;
    }
    return 1;
}

static void provider_fetch_done(struct fetch_req *req, const struct fetch_result *res, void *arg)
{
    struct provider *p = arg;
    struct provider_parse_result parsed;
    size_t room = PROVIDER_MAX_UPSTREAMS - PF_MIN_OF(p->nacc, PROVIDER_MAX_UPSTREAMS - 1);
    struct provider_parse_opts opts = provider_opts(p, clock_wall_ms(), room);
    struct provider_response r = {
        .http_status = res->http_status,
        .body = res->body,
        .body_len = res->body_len,
        .retry_after = res->retry_after,
    };
    struct pf_err err;
    char reason[PF_ERR_MSG_LEN];

    (void)req;
    p->req = NULL;      /* fetch frees it after we return */
    pf_err_clear(&err);
    if (res->err != FETCH_OK) {
        /* Timeouts, resets, refused connects, a body over the cap: transient. */
        const char *why = res->error[0] ? res->error : "transfer failed";
        if (p->page > 1)
            snprintf(reason, sizeof(reason), "page %u: %s", p->page, why);
        else
            snprintf(reason, sizeof(reason), "%s", why);
        provider_attempt_done(p, NULL, 0, NULL, reason, PROVIDER_ERR_TRANSIENT, -1);
        return;
    }
    int rc = provider_answer_parse(&r, &opts, &parsed, &err);
    provider_add_rejects(p, &parsed);
    if (rc == PF_ENOMEM || (rc != PF_OK && !parsed.is_page)) {
        /* An error answer: the attempt fails, whatever earlier pages gave. */
        int64_t retry_after = -1;
        if (res->http_status == 429 || res->http_status == 503) {
            /* The parser reads delta seconds; HTTP dates are read here. */
            retry_after = parsed.retry_after_s >= 0 ? (int64_t)parsed.retry_after_s * 1000
                          : provider_retry_after_ms(res->retry_after, opts.now_wall_ms);
        }
        if (p->page > 1)
            pf_err_prefix(&err, "page %u: ", p->page);
        provider_attempt_done(p, NULL, 0, &parsed, err.msg[0] ? err.msg : "bad answer",
                              rc == PF_ENOMEM || parsed.err_class == PROVIDER_ERR_NONE
                              ? PROVIDER_ERR_TRANSIENT : parsed.err_class, retry_after);
        provider_parse_result_deinit(&parsed);
        return;
    }
    if (rc == PF_OK && provider_pages_add(p, parsed.upstreams, parsed.nupstreams) != PF_OK) {
        provider_parse_result_deinit(&parsed);
        provider_attempt_done(p, NULL, 0, NULL, "out of memory", PROVIDER_ERR_TRANSIENT, -1);
        return;
    }
    if (rc != PF_OK && p->page_error[0] == '\0') {
        /* A page without a usable entry: its reason, should no page have one. */
        if (p->page > 1)
            pf_err_prefix(&err, "page %u: ", p->page);
        snprintf(p->page_error, sizeof(p->page_error), "%s", err.msg);
        p->page_error_class = parsed.err_class;
    }
    int is_more = provider_next_page(p, &parsed);
    provider_parse_result_deinit(&parsed);
    if (is_more)
        return;
    if (p->nacc > 0) {
        provider_attempt_done(p, p->acc, p->nacc, NULL, NULL, PROVIDER_ERR_NONE, -1);
        return;
    }
    /* attempt_done() forgets the pages, page_error included: a copy. */
    enum provider_err_class cls = p->page_error_class == PROVIDER_ERR_NONE
                                  ? PROVIDER_ERR_TRANSIENT : p->page_error_class;
    snprintf(reason, sizeof(reason), "%s", p->page_error[0] ? p->page_error : "no valid address");
    provider_attempt_done(p, NULL, 0, NULL, reason, cls, -1);
}

static void provider_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    struct provider *p = arg;
    int64_t now = clock_mono_ms();

    (void)fd;
    (void)what;
    p->next_poll_at_ms = 0;
    if (p->req != NULL || !p->is_running)
        return;     /* in flight: its completion re-arms the timer */
    if (p->attempt == 0) {
        /* A new poll: a fatal park or an open breaker may refuse it. */
        if (p->state == PROVIDER_ST_FAILED && p->fatal_until_ms > now) {
            provider_arm_or_log(p, now, p->fatal_until_ms - now);
            return;
        }
        if (!breaker_allow(&p->breaker, now)) {
            provider_arm_or_log(p, now, PF_MAX_OF(breaker_wait_ms(&p->breaker, now), 1));
            return;
        }
        p->is_probe = p->breaker.state == BREAKER_HALF_OPEN;
        if (p->is_probe) {
            log_info("provider %s: breaker half-open, one probe poll", p->conf->name);
            p->is_dirty = 1;
        }
        p->polls++;
        memset(&p->poll_rejects, 0, sizeof(p->poll_rejects));
    } else {
        p->retries++;
    }
    if (p->conf->type == CONF_PROVIDER_STATIC) {
        provider_poll_static(p);
        return;
    }
    if (p->conf->type == CONF_PROVIDER_FILE) {
        provider_poll_file(p);
        return;
    }
    provider_pages_reset(p);
    p->page = 1;
    snprintf(p->page_url, sizeof(p->page_url), "%s", p->conf->url);
    if (provider_fetch_start(p, p->page_url) != PF_OK)
        provider_attempt_done(p, NULL, 0, NULL, "cannot start request", PROVIDER_ERR_TRANSIENT, -1);
}

struct provider_merge_item {
    const struct provider_entry *e;
    int tier;
    int priority;
    int order;
};

static int provider_merge_cmp(const void *a, const void *b)
{
    const struct provider_merge_item *x = a, *y = b;
    int c = strcmp(x->e->id, y->e->id);
    if (c != 0)
        return c;
    if (x->tier != y->tier)
        return x->tier < y->tier ? -1 : 1;
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
            items[k].tier = ps[i]->conf->tier;
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
