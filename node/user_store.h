/* The users kept in Redis ({pf}:v1:users, docs/redis-keys.md), for a node
 * in pool mode with node.redis_users on:
 *   - every USER_STORE_POLL_MS (250 ms) while the session is up, GET
 *     {pf}:v1:users:version; when it differs from the version loaded (and
 *     at least every USER_STORE_RELOAD_MS, for a writer that forgot the
 *     INCR), HGETALL {pf}:v1:users and swap in a new table: added, changed
 *     and removed users apply within about 1 s of the write, on every node,
 *     without a restart. A record that does not parse, or asks for more
 *     scrypt memory than USER_STORE_SCRYPT_MEM_MAX, is skipped and logged
 *     (by name, never its value). While Redis is down the last table stays.
 *   - checks a (user, password) pair: the verified pair is cached under a
 *     keyed digest (common/cred_cache.h) stamped with the record's serial,
 *     so scrypt runs once per (user, password) and record, never per
 *     request; a changed or removed record invalidates at the next swap.
 *     At most USER_STORE_VERIFY_PER_S verifications run per second (a
 *     miss beyond that is refused, counted in verify_throttled), which
 *     bounds the time guessing can take from the event loop.
 * Config users (node.users) come first: a name there is never looked up
 * here (docs/configuration.md, "Users"). */
#ifndef PF_NODE_USER_STORE_H
#define PF_NODE_USER_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "auth.h"
#include "user_record.h"

struct event_base;
struct redis_link;
struct keys;
struct user_store;

#define USER_STORE_POLL_MS        250
#define USER_STORE_RELOAD_MS      60000
#define USER_STORE_VERIFY_PER_S   10
#define USER_STORE_CACHE_SLOTS    4096
#define USER_STORE_SCRYPT_MIB     16   /* ln=14, r=8 passes; ln=15, r=8 does not */
#define USER_STORE_SCRYPT_MEM_MAX (((uint64_t)USER_STORE_SCRYPT_MIB << 20) + (UINT64_C(1) << 16))

struct user_store_stats {
    uint64_t loads;               /* tables swapped in */
    uint64_t users;               /* users in the current table */
    uint64_t bad_records;         /* records skipped (cumulative) */
    uint64_t verifications;       /* scrypt runs */
    uint64_t verify_throttled;    /* misses refused over USER_STORE_VERIFY_PER_S */
    uint64_t cache_hits;
    uint64_t cache_misses;
};

/* Creates the store on <base>, polling through <link> with the names of
 * <keys> (both borrowed, must outlive it). Returns NULL on failure (out of
 * memory, no randomness for the cache key). */
struct user_store *user_store_create(struct event_base *base, struct redis_link *link,
                                     const struct keys *keys);

/* Stops and frees <s> (accepts NULL). Destroy it together with its link
 * (no loop turn in between): replies in flight name <s>. */
void user_store_destroy(struct user_store *s);

/* The name a client's user name is looked up under: <user> up to its first
 * '-', into <out> of <len> bytes. Stand-in for the parameter grammar of
 * issue 12 item 3 (common/user_params.c on branch sel): join them there. */
void user_store_lookup_name(const char *user, char *out, size_t len);

/* Returns 1 when <user> (the client's user name without the session
 * suffix, auth.h) and <pass> of <pass_len> bytes match a user of the
 * table, 0 otherwise (unknown, wrong, throttled). <s> may be NULL (0). */
int user_store_check(struct user_store *s, const char *user, const char *pass, size_t pass_len);

/* The limits of the table's user <name> (a lookup name), NULL when there
 * is none. Valid until the next loop turn. */
const struct user_limits *user_store_limits(const struct user_store *s, const char *name);

/* The auth source of <s> (auth.h): on when <s> is not NULL. */
void user_store_auth_source(struct user_store *s, struct auth_source *out);

/* Fills <out>. */
void user_store_get_stats(const struct user_store *s, struct user_store_stats *out);

#endif
