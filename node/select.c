/* Selection strategies and rendezvous hashing; see select.h. */
#include "select.h"

#include <stdio.h>
#include <string.h>

#define FNV_OFFSET 0xcbf29ce484222325ULL
#define FNV_PRIME  0x100000001b3ULL

uint64_t select_hash(const void *data, size_t len)
{
    const unsigned char *p = data;
    uint64_t h = FNV_OFFSET;
    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= FNV_PRIME;
    }
    return h;
}

/* MurmurHash3 fmix64: a bijection with full avalanche. */
static uint64_t fmix64(uint64_t k)
{
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdULL;
    k ^= k >> 33;
    k *= 0xc4ceb9fe1a85ec53ULL;
    k ^= k >> 33;
    return k;
}

uint64_t select_hrw_score(uint64_t key_hash, uint64_t id_hash)
{
    return fmix64(key_hash ^ fmix64(id_hash + 0x9e3779b97f4a7c15ULL));
}

uint64_t select_session_hash(const char *key, size_t len, int lifetime_min, int64_t now_wall_ms)
{
    uint64_t h = select_hash(key, len);
    if (lifetime_min > 0 && now_wall_ms > 0) {
        uint64_t window = (uint64_t)(now_wall_ms / ((int64_t)lifetime_min * 60000));
        h = fmix64(h ^ fmix64(window));
    }
    return h;
}

uint64_t select_label_hash(enum user_label l, const char *value, size_t len)
{
    char norm[UPSTREAM_LABEL_MAX];
    size_t n = user_params_norm(l, value, len, norm, sizeof(norm));
    if (n == 0)
        return 0;
    uint64_t h = fmix64(select_hash(norm, n) ^ (uint64_t)l);
    return h != 0 ? h : 1;
}

void select_labels_of(const struct upstream *u, struct select_labels *out)
{
    const struct upstream_labels *lb = &u->labels;
    char tier[16];
    int tn = snprintf(tier, sizeof(tier), "%u", (unsigned)u->tier);
    out->h[USER_LABEL_COUNTRY] = select_label_hash(USER_LABEL_COUNTRY, lb->country, strlen(lb->country));
    out->h[USER_LABEL_REGION] = select_label_hash(USER_LABEL_REGION, lb->region, strlen(lb->region));
    out->h[USER_LABEL_CITY] = select_label_hash(USER_LABEL_CITY, lb->city, strlen(lb->city));
    out->h[USER_LABEL_ISP] = select_label_hash(USER_LABEL_ISP, lb->isp, strlen(lb->isp));
    out->h[USER_LABEL_ASN] = select_label_hash(USER_LABEL_ASN, lb->asn, strlen(lb->asn));
    out->h[USER_LABEL_PROVIDER] = select_label_hash(USER_LABEL_PROVIDER, u->provider, strlen(u->provider));
    out->h[USER_LABEL_TIER] = select_label_hash(USER_LABEL_TIER, tier, tn > 0 ? (size_t)tn : 0);
}

void select_filter_from_params(const struct user_params *p, struct select_filter *out)
{
    memset(out, 0, sizeof(*out));
    out->mask = p->label_mask;
    for (int l = 0; l < USER_LABEL_COUNT; l++)
        if (p->label_mask & (1u << l))
            out->h[l] = select_label_hash((enum user_label)l, p->label[l], strlen(p->label[l]));
}

size_t select_restrict_tier(struct select_item *v, size_t n)
{
    uint32_t lowest = UINT32_MAX;
    size_t kept = 0;
    for (size_t i = 0; i < n; i++)
        if (v[i].is_usable && v[i].tier < lowest)
            lowest = v[i].tier;
    for (size_t i = 0; i < n; i++) {
        if (v[i].is_usable && v[i].tier != lowest)
            v[i].is_usable = 0;
        kept += v[i].is_usable != 0;
    }
    return kept;
}

long select_round_robin(const struct select_item *v, size_t n, uint64_t *cursor)
{
    if (n == 0)
        return -1;
    for (size_t k = 0; k < n; k++) {
        size_t idx = (size_t)((*cursor + k) % n);
        if (v[idx].is_usable) {
            *cursor = (idx + 1) % n;
            return (long)idx;
        }
    }
    return -1;
}

long select_random(const struct select_item *v, size_t n, uint64_t rnd)
{
    size_t nusable = 0;
    for (size_t i = 0; i < n; i++)
        nusable += v[i].is_usable != 0;
    if (nusable == 0)
        return -1;
    size_t target = (size_t)(rnd % nusable);
    for (size_t i = 0; i < n; i++) {
        if (v[i].is_usable && target-- == 0)
            return (long)i;
    }
    return -1;
}

long select_least_conn(const struct select_item *v, size_t n, uint64_t *cursor)
{
    long best = -1;
    if (n == 0)
        return -1;
    for (size_t k = 0; k < n; k++) {
        size_t idx = (size_t)((*cursor + k) % n);
        if (v[idx].is_usable && (best < 0 || v[idx].active < v[best].active))
            best = (long)idx;
    }
    if (best >= 0)
        *cursor = ((size_t)best + 1) % n;
    return best;
}

uint64_t select_effective_weight(const struct select_item *it)
{
    uint64_t w = it->weight > 0 ? it->weight : 1;
    uint64_t lat = it->latency_ms > 0 ? it->latency_ms : 250;
    uint64_t eff = w * 1000 * 250 / (250 + lat);
    eff /= 1 + (uint64_t)it->consecutive_failures;
    return eff > 0 ? eff : 1;
}

long select_weighted(const struct select_item *v, size_t n, uint64_t rnd)
{
    uint64_t total = 0;
    for (size_t i = 0; i < n; i++)
        if (v[i].is_usable)
            total += select_effective_weight(&v[i]);
    if (total == 0)
        return -1;
    uint64_t target = rnd % total;
    for (size_t i = 0; i < n; i++) {
        if (!v[i].is_usable)
            continue;
        uint64_t w = select_effective_weight(&v[i]);
        if (target < w)
            return (long)i;
        target -= w;
    }
    return -1;
}

long select_hrw(const struct select_item *v, size_t n, uint64_t key_hash)
{
    long best = -1;
    uint64_t best_score = 0;
    for (size_t i = 0; i < n; i++) {
        if (!v[i].is_usable)
            continue;
        uint64_t s = select_hrw_score(key_hash, v[i].id_hash);
        if (best < 0 || s > best_score) {
            best = (long)i;
            best_score = s;
        }
    }
    return best;
}
