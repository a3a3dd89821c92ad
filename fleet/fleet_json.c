/* The fleet status as JSON; see fleet_json.h. */
#include "fleet_json.h"

#include <inttypes.h>
#include <stdio.h>

#include "fleet_decode.h"
#include "pf.h"

/* Adds integer <v> (null when unknown). 0 on allocation failure. */
static int fj_int(cJSON *o, const char *name, int64_t v)
{
    if (v == FLEET_UNKNOWN)
        return cJSON_AddNullToObject(o, name) != NULL;
    return cJSON_AddNumberToObject(o, name, (double)v) != NULL;
}

/* <now> - <at>, null when <at> is unknown or 0 (never). */
static int fj_age(cJSON *o, const char *name, int64_t now, int64_t at)
{
    return fj_int(o, name, at == FLEET_UNKNOWN || at <= 0 ? FLEET_UNKNOWN : now - at);
}

/* <at> - <now> (may be negative: overdue), null when unknown or 0. */
static int fj_in(cJSON *o, const char *name, int64_t now, int64_t at)
{
    return fj_int(o, name, at == FLEET_UNKNOWN || at <= 0 ? FLEET_UNKNOWN : at - now);
}

static int fj_str(cJSON *o, const char *name, const char *s)
{
    return cJSON_AddStringToObject(o, name, s) != NULL;
}

cJSON *fleet_json_leader(const struct fleet *f)
{
    const struct fleet_leader *l = &f->leader;
    cJSON *o = cJSON_CreateObject();
    if (o == NULL)
        return NULL;
    int ok = cJSON_AddBoolToObject(o, "held", l->is_held) != NULL &&
             fj_str(o, "id", l->id) &&
             fj_int(o, "lease_ttl_ms", l->is_held ? l->lease_ttl_ms : FLEET_UNKNOWN) &&
             cJSON_AddBoolToObject(o, "heartbeat", l->has_heartbeat) != NULL &&
             fj_str(o, "epoch", l->epoch) && fj_str(o, "version", l->version) &&
             fj_str(o, "commit", l->commit) &&
             fj_age(o, "heartbeat_age_ms", f->now_ms, l->heartbeat_at_ms) &&
             fj_int(o, "pool_version", l->pool_version) && fj_int(o, "pool_size", l->pool_size) &&
             fj_int(o, "leader_since_ms", l->leader_since_ms);
    if (!ok) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

static cJSON *fleet_json_provider(const struct fleet *f, const struct fleet_provider *p)
{
    cJSON *o = cJSON_CreateObject();
    if (o == NULL)
        return NULL;
    int ok = fj_str(o, "name", p->name) && cJSON_AddBoolToObject(o, "reported", p->has_hash) &&
             fj_str(o, "state", p->state) && fj_str(o, "breaker", p->breaker) &&
             fj_str(o, "last_error", p->last_error) &&
             fj_str(o, "last_error_class", p->last_error_class) &&
             fj_int(o, "upstreams", p->upstreams) && fj_int(o, "polls", p->polls) &&
             fj_int(o, "failures", p->failures) &&
             fj_int(o, "consecutive_failures", p->consecutive_failures) &&
             fj_int(o, "breaker_opens", p->breaker_opens) &&
             fj_age(o, "last_error_age_ms", f->now_ms, p->last_error_at_ms) &&
             fj_age(o, "last_success_age_ms", f->now_ms, p->last_success_at_ms) &&
             fj_in(o, "next_poll_in_ms", f->now_ms, p->next_poll_at_ms) &&
             fj_in(o, "breaker_retry_in_ms", f->now_ms, p->breaker_until_ms);
    if (!ok) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

cJSON *fleet_json_providers(const struct fleet *f)
{
    cJSON *a = cJSON_CreateArray();
    for (size_t i = 0; a != NULL && i < f->nproviders; i++) {
        cJSON *o = fleet_json_provider(f, &f->providers[i]);
        if (o == NULL || !cJSON_AddItemToArray(a, o)) {
            cJSON_Delete(o);
            cJSON_Delete(a);
            return NULL;
        }
    }
    return a;
}

/* A rate rounded to 0.01, null without two heartbeats. */
static int fj_rate(cJSON *o, const char *name, int has, double v)
{
    if (!has)
        return cJSON_AddNullToObject(o, name) != NULL;
    return cJSON_AddNumberToObject(o, name, (double)(int64_t)(v * 100.0 + 0.5) / 100.0) != NULL;
}

static cJSON *fleet_json_node(const struct fleet_node *n)
{
    cJSON *o = cJSON_CreateObject();
    if (o == NULL)
        return NULL;
    int ok = fj_str(o, "id", n->id) && fj_str(o, "state", fleet_node_state_name(n->state)) &&
             fj_str(o, "listen", n->listen) && fj_str(o, "version", n->version) &&
             fj_int(o, "heartbeat_age_ms", n->age_ms) &&
             fj_int(o, "report_interval_ms", n->interval_ms) &&
             fj_int(o, "ready", n->ready) && fj_int(o, "redis_connected", n->redis_connected) &&
             fj_int(o, "pool_version", n->pool_version) && fj_str(o, "pool_epoch", n->pool_epoch) &&
             fj_int(o, "lag_versions", n->lag_versions) &&
             cJSON_AddBoolToObject(o, "other_epoch", n->is_other_epoch) != NULL &&
             fj_int(o, "lag_ms", n->lag_ms) && fj_int(o, "pool_size", n->pool_size) &&
             fj_int(o, "pool_usable", n->pool_usable) &&
             fj_int(o, "conns_active", n->conns_active) &&
             fj_int(o, "requests_total", n->requests_total) &&
             fj_int(o, "responses_total", n->responses_total) &&
             fj_int(o, "responses_5xx_total", n->responses_5xx) &&
             fj_rate(o, "requests_per_s", n->has_rates, n->requests_per_s) &&
             fj_rate(o, "responses_5xx_per_s", n->has_rates, n->responses_5xx_per_s) &&
             fj_rate(o, "ratio_5xx", n->has_rates && n->ratio_5xx >= 0, n->ratio_5xx);
    if (!ok) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

cJSON *fleet_json_nodes(const struct fleet *f)
{
    cJSON *a = cJSON_CreateArray();
    for (size_t i = 0; a != NULL && i < f->nnodes; i++) {
        cJSON *o = fleet_json_node(&f->nodes[i]);
        if (o == NULL || !cJSON_AddItemToArray(a, o)) {
            cJSON_Delete(o);
            cJSON_Delete(a);
            return NULL;
        }
    }
    return a;
}

static cJSON *fleet_json_group(const struct fleet_group *g)
{
    cJSON *o = cJSON_CreateObject();
    if (o == NULL)
        return NULL;
    int ok = fj_str(o, "name", g->name) && fj_int(o, "total", g->total);
    for (int h = 0; ok && h < FLEET_HEALTH_N; h++)
        ok = fj_int(o, fleet_health_name((enum fleet_health)h), g->by_health[h]);
    if (!ok) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

static int fj_groups(cJSON *parent, const char *name, const struct fleet_groups *g)
{
    cJSON *a = cJSON_AddArrayToObject(parent, name);
    if (a == NULL)
        return 0;
    for (size_t i = 0; i < g->n; i++) {
        cJSON *o = fleet_json_group(&g->v[i]);
        if (o == NULL || !cJSON_AddItemToArray(a, o)) {
            cJSON_Delete(o);
            return 0;
        }
    }
    return 1;
}

cJSON *fleet_json_pool(const struct fleet *f)
{
    const struct fleet_pool *p = &f->pool;
    cJSON *o = cJSON_CreateObject();
    if (o == NULL)
        return NULL;
    cJSON *labels = NULL;
    cJSON *health = fleet_json_group(&p->health);
    int ok = health != NULL && cJSON_AddBoolToObject(o, "present", p->has_meta) != NULL &&
             fj_int(o, "version", p->version) && fj_str(o, "epoch", p->epoch) &&
             fj_int(o, "count", p->count) &&
             fj_age(o, "published_age_ms", f->now_ms, p->updated_at_ms) &&
             fj_str(o, "controller_id", p->controller_id) && fj_int(o, "records", p->records) &&
             fj_int(o, "bad_records", p->bad_records) && fj_int(o, "tracked", p->tracked) &&
             fj_int(o, "excluded", p->excluded) && cJSON_AddItemToObject(o, "health", health);
    if (!ok)
        cJSON_Delete(health);
    ok = ok && fj_groups(o, "by_provider", &p->by_provider) &&
         fj_groups(o, "by_tier", &p->by_tier) &&
         (labels = cJSON_AddObjectToObject(o, "by_label")) != NULL &&
         fj_groups(labels, "country", &p->by_country) && fj_groups(labels, "city", &p->by_city) &&
         fj_groups(labels, "isp", &p->by_isp);
    if (!ok) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

cJSON *fleet_json_ban(const struct ban *b)
{
    char rec[BAN_RECORD_MAX];
    if (ban_record_format(b, rec, sizeof(rec)) < 0)
        return NULL;
    return cJSON_Parse(rec);
}

cJSON *fleet_json_bans(const struct fleet *f, const char *member, size_t limit)
{
    const struct fleet_bans *b = &f->bans;
    cJSON *o = cJSON_CreateObject();
    cJSON *a = NULL;
    int ok = o != NULL && fj_int(o, "count", (int64_t)b->n) && fj_int(o, "expired", b->expired) &&
             fj_int(o, "bad_records", b->bad) &&
             (a = cJSON_AddArrayToObject(o, member)) != NULL;
    for (size_t i = 0; ok && i < b->n && i < limit; i++) {
        cJSON *x = fleet_json_ban(&b->v[i]);
        ok = x != NULL && fj_in(x, "expires_in_ms", f->now_ms, b->v[i].expires_at_ms) &&
             cJSON_AddItemToArray(a, x);
        if (!ok)
            cJSON_Delete(x);
    }
    if (!ok) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

cJSON *fleet_json_status(const struct fleet *f)
{
    cJSON *o = cJSON_CreateObject();
    if (o == NULL)
        return NULL;
    cJSON *parts[5] = { fleet_json_leader(f), fleet_json_providers(f), fleet_json_nodes(f),
                        fleet_json_pool(f), fleet_json_bans(f, "recent", FLEET_JSON_BANS_RECENT) };
    static const char *const names[5] = { "leader", "providers", "nodes", "pool", "bans" };
    int ok = fj_int(o, "now_ms", f->now_ms) && fj_str(o, "redis", f->redis_target) &&
             fj_str(o, "prefix", f->prefix);
    for (int i = 0; i < 5; i++) {
        if (!ok || parts[i] == NULL || !cJSON_AddItemToObject(o, names[i], parts[i])) {
            cJSON_Delete(parts[i]);
            ok = 0;
        }
    }
    if (!ok) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

cJSON *fleet_json_upstream(const struct fleet_upstream *u)
{
    cJSON *o = cJSON_CreateObject();
    if (o == NULL)
        return NULL;
    cJSON *l = NULL;
    int ok = fj_str(o, "id", u->id) && cJSON_AddBoolToObject(o, "in_pool", u->in_pool) != NULL &&
             cJSON_AddBoolToObject(o, "bad_record", u->is_bad) != NULL &&
             fj_str(o, "provider", u->provider) && fj_int(o, "tier", u->tier) &&
             (l = cJSON_AddObjectToObject(o, "labels")) != NULL &&
             fj_str(l, "country", u->labels.country) && fj_str(l, "city", u->labels.city) &&
             fj_str(l, "isp", u->labels.isp) && fj_str(o, "health", fleet_health_name(u->health)) &&
             fj_int(o, "latency_ms", u->latency_ms) &&
             fj_int(o, "expires_at_ms", u->expires_at_ms) &&
             fj_int(o, "ejected_until_ms", u->ejected_until_ms) && fj_str(o, "reason", u->reason);
    if (!ok) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}
