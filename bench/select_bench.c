/* Micro-benchmark of one upstream pick (node/pool_cache.c) for (labels,
 * session, domain): 10,000 upstreams over 20 countries and 5 providers,
 * 1,000 bans of (upstream, domain) pairs checked through the pick's
 * is_excluded predicate (an open-addressing set, as a ban table would be),
 * sticky sessions with a country filter. Prints p50/p99/max per scenario,
 * wall time per call (CLOCK_MONOTONIC) over N picks after a warm-up.
 * Built and run by bench/select.sh. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pool_cache.h"
#include "select.h"
#include "user_params.h"

#define NUP      10000
#define NBANS    1000
#define NDOMAINS 50
#define NPICKS   20000
#define SETCAP   4096            /* power of two, > 2 x NBANS */

struct ban_set {
    uint64_t key[SETCAP];        /* (idx + 1) << 16 | domain; 0 = empty */
};

static uint64_t mix(uint64_t k)
{
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdULL;
    k ^= k >> 33;
    return k;
}

static void ban_add(struct ban_set *s, uint64_t key)
{
    for (uint64_t i = mix(key) & (SETCAP - 1);; i = (i + 1) & (SETCAP - 1))
        if (s->key[i] == 0 || s->key[i] == key) {
            s->key[i] = key;
            return;
        }
}

struct excl_arg {
    const struct ban_set *set;
    unsigned domain;
};

static int is_banned(void *arg, size_t idx)
{
    const struct excl_arg *a = arg;
    uint64_t key = ((uint64_t)idx + 1) << 16 | a->domain;
    for (uint64_t i = mix(key) & (SETCAP - 1);; i = (i + 1) & (SETCAP - 1)) {
        if (a->set->key[i] == key)
            return 1;
        if (a->set->key[i] == 0)
            return 0;
    }
}

static int64_t now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

static int cmp64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static void run(struct pool_cache *pc, const char *name, int has_session, int has_filter,
                int has_bans, const struct ban_set *bans, int64_t *d)
{
    static const char *const cc[] = { "us", "de", "fr", "gb", "jp", "cn", "br", "in", "ru", "ca",
                                      "au", "nl", "se", "es", "it", "pl", "kr", "mx", "tr", "za" };
    struct user_params_words w;
    struct pf_err err;
    if (user_params_words_from_tags("-session-", "-sesstime-", &w, &err) != PF_OK)
        abort();
    struct select_filter filters[20];
    for (int i = 0; i < 20; i++) {
        char user[64];
        struct user_params p;
        snprintf(user, sizeof(user), "alice-country-%s", cc[i]);
        if (user_params_parse(user, &w, &p, &err) != PF_OK)
            abort();
        select_filter_from_params(&p, &filters[i]);
    }
    long nfail = 0;
    for (int k = -NPICKS / 10; k < NPICKS; k++) {
        struct excl_arg ea = { bans, (unsigned)(k & 0x7fffffff) % NDOMAINS };
        struct pool_select_req rq = {
            .strategy = CONF_STRATEGY_ROUND_ROBIN,
            .now_wall_ms = 1, .now_mono_ms = 1, .scheme_mask = ~0u,
            .has_session = has_session,
            .session_hash = mix((uint64_t)k * 0x9e3779b97f4a7c15ULL),
            .rnd = (uint64_t)k,
            .filter = has_filter ? &filters[(unsigned)(k & 0x7fffffff) % 20] : NULL,
            .is_excluded = has_bans ? is_banned : NULL,
            .excluded_arg = &ea,
        };
        int64_t t0 = now_ns();
        long idx = pool_cache_select(pc, &rq, NULL);
        int64_t t = now_ns() - t0;
        if (k >= 0)
            d[k] = t;
        nfail += idx < 0;
    }
    qsort(d, NPICKS, sizeof(*d), cmp64);
    printf("%-34s p50 %7.2f us  p99 %7.2f us  max %8.2f us  (no pick: %ld)\n", name,
           d[NPICKS / 2] / 1e3, d[(size_t)NPICKS * 99 / 100] / 1e3, d[NPICKS - 1] / 1e3, nfail);
}

int main(void)
{
    static const char *const cc[] = { "US", "DE", "FR", "GB", "JP", "CN", "BR", "IN", "RU", "CA",
                                      "AU", "NL", "SE", "ES", "IT", "PL", "KR", "MX", "TR", "ZA" };
    struct upstream *it = calloc(NUP, sizeof(*it));
    int64_t *d = malloc(NPICKS * sizeof(*d));
    struct ban_set *bans = calloc(1, sizeof(*bans));
    if (it == NULL || d == NULL || bans == NULL)
        return 1;
    for (size_t i = 0; i < NUP; i++) {
        it[i].scheme = UPSTREAM_HTTP;
        it[i].host_kind = UPSTREAM_HOST_IPV4;
        snprintf(it[i].host, sizeof(it[i].host), "1.1.%zu.%zu", (i >> 8) & 255, i & 255);
        it[i].port = (uint16_t)(8000 + i % 1000);
        it[i].weight = 1;
        snprintf(it[i].provider, sizeof(it[i].provider), "p%zu", i % 5);
        snprintf(it[i].labels.country, sizeof(it[i].labels.country), "%s", cc[(i * 7) % 20]);
    }
    struct pool_cache pc;
    pool_cache_init(&pc);
    pool_cache_replace(&pc, it, NUP, 1, "bench", 0);
    if (pc.count != NUP)
        return 1;
    for (int b = 0; b < NBANS; b++)
        ban_add(bans, ((uint64_t)((b * 7919) % NUP) + 1) << 16 | (unsigned)(b % NDOMAINS));
    printf("%d upstreams, %d bans over %d domains, %d picks each\n", NUP, NBANS, NDOMAINS, NPICKS);
    run(&pc, "round robin", 0, 0, 0, bans, d);
    run(&pc, "session", 1, 0, 0, bans, d);
    run(&pc, "session + bans", 1, 0, 1, bans, d);
    run(&pc, "country + session", 1, 1, 0, bans, d);
    run(&pc, "country + session + bans", 1, 1, 1, bans, d);
    run(&pc, "country + round robin + bans", 0, 1, 1, bans, d);
    pool_cache_deinit(&pc);
    free(d);
    free(bans);
    return 0;
}
