/* Warm upstream connections, sized by recent use; see preconnect.h. */
#include "preconnect.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/bufferevent.h>
#include <event2/event.h>

#include "clock.h"
#include "conf_gen.h"
#include "dial.h"
#include "log.h"
#include "pool_cache.h"
#include "upstream_idle.h"

#define PC_BUCKETS   1024u
#define PC_TICK_MS   1000
#define PC_RATE_MIN  0.05       /* uses per second under which an upstream gets none */

struct pc_up;

/* One warm connection: being set up (its dial runs) or ready (bev). */
struct pc_conn {
    struct preconnect *p;        /* borrowed: the owner */
    struct pc_up      *u;        /* borrowed: its upstream (outlives it) */
    struct conf_gen   *gen;      /* one reference: the settings its dial reads */
    struct dial        dial;     /* embedded: the warm dial */
    struct bufferevent *bev;     /* owned once ready */
    int64_t            since_ms; /* dial started, or ready since (monotonic) */
    int                is_ready;
    struct pc_conn    *next, *prev;  /* in u->ready (newest first) or u->warming; in p->dead */
};

/* One upstream in use. */
struct pc_up {
    struct pc_up    *bnext;          /* bucket chain */
    struct pc_up    *next, *prev;    /* in p->ups */
    struct upstream  up;             /* copy the warm dials borrow; wiped when freed */
    double           rate;           /* smoothed new connections per second */
    uint32_t         uses;           /* since the last tick */
    size_t           nready, nwarming;
    struct pc_conn  *ready;          /* newest first */
    struct pc_conn  *warming;
    char             id[UPSTREAM_ID_MAX];
};

struct preconnect {
    struct node_ctx *ctx;            /* borrowed */
    struct event    *tick;           /* owned: once a second */
    struct event    *reaper;         /* owned: frees dead conns at the loop tail */
    struct pc_up    *ups;            /* every upstream in use */
    struct pc_conn  *dead;           /* waiting for the reaper */
    size_t           total;          /* ready + warming, over every upstream */
    struct pc_up    *buckets[PC_BUCKETS];
};

static uint32_t id_hash(const char *s)
{
    uint32_t h = 2166136261u;         /* FNV-1a 32 */
    for (; *s != '\0'; s++)
        h = (h ^ (uint8_t)*s) * 16777619u;
    return h;
}

static struct pc_up **up_slot(struct preconnect *p, const char *id)
{
    struct pc_up **pp = &p->buckets[id_hash(id) % PC_BUCKETS];
    while (*pp != NULL && strcmp((*pp)->id, id) != 0)
        pp = &(*pp)->bnext;
    return pp;
}

static void list_unlink(struct pc_conn **head, struct pc_conn *pc)
{
    if (pc->prev != NULL) pc->prev->next = pc->next; else *head = pc->next;
    if (pc->next != NULL) pc->next->prev = pc->prev;
    pc->next = pc->prev = NULL;
}

static void list_push(struct pc_conn **head, struct pc_conn *pc)
{
    pc->prev = NULL;
    pc->next = *head;
    if (*head != NULL)
        (*head)->prev = pc;
    *head = pc;
}

/* Takes <pc> out of its upstream's lists and the counts. */
static void detach(struct pc_conn *pc)
{
    struct preconnect *p = pc->p;
    struct pc_up *u = pc->u;
    if (pc->is_ready) {
        list_unlink(&u->ready, pc);
        u->nready--;
        p->ctx->stats.preconnect_warm--;
    } else {
        list_unlink(&u->warming, pc);
        u->nwarming--;
        p->ctx->stats.preconnect_warming--;
    }
    p->total--;
}

/* Detaches <pc>, stops it (no callback) and hands it to the reaper: it may
 * be the dial whose callback runs now (STYLE rule 16). */
static void kill_conn(struct pc_conn *pc)
{
    struct preconnect *p = pc->p;
    detach(pc);
    dial_cancel(&pc->dial);
    if (pc->bev != NULL) {
        bufferevent_free(pc->bev);
        pc->bev = NULL;
    }
    list_push(&p->dead, pc);
    event_active(p->reaper, EV_TIMEOUT, 1);
}

static void reaper_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd; (void)what;
    struct preconnect *p = arg;
    while (p->dead != NULL) {
        struct pc_conn *pc = p->dead;
        p->dead = pc->next;
        dial_deinit(&pc->dial);
        conf_gen_put(pc->gen);
        free(pc);
    }
}

/* A warm connection spoke or closed: it is no use any more. */
static void ready_read_cb(struct bufferevent *bev, void *arg)
{
    (void)bev;
    struct pc_conn *pc = arg;
    pc->p->ctx->stats.preconnect_discarded++;
    kill_conn(pc);
}

static void ready_event_cb(struct bufferevent *bev, short what, void *arg)
{
    (void)what;
    ready_read_cb(bev, arg);
}

static void warm_done_cb(void *arg, enum dial_err err, struct bufferevent *bev)
{
    struct pc_conn *pc = arg;
    struct preconnect *p = pc->p;
    if (err != DIAL_OK) {
        p->ctx->stats.preconnect_dial_failures++;
        log_debug("preconnect to an upstream failed: %s%s%s", dial_err_name(err),
                  pc->dial.detail != NULL ? ": " : "", pc->dial.detail != NULL ? pc->dial.detail : "");
        kill_conn(pc);
        return;
    }
    detach(pc);
    pc->is_ready = 1;
    pc->bev = bev;
    pc->since_ms = clock_mono_ms();
    list_push(&pc->u->ready, pc);
    pc->u->nready++;
    p->ctx->stats.preconnect_warm++;
    p->total++;
    bufferevent_setcb(bev, ready_read_cb, NULL, ready_event_cb, pc);
    bufferevent_setwatermark(bev, EV_READ, 0, 0);
    bufferevent_enable(bev, EV_READ);
}

/* Warm connections <u> should have now. */
static size_t target_of(const struct preconnect *p, const struct pc_up *u)
{
    const struct conf_node *cn = &p->ctx->conf.node;
    double r = u->rate > (double)u->uses ? u->rate : (double)u->uses;
    if (cn->preconnect_ratio <= 0 || r < PC_RATE_MIN || p->ctx->is_draining)
        return 0;
    double t = ceil(cn->preconnect_ratio * r);
    return t >= (double)cn->preconnect_max ? (size_t)cn->preconnect_max : (size_t)t;
}

static void start_one(struct preconnect *p, struct pc_up *u)
{
    struct pc_conn *pc = calloc(1, sizeof(*pc));
    if (pc == NULL)
        return;
    pc->p = p;
    pc->u = u;
    if (dial_init(&pc->dial, p->ctx, warm_done_cb, pc) != PF_OK) {
        dial_deinit(&pc->dial);
        free(pc);
        return;
    }
    pc->gen = conf_gen_get(p->ctx->gen);
    pc->dial.cn = &pc->gen->node;
    pc->since_ms = clock_mono_ms();
    list_push(&u->warming, pc);
    u->nwarming++;
    p->total++;
    p->ctx->stats.preconnect_warming++;
    p->ctx->stats.preconnect_dials++;
    dial_start_warm(&pc->dial, &u->up);   /* completion comes on a later loop turn */
}

/* Starts warm dials until <u> has its target, within the global cap. */
static void top_up(struct preconnect *p, struct pc_up *u)
{
    size_t target = target_of(p, u);
    size_t cap = (size_t)p->ctx->conf.node.preconnect_max;
    while (u->nready + u->nwarming < target && p->total < cap && upstream_idle_fd_room(p->ctx))
        start_one(p, u);
}

static void free_up(struct preconnect *p, struct pc_up *u)
{
    while (u->ready != NULL)
        kill_conn(u->ready);
    while (u->warming != NULL)
        kill_conn(u->warming);
    struct pc_up **pp = up_slot(p, u->id);
    *pp = u->bnext;
    if (u->prev != NULL) u->prev->next = u->next; else p->ups = u->next;
    if (u->next != NULL) u->next->prev = u->prev;
    memset(&u->up, 0, sizeof(u->up));   /* the password */
    free(u);
}

static void tick_up(struct preconnect *p, struct pc_up *u, int64_t now)
{
    const struct conf_node *cn = &p->ctx->conf.node;
    u->rate = u->rate / 2 + (double)u->uses / 2;
    u->uses = 0;
    int is_in_pool = pool_cache_find(&p->ctx->pool, u->id) >= 0;
    size_t target = is_in_pool ? target_of(p, u) : 0;
    /* set up for too long: the connect deadline */
    for (struct pc_conn *pc = u->warming, *next; pc != NULL; pc = next) {
        next = pc->next;
        if (now - pc->since_ms >= cn->connect_timeout_ms) {
            p->ctx->stats.preconnect_dial_failures++;
            kill_conn(pc);
        }
    }
    /* the oldest first: past preconnect_max_idle_ms, then beyond the target */
    while (u->ready != NULL) {
        struct pc_conn *oldest = u->ready;
        while (oldest->next != NULL)
            oldest = oldest->next;
        if (now - oldest->since_ms < cn->preconnect_max_idle_ms && u->nready <= target)
            break;
        p->ctx->stats.preconnect_recycled++;
        kill_conn(oldest);
    }
    if (target == 0 && u->nready == 0 && u->nwarming == 0) {
        free_up(p, u);
        return;
    }
    if (is_in_pool)
        top_up(p, u);
}

static void tick_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd; (void)what;
    struct preconnect *p = arg;
    int64_t now = clock_mono_ms();
    for (struct pc_up *u = p->ups, *next; u != NULL; u = next) {
        next = u->next;
        tick_up(p, u, now);
    }
}

struct preconnect *preconnect_create(struct node_ctx *ctx)
{
    struct preconnect *p = calloc(1, sizeof(*p));
    if (p == NULL)
        return NULL;
    p->ctx = ctx;
    p->tick = event_new(ctx->base, -1, EV_PERSIST, tick_cb, p);
    p->reaper = event_new(ctx->base, -1, 0, reaper_cb, p);
    const struct timeval tv = { PC_TICK_MS / 1000, (PC_TICK_MS % 1000) * 1000 };
    if (p->tick == NULL || p->reaper == NULL || event_add(p->tick, &tv) != 0) {
        preconnect_destroy(p);
        return NULL;
    }
    return p;
}

void preconnect_flush(struct preconnect *p)
{
    if (p == NULL)
        return;
    while (p->ups != NULL) {
        struct pc_up *u = p->ups;
        p->ctx->stats.preconnect_recycled += u->nready;
        free_up(p, u);
    }
}

void preconnect_destroy(struct preconnect *p)
{
    if (p == NULL)
        return;
    preconnect_flush(p);
    if (p->reaper != NULL) {
        reaper_cb(-1, 0, p);
        event_free(p->reaper);
    }
    if (p->tick != NULL)
        event_free(p->tick);
    free(p);
}

struct bufferevent *preconnect_take(struct preconnect *p, const char *id, const struct upstream *up)
{
    struct node_ctx *ctx = p->ctx;
    if (ctx->conf.node.preconnect_ratio <= 0 || ctx->is_draining)
        return NULL;
    struct pc_up **pp = up_slot(p, id), *u = *pp;
    if (u == NULL) {
        u = calloc(1, sizeof(*u));
        if (u == NULL)
            return NULL;
        snprintf(u->id, sizeof(u->id), "%s", id);
        u->up = *up;
        *pp = u;
        u->next = p->ups;
        if (p->ups != NULL)
            p->ups->prev = u;
        p->ups = u;
    } else if (u->nwarming == 0) {
        u->up = *up;      /* the pool's record may have changed; no dial borrows it now */
    }
    u->uses++;
    struct bufferevent *got = NULL;
    while (u->ready != NULL) {
        struct pc_conn *pc = u->ready;      /* the newest */
        struct bufferevent *bev = pc->bev;
        pc->bev = NULL;
        bufferevent_setcb(bev, NULL, NULL, NULL, NULL);
        bufferevent_disable(bev, EV_READ | EV_WRITE);
        kill_conn(pc);
        if (upstream_idle_bev_is_alive(bev)) {
            got = bev;
            break;
        }
        ctx->stats.preconnect_discarded++;
        bufferevent_free(bev);
    }
    if (got != NULL)
        ctx->stats.preconnect_hits++;
    else
        ctx->stats.preconnect_misses++;
    top_up(p, u);
    return got;
}
