/* The short, opaque id of an upstream (issue 12 item 1): the same on every
 * node and controller, derived from the upstream id alone, revealing no
 * address. Scrapers see it (upstream header, bans) and name it back
 * (POST /v1/bans {"upstream": "<sid>"}).
 *
 * Definition: the first UPSTREAM_SID_LEN lowercase hex digits (48 bits) of
 * SHA-256("pf-upstream-sid:v1\n" || <upstream id>). A one-way hash: the
 * address is not in it; 48 bits make a collision in a pool of 10,000
 * upstreams about 1 in 5 million. Unkeyed, so every binary computes it
 * without a shared secret. */
#ifndef PF_UPSTREAM_SID_H
#define PF_UPSTREAM_SID_H

#include <stddef.h>

#define UPSTREAM_SID_LEN 12

/* Writes the short id of upstream id <id> (<len> bytes) into <out>
 * (UPSTREAM_SID_LEN hex digits and a NUL). */
void upstream_sid(const char *id, size_t len, char out[UPSTREAM_SID_LEN + 1]);

/* Returns 1 when <s> (<len> bytes) is the form of a short id: exactly
 * UPSTREAM_SID_LEN lowercase hex digits. */
int upstream_sid_is_valid(const char *s, size_t len);

#endif
