/* Pure decoders of the fleet status's Redis values; see fleet_decode.h. */
#include "fleet_decode.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "str.h"

#define FLEET_NUM_MAX 64        /* bytes of a figure we bother to parse */

void fleet_copy_text(char *dst, size_t len, const char *s, size_t slen)
{
    if (len == 0)
        return;
    if (s == NULL) {
        dst[0] = '\0';
        return;
    }
    str_sanitize_text(s, slen, 0, dst, len);
}

/* A NUL-terminated copy of <s>/<len> in <buf> (FLEET_NUM_MAX): 0 when it
 * does not fit or holds a NUL. */
static int fleet_num_copy(char *buf, const char *s, size_t len)
{
    if (s == NULL || len == 0 || len >= FLEET_NUM_MAX || memchr(s, '\0', len) != NULL)
        return 0;
    memcpy(buf, s, len);
    buf[len] = '\0';
    return 1;
}

/* A JSON-number-shaped strtod: digits, sign, '.', 'e'; nothing else (no
 * "inf", "nan", hex or spaces), and the whole text. */
static int fleet_parse_double(const char *s, size_t len, double *out)
{
    char buf[FLEET_NUM_MAX];
    char *end = NULL;

    if (!fleet_num_copy(buf, s, len) || strspn(buf, "0123456789+-.eE") != len)
        return 0;
    double d = strtod(buf, &end);
    if (end != buf + len || !isfinite(d))
        return 0;
    *out = d;
    return 1;
}

int64_t fleet_parse_int(const char *s, size_t len)
{
    char buf[FLEET_NUM_MAX];
    double d;
    if (!fleet_parse_double(s, len, &d) || d != floor(d) || d < -9.2e18 || d > 9.2e18)
        return FLEET_UNKNOWN;
    /* exact for the integers the fleet writes as decimal digits (the copy:
     * <s> need not be NUL-terminated) */
    if (fleet_num_copy(buf, s, len) && strspn(buf, "0123456789-") == len)
        return (int64_t)strtoll(buf, NULL, 10);
    return (int64_t)d;
}

int64_t fleet_parse_seconds_ms(const char *s, size_t len)
{
    double d;
    if (!fleet_parse_double(s, len, &d) || d < 0 || d > 9.2e15)
        return FLEET_UNKNOWN;
    return (int64_t)llround(d * 1000.0);
}

int fleet_parse_labelled(const char *s, size_t len, const char *label, int64_t *total,
                         int64_t *one)
{
    *total = FLEET_UNKNOWN;
    *one = FLEET_UNKNOWN;
    if (s == NULL || len == 0)
        return PF_EINVAL;
    cJSON *o = cJSON_ParseWithLength(s, len);
    int64_t sum = 0, got = 0;
    int rc = PF_EINVAL;
    if (!cJSON_IsObject(o))
        goto out;
    for (const cJSON *m = o->child; m != NULL; m = m->next) {
        if (!cJSON_IsNumber(m) || m->valuedouble != floor(m->valuedouble) ||
            m->valuedouble < 0 || m->valuedouble > 9.0e15)
            goto out;
        sum += (int64_t)m->valuedouble;
        if (m->string != NULL && strcmp(m->string, label) == 0)
            got = (int64_t)m->valuedouble;
    }
    *total = sum;
    *one = got;
    rc = PF_OK;
out:
    cJSON_Delete(o);
    return rc;
}

void fleet_leader_init(struct fleet_leader *l)
{
    memset(l, 0, sizeof(*l));
    l->lease_ttl_ms = FLEET_UNKNOWN;
    l->heartbeat_at_ms = FLEET_UNKNOWN;
    l->pool_version = FLEET_UNKNOWN;
    l->pool_size = FLEET_UNKNOWN;
    l->leader_since_ms = FLEET_UNKNOWN;
}

void fleet_provider_init(struct fleet_provider *p, const char *name, size_t name_len)
{
    memset(p, 0, sizeof(*p));
    fleet_copy_text(p->name, sizeof(p->name), name, name_len);
    p->upstreams = p->polls = p->failures = FLEET_UNKNOWN;
    p->consecutive_failures = p->breaker_opens = p->retries = FLEET_UNKNOWN;
    p->last_error_at_ms = p->last_success_at_ms = FLEET_UNKNOWN;
    p->next_poll_at_ms = p->breaker_until_ms = FLEET_UNKNOWN;
}

void fleet_node_init(struct fleet_node *n, const char *id, size_t id_len, int64_t seen_at_ms)
{
    memset(n, 0, sizeof(*n));
    fleet_copy_text(n->id, sizeof(n->id), id, id_len);
    n->seen_at_ms = seen_at_ms;
    n->ttl_ms = n->updated_at_ms = FLEET_UNKNOWN;
    n->redis_connected = n->ready = n->pool_version = n->pool_size = FLEET_UNKNOWN;
    n->pool_usable = n->conns_active = n->requests_total = FLEET_UNKNOWN;
    n->responses_total = n->responses_5xx = n->started_at_ms = FLEET_UNKNOWN;
    n->age_ms = n->interval_ms = n->lag_versions = n->lag_ms = FLEET_UNKNOWN;
    n->ratio_5xx = -1;
}

void fleet_leader_token(struct fleet_leader *l, const char *token, size_t len)
{
    l->is_held = 1;
    size_t cut = len;
    while (cut > 0 && token[cut - 1] != ':')
        cut--;
    /* "<id>:<random>": keep what is before the last ':'; without one the
     * whole value may be the secret token, so show nothing of it */
    fleet_copy_text(l->id, sizeof(l->id), token, cut > 0 ? cut - 1 : 0);
}

static int fleet_is(const struct snapshot_pair *p, const char *name)
{
    size_t n = strlen(name);
    return p->field != NULL && p->field_len == n && memcmp(p->field, name, n) == 0;
}

#define TEXT(dst, p) fleet_copy_text((dst), sizeof(dst), (p)->value, (p)->value_len)
#define INT(p)       fleet_parse_int((p)->value, (p)->value_len)

void fleet_leader_from_pairs(struct fleet_leader *l, const struct snapshot_pair *pairs, size_t n)
{
    if (n > 0)
        l->has_heartbeat = 1;
    for (size_t i = 0; i < n; i++) {
        const struct snapshot_pair *p = &pairs[i];
        if (p->value == NULL)
            continue;
        if (fleet_is(p, "id"))
            TEXT(l->heartbeat_id, p);
        else if (fleet_is(p, "epoch"))
            TEXT(l->epoch, p);
        else if (fleet_is(p, "version"))
            TEXT(l->version, p);
        else if (fleet_is(p, "commit"))
            TEXT(l->commit, p);
        else if (fleet_is(p, "heartbeat_at_ms"))
            l->heartbeat_at_ms = INT(p);
        else if (fleet_is(p, "pool_version"))
            l->pool_version = INT(p);
        else if (fleet_is(p, "pool_size"))
            l->pool_size = INT(p);
        else if (fleet_is(p, "leader_since_timestamp_seconds"))
            l->leader_since_ms = fleet_parse_seconds_ms(p->value, p->value_len);
    }
}

void fleet_provider_from_pairs(struct fleet_provider *pr, const struct snapshot_pair *pairs,
                               size_t n)
{
    static const struct {
        const char *name;
        size_t      off;
    } ints[] = {
        { "upstreams", offsetof(struct fleet_provider, upstreams) },
        { "polls", offsetof(struct fleet_provider, polls) },
        { "failures", offsetof(struct fleet_provider, failures) },
        { "consecutive_failures", offsetof(struct fleet_provider, consecutive_failures) },
        { "breaker_opens", offsetof(struct fleet_provider, breaker_opens) },
        { "retries", offsetof(struct fleet_provider, retries) },
        { "last_error_at_ms", offsetof(struct fleet_provider, last_error_at_ms) },
        { "last_success_at_ms", offsetof(struct fleet_provider, last_success_at_ms) },
        { "next_poll_at_ms", offsetof(struct fleet_provider, next_poll_at_ms) },
        { "breaker_until_ms", offsetof(struct fleet_provider, breaker_until_ms) },
    };
    if (n > 0)
        pr->has_hash = 1;
    for (size_t i = 0; i < n; i++) {
        const struct snapshot_pair *p = &pairs[i];
        if (p->value == NULL)
            continue;
        if (fleet_is(p, "state")) {
            TEXT(pr->state, p);
            continue;
        }
        if (fleet_is(p, "breaker")) {
            TEXT(pr->breaker, p);
            continue;
        }
        if (fleet_is(p, "last_error")) {
            TEXT(pr->last_error, p);
            continue;
        }
        if (fleet_is(p, "last_error_class")) {
            TEXT(pr->last_error_class, p);
            continue;
        }
        for (size_t k = 0; k < PF_ARRAY_LEN(ints); k++) {
            if (fleet_is(p, ints[k].name)) {
                *(int64_t *)(void *)((char *)pr + ints[k].off) = INT(p);
                break;
            }
        }
    }
}

void fleet_node_from_pairs(struct fleet_node *nd, const struct snapshot_pair *pairs, size_t n)
{
    static const struct {
        const char *name;
        size_t      off;
    } ints[] = {
        { "updated_at_ms", offsetof(struct fleet_node, updated_at_ms) },
        { "redis_connected", offsetof(struct fleet_node, redis_connected) },
        { "ready", offsetof(struct fleet_node, ready) },
        { "pool_version", offsetof(struct fleet_node, pool_version) },
        { "pool_size", offsetof(struct fleet_node, pool_size) },
        { "pool_usable", offsetof(struct fleet_node, pool_usable) },
        { "conns_active", offsetof(struct fleet_node, conns_active) },
        { "requests_total", offsetof(struct fleet_node, requests_total) },
    };
    if (n > 0)
        nd->has_hash = 1;
    for (size_t i = 0; i < n; i++) {
        const struct snapshot_pair *p = &pairs[i];
        if (p->value == NULL)
            continue;
        if (fleet_is(p, "listen")) {
            TEXT(nd->listen, p);
        } else if (fleet_is(p, "version")) {
            TEXT(nd->version, p);
        } else if (fleet_is(p, "commit")) {
            TEXT(nd->commit, p);
        } else if (fleet_is(p, "pool_epoch")) {
            TEXT(nd->pool_epoch, p);
        } else if (fleet_is(p, "responses_total")) {
            if (fleet_parse_labelled(p->value, p->value_len, "5xx", &nd->responses_total,
                                     &nd->responses_5xx) != PF_OK)
                continue;   /* both stay unknown */
        } else if (fleet_is(p, "process_start_time_seconds")) {
            nd->started_at_ms = fleet_parse_seconds_ms(p->value, p->value_len);
        } else {
            for (size_t k = 0; k < PF_ARRAY_LEN(ints); k++) {
                if (fleet_is(p, ints[k].name)) {
                    *(int64_t *)(void *)((char *)nd + ints[k].off) = INT(p);
                    break;
                }
            }
        }
    }
}

int fleet_upstream_init(struct fleet_upstream *u, const char *id, size_t id_len)
{
    memset(u, 0, sizeof(*u));
    size_t cap = id_len * 3 + 1;   /* every byte may become U+FFFD */
    u->id = malloc(cap);
    if (u->id == NULL)
        return PF_ENOMEM;
    fleet_copy_text(u->id, cap, id, id_len);
    return PF_OK;
}

void fleet_upstream_deinit(struct fleet_upstream *u)
{
    if (u == NULL)
        return;
    free(u->id);
    u->id = NULL;
}

int fleet_record_decode(struct fleet_upstream *u, const char *json, size_t len,
                        struct pf_err *err)
{
    struct upstream rec;
    u->in_pool = 1;
    if (snapshot_record_decode_public(json, len, &rec, err) != PF_OK) {
        u->is_bad = 1;
        return PF_EINVAL;
    }
    /* the decoder checked provider names and labels (clean UTF-8) */
    memcpy(u->provider, rec.provider, sizeof(u->provider));
    u->tier = rec.tier;
    u->labels = rec.labels;
    u->expires_at_ms = rec.expires_at_ms;
    if (u->latency_ms == 0)
        u->latency_ms = rec.latency_ms;
    return PF_OK;
}

/* An integral, non-negative number member <name> of <o>, or <dflt>. */
static int64_t fleet_json_int(const cJSON *o, const char *name, int64_t dflt)
{
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(o, name);
    if (!cJSON_IsNumber(m) || m->valuedouble < 0 || m->valuedouble > 9.0e15 ||
        m->valuedouble != floor(m->valuedouble))
        return dflt;
    return (int64_t)m->valuedouble;
}

int fleet_health_decode(struct fleet_upstream *u, const char *json, size_t len, int64_t now_ms)
{
    u->is_tracked = 1;
    u->health = FLEET_HEALTH_UNKNOWN;
    cJSON *o = json != NULL ? cJSON_ParseWithLength(json, len) : NULL;
    if (!cJSON_IsObject(o)) {
        cJSON_Delete(o);
        return PF_EINVAL;
    }
    int rc = PF_OK;
    const cJSON *st = cJSON_GetObjectItemCaseSensitive(o, "state");
    if (cJSON_IsString(st)) {
        if (strcmp(st->valuestring, "healthy") == 0)
            u->health = FLEET_HEALTH_HEALTHY;
        else if (strcmp(st->valuestring, "unhealthy") == 0)
            u->health = FLEET_HEALTH_UNHEALTHY;
        else if (strcmp(st->valuestring, "unknown") != 0)
            rc = PF_EINVAL;
    } else {
        rc = PF_EINVAL;
    }
    u->ejected_until_ms = fleet_json_int(o, "ejected_until_ms", 0);
    if (u->ejected_until_ms > now_ms)
        u->health = FLEET_HEALTH_EJECTED;
    else
        u->ejected_until_ms = 0;
    int64_t lat = fleet_json_int(o, "latency_ms", 0);
    if (lat > 0)
        u->latency_ms = lat;
    const cJSON *why = cJSON_GetObjectItemCaseSensitive(o, "reason");
    if (cJSON_IsString(why))
        fleet_copy_text(u->reason, sizeof(u->reason), why->valuestring, strlen(why->valuestring));
    cJSON_Delete(o);
    return rc;
}

static const char *const fleet_health_names[FLEET_HEALTH_N] = {
    "unchecked", "unknown", "healthy", "unhealthy", "ejected",
};

const char *fleet_health_name(enum fleet_health h)
{
    return (unsigned)h < FLEET_HEALTH_N ? fleet_health_names[h] : "?";
}

const char *fleet_node_state_name(enum fleet_node_state s)
{
    switch (s) {
    case FLEET_NODE_UP:    return "up";
    case FLEET_NODE_STALE: return "stale";
    case FLEET_NODE_GONE:  return "gone";
    }
    return "?";
}

int fleet_health_parse(const char *name, enum fleet_health *out)
{
    for (int h = 0; h < FLEET_HEALTH_N; h++) {
        if (strcmp(name, fleet_health_names[h]) == 0) {
            *out = (enum fleet_health)h;
            return PF_OK;
        }
    }
    return PF_EINVAL;
}

static int fleet_ban_cmp(const void *a, const void *b)
{
    const struct ban *x = a, *y = b;
    if (x->created_at_ms != y->created_at_ms)
        return x->created_at_ms > y->created_at_ms ? -1 : 1;
    return strcmp(x->id, y->id);
}

int fleet_bans_from_pairs(struct fleet_bans *b, const struct snapshot_pair *pairs, size_t n,
                          int64_t now_ms)
{
    fleet_bans_deinit(b);
    if (n == 0)
        return PF_OK;
    b->v = calloc(n, sizeof(*b->v));
    if (b->v == NULL)
        return PF_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        struct pf_err err;
        struct ban *x = &b->v[b->n];
        pf_err_clear(&err);
        if (pairs[i].value == NULL ||
            ban_record_parse(pairs[i].value, pairs[i].value_len, x, &err) != PF_OK) {
            b->bad++;
            continue;
        }
        if (x->expires_at_ms <= now_ms) {
            b->expired++;
            continue;
        }
        b->n++;
    }
    if (b->n > 1)
        qsort(b->v, b->n, sizeof(*b->v), fleet_ban_cmp);
    return PF_OK;
}

void fleet_bans_deinit(struct fleet_bans *b)
{
    if (b == NULL)
        return;
    free(b->v);
    memset(b, 0, sizeof(*b));
}
