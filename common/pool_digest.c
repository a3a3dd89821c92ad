/* The pool digest; see pool_digest.h. */
#include "pool_digest.h"

#include <string.h>

#include <openssl/crypto.h>

#include "addr.h"
#include "seal.h"

/* A field added to struct upstream must enter the digest (or be named here
 * as left out): this fails the build until pool_digest_entry() is looked
 * at again. */
_Static_assert(sizeof(struct upstream) ==
               8 + UPSTREAM_HOST_MAX + 2 + 2 * UPSTREAM_CRED_MAX + UPSTREAM_NAME_MAX + 6 + 8 +
               4 * 3 + 5 * UPSTREAM_LABEL_MAX + UPSTREAM_TEMPLATE_MAX + 4 + 8,
               "struct upstream changed: update pool_digest_entry()");

#define FNV_OFFSET 14695981039346656037ULL
#define FNV_PRIME  1099511628211ULL

static uint64_t fnv(uint64_t h, const void *p, size_t len)
{
    const unsigned char *s = p;
    for (size_t i = 0; i < len; i++) {
        h ^= s[i];
        h *= FNV_PRIME;
    }
    return h;
}

/* A string field of at most <max> bytes, with its terminator, so that
 * ("ab", "c") and ("a", "bc") differ. */
static uint64_t fnv_str(uint64_t h, const char *s, size_t max)
{
    return fnv(h, s, strnlen(s, max - 1) + 1);
}

static uint64_t fnv_u64(uint64_t h, uint64_t v)
{
    unsigned char b[8];
    for (int i = 0; i < 8; i++)
        b[i] = (unsigned char)(v >> (8 * i));
    return fnv(h, b, sizeof(b));
}

/* splitmix64's finalizer: FNV's low bits are weak, and a sum of entries
 * wants every bit mixed. */
static uint64_t mix(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

uint64_t pool_digest_entry(const struct upstream *u, const struct seal_key *key)
{
    char id[UPSTREAM_ID_MAX];
    uint64_t h = FNV_OFFSET;

    addr_upstream_id(u, id, sizeof(id));
    h = fnv_str(h, id, sizeof(id));
    h = fnv_u64(h, (uint64_t)u->scheme);
    h = fnv_str(h, u->host, sizeof(u->host));
    h = fnv_u64(h, u->port);
    h = fnv_str(h, u->user, sizeof(u->user));
    if (key != NULL) {
        /* id NUL password: the MAC is bound to the upstream as the seal is */
        char buf[UPSTREAM_ID_MAX + UPSTREAM_CRED_MAX];
        size_t ilen = strlen(id), plen = strnlen(u->pass, sizeof(u->pass) - 1);
        memcpy(buf, id, ilen + 1);
        memcpy(buf + ilen + 1, u->pass, plen);
        h = fnv_u64(h, seal_mac64(key, buf, ilen + 1 + plen));
        OPENSSL_cleanse(buf, sizeof(buf));
    } else {
        h = fnv_str(h, u->pass, sizeof(u->pass));
    }
    h = fnv_str(h, u->provider, sizeof(u->provider));
    h = fnv_u64(h, (uint64_t)u->expires_at_ms);
    h = fnv_u64(h, u->weight);
    h = fnv_u64(h, u->latency_ms);
    h = fnv_u64(h, u->tier);
    h = fnv_str(h, u->labels.country, sizeof(u->labels.country));
    h = fnv_str(h, u->labels.city, sizeof(u->labels.city));
    h = fnv_str(h, u->labels.isp, sizeof(u->labels.isp));
    h = fnv_str(h, u->labels.region, sizeof(u->labels.region));
    h = fnv_str(h, u->labels.asn, sizeof(u->labels.asn));
    h = fnv_str(h, u->user_template, sizeof(u->user_template));
    /* host_kind follows from host; digest (the field) is derived */
    return mix(h);
}

int pool_digest_format(uint64_t d, char *buf, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    if (len < POOL_DIGEST_HEX_LEN + 1)
        return PF_ERANGE;
    for (int i = POOL_DIGEST_HEX_LEN - 1; i >= 0; i--) {
        buf[i] = hex[d & 0xf];
        d >>= 4;
    }
    buf[POOL_DIGEST_HEX_LEN] = '\0';
    return PF_OK;
}

int pool_digest_parse(const char *s, size_t len, uint64_t *out)
{
    uint64_t v = 0;
    if (s == NULL || len != POOL_DIGEST_HEX_LEN)
        return PF_EINVAL;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        int d = c >= '0' && c <= '9' ? c - '0'
              : c >= 'a' && c <= 'f' ? c - 'a' + 10
              : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
        if (d < 0)
            return PF_EINVAL;
        v = (v << 4) | (uint64_t)d;
    }
    *out = v;
    return PF_OK;
}
