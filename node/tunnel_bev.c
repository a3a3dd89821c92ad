/* Tunnel relay over bufferevents (a TLS upstream); see tunnel_bev.h. */
#include "tunnel_bev.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/event_struct.h>
#include <event2/util.h>

#include "clog.h"
#include "log.h"
#include "upstream_tls.h"

#define TUNNEL_BEV_READ_MAX (64 * 1024)   /* one read from the client socket */

enum { TB_CLIENT = TUNNEL_CLIENT, TB_UPSTREAM = TUNNEL_UPSTREAM };

struct tunnel_bev {
    uint64_t            id;                /* the owner's, for clog_*() */
    const char         *peer;              /* borrowed from the owner */
    struct event_base  *base;              /* borrowed */
    struct bufferevent *bev[2];            /* owned: [TB_CLIENT] socket, [TB_UPSTREAM] TLS */
    struct evbuffer_cb_entry *drain_cb[2]; /* owned by bev[s]'s output: stamps writes */
    uint64_t           *nread[2][2];       /* borrowed counters of bytes read per side */
    size_t              high_water;
    tunnel_done_fn      done;
    void               *arg;
    struct event        notify_ev;         /* embedded: the upstream socket writable again,
                                            * for a close_notify it could not take */
    int64_t             last_active_ms;    /* cached loop time bytes last moved */
    int                 is_eof[2];         /* side s sent EOF (TLS: close_notify or FIN) */
    int                 is_shut[2];        /* side s's EOF passed on to side !s */
    int                 is_paused[2];      /* side s not read: side !s's output is full */
    int                 is_done;           /* done() ran: nothing more happens */
};

static int64_t loop_now_ms(struct event_base *base)
{
    struct timeval tv;
    event_base_gettimeofday_cached(base, &tv);
    return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

static int side_of(const struct tunnel_bev *t, const struct bufferevent *bev)
{
    return bev == t->bev[TB_UPSTREAM] ? TB_UPSTREAM : TB_CLIENT;
}

static size_t out_len(const struct tunnel_bev *t, int s)
{
    return evbuffer_get_length(bufferevent_get_output(t->bev[s]));
}

/* The relay is over: no callback fires after, the owner hears it once. */
static void finish(struct tunnel_bev *t, enum tunnel_end end)
{
    if (t->is_done)
        return;
    tunnel_bev_stop(t);
    t->is_done = 1;
    t->done(t->arg, end);
}

/* Hands what side <s> has read to side !s's output and counts it; stops
 * reading <s> while that output is full. Returns 0, or -1 when the relay
 * ended (out of memory). */
static int move(struct tunnel_bev *t, int s)
{
    struct evbuffer *in = bufferevent_get_input(t->bev[s]);
    struct evbuffer *out = bufferevent_get_output(t->bev[!s]);
    size_t n = evbuffer_get_length(in);
    if (n > 0) {
        if (evbuffer_add_buffer(out, in) != 0) {
            finish(t, TUNNEL_END_NOMEM);
            return -1;
        }
        *t->nread[s][0] += n;
        *t->nread[s][1] += n;
        t->last_active_ms = loop_now_ms(t->base);
    }
    if (!t->is_paused[s] && !t->is_eof[s] && evbuffer_get_length(out) >= t->high_water) {
        t->is_paused[s] = 1;
        bufferevent_disable(t->bev[s], EV_READ);
    }
    return 0;
}

static void check_shutdown(struct tunnel_bev *t);

static void notify_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd; (void)what;
    struct tunnel_bev *t = arg;
    if (!t->is_done)
        check_shutdown(t);
}

/* Sends close_notify to the upstream. Returns 1 when done with it (sent,
 * or the connection is broken: nothing more can be said), 0 when the
 * socket is full: retried once it is writable. */
static int notify_upstream(struct tunnel_bev *t)
{
    int r = upstream_tls_close_notify(t->bev[TB_UPSTREAM]);
    if (r == 0) {
        if (!event_pending(&t->notify_ev, EV_WRITE, NULL) && event_add(&t->notify_ev, NULL) != 0) {
            clog_debug(t, "%s", "tunnel close_notify retry: event_add failed, ignored "
                       "(idle timer bounds it)");
        }
        return 0;
    }
    if (r < 0)
        clog_debug(t, "%s", "tunnel close_notify to the upstream failed, ignored");
    return 1;
}

/* Passes each side's EOF on once everything before it was written; the
 * relay ends when both directions are done. */
static void check_shutdown(struct tunnel_bev *t)
{
    for (int s = 0; s < 2; s++) {
        int d = !s;
        if (!t->is_eof[s] || t->is_shut[s] || out_len(t, d) > 0)
            continue;
        if (d == TB_UPSTREAM) {
            if (!notify_upstream(t))
                continue;
        } else if (shutdown(bufferevent_getfd(t->bev[d]), SHUT_WR) != 0) {
            clog_debug(t, "tunnel shutdown of the client side failed, ignored: %s",
                       strerror(errno));
        }
        t->is_shut[s] = 1;
    }
    if (t->is_shut[TB_CLIENT] && t->is_shut[TB_UPSTREAM])
        finish(t, TUNNEL_END_DONE);
}

static void read_cb(struct bufferevent *bev, void *arg)
{
    struct tunnel_bev *t = arg;
    if (!t->is_done)
        (void)move(t, side_of(t, bev));
}

/* Side <d>'s output drained to its low mark: half of high_water (the
 * other side may be read again), or 0 once that side sent EOF (the EOF
 * may be passed on). */
static void write_cb(struct bufferevent *bev, void *arg)
{
    struct tunnel_bev *t = arg;
    if (t->is_done)
        return;
    int s = !side_of(t, bev);     /* the side whose bytes go out here */
    if (t->is_paused[s] && !t->is_eof[s]) {
        t->is_paused[s] = 0;
        bufferevent_enable(t->bev[s], EV_READ);
    }
    check_shutdown(t);
}

/* Any drain of an output is bytes taken by the peer: a slow reader keeps
 * the tunnel alive. */
static void drain_cb(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg)
{
    (void)buf;
    struct tunnel_bev *t = arg;
    if (info->n_deleted > 0)
        t->last_active_ms = loop_now_ms(t->base);
}

/* Side <s> sent EOF: what it sent before is passed on, then the EOF. */
static void on_eof(struct tunnel_bev *t, int s)
{
    if (move(t, s) != 0)
        return;
    t->is_eof[s] = 1;
    t->is_paused[s] = 0;
    bufferevent_disable(t->bev[s], EV_READ);
    /* the other side's write callback says when it has written all */
    bufferevent_setwatermark(t->bev[!s], EV_WRITE, 0, 0);
    /* a TLS bufferevent stops writing too on the peer's close_notify;
     * what is still queued for the upstream must go out first */
    if (s == TB_UPSTREAM && out_len(t, TB_UPSTREAM) > 0)
        bufferevent_enable(t->bev[s], EV_WRITE);
    check_shutdown(t);
}

static void event_cb(struct bufferevent *bev, short what, void *arg)
{
    struct tunnel_bev *t = arg;
    if (t->is_done)
        return;
    int s = side_of(t, bev);
    if (what & BEV_EVENT_EOF) {
        on_eof(t, s);
        return;
    }
    if (what & BEV_EVENT_ERROR) {
        int e = EVUTIL_SOCKET_ERROR();
        clog_debug(t, "tunnel %s side error: %s", s == TB_CLIENT ? "client" : "upstream",
                   e != 0 ? evutil_socket_error_to_string(e) : "TLS");
        finish(t, s == TB_CLIENT ? TUNNEL_END_CLIENT_ERROR : TUNNEL_END_UPSTREAM_ERROR);
    }
}

struct tunnel_bev *tunnel_bev_create(const struct tunnel_bev_args *a)
{
    struct tunnel_bev *t = calloc(1, sizeof(*t));
    if (t == NULL) {
        for (int s = 0; s < 2; s++)
            bufferevent_free(a->bev[s]);
        return NULL;
    }
    t->id = a->id;
    t->peer = a->peer;
    t->base = a->base;
    t->high_water = a->high_water;
    t->done = a->done;
    t->arg = a->arg;
    event_assign(&t->notify_ev, t->base, bufferevent_getfd(a->bev[TB_UPSTREAM]), EV_WRITE,
                 notify_cb, t);
    for (int s = 0; s < 2; s++) {
        t->bev[s] = a->bev[s];
        t->nread[s][0] = a->nread[s][0];
        t->nread[s][1] = a->nread[s][1];
        bufferevent_setcb(t->bev[s], read_cb, write_cb, event_cb, t);
        bufferevent_setwatermark(t->bev[s], EV_READ, 0, t->high_water);
        bufferevent_setwatermark(t->bev[s], EV_WRITE, t->high_water / 2, 0);
        t->drain_cb[s] = evbuffer_add_cb(bufferevent_get_output(t->bev[s]), drain_cb, t);
    }
    /* bigger reads and writes on the plain side than libevent's 16 KiB:
     * fewer loop turns per MiB (a TLS record is at most 16 KiB anyway) */
    if (bufferevent_set_max_single_read(t->bev[TB_CLIENT], TUNNEL_BEV_READ_MAX) != 0 ||
        bufferevent_set_max_single_write(t->bev[TB_CLIENT], t->high_water) != 0)
        clog_debug(t, "%s", "tunnel max single read/write not set, ignored");
    t->last_active_ms = loop_now_ms(t->base);
    if (t->drain_cb[TB_CLIENT] == NULL || t->drain_cb[TB_UPSTREAM] == NULL) {
        finish(t, TUNNEL_END_NOMEM);
        return t;
    }
    /* what the handoff left: the client's bytes after its request, the
     * upstream's after its reply (the 200 is already in the client's output) */
    for (int s = 0; s < 2; s++)
        if (move(t, s) != 0)
            return t;
    for (int s = 0; s < 2; s++)
        bufferevent_enable(t->bev[s], t->is_paused[s] ? EV_WRITE : EV_READ | EV_WRITE);
    return t;
}

int64_t tunnel_bev_idle_ms(const struct tunnel_bev *t)
{
    return loop_now_ms(t->base) - t->last_active_ms;
}

void tunnel_bev_stop(struct tunnel_bev *t)
{
    if (t == NULL)
        return;
    event_del(&t->notify_ev);
    for (int s = 0; s < 2; s++) {
        if (t->bev[s] == NULL)
            continue;
        bufferevent_setcb(t->bev[s], NULL, NULL, NULL, NULL);
        bufferevent_disable(t->bev[s], EV_READ | EV_WRITE);
        if (t->drain_cb[s] != NULL)
            evbuffer_remove_cb_entry(bufferevent_get_output(t->bev[s]), t->drain_cb[s]);
        t->drain_cb[s] = NULL;
    }
}

void tunnel_bev_destroy(struct tunnel_bev *t)
{
    if (t == NULL)
        return;
    tunnel_bev_stop(t);
    for (int s = 0; s < 2; s++)
        if (t->bev[s] != NULL)
            bufferevent_free(t->bev[s]);
    free(t);
}
