/* Unit tests for fleet/fleet_model.c: node states and lag, rates, the pool
 * groups and the --check verdict, on models built by hand. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fleet_decode.h"
#include "fleet_model.h"

#define NOW 1795306801000LL

static void add_node(struct fleet *f, const char *id, int has_hash, int64_t updated, int64_t ttl,
                     int64_t version, const char *epoch)
{
    f->nodes = realloc(f->nodes, (f->nnodes + 1) * sizeof(*f->nodes));
    struct fleet_node *n = &f->nodes[f->nnodes++];
    fleet_node_init(n, id, strlen(id), updated);
    n->has_hash = has_hash;
    n->updated_at_ms = updated;
    n->ttl_ms = ttl;
    n->pool_version = version;
    snprintf(n->pool_epoch, sizeof(n->pool_epoch), "%s", epoch);
}

static void base(struct fleet *f)
{
    fleet_init(f, NOW);
    fleet_leader_token(&f->leader, "ctl-a:x", 7);
    f->pool.has_meta = 1;
    f->pool.version = 7;
    f->pool.count = 1;
    f->pool.updated_at_ms = NOW - 10000;
    strcpy(f->pool.epoch, "e1");
    f->upstreams = calloc(2, sizeof(*f->upstreams));
    cr_assert_eq(fleet_upstream_init(&f->upstreams[0], "http://b:1", 10), PF_OK);
    f->upstreams[0].in_pool = 1;
    strcpy(f->upstreams[0].provider, "p1");
    cr_assert_eq(fleet_upstream_init(&f->upstreams[1], "http://a:1", 10), PF_OK);
    f->upstreams[1].is_tracked = 1;
    f->upstreams[1].health = FLEET_HEALTH_UNHEALTHY;
    f->nupstreams = 2;
}

Test(fleet_model, node_states_and_lag)
{
    struct fleet f;
    base(&f);
    /* interval 500 ms: TTL 1500 at a write, 1000 left 500 ms later */
    add_node(&f, "up", 1, NOW - 500, 1000, 7, "e1");
    add_node(&f, "behind", 1, NOW - 200, 1300, 5, "e1");
    add_node(&f, "stale", 1, NOW - 1400, 100, 7, "e1");
    add_node(&f, "gone", 0, NOW - 60000, FLEET_UNKNOWN, FLEET_UNKNOWN, "");
    add_node(&f, "epoch", 1, NOW - 100, 1400, 9, "e0");
    cr_assert_eq(fleet_model_finish(&f), PF_OK);
    cr_assert_eq(f.nnodes, 5);
    cr_expect_str_eq(f.nodes[4].id, "gone", "gone nodes last");
    for (size_t i = 0; i < f.nnodes; i++) {
        struct fleet_node *n = &f.nodes[i];
        if (strcmp(n->id, "up") == 0) {
            cr_expect_eq(n->state, FLEET_NODE_UP);
            cr_expect_eq(n->interval_ms, 500);
            cr_expect_eq(n->lag_versions, 0);
            cr_expect_eq(n->lag_ms, 0);
        } else if (strcmp(n->id, "behind") == 0) {
            cr_expect_eq(n->lag_versions, 2);
            cr_expect_eq(n->lag_ms, 9800, "its heartbeat after the publish still lacks it");
        } else if (strcmp(n->id, "stale") == 0) {
            cr_expect_eq(n->state, FLEET_NODE_STALE);
        } else if (strcmp(n->id, "gone") == 0) {
            cr_expect_eq(n->state, FLEET_NODE_GONE);
        } else {
            cr_expect(n->is_other_epoch);
            cr_expect_eq(n->lag_ms, 9900);
        }
    }
    cr_expect_eq(f.pool.records, 1);
    cr_expect_eq(f.pool.excluded, 1);
    cr_expect_eq(f.pool.health.by_health[FLEET_HEALTH_UNHEALTHY], 1);
    cr_expect_eq(f.pool.health.by_health[FLEET_HEALTH_UNCHECKED], 1);
    cr_expect_str_eq(f.upstreams[0].id, "http://a:1", "sorted by id");
    cr_assert_eq(f.pool.by_provider.n, 1);
    cr_expect_str_eq(f.pool.by_provider.v[0].name, "p1");

    char why[256];
    struct fleet_check_limits lim = { 3, 60000 };
    cr_expect_eq(fleet_check(&f, &lim, why, sizeof(why)), PF_OK, "%s", why);
    lim.max_lag_versions = 1;
    cr_expect_eq(fleet_check(&f, &lim, why, sizeof(why)), PF_EINVAL);
    cr_expect_str_eq(why, "node behind: pool version 5 is 2 versions behind 7");
    lim.max_lag_versions = 3;
    lim.max_lag_ms = 9850;
    cr_expect_eq(fleet_check(&f, &lim, why, sizeof(why)), PF_EINVAL);
    cr_expect_str_eq(why, "node epoch: on another epoch for 9 s (serves version 9, Redis has 7)");
    fleet_deinit(&f);
}

Test(fleet_model, check_order)
{
    struct fleet f;
    struct fleet_check_limits lim = { 3, 60000 };
    char why[256];

    fleet_init(&f, NOW);
    cr_assert_eq(fleet_model_finish(&f), PF_OK);
    cr_expect_eq(fleet_check(&f, &lim, why, sizeof(why)), PF_EINVAL);
    cr_expect_str_eq(why, "no leader: no controller holds the lease");
    fleet_leader_token(&f.leader, "c:1", 3);
    cr_expect_eq(fleet_check(&f, &lim, why, sizeof(why)), PF_EINVAL);
    cr_expect_str_eq(why, "no pool: nothing published yet");
    f.pool.has_meta = 1;
    f.pool.version = 4;
    f.pool.count = 0;
    cr_expect_eq(fleet_check(&f, &lim, why, sizeof(why)), PF_EINVAL);
    cr_expect_str_eq(why, "empty pool: version 4 has no upstream");
    fleet_deinit(&f);

    base(&f);
    f.providers = calloc(1, sizeof(*f.providers));
    fleet_provider_init(&f.providers[0], "plain", 5);
    f.nproviders = 1;
    strcpy(f.providers[0].breaker, "open");
    strcpy(f.providers[0].last_error, "HTTP 500");
    cr_assert_eq(fleet_model_finish(&f), PF_OK);
    cr_expect_eq(fleet_check(&f, &lim, why, sizeof(why)), PF_EINVAL);
    cr_expect_str_eq(why, "provider plain: breaker open (HTTP 500)");
    fleet_deinit(&f);
}

Test(fleet_model, rates)
{
    struct fleet a, b;
    base(&a);
    base(&b);
    add_node(&a, "n", 1, NOW - 2000, 1000, 7, "e1");
    a.nodes[0].requests_total = 100;
    a.nodes[0].responses_total = 100;
    a.nodes[0].responses_5xx = 10;
    add_node(&b, "n", 1, NOW, 1500, 7, "e1");
    b.nodes[0].requests_total = 300;
    b.nodes[0].responses_total = 300;
    b.nodes[0].responses_5xx = 30;
    add_node(&b, "new", 1, NOW, 1500, 7, "e1");
    fleet_rates(&b, &a);
    cr_expect(b.nodes[0].has_rates);
    cr_expect_float_eq(b.nodes[0].requests_per_s, 100.0, 1e-9);
    cr_expect_float_eq(b.nodes[0].responses_5xx_per_s, 10.0, 1e-9);
    cr_expect_float_eq(b.nodes[0].ratio_5xx, 0.1, 1e-9);
    cr_expect(!b.nodes[1].has_rates, "no earlier heartbeat");
    /* a restart (counters down) gives no rate */
    b.nodes[0].requests_total = 5;
    fleet_rates(&b, &a);
    cr_expect(!b.nodes[0].has_rates);
    fleet_deinit(&a);
    fleet_deinit(&b);
}
