/* Verified credentials; see cred_cache.h. */
#include "cred_cache.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

int cred_cache_init(struct cred_cache *cc, const uint8_t key[CRED_CACHE_KEY_LEN], size_t nslots)
{
    memset(cc, 0, sizeof(*cc));
    if (nslots == 0 || nslots > CRED_CACHE_SLOTS_MAX)
        return PF_EINVAL;
    size_t n = 1;
    while (n < nslots)
        n <<= 1;
    cc->slots = calloc(n, sizeof(*cc->slots));
    if (cc->slots == NULL)
        return PF_ENOMEM;
    cc->nslots = n;
    memcpy(cc->key, key, CRED_CACHE_KEY_LEN);
    return PF_OK;
}

void cred_cache_deinit(struct cred_cache *cc)
{
    if (cc->slots != NULL) {
        OPENSSL_cleanse(cc->slots, cc->nslots * sizeof(*cc->slots));
        free(cc->slots);
    }
    OPENSSL_cleanse(cc, sizeof(*cc));
}

int cred_cache_digest(const struct cred_cache *cc, const char *user, const char *pass,
                      size_t pass_len, uint8_t out[CRED_CACHE_DIGEST_LEN])
{
    EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    EVP_MAC_CTX *m = mac != NULL ? EVP_MAC_CTX_new(mac) : NULL;
    EVP_MAC_free(mac);
    if (m == NULL)
        return PF_EIO;
    char digest_name[] = "SHA256";
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string("digest", digest_name, 0),
        OSSL_PARAM_construct_end(),
    };
    size_t got = 0;
    int ok = EVP_MAC_init(m, cc->key, CRED_CACHE_KEY_LEN, params) == 1 &&
             EVP_MAC_update(m, (const unsigned char *)user, strlen(user) + 1) == 1 &&
             EVP_MAC_update(m, (const unsigned char *)pass, pass_len) == 1 &&
             EVP_MAC_final(m, out, &got, CRED_CACHE_DIGEST_LEN) == 1 &&
             got == CRED_CACHE_DIGEST_LEN;
    EVP_MAC_CTX_free(m);
    return ok ? PF_OK : PF_EIO;
}

/* The slot of <digest>: its first 8 bytes (uniform: the key is secret). */
static struct cred_cache_slot *slot_of(const struct cred_cache *cc,
                                       const uint8_t digest[CRED_CACHE_DIGEST_LEN])
{
    uint64_t h = 0;
    memcpy(&h, digest, sizeof(h));
    return &cc->slots[h & (cc->nslots - 1)];
}

int cred_cache_lookup(struct cred_cache *cc, const uint8_t digest[CRED_CACHE_DIGEST_LEN],
                      uint64_t serial)
{
    const struct cred_cache_slot *s = slot_of(cc, digest);
    int hit = serial != 0 && s->serial == serial &&
              CRYPTO_memcmp(s->digest, digest, CRED_CACHE_DIGEST_LEN) == 0;
    if (hit)
        cc->hits++;
    else
        cc->misses++;
    return hit;
}

void cred_cache_put(struct cred_cache *cc, const uint8_t digest[CRED_CACHE_DIGEST_LEN],
                    uint64_t serial)
{
    struct cred_cache_slot *s = slot_of(cc, digest);
    memcpy(s->digest, digest, CRED_CACHE_DIGEST_LEN);
    s->serial = serial;
}

void cred_cache_clear(struct cred_cache *cc)
{
    if (cc->slots != NULL)
        memset(cc->slots, 0, cc->nslots * sizeof(*cc->slots));
}
