/* Verified credentials, so that authentication never runs a password hash
 * per request: a bounded, direct-mapped table of keyed digests
 * HMAC-SHA256(<key>, user NUL password), each stamped with the serial of
 * the user record it was verified against. The key is random per process
 * (the shell draws it), so a digest in memory is useless elsewhere and
 * slots cannot be aimed at from outside. A changed or removed user gets a
 * new serial (or none), so its old entries never match again; a collision
 * in the table only evicts (a miss costs one verification, never a false
 * hit: the whole digest is compared, in constant time).
 * Pure: no clock, no globals, no logging (tests/unit/test_cred_cache.c). */
#ifndef PF_CRED_CACHE_H
#define PF_CRED_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "pf.h"

#define CRED_CACHE_KEY_LEN    32
#define CRED_CACHE_DIGEST_LEN 32
#define CRED_CACHE_SLOTS_MAX  (1u << 20)

struct cred_cache_slot {
    uint8_t  digest[CRED_CACHE_DIGEST_LEN];
    uint64_t serial;                 /* the user record's serial; 0 = empty slot */
};

struct cred_cache {
    uint8_t                 key[CRED_CACHE_KEY_LEN];
    struct cred_cache_slot *slots;   /* owned */
    size_t                  nslots;  /* a power of two */
    uint64_t                hits;
    uint64_t                misses;
};

/* Sets up <cc> with <key> (copied) and <nslots> slots (rounded up to a
 * power of two, 1..CRED_CACHE_SLOTS_MAX): 40 bytes a slot. Returns PF_OK,
 * PF_EINVAL or PF_ENOMEM. */
int cred_cache_init(struct cred_cache *cc, const uint8_t key[CRED_CACHE_KEY_LEN],
                    size_t nslots) PF_MUSTCHECK;

/* Wipes and frees what <cc> holds (accepts a zeroed <cc>). */
void cred_cache_deinit(struct cred_cache *cc);

/* The digest of <user> (NUL-terminated) and password <pass> of <pass_len>
 * bytes into <out>. Returns PF_OK or PF_EIO (OpenSSL failed). */
int cred_cache_digest(const struct cred_cache *cc, const char *user, const char *pass,
                      size_t pass_len, uint8_t out[CRED_CACHE_DIGEST_LEN]) PF_MUSTCHECK;

/* Returns 1 when <digest> was stored with <serial> (> 0) and is still
 * there; counts a hit or a miss. */
int cred_cache_lookup(struct cred_cache *cc, const uint8_t digest[CRED_CACHE_DIGEST_LEN],
                      uint64_t serial);

/* Stores <digest> as verified against the record with <serial> (> 0),
 * evicting what held its slot. */
void cred_cache_put(struct cred_cache *cc, const uint8_t digest[CRED_CACHE_DIGEST_LEN],
                    uint64_t serial);

/* Empties every slot (e.g. after the user table was rebuilt from scratch). */
void cred_cache_clear(struct cred_cache *cc);

#endif
