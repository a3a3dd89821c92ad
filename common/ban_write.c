/* The one write of a ban to Redis; see ban_write.h. */
#include "ban_write.h"

#include <stdio.h>
#include <string.h>

const char ban_write_script[] =
    "local old = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[1], 'LIMIT', 0, 1000)\n"
    "if #old > 0 then\n"
    "  redis.call('HDEL', KEYS[1], unpack(old))\n"
    "  redis.call('ZREM', KEYS[2], unpack(old))\n"
    "end\n"
    "if ARGV[2] == 'add' then\n"
    "  redis.call('HSET', KEYS[1], ARGV[3], ARGV[4])\n"
    "  redis.call('ZADD', KEYS[2], ARGV[5], ARGV[3])\n"
    "  redis.call('PUBLISH', ARGV[6], 'add ' .. ARGV[4])\n"
    "  return 1\n"
    "end\n"
    "local n = redis.call('HDEL', KEYS[1], ARGV[3])\n"
    "redis.call('ZREM', KEYS[2], ARGV[3])\n"
    "if n > 0 then redis.call('PUBLISH', ARGV[6], 'del ' .. ARGV[3]) end\n"
    "return n\n";

static void ban_write_args(struct ban_write *w, const struct keys *k, const char *op)
{
    w->args[0] = "2";
    w->args[1] = k->bans;
    w->args[2] = k->bans_expiry;
    w->args[3] = w->now;
    w->args[4] = op;
    w->args[5] = w->id;
    w->args[6] = w->record;
    w->args[7] = w->expires;
    w->args[8] = k->bans_channel;
}

int ban_write_add(struct ban_write *w, const struct keys *k, const struct ban *b, int64_t now_ms)
{
    memset(w, 0, sizeof(*w));
    if (!ban_id_is_valid(b->id, strlen(b->id)) ||
        ban_record_format(b, w->record, sizeof(w->record)) < 0)
        return PF_ERANGE;
    memcpy(w->id, b->id, sizeof(w->id));
    snprintf(w->now, sizeof(w->now), "%lld", (long long)now_ms);
    snprintf(w->expires, sizeof(w->expires), "%lld", (long long)b->expires_at_ms);
    ban_write_args(w, k, "add");
    return PF_OK;
}

int ban_write_del(struct ban_write *w, const struct keys *k, const char *id, int64_t now_ms)
{
    memset(w, 0, sizeof(*w));
    if (id == NULL || !ban_id_is_valid(id, strlen(id)))
        return PF_EINVAL;
    memcpy(w->id, id, BAN_ID_LEN + 1);
    snprintf(w->now, sizeof(w->now), "%lld", (long long)now_ms);
    snprintf(w->expires, sizeof(w->expires), "0");
    ban_write_args(w, k, "del");
    return PF_OK;
}
