/* Graceful stop on SIGTERM/SIGINT; see drain.h. */
#include "drain.h"

#include <signal.h>
#include <stdlib.h>

#include <event2/event.h>

#include "conn.h"
#include "listener.h"
#include "log.h"
#include "notify.h"

struct drain {
    struct node_ctx *ctx;               /* borrowed */
    struct event    *sigint;            /* owned */
    struct event    *sigterm;           /* owned */
    struct event    *timer;             /* owned: the drain_grace_ms deadline */
};

static void stop_now(struct node_ctx *ctx)
{
    ctx->is_stopping = 1;
    event_base_loopbreak(ctx->base);
}

static void grace_over_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd; (void)what;
    struct drain *d = arg;
    log_info("drain: grace time over, closing %llu connections",
             (unsigned long long)d->ctx->stats.conns_active);
    stop_now(d->ctx);
}

static void signal_cb(evutil_socket_t sig, short what, void *arg)
{
    (void)what;
    struct drain *d = arg;
    struct node_ctx *ctx = d->ctx;
    if (!ctx->is_draining)
        notify_state(ctx, "STOPPING=1");
    if (ctx->is_draining || ctx->conf.node.drain_grace_ms == 0) {
        log_info("signal %d: shutting down", (int)sig);
        stop_now(ctx);
        return;
    }
    ctx->is_draining = 1;
    /* closed listeners refuse new connections instead of queueing them */
    listener_destroy(ctx->listener);
    ctx->listener = NULL;
    listener_destroy(ctx->socks5_listener);
    ctx->socks5_listener = NULL;
    conn_close_idle(ctx);
    log_info("signal %d: draining %llu connections for up to %d ms", (int)sig,
             (unsigned long long)ctx->stats.conns_active, ctx->conf.node.drain_grace_ms);
    if (ctx->conns == NULL) {
        event_base_loopbreak(ctx->base);
        return;
    }
    int ms = ctx->conf.node.drain_grace_ms;
    struct timeval tv = { .tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000 };
    if (evtimer_add(d->timer, &tv) != 0)
        stop_now(ctx);
}

struct drain *drain_create(struct node_ctx *ctx)
{
    struct drain *d = calloc(1, sizeof(*d));
    if (d == NULL)
        return NULL;
    d->ctx = ctx;
    d->timer = evtimer_new(ctx->base, grace_over_cb, d);
    d->sigint = evsignal_new(ctx->base, SIGINT, signal_cb, d);
    d->sigterm = evsignal_new(ctx->base, SIGTERM, signal_cb, d);
    if (d->timer == NULL || d->sigint == NULL || d->sigterm == NULL ||
        evsignal_add(d->sigint, NULL) != 0 || evsignal_add(d->sigterm, NULL) != 0) {
        drain_destroy(d);
        return NULL;
    }
    return d;
}

void drain_destroy(struct drain *d)
{
    if (d == NULL)
        return;
    if (d->timer != NULL)
        event_free(d->timer);
    if (d->sigint != NULL)
        event_free(d->sigint);
    if (d->sigterm != NULL)
        event_free(d->sigterm);
    free(d);
}
