/* HTTP proxying on a conn; see http_proxy.h. */
#include "http_proxy.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "addr.h"
#include "auth.h"
#include "clock.h"
#include "clog.h"
#include "log.h"
#include "policy.h"
#include "socks5_server.h"
#include "str.h"

void http_proxy_set_session(struct conn *c, struct auth_user *u)
{
    if (u->is_sticky) {
        c->has_session = 1;
        c->session_hash = select_session_hash(u->key, strlen(u->key), u->lifetime_min,
                                              clock_wall_ms());
    }
    memset(u, 0, sizeof(*u));
}

/* Sticky key from node.sticky_header, when configured and present. */
static void session_from_header(struct conn *c)
{
    const struct conf_node *cn = &c->ctx->conf.node;
    if (cn->sticky_header[0] == '\0' || c->has_session || c->req == NULL)
        return;
    const char *v = http_head_get(c->req, cn->sticky_header);
    if (v == NULL || v[0] == '\0')
        return;
    c->has_session = 1;
    c->session_hash = select_session_hash(v, strlen(v), 0, 0);
}

/* Returns 1 when the request carries valid client credentials (or none are
 * needed). The user name may carry a session suffix (alice-session-42): the
 * base name is authenticated and the session becomes the sticky key. */
static int is_authorized(struct conn *c)
{
    struct auth_user u;
    c->has_session = 0;
    int ok = auth_check_basic(&c->ctx->conf.node, http_head_get(c->req, "proxy-authorization"), &u);
    http_proxy_set_session(c, &u);
    return ok;
}

void http_proxy_release_upstream(struct conn *c)
{
    if (!c->is_up_counted)
        return;
    c->is_up_counted = 0;
    char id[UPSTREAM_ID_MAX];
    addr_upstream_id(&c->up, id, sizeof(id));
    pool_cache_conn_delta(&c->ctx->pool, id, -1);
}

/* Local passive health: one attempt through <c>->up and its outcome. */
static void record_attempt(struct conn *c, int is_failure)
{
    struct node_ctx *ctx = c->ctx;
    if (!c->has_up || ctx->conf.node.mode != CONF_NODE_POOL)
        return;
    const struct conf_node *cn = &ctx->conf.node;
    struct pool_eject_conf ec = { cn->eject_consecutive_failures, cn->eject_base_ms, cn->eject_max_ms };
    char id[UPSTREAM_ID_MAX];
    addr_upstream_id(&c->up, id, sizeof(id));
    int64_t now = clock_mono_ms(), until = 0;
    if (pool_cache_record(&ctx->pool, id, is_failure, now, &ec, &until)) {
        char safe[UPSTREAM_HOST_MAX + 32];
        addr_format_safe(&c->up, safe, sizeof(safe));
        ctx->stats.ejections++;
        log_warn("upstream %s ejected for %lld ms after %d consecutive failures", safe,
                 (long long)(until - now), cn->eject_consecutive_failures);
    }
}

/* Records the outcome of the attempt a plain request left open at dial
 * time (see http_proxy_on_dial_done); nothing when none is open. */
static void settle_attempt(struct conn *c, int is_failure)
{
    if (!c->is_attempt_open)
        return;
    c->is_attempt_open = 0;
    record_attempt(c, is_failure);
}

void http_proxy_reset_exchange_heads(struct conn *c)
{
    http_head_destroy(c->req);
    c->req = NULL;
    http_head_destroy(c->resp);
    c->resp = NULL;
}

void http_proxy_reset_exchange(struct conn *c)
{
    settle_attempt(c, 0);   /* ended otherwise (client gone, ...): a success, as the dial was */
    http_proxy_release_upstream(c);
    c->has_session = 0;
    http_proxy_reset_exchange_heads(c);
    http_target_deinit(&c->tgt);
    memset(&c->tgt, 0, sizeof(c->tgt));
    c->is_connect = 0;
    c->is_head_req = 0;
    c->is_req_keep_alive = 0;
    http_body_init(&c->req_body, HTTP_FRAMING_NONE, 0);
    http_body_init(&c->resp_body, HTTP_FRAMING_NONE, 0);
    c->req_body_sent = 0;
    c->dest[0] = '\0';
    c->is_resp_head_done = 0;
    c->is_resp_waiting = 0;
    c->is_resp_started = 0;
    c->is_client_keep_alive = 0;
    c->is_upstream_keep_alive = 0;
    c->ntried = 0;
    c->nattempts = 0;
}

/* "host[:port]" with IPv6 brackets; the port is left out when it is 80 and <omit_80>. */
static void format_authority(const struct http_target *t, int omit_80, char *buf, size_t len)
{
    const char *lb = t->is_ipv6 ? "[" : "", *rb = t->is_ipv6 ? "]" : "";
    if (omit_80 && t->port == 80)
        snprintf(buf, len, "%s%s%s", lb, t->host, rb);
    else
        snprintf(buf, len, "%s%s%s:%u", lb, t->host, rb, t->port);
}

static void start_attempt(struct conn *c);

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

/* Writes the request head for the upstream into <c>->ubev and starts relaying. */
static void send_request(struct conn *c)
{
    struct evbuffer *out = bufferevent_get_output(c->ubev);
    char host[300];
    format_authority(&c->tgt, 1, host, sizeof(host));
    /* a SOCKS5 upstream gave us a tunnel to the origin: origin-form, no proxy credentials */
    int is_via_http_proxy = c->has_up && !dial_scheme_is_socks(c->up.scheme);
    int ok;
    if (is_via_http_proxy)
        ok = evbuffer_add_printf(out, "%s http://%s%s HTTP/1.%d\r\nHost: %s\r\n", c->req->method,
                                 host, c->tgt.path, c->req->version_minor, host) >= 0;
    else
        ok = evbuffer_add_printf(out, "%s %s HTTP/1.%d\r\nHost: %s\r\n", c->req->method,
                                 c->tgt.path, c->req->version_minor, host) >= 0;
    for (size_t i = 0; ok && i < c->req->nheaders; i++) {
        const struct http_header *h = &c->req->headers[i];
        if (http_head_is_hop_by_hop(c->req, i) || (h->name_len == 4 && strcasecmp(h->name, "host") == 0) ||
            (c->ctx->conf.node.sticky_header[0] != '\0' &&
             strcasecmp(h->name, c->ctx->conf.node.sticky_header) == 0))
            continue;           /* the session header is ours: never forwarded */
        ok = add_header_line(out, h) == 0;
    }
    if (ok && is_via_http_proxy)
        ok = dial_append_upstream_auth(out, &c->up) == PF_OK;
    if (ok && c->req->version_minor == 0 && c->is_req_keep_alive)
        ok = evbuffer_add_printf(out, "Connection: keep-alive\r\n") >= 0;
    if (ok)
        ok = evbuffer_add(out, "\r\n", 2) == 0;
    if (!ok) {
        conn_reply_error(c, CONN_ERR_INTERNAL);
        return;
    }
    http_head_destroy(c->resp);
    c->resp = http_head_create(HTTP_HEAD_RESPONSE, (size_t)c->ctx->conf.node.max_header_bytes);
    if (c->resp == NULL) {
        conn_reply_error(c, CONN_ERR_INTERNAL);
        return;
    }
    conn_set_state(c, CONN_ST_FORWARD);
    c->is_resp_head_done = 0;
    c->is_resp_waiting = 0;
    c->is_upstream_eof = 0;
    /* a reused upstream may still have the low mark await_response() set */
    bufferevent_setwatermark(c->ubev, EV_WRITE, HTTP_PROXY_HIGH_WATER / 2, 0);
    conn_arm_timer(c, c->ctx->conf.node.idle_timeout_ms);
    http_proxy_on_client_data(c);
}

/* A failure before the client got any byte: retried on another upstream
 * when allowed, else answered. */
static void attempt_failed(struct conn *c, enum conn_err reason, int is_retryable)
{
    /* a fresh connection that then closed, reset, sent garbage or refused
     * our credentials: the upstream's fault (passive health, fleet report) */
    settle_attempt(c, conn_err_kind(reason)->is_upstream_fault);
    c->ctx->stats.upstream_errors[reason]++;
    conn_drop_upstream(c);
    int is_reused = c->is_ubev_reused;
    c->is_ubev_reused = 0;
    /* RFC 9110 9.2.2: a proxy must not replay a non-idempotent request the
     * upstream may have acted on; in FORWARD, send_request() wrote its head
     * (a failed dial or handshake fails in DIALING) */
    if (c->state == CONN_ST_FORWARD && !http_method_is_idempotent(c->req->method))
        is_retryable = 0;
    if (is_retryable && !c->is_resp_started && c->req_body_sent == 0 &&
        (is_reused || (c->has_up && c->nattempts <= c->ctx->conf.node.retries))) {
        c->ctx->stats.retries++;
        clog_debug(c, "retrying %s after %s", c->dest, conn_err_name(reason));
        c->last_reason = reason;
        start_attempt(c);
        return;
    }
    conn_reply_error(c, reason);
}

static void start_attempt(struct conn *c)
{
    struct node_ctx *ctx = c->ctx;
    char key[sizeof(c->ukey)];
    /* Keep-alive first: the previous exchange's connection to the same
     * destination, unless the pool changed since it was made. */
    const char *bar = strrchr(c->ukey, '|');
    /* Not for a non-idempotent request: it can never be replayed, so it
     * gets a fresh connection rather than one the upstream may be closing
     * as idle (HAProxy's http-reuse safe). */
    if (c->nattempts == 0 && !c->is_connect && c->ubev != NULL && bar != NULL &&
        strcmp(bar + 1, c->dest) == 0 && !c->has_session &&
        http_method_is_idempotent(c->req->method) &&
        (ctx->conf.node.mode != CONF_NODE_POOL || c->ubev_pool_version == ctx->pool.version)) {
        c->nattempts++;
        c->is_ubev_reused = 1;
        ctx->stats.upstream_reused++;
        if (ctx->conf.node.mode == CONF_NODE_POOL && c->has_up && !c->is_up_counted) {
            char rid[UPSTREAM_ID_MAX];
            addr_upstream_id(&c->up, rid, sizeof(rid));
            pool_cache_conn_delta(&ctx->pool, rid, 1);
            c->is_up_counted = 1;
        }
        send_request(c);
        return;
    }
    if (ctx->conf.node.mode == CONF_NODE_POOL) {
        http_proxy_release_upstream(c);
        const struct conf_node *cn = &ctx->conf.node;
        /* a snapshot applied since the last attempt renumbered the pool:
         * the indexes in tried[] mean other upstreams now (the retry
         * budget, nattempts, still holds) */
        if (c->ntried > 0 && c->tried_generation != ctx->pool.generation)
            c->ntried = 0;
        c->tried_generation = ctx->pool.generation;
        struct pool_select_req rq = {
            .strategy = cn->strategy,
            .now_wall_ms = clock_wall_ms(),
            .now_mono_ms = clock_mono_ms(),
            .exclude = c->tried,
            .nexclude = c->ntried,
            .has_session = c->has_session,
            .session_hash = c->session_hash,
            .rnd = rng_next(&ctx->rng),
            .rotate_interval_s = cn->rotate_interval_s,
            .is_eject_panic = cn->is_eject_panic,
        };
        for (unsigned s = 0; s < 8; s++)
            if (dial_scheme_is_supported((enum upstream_scheme)s))
                rq.scheme_mask |= 1u << s;
        struct pool_select_res res;
        long idx = pool_cache_select(&ctx->pool, &rq, &res);
        ctx->stats.upstream_unsupported += res.nunsupported;
        if (idx < 0) {
            if (c->nattempts > 0) {
                conn_reply_error(c, c->last_reason);
            } else if (res.is_all_ejected) {
                c->retry_after_s = (int)PF_MIN_OF((res.retry_after_ms + 999) / 1000, (int64_t)86400);
                conn_reply_error(c, CONN_ERR_ALL_EJECTED);
            } else {
                conn_reply_error(c, CONN_ERR_NO_UPSTREAM);
            }
            return;
        }
        if (res.is_ejection_ignored)
            clog_debug(c, "%s", "every usable upstream is ejected: using them anyway");
        c->up = ctx->pool.items[idx];
        c->has_up = 1;
        if (c->ntried < CONN_TRIED_MAX)
            c->tried[c->ntried++] = idx;
        const char *id = ctx->pool.ids[idx];
        pool_cache_conn_delta(&ctx->pool, id, 1);
        c->is_up_counted = 1;
        snprintf(key, sizeof(key), "%s|%s", id, c->dest);
    } else {
        c->has_up = 0;
        snprintf(key, sizeof(key), "direct|%s", c->dest);
    }
    c->nattempts++;
    conn_drop_upstream(c);
    c->is_ubev_reused = 0;
    snprintf(c->ukey, sizeof(c->ukey), "%s", key);
    c->ubev_pool_version = ctx->pool.version;
    conn_set_state(c, CONN_ST_DIALING);
    conn_arm_timer(c, ctx->conf.node.connect_timeout_ms);
    c->dial_start_us = clock_mono_us();
    dial_start(&c->dial, c->tgt.host, c->tgt.port, c->has_up ? &c->up : NULL, c->is_connect);
}

void http_proxy_on_request(struct conn *c)
{
    struct node_ctx *ctx = c->ctx;
    struct http_head *req = c->req;
    ctx->stats.requests_total++;
    c->is_connect = strcmp(req->method, "CONNECT") == 0;
    c->is_head_req = strcmp(req->method, "HEAD") == 0;
    if (req->version_minor == 1)
        c->is_req_keep_alive = !req->is_conn_close;
    else
        c->is_req_keep_alive = !req->is_conn_close &&
            (req->is_conn_keep_alive ||
             http_list_has_token(http_head_get(req, "proxy-connection"), "keep-alive"));
    if (!is_authorized(c)) {
        clog_info(c, "%s: proxy authentication failed or missing", c->is_connect ? "CONNECT" : req->method);
        conn_reply_error(c, CONN_ERR_AUTH);
        return;
    }
    struct pf_err err;
    pf_err_clear(&err);
    if (http_target_parse(req->target, c->is_connect, &c->tgt, &err) != PF_OK) {
        clog_debug(c, "bad request target: %s", err.msg);
        conn_reply_error(c, CONN_ERR_BAD_REQUEST);
        return;
    }
    if (c->is_connect && (req->is_chunked || req->content_length > 0)) {
        conn_reply_error(c, CONN_ERR_BAD_REQUEST);
        return;
    }
    format_authority(&c->tgt, 0, c->dest, sizeof(c->dest));
    clog_debug(c, "%s %s", req->method, c->dest);
    if (c->is_connect && !policy_connect_port_allowed(&c->ctx->conf.node, c->tgt.port)) {
        clog_info(c, "CONNECT %s: port not in node.connect_ports", c->dest);
        ctx->stats.connect_port_denials++;
        conn_reply_error(c, CONN_ERR_POLICY);
        return;
    }
    session_from_header(c);
    c->req_start_us = clock_mono_us();
    if (policy_host_denied(&c->ctx->conf.node, c->tgt.host)) {
        clog_info(c, "%s %s: destination denied by policy", req->method, c->dest);
        conn_reply_error(c, CONN_ERR_POLICY);
        return;
    }
    http_body_init(&c->req_body, c->is_connect ? HTTP_FRAMING_NONE : http_head_request_framing(req),
                   req->content_length);
    start_attempt(c);
}

void http_proxy_start_tunnel(struct conn *c)
{
    c->is_connect = 1;
    format_authority(&c->tgt, 0, c->dest, sizeof(c->dest));
    clog_debug(c, "SOCKS5 CONNECT %s", c->dest);
    if (!policy_connect_port_allowed(&c->ctx->conf.node, c->tgt.port)) {
        clog_info(c, "SOCKS5 CONNECT %s: port not in node.connect_ports", c->dest);
        c->ctx->stats.connect_port_denials++;
        conn_reply_error(c, CONN_ERR_POLICY);
        return;
    }
    if (policy_host_denied(&c->ctx->conf.node, c->tgt.host)) {
        clog_info(c, "SOCKS5 CONNECT %s: destination denied by policy", c->dest);
        conn_reply_error(c, CONN_ERR_POLICY);
        return;
    }
    http_body_init(&c->req_body, HTTP_FRAMING_NONE, 0);
    start_attempt(c);
}

void http_proxy_on_dial_done(void *arg, enum dial_err err, struct bufferevent *bev)
{
    struct conn *c = arg;
    if (c->is_closing) {
        if (bev != NULL)
            bufferevent_free(bev);
        return;
    }
    if (err == DIAL_OK) {
        /* a tunnel's attempt succeeds here; a plain request's when its
         * response head arrives, so that an upstream that connects but
         * never answers (response_timeout_ms) adds up to an ejection */
        if (c->is_connect)
            record_attempt(c, 0);
        else
            c->is_attempt_open = 1;
        hist_add(&c->ctx->stats.connect_time, clock_mono_us() - c->dial_start_us);
        conn_attach_upstream(c, bev);
        if (!c->is_connect) {
            send_request(c);
            return;
        }
        static const char ok[] = "HTTP/1.1 200 Connection established\r\n\r\n";
        if (c->is_socks5 ? socks5_server_reply_success(c, c->ubev) != PF_OK
                         : conn_client_write(c, ok, sizeof(ok) - 1) != PF_OK) {
            conn_close(c, CONN_ERR_INTERNAL);
            return;
        }
        c->is_resp_started = 1;
        c->ukey[0] = '\0';       /* a tunnel is never reused */
        c->ctx->stats.tunnels_total++;
        c->ctx->stats.responses_2xx++;
        c->ctx->stats.outcomes[1][STATS_OUT_OK]++;
        conn_tunnel_start(c);
        return;
    }
    char via[UPSTREAM_HOST_MAX + 32] = "direct";
    if (c->has_up)
        addr_format_safe(&c->up, via, sizeof(via));
    clog_info(c, "%s %s via %s failed: %s (status %d)", c->is_connect ? "CONNECT" : c->req->method,
              c->dest, via, dial_err_name(err), c->dial.reply_status);
    enum conn_err reason;
    int is_retryable = 1;
    switch (err) {
    case DIAL_ERR_DNS:             reason = CONN_ERR_DNS; break;
    case DIAL_ERR_POLICY:          reason = CONN_ERR_POLICY; is_retryable = 0; break;
    case DIAL_ERR_REFUSED:         reason = CONN_ERR_UPSTREAM_REFUSED; break;
    case DIAL_ERR_RESET:           reason = CONN_ERR_UPSTREAM_RESET; break;
    case DIAL_ERR_TIMEOUT:         reason = CONN_ERR_UPSTREAM_TIMEOUT; break;
    case DIAL_ERR_UPSTREAM_AUTH:   reason = CONN_ERR_UPSTREAM_AUTH; break;
    case DIAL_ERR_BAD_REPLY:
    case DIAL_ERR_UPSTREAM_STATUS:
    case DIAL_ERR_UNSUPPORTED:     reason = CONN_ERR_UPSTREAM_BAD_REPLY; break;
    default:                       reason = CONN_ERR_INTERNAL; is_retryable = 0; break;
    }
    if (err == DIAL_ERR_UPSTREAM_STATUS && c->dial.reply_status == 504)
        reason = CONN_ERR_UPSTREAM_TIMEOUT;   /* the upstream timed out on the destination */
    /* the upstream's fault (the table says which kinds are): not answering,
     * or not speaking its protocol; a refused tunnel (UPSTREAM_STATUS) is
     * the upstream relaying the destination's answer */
    if (conn_err_kind(reason)->is_upstream_fault && err != DIAL_ERR_UPSTREAM_STATUS)
        record_attempt(c, 1);
    attempt_failed(c, reason, is_retryable);
}

/* Moves body bytes from <in> to <out> as framed by <b>. Returns PF_OK when the
 * body is complete, PF_EAGAIN when more is expected or <out> is full, PF_EPROTO. */
static int relay_body(struct http_body *b, struct evbuffer *in, struct evbuffer *out,
                      uint64_t *moved)
{
    *moved = 0;
    while (!b->is_done && evbuffer_get_length(in) > 0 &&
           evbuffer_get_length(out) < HTTP_PROXY_HIGH_WATER) {
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

/* Starts the response deadline (node.response_timeout_ms) once the request
 * head and body are all written to the upstream socket. While bytes are
 * still queued, the write low mark drops to 0 so that upstream_write_cb
 * (conn.c) calls http_proxy_on_client_data() again when they are out. */
static void await_response(struct conn *c)
{
    if (c->is_resp_waiting || c->is_resp_head_done)
        return;
    if (evbuffer_get_length(bufferevent_get_output(c->ubev)) > 0) {
        bufferevent_setwatermark(c->ubev, EV_WRITE, 0, 0);
        return;
    }
    c->is_resp_waiting = 1;
    if (is_response_timeout_on(&c->ctx->conf.node))
        conn_arm_timer(c, c->ctx->conf.node.response_timeout_ms);
}

void http_proxy_on_client_data(struct conn *c)
{
    if (c->state != CONN_ST_FORWARD || c->ubev == NULL)
        return;
    if (c->req_body.is_done) {
        await_response(c);
        return;
    }
    struct evbuffer *out = bufferevent_get_output(c->ubev);
    uint64_t moved = 0;
    int rc = relay_body(&c->req_body, bufferevent_get_input(c->cbev), out, &moved);
    c->req_body_sent += moved;
    c->bytes_in += moved;
    c->ctx->stats.bytes_in += moved;
    if (moved > 0)
        conn_arm_timer(c, c->ctx->conf.node.idle_timeout_ms);
    if (rc == PF_EPROTO) {
        clog_debug(c, "%s", "malformed chunked request body");
        if (c->is_resp_started)
            conn_close(c, CONN_ERR_BAD_REQUEST);
        else
            conn_reply_error(c, CONN_ERR_BAD_REQUEST);
        return;
    }
    if (c->req_body.is_done)
        await_response(c);
    else if (evbuffer_get_length(out) >= HTTP_PROXY_HIGH_WATER)
        bufferevent_disable(c->cbev, EV_READ);
}

static void finish_exchange(struct conn *c)
{
    int is_reusable = c->is_upstream_keep_alive && c->req_body.is_done && c->ubev != NULL &&
                      evbuffer_get_length(bufferevent_get_input(c->ubev)) == 0;
    if (!is_reusable)
        conn_drop_upstream(c);
    /* draining (SIGTERM): no further request on this connection, even if
     * its response promised keep-alive before the signal */
    if (!c->is_client_keep_alive || !c->req_body.is_done || c->is_client_eof || c->ctx->is_draining) {
        conn_flush_and_close(c, CONN_ERR_DONE);
        return;
    }
    conn_next_request(c);
}

/* Writes <resp>'s status line and end-to-end headers to the client. */
static int write_response_head(struct conn *c, const struct http_head *resp, const char *conn_hdr)
{
    struct evbuffer *tmp = evbuffer_new();
    if (tmp == NULL)
        return PF_ENOMEM;
    int ok = evbuffer_add_printf(tmp, "HTTP/1.1 %03d %s\r\n", resp->status, resp->reason) >= 0;
    for (size_t i = 0; ok && i < resp->nheaders; i++) {
        if (http_head_is_hop_by_hop(resp, i))
            continue;
        ok = add_header_line(tmp, &resp->headers[i]) == 0;
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
static int read_response_head(struct conn *c)
{
    struct evbuffer *in = bufferevent_get_input(c->ubev);
    for (;;) {
        size_t len = evbuffer_get_length(in);
        if (len == 0)
            return 0;
        size_t n = PF_MIN_OF(len, c->resp->max_bytes);
        const char *p = (const char *)evbuffer_pullup(in, (ev_ssize_t)n);
        int rc = http_head_parse(c->resp, p, n);
        if (rc == PF_EAGAIN)
            return 0;
        if (rc != PF_OK) {
            clog_info(c, "%s %s: bad upstream response: %s", c->req->method, c->dest, c->resp->err.msg);
            attempt_failed(c, CONN_ERR_UPSTREAM_BAD_REPLY, 0);
            return 0;
        }
        evbuffer_drain(in, c->resp->head_len);
        int status = c->resp->status;
        /* an HTTP upstream refusing our credentials; through a SOCKS5
         * upstream a 407 comes from the origin and is the client's */
        if (status == 407 && c->has_up && !dial_scheme_is_socks(c->up.scheme)) {
            clog_info(c, "%s %s: upstream refused our credentials (407)", c->req->method, c->dest);
            attempt_failed(c, CONN_ERR_UPSTREAM_AUTH, 1);
            return 0;
        }
        if (status == 101) {    /* we never forward Upgrade, so this is a protocol error */
            attempt_failed(c, CONN_ERR_UPSTREAM_BAD_REPLY, 0);
            return 0;
        }
        settle_attempt(c, 0);   /* a response head: the upstream works */
        if (status < 200) {     /* interim: relay and wait for the final one */
            if (write_response_head(c, c->resp, NULL) != PF_OK) {
                conn_close(c, CONN_ERR_INTERNAL);
                return 0;
            }
            c->is_resp_started = 1;
            count_response(&c->ctx->stats, status);
            if (c->is_resp_waiting && is_response_timeout_on(&c->ctx->conf.node))
                conn_arm_timer(c, c->ctx->conf.node.response_timeout_ms);   /* alive: a fresh wait */
            http_head_deinit(c->resp);
            http_head_init(c->resp, HTTP_HEAD_RESPONSE, (size_t)c->ctx->conf.node.max_header_bytes);
            continue;
        }
        enum http_framing fr = http_head_response_framing(c->resp, c->is_head_req);
        c->is_client_keep_alive = c->is_req_keep_alive && fr != HTTP_FRAMING_UNTIL_CLOSE &&
                                  !c->is_client_eof && !c->ctx->is_draining;
        c->is_upstream_keep_alive = fr != HTTP_FRAMING_UNTIL_CLOSE && !c->resp->is_conn_close &&
                                    (c->resp->version_minor == 1 || c->resp->is_conn_keep_alive);
        if (write_response_head(c, c->resp, c->is_client_keep_alive ? "keep-alive" : "close") != PF_OK) {
            conn_close(c, CONN_ERR_INTERNAL);
            return 0;
        }
        c->is_resp_started = 1;
        c->is_resp_head_done = 1;
        c->is_resp_waiting = 0;
        conn_arm_timer(c, c->ctx->conf.node.idle_timeout_ms);   /* the body's deadline */
        count_response(&c->ctx->stats, status);
        hist_add(&c->ctx->stats.ttfb, clock_mono_us() - c->req_start_us);
        c->ctx->stats.outcomes[0][STATS_OUT_OK]++;
        http_body_init(&c->resp_body, fr, c->resp->content_length);
        return 1;
    }
}

static void on_upstream_eof(struct conn *c)
{
    if (c->is_resp_head_done) {
        if (c->resp_body.framing == HTTP_FRAMING_UNTIL_CLOSE) {
            c->resp_body.is_done = 1;
            conn_drop_upstream(c);
            conn_flush_and_close(c, CONN_ERR_DONE);
        } else {
            conn_flush_and_close(c, CONN_ERR_UPSTREAM_EOF);   /* truncated: the client sees it */
        }
        return;
    }
    if (evbuffer_get_length(bufferevent_get_input(c->ubev)) > 0 || (c->resp != NULL && c->resp->scan > 0)) {
        attempt_failed(c, CONN_ERR_UPSTREAM_BAD_REPLY, 0);
        return;
    }
    attempt_failed(c, c->is_upstream_eof == 2 ? CONN_ERR_UPSTREAM_RESET : CONN_ERR_UPSTREAM_EOF, 1);
}

void http_proxy_on_upstream_data(struct conn *c)
{
    if (c->state != CONN_ST_FORWARD || c->ubev == NULL)
        return;
    if (!c->is_resp_head_done && !read_response_head(c)) {
        if (!c->is_closing && c->state == CONN_ST_FORWARD && c->ubev != NULL && c->is_upstream_eof)
            on_upstream_eof(c);
        return;
    }
    struct evbuffer *out = bufferevent_get_output(c->cbev);
    uint64_t moved = 0;
    int rc = relay_body(&c->resp_body, bufferevent_get_input(c->ubev), out, &moved);
    c->bytes_out += moved;
    c->ctx->stats.bytes_out += moved;
    if (moved > 0)
        conn_arm_timer(c, c->ctx->conf.node.idle_timeout_ms);
    if (rc == PF_EPROTO) {
        clog_info(c, "%s %s: malformed chunked response", c->req->method, c->dest);
        conn_flush_and_close(c, CONN_ERR_UPSTREAM_BAD_REPLY);
        return;
    }
    if (rc == PF_OK) {
        finish_exchange(c);
        return;
    }
    if (evbuffer_get_length(out) >= HTTP_PROXY_HIGH_WATER) {
        bufferevent_disable(c->ubev, EV_READ);
        return;
    }
    if (c->is_upstream_eof && evbuffer_get_length(bufferevent_get_input(c->ubev)) == 0)
        on_upstream_eof(c);
}

void http_proxy_on_upstream_close(struct conn *c, int is_error)
{
    c->is_upstream_eof = is_error ? 2 : 1;
    http_proxy_on_upstream_data(c);
}

void http_proxy_on_timeout(struct conn *c)
{
    if (c->state == CONN_ST_DIALING) {
        dial_fail_timeout(&c->dial);
        return;
    }
    if (c->is_resp_waiting && is_response_timeout_on(&c->ctx->conf.node)) {
        clog_info(c, "%s %s: no response head within response_timeout_ms (%d ms)", c->req->method,
                  c->dest, c->ctx->conf.node.response_timeout_ms);
        c->is_attempt_open = 0;
        record_attempt(c, 1);   /* the upstream's fault (also on a reused connection): passive ejection */
        /* never replayed: the upstream may have acted on the request */
        attempt_failed(c, CONN_ERR_UPSTREAM_TIMEOUT, 0);
        return;
    }
    if (!c->is_resp_started) {
        clog_info(c, "%s %s: no response within %d ms", c->req->method, c->dest,
                  c->ctx->conf.node.idle_timeout_ms);
        conn_reply_error(c, CONN_ERR_UPSTREAM_TIMEOUT);
        return;
    }
    conn_close(c, CONN_ERR_IDLE_TIMEOUT);
}
