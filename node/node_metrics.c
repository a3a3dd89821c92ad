/* The node's table of figures; see node_metrics.h. */
#include "node_metrics.h"

#include <string.h>

#include "ban_set.h"
#include "ban_sync.h"
#include "clock.h"
#include "conn.h"
#include "conn_err.h"
#include "pool_sync.h"
#include "redis_link.h"
#include "user_meter.h"
#include "user_store.h"
#include "version.h"

#define SRC(s) ((const struct node_metrics_src *)(s))

/* ---- field functions ---------------------------------------------------- */

/* The uint64_t at offset <row>->arg of the node's struct node_stats. */
static void stat_u64(const void *s, const struct metrics_row *row, struct metrics_emit *e)
{
    uint64_t v;
    memcpy(&v, (const char *)&SRC(s)->ctx->stats + row->arg, sizeof(v));
    metrics_uint(e, NULL, v);
}

/* The struct hist at offset <row>->arg of struct node_stats. */
static void stat_hist(const void *s, const struct metrics_row *row, struct metrics_emit *e)
{
    metrics_hist(e, NULL, (const struct hist *)(const void *)
                              ((const char *)&SRC(s)->ctx->stats + row->arg));
}

static void f_responses(const void *s, const struct metrics_row *row, struct metrics_emit *e)
{
    (void)row;
    const struct node_stats *st = &SRC(s)->ctx->stats;
    metrics_uint(e, (const char *[]){ "1xx" }, st->responses_1xx);
    metrics_uint(e, (const char *[]){ "2xx" }, st->responses_2xx);
    metrics_uint(e, (const char *[]){ "3xx" }, st->responses_3xx);
    metrics_uint(e, (const char *[]){ "4xx" }, st->responses_4xx);
    metrics_uint(e, (const char *[]){ "5xx" }, st->responses_5xx);
}

static void f_errors(const void *s, const struct metrics_row *row, struct metrics_emit *e)
{
    (void)row;
    const struct node_stats *st = &SRC(s)->ctx->stats;
    metrics_uint(e, (const char *[]){ "502" }, st->errors_502);
    metrics_uint(e, (const char *[]){ "503" }, st->errors_503);
    metrics_uint(e, (const char *[]){ "504" }, st->errors_504);
}

static void f_delta_fallbacks(const void *s, const struct metrics_row *row,
                              struct metrics_emit *e)
{
    (void)row;
    static const char *const reasons[5] = { "gap", "trimmed", "epoch", "digest", "bad" };
    const struct pool_sync *sync = SRC(s)->ctx->sync;
    for (int i = 0; i < 5; i++)
        metrics_uint(e, (const char *[]){ reasons[i] },
                     sync != NULL ? pool_sync_get_stats(sync)->delta_fallbacks[i] : 0);
}

static const char *const outcome_names[STATS_OUT__COUNT] = {
    "ok", "denied", "client_error", "upstream_error", "unavailable",
};

static void f_outcomes(const void *s, const struct metrics_row *row, struct metrics_emit *e)
{
    (void)row;
    static const char *const kinds[2] = { "request", "tunnel" };
    const struct node_stats *st = &SRC(s)->ctx->stats;
    for (int k = 0; k < 2; k++)
        for (int o = 0; o < STATS_OUT__COUNT; o++)
            metrics_uint(e, (const char *[]){ kinds[k], outcome_names[o] }, st->outcomes[k][o]);
}

static void f_conns_by_state(const void *s, const struct metrics_row *row, struct metrics_emit *e)
{
    (void)row;
    const struct node_stats *st = &SRC(s)->ctx->stats;
    for (int i = 0; i < CONN_ST__COUNT; i++)
        metrics_int(e, (const char *[]){ conn_state_name((enum conn_state)i) },
                    st->conns_by_state[i]);
}

static void f_closed(const void *s, const struct metrics_row *row, struct metrics_emit *e)
{
    (void)row;
    const struct node_stats *st = &SRC(s)->ctx->stats;
    for (int r = 0; r < CONN_ERR__COUNT; r++)
        metrics_uint(e, (const char *[]){ conn_err_name((enum conn_err)r) }, st->close_reasons[r]);
}

/* Failed attempts by kind: the kinds an upstream can be blamed for, and any
 * other that occurred. */
static void f_upstream_errors(const void *s, const struct metrics_row *row, struct metrics_emit *e)
{
    (void)row;
    const struct node_stats *st = &SRC(s)->ctx->stats;
    for (int r = 0; r < CONN_ERR__COUNT; r++)
        if (st->upstream_errors[r] > 0 || conn_err_kind((enum conn_err)r)->is_upstream_fault)
            metrics_uint(e, (const char *[]){ conn_err_name((enum conn_err)r) },
                         st->upstream_errors[r]);
}

/* The uint64_t at offset <row>->arg of each provider's row
 * (provider_stats.h), labelled by provider; beyond the table "(other)". */
static void f_provider(const void *s, const struct metrics_row *row, struct metrics_emit *e)
{
    const struct provider_stats *ps = &SRC(s)->ctx->stats.providers;
    uint64_t v;
    for (size_t i = 0; i < ps->n; i++) {
        memcpy(&v, (const char *)&ps->rows[i] + row->arg, sizeof(v));
        metrics_uint(e, (const char *[]){ ps->rows[i].name }, v);
    }
    if (ps->other.requests > 0) {
        memcpy(&v, (const char *)&ps->other + row->arg, sizeof(v));
        metrics_uint(e, (const char *[]){ PROVIDER_STATS_OTHER }, v);
    }
}

/* The uint64_t at offset <row>->arg of the user store's counters. */
static void f_user_store(const void *s, const struct metrics_row *row, struct metrics_emit *e)
{
    struct user_store_stats st;
    uint64_t v;
    user_store_get_stats(SRC(s)->ctx->users, &st);
    memcpy(&v, (const char *)&st + row->arg, sizeof(v));
    metrics_uint(e, NULL, v);
}

/* The uint64_t at offset <row>->arg of the user meter's counters. */
static void f_user_meter(const void *s, const struct metrics_row *row, struct metrics_emit *e)
{
    struct user_meter_stats st;
    uint64_t v;
    user_meter_get_stats(SRC(s)->ctx->meter, &st);
    memcpy(&v, (const char *)&st + row->arg, sizeof(v));
    metrics_uint(e, NULL, v);
}

/* Requests refused by a user's limit, by kind (the CONN_ERR_USER_* ones). */
static void f_user_denied(const void *s, const struct metrics_row *row, struct metrics_emit *e)
{
    (void)row;
    static const enum conn_err kinds[] = { CONN_ERR_USER_MAX_CONNS, CONN_ERR_USER_MAX_RPS,
                                           CONN_ERR_USER_BYTES_PER_DAY,
                                           CONN_ERR_USER_BYTES_PER_MONTH };
    struct user_meter_stats st;
    user_meter_get_stats(SRC(s)->ctx->meter, &st);
    for (size_t i = 0; i < PF_ARRAY_LEN(kinds); i++)
        metrics_uint(e, (const char *[]){ conn_err_name(kinds[i]) }, st.denied[kinds[i]]);
}

static void f_pool_size(const void *s, const struct metrics_row *row, struct metrics_emit *e)
{
    (void)row;
    metrics_uint(e, NULL, SRC(s)->ctx->pool.count);
}

static void f_bans(const void *s, const struct metrics_row *row, struct metrics_emit *e)
{
    (void)row;
    const struct node_ctx *ctx = SRC(s)->ctx;
    metrics_uint(e, NULL, ctx->bans != NULL ? ban_sync_set(ctx->bans)->count : 0);
}

static void f_ban_writes(const void *s, const struct metrics_row *row, struct metrics_emit *e)
{
    (void)row;
    const struct node_ctx *ctx = SRC(s)->ctx;
    metrics_uint(e, NULL, ctx->bans != NULL ? ban_sync_get_stats(ctx->bans)->writes : 0);
}

static void f_ban_write_failures(const void *s, const struct metrics_row *row, struct metrics_emit *e)
{
    (void)row;
    const struct node_ctx *ctx = SRC(s)->ctx;
    metrics_uint(e, NULL, ctx->bans != NULL ? ban_sync_get_stats(ctx->bans)->write_failures : 0);
}

static void f_ban_notices(const void *s, const struct metrics_row *row, struct metrics_emit *e)
{
    (void)row;
    const struct node_ctx *ctx = SRC(s)->ctx;
    metrics_uint(e, NULL, ctx->bans != NULL ? ban_sync_get_stats(ctx->bans)->notices : 0);
}

static void f_ban_bad(const void *s, const struct metrics_row *row, struct metrics_emit *e)
{
    (void)row;
    const struct node_ctx *ctx = SRC(s)->ctx;
    metrics_uint(e, NULL, ctx->bans != NULL ? ban_sync_get_stats(ctx->bans)->bad_records : 0);
}

static void f_pool_denied(const void *s, const struct metrics_row *row, struct metrics_emit *e)
{
    (void)row;
    metrics_uint(e, NULL, SRC(s)->ctx->pool.ndenied);
}

static void f_pool_usable(const void *s, const struct metrics_row *row, struct metrics_emit *e)
{
    (void)row;
    const struct node_metrics_src *x = SRC(s);
    /* direct mode has no pool */
    metrics_uint(e, NULL, x->ctx->conf.node.mode == CONF_NODE_DIRECT ? 0 : x->ready.pool.usable);
}

static void f_pool_version(const void *s, const struct metrics_row *row, struct metrics_emit *e)
{
    (void)row;
    metrics_int(e, NULL, SRC(s)->ctx->pool.version);
}

static void f_pool_age(const void *s, const struct metrics_row *row, struct metrics_emit *e)
{
    (void)row;
    const struct node_metrics_src *x = SRC(s);
    const struct pool_cache *pc = &x->ctx->pool;
    metrics_num(e, NULL, pc->version == 0 ? -1.0 : (double)(x->now_mono_ms - pc->loaded_at_ms) / 1e3);
}

static void f_apply_max_slice(const void *s, const struct metrics_row *row, struct metrics_emit *e)
{
    (void)row;
    metrics_num(e, NULL, (double)SRC(s)->ctx->pool.last_apply_max_slice_us / 1e6);
}

static void f_apply_wall(const void *s, const struct metrics_row *row, struct metrics_emit *e)
{
    (void)row;
    metrics_num(e, NULL, (double)SRC(s)->ctx->pool.last_apply_total_us / 1e6);
}

static void f_apply_slices(const void *s, const struct metrics_row *row, struct metrics_emit *e)
{
    (void)row;
    metrics_uint(e, NULL, SRC(s)->ctx->pool.last_apply_slices);
}

static void f_redis_connected(const void *s, const struct metrics_row *row, struct metrics_emit *e)
{
    (void)row;
    metrics_int(e, NULL, redis_link_is_connected(SRC(s)->ctx->redis));
}

/* The uint64_t at offset <row>->arg of the Redis session's counters (0 in
 * direct mode: no session). */
static void redis_u64(const void *s, const struct metrics_row *row, struct metrics_emit *e)
{
    const struct redis_link *link = SRC(s)->ctx->redis;
    uint64_t v = 0;
    if (link != NULL)
        memcpy(&v, (const char *)redis_link_get_stats(link) + row->arg, sizeof(v));
    metrics_uint(e, NULL, v);
}

/* The uint64_t at offset <row>->arg of the pool sync's counters (0 in
 * direct mode). */
static void sync_u64(const void *s, const struct metrics_row *row, struct metrics_emit *e)
{
    const struct pool_sync *sync = SRC(s)->ctx->sync;
    uint64_t v = 0;
    if (sync != NULL)
        memcpy(&v, (const char *)pool_sync_get_stats(sync) + row->arg, sizeof(v));
    metrics_uint(e, NULL, v);
}

static void f_settings_generation(const void *s, const struct metrics_row *row,
                                  struct metrics_emit *e)
{
    (void)row;
    const struct conf_gen *g = SRC(s)->ctx->gen;
    metrics_uint(e, NULL, g != NULL ? g->id : 0);   /* NULL: not created yet */
}

static void f_max_clients(const void *s, const struct metrics_row *row, struct metrics_emit *e)
{
    (void)row;
    metrics_int(e, NULL, SRC(s)->ctx->max_clients);
}

static void f_draining(const void *s, const struct metrics_row *row, struct metrics_emit *e)
{
    (void)row;
    metrics_int(e, NULL, SRC(s)->ctx->is_draining != 0);
}

static void f_ready(const void *s, const struct metrics_row *row, struct metrics_emit *e)
{
    (void)row;
    metrics_int(e, NULL, SRC(s)->ready.is_ready);
}

static void f_build_info(const void *s, const struct metrics_row *row, struct metrics_emit *e)
{
    (void)s; (void)row;
    metrics_int(e, (const char *[]){ version_string(), version_commit() }, 1);
}

/* ---- the table ---------------------------------------------------------- */

#define NOL { NULL, NULL }
#define L1(a) { (a), NULL }
#define STAT(f) stat_u64, offsetof(struct node_stats, f)
#define HIST(f) stat_hist, offsetof(struct node_stats, f)
#define LINK(f) redis_u64, offsetof(struct redis_link_stats, f)
#define SYNC(f) sync_u64, offsetof(struct pool_sync_stats, f)
#define FN(f) f, 0
#define FN_ARG(f, off) f, (off)
#define C METRICS_COUNTER
#define G METRICS_GAUGE
#define H METRICS_HISTOGRAM
#define NONE METRICS_UNIT_NONE
#define SEC METRICS_UNIT_SECONDS
#define BYTES METRICS_UNIT_BYTES
#define R METRICS_IN_REPORT

static const struct metrics_row node_rows[] = {
    /* client traffic */
    { "pf_node_requests_total", C, NONE, "HTTP requests, CONNECT tunnels and SOCKS5 requests accepted.",
      NOL, STAT(requests_total), R },
    { "pf_node_responses_total", C, NONE, "Response heads sent to clients (relayed or the node's own), by status class.",
      L1("class"), FN(f_responses), R },
    { "pf_node_errors_total", C, NONE, "Failure answers the node generated, by HTTP status (SOCKS5 failures by the status they stand for).",
      L1("code"), FN(f_errors), R },
    { "pf_node_outcomes_total", C, NONE, "Accepted requests and tunnels by how they ended.",
      { "kind", "outcome" }, FN(f_outcomes), 0 },
    { "pf_node_tunnels_total", C, NONE, "CONNECT and SOCKS5 tunnels established.",
      NOL, STAT(tunnels_total), R },
    { "pf_node_socks5_total", C, NONE, "Client connections that spoke SOCKS5.",
      NOL, STAT(socks5_total), 0 },
    { "pf_node_bytes_in_total", C, BYTES, "Bytes received from clients.",
      NOL, STAT(bytes_in), R },
    { "pf_node_bytes_out_total", C, BYTES, "Bytes sent to clients.",
      NOL, STAT(bytes_out), R },
    { "pf_node_provider_requests_total", C, NONE, "Requests and tunnels whose last try went through an upstream of the provider, or under (direct) in direct mode, counted when they end.",
      L1("provider"), FN_ARG(f_provider, offsetof(struct provider_stats_row, requests)), R },
    { "pf_node_provider_bytes_in_total", C, BYTES, "Bytes received from clients in requests and tunnels served through the provider.",
      L1("provider"), FN_ARG(f_provider, offsetof(struct provider_stats_row, bytes_in)), R },
    { "pf_node_provider_bytes_out_total", C, BYTES, "Bytes sent to clients in requests and tunnels served through the provider.",
      L1("provider"), FN_ARG(f_provider, offsetof(struct provider_stats_row, bytes_out)), R },
    { "pf_node_retries_total", C, NONE, "Extra upstream attempts after a failed one.",
      NOL, STAT(retries), 0 },
    { "pf_node_auth_failures_total", C, NONE, "407 answers and SOCKS5 authentication refusals to clients.",
      NOL, STAT(auth_failures), 0 },
    { "pf_node_policy_denials_total", C, NONE, "403 answers and SOCKS5 0x02 replies (destination policy).",
      NOL, STAT(policy_denials), 0 },
    { "pf_node_connect_port_denials_total", C, NONE, "CONNECT refused: port not in node.connect_ports.",
      NOL, STAT(connect_port_denials), 0 },
    { "pf_node_clients_denied_total", C, NONE, "Client connections closed by node.client_allow.",
      NOL, STAT(clients_denied), 0 },
    /* client connections */
    { "pf_node_conns_active", G, NONE, "Client connections open now.",
      NOL, STAT(conns_active), R },
    { "pf_node_conns", G, NONE, "Client connections open now, by state.",
      L1("state"), FN(f_conns_by_state), 0 },
    { "pf_node_conns_total", C, NONE, "Client connections accepted.",
      NOL, STAT(conns_total), 0 },
    { "pf_node_rejected_over_limit_total", C, NONE, "Clients answered 503 at node.max_clients.",
      NOL, STAT(rejected_over_limit), 0 },
    { "pf_node_conn_closed_total", C, NONE, "Client connections closed, by reason (the failure kind).",
      L1("reason"), FN(f_closed), 0 },
    /* upstreams */
    { "pf_node_upstream_dials_total", C, NONE, "Outgoing connections attempted (upstream or, in direct mode, destination).",
      NOL, STAT(upstream_dials), 0 },
    { "pf_node_upstream_reused_total", C, NONE, "Requests sent on a kept-alive upstream connection.",
      NOL, STAT(upstream_reused), 0 },
    { "pf_node_upstream_tls_handshakes_total", C, NONE, "TLS handshakes completed with https upstreams.",
      NOL, STAT(upstream_tls_handshakes), 0 },
    { "pf_node_upstream_tls_resumed_total", C, NONE, "TLS handshakes with https upstreams that resumed a session.",
      NOL, STAT(upstream_tls_resumed), 0 },
    { "pf_node_upstream_unsupported_total", C, NONE, "Pool upstreams a pick walked past: a scheme this node cannot dial.",
      NOL, STAT(upstream_unsupported), 0 },
    { "pf_node_label_misses_total", C, NONE, "Picks whose user-name labels matched no upstream the node could use: answered 503 naming the filter.",
      NOL, STAT(label_misses), 0 },
    { "pf_node_label_fallbacks_total", C, NONE, "Picks whose user-name labels matched nothing, served from the whole pool (node.label_fallback).",
      NOL, STAT(label_fallbacks), 0 },
    { "pf_node_user_param_errors_total", C, NONE, "Client user names with unknown or malformed parameters: answered 407 with the reason.",
      NOL, STAT(user_param_errors), 0 },
    { "pf_node_upstream_errors_total", C, NONE, "Failed upstream attempts, by failure kind.",
      L1("kind"), FN(f_upstream_errors), 0 },
    { "pf_node_reuse_idle_conns", G, NONE, "Idle upstream connections kept for reuse across clients now.",
      NOL, STAT(reuse_idle), 0 },
    { "pf_node_reuse_hits_total", C, NONE, "Requests sent on an idle upstream connection another client left.",
      NOL, STAT(reuse_hits), 0 },
    { "pf_node_reuse_misses_total", C, NONE, "Requests that may reuse across clients and found no idle connection to their upstream.",
      NOL, STAT(reuse_misses), 0 },
    { "pf_node_reuse_discarded_total", C, NONE, "Idle upstream connections found closed by the upstream (or with bytes on them) and thrown away.",
      NOL, STAT(reuse_discarded), 0 },
    { "pf_node_reuse_expired_total", C, NONE, "Idle upstream connections closed after node.reuse_max_idle_ms or beyond a cap.",
      NOL, STAT(reuse_expired), 0 },
    { "pf_node_reuse_retries_total", C, NONE, "Idempotent requests sent again on a fresh connection after their reused one failed.",
      NOL, STAT(reuse_retries), 0 },
    { "pf_node_preconnect_warm_conns", G, NONE, "Warm upstream connections ready now.",
      NOL, STAT(preconnect_warm), 0 },
    { "pf_node_preconnect_warming_conns", G, NONE, "Warm upstream connections being set up now.",
      NOL, STAT(preconnect_warming), 0 },
    { "pf_node_preconnect_dials_total", C, NONE, "Warm upstream connections started.",
      NOL, STAT(preconnect_dials), 0 },
    { "pf_node_preconnect_dial_failures_total", C, NONE, "Warm upstream connections that failed to set up.",
      NOL, STAT(preconnect_dial_failures), 0 },
    { "pf_node_preconnect_hits_total", C, NONE, "Tries that took a warm upstream connection.",
      NOL, STAT(preconnect_hits), 0 },
    { "pf_node_preconnect_misses_total", C, NONE, "Tries that may take a warm connection and found none to their upstream.",
      NOL, STAT(preconnect_misses), 0 },
    { "pf_node_preconnect_discarded_total", C, NONE, "Warm connections found dead (closed, reset, unexpected bytes) and thrown away; the try that found one dialed again.",
      NOL, STAT(preconnect_discarded), 0 },
    { "pf_node_preconnect_recycled_total", C, NONE, "Warm connections closed after node.preconnect_max_idle_ms or beyond what recent use asks.",
      NOL, STAT(preconnect_recycled), 0 },
    { "pf_node_ejections_total", C, NONE, "Local passive ejections of upstreams.",
      NOL, STAT(ejections), 0 },
    { "pf_node_ban_skips_total", C, NONE, "Upstreams a pick skipped because a ban covers them for the destination (and session).",
      NOL, STAT(ban_skips), 0 },
    { "pf_node_ban_rule_holds_total", C, NONE, "Responses held for a node.ban_rules body peek before any byte went to the client.",
      NOL, STAT(rule_holds), 0 },
    { "pf_node_ban_rule_matches_total", C, NONE, "Upstream responses that matched a node.ban_rules rule.",
      NOL, STAT(rule_matches), 0 },
    { "pf_node_ban_rule_bans_total", C, NONE, "Bans made by rule matches (none when the upstream was already banned for the host).",
      NOL, STAT(rule_bans), 0 },
    { "pf_node_ban_rule_ban_failures_total", C, NONE, "Rule matches whose ban could not be written (Redis unreachable); the request is still retried.",
      NOL, STAT(rule_ban_failures), 0 },
    { "pf_node_ban_rule_retries_total", C, NONE, "Requests retried on another upstream after a rule match.",
      NOL, STAT(rule_retries), 0 },
    { "pf_node_ban_rule_relayed_total", C, NONE, "Matched responses relayed to the client: a non-idempotent request, the retry budget spent or no other upstream.",
      NOL, STAT(rule_relayed), 0 },
    { "pf_node_bans", G, NONE, "Bans this node holds (fleet and session bans, expired ones until the next second).",
      NOL, FN(f_bans), 0 },
    { "pf_node_ban_writes_total", C, NONE, "Bans added or removed through this node (admin API, in-band, response rules).",
      NOL, FN(f_ban_writes), 0 },
    { "pf_node_ban_write_failures_total", C, NONE, "Ban writes Redis refused or left unanswered (the ban or its removal did not reach the fleet).",
      NOL, FN(f_ban_write_failures), 0 },
    { "pf_node_ban_notices_total", C, NONE, "Ban notices applied from the Redis channel.",
      NOL, FN(f_ban_notices), 0 },
    { "pf_node_ban_bad_records_total", C, NONE, "Ban records or notices from Redis refused as malformed.",
      NOL, FN(f_ban_bad), 0 },
    { "pf_node_ttfb_seconds", H, SEC, "Request head parsed to the upstream's response head.",
      NOL, HIST(ttfb), 0 },
    { "pf_node_connect_seconds", H, SEC, "Upstream or destination connect, handshake included.",
      NOL, HIST(connect_time), 0 },
    /* the pool */
    { "pf_node_pool_size", G, NONE, "Upstreams in the pool snapshot served.",
      NOL, FN(f_pool_size), R },
    { "pf_node_pool_denied", G, NONE, "Pool records this node refuses: their address fails node.upstream_allow_private.",
      NOL, FN(f_pool_denied), 0 },
    { "pf_node_pool_usable", G, NONE, "Pool upstreams this node can use now: allowed by its policy, not expired, a scheme it can dial, not ejected.",
      NOL, FN(f_pool_usable), R },
    { "pf_node_pool_version", G, NONE, "Version of the pool snapshot served (0 = none).",
      NOL, FN(f_pool_version), R },
    { "pf_node_pool_age_seconds", G, SEC, "Seconds since the pool was last replaced (-1 = never).",
      NOL, FN(f_pool_age), 0 },
    { "pf_node_pool_apply_max_slice_seconds", G, SEC, "Longest loop turn the last pool snapshot apply blocked (decode, sort, layout, swap or free slice).",
      NOL, FN(f_apply_max_slice), 0 },
    { "pf_node_pool_apply_wall_seconds", G, SEC, "Wall time of the last pool snapshot apply, EXEC reply to swap, spread over loop turns.",
      NOL, FN(f_apply_wall), 0 },
    { "pf_node_pool_apply_slices", G, NONE, "Loop turns the last pool snapshot apply took.",
      NOL, FN(f_apply_slices), 0 },
    /* Redis */
    { "pf_node_redis_connected", G, NONE, "1 while the Redis session is up.",
      NOL, FN(f_redis_connected), 0 },
    { "pf_node_redis_connects_total", C, NONE, "Redis (re)connects.",
      NOL, LINK(connects), 0 },
    { "pf_node_redis_disconnects_total", C, NONE, "Redis connection losses.",
      NOL, LINK(disconnects), 0 },
    { "pf_node_redis_command_timeouts_total", C, NONE, "Redis commands that hit their deadline.",
      NOL, LINK(command_timeouts), 0 },
    { "pf_node_redis_master_moves_total", C, NONE, "Redis master changes followed (Sentinel).",
      NOL, LINK(master_moves), 0 },
    { "pf_node_redis_notices_total", C, NONE, "Pool notices received.",
      NOL, SYNC(notices), 0 },
    { "pf_node_redis_reloads_total", C, NONE, "Pool snapshots applied.",
      NOL, SYNC(reloads), 0 },
    { "pf_node_redis_bad_records_total", C, NONE, "Upstream records skipped as undecodable.",
      NOL, SYNC(bad_records), 0 },
    { "pf_node_redis_apply_superseded_total", C, NONE, "Snapshot applies abandoned for a newer snapshot.",
      NOL, SYNC(apply_superseded), 0 },
    { "pf_node_redis_pool_log_applies_total", C, NONE, "Pool log reads applied on top of the served pool (one or more versions each).",
      NOL, SYNC(delta_applies), 0 },
    { "pf_node_redis_pool_log_fallbacks_total", C, NONE, "Pool log reads given up for a whole read, by reason (gap, trimmed, epoch, digest, bad).",
      { "reason" }, FN(f_delta_fallbacks), 0 },
    { "pf_node_redis_resync_delayed_total", C, NONE, "Whole pool reads that first waited a random part of node.resync_spread_ms.",
      NOL, SYNC(resync_delayed), 0 },
    /* (TLS upstreams: add their rows here) */
    /* reload, descriptors, access log */
    { "pf_node_reloads_total", C, NONE, "SIGHUP reloads applied.",
      NOL, STAT(reloads), 0 },
    { "pf_node_reload_errors_total", C, NONE, "SIGHUP reloads refused: the running config stays.",
      NOL, STAT(reload_errors), 0 },
    { "pf_node_settings_generation", G, NONE, "Settings generation new requests take: 1 at start, +1 per reload applied.",
      NOL, FN(f_settings_generation), 0 },
    { "pf_node_max_clients", G, NONE, "Client connections admitted at most: node.max_clients within the descriptor budget.",
      NOL, FN(f_max_clients), 0 },
    { "pf_node_accept_errors_total", C, NONE, "accept() failures (EMFILE, ENFILE, ...); each pauses the listener 100 ms.",
      NOL, STAT(accept_errors), 0 },
    { "pf_node_access_log_errors_total", C, NONE, "Access log lines lost: the write failed.",
      NOL, STAT(access_log_errors), 0 },
    /* users from Redis (user_store.h) and per-user limits (user_meter.h) */
    { "pf_node_users", G, NONE, "Users from Redis ({pf}:v1:users) in the table served.",
      NOL, FN_ARG(f_user_store, offsetof(struct user_store_stats, users)), 0 },
    { "pf_node_user_loads_total", C, NONE, "User tables read from Redis and swapped in.",
      NOL, FN_ARG(f_user_store, offsetof(struct user_store_stats, loads)), 0 },
    { "pf_node_user_bad_records_total", C, NONE, "User records skipped: bad name, bad record or too costly a hash.",
      NOL, FN_ARG(f_user_store, offsetof(struct user_store_stats, bad_records)), 0 },
    { "pf_node_user_verifications_total", C, NONE, "scrypt password verifications run (cache misses within the budget; an unknown user name runs one too).",
      NOL, FN_ARG(f_user_store, offsetof(struct user_store_stats, verifications)), 0 },
    { "pf_node_user_verify_throttled_total", C, NONE, "Credential checks refused: over the verifications per second budget.",
      NOL, FN_ARG(f_user_store, offsetof(struct user_store_stats, verify_throttled)), 0 },
    { "pf_node_user_auth_cache_hits_total", C, NONE, "Credential checks answered from the verified-credentials cache.",
      NOL, FN_ARG(f_user_store, offsetof(struct user_store_stats, cache_hits)), 0 },
    { "pf_node_user_auth_cache_misses_total", C, NONE, "Credential checks not in the verified-credentials cache.",
      NOL, FN_ARG(f_user_store, offsetof(struct user_store_stats, cache_misses)), 0 },
    { "pf_node_user_slots", G, NONE, "Users metered on this node (served in the last hour).",
      NOL, FN_ARG(f_user_meter, offsetof(struct user_meter_stats, users)), 0 },
    { "pf_node_user_denied_total", C, NONE, "Requests refused by a user's limit, by reason.",
      { "reason" }, FN(f_user_denied), 0 },
    { "pf_node_user_reports_total", C, NONE, "Per-user usage reports Redis answered.",
      NOL, FN_ARG(f_user_meter, offsetof(struct user_meter_stats, reports)), 0 },
    { "pf_node_user_reports_lost_total", C, NONE, "Per-user usage reports whose reply never came (sent again).",
      NOL, FN_ARG(f_user_meter, offsetof(struct user_meter_stats, reports_lost)), 0 },
    /* the process */
    { "pf_node_draining", G, NONE, "1 while draining after SIGTERM or SIGINT.",
      NOL, FN(f_draining), 0 },
    { "pf_node_ready", G, NONE, "1 when /readyz answers 200: not draining and (pool mode) an upstream usable.",
      NOL, FN(f_ready), R },
    { "pf_node_build_info", G, NONE, "Always 1; the build's version and git commit as labels.",
      { "version", "commit" }, FN(f_build_info), METRICS_NOT_JSON },
    PROCSTAT_ROWS,
};

const struct metrics_row *node_metrics_table(size_t *n)
{
    *n = PF_ARRAY_LEN(node_rows);
    return node_rows;
}

void node_metrics_src_init(struct node_metrics_src *src, const struct node_ctx *ctx)
{
    memset(src, 0, sizeof(*src));
    procstat_read(&src->proc);
    src->ctx = ctx;
    src->now_wall_ms = clock_wall_ms();
    src->now_mono_ms = clock_mono_ms();
    readiness_check(ctx, src->now_wall_ms, src->now_mono_ms, &src->ready);
}

int node_metrics_write_text(const struct node_metrics_src *src, metrics_write_fn *write, void *arg)
{
    return metrics_write_text(node_rows, PF_ARRAY_LEN(node_rows), src, write, arg);
}

int node_metrics_add_json(const struct node_metrics_src *src, cJSON *obj)
{
    return metrics_add_json(node_rows, PF_ARRAY_LEN(node_rows), src, NODE_METRICS_PREFIX, 0, obj);
}

int node_metrics_report(const struct node_metrics_src *src, metrics_report_fn *fn, void *arg)
{
    return metrics_report(node_rows, PF_ARRAY_LEN(node_rows), src, NODE_METRICS_PREFIX, fn, arg);
}
