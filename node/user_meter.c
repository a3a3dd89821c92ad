/* Per-user limits and usage; see user_meter.h. */
#include "user_meter.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "clock.h"
#include "keys.h"
#include "log.h"
#include "node.h"
#include "redis_link.h"
#include "user_store.h"

#define METER_BUCKETS      1024
#define METER_IDLE_MS      (3600 * 1000)   /* an idle slot is kept this long */
#define METER_BATCH_MAX    1024            /* users per report script */
#define METER_DAY_TTL_S    (40 * 86400)
#define METER_MONTH_TTL_S  (400 * 86400)

struct user_slot {
    char              name[USER_NAME_MAX + 1];
    struct user_usage u;
    int64_t           last_used_ms;  /* monotonic */
    int               is_in_batch;   /* in the report script out now */
    struct user_slot *next;          /* bucket chain */
};

/* One report script out: the slots it names, in order. */
struct meter_batch {
    struct user_slot **slots;        /* borrowed (pinned by is_in_batch) */
    size_t             n;
    char               day[USER_DAY_LEN];
    char               month[USER_MONTH_LEN];
    uint64_t           sent_disconnects;
};

struct user_meter {
    struct node_ctx    *ctx;         /* borrowed */
    struct event       *timer;       /* owned, persistent */
    struct user_slot   *buckets[METER_BUCKETS];  /* owned */
    struct user_tap    *taps;        /* borrowed: embedded in conns' sessions */
    struct meter_batch *batch;       /* owned; NULL = none out */
    int                 is_failing;  /* the last report got an error: logged once */
    struct user_meter_stats stats;
};

/* The report: adds each user's deltas to the fleet totals and reads them
 * back, in one atomic script (docs/redis-keys.md). KEYS: day, month, live per user. ARGV:
 * node id, stale ms, day TTL s, month TTL s, then bytes, requests, conns,
 * rps per user. Returns per user {day bytes, month bytes, other nodes'
 * conns, other nodes' rps}. The time of the live entries is Redis's own
 * (TIME), so the nodes' clocks need not agree. */
static const char meter_script[] =
    "local node, stale = ARGV[1], tonumber(ARGV[2])\n"
    "local dttl, mttl = ARGV[3], ARGV[4]\n"
    "local t = redis.call('TIME')\n"
    "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
    "local out = {}\n"
    "for i = 0, #KEYS / 3 - 1 do\n"
    "  local d, m, l = KEYS[3*i+1], KEYS[3*i+2], KEYS[3*i+3]\n"
    "  local b, r = ARGV[5+4*i], ARGV[6+4*i]\n"
    "  local db = redis.call('HINCRBY', d, 'bytes', b)\n"
    "  redis.call('HINCRBY', d, 'requests', r)\n"
    "  redis.call('EXPIRE', d, dttl)\n"
    "  local mb = redis.call('HINCRBY', m, 'bytes', b)\n"
    "  redis.call('HINCRBY', m, 'requests', r)\n"
    "  redis.call('EXPIRE', m, mttl)\n"
    "  redis.call('HSET', l, node, ARGV[7+4*i] .. ' ' .. ARGV[8+4*i] .. ' ' .. now)\n"
    "  redis.call('PEXPIRE', l, stale)\n"
    "  local oc, orps = 0, 0\n"
    "  local all = redis.call('HGETALL', l)\n"
    "  for j = 1, #all, 2 do\n"
    "    if all[j] ~= node then\n"
    "      local c, q, at = string.match(all[j+1], '^(%d+) (%d+) (%d+)$')\n"
    "      if c and tonumber(at) >= now - stale then\n"
    "        oc = oc + tonumber(c)\n"
    "        orps = orps + tonumber(q)\n"
    "      else\n"
    "        redis.call('HDEL', l, all[j])\n"
    "      end\n"
    "    end\n"
    "  end\n"
    "  out[#out+1] = {db, mb, oc, orps}\n"
    "end\n"
    "return out\n";

static uint32_t name_hash(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s != '\0'; s++)
        h = (h ^ (uint8_t)*s) * 16777619u;
    return h;
}

static struct user_slot *slot_get(struct user_meter *m, const char *name)
{
    uint32_t b = name_hash(name) % METER_BUCKETS;
    for (struct user_slot *s = m->buckets[b]; s != NULL; s = s->next)
        if (strcmp(s->name, name) == 0)
            return s;
    struct user_slot *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return NULL;
    snprintf(s->name, sizeof(s->name), "%s", name);
    s->next = m->buckets[b];
    m->buckets[b] = s;
    m->stats.users++;
    return s;
}

/* Counts the bytes <tap> moved since it was last sampled. */
static void tap_sample(struct user_tap *tap)
{
    uint64_t cur = *tap->bytes_in + *tap->bytes_out;
    if (cur > tap->seen) {
        user_usage_add_bytes(&tap->slot->u, cur - tap->seen);
        tap->seen = cur;
    }
}

static void tap_unlink(struct user_meter *m, struct user_tap *tap)
{
    if (tap->prev != NULL)
        tap->prev->next = tap->next;
    else
        m->taps = tap->next;
    if (tap->next != NULL)
        tap->next->prev = tap->prev;
    tap->prev = tap->next = NULL;
}

void user_meter_tap_end(struct user_meter *m, struct user_tap *tap)
{
    if (m == NULL || tap == NULL || tap->slot == NULL)
        return;
    tap_sample(tap);
    if (tap->slot->u.conns > 0)
        tap->slot->u.conns--;
    tap->slot->last_used_ms = clock_mono_ms();
    tap_unlink(m, tap);
    tap->slot = NULL;
}

static enum conn_err kind_of(enum user_verdict v)
{
    switch (v) {
    case USER_OVER_CONNS: return CONN_ERR_USER_MAX_CONNS;
    case USER_OVER_RPS:   return CONN_ERR_USER_MAX_RPS;
    case USER_OVER_DAY:   return CONN_ERR_USER_BYTES_PER_DAY;
    case USER_OVER_MONTH: return CONN_ERR_USER_BYTES_PER_MONTH;
    case USER_OK:         break;
    }
    return CONN_ERR_NONE;
}

enum conn_err user_meter_admit(struct user_meter *m, const char *name,
                               const struct user_limits *lim, struct user_tap *tap,
                               const uint64_t *bytes_in, const uint64_t *bytes_out,
                               int *retry_after_s)
{
    *retry_after_s = 0;
    if (m == NULL || !keys_valid_user(name))
        return CONN_ERR_NONE;
    struct user_slot *s = tap->slot != NULL && strcmp(tap->slot->name, name) == 0
                              ? tap->slot : slot_get(m, name);
    if (s == NULL)
        return CONN_ERR_NONE;        /* out of memory: not counted rather than refused */
    int64_t now = clock_mono_ms();
    s->last_used_ms = now;
    int is_new_conn = tap->slot != s;
    static const struct user_limits none;
    if (tap->slot != NULL)
        tap_sample(tap);             /* bytes so far count before the verdict */
    enum user_verdict v = user_usage_check(&s->u, lim != NULL ? lim : &none, now, clock_wall_ms(),
                                           is_new_conn, retry_after_s);
    if (v != USER_OK) {
        enum conn_err k = kind_of(v);
        m->stats.denied[k]++;
        return k;
    }
    if (is_new_conn) {
        user_meter_tap_end(m, tap);
        tap->slot = s;
        tap->bytes_in = bytes_in;
        tap->bytes_out = bytes_out;
        tap->seen = *bytes_in + *bytes_out;
        tap->prev = NULL;
        tap->next = m->taps;
        if (m->taps != NULL)
            m->taps->prev = tap;
        m->taps = tap;
        s->u.conns++;
    }
    user_usage_count_request(&s->u, now);
    return CONN_ERR_NONE;
}

void user_who_from(struct user_who *w, const struct auth_user *u)
{
    w->is_source_user = u->is_source_user;
    if (u->is_source_user)
        user_store_lookup_name(u->base_user, w->name, sizeof(w->name));
    else
        snprintf(w->name, sizeof(w->name), "%s", u->base_user);
}

/* The limits of config user <name> in <cn> into <out>; NULL when there is
 * no such user. */
static const struct user_limits *conf_user_limits(const struct conf_node *cn, const char *name,
                                                  struct user_limits *out)
{
    for (int i = 0; i < cn->nusers; i++) {
        const struct conf_user *e = &cn->users[i];
        if (strcmp(e->user, name) != 0)
            continue;
        out->max_conns = e->max_conns;
        out->max_rps = e->max_rps;
        out->bytes_per_day = (uint64_t)e->bytes_per_day;
        out->bytes_per_month = (uint64_t)e->bytes_per_month;
        return out;
    }
    return NULL;
}

enum conn_err user_meter_admit_user(struct node_ctx *ctx, const struct conf_node *cn,
                                    const struct user_who *w, struct user_tap *tap,
                                    const uint64_t *bytes_in, const uint64_t *bytes_out,
                                    int *retry_after_s)
{
    *retry_after_s = 0;
    if (w->name[0] == '\0')
        return CONN_ERR_NONE;
    struct user_limits conf_lim;
    const struct user_limits *lim = w->is_source_user ? user_store_limits(ctx->users, w->name)
                                                      : conf_user_limits(cn, w->name, &conf_lim);
    return user_meter_admit(ctx->meter, w->name, lim, tap, bytes_in, bytes_out, retry_after_s);
}

static void batch_free(struct meter_batch *b)
{
    if (b == NULL)
        return;
    for (size_t i = 0; i < b->n; i++)
        b->slots[i]->is_in_batch = 0;
    free(b->slots);
    free(b);
}

static void on_report(struct redis_link_reply *reply, void *arg)
{
    struct user_meter *m = arg;
    struct meter_batch *b = m->batch;
    m->batch = NULL;
    if (b == NULL)
        return;
    int is_ok = redis_link_reply_type(reply) == REDIS_LINK_REPLY_ARRAY &&
                redis_link_reply_count(reply) == b->n;
    for (size_t i = 0; is_ok && i < b->n; i++) {
        const struct redis_link_reply *e = redis_link_reply_element(reply, i);
        is_ok = redis_link_reply_type(e) == REDIS_LINK_REPLY_ARRAY &&
                redis_link_reply_count(e) == 4;
        for (size_t j = 0; is_ok && j < 4; j++)
            is_ok = redis_link_reply_type(redis_link_reply_element(e, j)) ==
                        REDIS_LINK_REPLY_INTEGER &&
                    redis_link_reply_integer(redis_link_reply_element(e, j)) >= 0;
    }
    if (!is_ok) {
        char buf[160];
        if (!m->is_failing)
            log_warn("redis: user usage report failed: %s",
                     redis_link_reply_describe(reply, buf, sizeof(buf)));
        m->is_failing = 1;
        /* an error reply (BUSY, OOM, a refused EVAL): sent again with the
         * next report, as for a lost reply (at least once) */
        for (size_t i = 0; i < b->n; i++)
            user_usage_report_lost(&b->slots[i]->u);
        batch_free(b);
        return;
    }
    m->is_failing = 0;
    m->stats.reports++;
    for (size_t i = 0; i < b->n; i++) {
        const struct redis_link_reply *e = redis_link_reply_element(reply, i);
        long long v[4];
        for (size_t j = 0; j < 4; j++)
            v[j] = redis_link_reply_integer(redis_link_reply_element(e, j));
        user_usage_report_done(&b->slots[i]->u, b->day, b->month, (uint64_t)v[0], (uint64_t)v[1],
                               v[2] > USER_CONNS_MAX ? USER_CONNS_MAX : (int)v[2],
                               v[3] > USER_RPS_MAX ? USER_RPS_MAX : (int)v[3]);
    }
    batch_free(b);
}

/* Frees slots idle for METER_IDLE_MS with nothing to report. */
static void gc_slots(struct user_meter *m, int64_t now)
{
    for (size_t b = 0; b < METER_BUCKETS; b++) {
        struct user_slot **pp = &m->buckets[b];
        while (*pp != NULL) {
            struct user_slot *s = *pp;
            const struct user_usage *u = &s->u;
            if (!s->is_in_batch && u->conns == 0 && u->pend_bytes == 0 && u->pend_reqs == 0 &&
                u->sent_bytes == 0 && u->sent_reqs == 0 && now - s->last_used_ms > METER_IDLE_MS) {
                *pp = s->next;
                free(s);
                m->stats.users--;
            } else {
                pp = &s->next;
            }
        }
    }
}

/* Sends the report script for every slot (up to METER_BATCH_MAX).
 * Returns PF_OK or why not. */
static int report_send(struct user_meter *m)
{
    struct node_ctx *ctx = m->ctx;
    size_t n = 0;
    for (size_t b = 0; b < METER_BUCKETS; b++)
        for (struct user_slot *s = m->buckets[b]; s != NULL; s = s->next)
            n++;
    if (n == 0)
        return PF_OK;
    if (n > METER_BATCH_MAX)
        n = METER_BATCH_MAX;
    int interval_ms = ctx->conf.node.report_interval_ms;
    size_t argc = 3 + 3 * n + 4 + 4 * n;
    struct meter_batch *bt = calloc(1, sizeof(*bt));
    const char **argv = calloc(argc, sizeof(*argv));
    char (*keybuf)[KEYS_NAME_MAX] = calloc(3 * n, sizeof(*keybuf));
    char (*numbuf)[24] = calloc(4 * n + 4, sizeof(*numbuf));
    int rc = PF_ENOMEM;
    if (bt == NULL || argv == NULL || keybuf == NULL || numbuf == NULL ||
        (bt->slots = calloc(n, sizeof(*bt->slots))) == NULL)
        goto done;
    int64_t wall = clock_wall_ms();
    user_period_day(wall, bt->day);
    user_period_month(wall, bt->month);
    size_t k = 0;
    for (size_t b = 0; b < METER_BUCKETS && k < n; b++) {
        for (struct user_slot *s = m->buckets[b]; s != NULL && k < n; s = s->next) {
            if (keys_user_day(&ctx->keys, s->name, bt->day, keybuf[3 * k], KEYS_NAME_MAX) != PF_OK ||
                keys_user_month(&ctx->keys, s->name, bt->month, keybuf[3 * k + 1],
                                KEYS_NAME_MAX) != PF_OK ||
                keys_user_live(&ctx->keys, s->name, keybuf[3 * k + 2], KEYS_NAME_MAX) != PF_OK)
                continue;            /* cannot happen: admitted names are valid keys */
            bt->slots[k++] = s;
        }
    }
    argv[0] = "EVAL";
    argv[1] = meter_script;
    snprintf(numbuf[0], sizeof(numbuf[0]), "%zu", 3 * k);
    argv[2] = numbuf[0];
    for (size_t i = 0; i < 3 * k; i++)
        argv[3 + i] = keybuf[i];
    size_t a = 3 + 3 * k;
    snprintf(numbuf[1], sizeof(numbuf[1]), "%d", 3 * interval_ms);
    snprintf(numbuf[2], sizeof(numbuf[2]), "%d", METER_DAY_TTL_S);
    snprintf(numbuf[3], sizeof(numbuf[3]), "%d", METER_MONTH_TTL_S);
    argv[a++] = ctx->conf.node.id;
    argv[a++] = numbuf[1];
    argv[a++] = numbuf[2];
    argv[a++] = numbuf[3];
    for (size_t i = 0; i < k; i++) {
        struct user_usage *u = &bt->slots[i]->u;
        int rps = 0;
        user_usage_report_begin(u, interval_ms, &rps);
        char *nb = numbuf[4 + 4 * i];
        snprintf(nb, 24, "%" PRIu64, u->sent_bytes);
        snprintf(nb + 24, 24, "%" PRIu64, u->sent_reqs);
        snprintf(nb + 48, 24, "%d", u->conns);
        snprintf(nb + 72, 24, "%d", rps);
        for (size_t j = 0; j < 4; j++)
            argv[a++] = nb + 24 * j;
        bt->slots[i]->is_in_batch = 1;
    }
    bt->n = k;
    bt->sent_disconnects = redis_link_get_stats(ctx->redis)->disconnects;
    rc = redis_link_command(ctx->redis, on_report, m, (int)a, argv, NULL);
    if (rc == PF_OK) {
        m->batch = bt;
        bt = NULL;
    } else {
        for (size_t i = 0; i < k; i++)
            user_usage_report_lost(&bt->slots[i]->u);
    }
done:
    batch_free(bt);
    free(argv);
    free(keybuf);
    free(numbuf);
    return rc;
}

static void tick_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd; (void)what;
    struct user_meter *m = arg;
    struct node_ctx *ctx = m->ctx;
    for (struct user_tap *t = m->taps; t != NULL; t = t->next)
        tap_sample(t);
    if (m->batch != NULL) {
        if (redis_link_get_stats(ctx->redis)->disconnects == m->batch->sent_disconnects)
            return;                  /* still out on a live session: wait for it */
        /* the session ended: that reply never comes; send it all again */
        for (size_t i = 0; i < m->batch->n; i++)
            user_usage_report_lost(&m->batch->slots[i]->u);
        batch_free(m->batch);
        m->batch = NULL;
        m->stats.reports_lost++;
    }
    gc_slots(m, clock_mono_ms());
    if (ctx->redis == NULL || !redis_link_is_connected(ctx->redis))
        return;
    int rc = report_send(m);
    if (rc != PF_OK)
        log_debug("user usage report dropped: %s", pf_strstatus(rc));
}

struct user_meter *user_meter_create(struct node_ctx *ctx)
{
    struct user_meter *m = calloc(1, sizeof(*m));
    if (m == NULL)
        return NULL;
    m->ctx = ctx;
    if (ctx->redis == NULL)
        return m;
    m->timer = event_new(ctx->base, -1, EV_PERSIST, tick_cb, m);
    if (m->timer == NULL) {
        free(m);
        return NULL;
    }
    int ms = ctx->conf.node.report_interval_ms;
    struct timeval tv = { .tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000 };
    event_add(m->timer, &tv);
    return m;
}

void user_meter_destroy(struct user_meter *m)
{
    if (m == NULL)
        return;
    if (m->timer != NULL)
        event_free(m->timer);
    batch_free(m->batch);
    for (size_t b = 0; b < METER_BUCKETS; b++) {
        struct user_slot *s = m->buckets[b];
        while (s != NULL) {
            struct user_slot *next = s->next;
            free(s);
            s = next;
        }
    }
    free(m);
}

void user_meter_get_stats(const struct user_meter *m, struct user_meter_stats *out)
{
    memset(out, 0, sizeof(*out));
    if (m != NULL)
        *out = m->stats;
}
