/* The upstream's short id; see upstream_sid.h. */
#include "upstream_sid.h"

#include <stdio.h>
#include <string.h>

static uint64_t rotl(uint64_t x, int b)
{
    return (x << b) | (x >> (64 - b));
}

static uint64_t le64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

#define SIPROUND                                                              \
    do {                                                                      \
        v0 += v1; v1 = rotl(v1, 13); v1 ^= v0; v0 = rotl(v0, 32);             \
        v2 += v3; v3 = rotl(v3, 16); v3 ^= v2;                                \
        v0 += v3; v3 = rotl(v3, 21); v3 ^= v0;                                \
        v2 += v1; v1 = rotl(v1, 17); v1 ^= v2; v2 = rotl(v2, 32);             \
    } while (0)

uint64_t upstream_sid_siphash(const struct upstream_sid_key *key, const void *data, size_t len)
{
    const uint8_t *in = data;
    uint64_t k0 = le64(key->bytes), k1 = le64(key->bytes + 8);
    uint64_t v0 = 0x736f6d6570736575ULL ^ k0, v1 = 0x646f72616e646f6dULL ^ k1;
    uint64_t v2 = 0x6c7967656e657261ULL ^ k0, v3 = 0x7465646279746573ULL ^ k1;
    size_t full = len - len % 8;
    for (size_t i = 0; i < full; i += 8) {
        uint64_t m = le64(in + i);
        v3 ^= m;
        SIPROUND;
        SIPROUND;
        v0 ^= m;
    }
    uint64_t b = (uint64_t)len << 56;
    for (size_t i = 0; i < len % 8; i++)
        b |= (uint64_t)in[full + i] << (8 * i);
    v3 ^= b;
    SIPROUND;
    SIPROUND;
    v0 ^= b;
    v2 ^= 0xff;
    SIPROUND;
    SIPROUND;
    SIPROUND;
    SIPROUND;
    return v0 ^ v1 ^ v2 ^ v3;
}

void upstream_sid_key_derive(const uint8_t *secret, size_t len, struct upstream_sid_key *out)
{
    memset(out, 0, sizeof(*out));
    if (secret == NULL || len == 0)
        return;
    /* each half of the secret keys SipHash over a fixed label: one-way,
     * and distinct from the secret's own use (AES-GCM) */
    static const char label[] = "proxyfleet upstream short id v1";
    struct upstream_sid_key half[2];
    memset(half, 0, sizeof(half));
    for (size_t i = 0; i < len; i++)
        half[(i / UPSTREAM_SID_KEY_LEN) & 1].bytes[i % UPSTREAM_SID_KEY_LEN] ^= secret[i];
    for (int h = 0; h < 2; h++) {
        uint64_t v = upstream_sid_siphash(&half[h], label, sizeof(label) - 1);
        for (int i = 0; i < 8; i++)
            out->bytes[h * 8 + i] = (uint8_t)(v >> (8 * i));
    }
    memset(half, 0, sizeof(half));
}

void upstream_sid_format(const struct upstream_sid_key *key, const char *up_id, char *buf,
                         size_t len)
{
    static const struct upstream_sid_key zero;
    if (len < UPSTREAM_SID_LEN) {
        if (len > 0)
            buf[0] = '\0';
        return;
    }
    uint64_t h = upstream_sid_siphash(key != NULL ? key : &zero, up_id, strlen(up_id));
    snprintf(buf, len, "%012llx", (unsigned long long)(h >> 16));
}

int upstream_sid_is_valid(const char *s)
{
    size_t n = 0;
    for (; s[n] != '\0'; n++)
        if (!((s[n] >= '0' && s[n] <= '9') || (s[n] >= 'a' && s[n] <= 'f')))
            return 0;
    return n == UPSTREAM_SID_LEN - 1;
}
