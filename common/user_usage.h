/* One user's consumption on one node, and the verdict on a new request
 * against that user's limits (user_record.h), fleet-wide: the node adds
 * what it counted locally since its last report to the fleet totals it
 * last read from Redis (node/user_limits.c does the I/O):
 *
 *   connections  local open + the other nodes' open (as last read)
 *   requests/s   local in this second + the other nodes' rate (last read)
 *   bytes/day    fleet total read (today's) + in flight + not yet reported
 *   bytes/month  the same for this UTC calendar month
 *
 * Days and months are UTC, named "YYYYMMDD" and "YYYYMM" (the usage keys
 * in docs/redis-keys.md). Pure: the clocks come in as arguments
 * (tests/unit/test_user_usage.c). */
#ifndef PF_USER_USAGE_H
#define PF_USER_USAGE_H

#include <stddef.h>
#include <stdint.h>

#include "user_record.h"

#define USER_DAY_LEN   9             /* "YYYYMMDD" and the NUL */
#define USER_MONTH_LEN 7             /* "YYYYMM" and the NUL */

enum user_verdict {
    USER_OK = 0,
    USER_OVER_CONNS,                 /* max_conns */
    USER_OVER_RPS,                   /* max_rps */
    USER_OVER_DAY,                   /* bytes_per_day */
    USER_OVER_MONTH,                 /* bytes_per_month */
};

struct user_usage {
    /* local */
    int      conns;                  /* open client connections of this user here */
    int64_t  rps_second;             /* the monotonic second rps_count counts */
    int      rps_count;              /* requests admitted in rps_second */
    uint64_t interval_reqs;          /* requests since the last report (the rate sent) */
    uint64_t pend_bytes;             /* counted, not yet sent to Redis */
    uint64_t pend_reqs;
    uint64_t sent_bytes;             /* sent, reply not in yet */
    uint64_t sent_reqs;
    /* fleet, as last read */
    char     day[USER_DAY_LEN];      /* the day fleet_day_bytes counts ("" = never read) */
    char     month[USER_MONTH_LEN];
    uint64_t fleet_day_bytes;
    uint64_t fleet_month_bytes;
    int      other_conns;            /* the other nodes' open connections */
    int      other_rps;              /* the other nodes' request rate */
};

/* The UTC day "YYYYMMDD" and month "YYYYMM" of <wall_ms>. */
void user_period_day(int64_t wall_ms, char out[USER_DAY_LEN]);
void user_period_month(int64_t wall_ms, char out[USER_MONTH_LEN]);

/* Seconds (>= 1) from <wall_ms> to the next UTC midnight, and to the first
 * day of the next UTC month. */
int user_period_day_left_s(int64_t wall_ms);
int user_period_month_left_s(int64_t wall_ms);

/* The verdict on one more request of the user of <u> under <lim> at
 * monotonic <now_ms> and wall clock <wall_ms>; <is_new_conn> when the
 * request would open one more connection for the user (max_conns is only
 * checked then). On a refusal <*retry_after_s> gets when to try again: 1 s
 * for connections and rate, the end of the day or month for quotas.
 * Changes nothing. */
enum user_verdict user_usage_check(const struct user_usage *u, const struct user_limits *lim,
                                   int64_t now_ms, int64_t wall_ms, int is_new_conn,
                                   int *retry_after_s);

/* Counts one admitted request at monotonic <now_ms>. */
void user_usage_count_request(struct user_usage *u, int64_t now_ms);

/* Counts <n> bytes (in + out) of the user. */
static inline void user_usage_add_bytes(struct user_usage *u, uint64_t n)
{
    u->pend_bytes += n;
}

/* A report starts: moves what is pending to in flight and returns the
 * rate to send (requests per second over <interval_ms>, rounded up) in
 * <*rps>. */
void user_usage_report_begin(struct user_usage *u, int interval_ms, int *rps);

/* The report's reply: the fleet totals of <day> and <month> (they include
 * what was in flight) and the other nodes' connections and rate. */
void user_usage_report_done(struct user_usage *u, const char *day, const char *month,
                            uint64_t day_bytes, uint64_t month_bytes, int other_conns,
                            int other_rps);

/* The report's reply never came (the session ended): what was in flight
 * is sent again with the next report (at least once; see
 * docs/scrapers.md, "Users and limits"). */
void user_usage_report_lost(struct user_usage *u);

/* The verdict's name for logs and the access log: "ok", "user_max_conns",
 * "user_max_rps", "user_bytes_per_day", "user_bytes_per_month". */
const char *user_verdict_name(enum user_verdict v);

#endif
