/* One user's consumption; see user_usage.h. */
#include "user_usage.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

static struct tm utc_of(int64_t wall_ms)
{
    time_t t = (time_t)(wall_ms / 1000);
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    gmtime_r(&t, &tm);
    return tm;
}

void user_period_day(int64_t wall_ms, char out[USER_DAY_LEN])
{
    struct tm tm = utc_of(wall_ms);
    char buf[48];                    /* room for any int, to keep -Wformat-truncation quiet */
    snprintf(buf, sizeof(buf), "%04d%02d%02d", (tm.tm_year + 1900) % 10000, tm.tm_mon + 1,
             tm.tm_mday);
    memcpy(out, buf, USER_DAY_LEN - 1);
    out[USER_DAY_LEN - 1] = '\0';
}

void user_period_month(int64_t wall_ms, char out[USER_MONTH_LEN])
{
    struct tm tm = utc_of(wall_ms);
    char buf[32];
    snprintf(buf, sizeof(buf), "%04d%02d", (tm.tm_year + 1900) % 10000, tm.tm_mon + 1);
    memcpy(out, buf, USER_MONTH_LEN - 1);
    out[USER_MONTH_LEN - 1] = '\0';
}

int user_period_day_left_s(int64_t wall_ms)
{
    int64_t s = wall_ms / 1000;
    int left = (int)(86400 - s % 86400);
    return left > 0 ? left : 1;
}

int user_period_month_left_s(int64_t wall_ms)
{
    struct tm tm = utc_of(wall_ms);
    struct tm next;
    memset(&next, 0, sizeof(next));
    next.tm_year = tm.tm_mon == 11 ? tm.tm_year + 1 : tm.tm_year;
    next.tm_mon = tm.tm_mon == 11 ? 0 : tm.tm_mon + 1;
    next.tm_mday = 1;
    int64_t at = (int64_t)timegm(&next);
    int64_t left = at - wall_ms / 1000;
    return left > 0 ? (int)left : 1;
}

enum user_verdict user_usage_check(const struct user_usage *u, const struct user_limits *lim,
                                   int64_t now_ms, int64_t wall_ms, int is_new_conn,
                                   int *retry_after_s)
{
    *retry_after_s = 0;
    if (is_new_conn && lim->max_conns > 0 && u->conns + u->other_conns >= lim->max_conns) {
        *retry_after_s = 1;
        return USER_OVER_CONNS;
    }
    if (lim->max_rps > 0) {
        int here = u->rps_second == now_ms / 1000 ? u->rps_count : 0;
        if (here + u->other_rps >= lim->max_rps) {
            *retry_after_s = 1;
            return USER_OVER_RPS;
        }
    }
    uint64_t local = u->pend_bytes + u->sent_bytes;
    if (lim->bytes_per_day > 0) {
        char day[USER_DAY_LEN];
        user_period_day(wall_ms, day);
        uint64_t fleet = strcmp(day, u->day) == 0 ? u->fleet_day_bytes : 0;
        if (fleet + local >= lim->bytes_per_day) {
            *retry_after_s = user_period_day_left_s(wall_ms);
            return USER_OVER_DAY;
        }
    }
    if (lim->bytes_per_month > 0) {
        char month[USER_MONTH_LEN];
        user_period_month(wall_ms, month);
        uint64_t fleet = strcmp(month, u->month) == 0 ? u->fleet_month_bytes : 0;
        if (fleet + local >= lim->bytes_per_month) {
            *retry_after_s = user_period_month_left_s(wall_ms);
            return USER_OVER_MONTH;
        }
    }
    return USER_OK;
}

void user_usage_count_request(struct user_usage *u, int64_t now_ms)
{
    int64_t sec = now_ms / 1000;
    if (u->rps_second != sec) {
        u->rps_second = sec;
        u->rps_count = 0;
    }
    u->rps_count++;
    u->interval_reqs++;
    u->pend_reqs++;
}

void user_usage_report_begin(struct user_usage *u, int interval_ms, int *rps)
{
    u->sent_bytes += u->pend_bytes;
    u->sent_reqs += u->pend_reqs;
    u->pend_bytes = 0;
    u->pend_reqs = 0;
    if (interval_ms < 1)
        interval_ms = 1;
    uint64_t r = (u->interval_reqs * 1000 + (uint64_t)interval_ms - 1) / (uint64_t)interval_ms;
    *rps = r > USER_RPS_MAX ? USER_RPS_MAX : (int)r;
    u->interval_reqs = 0;
}

void user_usage_report_done(struct user_usage *u, const char *day, const char *month,
                            uint64_t day_bytes, uint64_t month_bytes, int other_conns,
                            int other_rps)
{
    u->sent_bytes = 0;
    u->sent_reqs = 0;
    snprintf(u->day, sizeof(u->day), "%s", day);
    snprintf(u->month, sizeof(u->month), "%s", month);
    u->fleet_day_bytes = day_bytes;
    u->fleet_month_bytes = month_bytes;
    u->other_conns = other_conns;
    u->other_rps = other_rps;
}

void user_usage_report_lost(struct user_usage *u)
{
    u->pend_bytes += u->sent_bytes;
    u->pend_reqs += u->sent_reqs;
    u->sent_bytes = 0;
    u->sent_reqs = 0;
}

const char *user_verdict_name(enum user_verdict v)
{
    switch (v) {
    case USER_OK:         return "ok";
    case USER_OVER_CONNS: return "user_max_conns";
    case USER_OVER_RPS:   return "user_max_rps";
    case USER_OVER_DAY:   return "user_bytes_per_day";
    case USER_OVER_MONTH: return "user_bytes_per_month";
    }
    return "?";
}
