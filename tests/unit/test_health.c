/* Unit tests for the pure parts of controller/health.c and controller/passive.c:
 * rise/fall, EWMA, passive window, node counter diffing, ejection growth,
 * cap and max-ejection percent, the pool filter (no side effects) and the
 * probe result of a fetch. The clock is a plain argument. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "health.h"
#include "passive.h"
#include "pf.h"
#include "provider.h"

static const struct health_params P = {
    .rise = 2, .fall = 3, .max_ejection_percent = 50, .window_ms = 30000,
    .failure_ratio = 0.5, .min_requests = 10, .ejection_ms = 30000, .ejection_max_ms = 300000,
};

/* A pool of <n> entries with ids "http://10.0.0.<i>:8080", sorted. */
static struct provider_entry *mk_entries(size_t n, const struct provider_entry **ptrs)
{
    struct provider_entry *es = calloc(n, sizeof(*es));
    cr_assert_not_null(es);
    for (size_t i = 0; i < n; i++) {
        snprintf(es[i].id, sizeof(es[i].id), "http://10.0.0.%zu:8080", i + 10);
        snprintf(es[i].u.host, sizeof(es[i].u.host), "10.0.0.%zu", i + 10);
        es[i].u.port = 8080;
        es[i].u.weight = 1;
        ptrs[i] = &es[i];
    }
    return es;
}

Test(health, rise_fall_transitions)
{
    struct health_up h;
    memset(&h, 0, sizeof(h));
    static const struct {
        int is_ok;
        enum health_state want;
        int want_changed;
    } steps[] = {
        { 1, HEALTH_HEALTHY, 1 },    /* unknown -> healthy on the first success */
        { 0, HEALTH_HEALTHY, 0 },
        { 0, HEALTH_HEALTHY, 0 },
        { 0, HEALTH_UNHEALTHY, 1 },  /* fall = 3 */
        { 0, HEALTH_UNHEALTHY, 0 },
        { 1, HEALTH_UNHEALTHY, 0 },
        { 0, HEALTH_UNHEALTHY, 0 },  /* a failure resets the rise count */
        { 1, HEALTH_UNHEALTHY, 0 },
        { 1, HEALTH_HEALTHY, 1 },    /* rise = 2 */
        { 0, HEALTH_HEALTHY, 0 },
        { 1, HEALTH_HEALTHY, 0 },    /* a success resets the fall count */
        { 0, HEALTH_HEALTHY, 0 },
        { 0, HEALTH_HEALTHY, 0 },
        { 0, HEALTH_UNHEALTHY, 1 },
    };
    for (size_t i = 0; i < PF_ARRAY_LEN(steps); i++) {
        int changed = health_up_probe_result(&h, &P, steps[i].is_ok, 10, "refused",
                                             1000 + (int64_t)i);
        cr_expect_eq(h.state, steps[i].want, "step %zu", i);
        cr_expect_eq(changed, steps[i].want_changed, "step %zu", i);
    }
    cr_expect_eq(h.checked_at_ms, 1000 + (int64_t)PF_ARRAY_LEN(steps) - 1);
    cr_expect_str_eq(h.reason, "refused");
    cr_expect_eq(h.failures, 3);
}

Test(health, unknown_falls_after_fall_failures)
{
    struct health_up h;
    memset(&h, 0, sizeof(h));
    cr_expect_eq(health_up_probe_result(&h, &P, 0, 0, "x", 1), 0);
    cr_expect_eq(h.state, HEALTH_UNKNOWN);
    cr_expect_not(health_up_is_excluded(&h, 1));
    cr_expect_eq(health_up_probe_result(&h, &P, 0, 0, "x", 2), 0);
    cr_expect_eq(health_up_probe_result(&h, &P, 0, 0, "x", 3), 1);
    cr_expect_eq(h.state, HEALTH_UNHEALTHY);
    cr_expect(health_up_is_excluded(&h, 3));
}

Test(health, latency_ewma_alpha_0_3)
{
    struct health_up h;
    memset(&h, 0, sizeof(h));
    health_up_probe_result(&h, &P, 1, 100, NULL, 1);
    cr_expect_float_eq(h.latency_ewma_ms, 100.0, 1e-9);
    health_up_probe_result(&h, &P, 1, 200, NULL, 2);
    cr_expect_float_eq(h.latency_ewma_ms, 130.0, 1e-9);
    health_up_probe_result(&h, &P, 1, 30, NULL, 3);
    cr_expect_float_eq(h.latency_ewma_ms, 0.3 * 30 + 0.7 * 130, 1e-9);
    /* Failures leave the EWMA alone. */
    health_up_probe_result(&h, &P, 0, 5000, "timeout", 4);
    cr_expect_float_eq(h.latency_ewma_ms, 100.0, 1e-9);
}

Test(health, published_latency_rounds_up_with_hysteresis)
{
    struct health_up h;
    memset(&h, 0, sizeof(h));
    cr_expect_eq(health_up_latency_refresh(&h), 0);    /* no sample */
    h.latency_ewma_ms = 0.2;
    cr_expect_eq(health_up_latency_refresh(&h), 1);
    cr_expect_eq(h.latency_published_ms, 1);           /* sub-ms is 1, never 0 */
    h.latency_ewma_ms = 2.5;
    cr_expect_eq(health_up_latency_refresh(&h), 0);    /* within 2 ms */
    h.latency_ewma_ms = 100;
    cr_expect_eq(health_up_latency_refresh(&h), 1);
    cr_expect_eq(h.latency_published_ms, 100);
    h.latency_ewma_ms = 120;
    cr_expect_eq(health_up_latency_refresh(&h), 0);    /* within 25% */
    h.latency_ewma_ms = 130;
    cr_expect_eq(health_up_latency_refresh(&h), 1);
    cr_expect_eq(h.latency_published_ms, 130);
}

Test(health, table_refresh_reports_any_moved_latency)
{
    struct health_up a, b;
    struct health_up *ups[2] = { &a, &b };
    struct health_table t;
    memset(&a, 0, sizeof(a));
    memset(&b, 0, sizeof(b));
    memset(&t, 0, sizeof(t));
    t.ups = ups;
    t.n = 2;
    a.latency_published_ms = 100;
    a.latency_ewma_ms = 110;                          /* within 25% */
    b.latency_published_ms = 50;
    b.latency_ewma_ms = 52;                           /* within 25% */
    cr_expect_eq(health_table_refresh_latencies(&t), 0);
    b.latency_ewma_ms = 90;                           /* moved */
    cr_expect_eq(health_table_refresh_latencies(&t), 1);
    cr_expect_eq(b.latency_published_ms, 90);
    cr_expect_eq(a.latency_published_ms, 100);
}

Test(health, window_sums_slide)
{
    struct health_up h;
    uint64_t a, f;
    memset(&h, 0, sizeof(h));
    /* window 30 s in 10 slots of 3 s */
    health_up_passive_add(&h, &P, 10, 2, 100000);
    health_up_passive_add(&h, &P, 5, 5, 101000);       /* same slot */
    health_up_passive_add(&h, &P, 4, 1, 115000);
    health_up_window_sum(&h, &P, 115000, &a, &f);
    cr_expect_eq(a, 19);
    cr_expect_eq(f, 8);
    health_up_window_sum(&h, &P, 128999, &a, &f);     /* slot 42: 33..42 still holds 33 */
    cr_expect_eq(a, 19);
    health_up_window_sum(&h, &P, 129000, &a, &f);     /* slot 43: the first slot left */
    cr_expect_eq(a, 4);
    cr_expect_eq(f, 1);
    health_up_window_sum(&h, &P, 200000, &a, &f);
    cr_expect_eq(a, 0);
    cr_expect_eq(f, 0);
    /* A slot reused after a full turn starts from zero. */
    health_up_passive_add(&h, &P, 7, 0, 130000);       /* slot 43 = index 3, like slot 33 */
    health_up_window_sum(&h, &P, 130000, &a, &f);
    cr_expect_eq(a, 11);
    /* Failures never exceed attempts. */
    memset(&h, 0, sizeof(h));
    health_up_passive_add(&h, &P, 1, 9, 0);
    health_up_window_sum(&h, &P, 0, &a, &f);
    cr_expect_eq(f, 1);
}

Test(health, ejection_time_grows_and_caps)
{
    static const struct {
        unsigned nth;
        int64_t ms;
    } cases[] = {
        { 0, 30000 }, { 1, 30000 }, { 2, 60000 }, { 5, 150000 }, { 10, 300000 }, { 11, 300000 },
        { 4000000000u, 300000 },
    };
    for (size_t i = 0; i < PF_ARRAY_LEN(cases); i++)
        cr_expect_eq(health_ejection_ms(&P, cases[i].nth), cases[i].ms, "nth %u", cases[i].nth);
}

Test(health, max_excluded_rounds_down)
{
    static const struct {
        int pct;
        size_t n, want;
    } cases[] = {
        { 50, 0, 0 }, { 50, 1, 0 }, { 50, 2, 1 }, { 50, 3, 1 }, { 50, 4, 2 }, { 50, 1001, 500 },
        { 0, 10, 0 }, { 100, 7, 7 }, { 10, 9, 0 }, { 10, 10, 1 }, { 33, 3, 0 }, { 34, 3, 1 },
    };
    for (size_t i = 0; i < PF_ARRAY_LEN(cases); i++) {
        struct health_params p = P;
        p.max_ejection_percent = cases[i].pct;
        cr_expect_eq(health_max_excluded(&p, cases[i].n), cases[i].want, "case %zu", i);
    }
}

Test(health, track_adds_keeps_and_drops)
{
    struct health_table t;
    const struct provider_entry *ptrs[4];
    struct provider_entry *es = mk_entries(4, ptrs);

    health_table_init(&t, &P);
    cr_assert_eq(health_table_track(&t, ptrs, 3), PF_OK);
    cr_expect_eq(t.n, 3);
    struct health_up *h1 = health_table_find(&t, es[1].id);
    cr_assert_not_null(h1);
    cr_expect_eq(h1->state, HEALTH_UNKNOWN);
    h1->failures = 7;
    /* Pool now 1..3: 0 leaves, 3 arrives, 1 keeps its state. */
    cr_assert_eq(health_table_track(&t, ptrs + 1, 3), PF_OK);
    cr_expect_eq(t.n, 3);
    cr_expect_null(health_table_find(&t, es[0].id));
    cr_expect_eq(health_table_find(&t, es[1].id), h1);
    cr_expect_eq(h1->failures, 7);
    cr_expect_not_null(health_table_find(&t, es[3].id));
    cr_assert_eq(health_table_track(&t, ptrs, 0), PF_OK);
    cr_expect_eq(t.n, 0);
    health_table_deinit(&t);
    free(es);
}

/* Pushes <a>/<f> into the window of entry <i>. */
static void feed(struct health_table *t, const struct provider_entry *e, uint64_t a, uint64_t f,
                 int64_t now)
{
    struct health_up *h = health_table_find(t, e->id);
    cr_assert_not_null(h);
    health_up_passive_add(h, &t->params, a, f, now);
}

Test(health, passive_ejects_and_returns)
{
    struct health_table t;
    const struct provider_entry *ptrs[4];
    struct provider_entry *es = mk_entries(4, ptrs);
    int64_t now = 1000000;

    health_table_init(&t, &P);
    cr_assert_eq(health_table_track(&t, ptrs, 4), PF_OK);
    feed(&t, ptrs[0], 9, 9, now);      /* below min_requests */
    feed(&t, ptrs[1], 100, 49, now);   /* below the ratio */
    feed(&t, ptrs[2], 100, 80, now);   /* ejected */
    cr_expect_eq(health_table_passive_eval(&t, now, NULL, NULL), 1);
    struct health_up *h2 = health_table_find(&t, ptrs[2]->id);
    cr_expect_eq(h2->ejections, 1);
    cr_expect_eq(h2->ejected_until_ms, now + 30000);
    cr_expect(health_up_is_excluded(h2, now + 29999));
    cr_expect_not(health_up_is_excluded(h2, now + 30000));
    cr_expect_not(health_up_is_excluded(health_table_find(&t, ptrs[0]->id), now));

    /* Its window was cleared: no second ejection from the same counts. */
    cr_expect_eq(health_table_passive_eval(&t, now + 30000, NULL, NULL), 1);   /* back */
    cr_expect_eq(h2->ejected_until_ms, 0);
    /* Fails again: the second ejection lasts twice as long. */
    feed(&t, ptrs[2], 20, 20, now + 31000);
    cr_expect_eq(health_table_passive_eval(&t, now + 31000, NULL, NULL), 1);
    cr_expect_eq(h2->ejections, 2);
    cr_expect_eq(h2->ejected_until_ms, now + 31000 + 60000);
    health_table_deinit(&t);
    free(es);
}

Test(health, passive_respects_max_ejection_percent)
{
    struct health_table t;
    const struct provider_entry *ptrs[4];
    struct provider_entry *es = mk_entries(4, ptrs);
    int64_t now = 5000000;

    health_table_init(&t, &P);
    cr_assert_eq(health_table_track(&t, ptrs, 4), PF_OK);
    /* Everyone fails; the worst ratios go first, at most 2 of 4. */
    feed(&t, ptrs[0], 100, 60, now);
    feed(&t, ptrs[1], 100, 100, now);
    feed(&t, ptrs[2], 100, 70, now);
    feed(&t, ptrs[3], 100, 90, now);
    cr_expect_eq(health_table_passive_eval(&t, now, NULL, NULL), 2);
    cr_expect(health_up_is_excluded(health_table_find(&t, ptrs[1]->id), now));
    cr_expect(health_up_is_excluded(health_table_find(&t, ptrs[3]->id), now));
    cr_expect_not(health_up_is_excluded(health_table_find(&t, ptrs[0]->id), now));
    cr_expect_not(health_up_is_excluded(health_table_find(&t, ptrs[2]->id), now));
    /* Still failing next round: the cap holds. */
    cr_expect_eq(health_table_passive_eval(&t, now + 1000, NULL, NULL), 0);

    /* Active unhealthy ones count against the same cap. */
    struct health_table t2;
    health_table_init(&t2, &P);
    cr_assert_eq(health_table_track(&t2, ptrs, 4), PF_OK);
    health_table_find(&t2, ptrs[0]->id)->state = HEALTH_UNHEALTHY;
    health_table_find(&t2, ptrs[1]->id)->state = HEALTH_UNHEALTHY;
    feed(&t2, ptrs[2], 100, 100, now);
    cr_expect_eq(health_table_passive_eval(&t2, now, NULL, NULL), 0);
    health_table_deinit(&t);
    health_table_deinit(&t2);
    free(es);
}

Test(health, filter_drops_bad_within_cap)
{
    struct health_table t;
    const struct provider_entry *ptrs[4];
    struct provider_entry *es = mk_entries(4, ptrs);
    struct provider_entry copies[4];
    const struct provider_entry *out[4];
    size_t nout = 0, nover = 0;
    int64_t now = 1000;

    health_table_init(&t, &P);
    cr_assert_eq(health_table_track(&t, ptrs, 4), PF_OK);
    health_table_find(&t, ptrs[0]->id)->latency_published_ms = 42;
    health_table_find(&t, ptrs[1]->id)->state = HEALTH_UNHEALTHY;
    cr_assert_eq(health_table_filter(&t, ptrs, 4, now, copies, out, &nout, &nover), PF_OK);
    cr_expect_eq(nout, 3);
    cr_expect_eq(nover, 0);
    cr_expect_str_eq(out[0]->id, ptrs[0]->id);
    cr_expect_eq(out[0]->u.latency_ms, 42);
    cr_expect_str_eq(out[1]->id, ptrs[2]->id);

    /* Three bad of four, cap 2: the one with the fewest failures stays. */
    struct health_up *h0 = health_table_find(&t, ptrs[0]->id);
    struct health_up *h1 = health_table_find(&t, ptrs[1]->id);
    struct health_up *h2 = health_table_find(&t, ptrs[2]->id);
    h0->state = HEALTH_UNHEALTHY;
    h0->failures = 9;
    h1->failures = 5;
    h2->ejected_until_ms = now + 10;   /* ejected, probes fine */
    cr_assert_eq(health_table_filter(&t, ptrs, 4, now, copies, out, &nout, &nover), PF_OK);
    cr_expect_eq(nout, 2);
    cr_expect_eq(nover, 1);
    cr_expect_str_eq(out[0]->id, ptrs[2]->id);
    cr_expect_str_eq(out[1]->id, ptrs[3]->id);
    /* When the ejection ends it is published again. */
    h0->state = HEALTH_HEALTHY;
    cr_assert_eq(health_table_filter(&t, ptrs, 4, now + 10, copies, out, &nout, &nover), PF_OK);
    cr_expect_eq(nout, 3);
    health_table_deinit(&t);
    free(es);
}

Test(health, pool_filter_has_no_side_effects)
{
    struct health_table t;
    const struct provider_entry *ptrs[5];
    struct provider_entry *es = mk_entries(5, ptrs);
    struct provider_entry before_es[5];
    int64_t now = 7000;

    health_table_init(&t, &P);
    cr_assert_eq(health_table_track(&t, ptrs, 5), PF_OK);
    health_table_find(&t, ptrs[0]->id)->latency_published_ms = 17;
    health_table_find(&t, ptrs[1]->id)->state = HEALTH_UNHEALTHY;
    health_table_find(&t, ptrs[1]->id)->failures = 4;
    health_table_find(&t, ptrs[3]->id)->ejected_until_ms = now + 5;
    health_table_find(&t, ptrs[4]->id)->state = HEALTH_UNHEALTHY;
    /* The table and the input as they were before the filter. */
    struct health_up before[5];
    for (size_t i = 0; i < 5; i++)
        memcpy(&before[i], t.ups[i], sizeof(before[i]));
    memcpy(before_es, es, sizeof(before_es));
    size_t n_before = t.n;

    struct health_pool hp;
    cr_assert_eq(health_pool_filter(&t, ptrs, 5, now, &hp), PF_OK);
    /* 3 bad of 5, cap 2: the two with most failures in a row stay out. */
    cr_expect_eq(hp.n, 3);
    cr_expect_eq(hp.nover, 1);
    cr_expect_str_eq(hp.es[0]->id, ptrs[0]->id);
    cr_expect_eq(hp.es[0]->u.latency_ms, 17);
    cr_expect_eq(ptrs[0]->u.latency_ms, 0, "the input record is not written");
    /* Nothing but the result changed: no probe queued, no state moved. */
    cr_expect_eq(t.n, n_before);
    for (size_t i = 0; i < 5; i++) {
        cr_expect_eq(t.ups[i]->is_queued, 0, "upstream %zu queued", i);
        cr_expect_eq(t.ups[i]->is_probing, 0, "upstream %zu probing", i);
        cr_expect_eq(memcmp(t.ups[i], &before[i], sizeof(before[i])), 0, "upstream %zu changed", i);
    }
    cr_expect_eq(memcmp(es, before_es, sizeof(before_es)), 0, "the input entries changed");
    /* The same question twice gets the same answer. */
    struct health_pool again;
    cr_assert_eq(health_pool_filter(&t, ptrs, 5, now, &again), PF_OK);
    cr_expect_eq(again.n, hp.n);
    for (size_t i = 0; i < hp.n && i < again.n; i++)
        cr_expect_str_eq(again.es[i]->id, hp.es[i]->id);
    health_pool_deinit(&again);
    health_pool_deinit(&hp);
    cr_expect_null(hp.es);
    cr_expect_eq(hp.n, 0);

    cr_assert_eq(health_pool_filter(&t, ptrs, 0, now, &hp), PF_OK);
    cr_expect_eq(hp.n, 0);
    cr_expect_null(hp.es);
    health_pool_deinit(&hp);
    health_pool_deinit(NULL);
    health_table_deinit(&t);
    free(es);
}

struct result_case {
    int  err;
    long status;
    int  want;
};

Test(health, probe_result_of_fetch_error_and_status)
{
    static const struct result_case cases[] = {
        { FETCH_OK, 200, HEALTH_RES_OK },
        { FETCH_OK, 204, HEALTH_RES_OK },
        { FETCH_OK, 299, HEALTH_RES_OK },
        { FETCH_OK, 199, HEALTH_RES_STATUS },
        { FETCH_OK, 300, HEALTH_RES_STATUS },
        { FETCH_OK, 0, HEALTH_RES_STATUS },
        { FETCH_ERR_TIMEOUT, 0, HEALTH_RES_TIMEOUT },
        { FETCH_ERR_CONNECT, 0, HEALTH_RES_CONNECT },
        { FETCH_ERR_RESOLVE, 0, HEALTH_RES_ERROR },
        { FETCH_ERR_TOO_BIG, 200, HEALTH_RES_ERROR },
        { FETCH_ERR_OTHER, 0, HEALTH_RES_ERROR },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        cr_expect_eq(health_result_of((enum fetch_error)cases[i].err, cases[i].status, 200, 299),
                     cases[i].want, "case %zu", i);
    cr_expect_str_eq(health_result_name(HEALTH_RES_OK), "ok");
    cr_expect_str_eq(health_result_name(HEALTH_RES_STATUS), "status");
    cr_expect_str_eq(health_result_name(HEALTH_RES_TIMEOUT), "timeout");
    cr_expect_str_eq(health_result_name(HEALTH_RES_CONNECT), "connect");
    cr_expect_str_eq(health_result_name(HEALTH_RES_ERROR), "error");
}

Test(health, encode_has_documented_fields)
{
    struct health_up h;
    memset(&h, 0, sizeof(h));
    h.state = HEALTH_UNHEALTHY;
    h.failures = 3;
    h.latency_ewma_ms = 12.4;
    h.checked_at_ms = 77;
    snprintf(h.reason, sizeof(h.reason), "status 503");
    h.ejected_until_ms = 500;
    h.ejections = 2;
    char *s = health_up_encode(&h, &P, 100);
    cr_assert_not_null(s);
    cr_expect(strstr(s, "\"healthy\":false") != NULL, "%s", s);
    cr_expect(strstr(s, "\"state\":\"unhealthy\"") != NULL, "%s", s);
    cr_expect(strstr(s, "\"latency_ms\":12") != NULL, "%s", s);
    cr_expect(strstr(s, "\"failures\":3") != NULL, "%s", s);
    cr_expect(strstr(s, "\"checked_at_ms\":77") != NULL, "%s", s);
    cr_expect(strstr(s, "\"reason\":\"status 503\"") != NULL, "%s", s);
    cr_expect(strstr(s, "\"ejected_until_ms\":500") != NULL, "%s", s);
    cr_expect(strstr(s, "\"ejections\":2") != NULL, "%s", s);
    free(s);
}

/* ---- passive diffing -------------------------------------------------------- */

struct deltas {
    char id[8][UPSTREAM_ID_MAX];
    uint64_t a[8], f[8];
    size_t n;
};

static void collect(const char *id, uint64_t a, uint64_t f, void *arg)
{
    struct deltas *d = arg;
    cr_assert_lt(d->n, 8);
    snprintf(d->id[d->n], sizeof(d->id[d->n]), "%s", id);
    d->a[d->n] = a;
    d->f[d->n] = f;
    d->n++;
}

/* A malloc'd counter array from "id a f" triples. */
static struct passive_count *counts(size_t n, const char *const *ids, const uint64_t *a,
                                    const uint64_t *f)
{
    struct passive_count *c = calloc(n ? n : 1, sizeof(*c));
    cr_assert_not_null(c);
    for (size_t i = 0; i < n; i++) {
        snprintf(c[i].id, sizeof(c[i].id), "%s", ids[i]);
        c[i].attempts = a[i];
        c[i].failures = f[i];
    }
    return c;
}

static void update(struct passive *ps, const char *node, size_t n, const char *const *ids,
                   const uint64_t *a, const uint64_t *f, struct deltas *d)
{
    memset(d, 0, sizeof(*d));
    cr_assert_eq(passive_node_update(ps, node, counts(n, ids, a, f), n, collect, d), PF_OK);
}

Test(passive, first_round_is_baseline_then_diffs)
{
    struct passive ps;
    struct deltas d;
    const char *ids[] = { "u2", "u1" };

    passive_init(&ps);
    passive_round_begin(&ps);
    update(&ps, "n1", 2, ids, (uint64_t[]){ 10, 20 }, (uint64_t[]){ 1, 2 }, &d);
    cr_expect_eq(d.n, 0);
    passive_round_end(&ps);

    passive_round_begin(&ps);
    update(&ps, "n1", 2, ids, (uint64_t[]){ 15, 20 }, (uint64_t[]){ 4, 2 }, &d);
    cr_assert_eq(d.n, 1);
    cr_expect_str_eq(d.id[0], "u2");
    cr_expect_eq(d.a[0], 5);
    cr_expect_eq(d.f[0], 3);
    /* A node first seen after the baseline is new: its counts all count. */
    update(&ps, "n2", 1, ids, (uint64_t[]){ 100 }, (uint64_t[]){ 80 }, &d);
    cr_assert_eq(d.n, 1);
    cr_expect_eq(d.a[0], 100);
    cr_expect_eq(d.f[0], 80);
    passive_round_end(&ps);
    passive_deinit(&ps);
}

Test(passive, counter_reset_means_restart)
{
    struct passive ps;
    struct deltas d;
    const char *ids[] = { "u1", "u2" };

    passive_init(&ps);
    passive_round_begin(&ps);
    update(&ps, "n1", 2, ids, (uint64_t[]){ 50, 50 }, (uint64_t[]){ 5, 5 }, &d);
    passive_round_end(&ps);
    /* u1 went down: the node restarted, all of its counts are new (u2's too). */
    passive_round_begin(&ps);
    update(&ps, "n1", 2, ids, (uint64_t[]){ 3, 60 }, (uint64_t[]){ 1, 5 }, &d);
    passive_round_end(&ps);
    cr_assert_eq(d.n, 2);
    cr_expect_eq(d.a[0], 3);
    cr_expect_eq(d.f[0], 1);
    cr_expect_eq(d.a[1], 60);
    /* An upstream vanished from the node's hash: restart as well. */
    passive_round_begin(&ps);
    update(&ps, "n1", 1, ids + 1, (uint64_t[]){ 61 }, (uint64_t[]){ 5 }, &d);
    passive_round_end(&ps);
    cr_assert_eq(d.n, 1);
    cr_expect_eq(d.a[0], 61);
    passive_deinit(&ps);
}

Test(passive, node_missing_from_a_round_is_forgotten)
{
    struct passive ps;
    struct deltas d;
    const char *ids[] = { "u1" };

    passive_init(&ps);
    passive_round_begin(&ps);
    update(&ps, "n1", 1, ids, (uint64_t[]){ 10 }, (uint64_t[]){ 0 }, &d);
    update(&ps, "n2", 1, ids, (uint64_t[]){ 10 }, (uint64_t[]){ 0 }, &d);
    passive_round_end(&ps);
    passive_round_begin(&ps);
    update(&ps, "n1", 1, ids, (uint64_t[]){ 10 }, (uint64_t[]){ 0 }, &d);
    cr_expect_eq(d.n, 0);   /* no change, no delta */
    passive_round_end(&ps);
    cr_expect_eq(ps.n, 1);
    passive_round_begin(&ps);
    update(&ps, "n2", 1, ids, (uint64_t[]){ 12 }, (uint64_t[]){ 2 }, &d);
    cr_assert_eq(d.n, 1);
    cr_expect_eq(d.a[0], 12);   /* came back: new */
    passive_round_end(&ps);
    passive_deinit(&ps);
}

Test(passive, parse_value)
{
    static const struct {
        char s[32];
        int rc;
        uint64_t a, f;
    } cases[] = {
        { "120 3", PF_OK, 120, 3 },
        { "0 0", PF_OK, 0, 0 },
        { "5 9", PF_OK, 5, 5 },
        { "18446744073709551615 1", PF_EINVAL, 0, 0 },
        { "9999999999999999999 1", PF_OK, 9999999999999999999ULL, 1 },
        { "", PF_EINVAL, 0, 0 },
        { "12", PF_EINVAL, 0, 0 },
        { "12 ", PF_EINVAL, 0, 0 },
        { "12  3", PF_EINVAL, 0, 0 },
        { "-1 0", PF_EINVAL, 0, 0 },
        { "1 2 3", PF_EINVAL, 0, 0 },
        { "a b", PF_EINVAL, 0, 0 },
    };
    for (size_t i = 0; i < PF_ARRAY_LEN(cases); i++) {
        uint64_t a = 7, f = 7;
        int rc = passive_parse_value(cases[i].s, strlen(cases[i].s), &a, &f);
        cr_expect_eq(rc, cases[i].rc, "'%s'", cases[i].s);
        if (rc == PF_OK) {
            cr_expect_eq(a, cases[i].a, "'%s'", cases[i].s);
            cr_expect_eq(f, cases[i].f, "'%s'", cases[i].s);
        }
    }
}

/* ---- controller.health config ------------------------------------------------ */

static int parse(struct conf *c, const char *json, struct pf_err *err)
{
    conf_init_defaults(c);
    return conf_parse(c, json, strlen(json), err);
}

Test(health_conf, absent_means_disabled)
{
    struct conf c;
    struct pf_err err;
    cr_assert_eq(parse(&c, "{\"controller\":{}}", &err), PF_OK, "%s", err.msg);
    cr_expect_eq(c.controller.health.is_enabled, 0);
    conf_deinit(&c);
}

Test(health_conf, defaults_and_overrides)
{
    struct conf c;
    struct pf_err err;
    cr_assert_eq(parse(&c, "{\"controller\":{\"health\":{\"url\":\"http://127.0.0.1:9/x\","
                           "\"fall\":5,\"expect_status\":204,\"passive\":{\"failure_ratio\":0.25}}}}",
                       &err), PF_OK, "%s", err.msg);
    const struct conf_health *h = &c.controller.health;
    cr_expect_eq(h->is_enabled, 1);
    cr_expect_str_eq(h->url, "http://127.0.0.1:9/x");
    cr_expect_eq(h->interval_ms, 10000);
    cr_expect_eq(h->timeout_ms, 5000);
    cr_expect_eq(h->rise, 2);
    cr_expect_eq(h->fall, 5);
    cr_expect_eq(h->concurrency, 64);
    cr_expect_eq(h->expect_status_min, 204);
    cr_expect_eq(h->expect_status_max, 204);
    cr_expect_eq(h->max_ejection_percent, 50);
    cr_expect_eq(h->passive.is_enabled, 1);
    cr_expect_float_eq(h->passive.failure_ratio, 0.25, 1e-9);
    cr_expect_eq(h->passive.window_ms, 30000);
    cr_expect_eq(h->passive.min_requests, 10);
    cr_expect_eq(h->passive.ejection_ms, 30000);
    cr_expect_eq(h->passive.ejection_max_ms, 300000);
    conf_deinit(&c);
    cr_assert_eq(parse(&c, "{\"controller\":{\"health\":{\"expect_status\":\"200..299\"}}}", &err),
                 PF_OK, "%s", err.msg);
    cr_expect_eq(c.controller.health.expect_status_min, 200);
    cr_expect_eq(c.controller.health.expect_status_max, 299);
    cr_expect_str_eq(c.controller.health.url, "");
    cr_expect_eq(c.controller.health.passive.is_enabled, 0);
    conf_deinit(&c);
}

Test(health_conf, errors_name_the_path)
{
    static const struct {
        char json[160];
        char msg[96];
    } cases[] = {
        { "{\"controller\":{\"health\":{\"url\":\"ftp://x/\"}}}", "controller.health.url: must start" },
        { "{\"controller\":{\"health\":{\"rise\":0}}}", "controller.health.rise: must be 1..100" },
        { "{\"controller\":{\"health\":{\"expect_status\":\"399..200\"}}}", "controller.health.expect_status:" },
        { "{\"controller\":{\"health\":{\"bogus\":1}}}", "controller.health.bogus: unknown key" },
        { "{\"controller\":{\"health\":{\"passive\":{\"failure_ratio\":1.5}}}}",
          "controller.health.passive.failure_ratio: must be" },
        { "{\"controller\":{\"health\":{\"passive\":{\"ejection_ms\":10,\"ejection_max_ms\":5}}}}",
          "controller.health.passive.ejection_max_ms: must be >=" },
    };
    for (size_t i = 0; i < PF_ARRAY_LEN(cases); i++) {
        struct conf c;
        struct pf_err err;
        cr_expect_eq(parse(&c, cases[i].json, &err), PF_EINVAL, "%s", cases[i].json);
        cr_expect(strstr(err.msg, cases[i].msg) != NULL, "%s -> %s", cases[i].json, err.msg);
        conf_deinit(&c);
    }
}
