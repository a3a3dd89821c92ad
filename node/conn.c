/* Client connection transport: lifecycle, callbacks, timers, the tunnel
 * handoff and the close path; see conn.h. */
#include "conn.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdalign.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/util.h>

#include "clog.h"
#include "log.h"
#include "tunnel.h"
#include "tunnel_bev.h"
#include "upstream_tls.h"

#define LINGER_MS 2000
#define REJECT_FLUSH_MS 1000

/* c->proto starts here, aligned for any type */
#define CONN_PROTO_OFFSET \
    ((sizeof(struct conn) + alignof(max_align_t) - 1) / alignof(max_align_t) * alignof(max_align_t))

_Static_assert(CONN_ST__COUNT <= 8, "stats.conns_by_state too small");

static void client_read_cb(struct bufferevent *bev, void *arg);
static void client_write_cb(struct bufferevent *bev, void *arg);
static void client_event_cb(struct bufferevent *bev, short what, void *arg);
static void upstream_read_cb(struct bufferevent *bev, void *arg);
static void upstream_write_cb(struct bufferevent *bev, void *arg);
static void upstream_event_cb(struct bufferevent *bev, short what, void *arg);
static void timer_cb(evutil_socket_t fd, short what, void *arg);

const char *conn_state_name(enum conn_state st)
{
    static const char *const names[] = {
        "read_head", "dialing", "forward", "tunnel", "flush", "linger", "socks5",
    };
    _Static_assert(PF_ARRAY_LEN(names) == CONN_ST__COUNT, "conn_state names");
    return (size_t)st < PF_ARRAY_LEN(names) ? names[st] : "?";
}

void conn_bug(const struct conn *c, const char *what, const char *file, int line)
{
    log_write_conn(PF_LOG_ERROR, file, line, c->id, c->peer, "BUG in state %s: %s does not hold",
                   conn_state_name(c->state), what);
    abort();
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
    c->ops->release(c);
    conf_gen_put(c->gen);
    dial_deinit(&c->dial);
    if (c->timer != NULL)
        event_free(c->timer);
    if (c->cbev != NULL)
        bufferevent_free(c->cbev);
    if (c->ubev != NULL)
        bufferevent_free(c->ubev);
    tunnel_destroy(c->tun);
    tunnel_bev_destroy(c->btun);
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

struct conn *conn_create(struct node_ctx *ctx, int fd, const struct sockaddr *sa,
                         const struct conn_ops *ops, size_t proto_size, int is_reject)
{
    /* one allocation for the transport and the protocol's state */
    struct conn *c = calloc(1, CONN_PROTO_OFFSET + proto_size);
    if (c == NULL) {
        log_error("accept: out of memory, closing fd %d", fd);
        close(fd);
        return NULL;
    }
    c->ctx = ctx;
    c->gen = conf_gen_get(ctx->gen);
    c->cn = &c->gen->node;
    c->ops = ops;
    c->proto = (char *)c + CONN_PROTO_OFFSET;
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
    if (c->cbev == NULL || c->timer == NULL) {
        conn_close(c, CONN_ERR_INTERNAL);
        return NULL;
    }
    size_t high = PF_MAX_OF((size_t)CONN_HIGH_WATER, (size_t)c->cn->max_header_bytes + 1);
    bufferevent_setwatermark(c->cbev, EV_READ, 0, high);
    bufferevent_setcb(c->cbev, client_read_cb, client_write_cb, client_event_cb, c);
    bufferevent_enable(c->cbev, EV_READ | EV_WRITE);
    clog_debug(c, "accepted%s", is_reject ? " over max_clients" : "");
    if (!is_reject)
        conn_arm_timer(c, c->cn->header_timeout_ms);
    return c;
}

void conn_use_current_settings(struct conn *c)
{
    if (c->gen == c->ctx->gen)
        return;
    conf_gen_put(c->gen);
    c->gen = conf_gen_get(c->ctx->gen);
    c->cn = &c->gen->node;
}

void conn_close(struct conn *c, enum conn_err reason)
{
    if (c->is_closing)
        return;
    struct node_ctx *ctx = c->ctx;
    c->is_closing = 1;
    if (c->ops->on_close != NULL)
        c->ops->on_close(c, reason);
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
    tunnel_bev_stop(c->btun);
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

void conn_close_idle(struct node_ctx *ctx)
{
    for (struct conn *c = ctx->conns, *next; c != NULL; c = next) {
        next = c->next;
        if (c->ops->is_idle(c))
            conn_close(c, CONN_ERR_SHUTDOWN);    /* idle: nothing in flight */
    }
}

void conn_drop_upstream(struct conn *c)
{
    if (c->ubev != NULL) {
        bufferevent_free(c->ubev);
        c->ubev = NULL;
    }
}

void conn_attach_upstream(struct conn *c, struct bufferevent *bev)
{
    if (c->ubev != NULL)
        bufferevent_free(c->ubev);
    c->ubev = bev;
    bufferevent_setwatermark(bev, EV_READ, 0,
                             PF_MAX_OF((size_t)CONN_HIGH_WATER,
                                       (size_t)c->cn->max_header_bytes + 1));
    bufferevent_setwatermark(bev, EV_WRITE, CONN_HIGH_WATER / 2, 0);
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
    if (c->tun != NULL || c->btun != NULL) {   /* a tunnel's relay owns the sockets */
        conn_close(c, reason);
        return;
    }
    c->reason = reason;
    dial_cancel(&c->dial);
    conn_drop_upstream(c);
    conn_set_state(c, CONN_ST_FLUSH);
    bufferevent_setwatermark(c->cbev, EV_WRITE, 0, 0);
    bufferevent_enable(c->cbev, EV_WRITE);
    conn_arm_timer(c, c->is_reject ? REJECT_FLUSH_MS : c->cn->idle_timeout_ms);
    if (evbuffer_get_length(bufferevent_get_output(c->cbev)) == 0)
        start_linger(c);
}

void conn_reply_error(struct conn *c, enum conn_err reason)
{
    if (c->is_closing)
        return;
    c->ops->reply_error(c, reason);
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

/* TUNNEL through a TLS upstream: both bufferevents, with what they hold,
 * go to the bufferevent relay. */
static void tunnel_bev_start(struct conn *c)
{
    struct node_stats *st = &c->ctx->stats;
    struct tunnel_bev_args a = {
        .base = c->ctx->base,
        .bev = { c->cbev, c->ubev },
        .nread = { { &c->bytes_in, &st->bytes_in }, { &c->bytes_out, &st->bytes_out } },
        .high_water = CONN_HIGH_WATER,
        .done = tunnel_done_cb,
        .arg = c,
        .id = c->id,
        .peer = c->peer,
    };
    c->cbev = c->ubev = NULL;
    struct tunnel_bev *t = tunnel_bev_create(&a);   /* may end (and close c) before it returns */
    if (t == NULL) {
        conn_close(c, CONN_ERR_INTERNAL);
        return;
    }
    c->btun = t;
}

void conn_tunnel_start(struct conn *c)
{
    struct node_stats *st = &c->ctx->stats;
    st->tunnels_total++;
    conn_set_state(c, CONN_ST_TUNNEL);
    /* armed once: the relay stamps activity and the timer re-arms for the rest */
    conn_arm_timer(c, c->cn->idle_timeout_ms);
    if (upstream_tls_is_tls(c->ubev)) {
        tunnel_bev_start(c);
        return;
    }
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
    int idle_ms = c->cn->idle_timeout_ms;
    int64_t left = c->tun != NULL  ? idle_ms - tunnel_idle_ms(c->tun)
                 : c->btun != NULL ? idle_ms - tunnel_bev_idle_ms(c->btun) : 0;
    if (left <= 0) {
        conn_close(c, CONN_ERR_IDLE_TIMEOUT);
        return;
    }
    /* bounded by a full period: the cached time follows wall clock steps */
    conn_arm_timer(c, (int)PF_MIN_OF(left, (int64_t)idle_ms));
}

/* FLUSH, LINGER: what the client still sends is read and dropped. */
static void discard_input(struct conn *c)
{
    struct evbuffer *in = bufferevent_get_input(c->cbev);
    size_t n = evbuffer_get_length(in);
    c->bytes_in += n;
    c->ctx->stats.bytes_in += n;
    evbuffer_drain(in, n);
}

static void client_read_cb(struct bufferevent *bev, void *arg)
{
    (void)bev;
    struct conn *c = arg;
    if (c->is_closing)
        return;
    switch (c->state) {
    case CONN_ST_FLUSH:
    case CONN_ST_LINGER:
        discard_input(c);
        break;
    default:
        c->ops->on_client_data(c);
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
            conn_arm_timer(c, c->cn->idle_timeout_ms);
        break;
    case CONN_ST_FORWARD:
        /* backpressure released: the upstream may be read again */
        if (c->ubev != NULL && out < CONN_HIGH_WATER) {
            bufferevent_enable(c->ubev, EV_READ);
            CONN_ASSERT(c, c->ops->on_upstream_data != NULL);
            c->ops->on_upstream_data(c);
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
    case CONN_ST_FLUSH:
        break;               /* the client may still read what we flush */
    case CONN_ST_LINGER:
        conn_close(c, c->reason);
        break;
    default:
        c->ops->on_client_eof(c);
        break;
    }
}

static void upstream_read_cb(struct bufferevent *bev, void *arg)
{
    (void)bev;
    struct conn *c = arg;
    if (c->is_closing)
        return;
    switch (c->state) {
    case CONN_ST_FORWARD:
        CONN_ASSERT(c, c->ops->on_upstream_data != NULL);
        c->ops->on_upstream_data(c);
        break;
    default:
        /* bytes on an idle kept-alive connection: it cannot be reused */
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
    if (c->state == CONN_ST_FORWARD && out < CONN_HIGH_WATER) {
        /* backpressure released: the client may be read again */
        if (!c->is_client_eof)
            bufferevent_enable(c->cbev, EV_READ);
        c->ops->on_client_data(c);
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
        CONN_ASSERT(c, c->ops->on_upstream_close != NULL);
        c->ops->on_upstream_close(c, is_error);
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
    case CONN_ST_TUNNEL:
        tunnel_timer(c);
        break;
    case CONN_ST_FLUSH:
    case CONN_ST_LINGER:
        conn_close(c, c->reason);
        break;
    default:
        c->ops->on_timeout(c);
        break;
    }
}
