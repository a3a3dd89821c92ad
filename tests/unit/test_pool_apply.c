/* Unit tests of node/pool_apply.c on real hiredis replies (RESP parsed by
 * hiredis's own reader, as redis_link receives them): bounded slices, the
 * cache whole until the swap, bad records skipped, the supersede rule. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include "pool_apply.h"

/* RESP of HGETALL pool:upstreams with <n> good records on ports
 * base..base+n-1 (shuffled), plus <extra> raw RESP elements appended. */
static redisReply *upstreams_reply(int base, int n, const char *extra, int nextra)
{
    size_t cap = (size_t)n * 256 + 4096;
    char *buf = malloc(cap);
    cr_assert_not_null(buf);
    size_t len = (size_t)snprintf(buf, cap, "*%d\r\n", 2 * n + nextra);
    for (int i = 0; i < n; i++) {
        int port = base + (i * 7919) % n;
        char id[64], rec[256];
        int idl = snprintf(id, sizeof(id), "http://127.0.0.1:%d", port);
        int recl = snprintf(rec, sizeof(rec), "{\"scheme\":\"http\",\"host\":\"127.0.0.1\","
                            "\"port\":%d,\"provider\":\"t\",\"weight\":2}", port);
        len += (size_t)snprintf(buf + len, cap - len, "$%d\r\n%s\r\n$%d\r\n%s\r\n", idl, id,
                                recl, rec);
    }
    if (extra != NULL)
        len += (size_t)snprintf(buf + len, cap - len, "%s", extra);
    redisReader *rd = redisReaderCreate();
    cr_assert_not_null(rd);
    cr_assert_eq(redisReaderFeed(rd, buf, len), REDIS_OK);
    void *reply = NULL;
    cr_assert_eq(redisReaderGetReply(rd, &reply), REDIS_OK);
    cr_assert_not_null(reply);
    redisReaderFree(rd);
    free(buf);
    return reply;
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

Test(pool_apply, sliced_apply_is_whole_and_takes_the_records)
{
    struct pool_cache pc;
    pool_cache_init(&pc);
    redisReply *r = upstreams_reply(20000, 1000, NULL, 0);
    struct pool_apply *a = pool_apply_create(r, 1, "e1", NULL);
    cr_assert_not_null(a);
    cr_expect_eq(r->elements, 0);          /* hiredis frees only the shell */
    cr_expect_null(r->element);
    freeReplyObject(r);
    int calls = run_job(a, &pc, 32, 2048, 0);
    cr_expect_geq(calls, 1000 / 32, "took %d calls", calls);
    cr_expect(pool_apply_is_done(a));
    cr_expect_eq(pc.count, 1000);
    cr_expect_eq(pc.version, 1);
    cr_expect_str_eq(pc.epoch, "e1");
    cr_expect_eq(a->nbad, 0);
    for (size_t i = 1; i < pc.count; i++)
        cr_assert_lt(strcmp(pc.ids[i - 1], pc.ids[i]), 0);
    cr_expect_eq(pc.sel[0].weight, 2);
    pool_apply_destroy(a);
    pool_cache_deinit(&pc);
}

Test(pool_apply, bad_records_skipped_and_counted)
{
    struct pool_cache pc;
    pool_cache_init(&pc);
    const char *extra = "$8\r\nbad:json\r\n$3\r\n{x}\r\n"   /* not JSON */
                        ":1\r\n$2\r\n{}\r\n"                /* field not a string */
                        "$4\r\nlast\r\n";                   /* odd element */
    redisReply *r = upstreams_reply(30000, 10, extra, 5);
    struct pool_apply *a = pool_apply_create(r, 4, "e1", NULL);
    freeReplyObject(r);
    run_job(a, &pc, 1, 1, 0);
    cr_expect_eq(pc.count, 10);
    cr_expect_eq(a->nbad, 2);
    cr_expect_neq(a->first_bad[0], '\0');
    pool_apply_destroy(a);
    pool_cache_deinit(&pc);
}

Test(pool_apply, superseded_job_is_dropped_and_newer_applied)
{
    struct pool_cache pc;
    pool_cache_init(&pc);
    redisReply *r1 = upstreams_reply(40000, 500, NULL, 0);
    struct pool_apply *a = pool_apply_create(r1, 2, "e1", NULL);
    freeReplyObject(r1);
    for (int i = 0; i < 5; i++)
        cr_assert_eq(pool_apply_slice(a, &pc, 32, 2048, 5), PF_EAGAIN);
    cr_expect(pool_apply_is_wanted(&pc, a, 3, "e1"));
    pool_apply_destroy(a);                  /* records not decoded yet are freed */
    cr_expect_eq(pc.version, 0);
    redisReply *r2 = upstreams_reply(50000, 200, NULL, 0);
    a = pool_apply_create(r2, 3, "e1", NULL);
    freeReplyObject(r2);
    run_job(a, &pc, 32, 2048, 0);
    pool_apply_destroy(a);
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
    redisReply *r = upstreams_reply(20000, 3, NULL, 0);
    struct pool_apply *a = pool_apply_create(r, 7, "e1", NULL);
    freeReplyObject(r);
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
    pool_cache_deinit(&pc);
}
