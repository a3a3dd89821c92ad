/* Per-user limits and usage, fleet-wide (issue 12 item 5; docs/scrapers.md,
 * "Users and limits"). The node keeps one slot per user it served in the
 * last hour (common/user_usage.h: local counts and the fleet totals last
 * read) and enforces, on each request, the fleet total it last read plus
 * its local share. Every node.report_interval_ms one Lua script per node
 * (pool mode, Redis up) adds the node's per-user deltas to the usage
 * hashes {pf}:v1:usage:<user>:day:<YYYYMMDD> and :month:<YYYYMM> (fields
 * bytes and requests), writes the node's open connections and request
 * rate into {pf}:v1:usage:<user>:live, and reads back the fleet totals.
 * While Redis is down the deltas pile up locally (and go out at the next
 * report that gets through) and the last totals read stay in force.
 *
 * Bytes are counted through taps: a protocol's session embeds a struct
 * user_tap that points at its conn's byte counters; the meter samples
 * every tap at each report (so a long tunnel is counted while it runs)
 * and once more when the tap ends (the conn is released). */
#ifndef PF_NODE_USER_METER_H
#define PF_NODE_USER_METER_H

#include <stdint.h>

#include "auth.h"
#include "conf.h"
#include "conn_err.h"
#include "user_usage.h"

struct node_ctx;
struct user_meter;
struct user_slot;

/* One conn's attachment to a user: embedded in the protocol's session,
 * zeroed = not attached. */
struct user_tap {
    struct user_slot *slot;          /* borrowed from the meter; NULL = not attached */
    const uint64_t   *bytes_in;      /* borrowed: the conn's counters */
    const uint64_t   *bytes_out;
    uint64_t          seen;          /* bytes in + out already counted */
    struct user_tap  *prev, *next;   /* the meter's list of taps */
};

struct user_meter_stats {
    uint64_t users;                  /* slots held */
    uint64_t denied[CONN_ERR__COUNT];/* requests refused, by kind */
    uint64_t reports;                /* report scripts answered */
    uint64_t reports_lost;           /* report scripts whose reply never came */
};

/* Creates the meter of <ctx> (pool mode: needs ctx->redis and ctx->keys;
 * NULL ctx->redis keeps it local). Returns NULL when out of memory. */
struct user_meter *user_meter_create(struct node_ctx *ctx);

/* Frees <m> (accepts NULL); taps still attached must be ended first
 * (conn_close_all() releases every conn before). */
void user_meter_destroy(struct user_meter *m);

/* Admits one request of user <name> (a lookup name) under <lim> (NULL = no
 * limits: only counted) on the conn of <tap> (<bytes_in>, <bytes_out>: its
 * counters). A tap attached to another user is moved; a new attachment is
 * a new connection for max_conns. Returns CONN_ERR_NONE (admitted and
 * counted) or the CONN_ERR_USER_* kind with <*retry_after_s> set; a
 * refused request leaves the tap as it was. A name that cannot be a
 * usage key (keys_valid_user) is admitted without counting. */
enum conn_err user_meter_admit(struct user_meter *m, const char *name,
                               const struct user_limits *lim, struct user_tap *tap,
                               const uint64_t *bytes_in, const uint64_t *bytes_out,
                               int *retry_after_s);

/* Who an authenticated request is metered as, taken from its struct
 * auth_user before attempt_set_session_user() wipes it. */
struct user_who {
    char name[AUTH_USER_MAX];        /* the lookup name; "" = none */
    int  is_source_user;             /* a user from Redis (its record has the limits) */
};

/* Fills <w> from <u>: a Redis user's lookup name (user_store_lookup_name),
 * a config user's base name. */
void user_who_from(struct user_who *w, const struct auth_user *u);

/* The request of authenticated user <w> on the conn of <tap>: its limits
 * (a Redis user's record, user_store.h; a config user's from node.users
 * of <cn>, the conn's settings generation), then user_meter_admit(). Call
 * it only when authentication is required: without users nothing is
 * counted. */
enum conn_err user_meter_admit_user(struct node_ctx *ctx, const struct conf_node *cn,
                                    const struct user_who *w, struct user_tap *tap,
                                    const uint64_t *bytes_in, const uint64_t *bytes_out,
                                    int *retry_after_s);

/* Ends <tap> (accepts a zeroed one): its last bytes are counted, the
 * user's connection released. */
void user_meter_tap_end(struct user_meter *m, struct user_tap *tap);

/* Fills <out>. */
void user_meter_get_stats(const struct user_meter *m, struct user_meter_stats *out);

#endif
