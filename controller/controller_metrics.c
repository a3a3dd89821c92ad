/* The controller's table of figures; see controller_metrics.h. */
#include "controller_metrics.h"

#include <string.h>

#include "clock.h"
#include "health_check.h"
#include "lease.h"
#include "provider.h"
#include "publish.h"
#include "redis.h"
#include "version.h"

#define SRC(s) ((const struct controller_metrics_src *)(s))

/* ---- providers ---------------------------------------------------------- */

/* The uint64_t at offset <row>->arg of each struct provider, labelled by
 * the provider's name. */
static void prov_u64(const void *s, const struct metrics_row *row, struct metrics_emit *e)
{
    const struct ctl_ctx *ctx = SRC(s)->ctx;
    for (size_t i = 0; i < ctx->nproviders; i++) {
        uint64_t v;
        memcpy(&v, (const char *)ctx->providers[i] + row->arg, sizeof(v));
        metrics_uint(e, (const char *[]){ ctx->providers[i]->conf->name }, v);
    }
}

static void f_attempt_failures(const void *s, const struct metrics_row *row, struct metrics_emit *e)
{
    (void)row;
    static const enum provider_err_class classes[] = { PROVIDER_ERR_TRANSIENT, PROVIDER_ERR_FATAL };
    const struct ctl_ctx *ctx = SRC(s)->ctx;
    for (size_t i = 0; i < ctx->nproviders; i++)
        for (size_t c = 0; c < PF_ARRAY_LEN(classes); c++)
            metrics_uint(e, (const char *[]){ ctx->providers[i]->conf->name,
                                              provider_err_class_name(classes[c]) },
                         ctx->providers[i]->attempt_failures[classes[c]]);
}

static void f_rejected(const void *s, const struct metrics_row *row, struct metrics_emit *e)
{
    (void)row;
    const struct ctl_ctx *ctx = SRC(s)->ctx;
    for (size_t i = 0; i < ctx->nproviders; i++)
        for (int r = 0; r < PROVIDER_REJECT_COUNT; r++)
            metrics_uint(e, (const char *[]){ ctx->providers[i]->conf->name,
                                              provider_reject_name((enum provider_reject)r) },
                         ctx->providers[i]->rejected[r]);
}

static void f_prov_upstreams(const void *s, const struct metrics_row *row, struct metrics_emit *e)
{
    (void)row;
    const struct controller_metrics_src *x = SRC(s);
    for (size_t i = 0; i < x->ctx->nproviders; i++)
        metrics_uint(e, (const char *[]){ x->ctx->providers[i]->conf->name },
                     provider_live_count(x->ctx->providers[i], x->now_wall_ms));
}

static void f_prov_failed(const void *s, const struct metrics_row *row, struct metrics_emit *e)
{
    (void)row;
    const struct ctl_ctx *ctx = SRC(s)->ctx;
    for (size_t i = 0; i < ctx->nproviders; i++)
        metrics_int(e, (const char *[]){ ctx->providers[i]->conf->name },
                    ctx->providers[i]->state == PROVIDER_ST_FAILED);
}

static void f_prov_consecutive(const void *s, const struct metrics_row *row, struct metrics_emit *e)
{
    (void)row;
    const struct ctl_ctx *ctx = SRC(s)->ctx;
    for (size_t i = 0; i < ctx->nproviders; i++)
        metrics_uint(e, (const char *[]){ ctx->providers[i]->conf->name },
                     ctx->providers[i]->breaker.consecutive_failures);
}

/* The wall-clock ms at offset <row>->arg of each provider, in seconds (0 =
 * never). */
static void prov_wall_s(const void *s, const struct metrics_row *row, struct metrics_emit *e)
{
    const struct ctl_ctx *ctx = SRC(s)->ctx;
    for (size_t i = 0; i < ctx->nproviders; i++) {
        int64_t ms;
        memcpy(&ms, (const char *)ctx->providers[i] + row->arg, sizeof(ms));
        metrics_num(e, (const char *[]){ ctx->providers[i]->conf->name }, (double)ms / 1e3);
    }
}

static void f_next_poll(const void *s, const struct metrics_row *row, struct metrics_emit *e)
{
    (void)row;
    const struct controller_metrics_src *x = SRC(s);
    for (size_t i = 0; i < x->ctx->nproviders; i++) {
        const struct provider *p = x->ctx->providers[i];
        metrics_num(e, (const char *[]){ p->conf->name }, p->next_poll_at_ms > 0
                    ? (double)PF_MAX_OF(p->next_poll_at_ms - x->now_mono_ms, 0) / 1e3 : -1.0);
    }
}

static void f_breaker_state(const void *s, const struct metrics_row *row, struct metrics_emit *e)
{
    (void)row;
    const struct ctl_ctx *ctx = SRC(s)->ctx;
    for (size_t i = 0; i < ctx->nproviders; i++)
        metrics_int(e, (const char *[]){ ctx->providers[i]->conf->name },
                    (int64_t)ctx->providers[i]->breaker.state);
}

static void f_breaker_opens(const void *s, const struct metrics_row *row, struct metrics_emit *e)
{
    (void)row;
    const struct ctl_ctx *ctx = SRC(s)->ctx;
    for (size_t i = 0; i < ctx->nproviders; i++)
        metrics_uint(e, (const char *[]){ ctx->providers[i]->conf->name },
                     ctx->providers[i]->breaker.opens);
}

static void f_breaker_wait(const void *s, const struct metrics_row *row, struct metrics_emit *e)
{
    (void)row;
    const struct controller_metrics_src *x = SRC(s);
    for (size_t i = 0; i < x->ctx->nproviders; i++)
        metrics_num(e, (const char *[]){ x->ctx->providers[i]->conf->name },
                    (double)breaker_wait_ms(&x->ctx->providers[i]->breaker, x->now_mono_ms) / 1e3);
}

/* ---- pool, Redis, leadership -------------------------------------------- */

static void f_pool_size(const void *s, const struct metrics_row *row, struct metrics_emit *e)
{
    (void)row;
    metrics_uint(e, NULL, SRC(s)->ctx->pool_size);
}

static void f_pool_version(const void *s, const struct metrics_row *row, struct metrics_emit *e)
{
    (void)row;
    metrics_int(e, NULL, SRC(s)->ctx->pub->version);
}

static void f_publishes(const void *s, const struct metrics_row *row, struct metrics_emit *e)
{
    (void)row;
    metrics_uint(e, NULL, SRC(s)->ctx->pub->npublishes);
}

static void f_fenced(const void *s, const struct metrics_row *row, struct metrics_emit *e)
{
    (void)row;
    metrics_uint(e, NULL, SRC(s)->ctx->pub->nfenced);
}

static void f_redis_master_moves(const void *s, const struct metrics_row *row, struct metrics_emit *e)
{
    (void)row;
    metrics_uint(e, NULL, redis_master_moves(SRC(s)->ctx->redis));
}

static void f_redis_connected(const void *s, const struct metrics_row *row, struct metrics_emit *e)
{
    (void)row;
    metrics_int(e, NULL, redis_is_connected(SRC(s)->ctx->redis));
}

static void f_redis_errors(const void *s, const struct metrics_row *row, struct metrics_emit *e)
{
    (void)row;
    const struct ctl_ctx *ctx = SRC(s)->ctx;
    metrics_uint(e, NULL, redis_drops(ctx->redis) + ctx->pub->nerrors);
}

static void f_leader(const void *s, const struct metrics_row *row, struct metrics_emit *e)
{
    (void)row;
    metrics_int(e, NULL, lease_valid(&SRC(s)->ctx->lease, SRC(s)->now_mono_ms));
}

static void f_leader_since(const void *s, const struct metrics_row *row, struct metrics_emit *e)
{
    (void)row;
    metrics_num(e, NULL, (double)SRC(s)->ctx->lease.leader_since_ms / 1e3);
}

/* The uint64_t at offset <row>->arg of the lease. */
static void lease_u64(const void *s, const struct metrics_row *row, struct metrics_emit *e)
{
    uint64_t v;
    memcpy(&v, (const char *)&SRC(s)->ctx->lease + row->arg, sizeof(v));
    metrics_uint(e, NULL, v);
}

/* The uint64_t at offset <row>->arg of the context. */
static void ctx_u64(const void *s, const struct metrics_row *row, struct metrics_emit *e)
{
    uint64_t v;
    memcpy(&v, (const char *)SRC(s)->ctx + row->arg, sizeof(v));
    metrics_uint(e, NULL, v);
}

/* ---- health (no samples without controller.health) ---------------------- */

static void f_probes(const void *s, const struct metrics_row *row, struct metrics_emit *e)
{
    (void)row;
    const struct health_check *h = SRC(s)->ctx->health;
    if (h == NULL)
        return;
    for (int r = 0; r < HEALTH_RES_COUNT; r++)
        metrics_uint(e, (const char *[]){ health_result_name((enum health_result)r) },
                     health_check_get_stats(h)->probes_total[r]);
}

static void f_probe_latency(const void *s, const struct metrics_row *row, struct metrics_emit *e)
{
    (void)row;
    const struct health_check *h = SRC(s)->ctx->health;
    if (h != NULL)
        metrics_hist(e, NULL, &health_check_get_stats(h)->latency);
}

static void f_inflight(const void *s, const struct metrics_row *row, struct metrics_emit *e)
{
    (void)row;
    const struct health_check *h = SRC(s)->ctx->health;
    if (h != NULL)
        metrics_uint(e, NULL, health_check_inflight(h));
}

static void f_health_upstreams(const void *s, const struct metrics_row *row, struct metrics_emit *e)
{
    (void)row;
    const struct controller_metrics_src *x = SRC(s);
    if (x->ctx->health == NULL)
        return;
    for (int st = 0; st < 3; st++)
        metrics_uint(e, (const char *[]){ health_state_name((enum health_state)st) },
                     x->health_by_state[st]);
}

static void f_health_ejected(const void *s, const struct metrics_row *row, struct metrics_emit *e)
{
    (void)row;
    if (SRC(s)->ctx->health != NULL)
        metrics_uint(e, NULL, SRC(s)->health_ejected);
}

static void f_health_excluded(const void *s, const struct metrics_row *row, struct metrics_emit *e)
{
    (void)row;
    if (SRC(s)->ctx->health != NULL)
        metrics_uint(e, NULL, SRC(s)->health_excluded);
}

/* The uint64_t at offset <row>->arg of the checker's counters. */
static void health_u64(const void *s, const struct metrics_row *row, struct metrics_emit *e)
{
    const struct health_check *h = SRC(s)->ctx->health;
    if (h == NULL)
        return;
    uint64_t v;
    memcpy(&v, (const char *)health_check_get_stats(h) + row->arg, sizeof(v));
    metrics_uint(e, NULL, v);
}

static void f_build_info(const void *s, const struct metrics_row *row, struct metrics_emit *e)
{
    (void)s; (void)row;
    metrics_int(e, (const char *[]){ version_string(), version_commit() }, 1);
}

/* ---- the table ---------------------------------------------------------- */

#define NOL { NULL, NULL }
#define L1(a) { (a), NULL }
#define PROV { "provider", NULL }
#define PROV_U64(f) prov_u64, offsetof(struct provider, f)
#define PROV_WALL(f) prov_wall_s, offsetof(struct provider, f)
#define LEASE(f) lease_u64, offsetof(struct lease, f)
#define CTX(f) ctx_u64, offsetof(struct ctl_ctx, f)
#define HEALTH(f) health_u64, offsetof(struct health_check_stats, f)
#define FN(f) f, 0
#define C METRICS_COUNTER
#define G METRICS_GAUGE
#define H METRICS_HISTOGRAM
#define NONE METRICS_UNIT_NONE
#define SEC METRICS_UNIT_SECONDS
#define R METRICS_IN_REPORT

static const struct metrics_row controller_rows[] = {
    /* providers */
    { "pf_controller_polls_total", C, NONE, "Provider polls attempted.",
      PROV, PROV_U64(polls), 0 },
    { "pf_controller_poll_failures_total", C, NONE, "Provider polls that failed (after their retries).",
      PROV, PROV_U64(failures), 0 },
    { "pf_controller_retries_total", C, NONE, "Extra attempts within provider polls.",
      PROV, PROV_U64(retries), 0 },
    { "pf_controller_attempt_failures_total", C, NONE, "Failed provider attempts, by class (transient or fatal).",
      { "provider", "class" }, FN(f_attempt_failures), 0 },
    { "pf_controller_rejected_addresses_total", C, NONE, "Entries of provider answers rejected, by reason.",
      { "provider", "reason" }, FN(f_rejected), 0 },
    { "pf_controller_provider_upstreams", G, NONE, "Unexpired upstreams each provider contributes.",
      PROV, FN(f_prov_upstreams), 0 },
    { "pf_controller_provider_failed", G, NONE, "1 while a fatal failure parks the provider.",
      PROV, FN(f_prov_failed), 0 },
    { "pf_controller_provider_consecutive_failures", G, NONE, "Failed polls since the provider's last good one.",
      PROV, FN(f_prov_consecutive), 0 },
    { "pf_controller_provider_last_success_timestamp_seconds", G, SEC, "Wall clock of the provider's last good poll (0 = never).",
      PROV, PROV_WALL(last_success_at_ms), 0 },
    { "pf_controller_provider_last_error_timestamp_seconds", G, SEC, "Wall clock of the provider's last failed poll (0 = never).",
      PROV, PROV_WALL(last_error_at_ms), 0 },
    { "pf_controller_provider_next_poll_seconds", G, SEC, "Seconds until the provider's next scheduled attempt (-1 = none: standby).",
      PROV, FN(f_next_poll), 0 },
    { "pf_controller_breaker_state", G, NONE, "The provider's circuit breaker: 0 closed, 1 open, 2 half-open.",
      PROV, FN(f_breaker_state), 0 },
    { "pf_controller_breaker_opens_total", C, NONE, "Times the provider's breaker opened.",
      PROV, FN(f_breaker_opens), 0 },
    { "pf_controller_breaker_wait_seconds", G, SEC, "Seconds until the open breaker allows a probe (0 unless open).",
      PROV, FN(f_breaker_wait), 0 },
    /* the pool and Redis */
    { "pf_controller_pool_size", G, NONE, "Upstreams in the last merge of the providers.",
      NOL, FN(f_pool_size), R },
    { "pf_controller_pool_version", G, NONE, "Version of the pool last published or read (0 = none).",
      NOL, FN(f_pool_version), R },
    { "pf_controller_publishes_total", C, NONE, "Pool snapshots published (the pool script succeeded).",
      NOL, FN(f_publishes), 0 },
    { "pf_controller_fenced_total", C, NONE, "Writes refused with FENCED: another controller held the lease.",
      NOL, FN(f_fenced), 0 },
    { "pf_controller_redis_connected", G, NONE, "1 while the Redis connection is up.",
      NOL, FN(f_redis_connected), 0 },
    { "pf_controller_redis_errors_total", C, NONE, "Redis connections dropped on an error, and writes answered with an error.",
      NOL, FN(f_redis_errors), 0 },
    { "pf_controller_redis_master_moves_total", C, NONE, "Redis master changes followed (Sentinel).",
      NOL, FN(f_redis_master_moves), 0 },
    /* (provider counters: add their rows here) */
    /* leadership and config */
    { "pf_controller_leader", G, NONE, "1 while this controller holds the lease.",
      NOL, FN(f_leader), 0 },
    { "pf_controller_leader_since_timestamp_seconds", G, SEC, "Wall clock this controller became leader (0 = standby).",
      NOL, FN(f_leader_since), R },
    { "pf_controller_leader_acquisitions_total", C, NONE, "Times this controller became leader.",
      NOL, LEASE(acquisitions), 0 },
    { "pf_controller_leader_losses_total", C, NONE, "Times this controller stopped being leader.",
      NOL, LEASE(losses), 0 },
    { "pf_controller_reloads_total", C, NONE, "SIGHUP reloads applied.",
      NOL, CTX(reloads), 0 },
    { "pf_controller_reload_errors_total", C, NONE, "SIGHUP reloads refused (the old config kept).",
      NOL, CTX(reload_errors), 0 },
    /* health */
    { "pf_controller_health_probes_total", C, NONE, "Active health probes, by result.",
      L1("result"), FN(f_probes), 0 },
    { "pf_controller_health_probe_latency_seconds", H, SEC, "Latency of successful health probes through an upstream.",
      NOL, FN(f_probe_latency), 0 },
    { "pf_controller_health_probes_inflight", G, NONE, "Health probes in flight now.",
      NOL, FN(f_inflight), 0 },
    { "pf_controller_health_upstreams", G, NONE, "Tracked upstreams, by health state.",
      L1("state"), FN(f_health_upstreams), 0 },
    { "pf_controller_health_ejected", G, NONE, "Upstreams passively ejected now.",
      NOL, FN(f_health_ejected), 0 },
    { "pf_controller_health_excluded", G, NONE, "Upstreams left out of the published pool now (unhealthy or ejected).",
      NOL, FN(f_health_excluded), 0 },
    { "pf_controller_health_ejections_total", C, NONE, "Passive ejections.",
      NOL, HEALTH(ejections_total), 0 },
    { "pf_controller_health_ban_ejections_total", C, NONE, "Upstreams ejected because their fleet bans cover more than passive.bans_eject_domains domains.",
      NOL, HEALTH(ban_ejections_total), 0 },
    { "pf_controller_health_ban_ejected", G, NONE, "Upstreams ejected now for bans on too many domains (within max_ejection_percent).",
      NOL, HEALTH(ban_ejected), 0 },
    { "pf_controller_health_ban_bad_records_total", C, NONE, "Ban records in Redis the controller could not parse.",
      NOL, HEALTH(ban_bad_records), 0 },
    { "pf_controller_health_passive_rounds_total", C, NONE, "Passive health rounds run (node counters read).",
      NOL, HEALTH(passive_rounds), 0 },
    { "pf_controller_health_passive_bad_values_total", C, NONE, "Node outcome counters that did not parse.",
      NOL, HEALTH(passive_bad_values), 0 },
    /* the process */
    { "pf_controller_build_info", G, NONE, "Always 1; the build's version and git commit as labels.",
      { "version", "commit" }, FN(f_build_info), METRICS_NOT_JSON },
    PROCSTAT_ROWS,
};

const struct metrics_row *controller_metrics_table(size_t *n)
{
    *n = PF_ARRAY_LEN(controller_rows);
    return controller_rows;
}

void controller_metrics_src_init(struct controller_metrics_src *src, const struct ctl_ctx *ctx)
{
    memset(src, 0, sizeof(*src));
    procstat_read(&src->proc);
    src->ctx = ctx;
    src->now_wall_ms = clock_wall_ms();
    src->now_mono_ms = clock_mono_ms();
    if (ctx->health == NULL)
        return;
    const struct health_table *t = health_check_table(ctx->health);
    for (size_t i = 0; i < t->n; i++) {
        const struct health_up *u = t->ups[i];
        if ((size_t)u->state < PF_ARRAY_LEN(src->health_by_state))
            src->health_by_state[u->state]++;
        src->health_ejected += u->ejected_until_ms > src->now_wall_ms;
        src->health_excluded += health_up_is_excluded(u, src->now_wall_ms) != 0;
    }
}

int controller_metrics_write_text(const struct controller_metrics_src *src,
                                  metrics_write_fn *write, void *arg)
{
    return metrics_write_text(controller_rows, PF_ARRAY_LEN(controller_rows), src, write, arg);
}

int controller_metrics_add_json(const struct controller_metrics_src *src, cJSON *obj)
{
    return metrics_add_json(controller_rows, PF_ARRAY_LEN(controller_rows), src,
                            CONTROLLER_METRICS_PREFIX, 0, obj);
}

int controller_metrics_report(const struct controller_metrics_src *src, metrics_report_fn *fn,
                              void *arg)
{
    return metrics_report(controller_rows, PF_ARRAY_LEN(controller_rows), src,
                          CONTROLLER_METRICS_PREFIX, fn, arg);
}
