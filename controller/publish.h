/* Writes the controller's view to Redis (docs/redis-keys.md): the pool
 * snapshot in one Lua script, provider hashes and the controller heartbeat.
 * hiredis synchronous API, every call bounded by redis.connect_timeout_ms /
 * command_timeout_ms, so the loop never waits longer than that per call.
 * On any I/O error the connection is dropped and retried with backoff. */
#ifndef PF_PUBLISH_H
#define PF_PUBLISH_H

#include <stddef.h>
#include <stdint.h>

#include "backoff.h"
#include "conf.h"
#include "keys.h"

struct provider;
struct provider_entry;
struct redisContext;
struct redisReply;
struct redisReply;
struct seal_key;

#define PUBLISH_EPOCH_LEN 16

struct publish {
    const struct conf_redis *conf;        /* borrowed from ctl_ctx->conf */
    const struct keys *keys;              /* borrowed from ctl_ctx */
    const char        *controller_id;     /* borrowed from ctl_ctx->conf */
    const struct seal_key *cred_key;      /* borrowed from ctl_ctx; NULL = passwords in clear */
    struct redisContext *rc;              /* owned; NULL while disconnected */
    struct backoff     backoff;           /* reconnect delays */
    unsigned           attempt;           /* failed connects in a row */
    int64_t            next_connect_at_ms;/* monotonic; no attempt before */
    int                is_down_logged;    /* the outage was logged at warn */
    char               sha[41];           /* SHA1 of the script, "" until loaded */
    char               epoch[PUBLISH_EPOCH_LEN + 1];
    int64_t            version;           /* last version published or read, 0 = none */
    int                has_published;     /* a snapshot was written under <epoch> */
    uint64_t           digest;            /* of the last published records */
    size_t             count;             /* upstreams in the last publish */
    char               token[128];        /* lease token fencing every write, "" = none */
    int64_t            leader_since_ms;   /* wall clock the current term began, 0 = none */
    uint64_t           nfenced;           /* writes refused with FENCED */
    uint64_t           npublishes;        /* scripts that succeeded */
    uint64_t           nerrors;           /* dropped connections and failed scripts */
};

/* Creates a publisher (not connected yet) for <conf>, <keys>,
 * <controller_id> and <cred_key> (seals upstream passwords in the records;
 * NULL = written in clear), all borrowed. Picks a random epoch from
 * /dev/urandom. Returns NULL on failure. */
struct publish *publish_create(const struct conf_redis *conf, const struct keys *keys,
                               const char *controller_id, const struct seal_key *cred_key);

/* Closes the connection and frees <p> (accepts NULL). */
void publish_destroy(struct publish *p);

/* Connects (connect, AUTH, SELECT, SCRIPT LOAD) unless connected or the
 * backoff delay has not passed at <now_mono_ms>. Returns PF_OK when
 * connected, PF_EAGAIN while waiting, PF_EIO when the attempt failed. */
int publish_connect(struct publish *p, int64_t now_mono_ms) PF_MUSTCHECK;

/* Milliseconds from <now_mono_ms> until the next connect attempt (0 when connected). */
int64_t publish_retry_in_ms(const struct publish *p, int64_t now_mono_ms);

/* Publishes <es>[0..<n>) (sorted by id, as provider_merge() gives) when
 * they differ from the last publish, or pool:meta is missing (a new epoch
 * is chosen) or carries another epoch. Runs the script once; sets
 * <*is_published> to 1 when it did. Returns PF_OK, PF_EIO (connection
 * dropped), PF_EDENIED (fenced) or PF_ENOMEM. */
int publish_pool(struct publish *p, const struct provider_entry *const *es, size_t n,
                 int64_t now_wall_ms, int *is_published) PF_MUSTCHECK;

/* Writes the hash of <pr> and adds it to the providers set, fenced by the
 * lease token. Returns PF_OK, PF_EIO or PF_EDENIED (fenced). */
int publish_provider(struct publish *p, const struct provider *pr, int64_t now_wall_ms) PF_MUSTCHECK;

/* Refreshes the controller hash with a TTL of 3 x <interval_ms>, fenced by
 * the lease token. Returns PF_OK, PF_EIO or PF_EDENIED (fenced). */
int publish_heartbeat(struct publish *p, int64_t now_wall_ms, int interval_ms) PF_MUSTCHECK;

/* Starts a leadership term at <now_wall_ms>: every later write is fenced
 * with <token> (copied; "" = none), a new epoch is chosen so the next
 * publish_pool() rewrites the whole snapshot. */
void publish_begin_term(struct publish *p, const char *token, int64_t now_wall_ms);

/* Ends the term: writes are no longer fenced with the old token (the
 * caller stops writing). */
void publish_end_term(struct publish *p);

/* Runs one command (<argc> <argv>, <argvlen> may be NULL) on the publisher's
 * connection for other controller modules (health). <what> names it in logs.
 * Returns the reply (caller frees with freeReplyObject; an error reply is
 * returned as such) or NULL when disconnected or the connection dropped. */
struct redisReply *publish_command(struct publish *p, const char *what, int argc,
                                   const char **argv, const size_t *argvlen);

#endif
