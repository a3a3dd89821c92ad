/* Derived figures of the fleet status; see fleet_model.h. */
#include "fleet_model.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fleet_decode.h"

void fleet_init(struct fleet *f, int64_t now_ms)
{
    memset(f, 0, sizeof(*f));
    f->now_ms = now_ms;
    fleet_leader_init(&f->leader);
    f->pool.version = f->pool.count = f->pool.updated_at_ms = FLEET_UNKNOWN;
}

static void fleet_groups_free(struct fleet_groups *g)
{
    free(g->v);
    g->v = NULL;
    g->n = 0;
}

void fleet_deinit(struct fleet *f)
{
    if (f == NULL)
        return;
    free(f->providers);
    free(f->nodes);
    for (size_t i = 0; i < f->nupstreams; i++)
        fleet_upstream_deinit(&f->upstreams[i]);
    free(f->upstreams);
    fleet_bans_deinit(&f->bans);
    fleet_groups_free(&f->pool.by_provider);
    fleet_groups_free(&f->pool.by_tier);
    fleet_groups_free(&f->pool.by_country);
    fleet_groups_free(&f->pool.by_city);
    fleet_groups_free(&f->pool.by_isp);
    memset(f, 0, sizeof(*f));
}

/* The group <name> of <g>, added when new (at most <cap> groups: <g->v>
 * holds that many). */
static struct fleet_group *fleet_group_get(struct fleet_groups *g, const char *name)
{
    for (size_t i = 0; i < g->n; i++) {
        if (strcmp(g->v[i].name, name) == 0)
            return &g->v[i];
    }
    struct fleet_group *x = &g->v[g->n++];
    memset(x, 0, sizeof(*x));
    snprintf(x->name, sizeof(x->name), "%s", name);
    return x;
}

static int fleet_group_cmp(const void *a, const void *b)
{
    const struct fleet_group *x = a, *y = b;
    if (x->total != y->total)
        return x->total > y->total ? -1 : 1;
    return strcmp(x->name, y->name);
}

static int fleet_provider_cmp(const void *a, const void *b)
{
    return strcmp(((const struct fleet_provider *)a)->name,
                  ((const struct fleet_provider *)b)->name);
}

static int fleet_node_cmp(const void *a, const void *b)
{
    const struct fleet_node *x = a, *y = b;
    int gx = x->state == FLEET_NODE_GONE, gy = y->state == FLEET_NODE_GONE;
    if (gx != gy)
        return gx - gy;
    return strcmp(x->id, y->id);
}

static int fleet_upstream_cmp(const void *a, const void *b)
{
    return strcmp(((const struct fleet_upstream *)a)->id, ((const struct fleet_upstream *)b)->id);
}

/* qsort() that accepts an empty (NULL) array. */
static void fleet_sort(void *base, size_t n, size_t size, int (*cmp)(const void *, const void *))
{
    if (n > 1)
        qsort(base, n, size, cmp);
}

static void fleet_node_finish(const struct fleet *f, struct fleet_node *n)
{
    int64_t at = n->updated_at_ms != FLEET_UNKNOWN ? n->updated_at_ms : n->seen_at_ms;
    n->age_ms = at != FLEET_UNKNOWN && f->now_ms >= at ? f->now_ms - at : FLEET_UNKNOWN;
    if (n->has_hash && n->ttl_ms > 0 && n->age_ms != FLEET_UNKNOWN)
        n->interval_ms = (n->ttl_ms + n->age_ms) / 3;
    if (!n->has_hash)
        n->state = FLEET_NODE_GONE;
    else if (n->age_ms != FLEET_UNKNOWN && n->interval_ms > 0 && n->age_ms > 2 * n->interval_ms)
        n->state = FLEET_NODE_STALE;
    else
        n->state = FLEET_NODE_UP;

    n->lag_versions = FLEET_UNKNOWN;
    n->lag_ms = 0;
    n->is_other_epoch = 0;
    if (!f->pool.has_meta || n->pool_version == FLEET_UNKNOWN || n->pool_version <= 0)
        return;
    if (strcmp(n->pool_epoch, f->pool.epoch) != 0) {
        n->is_other_epoch = 1;
    } else {
        n->lag_versions = f->pool.version > n->pool_version ? f->pool.version - n->pool_version : 0;
        if (n->lag_versions == 0)
            return;
    }
    if (n->updated_at_ms != FLEET_UNKNOWN && f->pool.updated_at_ms != FLEET_UNKNOWN &&
        n->updated_at_ms > f->pool.updated_at_ms)
        n->lag_ms = n->updated_at_ms - f->pool.updated_at_ms;
}

static void fleet_count(struct fleet_group *g, enum fleet_health h)
{
    g->total++;
    g->by_health[h]++;
}

int fleet_model_finish(struct fleet *f)
{
    struct fleet_pool *p = &f->pool;

    for (size_t i = 0; i < f->nnodes; i++)
        fleet_node_finish(f, &f->nodes[i]);
    fleet_sort(f->providers, f->nproviders, sizeof(*f->providers), fleet_provider_cmp);
    fleet_sort(f->nodes, f->nnodes, sizeof(*f->nodes), fleet_node_cmp);
    fleet_sort(f->upstreams, f->nupstreams, sizeof(*f->upstreams), fleet_upstream_cmp);

    struct fleet_groups *gs[] = { &p->by_provider, &p->by_tier, &p->by_country, &p->by_city,
                                  &p->by_isp };
    for (size_t k = 0; k < PF_ARRAY_LEN(gs); k++) {
        fleet_groups_free(gs[k]);
        if (f->nupstreams > 0 && (gs[k]->v = calloc(f->nupstreams, sizeof(*gs[k]->v))) == NULL)
            return PF_ENOMEM;
    }
    memset(&p->health, 0, sizeof(p->health));
    snprintf(p->health.name, sizeof(p->health.name), "all");
    p->records = p->bad_records = p->tracked = p->excluded = 0;
    for (size_t i = 0; i < f->nupstreams; i++) {
        const struct fleet_upstream *u = &f->upstreams[i];
        if (u->is_tracked)
            p->tracked++;
        if (u->in_pool)
            p->records++;
        if (u->is_bad) {
            p->bad_records++;
            continue;
        }
        fleet_count(&p->health, u->health);
        if (!u->in_pool) {
            p->excluded++;
            continue;
        }
        char tier[16];
        snprintf(tier, sizeof(tier), "%" PRIu32, u->tier);
        fleet_count(fleet_group_get(&p->by_provider, u->provider), u->health);
        fleet_count(fleet_group_get(&p->by_tier, tier), u->health);
        fleet_count(fleet_group_get(&p->by_country, u->labels.country), u->health);
        fleet_count(fleet_group_get(&p->by_city, u->labels.city), u->health);
        fleet_count(fleet_group_get(&p->by_isp, u->labels.isp), u->health);
    }
    for (size_t k = 0; k < PF_ARRAY_LEN(gs); k++)
        fleet_sort(gs[k]->v, gs[k]->n, sizeof(*gs[k]->v), fleet_group_cmp);
    return PF_OK;
}

void fleet_rates(struct fleet *now, const struct fleet *before)
{
    for (size_t i = 0; i < now->nnodes; i++) {
        struct fleet_node *n = &now->nodes[i];
        const struct fleet_node *b = NULL;
        for (size_t j = 0; j < before->nnodes && b == NULL; j++) {
            if (strcmp(before->nodes[j].id, n->id) == 0)
                b = &before->nodes[j];
        }
        n->has_rates = 0;
        if (b == NULL || !n->has_hash || !b->has_hash || n->updated_at_ms == FLEET_UNKNOWN ||
            b->updated_at_ms == FLEET_UNKNOWN || n->updated_at_ms <= b->updated_at_ms ||
            n->requests_total == FLEET_UNKNOWN || b->requests_total == FLEET_UNKNOWN ||
            n->requests_total < b->requests_total || n->started_at_ms != b->started_at_ms)
            continue;
        double s = (double)(n->updated_at_ms - b->updated_at_ms) / 1000.0;
        n->has_rates = 1;
        n->rate_from_ms = b->updated_at_ms;
        n->rate_to_ms = n->updated_at_ms;
        n->requests_per_s = (double)(n->requests_total - b->requests_total) / s;
        n->responses_5xx_per_s = 0;
        n->ratio_5xx = -1;
        if (n->responses_total != FLEET_UNKNOWN && b->responses_total != FLEET_UNKNOWN &&
            n->responses_5xx >= b->responses_5xx && n->responses_total >= b->responses_total) {
            int64_t d5 = n->responses_5xx - b->responses_5xx;
            int64_t dall = n->responses_total - b->responses_total;
            n->responses_5xx_per_s = (double)d5 / s;
            if (dall > 0)
                n->ratio_5xx = (double)d5 / (double)dall;
        }
    }
}

int fleet_check(const struct fleet *f, const struct fleet_check_limits *lim, char *why,
                size_t len)
{
    if (!f->leader.is_held) {
        snprintf(why, len, "no leader: no controller holds the lease");
        return PF_EINVAL;
    }
    if (!f->pool.has_meta) {
        snprintf(why, len, "no pool: nothing published yet");
        return PF_EINVAL;
    }
    if (f->pool.count == 0 || f->pool.records - f->pool.bad_records <= 0) {
        snprintf(why, len, "empty pool: version %" PRId64 " has no upstream", f->pool.version);
        return PF_EINVAL;
    }
    for (size_t i = 0; i < f->nproviders; i++) {
        const struct fleet_provider *p = &f->providers[i];
        if (strcmp(p->breaker, "open") == 0) {
            snprintf(why, len, "provider %s: breaker open (%s)", p->name,
                     p->last_error[0] != '\0' ? p->last_error : "no error recorded");
            return PF_EINVAL;
        }
    }
    for (size_t i = 0; i < f->nnodes; i++) {
        const struct fleet_node *n = &f->nodes[i];
        if (n->state != FLEET_NODE_UP)
            continue;
        if (n->lag_versions != FLEET_UNKNOWN && n->lag_versions > lim->max_lag_versions) {
            snprintf(why, len, "node %s: pool version %" PRId64 " is %" PRId64
                     " versions behind %" PRId64, n->id, n->pool_version, n->lag_versions,
                     f->pool.version);
            return PF_EINVAL;
        }
        if (n->lag_ms > lim->max_lag_ms) {
            snprintf(why, len, "node %s: %s for %" PRId64 " s (serves version %" PRId64
                     ", Redis has %" PRId64 ")", n->id,
                     n->is_other_epoch ? "on another epoch" : "behind", n->lag_ms / 1000,
                     n->pool_version, f->pool.version);
            return PF_EINVAL;
        }
    }
    return PF_OK;
}
