/* A request's tries through upstreams; see attempt.h. */
#include "attempt.h"

#include <stdio.h>
#include <string.h>

#include <event2/bufferevent.h>

#include "addr.h"
#include "ban_set.h"
#include "ban_sync.h"
#include "clock.h"
#include "clog.h"
#include "log.h"
#include "policy.h"
#include "pool_cache.h"
#include "rng.h"
#include "select.h"

/* --- pure decisions --- */

struct attempt_verdict attempt_dial_verdict(enum dial_err err, int reply_status)
{
    struct attempt_verdict v = { CONN_ERR_INTERNAL, 1, 0 };
    switch (err) {
    case DIAL_ERR_DNS:             v.reason = CONN_ERR_DNS; break;
    case DIAL_ERR_POLICY:          v.reason = CONN_ERR_POLICY; v.is_retryable = 0; break;
    case DIAL_ERR_REFUSED:         v.reason = CONN_ERR_UPSTREAM_REFUSED; break;
    case DIAL_ERR_RESET:           v.reason = CONN_ERR_UPSTREAM_RESET; break;
    case DIAL_ERR_TIMEOUT:         v.reason = CONN_ERR_UPSTREAM_TIMEOUT; break;
    case DIAL_ERR_UPSTREAM_AUTH:   v.reason = CONN_ERR_UPSTREAM_AUTH; break;
    case DIAL_ERR_TLS:             v.reason = CONN_ERR_UPSTREAM_TLS; break;
    case DIAL_ERR_BAD_REPLY:
    case DIAL_ERR_UNSUPPORTED:     v.reason = CONN_ERR_UPSTREAM_BAD_REPLY; break;
    case DIAL_ERR_UPSTREAM_STATUS:
        /* the upstream refused the tunnel: a 504 is its timeout on the destination */
        v.reason = reply_status == 504 ? CONN_ERR_UPSTREAM_TIMEOUT : CONN_ERR_UPSTREAM_BAD_REPLY;
        break;
    default:                       v.reason = CONN_ERR_INTERNAL; v.is_retryable = 0; break;
    }
    /* the upstream's fault: not answering, or not speaking its protocol; a
     * refused tunnel is the upstream relaying the destination's answer */
    v.is_upstream_fault = conn_err_kind(v.reason)->is_upstream_fault && err != DIAL_ERR_UPSTREAM_STATUS;
    return v;
}

int attempt_may_retry(int is_retryable, int is_reused, int has_up, int nattempts, int retries)
{
    return is_retryable && (is_reused || (has_up && nattempts <= retries));
}

int attempt_may_reuse(const char *ukey, const char *dest, int is_pool, int64_t ubev_version,
                      int64_t pool_version)
{
    const char *bar = strrchr(ukey, '|');
    return bar != NULL && strcmp(bar + 1, dest) == 0 && (!is_pool || ubev_version == pool_version);
}

enum conn_err attempt_pick_failure(int nattempts, enum conn_err last_reason, int is_all_ejected)
{
    if (nattempts > 0)
        return last_reason;
    return is_all_ejected ? CONN_ERR_ALL_EJECTED : CONN_ERR_NO_UPSTREAM;
}

int attempt_retry_after_s(int64_t retry_after_ms)
{
    return (int)PF_MIN_OF((retry_after_ms + 999) / 1000, (int64_t)86400);
}

void attempt_tried_sync(struct attempt_tried *t, uint64_t generation)
{
    if (t->n > 0 && t->generation != generation)
        t->n = 0;
    t->generation = generation;
}

void attempt_tried_add(struct attempt_tried *t, long idx)
{
    if (t->n < ATTEMPT_TRIED_MAX)
        t->idx[t->n++] = idx;
}

/* --- the attempt on the loop --- */

static void on_dial_done(void *arg, enum dial_err err, struct bufferevent *bev);

int attempt_init(struct attempt *a, struct conn *c)
{
    a->c = c;
    return dial_init(&c->dial, c->ctx, on_dial_done, a);
}

static int is_pool_mode(const struct attempt *a)
{
    return a->c->cn->mode == CONF_NODE_POOL;
}

/* Releases the request's count on its upstream's active connections. */
static void release_upstream(struct attempt *a)
{
    if (!a->is_up_counted)
        return;
    a->is_up_counted = 0;
    pool_cache_conn_delta(&a->c->ctx->pool, a->up_id, -1);
}

void attempt_reset(struct attempt *a)
{
    if (a->c == NULL)
        return;                 /* never set up */
    attempt_settle(a, 0);       /* ended otherwise (client gone, ...): a success, as the dial was */
    release_upstream(a);
    a->has_session = 0;
    a->filter.mask = 0;
    a->filter_text[0] = '\0';
    a->note[0] = '\0';
    a->session_name[0] = '\0';
    a->user[0] = '\0';
    http_target_deinit(&a->tgt);
    memset(&a->tgt, 0, sizeof(a->tgt));
    a->dest[0] = '\0';
    a->verb = NULL;
    a->is_tunnel = 0;
    a->is_reusable = 0;
    a->tried.n = 0;
    a->nattempts = 0;
}

void attempt_deinit(struct attempt *a)
{
    if (a->c == NULL)
        return;
    attempt_reset(a);
    dial_deinit(&a->c->dial);
}

void attempt_set_session_user(struct attempt *a, struct auth_user *u)
{
    snprintf(a->user, sizeof(a->user), "%s", u->base_user);
    a->session_name[0] = '\0';
    const char *nl = u->is_sticky ? strchr(u->key, '\n') : NULL;
    if (nl != NULL) {
        size_t ul = (size_t)(nl - u->key);
        if (ban_session_name(u->key, ul, nl + 1, strlen(nl + 1), a->session_name,
                             sizeof(a->session_name)) != PF_OK)
            a->session_name[0] = '\0';   /* too long to be named by a ban */
    }
    if (u->is_sticky) {
        a->has_session = 1;
        a->session_hash = select_session_hash(u->key, strlen(u->key), u->lifetime_min,
                                              clock_wall_ms());
    }
    select_filter_from_params(&u->params, &a->filter);
    user_params_format_filter(&u->params, a->filter_text, sizeof(a->filter_text));
    memset(u, 0, sizeof(*u));
}

void attempt_set_session_key(struct attempt *a, const char *key)
{
    if (a->has_session || key == NULL || key[0] == '\0')
        return;
    a->has_session = 1;
    a->session_hash = select_session_hash(key, strlen(key), 0, 0);
}

void attempt_set_dest(struct attempt *a)
{
    const struct http_target *t = &a->tgt;
    const char *lb = t->is_ipv6 ? "[" : "", *rb = t->is_ipv6 ? "]" : "";
    snprintf(a->dest, sizeof(a->dest), "%s%s%s:%u", lb, t->host, rb, t->port);
}

void attempt_record(struct attempt *a, int is_failure)
{
    struct node_ctx *ctx = a->c->ctx;
    if (!a->has_up || !is_pool_mode(a))
        return;
    const struct conf_node *cn = a->c->cn;
    struct pool_eject_conf ec = { cn->eject_consecutive_failures, cn->eject_base_ms, cn->eject_max_ms };
    int64_t now = clock_mono_ms(), until = 0;
    if (pool_cache_record(&ctx->pool, a->up_id, is_failure, now, &ec, &until)) {
        char safe[UPSTREAM_HOST_MAX + 32];
        addr_format_safe(&a->up, safe, sizeof(safe));
        ctx->stats.ejections++;
        log_warn("upstream %s ejected for %lld ms after %d consecutive failures", safe,
                 (long long)(until - now), cn->eject_consecutive_failures);
    }
}

void attempt_settle(struct attempt *a, int is_failure)
{
    if (!a->is_outcome_open)
        return;
    a->is_outcome_open = 0;
    attempt_record(a, is_failure);
}

/* Bans skipped by one pick at most: beyond, the pick answers as if no
 * upstream were left (the controller ejects an upstream banned on many
 * domains, so long runs of banned winners are not expected). */
#define ATTEMPT_BAN_SKIPS_MAX 64

/* Returns 1 when upstream <id> is banned for <host>, for every session or
 * for <session> (may be NULL). */
static int is_banned_id(const struct node_ctx *ctx, const char *id, const char *session,
                        const char *host, int64_t now_wall_ms)
{
    const struct ban_set *bs = ctx->bans != NULL ? ban_sync_set(ctx->bans) : NULL;
    if (bs == NULL || bs->count == 0)
        return 0;
    char sid[UPSTREAM_SID_LEN];
    upstream_sid_format(ban_sync_sid_key(ctx->bans), id, sid, sizeof(sid));
    return ban_set_match(bs, sid, session, host, strlen(host), now_wall_ms) != NULL;
}

/* pool_cache_select() that skips upstreams banned for <host> (and
 * <session>): a banned winner is excluded and the pick runs again, so a
 * sticky session gets the next upstream in its rendezvous order for this
 * host only. Adds the skips to <*nskipped>. */
static long select_unbanned(struct node_ctx *ctx, const struct pool_select_req *rq0,
                            const char *session, const char *host, struct pool_select_res *res,
                            uint64_t *nskipped)
{
    long ex[ATTEMPT_TRIED_MAX + ATTEMPT_BAN_SKIPS_MAX];
    struct pool_select_req rq = *rq0;
    size_t n = PF_MIN_OF(rq0->nexclude, (size_t)ATTEMPT_TRIED_MAX);
    for (size_t i = 0; i < n; i++)
        ex[i] = rq0->exclude[i];
    for (int skips = 0;; skips++) {
        rq.exclude = ex;
        rq.nexclude = n;
        long idx = pool_cache_select(&ctx->pool, &rq, res);
        if (idx < 0 || !is_banned_id(ctx, ctx->pool.ids[idx], session, host, rq.now_wall_ms))
            return idx;
        (*nskipped)++;
        if (skips == ATTEMPT_BAN_SKIPS_MAX - 1)
            return -1;
        ex[n++] = idx;
    }
}

int attempt_session_upstream(struct node_ctx *ctx, const char *session_name, const char *host,
                             char sid[UPSTREAM_SID_LEN])
{
    const char *sep = strstr(session_name, BAN_SESSION_SEP);
    char key[BAN_SESSION_MAX];
    if (sep == NULL || !ban_session_is_valid(session_name, strlen(session_name)))
        return PF_EINVAL;
    /* the session key as auth.h builds it: "<base user>\n<session id>" */
    int kl = snprintf(key, sizeof(key), "%.*s\n%s", (int)(sep - session_name), session_name,
                      sep + sizeof(BAN_SESSION_SEP) - 1);
    if (kl < 0 || (size_t)kl >= sizeof(key))
        return PF_EINVAL;
    struct pool_select_req rq = {
        .strategy = ctx->conf.node.strategy,
        .now_wall_ms = clock_wall_ms(),
        .now_mono_ms = clock_mono_ms(),
        .has_session = 1,
        .session_hash = select_session_hash(key, (size_t)kl, 0, 0),
        .is_eject_panic = ctx->conf.node.is_eject_panic,
    };
    for (unsigned s = 0; s < 8; s++)
        if (dial_scheme_is_supported((enum upstream_scheme)s))
            rq.scheme_mask |= 1u << s;
    uint64_t nskipped = 0;
    long idx = select_unbanned(ctx, &rq, session_name, host, NULL, &nskipped);
    if (idx < 0)
        return PF_ENOENT;
    upstream_sid_format(ban_sync_sid_key(ctx->bans), ctx->pool.ids[idx], sid, UPSTREAM_SID_LEN);
    return PF_OK;
}

/* Picks the next upstream (pool mode) into a->up. Returns 0, or -1 when
 * none is left (then the request has been answered). */
static int pick(struct attempt *a)
{
    struct conn *c = a->c;
    struct node_ctx *ctx = c->ctx;
    const struct conf_node *cn = c->cn;
    release_upstream(a);
    /* a snapshot applied since the last try renumbered the pool: the
     * indexes tried mean other upstreams now (the retry budget,
     * nattempts, still holds) */
    attempt_tried_sync(&a->tried, ctx->pool.generation);
    struct pool_select_req rq = {
        .strategy = cn->strategy,
        .now_wall_ms = clock_wall_ms(),
        .now_mono_ms = clock_mono_ms(),
        .exclude = a->tried.idx,
        .nexclude = a->tried.n,
        .has_session = a->has_session,
        .session_hash = a->session_hash,
        .rnd = rng_next(&ctx->rng),
        .rotate_interval_s = cn->rotate_interval_s,
        .is_eject_panic = cn->is_eject_panic,
        .filter = &a->filter,
        .is_filter_fallback = cn->is_label_fallback,
    };
    for (unsigned s = 0; s < 8; s++)
        if (dial_scheme_is_supported((enum upstream_scheme)s))
            rq.scheme_mask |= 1u << s;
    struct pool_select_res res;
    long idx = select_unbanned(ctx, &rq, a->session_name[0] != '\0' ? a->session_name : NULL,
                               a->tgt.host, &res, &ctx->stats.ban_skips);
    ctx->stats.upstream_unsupported += res.nunsupported;
    if (idx < 0 && res.is_filter_empty) {
        /* never a silent fallback: the client asked for labels the pool lacks */
        snprintf(a->note, sizeof(a->note), "no upstream matches %s", a->filter_text);
        clog_info(c, "%s %s: %s", a->verb, a->dest, a->note);
        ctx->stats.label_misses++;
        conn_reply_error(c, CONN_ERR_NO_UPSTREAM);
        return -1;
    }
    if (res.is_filter_fallback_used) {
        clog_debug(c, "no upstream matches %s: node.label_fallback uses the whole pool",
                   a->filter_text);
        ctx->stats.label_fallbacks++;
    }
    if (idx < 0) {
        if (a->nattempts == 0 && res.is_all_ejected)
            a->retry_after_s = attempt_retry_after_s(res.retry_after_ms);
        conn_reply_error(c, attempt_pick_failure(a->nattempts, a->last_reason, res.is_all_ejected));
        return -1;
    }
    if (res.is_ejection_ignored)
        clog_debug(c, "%s", "every usable upstream is ejected: using them anyway");
    a->up = ctx->pool.items[idx];
    a->has_up = 1;
    a->up_idx = idx;
    attempt_tried_add(&a->tried, idx);
    snprintf(a->up_id, sizeof(a->up_id), "%s", ctx->pool.ids[idx]);
    upstream_sid_format(&ctx->sid_key, a->up_id, a->up_sid, sizeof(a->up_sid));
    pool_cache_conn_delta(&ctx->pool, a->up_id, 1);
    a->is_up_counted = 1;
    return 0;
}

/* One try: the kept-alive connection when it may be reused, else pick and
 * dial. */
static void try_next(struct attempt *a)
{
    struct conn *c = a->c;
    struct node_ctx *ctx = c->ctx;
    /* Keep-alive first: the previous exchange's connection to the same
     * destination, unless the pool changed since it was made. Never for a
     * non-idempotent request (a->is_reusable): it can never be replayed,
     * so it gets a fresh connection rather than one the upstream may be
     * closing as idle (HAProxy's http-reuse safe). */
    if (a->nattempts == 0 && a->is_reusable && c->ubev != NULL && !a->has_session &&
        attempt_may_reuse(a->ukey, a->dest, is_pool_mode(a), a->ubev_pool_version,
                          ctx->pool.version) &&
        !(is_pool_mode(a) && a->has_up &&
          is_banned_id(ctx, a->up_id, NULL, a->tgt.host, clock_wall_ms()))) {
        a->nattempts++;
        a->is_reused = 1;
        ctx->stats.upstream_reused++;
        if (is_pool_mode(a) && a->has_up && !a->is_up_counted) {
            pool_cache_conn_delta(&ctx->pool, a->up_id, 1);
            a->is_up_counted = 1;
        }
        c->ops->on_upstream_ready(c);
        return;
    }
    if (is_pool_mode(a)) {
        if (pick(a) != 0)
            return;
        snprintf(a->ukey, sizeof(a->ukey), "%s|%s", a->up_id, a->dest);
    } else {
        a->has_up = 0;
        snprintf(a->ukey, sizeof(a->ukey), "direct|%s", a->dest);
    }
    a->nattempts++;
    conn_drop_upstream(c);
    a->is_reused = 0;
    a->ubev_pool_version = ctx->pool.version;
    conn_set_state(c, CONN_ST_DIALING);
    conn_arm_timer(c, c->cn->connect_timeout_ms);
    a->dial_start_us = clock_mono_us();
    c->dial.cn = c->cn;
    dial_start(&c->dial, a->tgt.host, a->tgt.port, a->has_up ? &a->up : NULL, a->is_tunnel);
}

void attempt_begin(struct attempt *a)
{
    struct conn *c = a->c;
    const struct conf_node *cn = c->cn;
    if (a->is_tunnel && !policy_connect_port_allowed(cn, a->tgt.port)) {
        clog_info(c, "%s %s: port not in node.connect_ports", a->verb, a->dest);
        c->ctx->stats.connect_port_denials++;
        conn_reply_error(c, CONN_ERR_POLICY);
        return;
    }
    if (ban_is_control_host(a->tgt.host)) {
        /* reserved for in-band requests (http_proxy answers plain HTTP
         * ones): a SOCKS5 or CONNECT request for it goes nowhere */
        clog_info(c, "%s %s: reserved host, not forwarded", a->verb, a->dest);
        conn_reply_error(c, CONN_ERR_POLICY);
        return;
    }
    if (policy_host_denied(cn, a->tgt.host)) {
        clog_info(c, "%s %s: destination denied by policy", a->verb, a->dest);
        conn_reply_error(c, CONN_ERR_POLICY);
        return;
    }
    try_next(a);
}

void attempt_fail(struct attempt *a, enum conn_err reason, int is_retryable)
{
    struct conn *c = a->c;
    /* a fresh connection that then closed, reset, sent garbage or refused
     * our credentials: the upstream's fault (passive health, fleet report) */
    attempt_settle(a, conn_err_kind(reason)->is_upstream_fault);
    c->ctx->stats.upstream_errors[reason]++;
    conn_drop_upstream(c);
    int is_reused = a->is_reused;
    a->is_reused = 0;
    if (attempt_may_retry(is_retryable, is_reused, a->has_up, a->nattempts,
                          c->cn->retries)) {
        c->ctx->stats.retries++;
        clog_debug(c, "retrying %s after %s", a->dest, conn_err_name(reason));
        a->last_reason = reason;
        try_next(a);
        return;
    }
    conn_reply_error(c, reason);
}

void attempt_on_timeout(struct attempt *a)
{
    CONN_ASSERT(a->c, a->c->state == CONN_ST_DIALING);
    dial_fail_timeout(&a->c->dial);
}

static void on_dial_done(void *arg, enum dial_err err, struct bufferevent *bev)
{
    struct attempt *a = arg;
    struct conn *c = a->c;
    if (c->is_closing) {
        if (bev != NULL)
            bufferevent_free(bev);
        return;
    }
    CONN_ASSERT(c, c->state == CONN_ST_DIALING);
    if (err == DIAL_OK) {
        /* a tunnel's try succeeds here; a plain request's when its
         * response head arrives, so that an upstream that connects but
         * never answers (response_timeout_ms) adds up to an ejection */
        if (a->is_tunnel)
            attempt_record(a, 0);
        else
            a->is_outcome_open = 1;
        hist_add(&c->ctx->stats.connect_time, clock_mono_us() - a->dial_start_us);
        conn_attach_upstream(c, bev);
        c->ops->on_upstream_ready(c);
        return;
    }
    char via[UPSTREAM_HOST_MAX + 32] = "direct";
    if (a->has_up)
        addr_format_safe(&a->up, via, sizeof(via));
    clog_info(c, "%s %s via %s failed: %s%s%s (status %d)", a->verb, a->dest, via,
              dial_err_name(err), c->dial.detail != NULL ? ": " : "",
              c->dial.detail != NULL ? c->dial.detail : "", c->dial.reply_status);
    struct attempt_verdict v = attempt_dial_verdict(err, c->dial.reply_status);
    /* the answer names a refused tunnel, which the client cannot see
     * otherwise: another upstream may allow what this one's policy denies */
    if (err == DIAL_ERR_UPSTREAM_STATUS && a->has_up)
        snprintf(a->note, sizeof(a->note), "upstream %.40s/%s refused CONNECT to %.100s with %d%s",
                 a->up.provider, a->up_sid, a->dest, c->dial.reply_status,
                 c->dial.reply_status == 403 ? " (its port or destination policy)" : "");
    else
        a->note[0] = '\0';
    if (v.is_upstream_fault)
        attempt_record(a, 1);
    attempt_fail(a, v.reason, v.is_retryable);
}
