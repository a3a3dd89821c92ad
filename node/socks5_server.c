/* SOCKS5 handshake on client conns; see socks5_server.h. */
#include "socks5_server.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>

#include "auth.h"
#include "http_proxy.h"
#include "clog.h"
#include "log.h"
#include "socks5.h"
#include "str.h"

enum {
    STEP_GREETING = 0,
    STEP_AUTH,
    STEP_REQUEST,
    STEP_DONE,                  /* request accepted: dialing or replying */
};

void socks5_server_start(struct conn *c)
{
    c->is_socks5 = 1;
    c->socks5_step = STEP_GREETING;
    c->ctx->stats.socks5_total++;
    conn_set_state(c, CONN_ST_SOCKS5);
    socks5_server_on_read(c);
}

void socks5_server_on_timeout(struct conn *c)
{
    clog_debug(c, "socks5 handshake not done within %d ms", c->ctx->conf.node.header_timeout_ms);
    conn_close(c, CONN_ERR_HEADER_TIMEOUT);
}

static int send_bytes(struct conn *c, const void *buf, size_t len)
{
    if (conn_client_write(c, buf, len) != PF_OK) {
        conn_close(c, CONN_ERR_INTERNAL);
        return PF_ENOMEM;
    }
    return PF_OK;
}

/* Returns 1 when <up> matches one of node.users (auth.h). The user name
 * may carry a session suffix (node.session_tag), as on the HTTP side: the
 * base name is checked, the session becomes sticky. */
static int check_user(struct conn *c, const struct socks5_userpass *up)
{
    struct auth_user u;
    if (str_has_nul(up->user, up->user_len))
        return 0;
    int ok = auth_check_user(&c->ctx->conf.node, up->user, up->pass, up->pass_len, &u);
    http_proxy_set_session(c, &u);
    return ok;
}

/* Consumes one message of the current step. Returns 1 to go on, 0 to wait
 * for more bytes or when the conn moved on (reply, close, dial). */
static int step(struct conn *c)
{
    struct evbuffer *in = bufferevent_get_input(c->cbev);
    size_t len = PF_MIN_OF(evbuffer_get_length(in), (size_t)SOCKS5_USERPASS_MAX);
    if (len == 0)
        return 0;
    const uint8_t *p = evbuffer_pullup(in, (ev_ssize_t)len);
    size_t used = 0;
    int rc;
    switch (c->socks5_step) {
    case STEP_GREETING: {
        struct socks5_greeting g;
        rc = socks5_parse_greeting(p, len, &g, &used);
        if (rc == PF_EAGAIN)
            return 0;
        if (rc != PF_OK) {
            clog_debug(c, "%s", "socks5: bad greeting");
            conn_close(c, CONN_ERR_BAD_REQUEST);
            return 0;
        }
        evbuffer_drain(in, used);
        c->bytes_in += used;
        c->ctx->stats.bytes_in += used;
        uint8_t want = c->ctx->conf.node.nusers > 0 ? SOCKS5_METHOD_USERPASS : SOCKS5_METHOD_NONE;
        uint8_t answer[2] = { SOCKS5_VERSION, want };
        if (!socks5_greeting_has(&g, want)) {
            answer[1] = SOCKS5_METHOD_NO_ACCEPTABLE;
            clog_info(c, "socks5: client offers no acceptable method (want 0x%02x)", want);
            if (send_bytes(c, answer, sizeof(answer)) == PF_OK) {
                if (want == SOCKS5_METHOD_USERPASS)
                    c->ctx->stats.auth_failures++;
                conn_flush_and_close(c, want == SOCKS5_METHOD_USERPASS ? CONN_ERR_AUTH
                                                                       : CONN_ERR_BAD_REQUEST);
            }
            return 0;
        }
        if (send_bytes(c, answer, sizeof(answer)) != PF_OK)
            return 0;
        c->socks5_step = want == SOCKS5_METHOD_USERPASS ? STEP_AUTH : STEP_REQUEST;
        return 1;
    }
    case STEP_AUTH: {
        struct socks5_userpass up;
        rc = socks5_parse_userpass(p, len, &up, &used);
        if (rc == PF_EAGAIN)
            return 0;
        if (rc != PF_OK) {
            clog_debug(c, "%s", "socks5: bad username/password request");
            conn_close(c, CONN_ERR_BAD_REQUEST);
            return 0;
        }
        int ok = check_user(c, &up);
        memset(&up, 0, sizeof(up));
        evbuffer_drain(in, used);
        c->bytes_in += used;
        c->ctx->stats.bytes_in += used;
        uint8_t answer[2] = { SOCKS5_AUTH_VERSION, ok ? 0x00 : 0x01 };
        if (send_bytes(c, answer, sizeof(answer)) != PF_OK)
            return 0;
        if (!ok) {
            clog_info(c, "%s", "socks5: authentication failed");
            c->ctx->stats.auth_failures++;
            conn_flush_and_close(c, CONN_ERR_AUTH);
            return 0;
        }
        c->socks5_step = STEP_REQUEST;
        return 1;
    }
    case STEP_REQUEST: {
        struct socks5_request req;
        rc = socks5_parse_request(p, len, &req, &used);
        if (rc == PF_EAGAIN)
            return 0;
        c->socks5_step = STEP_DONE;
        c->ctx->stats.requests_total++;
        c->nreq++;
        if (rc != PF_OK) {
            clog_debug(c, "socks5: bad request: %s", socks5_rep_name(req.err_rep));
            uint8_t r[32];
            int n = socks5_encode_reply(req.err_rep, NULL, r, sizeof(r));
            if (send_bytes(c, r, (size_t)n) == PF_OK)
                conn_flush_and_close(c, CONN_ERR_BAD_REQUEST);
            return 0;
        }
        evbuffer_drain(in, used);
        c->bytes_in += used;
        c->ctx->stats.bytes_in += used;
        if (req.cmd != SOCKS5_CMD_CONNECT) {
            clog_info(c, "socks5: command 0x%02x not supported", req.cmd);
            uint8_t r[32];
            int n = socks5_encode_reply(SOCKS5_REP_CMD_UNSUPPORTED, NULL, r, sizeof(r));
            if (send_bytes(c, r, (size_t)n) == PF_OK)
                conn_flush_and_close(c, CONN_ERR_BAD_REQUEST);
            return 0;
        }
        if (str_copy(c->tgt.host, sizeof(c->tgt.host), req.host, strlen(req.host)) != PF_OK) {
            socks5_server_reply_error(c, CONN_ERR_BAD_REQUEST);
            return 0;
        }
        c->tgt.port = req.port;
        c->tgt.is_ipv6 = req.atyp == SOCKS5_ATYP_IPV6;
        c->tgt.path = NULL;
        http_proxy_start_tunnel(c);
        return 0;
    }
    default:
        return 0;       /* bytes after the request wait for the tunnel */
    }
}

void socks5_server_on_read(struct conn *c)
{
    while (!c->is_closing && c->state == CONN_ST_SOCKS5 && step(c))
        ;
}

/* The reply code for a failed request: the upstream's own SOCKS5 code when
 * it gave one, the connect errno in direct mode, else the table's. */
static uint8_t rep_for(const struct conn *c, enum conn_err reason)
{
    const struct dial *d = &c->dial;
    if (reason == CONN_ERR_UPSTREAM_BAD_REPLY && c->has_up && dial_scheme_is_socks(c->up.scheme) &&
        d->reply_status > 0 && d->reply_status <= SOCKS5_REP_ATYP_UNSUPPORTED)
        return (uint8_t)d->reply_status;
    if (reason == CONN_ERR_UPSTREAM_REFUSED) {
        if (c->has_up)
            return SOCKS5_REP_GENERAL;      /* our upstream is down, not the destination */
        if (d->sys_errno == ENETUNREACH)
            return SOCKS5_REP_NET_UNREACHABLE;
        if (d->sys_errno == EHOSTUNREACH)
            return SOCKS5_REP_HOST_UNREACHABLE;
    }
    return conn_err_kind(reason)->socks_rep;
}

void socks5_server_reply_error(struct conn *c, enum conn_err reason)
{
    struct node_stats *st = &c->ctx->stats;
    uint8_t rep = rep_for(c, reason);
    int status = conn_err_kind(reason)->http_status;
    if (status == 502) st->errors_502++;
    if (status == 503) st->errors_503++;
    if (status == 504) st->errors_504++;
    if (reason == CONN_ERR_POLICY) st->policy_denials++;
    c->is_resp_started = 1;
    uint8_t r[32];
    int n = socks5_encode_reply(rep, NULL, r, sizeof(r));
    if (conn_client_write(c, r, (size_t)n) != PF_OK) {
        conn_close(c, CONN_ERR_INTERNAL);
        return;
    }
    clog_debug(c, "socks5 reply 0x%02x %s (%s)", rep, socks5_rep_name(rep), conn_err_name(reason));
    conn_flush_and_close(c, reason);
}

int socks5_server_reply_success(struct conn *c, struct bufferevent *ubev)
{
    struct sockaddr_storage ss;
    socklen_t sslen = sizeof(ss);
    memset(&ss, 0, sizeof(ss));
    const struct sockaddr *bound = NULL;
    if (getsockname(bufferevent_getfd(ubev), (struct sockaddr *)&ss, &sslen) == 0)
        bound = (const struct sockaddr *)&ss;
    uint8_t r[32];
    int n = socks5_encode_reply(SOCKS5_REP_SUCCEEDED, bound, r, sizeof(r));
    if (n < 0)
        return PF_ENOMEM;
    return conn_client_write(c, r, (size_t)n);
}
