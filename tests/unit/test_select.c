/* Unit tests of node/select.c: rendezvous hashing (determinism, minimal
 * movement on removal, distribution), session windows, and strategies
 * with fixed cursors and random inputs. */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <stdio.h>
#include <string.h>

#include "rng.h"
#include "select.h"

#define NUP   10
#define NKEYS 5000

static void make_items(struct select_item *v, size_t n, size_t skip)
{
    for (size_t i = 0; i < n; i++) {
        char id[64];
        snprintf(id, sizeof(id), "http://192.0.2.%zu:8080", i + 1);
        memset(&v[i], 0, sizeof(v[i]));
        v[i].id_hash = select_hash(id, strlen(id));
        v[i].weight = 1;
        v[i].is_usable = i != skip;
    }
}

static uint64_t key_hash(int k)
{
    char key[32];
    int n = snprintf(key, sizeof(key), "alice\n%d", k);
    return select_session_hash(key, (size_t)n, 0, 0);
}

Test(select, fnv1a_known_values)
{
    cr_expect_eq(select_hash("", 0), 0xcbf29ce484222325ULL);
    cr_expect_eq(select_hash("a", 1), 0xaf63dc4c8601ec8cULL);
}

Test(select, hrw_is_deterministic)
{
    struct select_item a[NUP], b[NUP];
    make_items(a, NUP, (size_t)-1);
    make_items(b, NUP, (size_t)-1);   /* another "node" building the same snapshot */
    for (int k = 0; k < 500; k++)
        cr_expect_eq(select_hrw(a, NUP, key_hash(k)), select_hrw(b, NUP, key_hash(k)), "key %d", k);
    cr_expect_eq(select_hrw_score(1, 2), select_hrw_score(1, 2));
    cr_expect_neq(select_hrw_score(1, 2), select_hrw_score(2, 1));
}

Test(select, hrw_removal_moves_only_the_removed_upstreams_keys)
{
    struct select_item all[NUP], less[NUP];
    make_items(all, NUP, (size_t)-1);
    const size_t removed = 3;
    make_items(less, NUP, removed);
    int moved = 0, owned = 0;
    for (int k = 0; k < NKEYS; k++) {
        long before = select_hrw(all, NUP, key_hash(k));
        long after = select_hrw(less, NUP, key_hash(k));
        if (before == (long)removed) {
            owned++;
            cr_expect_neq(after, (long)removed);
        } else {
            cr_expect_eq(after, before, "key %d moved from %ld to %ld", k, before, after);
        }
        moved += before != after;
    }
    cr_expect_eq(moved, owned);
    cr_expect_gt(owned, 0);
}

Test(select, hrw_failover_takes_the_next_highest)
{
    struct select_item v[NUP];
    make_items(v, NUP, (size_t)-1);
    for (int k = 0; k < 200; k++) {
        uint64_t h = key_hash(k);
        long first = select_hrw(v, NUP, h);
        /* the second-highest score, computed by hand */
        long second = -1;
        for (size_t i = 0; i < NUP; i++)
            if ((long)i != first && (second < 0 ||
                select_hrw_score(h, v[i].id_hash) > select_hrw_score(h, v[second].id_hash)))
                second = (long)i;
        v[first].is_usable = 0;
        cr_expect_eq(select_hrw(v, NUP, h), second, "key %d", k);
        v[first].is_usable = 1;
    }
}

Test(select, hrw_distribution_is_even)
{
    struct select_item v[NUP];
    make_items(v, NUP, (size_t)-1);
    int counts[NUP] = { 0 };
    for (int k = 0; k < NKEYS; k++)
        counts[select_hrw(v, NUP, key_hash(k))]++;
    for (int i = 0; i < NUP; i++)   /* expected 500 each */
        cr_expect(counts[i] > 380 && counts[i] < 620, "upstream %d got %d", i, counts[i]);
}

Test(select, hrw_none_usable)
{
    struct select_item v[2];
    make_items(v, 2, (size_t)-1);
    v[0].is_usable = v[1].is_usable = 0;
    cr_expect_eq(select_hrw(v, 2, 1), -1);
    cr_expect_eq(select_hrw(v, 0, 1), -1);
}

Test(select, session_lifetime_windows)
{
    uint64_t a = select_session_hash("k", 1, 10, 600000 * 3 + 5);
    uint64_t b = select_session_hash("k", 1, 10, 600000 * 3 + 599999);
    uint64_t c = select_session_hash("k", 1, 10, 600000 * 4);
    cr_expect_eq(a, b);
    cr_expect_neq(a, c);
    cr_expect_eq(select_session_hash("k", 1, 0, 1), select_session_hash("k", 1, 0, 999999999));
}

Test(select, round_robin_skips_unusable)
{
    struct select_item v[4];
    make_items(v, 4, 1);
    uint64_t cur = 0;
    long want[] = { 0, 2, 3, 0, 2 };
    for (size_t i = 0; i < PF_ARRAY_LEN(want); i++)
        cr_expect_eq(select_round_robin(v, 4, &cur), want[i], "pick %zu", i);
}

Test(select, random_covers_usable_only)
{
    struct select_item v[4];
    make_items(v, 4, 2);
    struct rng st;
    rng_seed(&st, 7);
    int seen[4] = { 0 };
    for (int i = 0; i < 400; i++)
        seen[select_random(v, 4, rng_next(&st))]++;
    cr_expect_eq(seen[2], 0);
    cr_expect_gt(seen[0], 50);
    cr_expect_gt(seen[1], 50);
    cr_expect_gt(seen[3], 50);
}

Test(select, least_conn_prefers_idle)
{
    struct select_item v[3];
    make_items(v, 3, (size_t)-1);
    v[0].active = 5;
    v[1].active = 2;
    v[2].active = 7;
    uint64_t cur = 0;
    cr_expect_eq(select_least_conn(v, 3, &cur), 1);
    v[1].is_usable = 0;
    cr_expect_eq(select_least_conn(v, 3, &cur), 0);
}

Test(select, weighted_follows_weight_latency_health)
{
    struct select_item v[2];
    make_items(v, 2, (size_t)-1);
    v[0].weight = 3;
    v[1].weight = 1;
    cr_expect_eq(select_effective_weight(&v[0]), 3 * select_effective_weight(&v[1]));
    v[1].latency_ms = 1000;   /* slower: lighter */
    cr_expect_lt(select_effective_weight(&v[1]), 1000);
    v[1].consecutive_failures = 1;
    uint64_t before = select_effective_weight(&v[1]);
    v[1].consecutive_failures = 3;
    cr_expect_lt(select_effective_weight(&v[1]), before);
    struct rng st;
    rng_seed(&st, 1);
    int n0 = 0;
    for (int i = 0; i < 1000; i++)
        n0 += select_weighted(v, 2, rng_next(&st)) == 0;
    cr_expect_gt(n0, 900);
}

/* Tiers: only the lowest tier with a usable item stays usable. */
Test(select, restrict_tier_keeps_lowest_usable)
{
    struct select_item v[6];
    make_items(v, 6, 99);
    uint32_t tiers[6] = { 1, 0, 2, 0, 1, 2 };
    for (int i = 0; i < 6; i++)
        v[i].tier = tiers[i];
    cr_expect_eq(select_restrict_tier(v, 6), 2);
    for (int i = 0; i < 6; i++)
        cr_expect_eq(v[i].is_usable, tiers[i] == 0, "item %d", i);
    /* tier 0 all unusable: tier 1 serves */
    make_items(v, 6, 99);
    for (int i = 0; i < 6; i++) {
        v[i].tier = tiers[i];
        v[i].is_usable = tiers[i] != 0;
    }
    cr_expect_eq(select_restrict_tier(v, 6), 2);
    cr_expect(v[0].is_usable && v[4].is_usable && !v[2].is_usable && !v[5].is_usable);
    /* nothing usable: nothing changes */
    for (int i = 0; i < 6; i++)
        v[i].is_usable = 0;
    cr_expect_eq(select_restrict_tier(v, 6), 0);
    cr_expect_eq(select_restrict_tier(v, 0), 0);
}

/* Sticky sessions rank inside the tier in use: with tier 0 up, every key
 * lands on a tier-0 item, and the keys' order among those items is the
 * rendezvous order of the tier alone. */
Test(select, hrw_inside_the_tier)
{
    struct select_item v[NUP], only0[NUP];
    size_t n0 = 0;
    make_items(v, NUP, NUP);
    for (size_t i = 0; i < NUP; i++) {
        v[i].tier = i % 2;
        if (v[i].tier == 0)
            only0[n0++] = v[i];
    }
    for (int k = 0; k < 500; k++) {
        struct select_item w[NUP];
        memcpy(w, v, sizeof(w));
        select_restrict_tier(w, NUP);
        long a = select_hrw(w, NUP, key_hash(k));
        cr_assert_geq(a, 0);
        cr_expect_eq(w[a].tier, 0u, "key %d", k);
        long b = select_hrw(only0, n0, key_hash(k));
        cr_expect_eq(w[a].id_hash, only0[b].id_hash, "key %d: same pick as the tier alone", k);
    }
}

/* Label hashes: normalised (case, space/dash/underscore, the AS prefix),
 * 0 only for an empty value, per label (the same value under two labels
 * differs), and a filter matches only when every label it names agrees. */
Test(select, labels_and_filter)
{
    cr_expect_eq(select_label_hash(USER_LABEL_CITY, "", 0), 0u);
    cr_expect_eq(select_label_hash(USER_LABEL_CITY, "New York", 8),
                 select_label_hash(USER_LABEL_CITY, "new_york", 8));
    cr_expect_eq(select_label_hash(USER_LABEL_ASN, "AS4134", 6),
                 select_label_hash(USER_LABEL_ASN, "4134", 4));
    cr_expect_neq(select_label_hash(USER_LABEL_CITY, "us", 2),
                  select_label_hash(USER_LABEL_COUNTRY, "us", 2));
    struct upstream u;
    memset(&u, 0, sizeof(u));
    snprintf(u.labels.country, sizeof(u.labels.country), "US");
    snprintf(u.provider, sizeof(u.provider), "kdl");
    u.tier = 2;
    struct select_labels l;
    select_labels_of(&u, &l);
    cr_expect_eq(l.h[USER_LABEL_CITY], 0u);
    struct user_params_words w;
    struct user_params p;
    struct pf_err err;
    cr_assert_eq(user_params_words_from_tags("-session-", "", &w, &err), PF_OK);
    struct select_filter f;
    cr_assert_eq(user_params_parse("a-country-us-provider-KDL-tier-2", &w, &p, &err), PF_OK);
    select_filter_from_params(&p, &f);
    cr_expect(select_filter_match(&f, &l));
    cr_assert_eq(user_params_parse("a-country-us-tier-1", &w, &p, &err), PF_OK);
    select_filter_from_params(&p, &f);
    cr_expect(!select_filter_match(&f, &l));
    cr_assert_eq(user_params_parse("a-country-us-city-boston", &w, &p, &err), PF_OK);
    select_filter_from_params(&p, &f);
    cr_expect(!select_filter_match(&f, &l), "an unlabelled upstream never matches a label");
    cr_assert_eq(user_params_parse("a", &w, &p, &err), PF_OK);
    select_filter_from_params(&p, &f);
    cr_expect(select_filter_match(&f, &l), "no filter matches all");
}
