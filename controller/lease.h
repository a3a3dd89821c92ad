/* Leader lease: one controller among standbys polls and writes.
 *   acquire: SET {pf}:v1:controller:lease <id>:<random> NX PX <lease_ms>
 *   renew:   every lease_ms/3, Lua compare-and-PEXPIRE
 *   release: Lua compare-and-DEL (SIGTERM)
 * The token is also the fencing token of every write (publish.c): a leader
 * whose lease was taken over gets FENCED and steps down. Locally a leader
 * also steps down once lease_ms passed since the send time of its last good
 * renew (lease_valid()), which is never later than Redis's own expiry, so
 * two controllers never both believe they lead. Redis calls go through
 * the controller's connection (redis.h). */
#ifndef PF_CTL_LEASE_H
#define PF_CTL_LEASE_H

#include <stdint.h>

#include "pf.h"

struct keys;
struct redis;

#define LEASE_TOKEN_MAX 96

enum lease_event {
    LEASE_EV_NONE = 0,       /* nothing changed */
    LEASE_EV_ACQUIRED,       /* this controller just became leader */
    LEASE_EV_LOST,           /* this controller just stopped being leader */
};

struct lease {
    struct redis      *redis;               /* borrowed from ctl_ctx */
    const struct keys *keys;                /* borrowed from ctl_ctx */
    const char        *id;                  /* borrowed: controller id */
    int64_t            lease_ms;            /* lease time (PX) */
    int                is_leader;
    char               token[LEASE_TOKEN_MAX];   /* "<id>:<16 hex>" while leader, else "" */
    int64_t            valid_until_ms;      /* monotonic: local end of the lease */
    int64_t            leader_since_ms;     /* wall clock of the acquisition, 0 = standby */
    int64_t            holder_ttl_ms;       /* standby: PTTL of the holder's lease, -1 = none */
    uint64_t           acquisitions;        /* times this controller became leader */
    uint64_t           losses;              /* times it stopped being leader */
    char               last_loss[64];       /* reason of the last loss, "" = none */
};

/* Initialises <l> as standby; <redis>, <keys> and <id> are borrowed. */
void lease_init(struct lease *l, struct redis *redis, const struct keys *keys, const char *id,
                int64_t lease_ms);

/* Renew interval: lease_ms / 3 (at least 1). */
int64_t lease_renew_ms(const struct lease *l);

/* One step at <now_mono_ms>: a standby tries to acquire, a leader renews
 * (and loses the lease when the renew is refused, or when Redis stayed
 * unreachable past the local lease end). Sets <*next_in_ms> to when to call
 * again. Returns what changed. */
enum lease_event lease_tick(struct lease *l, int64_t now_mono_ms, int64_t *next_in_ms);

/* 1 when leader and the local lease has not run out at <now_mono_ms>. */
int lease_valid(const struct lease *l, int64_t now_mono_ms);

/* Leaves leadership without touching Redis (fenced, or lease ran out);
 * <why> is kept for /status. Returns 1 when it was leader. */
int lease_step_down(struct lease *l, const char *why);

/* Compare-and-DEL of the lease when leader (clean shutdown), then step
 * down. Returns PF_OK, or PF_EIO when Redis could not be told (the lease
 * then expires on its own). */
int lease_release(struct lease *l) PF_MUSTCHECK;

#endif
