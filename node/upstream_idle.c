/* Idle upstream connections shared across clients; see upstream_idle.h. */
#include "upstream_idle.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "clock.h"
#include "log.h"
#include "upstream_tls.h"

#define IDLE_BUCKETS 4096u     /* upstream ids hashed; chains stay short up to a few 10k keys */

struct idle_key;

/* One parked connection: in its upstream's list (newest first) and in the
 * store's list (oldest first, so also in expiry order). */
struct idle_conn {
    struct upstream_idle *store;     /* borrowed: the owner */
    struct idle_key      *key;       /* borrowed: its upstream's entry */
    struct bufferevent   *bev;       /* owned */
    int64_t               since_ms;  /* parked at (monotonic) */
    struct idle_conn     *knext, *kprev;
    struct idle_conn     *gnext, *gprev;
};

/* One upstream with at least one idle connection. */
struct idle_key {
    struct idle_key  *next;          /* bucket chain */
    struct idle_conn *head;          /* newest first */
    struct idle_conn *tail;          /* oldest */
    size_t            n;
    char              id[];          /* owned, NUL-terminated */
};

struct upstream_idle {
    struct node_ctx  *ctx;           /* borrowed */
    struct event     *timer;         /* owned: the oldest connection's expiry */
    struct idle_conn *oldest, *newest;
    size_t            n;
    struct idle_key  *buckets[IDLE_BUCKETS];
};

static uint32_t id_hash(const char *s)
{
    uint32_t h = 2166136261u;         /* FNV-1a 32 */
    for (; *s != '\0'; s++)
        h = (h ^ (uint8_t)*s) * 16777619u;
    return h;
}

static struct idle_key **key_slot(struct upstream_idle *s, const char *id)
{
    struct idle_key **pp = &s->buckets[id_hash(id) % IDLE_BUCKETS];
    while (*pp != NULL && strcmp((*pp)->id, id) != 0)
        pp = &(*pp)->next;
    return pp;
}

/* Unlinks <ic> from both lists, frees its key when it was the last, and
 * returns its bev (the caller closes or hands it on). */
static struct bufferevent *unlink_conn(struct idle_conn *ic)
{
    struct upstream_idle *s = ic->store;
    struct idle_key *k = ic->key;
    struct bufferevent *bev = ic->bev;
    if (ic->kprev != NULL) ic->kprev->knext = ic->knext; else k->head = ic->knext;
    if (ic->knext != NULL) ic->knext->kprev = ic->kprev; else k->tail = ic->kprev;
    if (ic->gprev != NULL) ic->gprev->gnext = ic->gnext; else s->oldest = ic->gnext;
    if (ic->gnext != NULL) ic->gnext->gprev = ic->gprev; else s->newest = ic->gprev;
    s->n--;
    s->ctx->stats.reuse_idle--;
    if (--k->n == 0) {
        struct idle_key **pp = key_slot(s, k->id);
        *pp = k->next;
        free(k);
    }
    free(ic);
    bufferevent_setcb(bev, NULL, NULL, NULL, NULL);
    bufferevent_disable(bev, EV_READ | EV_WRITE);
    return bev;
}

/* Closes <ic>, counted in <*counter>. */
static void close_conn(struct idle_conn *ic, uint64_t *counter)
{
    (*counter)++;
    bufferevent_free(unlink_conn(ic));
}

static void arm_timer(struct upstream_idle *s)
{
    if (s->oldest == NULL) {
        event_del(s->timer);
        return;
    }
    int64_t left = s->oldest->since_ms + s->ctx->conf.node.reuse_max_idle_ms - clock_mono_ms();
    if (left < 0)
        left = 0;
    struct timeval tv = { .tv_sec = (time_t)(left / 1000), .tv_usec = (suseconds_t)(left % 1000) * 1000 };
    evtimer_add(s->timer, &tv);
}

static void timer_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd; (void)what;
    struct upstream_idle *s = arg;
    int64_t now = clock_mono_ms(), max_ms = s->ctx->conf.node.reuse_max_idle_ms;
    while (s->oldest != NULL && now - s->oldest->since_ms >= max_ms)
        close_conn(s->oldest, &s->ctx->stats.reuse_expired);
    arm_timer(s);
}

/* A parked connection spoke: the upstream closed it, reset it, or sent
 * bytes nobody asked for. Either way it cannot carry a request. */
static void idle_read_cb(struct bufferevent *bev, void *arg)
{
    (void)bev;
    struct idle_conn *ic = arg;
    struct upstream_idle *s = ic->store;
    close_conn(ic, &s->ctx->stats.reuse_discarded);
    arm_timer(s);
}

static void idle_event_cb(struct bufferevent *bev, short what, void *arg)
{
    (void)what;
    idle_read_cb(bev, arg);
}

struct upstream_idle *upstream_idle_create(struct node_ctx *ctx)
{
    struct upstream_idle *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return NULL;
    s->ctx = ctx;
    s->timer = evtimer_new(ctx->base, timer_cb, s);
    if (s->timer == NULL) {
        free(s);
        return NULL;
    }
    return s;
}

void upstream_idle_flush(struct upstream_idle *s)
{
    if (s == NULL)
        return;
    while (s->oldest != NULL)
        close_conn(s->oldest, &s->ctx->stats.reuse_expired);
    event_del(s->timer);
}

void upstream_idle_destroy(struct upstream_idle *s)
{
    if (s == NULL)
        return;
    upstream_idle_flush(s);
    event_free(s->timer);
    free(s);
}

int upstream_idle_bev_is_alive(struct bufferevent *bev)
{
    if (evbuffer_get_length(bufferevent_get_input(bev)) > 0 ||
        evbuffer_get_length(bufferevent_get_output(bev)) > 0)
        return 0;
    evutil_socket_t fd = bufferevent_getfd(bev);
    char b;
    ssize_t n = recv(fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n < 0)
        return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
    if (n == 0)
        return 0;                   /* FIN */
    /* a byte: junk on a plain socket; through TLS it may be a record the
     * library has not read yet (a session ticket): alive, and a close_notify
     * in it is the race the caller covers anyway */
    return upstream_tls_is_tls(bev);
}

int upstream_idle_fd_room(const struct node_ctx *ctx)
{
    const struct node_stats *st = &ctx->stats;
    uint64_t used = 2 * st->conns_active + st->reuse_idle + st->preconnect_warm +
                    st->preconnect_warming;
    return used < 2 * (uint64_t)(ctx->max_clients > 0 ? ctx->max_clients : 0);
}

void upstream_idle_put(struct upstream_idle *s, const char *id, struct bufferevent *bev)
{
    const struct conf_node *cn = &s->ctx->conf.node;
    /* (the conn parking it still counts as active: its two descriptors
     * become this one) */
    if (cn->reuse_max_idle_per_upstream <= 0 || cn->reuse_max_idle_total <= 0 ||
        !upstream_idle_fd_room(s->ctx)) {
        s->ctx->stats.reuse_expired++;
        bufferevent_free(bev);
        return;
    }
    struct idle_key **pp = key_slot(s, id), *k = *pp;
    if (k == NULL) {
        size_t len = strlen(id);
        k = calloc(1, sizeof(*k) + len + 1);
        if (k == NULL) {
            bufferevent_free(bev);
            return;
        }
        memcpy(k->id, id, len + 1);
        *pp = k;
    }
    struct idle_conn *ic = calloc(1, sizeof(*ic));
    if (ic == NULL) {
        if (k->n == 0) {
            *pp = k->next;
            free(k);
        }
        bufferevent_free(bev);
        return;
    }
    ic->store = s;
    ic->key = k;
    ic->bev = bev;
    ic->since_ms = clock_mono_ms();
    ic->knext = k->head;
    if (k->head != NULL) k->head->kprev = ic; else k->tail = ic;
    k->head = ic;
    k->n++;
    ic->gprev = s->newest;
    if (s->newest != NULL) s->newest->gnext = ic; else s->oldest = ic;
    s->newest = ic;
    s->n++;
    s->ctx->stats.reuse_idle++;
    bufferevent_setcb(bev, idle_read_cb, NULL, idle_event_cb, ic);
    bufferevent_setwatermark(bev, EV_READ, 0, 0);
    bufferevent_enable(bev, EV_READ);
    /* the caps: the oldest of this upstream, then the oldest of all */
    while (k->n > (size_t)cn->reuse_max_idle_per_upstream)
        close_conn(k->tail, &s->ctx->stats.reuse_expired);   /* never frees k: n stays >= 1 */
    while (s->n > (size_t)cn->reuse_max_idle_total)
        close_conn(s->oldest, &s->ctx->stats.reuse_expired);
    arm_timer(s);
}

struct bufferevent *upstream_idle_take(struct upstream_idle *s, const char *id)
{
    struct bufferevent *got = NULL;
    for (;;) {
        struct idle_key *k = *key_slot(s, id);
        if (k == NULL)
            break;
        struct bufferevent *bev = unlink_conn(k->head);   /* may free k */
        if (upstream_idle_bev_is_alive(bev)) {
            got = bev;
            break;
        }
        s->ctx->stats.reuse_discarded++;
        bufferevent_free(bev);
    }
    arm_timer(s);
    return got;
}
