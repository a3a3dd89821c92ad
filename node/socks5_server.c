/* SOCKS5 handshake on client conns; see socks5_server.h. */
#include "socks5_server.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>

#include "access_log.h"
#include "attempt.h"
#include "auth.h"
#include "clog.h"
#include "conn.h"
#include "log.h"
#include "socks5.h"
#include "str.h"
#include "user_meter.h"
#include "user_store.h"

enum socks5_step {
    STEP_GREETING = 0,
    STEP_AUTH,
    STEP_REQUEST,
    STEP_DONE,                  /* request accepted: dialing or replying */
};

/* The SOCKS5 protocol's per-conn state (c->proto). */
struct socks5_session {
    struct attempt   att;       /* embedded: where the tunnel goes */
    enum socks5_step step;      /* handshake progress in CONN_ST_SOCKS5 */
    int              is_replied;/* the reply to the request went out */
    struct access_mark mark;    /* the access log line of the tunnel */
    struct user_who  user;      /* the authenticated user (STEP_AUTH) */
    int              is_authed; /* user holds who authenticated */
    struct user_tap  tap;       /* the user's meter (user_meter.h) */
};

static const struct conn_ops socks5_ops;

static struct socks5_session *session_of(const struct conn *c)
{
    return c->proto;
}

size_t socks5_server_state_size(void)
{
    return sizeof(struct socks5_session);
}

static void socks5_release(struct conn *c)
{
    user_meter_tap_end(c->ctx->meter, &session_of(c)->tap);
    attempt_deinit(&session_of(c)->att);
}

static void on_read(struct conn *c);

/* Sets up the SOCKS5 state in <c> (zeroed) and starts the handshake. */
static void start(struct conn *c)
{
    struct socks5_session *s = session_of(c);
    if (attempt_init(&s->att, c) != PF_OK) {
        conn_close(c, CONN_ERR_INTERNAL);
        return;
    }
    s->step = STEP_GREETING;
    c->ctx->stats.socks5_total++;
    conn_set_state(c, CONN_ST_SOCKS5);
    on_read(c);
}

void socks5_server_accept(struct node_ctx *ctx, int fd, const struct sockaddr *sa, int is_reject)
{
    if (is_reject) {
        ctx->stats.rejected_over_limit++;
        close(fd);
        return;
    }
    struct conn *c = conn_create(ctx, fd, sa, &socks5_ops, sizeof(struct socks5_session), 0);
    if (c != NULL)
        start(c);
}

void socks5_server_take_over(struct conn *c)
{
    memset(c->proto, 0, sizeof(struct socks5_session));
    c->ops = &socks5_ops;
    start(c);
}

/* The tunnel ends with <reason> before it was set up: its access log line
 * (as HTTP status <status>), then flush and close. */
static void end_and_close(struct conn *c, int status, enum conn_err reason)
{
    struct socks5_session *s = session_of(c);
    access_mark_answer(&s->mark, status);
    access_mark_end(&s->mark, c, &s->att, reason);
    conn_flush_and_close(c, reason);
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
    struct socks5_session *s = session_of(c);
    struct auth_user au;
    struct auth_user *u = &au;
    if (str_has_nul(up->user, up->user_len))
        return 0;
    struct auth_source src;
    user_store_auth_source(c->ctx->users, &src);
    int ok = auth_check_user_from(c->cn, &src, up->user, up->pass, up->pass_len, u);
    user_who_from(&s->user, u);
    if (ok)
        access_mark_user(&s->mark, c, s->user.name);
    if (u->reason[0] != '\0') {
        clog_info(c, "SOCKS5 user name refused: %s", u->reason);
        c->ctx->stats.user_param_errors++;
    }
    s->is_authed = ok;
    attempt_set_session_user(&s->att, u);
    return ok;
}

/* The reply code for a failed request: the upstream's own SOCKS5 code when
 * it gave one, the connect errno in direct mode, else the table's. */
static uint8_t rep_for(const struct conn *c, enum conn_err reason)
{
    const struct attempt *a = &session_of(c)->att;
    const struct dial *d = &c->dial;
    if (reason == CONN_ERR_UPSTREAM_BAD_REPLY && a->has_up && dial_scheme_is_socks(a->up.scheme) &&
        d->reply_status > 0 && d->reply_status <= SOCKS5_REP_ATYP_UNSUPPORTED)
        return (uint8_t)d->reply_status;
    if (reason == CONN_ERR_UPSTREAM_REFUSED) {
        if (a->has_up)
            return SOCKS5_REP_GENERAL;      /* our upstream is down, not the destination */
        if (d->sys_errno == ENETUNREACH)
            return SOCKS5_REP_NET_UNREACHABLE;
        if (d->sys_errno == EHOSTUNREACH)
            return SOCKS5_REP_HOST_UNREACHABLE;
    }
    return conn_err_kind(reason)->socks_rep;
}

/* Sends the failure reply for <reason>, counts it, flushes and closes. */
static void send_reply_error(struct conn *c, enum conn_err reason)
{
    struct node_stats *st = &c->ctx->stats;
    uint8_t rep = rep_for(c, reason);
    int status = conn_err_kind(reason)->http_status;
    if (status == 502) st->errors_502++;
    if (status == 503) st->errors_503++;
    if (status == 504) st->errors_504++;
    if (reason == CONN_ERR_POLICY) st->policy_denials++;
    session_of(c)->is_replied = 1;
    uint8_t r[32];
    int n = socks5_encode_reply(rep, NULL, r, sizeof(r));
    if (conn_client_write(c, r, (size_t)n) != PF_OK) {
        conn_close(c, CONN_ERR_INTERNAL);
        return;
    }
    clog_debug(c, "socks5 reply 0x%02x %s (%s)", rep, socks5_rep_name(rep), conn_err_name(reason));
    end_and_close(c, status, reason);
}

/* ops->reply_error: the SOCKS5 reply of <reason> (conn_err.h, refined by
 * the dial's outcome). */
static void socks5_reply_error(struct conn *c, enum conn_err reason)
{
    CONN_ASSERT(c, c->state == CONN_ST_SOCKS5 || c->state == CONN_ST_DIALING);
    if (session_of(c)->is_replied) {
        conn_close(c, reason);
        return;
    }
    c->ctx->stats.outcomes[1][conn_err_kind(reason)->outcome]++;
    send_reply_error(c, reason);
}

/* Queues the success reply (BND = the local address of c->ubev). Returns
 * PF_OK or PF_ENOMEM. */
static int reply_success(struct conn *c)
{
    struct sockaddr_storage ss;
    socklen_t sslen = sizeof(ss);
    memset(&ss, 0, sizeof(ss));
    const struct sockaddr *bound = NULL;
    if (getsockname(bufferevent_getfd(c->ubev), (struct sockaddr *)&ss, &sslen) == 0)
        bound = (const struct sockaddr *)&ss;
    uint8_t r[32];
    int n = socks5_encode_reply(SOCKS5_REP_SUCCEEDED, bound, r, sizeof(r));
    if (n < 0)
        return PF_ENOMEM;
    return conn_client_write(c, r, (size_t)n);
}

/* ops->on_upstream_ready: the tunnel is up. */
static void socks5_on_upstream_ready(struct conn *c)
{
    CONN_ASSERT(c, c->state == CONN_ST_DIALING);
    if (reply_success(c) != PF_OK) {
        conn_close(c, CONN_ERR_INTERNAL);
        return;
    }
    session_of(c)->is_replied = 1;
    access_mark_answer(&session_of(c)->mark, 200);
    c->ctx->stats.responses_2xx++;
    c->ctx->stats.outcomes[1][STATS_OUT_OK]++;
    conn_tunnel_start(c);
}

/* Consumes one message of the current step. Returns 1 to go on, 0 to wait
 * for more bytes or when the conn moved on (reply, close, dial). */
static int step(struct conn *c)
{
    struct socks5_session *s = session_of(c);
    struct evbuffer *in = bufferevent_get_input(c->cbev);
    size_t len = PF_MIN_OF(evbuffer_get_length(in), (size_t)SOCKS5_USERPASS_MAX);
    if (len == 0)
        return 0;
    const uint8_t *p = evbuffer_pullup(in, (ev_ssize_t)len);
    size_t used = 0;
    int rc;
    switch (s->step) {
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
        /* a tunnel asked for: from here on it gets an access log line */
        access_mark_begin(&s->mark, c, "SOCKS5", used);
        struct auth_source src;
        user_store_auth_source(c->ctx->users, &src);
        uint8_t want = auth_is_required(c->cn, &src) ? SOCKS5_METHOD_USERPASS : SOCKS5_METHOD_NONE;
        uint8_t answer[2] = { SOCKS5_VERSION, want };
        if (!socks5_greeting_has(&g, want)) {
            answer[1] = SOCKS5_METHOD_NO_ACCEPTABLE;
            clog_info(c, "socks5: client offers no acceptable method (want 0x%02x)", want);
            if (send_bytes(c, answer, sizeof(answer)) == PF_OK) {
                if (want == SOCKS5_METHOD_USERPASS)
                    c->ctx->stats.auth_failures++;
                end_and_close(c, want == SOCKS5_METHOD_USERPASS ? 407 : 400,
                              want == SOCKS5_METHOD_USERPASS ? CONN_ERR_AUTH
                                                             : CONN_ERR_BAD_REQUEST);
            }
            return 0;
        }
        if (send_bytes(c, answer, sizeof(answer)) != PF_OK)
            return 0;
        s->step = want == SOCKS5_METHOD_USERPASS ? STEP_AUTH : STEP_REQUEST;
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
            end_and_close(c, 407, CONN_ERR_AUTH);
            return 0;
        }
        s->step = STEP_REQUEST;
        return 1;
    }
    case STEP_REQUEST: {
        struct socks5_request req;
        rc = socks5_parse_request(p, len, &req, &used);
        if (rc == PF_EAGAIN)
            return 0;
        s->step = STEP_DONE;
        c->ctx->stats.requests_total++;
        c->nreq++;
        if (rc != PF_OK) {
            clog_debug(c, "socks5: bad request: %s", socks5_rep_name(req.err_rep));
            uint8_t r[32];
            int n = socks5_encode_reply(req.err_rep, NULL, r, sizeof(r));
            if (send_bytes(c, r, (size_t)n) == PF_OK)
                end_and_close(c, 400, CONN_ERR_BAD_REQUEST);
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
                end_and_close(c, 400, CONN_ERR_BAD_REQUEST);
            return 0;
        }
        if (s->is_authed) {
            int retry_after_s = 0;
            enum conn_err k = user_meter_admit_user(c->ctx, c->cn, &s->user, &s->tap, &c->bytes_in,
                                                    &c->bytes_out, &retry_after_s);
            if (k != CONN_ERR_NONE) {
                clog_info(c, "socks5: user %s over its limit (%s)", s->user.name,
                          conn_err_name(k));
                send_reply_error(c, k);
                return 0;
            }
        }
        struct attempt *a = &s->att;
        if (str_copy(a->tgt.host, sizeof(a->tgt.host), req.host, strlen(req.host)) != PF_OK) {
            send_reply_error(c, CONN_ERR_BAD_REQUEST);
            return 0;
        }
        a->tgt.port = req.port;
        a->tgt.is_ipv6 = req.atyp == SOCKS5_ATYP_IPV6;
        a->tgt.path = NULL;
        a->verb = "SOCKS5 CONNECT";
        a->is_tunnel = 1;
        attempt_set_dest(a);
        clog_debug(c, "SOCKS5 CONNECT %s", a->dest);
        attempt_begin(a);
        return 0;
    }
    default:
        return 0;       /* bytes after the request wait for the tunnel */
    }
}

static void on_read(struct conn *c)
{
    while (!c->is_closing && c->state == CONN_ST_SOCKS5 && step(c))
        ;
}

/* ops->on_client_data */
static void socks5_on_client_data(struct conn *c)
{
    CONN_ASSERT(c, c->state == CONN_ST_SOCKS5 || c->state == CONN_ST_DIALING);
    if (c->state == CONN_ST_SOCKS5)
        on_read(c);
    /* DIALING: kept (bounded by the read watermark) for the tunnel */
}

/* ops->on_client_eof */
static void socks5_on_client_eof(struct conn *c)
{
    CONN_ASSERT(c, c->state == CONN_ST_SOCKS5 || c->state == CONN_ST_DIALING);
    conn_close(c, CONN_ERR_CLIENT_EOF);
}

/* ops->on_timeout: the handshake, or the dial, took too long. */
static void socks5_on_timeout(struct conn *c)
{
    CONN_ASSERT(c, c->state == CONN_ST_SOCKS5 || c->state == CONN_ST_DIALING);
    if (c->state == CONN_ST_DIALING) {
        attempt_on_timeout(&session_of(c)->att);
        return;
    }
    clog_debug(c, "socks5 handshake not done within %d ms", c->cn->header_timeout_ms);
    conn_close(c, CONN_ERR_HEADER_TIMEOUT);
}

/* ops->on_close: the tunnel's access log line, unless written already. */
static void socks5_on_close(struct conn *c, enum conn_err reason)
{
    struct socks5_session *s = session_of(c);
    access_mark_end(&s->mark, c, &s->att, reason);
}

/* ops->is_idle: a SOCKS5 conn is never between requests. */
static int socks5_is_idle(const struct conn *c)
{
    (void)c;
    return 0;
}

static const struct conn_ops socks5_ops = {
    .on_client_data    = socks5_on_client_data,
    .on_client_eof     = socks5_on_client_eof,
    .on_upstream_ready = socks5_on_upstream_ready,
    .on_upstream_data  = NULL,          /* never in FORWARD */
    .on_upstream_close = NULL,
    .on_timeout        = socks5_on_timeout,
    .reply_error       = socks5_reply_error,
    .is_idle           = socks5_is_idle,
    .release           = socks5_release,
    .on_close          = socks5_on_close,
};
