/* A generation of the node's settings: an immutable copy of the node
 * section, taken at start and at each good SIGHUP reload, shared by
 * reference count. Every client conn holds the generation that was
 * current when its exchange began (c->gen, read through c->cn), so a
 * reload never changes a request or tunnel in flight, and the last
 * reference frees it; the hot path reads through one pointer, as it read
 * ctx->conf before.
 *
 * Which keys a reload may change is decided here too: the restart-only
 * ones (listeners, mode, id, Redis, ...) are compared, named and kept at
 * their running values. Pure: no loop, clock or logging
 * (tests/unit/test_conf_gen.c). */
#ifndef PF_NODE_CONF_GEN_H
#define PF_NODE_CONF_GEN_H

#include <stddef.h>
#include <stdint.h>

#include "conf.h"
#include "pf.h"

struct conf_gen {
    unsigned         refs;      /* the context's while current, plus one per conn */
    uint64_t         id;        /* 1 at start, +1 per good reload */
    struct conf_node node;      /* copy; node.users is this copy's own (deep copy) */
};

/* A new generation <id> holding a copy of <cn> (users copied), with one
 * reference. Returns NULL when out of memory. */
struct conf_gen *conf_gen_create(const struct conf_node *cn, uint64_t id);

/* Takes a reference on <g>; returns <g>. */
struct conf_gen *conf_gen_get(struct conf_gen *g);

/* Drops a reference on <g>; the last one frees it (users wiped). Accepts NULL. */
void conf_gen_put(struct conf_gen *g);

/* Writes into <buf> of <len> bytes the names of the restart-only keys
 * whose value differs between <running> and <next>, comma-separated
 * ("node.listen, redis.url"); names only, never values. Returns how many
 * differ (0 leaves ""). */
int conf_gen_restart_keys(const struct conf *running, const struct conf *next, char *buf,
                          size_t len);

/* Writes into <buf> of <len> bytes the names of the keys a reload
 * applies whose value differs ("node.users, log.level"). Returns how many
 * differ. */
int conf_gen_changed_keys(const struct conf *running, const struct conf *next, char *buf,
                          size_t len);

/* Puts the running values of every restart-only key of <running> into
 * <next>: the Redis section whole (it owns no memory: a plain copy) and
 * the node's restart-only fields. <running> is not changed, so <next> may
 * still be dropped with conf_deinit(); once it replaces <running>, what
 * the process borrows from those (redis_link, pool_cache, report) is byte
 * for byte what it was. */
void conf_gen_keep_restart(struct conf *next, const struct conf *running);

#endif
