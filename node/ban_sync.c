/* The node's ban copy and writer; see ban_sync.h. */
#include "ban_sync.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "ban_write.h"
#include "clock.h"
#include "log.h"
#include "redis_link.h"
#include "rng.h"
#include "str.h"

struct ban_sync {
    struct redis_link     *link;          /* borrowed from node_ctx */
    const struct keys     *keys;          /* borrowed from node_ctx */
    struct ban_set         set;           /* owned */
    struct upstream_sid_key sid_key;      /* short ids of upstreams (upstream_sid.h) */
    struct event          *expire_ev;     /* owned: drops expired bans every second */
    int                    is_loading;    /* HGETALL in flight */
    int                    is_reload_wanted; /* a notice came during the load */
    int                    is_listening;  /* the channel's listener is set */
    struct ban_sync_stats  stats;
};

static void ban_sync_log_bad(struct ban_sync *bs, const char *what, const struct pf_err *err)
{
    bs->stats.bad_records++;
    log_warn("redis: bad ban %s ignored: %s", what, err->msg);
}

static void ban_sync_load(struct ban_sync *bs);

static void ban_sync_on_load(struct redis_link_reply *r, void *arg)
{
    struct ban_sync *bs = arg;
    char buf[160];
    bs->is_loading = 0;
    if (redis_link_reply_type(r) != REDIS_LINK_REPLY_ARRAY) {
        log_warn("redis: reading bans failed: %s; keeping %zu bans",
                 redis_link_reply_describe(r, buf, sizeof(buf)), bs->set.count);
        return;
    }
    struct ban_set next;
    ban_set_init(&next);
    int64_t now = clock_wall_ms();
    size_t n = redis_link_reply_count(r) / 2, nbad = 0;
    struct pf_err err;
    for (size_t i = 0; i < n; i++) {
        size_t len = 0;
        const char *v = redis_link_reply_str(redis_link_reply_element(r, 2 * i + 1), &len);
        struct ban b;
        pf_err_clear(&err);
        if (v == NULL || ban_record_parse(v, len, &b, &err) != PF_OK) {
            if (nbad++ == 0)
                ban_sync_log_bad(bs, "record", &err);
            else
                bs->stats.bad_records++;
            continue;
        }
        if (b.expires_at_ms <= now)
            continue;
        if (ban_set_put(&next, &b) != PF_OK) {
            log_error("bans: out of memory reading %zu bans; keeping %zu", n, bs->set.count);
            ban_set_deinit(&next);
            return;
        }
    }
    ban_set_deinit(&bs->set);
    bs->set = next;
    bs->stats.loads++;
    log_info("redis: %zu active ban%s loaded%s", bs->set.count, bs->set.count == 1 ? "" : "s",
             nbad > 0 ? " (bad records skipped)" : "");
    if (bs->is_reload_wanted)
        ban_sync_load(bs);
}

static void ban_sync_load(struct ban_sync *bs)
{
    const char *argv[] = { "HGETALL", bs->keys->bans };
    bs->is_reload_wanted = 0;
    if (redis_link_command(bs->link, ban_sync_on_load, bs, 2, argv, NULL) == PF_OK)
        bs->is_loading = 1;
}

static void ban_sync_on_ready(void *arg)
{
    ban_sync_load(arg);
}

static void ban_sync_on_down(void *arg, char *note, size_t len)
{
    struct ban_sync *bs = arg;
    bs->is_loading = 0;
    bs->is_reload_wanted = 0;
    snprintf(note, len, "keeping %zu bans", bs->set.count);
}

static void ban_sync_on_message(const char *payload, size_t len, void *arg)
{
    struct ban_sync *bs = arg;
    struct ban b;
    enum ban_notice_kind kind = 0;
    struct pf_err err;
    pf_err_clear(&err);
    if (payload == NULL || ban_notice_parse(payload, len, &kind, &b, &err) != PF_OK) {
        if (payload == NULL)
            pf_err_set(&err, PF_EINVAL, "not a string");
        ban_sync_log_bad(bs, "notice", &err);
        return;
    }
    bs->stats.notices++;
    if (bs->is_loading)
        bs->is_reload_wanted = 1;   /* the read may predate this notice: read again */
    if (kind == BAN_NOTICE_DEL) {
        ban_set_remove(&bs->set, b.id);
        return;
    }
    if (b.expires_at_ms <= clock_wall_ms())
        return;
    if (ban_set_put(&bs->set, &b) != PF_OK)
        log_error("bans: out of memory adding ban %s", b.id);
}

static void ban_sync_on_expire(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct ban_sync *bs = arg;
    size_t n = ban_set_expire(&bs->set, clock_wall_ms());
    if (n > 0)
        log_debug("bans: %zu expired", n);
}

/* Sends the write script (fire and forget: the reply only tells of a
 * failure, which is logged; this node applied the change already). */
static void ban_sync_on_written(struct redis_link_reply *r, void *arg)
{
    struct ban_sync *bs = arg;
    char buf[160];
    if (redis_link_reply_type(r) != REDIS_LINK_REPLY_INTEGER) {
        bs->stats.write_failures++;
        log_warn("redis: writing a ban failed: %s", redis_link_reply_describe(r, buf, sizeof(buf)));
    }
}

/* Sends the one write of bans (common/ban_write.h) built in <w>. */
static int ban_sync_write(struct ban_sync *bs, const struct ban_write *w)
{
    const char *argv[2 + BAN_WRITE_NARGS] = { "EVAL", ban_write_script };
    memcpy(&argv[2], w->args, sizeof(w->args));
    int rc = redis_link_command(bs->link, ban_sync_on_written, bs, 2 + BAN_WRITE_NARGS, argv,
                                NULL);
    if (rc == PF_OK)
        bs->stats.writes++;
    return rc == PF_OK ? PF_OK : PF_EAGAIN;
}

int ban_sync_add(struct ban_sync *bs, struct ban *b, struct rng *rng)
{
    struct ban_write w;
    if (!redis_link_is_connected(bs->link))
        return PF_EAGAIN;
    if (b->id[0] == '\0')
        ban_id_format(rng_next(rng), b->id);
    if (ban_write_add(&w, bs->keys, b, clock_wall_ms()) != PF_OK)
        return PF_ENOMEM;
    if (ban_set_put(&bs->set, b) != PF_OK)
        return PF_ENOMEM;
    if (ban_sync_write(bs, &w) != PF_OK) {
        ban_set_remove(&bs->set, b->id);
        return PF_EAGAIN;
    }
    return PF_OK;
}

int ban_sync_remove(struct ban_sync *bs, const char *id, int64_t now_ms)
{
    struct ban_write w;
    if (ban_set_get(&bs->set, id, now_ms) == NULL)
        return PF_ENOENT;
    if (!redis_link_is_connected(bs->link))
        return PF_EAGAIN;
    if (ban_write_del(&w, bs->keys, id, now_ms) != PF_OK)
        return PF_ENOENT;
    if (ban_sync_write(bs, &w) != PF_OK)
        return PF_EAGAIN;
    ban_set_remove(&bs->set, id);
    return PF_OK;
}

struct ban_sync *ban_sync_create(struct event_base *base, struct redis_link *link,
                                 const struct keys *keys, const uint8_t *secret, size_t len,
                                 struct pf_err *err)
{
    struct ban_sync *bs = calloc(1, sizeof(*bs));
    if (bs == NULL)
        goto fail;
    bs->link = link;
    bs->keys = keys;
    upstream_sid_key_derive(secret, len, &bs->sid_key);
    ban_set_init(&bs->set);
    bs->expire_ev = event_new(base, -1, EV_PERSIST, ban_sync_on_expire, bs);
    if (bs->expire_ev == NULL)
        goto fail;
    const struct timeval tv = { 1, 0 };
    event_add(bs->expire_ev, &tv);
    const struct redis_link_events ev = {
        .on_ready = ban_sync_on_ready,
        .on_down = ban_sync_on_down,
        .on_message = ban_sync_on_message,
        .arg = bs,
    };
    if (redis_link_listen(link, keys->bans_channel, &ev) != PF_OK) {
        ban_sync_destroy(bs);
        pf_err_set(err, PF_ERANGE, "bans: no channel left on the redis link");
        return NULL;
    }
    bs->is_listening = 1;
    return bs;

fail:
    ban_sync_destroy(bs);
    pf_err_set(err, PF_ENOMEM, "bans: out of memory");
    return NULL;
}

void ban_sync_destroy(struct ban_sync *bs)
{
    if (bs == NULL)
        return;
    if (bs->is_listening) {
        const struct redis_link_events none = { 0 };
        (void)!redis_link_listen(bs->link, bs->keys->bans_channel, &none);
    }
    if (bs->expire_ev != NULL)
        event_free(bs->expire_ev);
    ban_set_deinit(&bs->set);
    free(bs);
}

const struct ban_set *ban_sync_set(const struct ban_sync *bs)
{
    return &bs->set;
}

const struct upstream_sid_key *ban_sync_sid_key(const struct ban_sync *bs)
{
    return &bs->sid_key;
}

const struct ban_sync_stats *ban_sync_get_stats(const struct ban_sync *bs)
{
    return &bs->stats;
}
