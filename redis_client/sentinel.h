/* The blocking Redis Sentinel client (redis.sentinels, master_name) of the
 * controller and proxyfleet-ctl: where the master is, and when it moved.
 * Synchronous with timeouts, like redis.c, whose connect asks it first:
 *
 *   - sentinel_get_master() asks the sentinels in turn, starting with the
 *     one that answered last, "SENTINEL get-master-addr-by-name <name>";
 *     each exchange is bounded by redis.connect_timeout_ms and
 *     command_timeout_ms (the loop waits at most that per sentinel).
 *   - the watch: one connection SUBSCRIBEd to +switch-master on a sentinel
 *     (the next one after a failure, reconnected with backoff), read on the
 *     loop when its socket is readable. A notice about our master, and the
 *     master the sentinels name right after each (re)subscribe (a notice
 *     sent while the watch was down is lost), go to the <moved> callback,
 *     which compares with where redis.c is connected.
 *
 * A sentinel that goes silent without closing is noticed by TCP keepalive
 * on the watch; the resolve itself never depends on the watch.
 * hiredis stays inside this file and redis.c. */
#ifndef PF_RC_SENTINEL_H
#define PF_RC_SENTINEL_H

#include <stddef.h>
#include <stdint.h>

#include "conf.h"
#include "err.h"
#include "pf.h"

struct event_base;
struct sentinel;

/* The sentinels name <host>:<port> as the master (a +switch-master notice,
 * or the check after the watch (re)subscribed). Runs on the loop. */
typedef void (*sentinel_moved_fn)(const char *host, uint16_t port, void *arg);

/* Counters for /metrics and /status. */
struct sentinel_stats {
    uint64_t asks;              /* get-master-addr-by-name exchanges that answered */
    uint64_t ask_failures;      /* sentinels that did not answer (or not usefully) */
    uint64_t switch_notices;    /* +switch-master notices about our master */
};

/* Creates the client for <conf> (borrowed; nsentinels > 0). Asking
 * (sentinel_get_master) needs nothing more; the watch needs a loop
 * (sentinel_watch_start). Returns NULL on allocation failure. */
struct sentinel *sentinel_create(const struct conf_redis *conf);

/* Closes the watch and frees <s> (accepts NULL). */
void sentinel_destroy(struct sentinel *s);

/* Starts the watch on <base> (borrowed; returns at once): <moved> (with
 * <arg>) hears of master changes from then on. Once per client. PF_OK or
 * PF_ENOMEM. */
int sentinel_watch_start(struct sentinel *s, struct event_base *base, sentinel_moved_fn moved,
                         void *arg) PF_MUSTCHECK;

/* Asks the sentinels in turn for the master's address: PF_OK with
 * <host> (<host_len> bytes) and <*port>, or PF_EIO with the last reason in
 * <err> (no sentinel answered, or none knows master_name). */
int sentinel_get_master(struct sentinel *s, char *host, size_t host_len, uint16_t *port,
                        struct pf_err *err) PF_MUSTCHECK;

/* Returns a pointer to the counters (owned by <s>). */
const struct sentinel_stats *sentinel_get_stats(const struct sentinel *s);

#endif
