/* The node's copy of the fleet's bans, kept through its Redis session
 * (issue 12 item 2), and the one writer of bans from this node (admin API,
 * in-band requests).
 *
 * Redis (docs/redis-keys.md, "Bans"): {pf}:v1:bans (HASH id -> record),
 * {pf}:v1:bans:expiry (ZSET id -> expires_at_ms) and the channel
 * {pf}:v1:bans:events ("add <record>", "del <id>"). A write is one Lua
 * script: prune expired bans, HSET/ZADD (or HDEL/ZREM), PUBLISH; so a
 * reader never sees a ban that was not announced.
 *
 * Reading: subscribed first (redis_link), then HGETALL on every (re)connect;
 * a notice arriving while that read is in flight asks for one more read,
 * so none is lost between the two connections. Notices apply at once: a
 * ban made on any node is obeyed here one Redis round trip after it was
 * written. A timer drops expired bans every second (a match already
 * ignores them). While Redis is down the set is kept as it is. */
#ifndef PF_NODE_BAN_SYNC_H
#define PF_NODE_BAN_SYNC_H

#include <stdint.h>

#include "ban.h"
#include "ban_set.h"
#include "err.h"
#include "keys.h"
#include "pf.h"
#include "upstream_sid.h"

struct event_base;
struct redis_link;
struct rng;
struct ban_sync;

struct ban_sync_stats {
    uint64_t loads;            /* full reads of the ban hash */
    uint64_t notices;          /* channel notices applied */
    uint64_t bad_records;      /* records or notices refused (logged) */
    uint64_t writes;           /* bans added or removed through this node */
    uint64_t write_failures;   /* of those, writes Redis refused or left unanswered */
};

/* Creates the ban copy over <link> (borrowed), with the names of <keys>
 * (borrowed); both must outlive it. Bans name upstreams by their short id
 * under the key derived from <secret> (<len> bytes: the credential key;
 * NULL = none, the all-zero key), as upstream_sid.h defines. Listens to
 * the ban channel (call before the loop runs). Returns NULL with a reason
 * in <err>. */
struct ban_sync *ban_sync_create(struct event_base *base, struct redis_link *link,
                                 const struct keys *keys, const uint8_t *secret, size_t len,
                                 struct pf_err *err);

/* The key short ids are computed under (owned by <bs>). */
const struct upstream_sid_key *ban_sync_sid_key(const struct ban_sync *bs);

/* Stops listening and frees <bs> (accepts NULL). */
void ban_sync_destroy(struct ban_sync *bs);

/* The bans this node obeys (owned by <bs>; valid until the next loop turn). */
const struct ban_set *ban_sync_set(const struct ban_sync *bs);

/* Adds ban <b> (upstream filled, domain normalised): a fresh id from <rng>
 * when b->id is "", applied here at once and written to Redis, which
 * announces it to every node. On return <b> holds the id. Returns PF_OK,
 * PF_EAGAIN when Redis is not connected (nothing changed: a ban that only
 * this node knew would be lost at its next resync), PF_ENOMEM. */
int ban_sync_add(struct ban_sync *bs, struct ban *b, struct rng *rng) PF_MUSTCHECK;

/* Removes ban <id> here and in Redis. Returns PF_OK, PF_ENOENT when this
 * node holds no such ban (not expired at <now_ms>), PF_EAGAIN when Redis
 * is not connected. */
int ban_sync_remove(struct ban_sync *bs, const char *id, int64_t now_ms) PF_MUSTCHECK;

const struct ban_sync_stats *ban_sync_get_stats(const struct ban_sync *bs);

#endif
