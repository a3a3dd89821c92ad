/* libFuzzer target: common/user_record.c (and pwhash_parse() inside it)
 * reading an untrusted user record from {pf}:v1:users. It must never
 * crash; what parses must hold values within the documented bounds. The
 * same bytes also go to pwhash_parse() alone. No scrypt runs here: a
 * parsed cost may ask for 1 GiB. */
#include <stdint.h>
#include <stdlib.h>

#include "user_record.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_hash(const struct pwhash *h)
{
    if (h->ln < 1 || h->ln > PWHASH_LN_MAX || h->r < 1 || h->r > PWHASH_R_MAX || h->p < 1 ||
        h->p > PWHASH_P_MAX || h->salt_len < PWHASH_SALT_MIN || h->salt_len > PWHASH_SALT_MAX ||
        h->hash_len < PWHASH_HASH_MIN || h->hash_len > PWHASH_HASH_MAX)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct user_record r;
    int rc = user_record_parse((const char *)data, size, &r, NULL);
    if (rc != PF_OK && rc != PF_EINVAL)
        abort();
    if (rc == PF_OK) {
        check_hash(&r.pass);
        if (r.limits.max_conns < 0 || r.limits.max_conns > USER_CONNS_MAX || r.limits.max_rps < 0 ||
            r.limits.max_rps > USER_RPS_MAX || r.limits.bytes_per_day > USER_BYTES_MAX ||
            r.limits.bytes_per_month > USER_BYTES_MAX)
            abort();
    }
    struct pwhash h;
    rc = pwhash_parse((const char *)data, size, &h, NULL);
    if (rc != PF_OK && rc != PF_EINVAL)
        abort();
    if (rc == PF_OK)
        check_hash(&h);
    return 0;
}
