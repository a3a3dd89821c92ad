/* libFuzzer target: common/user_record.c (and pwhash_parse() inside it)
 * reading an untrusted user record from {pf}:v1:users. It must never
 * crash; what parses must hold values within the documented bounds. The
 * same bytes also go to pwhash_parse() alone. What parses must format
 * (user_record_format, pwhash_format: what proxyfleet-ctl writes) and
 * parse back to the same values. No scrypt runs here: a parsed cost may
 * ask for 1 GiB. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "user_record.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_hash(const struct pwhash *h)
{
    if (h->ln < 1 || h->ln > PWHASH_LN_MAX || h->r < 1 || h->r > PWHASH_R_MAX || h->p < 1 ||
        h->p > PWHASH_P_MAX || h->salt_len < PWHASH_SALT_MIN || h->salt_len > PWHASH_SALT_MAX ||
        h->hash_len < PWHASH_HASH_MIN || h->hash_len > PWHASH_HASH_MAX)
        abort();
}

static int same_hash(const struct pwhash *a, const struct pwhash *b)
{
    return a->ln == b->ln && a->r == b->r && a->p == b->p && a->salt_len == b->salt_len &&
           a->hash_len == b->hash_len && memcmp(a->salt, b->salt, a->salt_len) == 0 &&
           memcmp(a->hash, b->hash, a->hash_len) == 0;
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
        char buf[USER_RECORD_MAX + 1];
        struct user_record back;
        int n = user_record_format(&r, buf, sizeof(buf));
        if (n <= 0 || user_record_parse(buf, (size_t)n, &back, NULL) != PF_OK ||
            !same_hash(&back.pass, &r.pass) || back.limits.max_conns != r.limits.max_conns ||
            back.limits.max_rps != r.limits.max_rps ||
            back.limits.bytes_per_day != r.limits.bytes_per_day ||
            back.limits.bytes_per_month != r.limits.bytes_per_month)
            abort();
    }
    struct pwhash h;
    rc = pwhash_parse((const char *)data, size, &h, NULL);
    if (rc != PF_OK && rc != PF_EINVAL)
        abort();
    if (rc == PF_OK) {
        check_hash(&h);
        char text[PWHASH_TEXT_MAX];
        struct pwhash back;
        if (pwhash_format(&h, text, sizeof(text)) != PF_OK ||
            pwhash_parse(text, strlen(text), &back, NULL) != PF_OK || !same_hash(&back, &h))
            abort();
    }
    return 0;
}
