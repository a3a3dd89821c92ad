/* Unit tests of node/pool_apply.c on (field, value) pairs as pool_sync
 * reads them from HGETALL pool:upstreams: bounded slices, the cache whole
 * until the swap, bad records skipped, the pairs borrowed until consumed,
 * the supersede rule. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pool_apply.h"

/* Pairs and the bytes they point to, owned by the test. */
struct pairs {
    struct snapshot_pair *p;
    size_t                n;
    char                (*text)[2][256];
};

/* <n> good records on ports base..base+n-1 (shuffled), room for <extra>
 * more pairs the test fills itself. */
static struct pairs make_pairs(int base, int n, int extra)
{
    struct pairs ps;
    ps.n = (size_t)n;
    ps.p = calloc((size_t)(n + extra) + 1, sizeof(*ps.p));
    ps.text = calloc((size_t)(n + extra) + 1, sizeof(*ps.text));
    cr_assert(ps.p != NULL && ps.text != NULL);
    for (int i = 0; i < n; i++) {
        int port = base + (i * 7919) % n;
        char *id = ps.text[i][0], *rec = ps.text[i][1];
        int idl = snprintf(id, 256, "http://127.0.0.1:%d", port);
        int recl = snprintf(rec, 256, "{\"scheme\":\"http\",\"host\":\"127.0.0.1\","
                            "\"port\":%d,\"provider\":\"t\",\"weight\":2}", port);
        ps.p[i] = (struct snapshot_pair){ id, (size_t)idl, rec, (size_t)recl };
    }
    return ps;
}

static void add_pair(struct pairs *ps, const char *field, const char *value)
{
    ps->p[ps->n].field = field;
    ps->p[ps->n].field_len = field != NULL ? strlen(field) : 0;
    ps->p[ps->n].value = value;
    ps->p[ps->n].value_len = value != NULL ? strlen(value) : 0;
    ps->n++;
}

static void free_pairs(struct pairs *ps)
{
    free(ps->p);
    free(ps->text);
}

/* Runs <a> to the end one quantum at a time; returns the number of calls. */
static int run_job(struct pool_apply *a, struct pool_cache *pc, size_t nrec, size_t units,
                   int64_t want_version_before)
{
    int calls = 0, rc;
    do {
        if (!pool_apply_is_done(a))
            cr_assert_eq(pc->version, want_version_before, "half-applied pool visible");
        rc = pool_apply_slice(a, pc, nrec, units, 5);
        calls++;
    } while (rc == PF_EAGAIN);
    cr_assert_eq(rc, PF_OK);
    return calls;
}

Test(pool_apply, sliced_apply_is_whole_and_consumes_the_pairs)
{
    struct pool_cache pc;
    pool_cache_init(&pc);
    struct pairs ps = make_pairs(20000, 1000, 0);
    struct pool_apply *a = pool_apply_create(ps.p, ps.n, 1, "e1", NULL);
    cr_assert_not_null(a);
    cr_expect_eq(pool_apply_consumed(a), 0);
    cr_assert_eq(pool_apply_slice(a, &pc, 32, 2048, 5), PF_EAGAIN);
    cr_expect_eq(pool_apply_consumed(a), 32, "one slice decodes one quantum");
    int calls = 1 + run_job(a, &pc, 32, 2048, 0);
    cr_expect_geq(calls, 1000 / 32, "took %d calls", calls);
    cr_expect_eq(pool_apply_consumed(a), 1000);
    cr_expect(pool_apply_is_done(a));
    cr_expect_eq(pc.count, 1000);
    cr_expect_eq(pc.version, 1);
    cr_expect_str_eq(pc.epoch, "e1");
    cr_expect_eq(a->nbad, 0);
    for (size_t i = 1; i < pc.count; i++)
        cr_assert_lt(strcmp(pc.ids[i - 1], pc.ids[i]), 0);
    cr_expect_eq(pc.sel[0].weight, 2);
    /* the pool is the cache's own copy: the pairs may go */
    free_pairs(&ps);
    cr_expect_geq(pool_cache_find(&pc, "http://127.0.0.1:20999"), 0);
    pool_apply_destroy(a);
    pool_cache_deinit(&pc);
}

Test(pool_apply, bad_records_skipped_and_counted)
{
    struct pool_cache pc;
    pool_cache_init(&pc);
    struct pairs ps = make_pairs(30000, 10, 3);
    add_pair(&ps, "bad:json", "{x}");           /* not JSON */
    add_pair(&ps, NULL, "{}");                  /* field not a string */
    add_pair(&ps, "http://127.0.0.1:1", NULL);  /* value not a string */
    struct pool_apply *a = pool_apply_create(ps.p, ps.n, 4, "e1", NULL);
    run_job(a, &pc, 1, 1, 0);
    cr_expect_eq(pc.count, 10);
    cr_expect_eq(a->nbad, 3);
    cr_expect_str_eq(a->first_bad, "bad:json: record is not valid JSON", "first bad: %s",
                     a->first_bad);
    pool_apply_destroy(a);
    free_pairs(&ps);
    pool_cache_deinit(&pc);
}

Test(pool_apply, bad_record_names_are_printable)
{
    struct pool_cache pc;
    pool_cache_init(&pc);
    struct pairs ps = make_pairs(30000, 1, 1);
    add_pair(&ps, "ev\x01l\nid", "{x}");
    struct pool_apply *a = pool_apply_create(ps.p, ps.n, 4, "e1", NULL);
    run_job(a, &pc, 32, 2048, 0);
    cr_expect_eq(a->nbad, 1);
    cr_expect_eq(strncmp(a->first_bad, "ev?l?id: ", 9), 0, "first bad: %s", a->first_bad);
    pool_apply_destroy(a);
    free_pairs(&ps);
    pool_cache_deinit(&pc);
}

Test(pool_apply, empty_snapshot_applies)
{
    struct pool_cache pc;
    pool_cache_init(&pc);
    pool_cache_replace(&pc, NULL, 0, 5, "e1", 0);
    struct pool_apply *a = pool_apply_create(NULL, 0, 6, "e1", NULL);
    cr_assert_not_null(a);
    run_job(a, &pc, 32, 2048, 5);
    cr_expect_eq(pc.version, 6);
    cr_expect_eq(pc.count, 0);
    pool_apply_destroy(a);
    pool_cache_deinit(&pc);
}

Test(pool_apply, superseded_job_is_dropped_and_newer_applied)
{
    struct pool_cache pc;
    pool_cache_init(&pc);
    struct pairs p1 = make_pairs(40000, 500, 0);
    struct pool_apply *a = pool_apply_create(p1.p, p1.n, 2, "e1", NULL);
    for (int i = 0; i < 5; i++)
        cr_assert_eq(pool_apply_slice(a, &pc, 32, 2048, 5), PF_EAGAIN);
    cr_expect(pool_apply_is_wanted(&pc, a, 3, "e1"));
    pool_apply_destroy(a);                  /* the pairs not decoded stay the owner's */
    free_pairs(&p1);
    cr_expect_eq(pc.version, 0);
    struct pairs p2 = make_pairs(50000, 200, 0);
    a = pool_apply_create(p2.p, p2.n, 3, "e1", NULL);
    run_job(a, &pc, 32, 2048, 0);
    pool_apply_destroy(a);
    free_pairs(&p2);
    cr_expect_eq(pc.version, 3);
    cr_expect_eq(pc.count, 200);
    cr_expect_geq(pool_cache_find(&pc, "http://127.0.0.1:50000"), 0);
    cr_expect_eq(pool_cache_find(&pc, "http://127.0.0.1:40000"), -1);
    pool_cache_deinit(&pc);
}

struct wanted_case {
    int64_t version;
    char    epoch[8];
    int     want_no_job;    /* cache at 5 e1, nothing applying */
    int     want_job;       /* cache at 5 e1, 7 e1 applying */
};

Test(pool_apply, wanted_rule)
{
    static const struct wanted_case cases[] = {
        { 4, "e1", 0, 0 },  /* older */
        { 5, "e1", 0, 0 },  /* duplicate of the cache */
        { 6, "e1", 1, 0 },  /* newer than the cache, older than the job */
        { 7, "e1", 1, 0 },  /* duplicate of the job */
        { 8, "e1", 1, 1 },  /* newer than both: supersedes */
        { 1, "e2", 1, 1 },  /* new epoch: full reload whatever the version */
    };
    struct pool_cache pc;
    pool_cache_init(&pc);
    pool_cache_replace(&pc, NULL, 0, 5, "e1", 0);
    struct pairs ps = make_pairs(20000, 3, 0);
    struct pool_apply *a = pool_apply_create(ps.p, ps.n, 7, "e1", NULL);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct wanted_case *c = &cases[i];
        cr_expect_eq(pool_apply_is_wanted(&pc, NULL, c->version, c->epoch), c->want_no_job,
                     "case %zu without a job", i);
        cr_expect_eq(pool_apply_is_wanted(&pc, a, c->version, c->epoch), c->want_job,
                     "case %zu with a job", i);
    }
    /* once swapped in, the job no longer shadows anything but the cache */
    run_job(a, &pc, 32, 2048, 5);
    cr_expect_not(pool_apply_is_wanted(&pc, a, 7, "e1"));
    cr_expect(pool_apply_is_wanted(&pc, a, 8, "e1"));
    pool_apply_destroy(a);
    free_pairs(&ps);
    pool_cache_deinit(&pc);
}
