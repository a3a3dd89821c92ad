/* The one write of a ban to Redis (docs/redis-keys.md, "Bans"), shared by
 * every writer (the node's admin API and in-band requests, node/ban_sync.c;
 * proxyfleet-ctl bans add|del, ctl/ctl_bans.c), so the record, its expiry
 * ZSET entry and the channel notice always change together.
 *
 * One Lua script: it first prunes up to BAN_WRITE_PRUNE_MAX bans whose
 * expiry passed, then for "add" HSET + ZADD the record and PUBLISH
 * "add <record>", for "del" HDEL + ZREM the id and PUBLISH "del <id>"
 * (only when it existed). It returns 1 when the ban was added or removed.
 * Pure: this module builds the script's arguments; the caller sends them
 * (EVAL or EVALSHA) on its own Redis connection (tests/unit/test_ban_write.c). */
#ifndef PF_BAN_WRITE_H
#define PF_BAN_WRITE_H

#include <stdint.h>

#include "ban.h"
#include "keys.h"
#include "pf.h"

#define BAN_WRITE_PRUNE_MAX 1000  /* unpack() stays far below Lua's stack limit */
#define BAN_WRITE_NARGS     9     /* numkeys, 2 keys, 6 arguments */

/* The script's source (KEYS[1] bans, KEYS[2] bans:expiry; ARGV[1] now_ms,
 * ARGV[2] "add"/"del", ARGV[3] id, ARGV[4] record, ARGV[5] expires_at_ms,
 * ARGV[6] channel). */
extern const char ban_write_script[];

/* The arguments of one write, after the script: <args> point into this
 * struct and into the keys it was built from (both must outlive a send). */
struct ban_write {
    char        now[24];
    char        expires[24];
    char        id[BAN_ID_LEN + 1];
    char        record[BAN_RECORD_MAX];
    const char *args[BAN_WRITE_NARGS];   /* "2", bans, bans:expiry, now, op, id, record, exp, channel */
};

/* Builds the write that adds ban <b> (id set, every field valid) under
 * <k> at wall clock <now_ms> into <w>. Returns PF_OK or PF_ERANGE (the
 * record does not fit: not from a valid ban). */
int ban_write_add(struct ban_write *w, const struct keys *k, const struct ban *b,
                  int64_t now_ms) PF_MUSTCHECK;

/* Builds the write that removes ban <id> (BAN_ID_LEN hex) under <k> at
 * wall clock <now_ms> into <w>. Returns PF_OK or PF_EINVAL (not an id). */
int ban_write_del(struct ban_write *w, const struct keys *k, const char *id,
                  int64_t now_ms) PF_MUSTCHECK;

#endif
