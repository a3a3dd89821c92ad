/* Unit tests of node/select_index.c (the label posting lists and the
 * ordered walks) and of pool_cache_select() over it: on random pools, with
 * tiers, expiry, ejection, failed indexes, bans and label filters, every
 * pick equals the one of the plain O(pool) reference below (mark every
 * upstream, restrict to the lowest tier, then the strategy), which is what
 * selection did before the index. Fixed seeds. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ban_check.h"
#include "pool_cache.h"
#include "select.h"
#include "select_index.h"
#include "upstream_sid.h"

static uint64_t rnd_state;

static uint64_t rnd(void)
{
    rnd_state += 0x9e3779b97f4a7c15ULL;
    return select_fmix64(rnd_state);
}

static const char *const countries[] = { "US", "DE", "FR", "GB", "JP" };
static const char *const cities[] = { "Boston", "Berlin", "Paris" };

/* A pool of <n> upstreams with random labels, tiers, schemes and expiry. */
static void make_pool(struct pool_cache *pc, size_t n, int has_tiers)
{
    struct upstream *u = calloc(n, sizeof(*u));
    cr_assert_not_null(u);
    for (size_t i = 0; i < n; i++) {
        u[i].scheme = rnd() % 10 == 0 ? UPSTREAM_SOCKS5 : UPSTREAM_HTTP;
        u[i].host_kind = UPSTREAM_HOST_IPV4;
        snprintf(u[i].host, sizeof(u[i].host), "198.51.%zu.%zu", (i >> 8) & 255, i & 255);
        u[i].port = (uint16_t)(1000 + i);
        u[i].weight = 1;
        u[i].tier = has_tiers ? (uint32_t)(rnd() % 3) : 0;
        u[i].expires_at_ms = rnd() % 8 == 0 ? 500 : 0;
        snprintf(u[i].provider, sizeof(u[i].provider), "p%u", (unsigned)(rnd() % 3));
        if (rnd() % 6 != 0)
            snprintf(u[i].labels.country, sizeof(u[i].labels.country), "%s",
                     countries[rnd() % 5]);
        if (rnd() % 2 == 0)
            snprintf(u[i].labels.city, sizeof(u[i].labels.city), "%s", cities[rnd() % 3]);
    }
    pool_cache_init(pc);
    pool_cache_replace(pc, u, n, 1, "e", 0);
    cr_assert_eq(pc->count, n);
    for (size_t i = 0; i < n; i++)
        if (rnd() % 10 == 0)
            pc->st[i].ejected_until_ms = 2000 + (int64_t)(rnd() % 1000);
}

static void filter_of(const char *user, struct select_filter *f)
{
    struct user_params_words w;
    struct user_params p;
    struct pf_err err;
    cr_assert_eq(user_params_words_from_tags("-session-", "-sesstime-", &w, &err), PF_OK);
    cr_assert_eq(user_params_parse(user, &w, &p, &err), PF_OK, "%s: %s", user, err.msg);
    select_filter_from_params(&p, f);
}

/* The bans of a test: a bit per upstream. */
struct bans {
    unsigned char banned[512];
    int ncalls;
};

static int is_banned(void *arg, size_t idx)
{
    struct bans *b = arg;
    b->ncalls++;
    return b->banned[idx];
}

static int contains(const long *v, size_t n, size_t idx)
{
    for (size_t k = 0; k < n; k++)
        if (v[k] == (long)idx)
            return 1;
    return 0;
}

/* The O(pool) pick: usable = policy, filter, expiry, failed, scheme,
 * ejection, bans; empty filter; panic; lowest tier; the strategy. */
static long ref_mark(struct pool_cache *pc, const struct pool_select_req *rq,
                     const struct select_filter *f, int is_eject_checked, int is_ban_checked)
{
    long n = 0;
    for (size_t i = 0; i < pc->count; i++) {
        struct select_item *v = &pc->sel[i];
        int ok = !v->is_denied && (f == NULL || select_filter_match(f, &v->labels)) &&
                 !(v->expires_at_ms != 0 && v->expires_at_ms <= rq->now_wall_ms) &&
                 !contains(rq->exclude, rq->nexclude, i) &&
                 (rq->scheme_mask & (1u << v->scheme)) &&
                 !(is_eject_checked && pc->st[i].ejected_until_ms > rq->now_mono_ms) &&
                 !(is_ban_checked && rq->is_excluded != NULL &&
                   rq->is_excluded(rq->excluded_arg, i));
        v->is_usable = ok;
        n += ok;
    }
    return n;
}

static long ref_select(struct pool_cache *pc, const struct pool_select_req *rq, uint64_t *cursor,
                       int *is_filter_empty, int *is_all_ejected)
{
    const struct select_filter *f = rq->filter != NULL && rq->filter->mask ? rq->filter : NULL;
    *is_filter_empty = *is_all_ejected = 0;
    if (f != NULL && ref_mark(pc, rq, f, 0, 0) == 0) {
        if (ref_mark(pc, rq, NULL, 0, 0) == 0)
            return -1;
        if (!rq->is_filter_fallback) {
            *is_filter_empty = 1;
            return -1;
        }
        f = NULL;
    }
    if (ref_mark(pc, rq, f, 1, 1) == 0) {
        if (ref_mark(pc, rq, f, 0, 1) == 0)
            return -1;
        if (!rq->is_eject_panic) {
            *is_all_ejected = 1;
            return -1;
        }
    }
    select_restrict_tier(pc->sel, pc->count);
    if (rq->has_session)
        return select_hrw(pc->sel, pc->count, rq->session_hash);
    return select_round_robin(pc->sel, pc->count, cursor);
}

Test(select_index, posting_lists_hold_each_value_in_index_order)
{
    rnd_state = 1;
    struct pool_cache pc;
    make_pool(&pc, 300, 1);
    const struct select_index *x = pc.index;
    cr_assert_not_null(x);
    cr_expect_eq(x->phase, SELECT_INDEX_READY);
    for (int c = 0; c < 5; c++) {
        char user[64];
        struct select_filter f;
        snprintf(user, sizeof(user), "alice-country-%s", countries[c]);
        filter_of(user, &f);
        struct select_subset s;
        select_index_subset(x, &f, &s);
        size_t want = 0;
        uint32_t lo = UINT32_MAX, hi = 0;
        for (size_t i = 0; i < pc.count; i++)
            if (strcasecmp(pc.items[i].labels.country, countries[c]) == 0) {
                want++;
                lo = PF_MIN_OF(lo, pc.items[i].tier);
                hi = pc.items[i].tier > hi ? pc.items[i].tier : hi;
            }
        cr_expect_eq(s.n, want, "%s: %zu members, %zu upstreams", countries[c], s.n, want);
        cr_expect_eq(s.check_mask, 0);
        cr_expect_eq(s.is_single_tier, lo == hi);
        for (size_t k = 0; k < s.n; k++) {
            cr_expect_str_eq(pc.items[s.idx[k]].labels.country, countries[c]);
            if (k > 0)
                cr_expect_gt(s.idx[k], s.idx[k - 1]);
            cr_expect(select_subset_has(&s, pc.sel, s.idx[k]));
        }
    }
    pool_cache_deinit(&pc);
}

Test(select_index, subset_is_the_shortest_list_and_checks_the_rest)
{
    rnd_state = 2;
    struct pool_cache pc;
    make_pool(&pc, 300, 0);
    struct select_filter f;
    struct select_subset s;
    filter_of("alice-country-us-city-paris", &f);
    select_index_subset(pc.index, &f, &s);
    cr_expect_eq(__builtin_popcount(s.check_mask), 1);
    size_t n = 0;
    for (size_t i = 0; i < pc.count; i++)
        if (select_filter_match(&f, &pc.sel[i].labels)) {
            n++;
            cr_expect(select_subset_has(&s, pc.sel, i));
        } else {
            cr_expect_not(select_subset_has(&s, pc.sel, i));
        }
    cr_expect_gt(n, 0);
    /* a value no upstream has: an empty subset; no filter: the whole pool */
    filter_of("alice-country-za", &f);
    select_index_subset(pc.index, &f, &s);
    cr_expect_eq(s.n, 0);
    select_index_subset(pc.index, NULL, &s);
    cr_expect_eq(s.n, pc.count);
    cr_expect_null(s.idx);
    cr_expect(s.is_single_tier);
    pool_cache_deinit(&pc);
}

struct accept_set {
    const unsigned char *ok;
    size_t ncalls;
};

static int accept_some(void *arg, size_t idx)
{
    struct accept_set *a = arg;
    a->ncalls++;
    return a->ok[idx];
}

Test(select_index, hrw_walk_is_rendezvous_over_the_accepted_members)
{
    rnd_state = 3;
    struct pool_cache pc;
    make_pool(&pc, 400, 1);
    unsigned char ok[400];
    for (int round = 0; round < 200; round++) {
        /* from nearly all accepted to nearly none: the top-k passes repeat */
        int den = 1 + round % 40;
        for (size_t i = 0; i < 400; i++) {
            ok[i] = rnd() % (uint64_t)den == 0;
            pc.sel[i].is_usable = ok[i];
        }
        uint64_t key = rnd();
        struct select_subset s;
        select_index_subset(pc.index, NULL, &s);
        struct accept_set a = { ok, 0 };
        long got = select_index_hrw(pc.index, &s, pc.sel, key, accept_some, &a);
        select_restrict_tier(pc.sel, pc.count);
        long want = select_hrw(pc.sel, pc.count, key);
        cr_assert_eq(got, want, "round %d: %ld, want %ld", round, got, want);
        if (den == 1)
            cr_expect_eq(a.ncalls, 1);  /* everything accepted: one question */
    }
    pool_cache_deinit(&pc);
}

Test(select_index, rr_walk_is_round_robin_over_the_accepted_members)
{
    rnd_state = 4;
    struct pool_cache pc;
    make_pool(&pc, 200, 0);
    unsigned char ok[200];
    struct select_filter f;
    filter_of("alice-country-de", &f);
    struct select_subset s;
    select_index_subset(pc.index, &f, &s);
    uint64_t c1 = 0, c2 = 0;
    for (int round = 0; round < 300; round++) {
        for (size_t i = 0; i < 200; i++) {
            ok[i] = rnd() % 3 != 0;
            pc.sel[i].is_usable = ok[i] && select_filter_match(&f, &pc.sel[i].labels);
        }
        if (round % 50 == 0)
            c1 = c2 = rnd() % 200;
        struct accept_set a = { ok, 0 };
        long got = select_index_rr(&s, pc.sel, pc.count, &c1, accept_some, &a);
        long want = select_round_robin(pc.sel, pc.count, &c2);
        cr_assert_eq(got, want, "round %d", round);
        cr_assert_eq(c1, c2, "round %d", round);
    }
    pool_cache_deinit(&pc);
}

/* pool_cache_select() against the reference, for sessions and round robin,
 * over random pools, filters, failed indexes, bans and ejection. */
static void agree_with_reference(int has_tiers, uint64_t seed)
{
    rnd_state = seed;
    struct pool_cache pc;
    make_pool(&pc, 300, has_tiers);
    static const char *const users[] = { "alice", "alice-country-us", "alice-country-fr-city-paris",
                                         "alice-city-berlin", "alice-provider-p1-country-jp",
                                         "alice-country-za", "alice-tier-2" };
    struct bans bans;
    uint64_t cursor_ref = 0;
    for (int round = 0; round < 3000; round++) {
        struct select_filter f;
        filter_of(users[rnd() % 7], &f);
        memset(&bans, 0, sizeof(bans));
        int nbanned = (int)(rnd() % 4 == 0 ? rnd() % 300 : rnd() % 8);
        for (int b = 0; b < nbanned; b++)
            bans.banned[rnd() % 300] = 1;
        long exclude[4];
        size_t nexclude = (size_t)(rnd() % 3);
        for (size_t k = 0; k < nexclude; k++)
            exclude[k] = (long)(rnd() % 300);
        struct pool_select_req rq = {
            .strategy = CONF_STRATEGY_ROUND_ROBIN,
            .now_wall_ms = 1000,
            .now_mono_ms = rnd() % 2 ? 1000 : 2500,
            .exclude = exclude,
            .nexclude = nexclude,
            .scheme_mask = 1u << UPSTREAM_HTTP,
            .has_session = (int)(rnd() % 2),
            .session_hash = rnd(),
            .is_eject_panic = (int)(rnd() % 2),
            .filter = &f,
            .is_filter_fallback = (int)(rnd() % 2),
            .is_excluded = nbanned > 0 ? is_banned : NULL,
            .excluded_arg = &bans,
        };
        struct pool_select_res res;
        uint64_t cursor = cursor_ref;      /* == pc.rr_next */
        int is_filter_empty, is_all_ejected;
        long want = ref_select(&pc, &rq, &cursor, &is_filter_empty, &is_all_ejected);
        if (nexclude == 0)
            cursor_ref = cursor;
        long got = pool_cache_select(&pc, &rq, &res);
        cr_assert_eq(got, want, "round %d (session %d, filter %x, bans %d, exclude %zu, panic %d, "
                     "fallback %d, mono %lld): %ld, want %ld (empty %d/%d, ejected %d/%d)", round,
                     rq.has_session, f.mask, nbanned, nexclude, rq.is_eject_panic,
                     rq.is_filter_fallback, (long long)rq.now_mono_ms, got, want,
                     res.is_filter_empty, is_filter_empty, res.is_all_ejected, is_all_ejected);
        cr_assert_eq(res.is_filter_empty, is_filter_empty, "round %d", round);
        cr_assert_eq(res.is_all_ejected, is_all_ejected, "round %d", round);
        if (!rq.has_session)
            cr_assert_eq(pc.rr_next, cursor_ref, "round %d", round);
        if (got >= 0)
            cr_assert_eq(bans.banned[got], 0);
    }
    pool_cache_deinit(&pc);
}

Test(select_index, pick_agrees_with_the_whole_pool_reference)
{
    agree_with_reference(0, 5);
}

Test(select_index, pick_agrees_with_the_whole_pool_reference_across_tiers)
{
    agree_with_reference(1, 6);
}

Test(select_index, a_sticky_pick_asks_few_questions)
{
    rnd_state = 7;
    struct pool_cache pc;
    make_pool(&pc, 300, 0);
    for (size_t i = 0; i < pc.count; i++)
        pc.st[i].ejected_until_ms = 0;
    struct bans bans;
    memset(&bans, 0, sizeof(bans));
    struct select_filter f;
    filter_of("alice-country-us", &f);
    struct pool_select_req rq = {
        .now_wall_ms = 1, .scheme_mask = ~0u, .has_session = 1, .filter = &f,
        .is_excluded = is_banned, .excluded_arg = &bans,
    };
    for (int k = 0; k < 50; k++) {
        rq.session_hash = rnd();
        bans.ncalls = 0;
        long a = pool_cache_select(&pc, &rq, NULL);
        cr_assert_geq(a, 0);
        cr_expect_eq(bans.ncalls, 1, "the winner alone is asked about bans");
        /* banned for this domain: the next in rendezvous order, one more question */
        bans.banned[a] = 1;
        bans.ncalls = 0;
        long b = pool_cache_select(&pc, &rq, NULL);
        cr_assert_geq(b, 0);
        cr_expect_neq(a, b);
        cr_expect_eq(bans.ncalls, 2);
        bans.banned[a] = 0;
    }
    pool_cache_deinit(&pc);
}

Test(select_index, ban_check_matches_by_short_id_and_domain)
{
    rnd_state = 8;
    struct pool_cache pc;
    make_pool(&pc, 50, 0);
    struct upstream_sid_key key;
    upstream_sid_key_derive(NULL, 0, &key);
    struct ban_set set;
    ban_set_init(&set);
    struct ban b;
    memset(&b, 0, sizeof(b));
    snprintf(b.id, sizeof(b.id), "b1");
    upstream_sid_format(&key, pc.ids[7], b.upstream, sizeof(b.upstream));
    snprintf(b.domain, sizeof(b.domain), "example.com");
    b.expires_at_ms = 10000;
    cr_assert_eq(ban_set_put(&set, &b), PF_OK);
    struct ban_check bc;
    ban_check_init(&bc, &set, &key, &pc, NULL, "www.example.com", 5000);
    cr_expect_not(ban_check_is_empty(&bc));
    cr_expect(ban_check_is_banned(&bc, 7));
    cr_expect_not(ban_check_is_banned(&bc, 8));
    cr_expect_eq(bc.nbanned, 1);
    ban_check_init(&bc, &set, &key, &pc, NULL, "example.org", 5000);
    cr_expect_not(ban_check_is_banned(&bc, 7));             /* another domain */
    ban_check_init(&bc, &set, &key, &pc, NULL, "example.com", 10000);
    cr_expect_not(ban_check_is_banned(&bc, 7));             /* expired */
    ban_check_init(&bc, NULL, &key, &pc, NULL, "example.com", 5000);
    cr_expect(ban_check_is_empty(&bc));
    cr_expect_not(ban_check_is_banned(&bc, 7));
    ban_set_deinit(&set);
    pool_cache_deinit(&pc);
}

Test(select_index, build_in_small_steps_equals_one_go)
{
    rnd_state = 9;
    struct pool_cache pc;
    make_pool(&pc, 257, 1);
    struct select_index *x = select_index_create(pc.count);
    cr_assert_not_null(x);
    size_t used = 0;
    int rc, nsteps = 0;
    while ((rc = select_index_build_some(x, pc.sel, 5, &used)) == PF_EAGAIN)
        nsteps++;
    cr_assert_eq(rc, PF_OK);
    cr_expect_gt(nsteps, 100);
    cr_expect_eq(x->nmembers, pc.index->nmembers);
    for (size_t i = 0; i < pc.count; i++)
        cr_expect_eq(x->hrw_mix[i], pc.index->hrw_mix[i]);
    for (int c = 0; c < 5; c++) {
        char user[64];
        struct select_filter f;
        struct select_subset s1, s2;
        snprintf(user, sizeof(user), "alice-country-%s", countries[c]);
        filter_of(user, &f);
        select_index_subset(x, &f, &s1);
        select_index_subset(pc.index, &f, &s2);
        cr_assert_eq(s1.n, s2.n);
        cr_expect_eq(memcmp(s1.idx, s2.idx, s1.n * sizeof(*s1.idx)), 0);
    }
    select_index_destroy(x);
    select_index_destroy(NULL);
    pool_cache_deinit(&pc);
}
