/* Micro-benchmark of one upstream pick (node/pool_cache.c) for (labels,
 * session, domain): 10,000 upstreams over 20 countries and 5 providers,
 * 1,000 fleet bans of (upstream short id, domain) pairs over 50 domains in
 * the node's ban set (common/ban_set.c), checked through the node's own
 * predicate (node/ban_check.c), sticky sessions with a country filter.
 * Prints p50/p99/max per scenario, wall time per call (CLOCK_MONOTONIC)
 * over N picks after a warm-up. Built and run by bench/select.sh. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ban_check.h"
#include "ban_set.h"
#include "pool_cache.h"
#include "select.h"
#include "upstream_sid.h"
#include "user_params.h"

#define NUP      10000
#define NBANS    1000
#define NDOMAINS 50
#define NPICKS   20000

static uint64_t mix(uint64_t k)
{
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdULL;
    k ^= k >> 33;
    return k;
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
                int has_bans, const struct ban_set *bans, const struct upstream_sid_key *key,
                int64_t *d)
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
    uint64_t nbanned = 0;
    for (int k = -NPICKS / 10; k < NPICKS; k++) {
        char host[32];
        snprintf(host, sizeof(host), "www.site%u.example", (unsigned)(k & 0x7fffffff) % NDOMAINS);
        struct pool_select_req rq = {
            .strategy = CONF_STRATEGY_ROUND_ROBIN,
            .now_wall_ms = 1, .now_mono_ms = 1, .scheme_mask = ~0u,
            .has_session = has_session,
            .session_hash = mix((uint64_t)k * 0x9e3779b97f4a7c15ULL),
            .rnd = (uint64_t)k,
            .filter = has_filter ? &filters[(unsigned)(k & 0x7fffffff) % 20] : NULL,
        };
        /* what attempt.c does per pick: the ban predicate over this pick's
         * host, then the pick */
        int64_t t0 = now_ns();
        struct ban_check bc;
        ban_check_init(&bc, has_bans ? bans : NULL, key, pc, NULL, host, 1);
        if (!ban_check_is_empty(&bc)) {
            rq.is_excluded = ban_check_is_banned;
            rq.excluded_arg = &bc;
        }
        long idx = pool_cache_select(pc, &rq, NULL);
        int64_t t = now_ns() - t0;
        nbanned += bc.nbanned;
        if (k >= 0)
            d[k] = t;
        nfail += idx < 0;
    }
    qsort(d, NPICKS, sizeof(*d), cmp64);
    printf("%-34s p50 %7.2f us  p99 %7.2f us  max %8.2f us  (no pick: %ld, banned winners: %llu)\n",
           name, d[NPICKS / 2] / 1e3, d[(size_t)NPICKS * 99 / 100] / 1e3, d[NPICKS - 1] / 1e3, nfail,
           (unsigned long long)nbanned);
}

int main(void)
{
    static const char *const cc[] = { "US", "DE", "FR", "GB", "JP", "CN", "BR", "IN", "RU", "CA",
                                      "AU", "NL", "SE", "ES", "IT", "PL", "KR", "MX", "TR", "ZA" };
    struct upstream *it = calloc(NUP, sizeof(*it));
    int64_t *d = malloc(NPICKS * sizeof(*d));
    if (it == NULL || d == NULL)
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
    struct upstream_sid_key key;
    upstream_sid_key_derive(NULL, 0, &key);
    struct ban_set bans;
    ban_set_init(&bans);
    for (int b = 0; b < NBANS; b++) {
        struct ban ban;
        memset(&ban, 0, sizeof(ban));
        snprintf(ban.id, sizeof(ban.id), "%016x", (unsigned)b);
        upstream_sid_format(&key, pc.ids[(b * 7919) % NUP], ban.upstream, sizeof(ban.upstream));
        snprintf(ban.domain, sizeof(ban.domain), "site%d.example", b % NDOMAINS);
        ban.expires_at_ms = INT64_MAX;
        if (ban_set_put(&bans, &ban) != PF_OK)
            return 1;
    }
    printf("%d upstreams, %d bans over %d domains, %d picks each\n", NUP, NBANS, NDOMAINS, NPICKS);
    run(&pc, "round robin", 0, 0, 0, &bans, &key, d);
    run(&pc, "session", 1, 0, 0, &bans, &key, d);
    run(&pc, "session + bans", 1, 0, 1, &bans, &key, d);
    run(&pc, "country + session", 1, 1, 0, &bans, &key, d);
    run(&pc, "country + session + bans", 1, 1, 1, &bans, &key, d);
    run(&pc, "country + round robin + bans", 0, 1, 1, &bans, &key, d);
    ban_set_deinit(&bans);
    pool_cache_deinit(&pc);
    free(d);
    return 0;
}
