/* Unit tests of node/pool_cache.c: staleness, stable order, round robin,
 * expiry and exclusion. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "pool_cache.h"

static struct upstream *make(const int *ports, size_t n, const int64_t *expires)
{
    struct upstream *u = calloc(n, sizeof(*u));
    cr_assert_not_null(u);
    for (size_t i = 0; i < n; i++) {
        u[i].scheme = UPSTREAM_HTTP;
        u[i].host_kind = UPSTREAM_HOST_IPV4;
        snprintf(u[i].host, sizeof(u[i].host), "192.0.2.%d", ports[i] % 200);
        u[i].port = (uint16_t)ports[i];
        u[i].weight = 1;
        u[i].expires_at_ms = expires != NULL ? expires[i] : 0;
    }
    return u;
}

Test(pool_cache, empty_pick)
{
    struct pool_cache pc;
    pool_cache_init(&pc);
    cr_expect_eq(pool_cache_pick(&pc, 0, NULL, 0), -1);
    cr_expect_eq(pc.version, 0);
    pool_cache_deinit(&pc);
    pool_cache_deinit(NULL);
}

Test(pool_cache, is_stale)
{
    struct pool_cache pc;
    pool_cache_init(&pc);
    cr_expect(pool_cache_is_stale(&pc, 1, "e1"));          /* never loaded */
    pool_cache_replace(&pc, NULL, 0, 5, "e1", 100);
    cr_expect_not(pool_cache_is_stale(&pc, 5, "e1"));      /* duplicate */
    cr_expect_not(pool_cache_is_stale(&pc, 4, "e1"));      /* older */
    cr_expect(pool_cache_is_stale(&pc, 6, "e1"));          /* newer */
    cr_expect(pool_cache_is_stale(&pc, 1, "e2"));          /* new epoch, whatever the version */
    cr_expect_eq(pc.loaded_at_ms, 100);
    cr_expect_geq(pc.last_apply_max_slice_us, 0);
    pool_cache_deinit(&pc);
}

Test(pool_cache, sorted_and_round_robin)
{
    int ports[] = { 30, 10, 20 };
    struct pool_cache pc;
    pool_cache_init(&pc);
    pool_cache_replace(&pc, make(ports, 3, NULL), 3, 1, "e", 0);
    /* sorted by id: http://192.0.2.10:10 < ...20:20 < ...30:30 */
    cr_expect_eq(pc.items[0].port, 10);
    cr_expect_eq(pc.items[1].port, 20);
    cr_expect_eq(pc.items[2].port, 30);
    long seq[6];
    for (int i = 0; i < 6; i++)
        seq[i] = pool_cache_pick(&pc, 0, NULL, 0);
    long want[6] = { 0, 1, 2, 0, 1, 2 };
    for (int i = 0; i < 6; i++)
        cr_expect_eq(seq[i], want[i], "pick %d", i);
    pool_cache_deinit(&pc);
}

Test(pool_cache, skips_expired_and_excluded)
{
    int ports[] = { 10, 20, 30 };
    int64_t exp[] = { 1000, 0, 5000 };
    struct pool_cache pc;
    pool_cache_init(&pc);
    pool_cache_replace(&pc, make(ports, 3, exp), 3, 1, "e", 0);
    /* at t=2000 index 0 has expired */
    for (int i = 0; i < 4; i++) {
        long idx = pool_cache_pick(&pc, 2000, NULL, 0);
        cr_expect_neq(idx, 0);
        cr_expect_geq(idx, 1);
    }
    long ex[] = { 1 };
    cr_expect_eq(pool_cache_pick(&pc, 2000, ex, 1), 2);
    cr_expect_eq(pool_cache_pick(&pc, 2000, ex, 1), 2);
    long ex2[] = { 1, 2 };
    cr_expect_eq(pool_cache_pick(&pc, 2000, ex2, 2), -1);
    cr_expect_eq(pool_cache_pick(&pc, 6000, ex, 1), -1);   /* 0 and 2 expired, 1 excluded */
    cr_expect_eq(pool_cache_pick(&pc, 500, ex, 1) != 1, 1);
    pool_cache_deinit(&pc);
}

Test(pool_cache, replace_keeps_cursor_in_range)
{
    int ports[] = { 10, 20, 30, 40 };
    struct pool_cache pc;
    pool_cache_init(&pc);
    pool_cache_replace(&pc, make(ports, 4, NULL), 4, 1, "e", 0);
    cr_expect_eq(pool_cache_pick(&pc, 0, NULL, 0), 0);
    cr_expect_eq(pool_cache_pick(&pc, 0, NULL, 0), 1);
    cr_expect_eq(pool_cache_pick(&pc, 0, NULL, 0), 2);
    pool_cache_replace(&pc, make(ports, 2, NULL), 2, 2, "e", 0);
    long idx = pool_cache_pick(&pc, 0, NULL, 0);
    cr_expect(idx == 0 || idx == 1);
    cr_expect_eq(pc.version, 2);
    cr_expect_str_eq(pc.epoch, "e");
    pool_cache_replace(&pc, NULL, 0, 3, "e", 0);
    cr_expect_eq(pool_cache_pick(&pc, 0, NULL, 0), -1);
    pool_cache_deinit(&pc);
}

static struct pool_select_req req_at(enum conf_strategy st, int64_t mono)
{
    struct pool_select_req rq;
    memset(&rq, 0, sizeof(rq));
    rq.strategy = st;
    rq.now_mono_ms = mono;
    rq.scheme_mask = 1u << UPSTREAM_HTTP;
    return rq;
}

Test(pool_cache, state_carried_across_swaps_by_id)
{
    int ports[] = { 10, 20, 30 };
    struct pool_cache pc;
    pool_cache_init(&pc);
    pool_cache_replace(&pc, make(ports, 3, NULL), 3, 1, "e", 0);
    pool_cache_conn_delta(&pc, pc.ids[1], 1);
    pool_cache_conn_delta(&pc, pc.ids[1], 1);
    cr_expect_eq(pool_cache_record(&pc, pc.ids[1], 1, 0, NULL, NULL), 0);
    int ports2[] = { 5, 20 };     /* 10 and 30 leave, 5 arrives */
    pool_cache_replace(&pc, make(ports2, 2, NULL), 2, 2, "e", 0);
    long i = pool_cache_find(&pc, "http://192.0.2.20:20");
    cr_assert_geq(i, 0);
    cr_expect_eq(pc.sel[i].active, 2);
    cr_expect_eq(pc.st[i].attempts, 1);
    cr_expect_eq(pc.st[i].failures, 1);
    cr_expect_eq(pool_cache_find(&pc, "http://192.0.2.10:10"), -1);
    pool_cache_deinit(&pc);
}

Test(pool_cache, least_conn_uses_active_counts)
{
    int ports[] = { 10, 20, 30 };
    struct pool_cache pc;
    pool_cache_init(&pc);
    pool_cache_replace(&pc, make(ports, 3, NULL), 3, 1, "e", 0);
    pool_cache_conn_delta(&pc, pc.ids[0], 1);
    pool_cache_conn_delta(&pc, pc.ids[2], 1);
    struct pool_select_req rq = req_at(CONF_STRATEGY_LEAST_CONN, 0);
    cr_expect_eq(pool_cache_select(&pc, &rq, NULL), 1);
    pool_cache_deinit(&pc);
}

Test(pool_cache, ejection_grows_then_all_ejected_is_503_or_panic)
{
    int ports[] = { 10, 20 };
    struct pool_cache pc;
    pool_cache_init(&pc);
    pool_cache_replace(&pc, make(ports, 2, NULL), 2, 1, "e", 0);
    struct pool_eject_conf ec = { 3, 1000, 2500 };
    int64_t until = 0;
    cr_expect_eq(pool_cache_record(&pc, pc.ids[0], 1, 100, &ec, &until), 0);
    cr_expect_eq(pool_cache_record(&pc, pc.ids[0], 1, 100, &ec, &until), 0);
    cr_expect_eq(pool_cache_record(&pc, pc.ids[0], 1, 100, &ec, &until), 1);
    cr_expect_eq(until, 1100);
    struct pool_select_req rq = req_at(CONF_STRATEGY_ROUND_ROBIN, 500);
    struct pool_select_res res;
    for (int k = 0; k < 4; k++)
        cr_expect_eq(pool_cache_select(&pc, &rq, &res), 1);
    /* second ejection: 2 x base */
    for (int k = 0; k < 3; k++)
        (void)pool_cache_record(&pc, pc.ids[0], 1, 2000, &ec, &until);
    cr_expect_eq(until, 4000);
    /* third: capped */
    for (int k = 0; k < 3; k++)
        (void)pool_cache_record(&pc, pc.ids[0], 1, 5000, &ec, &until);
    cr_expect_eq(until, 7500);
    /* eject the other one too (until 6000): nothing is picked, and the
     * answer says when the first ejection ends */
    for (int k = 0; k < 3; k++)
        (void)pool_cache_record(&pc, pc.ids[1], 1, 5000, &ec, NULL);
    rq.now_mono_ms = 5001;
    cr_expect_eq(pool_cache_select(&pc, &rq, &res), -1);
    cr_expect(res.is_all_ejected);
    cr_expect_not(res.is_ejection_ignored);
    cr_expect_eq(res.retry_after_ms, 999);
    /* node.eject_panic: both are used anyway */
    rq.is_eject_panic = 1;
    cr_expect_geq(pool_cache_select(&pc, &rq, &res), 0);
    cr_expect(res.is_ejection_ignored);
    cr_expect_not(res.is_all_ejected);
    rq.is_eject_panic = 0;
    /* once the first ejection ends, that one is picked again */
    rq.now_mono_ms = 6001;
    cr_expect_eq(pool_cache_select(&pc, &rq, &res), 1);
    cr_expect_not(res.is_all_ejected);
    /* a success resets the consecutive count */
    rq.now_mono_ms = 100000;
    cr_expect_eq(pool_cache_record(&pc, pc.ids[1], 0, 100000, &ec, NULL), 0);
    cr_expect_eq(pc.sel[1].consecutive_failures, 0);
    pool_cache_deinit(&pc);
}

Test(pool_cache, rotate_keeps_one_then_moves)
{
    int ports[] = { 10, 20, 30 };
    struct pool_cache pc;
    pool_cache_init(&pc);
    pool_cache_replace(&pc, make(ports, 3, NULL), 3, 1, "e", 0);
    struct pool_select_req rq = req_at(CONF_STRATEGY_ROTATE, 1000);
    rq.rotate_interval_s = 2;
    long first = pool_cache_select(&pc, &rq, NULL);
    rq.now_mono_ms = 2999;
    cr_expect_eq(pool_cache_select(&pc, &rq, NULL), first);
    rq.now_mono_ms = 3000;
    long second = pool_cache_select(&pc, &rq, NULL);
    cr_expect_eq(second, (first + 1) % 3);
    /* the current one survives a swap that keeps it */
    pool_cache_replace(&pc, make(ports, 3, NULL), 3, 2, "e", 0);
    rq.now_mono_ms = 3001;
    cr_expect_eq(pool_cache_select(&pc, &rq, NULL), second);
    /* N = 0: a new upstream every time */
    rq.rotate_interval_s = 0;
    long a = pool_cache_select(&pc, &rq, NULL), b = pool_cache_select(&pc, &rq, NULL);
    cr_expect_neq(a, b);
    pool_cache_deinit(&pc);
}

Test(pool_cache, unsupported_scheme_skipped_and_counted)
{
    int ports[] = { 10, 20 };
    struct pool_cache pc;
    pool_cache_init(&pc);
    struct upstream *u = make(ports, 2, NULL);
    u[0].scheme = UPSTREAM_SOCKS5;
    pool_cache_replace(&pc, u, 2, 1, "e", 0);
    struct pool_select_req rq = req_at(CONF_STRATEGY_ROUND_ROBIN, 0);
    struct pool_select_res res;
    long i = pool_cache_select(&pc, &rq, &res);
    cr_expect_eq(pc.items[i].scheme, UPSTREAM_HTTP);
    cr_expect_eq(res.nunsupported, 1);
    pool_cache_deinit(&pc);
}

Test(pool_cache, apply_10k_is_correct)
{
    const size_t n = 10000;
    struct pool_cache pc;
    pool_cache_init(&pc);
    for (int round = 0; round < 2; round++) {
        struct upstream *u = calloc(n, sizeof(*u));
        cr_assert_not_null(u);
        for (size_t i = 0; i < n; i++) {
            size_t j = (i * 7919) % n;     /* shuffled: forces the sort */
            u[i].scheme = UPSTREAM_HTTP;
            snprintf(u[i].host, sizeof(u[i].host), "10.%zu.%zu.%zu", j / 65536, (j / 256) % 256, j % 256);
            u[i].port = 8080;
            u[i].weight = 1;
            if (j % 2 == 0)
                snprintf(u[i].user, sizeof(u[i].user), "u%zu", j);
        }
        pool_cache_replace(&pc, u, n, round + 1, "e", 0);
        if (round == 0)
            pool_cache_conn_delta(&pc, "http://10.0.0.41:8080", 1);
    }
    cr_expect_eq(pc.count, n);
    cr_expect_eq(pc.version, 2);
    for (size_t i = 1; i < n; i++)
        cr_assert_lt(strcmp(pc.ids[i - 1], pc.ids[i]), 0);
    for (size_t i = 0; i < n; i++) {
        char id[UPSTREAM_ID_MAX];
        addr_upstream_id(&pc.items[i], id, sizeof(id));
        cr_assert_str_eq(pc.ids[i], id);
        cr_assert_eq(pc.sel[i].weight, 1);
    }
    long k = pool_cache_find(&pc, "http://10.0.0.41:8080");
    cr_assert_geq(k, 0);
    cr_expect_eq(pc.sel[k].active, 1);                 /* carried across the swap */
    fprintf(stderr, "pool_cache_replace of %zu upstreams: %lld us\n", n, (long long)pc.last_apply_max_slice_us);
    pool_cache_deinit(&pc);
}

/* A retry must not move the shared round-robin cursor: with one dead and one
 * good upstream, the dead one is tried first by every other request, not by
 * every request. */
Test(pool_cache, retry_does_not_advance_round_robin)
{
    int ports[] = { 10, 20 };
    struct pool_cache pc;
    pool_cache_init(&pc);
    pool_cache_replace(&pc, make(ports, 2, NULL), 2, 1, "e", 0);
    int dead_first = 0;
    for (int k = 0; k < 8; k++) {
        struct pool_select_req rq = req_at(CONF_STRATEGY_ROUND_ROBIN, 0);
        long idx = pool_cache_select(&pc, &rq, NULL);
        if (idx == 0) {           /* upstream 0 is dead: retry elsewhere */
            dead_first++;
            long ex[] = { 0 };
            rq.exclude = ex;
            rq.nexclude = 1;
            cr_expect_eq(pool_cache_select(&pc, &rq, NULL), 1);
        }
    }
    cr_expect_eq(dead_first, 4);
    pool_cache_deinit(&pc);
}

/* Tiers as HAProxy backup: tier 1 serves only once no tier-0 upstream is
 * usable (expired, excluded by a retry, ejected), then tier 0 again. */
Test(pool_cache, tiers_fail_over_and_back)
{
    int ports[] = { 10, 20, 30, 40 };
    struct upstream *u = make(ports, 4, NULL);
    u[0].tier = 0;
    u[1].tier = 0;
    u[2].tier = 1;
    u[3].tier = 1;
    struct pool_cache pc;
    pool_cache_init(&pc);
    pool_cache_replace(&pc, u, 4, 1, "e", 0);
    struct pool_select_req rq = req_at(CONF_STRATEGY_ROUND_ROBIN, 0);
    for (int k = 0; k < 8; k++) {
        long i = pool_cache_select(&pc, &rq, NULL);
        cr_assert_geq(i, 0);
        cr_expect_eq(pc.items[i].tier, 0u, "pick %d", k);
    }
    /* a retry that already failed both tier-0 upstreams goes to tier 1 */
    long tried[2] = { 0, 1 };
    rq.exclude = tried;
    rq.nexclude = 2;
    long i = pool_cache_select(&pc, &rq, NULL);
    cr_assert_geq(i, 0);
    cr_expect_eq(pc.items[i].tier, 1u);
    rq.nexclude = 1;
    cr_expect_eq(pool_cache_select(&pc, &rq, NULL), 1, "one tier-0 left: it serves");
    rq.nexclude = 0;
    /* both tier-0 ejected: tier 1, not a 503 */
    struct pool_eject_conf ec = { 1, 1000, 1000 };
    (void)pool_cache_record(&pc, pc.ids[0], 1, 0, &ec, NULL);
    (void)pool_cache_record(&pc, pc.ids[1], 1, 0, &ec, NULL);
    struct pool_select_res res;
    for (int k = 0; k < 4; k++) {
        i = pool_cache_select(&pc, &rq, &res);
        cr_assert_geq(i, 0);
        cr_expect_eq(pc.items[i].tier, 1u);
        cr_expect_not(res.is_all_ejected);
    }
    /* the ejection ends: back to tier 0 */
    rq.now_mono_ms = 1001;
    i = pool_cache_select(&pc, &rq, NULL);
    cr_expect_eq(pc.items[i].tier, 0u);
    /* sticky sessions stay in tier 0 while it is up */
    rq.has_session = 1;
    for (uint64_t key = 1; key < 50; key++) {
        rq.session_hash = key * 0x9e3779b97f4a7c15ULL;
        i = pool_cache_select(&pc, &rq, NULL);
        cr_expect_eq(pc.items[i].tier, 0u, "key %llu", (unsigned long long)key);
    }
    pool_cache_deinit(&pc);
}

/* The node re-checks every record against its own upstream policy: a
 * record it refuses is counted and never picked, even as the only one. */
Test(pool_cache, policy_denies_records)
{
    const char *const addrs[] = { "127.0.0.1:3128", "169.254.169.254:80", "10.0.0.7:8080",
                                  "198.51.100.7:3128", "localhost:3128", "[::1]:3128" };
    size_t n = PF_ARRAY_LEN(addrs);
    struct upstream *u = calloc(n, sizeof(*u));
    cr_assert_not_null(u);
    for (size_t k = 0; k < n; k++)
        cr_assert_eq(addr_parse_upstream(addrs[k], strlen(addrs[k]), UPSTREAM_HTTP, &u[k], NULL),
                     PF_OK);
    struct pool_cache pc;
    pool_cache_init(&pc);
    pool_cache_replace(&pc, u, n, 1, "e", 0);
    cr_expect_eq(pc.ndenied, 5, "default policy: public only");
    struct pool_usable nu;
    pool_cache_count_usable(&pc, 0, 0, 1u << UPSTREAM_HTTP, 0, &nu);
    cr_expect_eq(nu.usable, 1);
    cr_expect_eq(nu.denied, 5);
    struct pool_select_req rq = req_at(CONF_STRATEGY_ROUND_ROBIN, 0);
    for (int k = 0; k < 6; k++) {
        long i = pool_cache_select(&pc, &rq, NULL);
        cr_assert_geq(i, 0);
        cr_expect_str_eq(pc.items[i].host, "198.51.100.7");
        cr_expect_str_eq(pc.items[pool_cache_pick(&pc, 0, NULL, 0)].host, "198.51.100.7");
    }

    /* true: loopback and private pass, metadata still does not */
    struct conf_upstream_policy all = { .is_private_allowed = 1 };
    pool_cache_set_policy(&pc, &all);
    u = calloc(n, sizeof(*u));
    cr_assert_not_null(u);
    for (size_t k = 0; k < n; k++)
        cr_assert_eq(addr_parse_upstream(addrs[k], strlen(addrs[k]), UPSTREAM_HTTP, &u[k], NULL),
                     PF_OK);
    pool_cache_replace(&pc, u, n, 2, "e", 0);
    cr_expect_eq(pc.ndenied, 1);
    long meta = -1;
    for (size_t k = 0; k < pc.count; k++)
        if (strcmp(pc.items[k].host, "169.254.169.254") == 0)
            meta = (long)k;
    cr_assert_geq(meta, 0);
    for (int k = 0; k < 12; k++)
        cr_expect_neq(pool_cache_select(&pc, &rq, NULL), meta);

    /* only a metadata record, the policy refusing it: nothing to pick */
    u = calloc(1, sizeof(*u));
    cr_assert_not_null(u);
    cr_assert_eq(addr_parse_upstream("169.254.169.254:80", 18, UPSTREAM_HTTP, u, NULL), PF_OK);
    pool_cache_replace(&pc, u, 1, 3, "e", 0);
    cr_expect_eq(pool_cache_select(&pc, &rq, NULL), -1);
    pool_cache_count_usable(&pc, 0, 0, 1u << UPSTREAM_HTTP, 1, &nu);
    cr_expect_eq(nu.usable, 0);
    cr_expect_eq(nu.denied, 1);
    pool_cache_deinit(&pc);
}

Test(pool_cache, usable_count_agrees_with_select)
{
    int ports[] = { 10, 20, 30, 40 };
    int64_t expires[] = { 0, 500, 0, 0 };
    struct pool_cache pc;
    pool_cache_init(&pc);
    struct upstream *u = make(ports, 4, expires);
    u[2].scheme = UPSTREAM_SOCKS5;              /* not in the mask below */
    pool_cache_replace(&pc, u, 4, 1, "e", 0);
    unsigned mask = 1u << UPSTREAM_HTTP;
    struct pool_usable n;
    pool_cache_count_usable(&pc, 1000, 0, mask, 0, &n);
    cr_expect_eq(n.usable, 2);                  /* ports 10 and 40 */
    cr_expect_eq(n.expired, 1);
    cr_expect_eq(n.unsupported, 1);
    cr_expect_eq(n.ejected, 0);
    /* eject both usable ones: none left, unless panic */
    struct pool_eject_conf ec = { 1, 1000, 1000 };
    for (size_t i = 0; i < pc.count; i++)
        if (pc.items[i].port == 10 || pc.items[i].port == 40)
            (void)pool_cache_record(&pc, pc.ids[i], 1, 100, &ec, NULL);
    pool_cache_count_usable(&pc, 1000, 200, mask, 0, &n);
    cr_expect_eq(n.usable, 0);
    cr_expect_eq(n.ejected, 2);
    struct pool_select_req rq = req_at(CONF_STRATEGY_ROUND_ROBIN, 200);
    rq.now_wall_ms = 1000;
    rq.scheme_mask = mask;
    cr_expect_eq(pool_cache_select(&pc, &rq, NULL), -1);
    pool_cache_count_usable(&pc, 1000, 200, mask, 1, &n);
    cr_expect_eq(n.usable, 2);
    rq.is_eject_panic = 1;
    cr_expect_geq(pool_cache_select(&pc, &rq, NULL), 0);
    /* the ejections end */
    pool_cache_count_usable(&pc, 1000, 1101, mask, 0, &n);
    cr_expect_eq(n.ejected, 0);
    cr_expect_eq(n.usable, 2);
    pool_cache_deinit(&pc);
}

static int is_odd_port(void *arg, size_t idx)
{
    const struct pool_cache *pc = arg;
    return pc->items[idx].port % 2 == 1;
}

static int is_banned_idx(void *arg, size_t idx)
{
    return (long)idx == *(const long *)arg;
}

/* Labels select a subset: every pick matches; stickiness is rendezvous over
 * the subset (the same on every node: here two caches); an empty subset is
 * -1 with is_filter_empty, or the whole pool with the fallback; a caller's
 * exclusion (bans) is skipped, and a sticky key then takes its next upstream. */
Test(pool_cache, label_filter_subset_sticky_fallback_excluded)
{
    int ports[] = { 10, 11, 20, 21, 30, 31, 40, 41 };
    struct pool_cache pc[2];
    for (int c = 0; c < 2; c++) {
        struct upstream *u = make(ports, 8, NULL);
        for (int i = 0; i < 8; i++) {
            snprintf(u[i].labels.country, sizeof(u[i].labels.country), "%s", i < 4 ? "US" : "DE");
            snprintf(u[i].labels.city, sizeof(u[i].labels.city), "%s", i % 2 ? "New York" : "Boston");
            snprintf(u[i].provider, sizeof(u[i].provider), "%s", i < 6 ? "kdl" : "other");
        }
        pool_cache_init(&pc[c]);
        pool_cache_replace(&pc[c], u, 8, 1, "e", 0);
    }
    struct user_params_words w;
    struct user_params p;
    struct pf_err err;
    cr_assert_eq(user_params_words_from_tags("-session-", "-sesstime-", &w, &err), PF_OK);
    cr_assert_eq(user_params_parse("alice-country-us-city-new_york", &w, &p, &err), PF_OK);
    struct select_filter f;
    select_filter_from_params(&p, &f);
    struct pool_select_req rq = req_at(CONF_STRATEGY_ROUND_ROBIN, 0);
    rq.filter = &f;
    for (int k = 0; k < 6; k++) {
        long i = pool_cache_select(&pc[0], &rq, NULL);
        cr_assert_geq(i, 0);
        cr_expect_str_eq(pc[0].items[i].labels.country, "US");
        cr_expect_str_eq(pc[0].items[i].labels.city, "New York");
    }
    /* sticky: both caches agree, and the pick is in the subset */
    rq.has_session = 1;
    for (uint64_t key = 1; key < 40; key++) {
        rq.session_hash = key * 0x9e3779b97f4a7c15ULL;
        long a = pool_cache_select(&pc[0], &rq, NULL), b = pool_cache_select(&pc[1], &rq, NULL);
        cr_assert_geq(a, 0);
        cr_expect_eq(a, b);
        cr_expect_str_eq(pc[0].items[a].labels.country, "US");
        /* its upstream excluded (a ban): the other one of the subset, on both */
        rq.is_excluded = is_banned_idx;
        rq.excluded_arg = &a;
        long c = pool_cache_select(&pc[0], &rq, NULL), d = pool_cache_select(&pc[1], &rq, NULL);
        rq.is_excluded = NULL;
        cr_assert_geq(c, 0);
        cr_expect_neq(c, a);
        cr_expect_eq(c, d);
        cr_expect_str_eq(pc[0].items[c].labels.city, "New York");
    }
    rq.has_session = 0;
    /* provider and tier are labels too */
    cr_assert_eq(user_params_parse("alice-provider-other-tier-0", &w, &p, &err), PF_OK);
    select_filter_from_params(&p, &f);
    long i = pool_cache_select(&pc[0], &rq, NULL);
    cr_assert_geq(i, 0);
    cr_expect_str_eq(pc[0].items[i].provider, "other");
    /* empty subset: -1 and why, or the fallback */
    cr_assert_eq(user_params_parse("alice-country-fr", &w, &p, &err), PF_OK);
    select_filter_from_params(&p, &f);
    struct pool_select_res res;
    cr_expect_eq(pool_cache_select(&pc[0], &rq, &res), -1);
    cr_expect(res.is_filter_empty);
    rq.is_filter_fallback = 1;
    cr_expect_geq(pool_cache_select(&pc[0], &rq, &res), 0);
    cr_expect(res.is_filter_fallback_used);
    cr_expect(!res.is_filter_empty);
    /* a subset every member of which is excluded (here both have odd
     * ports) is no upstream, not an empty filter */
    rq.is_filter_fallback = 0;
    cr_assert_eq(user_params_parse("alice-country-us-city-new_york", &w, &p, &err), PF_OK);
    select_filter_from_params(&p, &f);
    rq.is_excluded = is_odd_port;
    rq.excluded_arg = &pc[0];
    cr_expect_eq(pool_cache_select(&pc[0], &rq, &res), -1);
    cr_expect(!res.is_filter_empty);
    for (int c = 0; c < 2; c++)
        pool_cache_deinit(&pc[c]);
}
