/* The node's Redis Sentinel client (redis.sentinels, master_name), async on
 * the node's libevent loop like redis_link, which owns it:
 *
 *   - sentinel_ask() asks the sentinels in turn, starting with the one that
 *     answered last, "SENTINEL get-master-addr-by-name <name>"; each
 *     sentinel gets connect_timeout_ms + command_timeout_ms, then the next
 *     is asked. The answer (or the failure of all) goes to the listener.
 *   - the watch: one connection SUBSCRIBEd to +switch-master on a sentinel
 *     (the next one after a failure, reconnected with backoff and jitter).
 *     A notice about our master goes to on_moved; so does the master the
 *     sentinels name right after each (re)subscribe, since a notice sent
 *     while the watch was down is lost.
 *
 * A sentinel that goes silent without closing is noticed by TCP keepalive
 * on the watch (hiredis 0.14 cannot see a PING's answer on a subscribed
 * async connection); asking never depends on the watch. Nothing is freed
 * inside hiredis callbacks: contexts are closed from a zero-delay event,
 * as in redis_link.c. */
#ifndef PF_NODE_SENTINEL_H
#define PF_NODE_SENTINEL_H

#include <stddef.h>
#include <stdint.h>

#include "conf.h"
#include "err.h"
#include "pf.h"

struct event_base;
struct sentinel;

/* What the one listener hears. None may destroy the sentinel. */
struct sentinel_events {
    /* The answer to sentinel_ask(): the master is at <host>:<port>. */
    void (*on_master)(const char *host, uint16_t port, void *arg);
    /* sentinel_ask() found no sentinel that named the master: <why>. */
    void (*on_failed)(const char *why, void *arg);
    /* The sentinels name <host>:<port> as the master (+switch-master, or
     * the check after the watch subscribed). May run inside a hiredis
     * callback of the watch. */
    void (*on_moved)(const char *host, uint16_t port, void *arg);
    void *arg;
};

/* Counters for /metrics and /stats. */
struct sentinel_stats {
    uint64_t asks;              /* get-master-addr-by-name exchanges that answered */
    uint64_t ask_failures;      /* sentinels that did not answer (or not usefully) */
    uint64_t switch_notices;    /* +switch-master notices about our master */
};

/* Creates the client for <conf> (borrowed; nsentinels > 0) on <base> and
 * starts the watch from the loop. <ev> is copied; its <arg> must outlive
 * the client. Returns NULL with a reason in <err> on allocation failure. */
struct sentinel *sentinel_create(struct event_base *base, const struct conf_redis *conf,
                                 const struct sentinel_events *ev, struct pf_err *err);

/* Closes every connection and frees <s> (accepts NULL). Call from outside
 * hiredis callbacks only. */
void sentinel_destroy(struct sentinel *s);

/* Asks the sentinels for the master (returns at once); the answer comes as
 * on_master or on_failed. While an ask runs, another call joins it. */
void sentinel_ask(struct sentinel *s);

/* Returns a pointer to the counters (owned by <s>). */
const struct sentinel_stats *sentinel_get_stats(const struct sentinel *s);

#endif
