/* HTTP proxying on a conn; see http_proxy.h. */
#include "http_proxy.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "access_log.h"
#include "user_meter.h"
#include "user_store.h"
#include "attempt.h"
#include "auth.h"
#include "ban_control.h"
#include "clock.h"
#include "clog.h"
#include "conn.h"
#include "http_head.h"
#include "log.h"
#include "socks5.h"
#include "socks5_server.h"

/* Where the answer to the current request stands. Only what the client
 * got matters: once anything of an answer went out the request is never
 * retried, and a failure can only cut the connection. */
enum http_resp_phase {
    HTTP_RESP_NONE = 0,         /* nothing went to the client yet */
    HTTP_RESP_INTERIM,          /* a 1xx went out; the final head is still to come */
    HTTP_RESP_BODY,             /* the final head went out; its body is relayed */
    HTTP_RESP_TUNNEL,           /* "200 Connection established" went out */
    HTTP_RESP_ERROR,            /* the node's own error answer went out */
};

/* One request and its response (the exchange), reset by exchange_reset()
 * when it ends. Its destination and upstream live in the attempt. */
struct http_exchange {
    struct http_head    *req;           /* owned: from the first head byte to the exchange's end;
                                         * NULL in a tunnel */
    struct http_head    *resp;          /* owned: from sending the request to the exchange's end */
    struct http_body     req_body;
    struct http_body     resp_body;
    uint64_t             req_body_sent; /* body bytes written towards the upstream */
    enum http_resp_phase phase;
    int                  is_connect;
    int                  is_head_req;
    int                  is_req_keep_alive;    /* the client asked for keep-alive */
    int                  is_req_sent;          /* head and body all written to the upstream
                                                * socket: response_timeout_ms runs until the
                                                * final head */
    int                  is_client_keep_alive; /* promised on this response */
    int                  is_upstream_keep_alive;
    int                  upstream_eof;         /* FORWARD: upstream sent FIN (1) or failed (2) */
    int64_t              req_start_us;         /* head parsed: time-to-first-byte origin */
    struct access_mark   mark;                 /* the access log line of this exchange */
};

/* The HTTP protocol's per-conn state (c->proto). */
struct http_session {
    struct attempt       att;           /* embedded: where the exchange goes */
    struct http_exchange x;             /* embedded: the current exchange */
    int                  is_head_started; /* READ_HEAD: bytes of the next head arrived */
    struct user_tap      tap;           /* the authenticated user's meter (user_meter.h) */
};

static const struct conn_ops http_ops;

static struct http_session *session_of(const struct conn *c)
{
    return c->proto;
}

static void exchange_reset(struct http_session *hs)
{
    struct http_exchange *x = &hs->x;
    attempt_reset(&hs->att);
    http_head_destroy(x->req);
    http_head_destroy(x->resp);
    memset(x, 0, sizeof(*x));
    http_body_init(&x->req_body, HTTP_FRAMING_NONE, 0);
    http_body_init(&x->resp_body, HTTP_FRAMING_NONE, 0);
}

static void http_release(struct conn *c)
{
    struct http_session *hs = session_of(c);
    user_meter_tap_end(c->ctx->meter, &hs->tap);
    exchange_reset(hs);
    attempt_deinit(&hs->att);
}

void http_proxy_accept(struct node_ctx *ctx, int fd, const struct sockaddr *sa, int is_reject)
{
    /* a conn whose first byte is 0x05 becomes a SOCKS5 one in place */
    size_t size = PF_MAX_OF(sizeof(struct http_session), socks5_server_state_size());
    struct conn *c = conn_create(ctx, fd, sa, &http_ops, size, is_reject);
    if (c == NULL)
        return;
    if (attempt_init(&session_of(c)->att, c) != PF_OK) {
        conn_close(c, CONN_ERR_INTERNAL);
        return;
    }
    if (is_reject)
        conn_reply_error(c, CONN_ERR_OVER_LIMIT);
}

/* "host[:port]" with IPv6 brackets; the port is left out when it is 80. */
static void format_host_header(const struct http_target *t, char *buf, size_t len)
{
    const char *lb = t->is_ipv6 ? "[" : "", *rb = t->is_ipv6 ? "]" : "";
    if (t->port == 80)
        snprintf(buf, len, "%s%s%s", lb, t->host, rb);
    else
        snprintf(buf, len, "%s%s%s:%u", lb, t->host, rb, t->port);
}

/* Appends "name: value\r\n" with one evbuffer_add when the line fits a
 * stack buffer (no format parsing: evbuffer_add_printf per header line was
 * ~6 % of the CPU in the forward profile). Returns 0 or -1. */
static int add_header_line(struct evbuffer *out, const struct http_header *h)
{
    char line[512];
    size_t n = h->name_len + 2 + h->value_len + 2;
    if (n <= sizeof(line)) {
        memcpy(line, h->name, h->name_len);
        line[h->name_len] = ':';
        line[h->name_len + 1] = ' ';
        memcpy(line + h->name_len + 2, h->value, h->value_len);
        line[n - 2] = '\r';
        line[n - 1] = '\n';
        return evbuffer_add(out, line, n);
    }
    if (evbuffer_add(out, h->name, h->name_len) != 0 || evbuffer_add(out, ": ", 2) != 0 ||
        evbuffer_add(out, h->value, h->value_len) != 0)
        return -1;
    return evbuffer_add(out, "\r\n", 2);
}

static const char *status_text(int status)
{
    switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 407: return "Proxy Authentication Required";
    case 408: return "Request Timeout";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    default:  return "Error";
    }
}

/* ops->reply_error: a complete small answer with the kind's status
 * (Connection: close), then flush and close. */
static void http_reply_error(struct conn *c, enum conn_err reason)
{
    struct http_session *hs = session_of(c);
    struct http_exchange *x = &hs->x;
    struct node_stats *st = &c->ctx->stats;
    CONN_ASSERT(c, c->state == CONN_ST_READ_HEAD || c->state == CONN_ST_DIALING ||
                   c->state == CONN_ST_FORWARD);
    const struct conn_err_kind *k = conn_err_kind(reason);
    int status = k->http_status;
    if (x->phase != HTTP_RESP_NONE || status == 0) {
        /* part of an answer already went out: all we can do is cut it */
        conn_close(c, reason);
        return;
    }
    /* an answer to a head cut short (400, 408, 431) is a request too */
    if (!access_mark_is_open(&x->mark) && hs->is_head_started)
        access_mark_begin(&x->mark, c, "-", 0);
    if (x->req != NULL && x->req->head_len > 0)   /* an accepted request or tunnel */
        st->outcomes[x->is_connect ? 1 : 0][k->outcome]++;
    x->phase = HTTP_RESP_ERROR;
    if (status >= 500)
        st->responses_5xx++;
    else
        st->responses_4xx++;
    if (status == 502) st->errors_502++;
    if (status == 503) st->errors_503++;
    if (status == 504) st->errors_504++;
    if (status == 407) st->auth_failures++;
    if (status == 403) st->policy_denials++;
    const char *text = status_text(status);
    char body[128 + sizeof(hs->att.note)];
    int blen = snprintf(body, sizeof(body), "%d %s\n%s%s", status, text, hs->att.note,
                        hs->att.note[0] != '\0' ? "\n" : "");
    const char *extra = "";
    char retry_after[48];
    if (status == 503 || status == 429) {
        snprintf(retry_after, sizeof(retry_after), "Retry-After: %d\r\n",
                 hs->att.retry_after_s > 0 ? hs->att.retry_after_s : 1);
        extra = retry_after;
    } else if (status == 407)
        extra = "Proxy-Authenticate: Basic realm=\"proxyfleet\"\r\n";
    char head[512];
    int hlen = snprintf(head, sizeof(head),
                        "HTTP/1.1 %d %s\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n"
                        "Connection: close\r\n%s\r\n", status, text, blen, extra);
    if (conn_client_write(c, head, (size_t)hlen) != PF_OK ||
        (!x->is_head_req && conn_client_write(c, body, (size_t)blen) != PF_OK)) {
        conn_close(c, CONN_ERR_INTERNAL);
        return;
    }
    clog_debug(c, "answered %d (%s)", status, k->name);
    access_mark_answer(&x->mark, status);
    access_mark_end(&x->mark, c, &hs->att, reason);
    conn_flush_and_close(c, reason);
}

/* A failure of the exchange after the request went upstream, before any
 * of the response reached the client (else the conn is cut): retried when
 * the request can be replayed. RFC 9110 9.2.2: a proxy must not replay a
 * non-idempotent request the upstream may have acted on; in FORWARD,
 * send_request() wrote its head. */
static void exchange_fail(struct conn *c, struct http_session *hs, enum conn_err reason,
                          int is_retryable)
{
    struct http_exchange *x = &hs->x;
    if (c->state == CONN_ST_FORWARD && !http_method_is_idempotent(x->req->method))
        is_retryable = 0;
    if (x->phase != HTTP_RESP_NONE || x->req_body_sent > 0)
        is_retryable = 0;
    attempt_fail(&hs->att, reason, is_retryable);
}

/* Moves body bytes from <in> to <out> as framed by <b>. Returns PF_OK when the
 * body is complete, PF_EAGAIN when more is expected or <out> is full, PF_EPROTO. */
static int relay_body(struct http_body *b, struct evbuffer *in, struct evbuffer *out,
                      uint64_t *moved)
{
    *moved = 0;
    while (!b->is_done && evbuffer_get_length(in) > 0 &&
           evbuffer_get_length(out) < CONN_HIGH_WATER) {
        struct evbuffer_iovec v;
        if (evbuffer_peek(in, -1, NULL, &v, 1) < 1 || v.iov_len == 0)
            break;
        size_t consumed = 0;
        int rc = http_body_feed(b, v.iov_base, v.iov_len, &consumed);
        if (consumed > 0) {
            evbuffer_remove_buffer(in, out, consumed);
            *moved += consumed;
        }
        if (rc == PF_EPROTO)
            return rc;
    }
    return b->is_done ? PF_OK : PF_EAGAIN;
}

/* 1 when node.response_timeout_ms bounds the wait for a response head: set,
 * and not longer than idle_timeout_ms, which bounds it otherwise (as it
 * did before response_timeout_ms existed). */
static int is_response_timeout_on(const struct conf_node *cn)
{
    return cn->response_timeout_ms > 0 && cn->response_timeout_ms <= cn->idle_timeout_ms;
}

/* 1 while the response deadline runs: the request is all out, the final
 * head not in yet. */
static int is_awaiting_head(const struct http_exchange *x)
{
    return x->is_req_sent && x->phase != HTTP_RESP_BODY;
}

/* Starts the response deadline (node.response_timeout_ms) once the request
 * head and body are all written to the upstream socket. While bytes are
 * still queued, the write low mark drops to 0 so that the conn calls
 * on_client_data again when they are out. */
static void await_response(struct conn *c, struct http_exchange *x)
{
    if (x->is_req_sent || x->phase == HTTP_RESP_BODY)
        return;
    if (evbuffer_get_length(bufferevent_get_output(c->ubev)) > 0) {
        bufferevent_setwatermark(c->ubev, EV_WRITE, 0, 0);
        return;
    }
    x->is_req_sent = 1;
    if (is_response_timeout_on(c->cn))
        conn_arm_timer(c, c->cn->response_timeout_ms);
}

/* FORWARD: relays request body bytes towards the upstream. */
static void forward_request(struct conn *c, struct http_session *hs)
{
    struct http_exchange *x = &hs->x;
    if (c->ubev == NULL)
        return;
    if (x->req_body.is_done) {
        await_response(c, x);
        return;
    }
    struct evbuffer *out = bufferevent_get_output(c->ubev);
    uint64_t moved = 0;
    int rc = relay_body(&x->req_body, bufferevent_get_input(c->cbev), out, &moved);
    x->req_body_sent += moved;
    c->bytes_in += moved;
    c->ctx->stats.bytes_in += moved;
    if (moved > 0)
        conn_arm_timer(c, c->cn->idle_timeout_ms);
    if (rc == PF_EPROTO) {
        clog_debug(c, "%s", "malformed chunked request body");
        if (x->phase != HTTP_RESP_NONE)
            conn_close(c, CONN_ERR_BAD_REQUEST);
        else
            conn_reply_error(c, CONN_ERR_BAD_REQUEST);
        return;
    }
    if (x->req_body.is_done)
        await_response(c, x);
    else if (evbuffer_get_length(out) >= CONN_HIGH_WATER)
        bufferevent_disable(c->cbev, EV_READ);
}

/* Writes the request head for the upstream into c->ubev and starts relaying. */
static void send_request(struct conn *c, struct http_session *hs)
{
    struct http_exchange *x = &hs->x;
    struct attempt *a = &hs->att;
    const struct http_head *req = x->req;
    struct evbuffer *out = bufferevent_get_output(c->ubev);
    char host[300];
    format_host_header(&a->tgt, host, sizeof(host));
    /* a SOCKS5 upstream gave us a tunnel to the origin: origin-form, no proxy credentials */
    int is_via_http_proxy = a->has_up && !dial_scheme_is_socks(a->up.scheme);
    int ok;
    if (is_via_http_proxy)
        ok = evbuffer_add_printf(out, "%s http://%s%s HTTP/1.%d\r\nHost: %s\r\n", req->method,
                                 host, a->tgt.path, req->version_minor, host) >= 0;
    else
        ok = evbuffer_add_printf(out, "%s %s HTTP/1.%d\r\nHost: %s\r\n", req->method,
                                 a->tgt.path, req->version_minor, host) >= 0;
    const char *sticky = c->cn->sticky_header;
    for (size_t i = 0; ok && i < req->nheaders; i++) {
        const struct http_header *h = &req->headers[i];
        if (http_head_is_hop_by_hop(req, i) || (h->name_len == 4 && strcasecmp(h->name, "host") == 0) ||
            (sticky[0] != '\0' && strcasecmp(h->name, sticky) == 0))
            continue;           /* the session header is ours: never forwarded */
        ok = add_header_line(out, h) == 0;
    }
    if (ok && is_via_http_proxy)
        ok = dial_append_upstream_auth(out, &a->up) == PF_OK;
    if (ok && req->version_minor == 0 && x->is_req_keep_alive)
        ok = evbuffer_add_printf(out, "Connection: keep-alive\r\n") >= 0;
    if (ok)
        ok = evbuffer_add(out, "\r\n", 2) == 0;
    if (!ok) {
        conn_reply_error(c, CONN_ERR_INTERNAL);
        return;
    }
    http_head_destroy(x->resp);
    x->resp = http_head_create(HTTP_HEAD_RESPONSE, (size_t)c->cn->max_header_bytes);
    if (x->resp == NULL) {
        conn_reply_error(c, CONN_ERR_INTERNAL);
        return;
    }
    conn_set_state(c, CONN_ST_FORWARD);
    x->is_req_sent = 0;
    x->upstream_eof = 0;
    /* a reused upstream may still have the low mark await_response() set */
    bufferevent_setwatermark(c->ubev, EV_WRITE, CONN_HIGH_WATER / 2, 0);
    conn_arm_timer(c, c->cn->idle_timeout_ms);
    forward_request(c, hs);
}

/* "<node.upstream_header>: <provider>/<short id>\r\n" of the upstream that
 * served (pool mode) into <buf>; "" when the header is off or no upstream
 * was used. */
static void format_upstream_header(const struct conn *c, const struct attempt *a, char *buf,
                                   size_t len)
{
    buf[0] = '\0';
    if (c->cn->upstream_header[0] != '\0' && a->has_up && a->nattempts > 0)
        snprintf(buf, len, "%s: %s/%s\r\n", c->cn->upstream_header, a->up.provider, a->up_sid);
}

/* ops->on_upstream_ready: the request goes out, or a CONNECT gets its 200
 * and becomes a tunnel. */
static void http_on_upstream_ready(struct conn *c)
{
    struct http_session *hs = session_of(c);
    struct http_exchange *x = &hs->x;
    /* READ_HEAD: the kept-alive connection was reused at once */
    CONN_ASSERT(c, c->state == CONN_ST_READ_HEAD || c->state == CONN_ST_DIALING);
    if (!x->is_connect) {
        send_request(c, hs);
        return;
    }
    char ok[UPSTREAM_NAME_MAX + sizeof(c->cn->upstream_header) + 96];
    char up[UPSTREAM_NAME_MAX + sizeof(c->cn->upstream_header) + 32];
    format_upstream_header(c, &hs->att, up, sizeof(up));
    int n = snprintf(ok, sizeof(ok), "HTTP/1.1 200 Connection established\r\n%s\r\n", up);
    if (n < 0 || (size_t)n >= sizeof(ok) || conn_client_write(c, ok, (size_t)n) != PF_OK) {
        conn_close(c, CONN_ERR_INTERNAL);
        return;
    }
    x->phase = HTTP_RESP_TUNNEL;
    access_mark_answer(&x->mark, 200);
    c->ctx->stats.responses_2xx++;
    c->ctx->stats.outcomes[1][STATS_OUT_OK]++;
    /* a tunnel never parses again */
    http_head_destroy(x->req);
    x->req = NULL;
    http_head_destroy(x->resp);
    x->resp = NULL;
    conn_tunnel_start(c);
}

/* Returns 1 when the request carries valid client credentials (or none are
 * needed). The user name may carry a session suffix (alice-session-42): the
 * base name is authenticated and the session becomes the sticky key. */
static int is_authorized(struct conn *c, struct http_session *hs, struct user_who *who,
                         int *is_required)
{
    struct auth_user au;
    struct auth_user *u = &au;
    struct auth_source src;
    user_store_auth_source(c->ctx->users, &src);
    hs->att.has_session = 0;
    *is_required = auth_is_required(c->cn, &src);
    int ok = auth_check_basic_from(c->cn, &src, http_head_get(hs->x.req, "proxy-authorization"), u);
    user_who_from(who, u);
    if (ok && *is_required)
        access_mark_user(&hs->x.mark, c, who->name);
    if (u->reason[0] != '\0') {
        /* unknown or malformed parameters: refused even without node.users,
         * with the reason (it quotes only what was validated) */
        snprintf(hs->att.note, sizeof(hs->att.note), "bad user name: %.200s", u->reason);
        c->ctx->stats.user_param_errors++;
        ok = 0;
    }
    attempt_set_session_user(&hs->att, u);
    return ok;
}

static void count_response(struct node_stats *st, int status);

/* A request to the reserved host (ban_control.h): answered here with
 * JSON, never forwarded; then the connection closes. */
static void answer_control(struct conn *c, struct http_session *hs)
{
    struct http_exchange *x = &hs->x;
    char *json = NULL;
    int status;
    if (x->is_connect || x->req->is_chunked || x->req->content_length > 0)
        status = ban_control_error(400, "use GET http://" BAN_CONTROL_HOST "/ban?session=..."
                                   "&domain=... without a body", &json);
    else
        status = ban_control_inband(c->ctx, hs->att.user, hs->att.tgt.path, &json);
    if (json == NULL) {
        conn_close(c, CONN_ERR_INTERNAL);
        return;
    }
    char head[256];
    size_t blen = strlen(json);
    int hlen = snprintf(head, sizeof(head),
                        "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\n"
                        "Content-Length: %zu\r\nConnection: close\r\n\r\n",
                        status, status_text(status), blen + 1);
    int rc = conn_client_write(c, head, (size_t)hlen);
    if (rc == PF_OK && !x->is_head_req)
        rc = conn_client_write(c, json, blen);
    if (rc == PF_OK && !x->is_head_req)
        rc = conn_client_write(c, "\n", 1);
    free(json);
    if (rc != PF_OK) {
        conn_close(c, CONN_ERR_INTERNAL);
        return;
    }
    x->phase = HTTP_RESP_ERROR;
    count_response(&c->ctx->stats, status);
    clog_debug(c, "answered %d to an in-band request", status);
    access_mark_answer(&x->mark, status);
    access_mark_end(&x->mark, c, &hs->att, CONN_ERR_DONE);
    conn_flush_and_close(c, CONN_ERR_DONE);
}

/* A complete request head is in x->req (READ_HEAD): admit it and start
 * its attempt, or answer an error. */
static void on_request(struct conn *c, struct http_session *hs)
{
    struct node_ctx *ctx = c->ctx;
    struct http_exchange *x = &hs->x;
    struct attempt *a = &hs->att;
    struct http_head *req = x->req;
    ctx->stats.requests_total++;
    access_mark_begin(&x->mark, c, req->method, req->head_len);
    x->is_connect = strcmp(req->method, "CONNECT") == 0;
    x->is_head_req = strcmp(req->method, "HEAD") == 0;
    if (req->version_minor == 1)
        x->is_req_keep_alive = !req->is_conn_close;
    else
        x->is_req_keep_alive = !req->is_conn_close &&
            (req->is_conn_keep_alive ||
             http_list_has_token(http_head_get(req, "proxy-connection"), "keep-alive"));
    struct user_who who;
    int is_required = 0;
    if (!is_authorized(c, hs, &who, &is_required)) {
        clog_info(c, "%s: proxy authentication failed or missing%s%s",
                  x->is_connect ? "CONNECT" : req->method, hs->att.note[0] != '\0' ? ": " : "",
                  hs->att.note);
        conn_reply_error(c, CONN_ERR_AUTH);
        return;
    }
    if (is_required) {
        int retry_after_s = 0;
        enum conn_err k = user_meter_admit_user(ctx, c->cn, &who, &hs->tap, &c->bytes_in,
                                                &c->bytes_out, &retry_after_s);
        if (k != CONN_ERR_NONE) {
            clog_info(c, "%s: user %s over its limit (%s)", x->is_connect ? "CONNECT" : req->method,
                      who.name, conn_err_name(k));
            a->retry_after_s = retry_after_s;
            conn_reply_error(c, k);
            return;
        }
    }
    struct pf_err err;
    pf_err_clear(&err);
    if (http_target_parse(req->target, x->is_connect, &a->tgt, &err) != PF_OK) {
        clog_debug(c, "bad request target: %s", err.msg);
        conn_reply_error(c, CONN_ERR_BAD_REQUEST);
        return;
    }
    if (x->is_connect && (req->is_chunked || req->content_length > 0)) {
        conn_reply_error(c, CONN_ERR_BAD_REQUEST);
        return;
    }
    attempt_set_dest(a);
    if (ban_is_control_host(a->tgt.host)) {
        answer_control(c, hs);
        return;
    }
    clog_debug(c, "%s %s", req->method, a->dest);
    a->verb = x->is_connect ? "CONNECT" : req->method;
    a->is_tunnel = x->is_connect;
    a->is_reusable = !x->is_connect && http_method_is_idempotent(req->method);
    if (c->cn->sticky_header[0] != '\0')
        attempt_set_session_key(a, http_head_get(req, c->cn->sticky_header));
    x->req_start_us = clock_mono_us();
    http_body_init(&x->req_body, x->is_connect ? HTTP_FRAMING_NONE : http_head_request_framing(req),
                   req->content_length);
    attempt_begin(a);
}

/* READ_HEAD: parses what arrived so far. */
static void read_head(struct conn *c, struct http_session *hs)
{
    struct http_exchange *x = &hs->x;
    struct evbuffer *in = bufferevent_get_input(c->cbev);
    size_t len = evbuffer_get_length(in);
    if (len == 0)
        return;
    if (c->nreq == 0 && !hs->is_head_started) {
        uint8_t first;
        if (evbuffer_copyout(in, &first, 1) == 1 && first == SOCKS5_VERSION) {
            /* SOCKS5 on the HTTP port: no request line starts with 0x05 */
            http_release(c);
            socks5_server_take_over(c);
            return;
        }
    }
    if (!hs->is_head_started) {
        hs->is_head_started = 1;
        /* a new exchange, nothing in flight: it meets a reload's settings */
        conn_use_current_settings(c);
        if (c->nreq > 0)   /* idle wait is over: the head deadline starts now */
            conn_arm_timer(c, c->cn->header_timeout_ms);
    }
    if (x->req == NULL) {   /* allocated when a head starts arriving */
        x->req = http_head_create(HTTP_HEAD_REQUEST, (size_t)c->cn->max_header_bytes);
        if (x->req == NULL) {
            conn_reply_error(c, CONN_ERR_INTERNAL);
            return;
        }
    }
    size_t n = PF_MIN_OF(len, x->req->max_bytes);
    const char *p = (const char *)evbuffer_pullup(in, (ev_ssize_t)n);
    int rc = http_head_parse(x->req, p, n);
    if (rc == PF_EAGAIN)
        return;
    if (rc == PF_ERANGE) {
        clog_debug(c, "request head rejected: %s", x->req->err.msg);
        conn_reply_error(c, CONN_ERR_HEAD_TOO_LARGE);
        return;
    }
    if (rc != PF_OK) {
        clog_debug(c, "request head rejected: %s", x->req->err.msg);
        conn_reply_error(c, CONN_ERR_BAD_REQUEST);
        return;
    }
    evbuffer_drain(in, x->req->head_len);
    c->bytes_in += x->req->head_len;
    c->ctx->stats.bytes_in += x->req->head_len;
    c->nreq++;
    hs->is_head_started = 0;
    on_request(c, hs);
}

/* Back to READ_HEAD for the next request on a kept-alive client, and parses
 * any pipelined bytes already received. */
static void next_request(struct conn *c, struct http_session *hs)
{
    exchange_reset(hs);
    conn_set_state(c, CONN_ST_READ_HEAD);
    bufferevent_setwatermark(c->cbev, EV_WRITE, 0, 0);
    bufferevent_enable(c->cbev, EV_READ | EV_WRITE);
    conn_arm_timer(c, c->cn->idle_timeout_ms);
    if (c->is_client_eof) {
        conn_close(c, CONN_ERR_NONE);
        return;
    }
    read_head(c, hs);
}

static void finish_exchange(struct conn *c, struct http_session *hs)
{
    struct http_exchange *x = &hs->x;
    access_mark_end(&x->mark, c, &hs->att, CONN_ERR_DONE);
    int is_reusable = x->is_upstream_keep_alive && x->req_body.is_done && c->ubev != NULL &&
                      evbuffer_get_length(bufferevent_get_input(c->ubev)) == 0;
    if (!is_reusable)
        conn_drop_upstream(c);
    /* draining (SIGTERM): no further request on this connection, even if
     * its response promised keep-alive before the signal */
    if (!x->is_client_keep_alive || !x->req_body.is_done || c->is_client_eof || c->ctx->is_draining) {
        conn_flush_and_close(c, CONN_ERR_DONE);
        return;
    }
    next_request(c, hs);
}

/* Writes <resp>'s status line and end-to-end headers to the client, with
 * node.upstream_header naming the upstream on a final answer (one the
 * upstream or the origin sent under that name is dropped: it could lie). */
static int write_response_head(struct conn *c, const struct http_head *resp, const char *conn_hdr)
{
    struct evbuffer *tmp = evbuffer_new();
    if (tmp == NULL)
        return PF_ENOMEM;
    const char *own = c->cn->upstream_header;
    int ok = evbuffer_add_printf(tmp, "HTTP/1.1 %03d %s\r\n", resp->status, resp->reason) >= 0;
    for (size_t i = 0; ok && i < resp->nheaders; i++) {
        if (http_head_is_hop_by_hop(resp, i) ||
            (own[0] != '\0' && strcasecmp(resp->headers[i].name, own) == 0))
            continue;
        ok = add_header_line(tmp, &resp->headers[i]) == 0;
    }
    if (ok && resp->status >= 200) {
        char up[UPSTREAM_NAME_MAX + sizeof(((struct conf_node *)0)->upstream_header) + 32];
        format_upstream_header(c, &session_of(c)->att, up, sizeof(up));
        ok = up[0] == '\0' || evbuffer_add(tmp, up, strlen(up)) == 0;
    }
    if (ok && conn_hdr != NULL)
        ok = evbuffer_add_printf(tmp, "Connection: %s\r\n", conn_hdr) >= 0;
    if (ok)
        ok = evbuffer_add(tmp, "\r\n", 2) == 0;
    size_t n = evbuffer_get_length(tmp);
    if (ok)
        ok = evbuffer_add_buffer(bufferevent_get_output(c->cbev), tmp) == 0;
    evbuffer_free(tmp);
    if (!ok)
        return PF_ENOMEM;
    c->bytes_out += n;
    c->ctx->stats.bytes_out += n;
    return PF_OK;
}

static void count_response(struct node_stats *st, int status)
{
    if (status < 200) st->responses_1xx++;
    else if (status < 300) st->responses_2xx++;
    else if (status < 400) st->responses_3xx++;
    else if (status < 500) st->responses_4xx++;
    else st->responses_5xx++;
}

/* Parses the response head. Returns 1 when the body may be relayed, 0 when
 * more bytes are needed or the conn moved on (error, retry). */
static int read_response_head(struct conn *c, struct http_session *hs)
{
    struct http_exchange *x = &hs->x;
    struct attempt *a = &hs->att;
    const struct conf_node *cn = c->cn;
    struct evbuffer *in = bufferevent_get_input(c->ubev);
    for (;;) {
        size_t len = evbuffer_get_length(in);
        if (len == 0)
            return 0;
        size_t n = PF_MIN_OF(len, x->resp->max_bytes);
        const char *p = (const char *)evbuffer_pullup(in, (ev_ssize_t)n);
        int rc = http_head_parse(x->resp, p, n);
        if (rc == PF_EAGAIN)
            return 0;
        if (rc != PF_OK) {
            clog_info(c, "%s %s: bad upstream response: %s", x->req->method, a->dest, x->resp->err.msg);
            exchange_fail(c, hs, CONN_ERR_UPSTREAM_BAD_REPLY, 0);
            return 0;
        }
        evbuffer_drain(in, x->resp->head_len);
        int status = x->resp->status;
        /* an HTTP upstream refusing our credentials; through a SOCKS5
         * upstream a 407 comes from the origin and is the client's */
        if (status == 407 && a->has_up && !dial_scheme_is_socks(a->up.scheme)) {
            clog_info(c, "%s %s: upstream refused our credentials (407)", x->req->method, a->dest);
            exchange_fail(c, hs, CONN_ERR_UPSTREAM_AUTH, 1);
            return 0;
        }
        if (status == 101) {    /* we never forward Upgrade, so this is a protocol error */
            exchange_fail(c, hs, CONN_ERR_UPSTREAM_BAD_REPLY, 0);
            return 0;
        }
        attempt_settle(a, 0);   /* a response head: the upstream works */
        if (status < 200) {     /* interim: relay and wait for the final one */
            if (write_response_head(c, x->resp, NULL) != PF_OK) {
                conn_close(c, CONN_ERR_INTERNAL);
                return 0;
            }
            x->phase = HTTP_RESP_INTERIM;
            count_response(&c->ctx->stats, status);
            if (x->is_req_sent && is_response_timeout_on(cn))
                conn_arm_timer(c, cn->response_timeout_ms);   /* alive: a fresh wait */
            http_head_deinit(x->resp);
            http_head_init(x->resp, HTTP_HEAD_RESPONSE, (size_t)cn->max_header_bytes);
            continue;
        }
        enum http_framing fr = http_head_response_framing(x->resp, x->is_head_req);
        x->is_client_keep_alive = x->is_req_keep_alive && fr != HTTP_FRAMING_UNTIL_CLOSE &&
                                  !c->is_client_eof && !c->ctx->is_draining;
        x->is_upstream_keep_alive = fr != HTTP_FRAMING_UNTIL_CLOSE && !x->resp->is_conn_close &&
                                    (x->resp->version_minor == 1 || x->resp->is_conn_keep_alive);
        if (write_response_head(c, x->resp, x->is_client_keep_alive ? "keep-alive" : "close") != PF_OK) {
            conn_close(c, CONN_ERR_INTERNAL);
            return 0;
        }
        x->phase = HTTP_RESP_BODY;
        access_mark_answer(&x->mark, status);
        conn_arm_timer(c, cn->idle_timeout_ms);   /* the body's deadline */
        count_response(&c->ctx->stats, status);
        hist_add(&c->ctx->stats.ttfb, clock_mono_us() - x->req_start_us);
        c->ctx->stats.outcomes[0][STATS_OUT_OK]++;
        http_body_init(&x->resp_body, fr, x->resp->content_length);
        return 1;
    }
}

/* The exchange ends with <reason> (its access log line now, not after
 * the flush and linger), then the conn flushes and closes. */
static void end_and_close(struct conn *c, struct http_session *hs, enum conn_err reason)
{
    access_mark_end(&hs->x.mark, c, &hs->att, reason);
    conn_flush_and_close(c, reason);
}

static void on_upstream_eof(struct conn *c, struct http_session *hs)
{
    struct http_exchange *x = &hs->x;
    if (x->phase == HTTP_RESP_BODY) {
        if (x->resp_body.framing == HTTP_FRAMING_UNTIL_CLOSE) {
            x->resp_body.is_done = 1;
            conn_drop_upstream(c);
            end_and_close(c, hs, CONN_ERR_DONE);
        } else {
            end_and_close(c, hs, CONN_ERR_UPSTREAM_EOF);   /* truncated: the client sees it */
        }
        return;
    }
    if (evbuffer_get_length(bufferevent_get_input(c->ubev)) > 0 || (x->resp != NULL && x->resp->scan > 0)) {
        exchange_fail(c, hs, CONN_ERR_UPSTREAM_BAD_REPLY, 0);
        return;
    }
    exchange_fail(c, hs, x->upstream_eof == 2 ? CONN_ERR_UPSTREAM_RESET : CONN_ERR_UPSTREAM_EOF, 1);
}

/* ops->on_upstream_data: the response head, then its body. */
static void http_on_upstream_data(struct conn *c)
{
    struct http_session *hs = session_of(c);
    struct http_exchange *x = &hs->x;
    CONN_ASSERT(c, c->state == CONN_ST_FORWARD);
    if (c->ubev == NULL)
        return;
    if (x->phase != HTTP_RESP_BODY && !read_response_head(c, hs)) {
        if (!c->is_closing && c->state == CONN_ST_FORWARD && c->ubev != NULL && x->upstream_eof)
            on_upstream_eof(c, hs);
        return;
    }
    struct evbuffer *out = bufferevent_get_output(c->cbev);
    uint64_t moved = 0;
    int rc = relay_body(&x->resp_body, bufferevent_get_input(c->ubev), out, &moved);
    c->bytes_out += moved;
    c->ctx->stats.bytes_out += moved;
    if (moved > 0)
        conn_arm_timer(c, c->cn->idle_timeout_ms);
    if (rc == PF_EPROTO) {
        clog_info(c, "%s %s: malformed chunked response", x->req->method, hs->att.dest);
        end_and_close(c, hs, CONN_ERR_UPSTREAM_BAD_REPLY);
        return;
    }
    if (rc == PF_OK) {
        finish_exchange(c, hs);
        return;
    }
    if (evbuffer_get_length(out) >= CONN_HIGH_WATER) {
        bufferevent_disable(c->ubev, EV_READ);
        return;
    }
    if (x->upstream_eof && evbuffer_get_length(bufferevent_get_input(c->ubev)) == 0)
        on_upstream_eof(c, hs);
}

/* ops->on_upstream_close */
static void http_on_upstream_close(struct conn *c, int is_error)
{
    CONN_ASSERT(c, c->state == CONN_ST_FORWARD);
    session_of(c)->x.upstream_eof = is_error ? 2 : 1;
    http_on_upstream_data(c);
}

/* ops->on_client_data */
static void http_on_client_data(struct conn *c)
{
    struct http_session *hs = session_of(c);
    switch (c->state) {
    case CONN_ST_READ_HEAD:
        read_head(c, hs);
        break;
    case CONN_ST_DIALING:
        break;               /* kept (bounded by the read watermark) until connected */
    case CONN_ST_FORWARD:
        forward_request(c, hs);
        break;
    default:
        CONN_ASSERT(c, !"an HTTP state");
    }
}

/* ops->on_client_eof */
static void http_on_client_eof(struct conn *c)
{
    struct http_session *hs = session_of(c);
    switch (c->state) {
    case CONN_ST_READ_HEAD:
        conn_close(c, hs->is_head_started ? CONN_ERR_CLIENT_EOF : CONN_ERR_NONE);
        break;
    case CONN_ST_FORWARD:
        if (!hs->x.req_body.is_done)
            conn_close(c, CONN_ERR_CLIENT_EOF);
        break;               /* else: deliver the response, then close */
    case CONN_ST_DIALING:
        conn_close(c, CONN_ERR_CLIENT_EOF);
        break;
    default:
        CONN_ASSERT(c, !"an HTTP state");
    }
}

/* ops->on_timeout */
static void http_on_timeout(struct conn *c)
{
    struct http_session *hs = session_of(c);
    struct http_exchange *x = &hs->x;
    const struct conf_node *cn = c->cn;
    switch (c->state) {
    case CONN_ST_READ_HEAD:
        if (hs->is_head_started || c->nreq == 0)
            conn_reply_error(c, CONN_ERR_HEADER_TIMEOUT);
        else
            conn_close(c, CONN_ERR_IDLE_TIMEOUT);
        return;
    case CONN_ST_DIALING:
        attempt_on_timeout(&hs->att);
        return;
    case CONN_ST_FORWARD:
        break;
    default:
        CONN_ASSERT(c, !"an HTTP state");
    }
    if (is_awaiting_head(x) && is_response_timeout_on(cn)) {
        clog_info(c, "%s %s: no response head within response_timeout_ms (%d ms)", x->req->method,
                  hs->att.dest, cn->response_timeout_ms);
        hs->att.is_outcome_open = 0;
        attempt_record(&hs->att, 1);   /* the upstream's fault (also on a reused connection): passive ejection */
        /* an idempotent request whose body is not streamed yet is retried
         * elsewhere (RFC 9110 9.2.2); exchange_fail() refuses the others:
         * the upstream may have acted on them */
        exchange_fail(c, hs, CONN_ERR_UPSTREAM_TIMEOUT, 1);
        return;
    }
    if (x->phase == HTTP_RESP_NONE) {
        clog_info(c, "%s %s: no response within %d ms", x->req->method, hs->att.dest,
                  cn->idle_timeout_ms);
        conn_reply_error(c, CONN_ERR_UPSTREAM_TIMEOUT);
        return;
    }
    conn_close(c, CONN_ERR_IDLE_TIMEOUT);
}

/* ops->on_close: an exchange cut by the close gets its access log line. */
static void http_on_close(struct conn *c, enum conn_err reason)
{
    struct http_session *hs = session_of(c);
    access_mark_end(&hs->x.mark, c, &hs->att, reason);
}

/* ops->is_idle: between requests, nothing of the next one arrived. */
static int http_is_idle(const struct conn *c)
{
    return c->state == CONN_ST_READ_HEAD && !session_of(c)->is_head_started;
}

static const struct conn_ops http_ops = {
    .on_client_data    = http_on_client_data,
    .on_client_eof     = http_on_client_eof,
    .on_upstream_ready = http_on_upstream_ready,
    .on_upstream_data  = http_on_upstream_data,
    .on_upstream_close = http_on_upstream_close,
    .on_timeout        = http_on_timeout,
    .reply_error       = http_reply_error,
    .is_idle           = http_is_idle,
    .release           = http_release,
    .on_close          = http_on_close,
};
