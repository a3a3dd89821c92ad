/* Writes the controller's view to Redis (docs/redis-keys.md): the pool
 * snapshot in one Lua script, provider hashes and the controller heartbeat,
 * every write fenced by the lease token, through the controller's Redis
 * connection (redis.h). */
#ifndef PF_PUBLISH_H
#define PF_PUBLISH_H

#include <stddef.h>
#include <stdint.h>

#include "keys.h"
#include "pf.h"
#include "redis.h"

struct provider;
struct provider_entry;
struct seal_key;

#define PUBLISH_EPOCH_LEN 16
#define PUBLISH_LOG_MAXLEN "256"        /* pool:log entries kept (XADD MAXLEN ~) */
#define PUBLISH_DELTA_MAX_OPS 1024      /* a larger change is published whole */

/* One upstream as last published: what the next publish diffs against. */
struct publish_entry {
    char     *id;                       /* owned */
    uint64_t  rec_hash;                 /* of its clear record */
    uint64_t  digest;                   /* pool_digest_entry() */
};

struct publish {
    struct redis      *redis;             /* borrowed from ctl_ctx */
    const struct keys *keys;              /* borrowed from ctl_ctx */
    const char        *controller_id;     /* borrowed from ctl_ctx->conf */
    const struct seal_key *cred_key;      /* borrowed from ctl_ctx; NULL = passwords in clear */
    struct redis_script pool_script;      /* the pool script, loaded once per connection */
    struct redis_script delta_script;     /* the changes as one pool:log entry */
    struct redis_script prune_script;     /* removes providers no longer configured */
    char               epoch[PUBLISH_EPOCH_LEN + 1];
    int64_t            version;           /* last version published or read, 0 = none */
    int                has_published;     /* a snapshot was written under <epoch> */
    struct publish_entry *last;           /* owned: the last publish, sorted by id */
    size_t             nlast;
    uint64_t           pool_digest;       /* its pool digest (pool:meta "digest") */
    uint64_t           ndeltas;           /* publishes written as a pool:log entry */
    char               token[128];        /* lease token fencing every write, "" = none */
    int64_t            leader_since_ms;   /* wall clock the current term began, 0 = none */
    uint64_t           nfenced;           /* writes refused with FENCED */
    uint64_t           npublishes;        /* scripts that succeeded */
    uint64_t           nerrors;           /* writes that got an error reply */
};

/* Creates a publisher writing through <redis> with <keys>, <controller_id>
 * and <cred_key> (seals upstream passwords in the records; NULL = written
 * in clear), all borrowed. Picks a random epoch from /dev/urandom. Returns
 * NULL on failure. */
struct publish *publish_create(struct redis *redis, const struct keys *keys,
                               const char *controller_id, const struct seal_key *cred_key);

/* Frees <p> (accepts NULL). */
void publish_destroy(struct publish *p);

/* Publishes <es>[0..<n>) (sorted by id, as provider_merge() gives) when
 * they differ from the last publish, or pool:meta is missing (a new epoch
 * is chosen) or carries another epoch. A change from the last publish under
 * the same epoch (at most PUBLISH_DELTA_MAX_OPS upstreams and half the
 * pool) is written as one pool:log entry with the same changes to the
 * snapshot (docs/redis-keys.md); anything else rewrites the snapshot whole
 * and empties the log. pool:meta carries the pool digest either way. Sets
 * <*is_published> to 1 when it wrote. Returns PF_OK, PF_EIO (connection
 * dropped or not connected), PF_EDENIED (fenced) or PF_ENOMEM. */
int publish_pool(struct publish *p, const struct provider_entry *const *es, size_t n,
                 int64_t now_wall_ms, int *is_published) PF_MUSTCHECK;

/* Writes the hash of <pr> and adds it to the providers set, fenced by the
 * lease token. Returns PF_OK, PF_EIO or PF_EDENIED (fenced). */
int publish_provider(struct publish *p, const struct provider *pr, int64_t now_wall_ms) PF_MUSTCHECK;

/* Makes the providers set follow the config: every member of
 * {pf}:v1:providers not among <names>[0..<n>) leaves the set and its hash
 * {pf}:v1:provider:<name> is deleted, in one fenced write (a member that
 * names no valid provider only leaves the set). Sets <*nremoved>. Returns
 * PF_OK (also when nothing was stale), PF_EIO (not connected, dropped, or
 * an error reply) or PF_EDENIED (fenced: nothing was removed). */
int publish_prune_providers(struct publish *p, const char *const *names, size_t n,
                            size_t *nremoved) PF_MUSTCHECK;

/* Refreshes the controller hash with a TTL of 3 x <interval_ms>, fenced by
 * the lease token: id, epoch, heartbeat_at_ms, leader, version and commit
 * (the build), then the <nfields> name/value pairs of <fields> (the figures
 * controller_metrics.h marks for the heartbeat). Returns PF_OK, PF_EIO,
 * PF_ENOMEM or PF_EDENIED (fenced). */
int publish_heartbeat(struct publish *p, int64_t now_wall_ms, int interval_ms,
                      const char *const *fields, int nfields) PF_MUSTCHECK;

/* Starts a leadership term at <now_wall_ms>: every later write is fenced
 * with <token> (copied; "" = none), a new epoch is chosen so the next
 * publish_pool() rewrites the whole snapshot. */
void publish_begin_term(struct publish *p, const char *token, int64_t now_wall_ms);

/* Ends the term: writes are no longer fenced with the old token (the
 * caller stops writing). */
void publish_end_term(struct publish *p);

#endif
