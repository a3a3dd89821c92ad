/* Client connection lifecycle, callbacks, timers and the close path; see conn.h. */
#include "conn.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/util.h>

#include "http_proxy.h"
#include "clog.h"
#include "log.h"
#include "socks5.h"
#include "socks5_server.h"
#include "tunnel.h"

#define LINGER_MS 2000
#define REJECT_FLUSH_MS 1000

_Static_assert(CONN_ST__COUNT <= 8, "stats.conns_by_state too small");

static void client_read_cb(struct bufferevent *bev, void *arg);
static void client_write_cb(struct bufferevent *bev, void *arg);
static void client_event_cb(struct bufferevent *bev, short what, void *arg);
static void upstream_read_cb(struct bufferevent *bev, void *arg);
static void upstream_write_cb(struct bufferevent *bev, void *arg);
static void upstream_event_cb(struct bufferevent *bev, short what, void *arg);

const char *conn_state_name(enum conn_state st)
{
    static const char *const names[] = {
        "read_head", "dialing", "forward", "tunnel", "flush", "linger", "socks5",
    };
    _Static_assert(PF_ARRAY_LEN(names) == CONN_ST__COUNT, "conn_state names");
    return (size_t)st < PF_ARRAY_LEN(names) ? names[st] : "?";
}

void conn_set_state(struct conn *c, enum conn_state st)
{
    c->ctx->stats.conns_by_state[c->state]--;
    c->ctx->stats.conns_by_state[st]++;
    clog_debug(c, "%s -> %s", conn_state_name(c->state), conn_state_name(st));
    c->state = st;
}

void conn_arm_timer(struct conn *c, int ms)
{
    struct timeval tv = { .tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000 };
    evtimer_add(c->timer, &tv);
}

int conn_client_write(struct conn *c, const void *data, size_t len)
{
    if (evbuffer_add(bufferevent_get_output(c->cbev), data, len) != 0)
        return PF_ENOMEM;
    c->bytes_out += len;
    c->ctx->stats.bytes_out += len;
    return PF_OK;
}

static void conn_free(struct conn *c)
{
    dial_deinit(&c->dial);
    if (c->timer != NULL)
        event_free(c->timer);
    if (c->cbev != NULL)
        bufferevent_free(c->cbev);
    if (c->ubev != NULL)
        bufferevent_free(c->ubev);
    tunnel_destroy(c->tun);
    http_proxy_reset_exchange(c);   /* frees the heads */
    free(c);
}

static void reaper_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd; (void)what;
    struct node_ctx *ctx = arg;
    while (ctx->closing != NULL) {
        struct conn *c = ctx->closing;
        ctx->closing = c->next;
        conn_free(c);
    }
}

int conn_module_init(struct node_ctx *ctx)
{
    ctx->reaper = event_new(ctx->base, -1, 0, reaper_cb, ctx);
    ctx->tunnels = tunnel_pool_create();
    return ctx->reaper != NULL && ctx->tunnels != NULL ? PF_OK : PF_ENOMEM;
}

void conn_module_deinit(struct node_ctx *ctx)
{
    if (ctx->reaper != NULL) {
        reaper_cb(-1, 0, ctx);
        event_free(ctx->reaper);
        ctx->reaper = NULL;
    }
    tunnel_pool_destroy(ctx->tunnels);   /* after the reaper: tunnels give their pipes back */
    ctx->tunnels = NULL;
}

static void format_peer(const struct sockaddr *sa, char *buf, size_t len)
{
    char ip[INET6_ADDRSTRLEN] = "?";
    unsigned port = 0;
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;
        evutil_inet_ntop(AF_INET, &s4->sin_addr, ip, sizeof(ip));
        port = ntohs(s4->sin_port);
        snprintf(buf, len, "%s:%u", ip, port);
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;
        evutil_inet_ntop(AF_INET6, &s6->sin6_addr, ip, sizeof(ip));
        port = ntohs(s6->sin6_port);
        snprintf(buf, len, "[%s]:%u", ip, port);
    } else {
        snprintf(buf, len, "?");
    }
}

static void timer_cb(evutil_socket_t fd, short what, void *arg);

static struct conn *conn_new(struct node_ctx *ctx, int fd, const struct sockaddr *sa,
                             int is_reject);

void conn_create(struct node_ctx *ctx, int fd, const struct sockaddr *sa, int is_reject)
{
    (void)conn_new(ctx, fd, sa, is_reject);
}

void conn_create_socks5(struct node_ctx *ctx, int fd, const struct sockaddr *sa, int is_reject)
{
    if (is_reject) {
        ctx->stats.rejected_over_limit++;
        close(fd);
        return;
    }
    struct conn *c = conn_new(ctx, fd, sa, 0);
    if (c == NULL || c->is_closing)
        return;
    c->is_socks5_port = 1;
    socks5_server_start(c);
}

/* Creates and links a conn; returns it (possibly already closing), or NULL. */
static struct conn *conn_new(struct node_ctx *ctx, int fd, const struct sockaddr *sa,
                             int is_reject)
{
    struct conn *c = calloc(1, sizeof(*c));
    if (c == NULL) {
        log_error("accept: out of memory, closing fd %d", fd);
        close(fd);
        return NULL;
    }
    c->ctx = ctx;
    c->id = ++ctx->next_conn_id;
    c->is_reject = is_reject;
    c->state = CONN_ST_READ_HEAD;
    ctx->stats.conns_by_state[CONN_ST_READ_HEAD]++;
    format_peer(sa, c->peer, sizeof(c->peer));
    /* link first so that the one close path applies from here on */
    c->next = ctx->conns;
    if (ctx->conns != NULL)
        ctx->conns->prev = c;
    ctx->conns = c;
    if (is_reject) {
        ctx->nrejecting++;
        ctx->stats.rejected_over_limit++;
    } else {
        ctx->stats.conns_active++;
        ctx->stats.conns_total++;
    }
    c->cbev = bufferevent_socket_new(ctx->base, fd, BEV_OPT_CLOSE_ON_FREE);
    if (c->cbev == NULL)
        close(fd);
    c->timer = evtimer_new(ctx->base, timer_cb, c);
    if (c->cbev == NULL || c->timer == NULL || dial_init(&c->dial, ctx, http_proxy_on_dial_done, c) != PF_OK) {
        conn_close(c, CONN_ERR_INTERNAL);
        return c;
    }
    size_t high = PF_MAX_OF((size_t)HTTP_PROXY_HIGH_WATER, (size_t)ctx->conf.node.max_header_bytes + 1);
    bufferevent_setwatermark(c->cbev, EV_READ, 0, high);
    bufferevent_setcb(c->cbev, client_read_cb, client_write_cb, client_event_cb, c);
    bufferevent_enable(c->cbev, EV_READ | EV_WRITE);
    clog_debug(c, "accepted%s", is_reject ? " over max_clients" : "");
    if (is_reject) {
        conn_reply_error(c, CONN_ERR_OVER_LIMIT);
        return c;
    }
    conn_arm_timer(c, ctx->conf.node.header_timeout_ms);
    return c;
}

void conn_close(struct conn *c, enum conn_err reason)
{
    if (c->is_closing)
        return;
    struct node_ctx *ctx = c->ctx;
    c->is_closing = 1;
    const struct conn_err_kind *k = conn_err_kind(reason);
    clog_at(k->log_level, c, "closed in %s after %llu requests, in %llu out %llu bytes: %s",
            conn_state_name(c->state), (unsigned long long)c->nreq,
            (unsigned long long)c->bytes_in, (unsigned long long)c->bytes_out, k->name);
    ctx->stats.close_reasons[reason]++;
    ctx->stats.conns_by_state[c->state]--;
    if (c->is_reject)
        ctx->nrejecting--;
    else
        ctx->stats.conns_active--;
    dial_cancel(&c->dial);
    if (c->timer != NULL)
        event_del(c->timer);
    if (c->cbev != NULL) {
        bufferevent_setcb(c->cbev, NULL, NULL, NULL, NULL);
        bufferevent_disable(c->cbev, EV_READ | EV_WRITE);
    }
    if (c->ubev != NULL) {
        bufferevent_setcb(c->ubev, NULL, NULL, NULL, NULL);
        bufferevent_disable(c->ubev, EV_READ | EV_WRITE);
    }
    tunnel_stop(c->tun);
    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        ctx->conns = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    c->prev = NULL;
    c->next = ctx->closing;
    ctx->closing = c;
    event_active(ctx->reaper, EV_TIMEOUT, 1);
    if (ctx->is_draining && ctx->conns == NULL)
        event_base_loopbreak(ctx->base);   /* drained before the grace time */
}

void conn_close_all(struct node_ctx *ctx)
{
    while (ctx->conns != NULL)
        conn_close(ctx->conns, CONN_ERR_SHUTDOWN);
    reaper_cb(-1, 0, ctx);
}

void conn_drop_upstream(struct conn *c)
{
    if (c->ubev != NULL) {
        bufferevent_free(c->ubev);
        c->ubev = NULL;
    }
    c->ukey[0] = '\0';
    c->is_upstream_eof = 0;
    c->is_upstream_shut = 0;
}

void conn_attach_upstream(struct conn *c, struct bufferevent *bev)
{
    if (c->ubev != NULL)
        bufferevent_free(c->ubev);
    c->is_upstream_eof = 0;
    c->is_upstream_shut = 0;
    c->ubev = bev;
    bufferevent_setwatermark(bev, EV_READ, 0,
                             PF_MAX_OF((size_t)HTTP_PROXY_HIGH_WATER,
                                    (size_t)c->ctx->conf.node.max_header_bytes + 1));
    bufferevent_setwatermark(bev, EV_WRITE, HTTP_PROXY_HIGH_WATER / 2, 0);
    bufferevent_setcb(bev, upstream_read_cb, upstream_write_cb, upstream_event_cb, c);
    bufferevent_enable(bev, EV_READ | EV_WRITE);
}

static void start_linger(struct conn *c)
{
    evutil_socket_t fd = bufferevent_getfd(c->cbev);
    if (shutdown(fd, SHUT_WR) != 0) {
        conn_close(c, c->reason);
        return;
    }
    conn_set_state(c, CONN_ST_LINGER);
    evbuffer_drain(bufferevent_get_input(c->cbev), evbuffer_get_length(bufferevent_get_input(c->cbev)));
    bufferevent_enable(c->cbev, EV_READ);
    conn_arm_timer(c, LINGER_MS);
}

void conn_flush_and_close(struct conn *c, enum conn_err reason)
{
    if (c->is_closing)
        return;
    if (c->tun != NULL) {        /* a tunnel has no bufferevent left to flush */
        conn_close(c, reason);
        return;
    }
    c->reason = reason;
    dial_cancel(&c->dial);
    conn_drop_upstream(c);
    conn_set_state(c, CONN_ST_FLUSH);
    bufferevent_setwatermark(c->cbev, EV_WRITE, 0, 0);
    bufferevent_enable(c->cbev, EV_WRITE);
    conn_arm_timer(c, c->is_reject ? REJECT_FLUSH_MS : c->ctx->conf.node.idle_timeout_ms);
    if (evbuffer_get_length(bufferevent_get_output(c->cbev)) == 0)
        start_linger(c);
}

static const char *status_text(int status)
{
    switch (status) {
    case 400: return "Bad Request";
    case 403: return "Forbidden";
    case 405: return "Method Not Allowed";
    case 407: return "Proxy Authentication Required";
    case 408: return "Request Timeout";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    default:  return "Error";
    }
}

void conn_reply_error(struct conn *c, enum conn_err reason)
{
    if (c->is_closing)
        return;
    struct node_stats *st = &c->ctx->stats;
    if (c->is_resp_started) {
        /* part of a response already went out: all we can do is cut it */
        conn_close(c, reason);
        return;
    }
    const struct conn_err_kind *k = conn_err_kind(reason);
    int status = k->http_status;
    if ((c->req != NULL && c->req->head_len > 0) || c->is_socks5 ||
        c->state == CONN_ST_TUNNEL)   /* an accepted request or tunnel */
        st->outcomes[c->is_connect || c->is_socks5 ? 1 : 0][k->outcome]++;
    if (c->is_socks5) {
        socks5_server_reply_error(c, reason);
        return;
    }
    c->is_resp_started = 1;
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
    char body[128];
    int blen = snprintf(body, sizeof(body), "%d %s\n", status, text);
    const char *extra = "";
    char retry_after[48];
    if (status == 503) {
        snprintf(retry_after, sizeof(retry_after), "Retry-After: %d\r\n",
                 c->retry_after_s > 0 ? c->retry_after_s : 1);
        extra = retry_after;
    } else if (status == 407)
        extra = "Proxy-Authenticate: Basic realm=\"proxyfleet\"\r\n";
    char head[512];
    int hlen = snprintf(head, sizeof(head),
                        "HTTP/1.1 %d %s\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n"
                        "Connection: close\r\n%s\r\n", status, text, blen, extra);
    if (conn_client_write(c, head, (size_t)hlen) != PF_OK ||
        (!c->is_head_req && conn_client_write(c, body, (size_t)blen) != PF_OK)) {
        conn_close(c, CONN_ERR_INTERNAL);
        return;
    }
    clog_debug(c, "answered %d (%s)", status, conn_err_name(reason));
    conn_flush_and_close(c, reason);
}

/* Copies what bufferevent output <out> then input <in> hold (in wire
 * order) into a new buffer in <*buf>, NULL when both are empty. Drains
 * nothing. Returns PF_OK or PF_ENOMEM. */
static int take_buffered(struct evbuffer *out, struct evbuffer *in, char **buf, size_t *len)
{
    size_t l1 = evbuffer_get_length(out), l2 = evbuffer_get_length(in);
    *buf = NULL;
    *len = 0;
    if (l1 + l2 == 0)
        return PF_OK;
    char *b = malloc(l1 + l2);
    if (b == NULL)
        return PF_ENOMEM;
    /* a socket bufferevent freezes its output's start (only it may drain
     * it), and evbuffer_copyout() refuses a frozen start */
    evbuffer_unfreeze(out, 1);
    ev_ssize_t n1 = evbuffer_copyout(out, b, l1);
    evbuffer_freeze(out, 1);
    if (n1 != (ev_ssize_t)l1 || evbuffer_copyout(in, b + l1, l2) != (ev_ssize_t)l2) {
        free(b);
        return PF_ENOMEM;
    }
    *buf = b;
    *len = l1 + l2;
    return PF_OK;
}

/* Frees <bev> but not its socket, which it returns. */
static int bev_release_fd(struct bufferevent *bev)
{
    int fd = (int)bufferevent_getfd(bev);
    bufferevent_setcb(bev, NULL, NULL, NULL, NULL);
    bufferevent_disable(bev, EV_READ | EV_WRITE);
    bufferevent_setfd(bev, -1);   /* BEV_OPT_CLOSE_ON_FREE then has nothing to close */
    bufferevent_free(bev);
    return fd;
}

static void tunnel_done_cb(void *arg, enum tunnel_end end)
{
    static const enum conn_err reasons[] = {
        [TUNNEL_END_DONE] = CONN_ERR_TUNNEL_DONE,
        [TUNNEL_END_CLIENT_ERROR] = CONN_ERR_CLIENT_IO,
        [TUNNEL_END_UPSTREAM_ERROR] = CONN_ERR_UPSTREAM_RESET,
        [TUNNEL_END_NOMEM] = CONN_ERR_INTERNAL,
    };
    conn_close(arg, reasons[end]);
}

void conn_tunnel_start(struct conn *c)
{
    conn_set_state(c, CONN_ST_TUNNEL);
    http_proxy_reset_exchange_heads(c);   /* a tunnel never parses again */
    /* armed once: the relay stamps activity and the timer re-arms for the rest */
    conn_arm_timer(c, c->ctx->conf.node.idle_timeout_ms);
    struct node_stats *st = &c->ctx->stats;
    struct tunnel_args a = {
        .base = c->ctx->base,
        .pool = c->ctx->tunnels,
        .nread = { { &c->bytes_in, &st->bytes_in }, { &c->bytes_out, &st->bytes_out } },
        .done = tunnel_done_cb,
        .arg = c,
        .id = c->id,
        .peer = c->peer,
    };
    struct evbuffer *cin = bufferevent_get_input(c->cbev), *uin = bufferevent_get_input(c->ubev);
    /* wire order: what each side was already sent, then what the peer sent
     * after its request or handshake (e.g. a TLS ClientHello) */
    if (take_buffered(bufferevent_get_output(c->ubev), cin, &a.pending[TUNNEL_CLIENT],
                      &a.pending_len[TUNNEL_CLIENT]) != PF_OK ||
        take_buffered(bufferevent_get_output(c->cbev), uin, &a.pending[TUNNEL_UPSTREAM],
                      &a.pending_len[TUNNEL_UPSTREAM]) != PF_OK) {
        free(a.pending[TUNNEL_CLIENT]);
        conn_close(c, CONN_ERR_INTERNAL);
        return;
    }
    size_t nin = evbuffer_get_length(cin), nout = evbuffer_get_length(uin);
    c->bytes_in += nin;
    st->bytes_in += nin;
    c->bytes_out += nout;
    st->bytes_out += nout;
    a.fd[TUNNEL_CLIENT] = bev_release_fd(c->cbev);
    a.fd[TUNNEL_UPSTREAM] = bev_release_fd(c->ubev);
    c->cbev = c->ubev = NULL;
    struct tunnel *t = tunnel_create(&a);   /* may end (and close c) before it returns */
    if (t == NULL) {
        conn_close(c, CONN_ERR_INTERNAL);
        return;
    }
    c->tun = t;
}

/* TUNNEL: the idle deadline fired. Closes when nothing moved for
 * node.idle_timeout_ms, else re-arms for the time left. */
static void tunnel_timer(struct conn *c)
{
    int idle_ms = c->ctx->conf.node.idle_timeout_ms;
    int64_t left = c->tun == NULL ? 0 : idle_ms - tunnel_idle_ms(c->tun);
    if (left <= 0) {
        conn_close(c, CONN_ERR_IDLE_TIMEOUT);
        return;
    }
    /* bounded by a full period: the cached time follows wall clock steps */
    conn_arm_timer(c, (int)PF_MIN_OF(left, (int64_t)idle_ms));
}

/* READ_HEAD: parse what arrived so far. */
static void read_head(struct conn *c)
{
    struct evbuffer *in = bufferevent_get_input(c->cbev);
    size_t len = evbuffer_get_length(in);
    if (len == 0)
        return;
    if (c->nreq == 0 && !c->is_head_started) {
        uint8_t first;
        if (evbuffer_copyout(in, &first, 1) == 1 && first == SOCKS5_VERSION) {
            socks5_server_start(c);   /* SOCKS5 on the HTTP port: no request line starts with 0x05 */
            return;
        }
    }
    if (!c->is_head_started) {
        c->is_head_started = 1;
        if (c->nreq > 0)   /* idle wait is over: the head deadline starts now */
            conn_arm_timer(c, c->ctx->conf.node.header_timeout_ms);
    }
    if (c->req == NULL) {   /* allocated when a head starts arriving */
        c->req = http_head_create(HTTP_HEAD_REQUEST, (size_t)c->ctx->conf.node.max_header_bytes);
        if (c->req == NULL) {
            conn_reply_error(c, CONN_ERR_INTERNAL);
            return;
        }
    }
    size_t n = PF_MIN_OF(len, c->req->max_bytes);
    const char *p = (const char *)evbuffer_pullup(in, (ev_ssize_t)n);
    int rc = http_head_parse(c->req, p, n);
    if (rc == PF_EAGAIN)
        return;
    if (rc == PF_ERANGE) {
        clog_debug(c, "request head rejected: %s", c->req->err.msg);
        conn_reply_error(c, CONN_ERR_HEAD_TOO_LARGE);
        return;
    }
    if (rc != PF_OK) {
        clog_debug(c, "request head rejected: %s", c->req->err.msg);
        conn_reply_error(c, CONN_ERR_BAD_REQUEST);
        return;
    }
    evbuffer_drain(in, c->req->head_len);
    c->bytes_in += c->req->head_len;
    c->ctx->stats.bytes_in += c->req->head_len;
    c->nreq++;
    c->is_head_started = 0;
    http_proxy_on_request(c);
}

void conn_next_request(struct conn *c)
{
    http_proxy_reset_exchange(c);
    conn_set_state(c, CONN_ST_READ_HEAD);
    bufferevent_setwatermark(c->cbev, EV_WRITE, 0, 0);
    bufferevent_enable(c->cbev, EV_READ | EV_WRITE);
    conn_arm_timer(c, c->ctx->conf.node.idle_timeout_ms);
    if (c->is_client_eof) {
        conn_close(c, CONN_ERR_NONE);
        return;
    }
    read_head(c);
}

static void client_read_cb(struct bufferevent *bev, void *arg)
{
    struct conn *c = arg;
    if (c->is_closing)
        return;
    switch (c->state) {
    case CONN_ST_READ_HEAD:
        read_head(c);
        break;
    case CONN_ST_DIALING:
        break;               /* kept (bounded by the read watermark) until connected */
    case CONN_ST_FORWARD:
        http_proxy_on_client_data(c);
        break;
    case CONN_ST_SOCKS5:
        socks5_server_on_read(c);
        break;
    case CONN_ST_FLUSH:
    case CONN_ST_LINGER: {
        struct evbuffer *in = bufferevent_get_input(bev);
        size_t n = evbuffer_get_length(in);
        c->bytes_in += n;
        c->ctx->stats.bytes_in += n;
        evbuffer_drain(in, n);
        break;
    }
    default:
        break;
    }
}

static void client_write_cb(struct bufferevent *bev, void *arg)
{
    struct conn *c = arg;
    if (c->is_closing)
        return;
    size_t out = evbuffer_get_length(bufferevent_get_output(bev));
    switch (c->state) {
    case CONN_ST_FLUSH:
        if (out == 0)
            start_linger(c);
        else
            conn_arm_timer(c, c->ctx->conf.node.idle_timeout_ms);
        break;
    case CONN_ST_FORWARD:
        if (c->ubev != NULL && out < HTTP_PROXY_HIGH_WATER) {
            bufferevent_enable(c->ubev, EV_READ);
            http_proxy_on_upstream_data(c);
        }
        break;
    default:
        break;
    }
}

static void client_event_cb(struct bufferevent *bev, short what, void *arg)
{
    (void)bev;
    struct conn *c = arg;
    if (c->is_closing)
        return;
    if (what & BEV_EVENT_ERROR) {
        int e = EVUTIL_SOCKET_ERROR();
        clog_debug(c, "client socket error: %s", evutil_socket_error_to_string(e));
        conn_close(c, c->state == CONN_ST_LINGER || c->state == CONN_ST_FLUSH ? c->reason
                                                                              : CONN_ERR_CLIENT_IO);
        return;
    }
    if (!(what & BEV_EVENT_EOF))
        return;
    c->is_client_eof = 1;
    switch (c->state) {
    case CONN_ST_READ_HEAD:
        conn_close(c, c->is_head_started ? CONN_ERR_CLIENT_EOF : CONN_ERR_NONE);
        break;
    case CONN_ST_FORWARD:
        if (!c->req_body.is_done)
            conn_close(c, CONN_ERR_CLIENT_EOF);
        break;               /* else: deliver the response, then close */
    case CONN_ST_FLUSH:
        break;               /* the client may still read what we flush */
    case CONN_ST_LINGER:
        conn_close(c, c->reason);
        break;
    default:
        conn_close(c, CONN_ERR_CLIENT_EOF);
        break;
    }
}

static void upstream_read_cb(struct bufferevent *bev, void *arg)
{
    struct conn *c = arg;
    if (c->is_closing)
        return;
    switch (c->state) {
    case CONN_ST_FORWARD:
        http_proxy_on_upstream_data(c);
        break;
    default:
        /* bytes on an idle kept-alive connection: it cannot be reused */
        (void)bev;
        conn_drop_upstream(c);
        break;
    }
}

static void upstream_write_cb(struct bufferevent *bev, void *arg)
{
    struct conn *c = arg;
    if (c->is_closing)
        return;
    size_t out = evbuffer_get_length(bufferevent_get_output(bev));
    if (c->state == CONN_ST_FORWARD && out < HTTP_PROXY_HIGH_WATER) {
        if (!c->is_client_eof)
            bufferevent_enable(c->cbev, EV_READ);
        http_proxy_on_client_data(c);
    }
}

static void upstream_event_cb(struct bufferevent *bev, short what, void *arg)
{
    (void)bev;
    struct conn *c = arg;
    if (c->is_closing)
        return;
    int is_error = (what & BEV_EVENT_ERROR) != 0;
    switch (c->state) {
    case CONN_ST_FORWARD:
        http_proxy_on_upstream_close(c, is_error);
        break;
    default:
        conn_drop_upstream(c);   /* an idle kept-alive upstream went away */
        break;
    }
}

static void timer_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd; (void)what;
    struct conn *c = arg;
    if (c->is_closing)
        return;
    switch (c->state) {
    case CONN_ST_READ_HEAD:
        if (c->is_head_started || c->nreq == 0)
            conn_reply_error(c, CONN_ERR_HEADER_TIMEOUT);
        else
            conn_close(c, CONN_ERR_IDLE_TIMEOUT);
        break;
    case CONN_ST_DIALING:
    case CONN_ST_FORWARD:
        http_proxy_on_timeout(c);
        break;
    case CONN_ST_TUNNEL:
        tunnel_timer(c);
        break;
    case CONN_ST_SOCKS5:
        socks5_server_on_timeout(c);
        break;
    case CONN_ST_FLUSH:
    case CONN_ST_LINGER:
    default:
        conn_close(c, c->reason);
        break;
    }
}
