/* Unit tests for node/conn_err.c: the failure-kind table. */
#include <criterion/criterion.h>
#include <string.h>

#include "conn_err.h"
#include "log.h"
#include "socks5.h"

/* The names are metric labels (pf_node_conn_closed_total{reason},
 * pf_node_upstream_errors_total{kind}, /stats keys): renaming one breaks
 * dashboards, so the whole list is pinned here in enum order. */
Test(conn_err, names_are_stable)
{
    static const char *const want[] = {
        "none", "done", "client_eof", "client_io", "header_timeout", "idle_timeout",
        "bad_request", "head_too_large", "auth", "policy", "dns", "upstream_refused",
        "upstream_reset", "upstream_timeout", "upstream_bad_reply", "upstream_auth",
        "upstream_eof", "upstream_tls", "no_upstream", "all_ejected", "over_limit",
        "user_max_conns", "user_max_rps", "user_bytes_per_day", "user_bytes_per_month", "tunnel_done", "shutdown",
        "internal",
    };
    cr_assert_eq(PF_ARRAY_LEN(want), CONN_ERR__COUNT);
    for (int i = 0; i < CONN_ERR__COUNT; i++) {
        cr_expect_str_eq(conn_err_name((enum conn_err)i), want[i], "kind %d", i);
        cr_expect_eq(conn_err_kind((enum conn_err)i)->name, conn_err_name((enum conn_err)i));
    }
}

Test(conn_err, out_of_range_is_internal_unknown)
{
    cr_expect_str_eq(conn_err_name(CONN_ERR__COUNT), "?");
    cr_expect_str_eq(conn_err_name((enum conn_err)-1), "?");
    cr_expect_eq(conn_err_kind(CONN_ERR__COUNT)->http_status, 500);
    cr_expect_eq(conn_err_kind(CONN_ERR__COUNT)->is_upstream_fault, 0);
}

/* What an HTTP client is answered, kind by kind. */
Test(conn_err, http_status)
{
    static const struct { enum conn_err k; int status; } v[] = {
        { CONN_ERR_NONE, 0 }, { CONN_ERR_DONE, 0 }, { CONN_ERR_CLIENT_EOF, 0 },
        { CONN_ERR_CLIENT_IO, 0 }, { CONN_ERR_HEADER_TIMEOUT, 408 }, { CONN_ERR_IDLE_TIMEOUT, 0 },
        { CONN_ERR_BAD_REQUEST, 400 }, { CONN_ERR_HEAD_TOO_LARGE, 431 }, { CONN_ERR_AUTH, 407 },
        { CONN_ERR_POLICY, 403 }, { CONN_ERR_DNS, 502 }, { CONN_ERR_UPSTREAM_REFUSED, 502 },
        { CONN_ERR_UPSTREAM_RESET, 502 }, { CONN_ERR_UPSTREAM_TIMEOUT, 504 },
        { CONN_ERR_UPSTREAM_BAD_REPLY, 502 }, { CONN_ERR_UPSTREAM_AUTH, 502 },
        { CONN_ERR_UPSTREAM_EOF, 502 }, { CONN_ERR_UPSTREAM_TLS, 502 },
        { CONN_ERR_NO_UPSTREAM, 503 }, { CONN_ERR_ALL_EJECTED, 503 },
        { CONN_ERR_OVER_LIMIT, 503 }, { CONN_ERR_USER_MAX_CONNS, 429 },
        { CONN_ERR_USER_MAX_RPS, 429 }, { CONN_ERR_USER_BYTES_PER_DAY, 429 },
        { CONN_ERR_USER_BYTES_PER_MONTH, 429 }, { CONN_ERR_TUNNEL_DONE, 0 }, { CONN_ERR_SHUTDOWN, 0 },
        { CONN_ERR_INTERNAL, 500 },
    };
    cr_assert_eq(PF_ARRAY_LEN(v), CONN_ERR__COUNT);
    for (size_t i = 0; i < PF_ARRAY_LEN(v); i++)
        cr_expect_eq(conn_err_kind(v[i].k)->http_status, v[i].status, "%s", conn_err_name(v[i].k));
}

/* The outcome class of every answered kind follows its status: 403/407
 * and 429 (a user's limit) denied, 503 unavailable, other 4xx the client's, other 5xx upstream. */
Test(conn_err, outcome_follows_status)
{
    for (int i = 0; i < CONN_ERR__COUNT; i++) {
        const struct conn_err_kind *k = conn_err_kind((enum conn_err)i);
        if (k->http_status == 0)
            continue;
        enum stats_outcome want = STATS_OUT_UPSTREAM_ERROR;
        if (k->http_status == 403 || k->http_status == 407 || k->http_status == 429)
            want = STATS_OUT_DENIED;
        else if (k->http_status == 503)
            want = STATS_OUT_UNAVAILABLE;
        else if (k->http_status < 500)
            want = STATS_OUT_CLIENT_ERROR;
        cr_expect_eq(k->outcome, want, "%s", k->name);
    }
}

Test(conn_err, socks_reply)
{
    cr_expect_eq(conn_err_kind(CONN_ERR_POLICY)->socks_rep, SOCKS5_REP_NOT_ALLOWED);
    cr_expect_eq(conn_err_kind(CONN_ERR_DNS)->socks_rep, SOCKS5_REP_HOST_UNREACHABLE);
    cr_expect_eq(conn_err_kind(CONN_ERR_UPSTREAM_TIMEOUT)->socks_rep, SOCKS5_REP_TTL_EXPIRED);
    cr_expect_eq(conn_err_kind(CONN_ERR_HEADER_TIMEOUT)->socks_rep, SOCKS5_REP_TTL_EXPIRED);
    cr_expect_eq(conn_err_kind(CONN_ERR_UPSTREAM_REFUSED)->socks_rep, SOCKS5_REP_REFUSED);
    cr_expect_eq(conn_err_kind(CONN_ERR_NO_UPSTREAM)->socks_rep, SOCKS5_REP_GENERAL);
    cr_expect_eq(conn_err_kind(CONN_ERR_UPSTREAM_BAD_REPLY)->socks_rep, SOCKS5_REP_GENERAL);
    cr_expect_eq(conn_err_kind(CONN_ERR_UPSTREAM_TLS)->socks_rep, SOCKS5_REP_GENERAL);
    for (int i = 0; i < CONN_ERR__COUNT; i++)
        cr_expect_neq(conn_err_kind((enum conn_err)i)->socks_rep, SOCKS5_REP_SUCCEEDED,
                      "%s", conn_err_name((enum conn_err)i));
}

/* Exactly the kinds where the upstream failed us count against it. */
Test(conn_err, upstream_fault)
{
    static const enum conn_err faults[] = {
        CONN_ERR_DNS, CONN_ERR_UPSTREAM_REFUSED, CONN_ERR_UPSTREAM_RESET,
        CONN_ERR_UPSTREAM_TIMEOUT, CONN_ERR_UPSTREAM_BAD_REPLY, CONN_ERR_UPSTREAM_AUTH,
        CONN_ERR_UPSTREAM_EOF, CONN_ERR_UPSTREAM_TLS,
    };
    for (int i = 0; i < CONN_ERR__COUNT; i++) {
        int want = 0;
        for (size_t j = 0; j < PF_ARRAY_LEN(faults); j++)
            want |= faults[j] == (enum conn_err)i;
        cr_expect_eq(conn_err_kind((enum conn_err)i)->is_upstream_fault, want, "%s",
                     conn_err_name((enum conn_err)i));
    }
}

/* Ordinary ends log at debug, everything else at info. */
Test(conn_err, log_level)
{
    for (int i = 0; i < CONN_ERR__COUNT; i++) {
        enum conn_err k = (enum conn_err)i;
        int quiet = k == CONN_ERR_NONE || k == CONN_ERR_DONE || k == CONN_ERR_TUNNEL_DONE ||
                    k == CONN_ERR_OVER_LIMIT;
        cr_expect_eq(conn_err_kind(k)->log_level, quiet ? PF_LOG_DEBUG : PF_LOG_INFO, "%s",
                     conn_err_name(k));
    }
}

Test(conn_err, user_limits_answer_429_and_not_allowed)
{
    static const enum conn_err k[] = { CONN_ERR_USER_MAX_CONNS, CONN_ERR_USER_MAX_RPS,
                                       CONN_ERR_USER_BYTES_PER_DAY, CONN_ERR_USER_BYTES_PER_MONTH };
    for (size_t i = 0; i < PF_ARRAY_LEN(k); i++) {
        cr_expect_eq(conn_err_kind(k[i])->http_status, 429);
        cr_expect_eq(conn_err_kind(k[i])->socks_rep, SOCKS5_REP_NOT_ALLOWED);
        cr_expect_eq(conn_err_kind(k[i])->is_upstream_fault, 0);
    }
}
