/* The failure-kind table; see conn_err.h. */
#include "conn_err.h"

#include "log.h"
#include "pf.h"
#include "socks5.h"

#define D PF_LOG_DEBUG   /* an ordinary end */
#define I PF_LOG_INFO    /* a failure worth a line at the default level */

static const struct conn_err_kind kinds[] = {
    /*                              name                 HTTP SOCKS5 REP                    outcome                   fault log */
    [CONN_ERR_NONE]               = { "none",               0, SOCKS5_REP_GENERAL,          STATS_OUT_OK,             0, D },
    [CONN_ERR_DONE]               = { "done",               0, SOCKS5_REP_GENERAL,          STATS_OUT_OK,             0, D },
    [CONN_ERR_CLIENT_EOF]         = { "client_eof",         0, SOCKS5_REP_GENERAL,          STATS_OUT_CLIENT_ERROR,   0, I },
    [CONN_ERR_CLIENT_IO]          = { "client_io",          0, SOCKS5_REP_GENERAL,          STATS_OUT_CLIENT_ERROR,   0, I },
    [CONN_ERR_HEADER_TIMEOUT]     = { "header_timeout",   408, SOCKS5_REP_TTL_EXPIRED,      STATS_OUT_CLIENT_ERROR,   0, I },
    [CONN_ERR_IDLE_TIMEOUT]       = { "idle_timeout",       0, SOCKS5_REP_GENERAL,          STATS_OUT_CLIENT_ERROR,   0, I },
    [CONN_ERR_BAD_REQUEST]        = { "bad_request",      400, SOCKS5_REP_GENERAL,          STATS_OUT_CLIENT_ERROR,   0, I },
    [CONN_ERR_HEAD_TOO_LARGE]     = { "head_too_large",   431, SOCKS5_REP_GENERAL,          STATS_OUT_CLIENT_ERROR,   0, I },
    [CONN_ERR_AUTH]               = { "auth",             407, SOCKS5_REP_GENERAL,          STATS_OUT_DENIED,         0, I },
    [CONN_ERR_POLICY]             = { "policy",           403, SOCKS5_REP_NOT_ALLOWED,      STATS_OUT_DENIED,         0, I },
    [CONN_ERR_DNS]                = { "dns",              502, SOCKS5_REP_HOST_UNREACHABLE, STATS_OUT_UPSTREAM_ERROR, 1, I },
    [CONN_ERR_UPSTREAM_REFUSED]   = { "upstream_refused", 502, SOCKS5_REP_REFUSED,          STATS_OUT_UPSTREAM_ERROR, 1, I },
    [CONN_ERR_UPSTREAM_RESET]     = { "upstream_reset",   502, SOCKS5_REP_GENERAL,          STATS_OUT_UPSTREAM_ERROR, 1, I },
    [CONN_ERR_UPSTREAM_TIMEOUT]   = { "upstream_timeout", 504, SOCKS5_REP_TTL_EXPIRED,      STATS_OUT_UPSTREAM_ERROR, 1, I },
    [CONN_ERR_UPSTREAM_BAD_REPLY] = { "upstream_bad_reply", 502, SOCKS5_REP_GENERAL,        STATS_OUT_UPSTREAM_ERROR, 1, I },
    [CONN_ERR_UPSTREAM_AUTH]      = { "upstream_auth",    502, SOCKS5_REP_GENERAL,          STATS_OUT_UPSTREAM_ERROR, 1, I },
    [CONN_ERR_UPSTREAM_EOF]       = { "upstream_eof",     502, SOCKS5_REP_GENERAL,          STATS_OUT_UPSTREAM_ERROR, 1, I },
    [CONN_ERR_UPSTREAM_TLS]       = { "upstream_tls",     502, SOCKS5_REP_GENERAL,          STATS_OUT_UPSTREAM_ERROR, 1, I },
    [CONN_ERR_NO_UPSTREAM]        = { "no_upstream",      503, SOCKS5_REP_GENERAL,          STATS_OUT_UNAVAILABLE,    0, I },
    [CONN_ERR_ALL_EJECTED]        = { "all_ejected",      503, SOCKS5_REP_GENERAL,          STATS_OUT_UNAVAILABLE,    0, I },
    [CONN_ERR_OVER_LIMIT]         = { "over_limit",       503, SOCKS5_REP_GENERAL,          STATS_OUT_UNAVAILABLE,    0, D },
    [CONN_ERR_USER_MAX_CONNS]     = { "user_max_conns",   429, SOCKS5_REP_NOT_ALLOWED,      STATS_OUT_DENIED,         0, I },
    [CONN_ERR_USER_MAX_RPS]       = { "user_max_rps",     429, SOCKS5_REP_NOT_ALLOWED,      STATS_OUT_DENIED,         0, I },
    [CONN_ERR_USER_BYTES_PER_DAY] = { "user_bytes_per_day", 429, SOCKS5_REP_NOT_ALLOWED,    STATS_OUT_DENIED,         0, I },
    [CONN_ERR_USER_BYTES_PER_MONTH] = { "user_bytes_per_month", 429, SOCKS5_REP_NOT_ALLOWED, STATS_OUT_DENIED,       0, I },
    [CONN_ERR_TUNNEL_DONE]        = { "tunnel_done",        0, SOCKS5_REP_GENERAL,          STATS_OUT_OK,             0, D },
    [CONN_ERR_SHUTDOWN]           = { "shutdown",           0, SOCKS5_REP_GENERAL,          STATS_OUT_UNAVAILABLE,    0, I },
    [CONN_ERR_INTERNAL]           = { "internal",         500, SOCKS5_REP_GENERAL,          STATS_OUT_UPSTREAM_ERROR, 0, I },
};
_Static_assert(PF_ARRAY_LEN(kinds) == CONN_ERR__COUNT, "a row per enum conn_err");
_Static_assert(CONN_ERR__COUNT <= STATS_REASONS_MAX, "stats.close_reasons too small");

static const struct conn_err_kind unknown = {
    "?", 500, SOCKS5_REP_GENERAL, STATS_OUT_UPSTREAM_ERROR, 0, I };

const struct conn_err_kind *conn_err_kind(enum conn_err err)
{
    return (size_t)err < PF_ARRAY_LEN(kinds) ? &kinds[err] : &unknown;
}

const char *conn_err_name(enum conn_err err)
{
    return conn_err_kind(err)->name;
}
