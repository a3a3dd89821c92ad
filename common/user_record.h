/* One user kept in Redis: a field of the HASH {pf}:v1:users whose name is
 * the user name and whose value is a JSON object (docs/redis-keys.md):
 *
 *   {"pass": "$scrypt$ln=14,r=8,p=1$<salt>$<hash>",   (pwhash.h; required)
 *    "max_conns": 10, "max_rps": 20,                   (optional, 0 = none)
 *    "bytes_per_day": 1073741824, "bytes_per_month": 0}
 *
 * Untrusted (anyone who can write to Redis can write it): parsed strictly,
 * unknown members refused, every number an exact non-negative integer in
 * range (fuzz/fuzz_user_record.c). Pure (tests/unit/test_user_record.c). */
#ifndef PF_USER_RECORD_H
#define PF_USER_RECORD_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "pf.h"
#include "pwhash.h"

#define USER_NAME_MAX      64          /* bytes of a user name, NUL excluded */
#define USER_RECORD_MAX    1024        /* bytes of a record's JSON */
#define USER_CONNS_MAX     1000000
#define USER_RPS_MAX       1000000
#define USER_BYTES_MAX     (UINT64_C(1) << 53)  /* exact in JSON numbers: 8 PiB */

/* What one user may use, fleet-wide; 0 = no limit. */
struct user_limits {
    int      max_conns;                /* client connections open at once */
    int      max_rps;                  /* requests (HTTP requests, tunnels) per second */
    uint64_t bytes_per_day;            /* bytes in + out per UTC day */
    uint64_t bytes_per_month;          /* bytes in + out per UTC calendar month */
};

struct user_record {
    struct pwhash      pass;           /* the password's hash, never the password */
    struct user_limits limits;
};

/* Returns 1 when <name> of <len> bytes is a valid user name: 1..64 of
 * [A-Za-z0-9_.@]. No '-' (it starts the parameters of a user name,
 * "alice-country-us-session-42") and no ':' (HTTP Basic). */
int user_name_is_valid(const char *name, size_t len);

/* Parses record <json> of <len> bytes into <out>. Returns PF_OK, or
 * PF_EINVAL with a reason in <err> naming the member (never quoting the
 * value). */
int user_record_parse(const char *json, size_t len, struct user_record *out,
                      struct pf_err *err) PF_MUSTCHECK;

#endif
