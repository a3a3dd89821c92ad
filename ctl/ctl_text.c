/* proxyfleet-ctl's text view; see ctl_text.h. */
#include "ctl_text.h"

#include <inttypes.h>
#include <string.h>

#include "fleet_decode.h"

#define C_RED    "\033[31m"
#define C_GREEN  "\033[32m"
#define C_YELLOW "\033[33m"
#define C_BOLD   "\033[1m"
#define C_OFF    "\033[0m"

/* A word padded to <w> columns, in colour <c> when <is_color>. */
static void ctl_cell(FILE *out, int is_color, const char *c, int w, const char *s)
{
    if (is_color && c != NULL)
        fprintf(out, "%s%-*s%s ", c, w, s, C_OFF);
    else
        fprintf(out, "%-*s ", w, s);
}

static void ctl_heading(FILE *out, int is_color, const char *s)
{
    if (is_color)
        fprintf(out, "%s%s%s\n", C_BOLD, s, C_OFF);
    else
        fprintf(out, "%s\n", s);
}

/* <ms> as "4.2s", "3m10s", "2h05m"; "-" when unknown. */
static const char *ctl_dur(char *buf, size_t len, int64_t ms)
{
    if (ms == FLEET_UNKNOWN) {
        snprintf(buf, len, "-");
    } else {
        int64_t a = ms < 0 ? -ms : ms;
        const char *sign = ms < 0 ? "-" : "";
        if (a < 60000)
            snprintf(buf, len, "%s%" PRId64 ".%" PRId64 "s", sign, a / 1000, (a % 1000) / 100);
        else if (a < 3600000)
            snprintf(buf, len, "%s%" PRId64 "m%02" PRId64 "s", sign, a / 60000, (a / 1000) % 60);
        else
            snprintf(buf, len, "%s%" PRId64 "h%02" PRId64 "m", sign, a / 3600000,
                     (a / 60000) % 60);
    }
    return buf;
}

static const char *ctl_int(char *buf, size_t len, int64_t v)
{
    if (v == FLEET_UNKNOWN)
        snprintf(buf, len, "-");
    else
        snprintf(buf, len, "%" PRId64, v);
    return buf;
}

static const char *ctl_provider_color(const struct fleet_provider *p)
{
    if (strcmp(p->breaker, "open") == 0 || strcmp(p->state, "failed") == 0)
        return C_RED;
    if (strcmp(p->state, "failing") == 0 || strcmp(p->breaker, "half_open") == 0)
        return C_YELLOW;
    return strcmp(p->state, "ok") == 0 ? C_GREEN : NULL;
}

void ctl_text_providers(FILE *out, const struct fleet *f, int is_color)
{
    char b1[32], b2[32], b3[32], b4[32];
    fprintf(out, "%-20s %-8s %-9s %9s %7s %7s %-10s %s\n", "PROVIDER", "STATE", "BREAKER",
            "UPSTREAMS", "POLLS", "FAILED", "NEXT POLL", "LAST ERROR");
    for (size_t i = 0; i < f->nproviders; i++) {
        const struct fleet_provider *p = &f->providers[i];
        const char *c = ctl_provider_color(p);
        fprintf(out, "%-20s ", p->name);
        ctl_cell(out, is_color, c, 8, p->state[0] != '\0' ? p->state : "-");
        ctl_cell(out, is_color, strcmp(p->breaker, "open") == 0 ? C_RED : NULL, 9,
                 p->breaker[0] != '\0' ? p->breaker : "-");
        int64_t next = p->next_poll_at_ms > 0 ? p->next_poll_at_ms - f->now_ms : FLEET_UNKNOWN;
        char in[40];
        snprintf(in, sizeof(in), "%s%s", next != FLEET_UNKNOWN ? "in " : "",
                 ctl_dur(b4, sizeof(b4), next));
        fprintf(out, "%9s %7s %7s %-10s ", ctl_int(b1, sizeof(b1), p->upstreams),
                ctl_int(b2, sizeof(b2), p->polls), ctl_int(b3, sizeof(b3), p->failures), in);
        if (p->last_error[0] != '\0' && p->last_error_at_ms > 0)
            fprintf(out, "%s (%s ago)\n", p->last_error,
                    ctl_dur(b1, sizeof(b1), f->now_ms - p->last_error_at_ms));
        else
            fprintf(out, "-\n");
    }
    if (f->nproviders == 0)
        fprintf(out, "(no provider in Redis)\n");
}

void ctl_text_nodes(FILE *out, const struct fleet *f, int is_color)
{
    char b1[32], b2[32], b3[32], b4[32], b5[32], b6[32];
    fprintf(out, "%-20s %-6s %-10s %6s %5s %6s %8s %6s %s\n", "NODE", "STATE", "VERSION",
            "POOL", "LAG", "CONNS", "REQ/S", "5XX", "HEARTBEAT");
    for (size_t i = 0; i < f->nnodes; i++) {
        const struct fleet_node *n = &f->nodes[i];
        fprintf(out, "%-20s ", n->id);
        ctl_cell(out, is_color,
                 n->state == FLEET_NODE_UP ? C_GREEN : n->state == FLEET_NODE_STALE ? C_YELLOW
                                                                                     : C_RED,
                 6, fleet_node_state_name(n->state));
        if (n->is_other_epoch)
            snprintf(b2, sizeof(b2), "epoch");
        else
            ctl_int(b2, sizeof(b2), n->lag_versions);
        if (n->has_rates) {
            snprintf(b4, sizeof(b4), "%.1f", n->requests_per_s);
            if (n->ratio_5xx >= 0)
                snprintf(b5, sizeof(b5), "%.1f%%", n->ratio_5xx * 100.0);
            else
                snprintf(b5, sizeof(b5), "-");
        } else {
            snprintf(b4, sizeof(b4), "-");
            snprintf(b5, sizeof(b5), "-");
        }
        fprintf(out, "%-10s %6s ", n->version[0] != '\0' ? n->version : "-",
                ctl_int(b1, sizeof(b1), n->pool_version));
        int is_lag = n->is_other_epoch || (n->lag_versions != FLEET_UNKNOWN && n->lag_versions > 0);
        if (is_color && is_lag)
            fprintf(out, "%s%5s%s ", C_YELLOW, b2, C_OFF);
        else
            fprintf(out, "%5s ", b2);
        fprintf(out, "%6s %8s %6s %s%s\n", ctl_int(b3, sizeof(b3), n->conns_active), b4, b5,
                ctl_dur(b6, sizeof(b6), n->age_ms), n->age_ms != FLEET_UNKNOWN ? " ago" : "");
    }
    if (f->nnodes == 0)
        fprintf(out, "(no node has reported)\n");
}

static void ctl_groups(FILE *out, const char *title, const struct fleet_groups *g)
{
    if (g->n == 0 || (g->n == 1 && g->v[0].name[0] == '\0'))
        return;   /* nothing, or every upstream without this label */
    fprintf(out, "  %-18s", title);
    for (size_t i = 0; i < g->n && i < 8; i++)
        fprintf(out, "%s%s %" PRId64 " (%" PRId64 " healthy)", i > 0 ? ", " : "",
                g->v[i].name[0] != '\0' ? g->v[i].name : "(none)", g->v[i].total,
                g->v[i].by_health[FLEET_HEALTH_HEALTHY]);
    if (g->n > 8)
        fprintf(out, ", ... %zu more", g->n - 8);
    fputc('\n', out);
}

static void ctl_pool(FILE *out, const struct fleet *f, int is_color)
{
    const struct fleet_pool *p = &f->pool;
    char b1[32];
    if (!p->has_meta) {
        fprintf(out, "pool      ");
        ctl_cell(out, is_color, C_RED, 0, "none published");
        fputc('\n', out);
        return;
    }
    fprintf(out, "pool      version %" PRId64 "  epoch %s  ", p->version, p->epoch);
    int64_t usable = p->records - p->bad_records;
    if (is_color && usable <= 0)
        fprintf(out, "%s%" PRId64 " upstreams%s", C_RED, usable, C_OFF);
    else
        fprintf(out, "%" PRId64 " upstreams", usable);
    if (p->bad_records > 0)
        fprintf(out, " (%" PRId64 " bad records)", p->bad_records);
    fprintf(out, "  published %s ago by %s\n",
            ctl_dur(b1, sizeof(b1), p->updated_at_ms != FLEET_UNKNOWN ? f->now_ms - p->updated_at_ms
                                                                      : FLEET_UNKNOWN),
            p->controller_id[0] != '\0' ? p->controller_id : "-");
    fprintf(out, "  %-18s", "health");
    int first = 1;
    for (int h = 0; h < FLEET_HEALTH_N; h++) {
        if (p->health.by_health[h] == 0)
            continue;
        fprintf(out, "%s%" PRId64 " %s", first ? "" : ", ", p->health.by_health[h],
                fleet_health_name((enum fleet_health)h));
        first = 0;
    }
    if (first)
        fprintf(out, "-");
    if (p->excluded > 0)
        fprintf(out, "  (%" PRId64 " kept out of the pool)", p->excluded);
    fputc('\n', out);
    ctl_groups(out, "by provider", &p->by_provider);
    ctl_groups(out, "by tier", &p->by_tier);
    ctl_groups(out, "by country", &p->by_country);
    ctl_groups(out, "by city", &p->by_city);
    ctl_groups(out, "by isp", &p->by_isp);
}

void ctl_text_bans(FILE *out, const struct fleet *f, size_t limit)
{
    char b1[32];
    const struct fleet_bans *b = &f->bans;
    if (b->n == 0) {
        fprintf(out, "(no active ban)\n");
    } else {
        fprintf(out, "%-16s %-12s %-24s %-10s %-24s %s\n", "BAN", "UPSTREAM", "DOMAIN",
                "EXPIRES", "SESSION", "REASON");
        for (size_t i = 0; i < b->n && i < limit; i++) {
            const struct ban *x = &b->v[i];
            char in[40];
            snprintf(in, sizeof(in), "in %s", ctl_dur(b1, sizeof(b1), x->expires_at_ms - f->now_ms));
            fprintf(out, "%-16s %-12s %-24s %-10s %-24s %s\n", x->id, x->upstream, x->domain, in,
                    x->session[0] != '\0' ? x->session : "(fleet)",
                    x->reason[0] != '\0' ? x->reason : "-");
        }
        if (b->n > limit)
            fprintf(out, "... %zu older (proxyfleet-ctl bans list)\n", b->n - limit);
    }
    if (b->expired > 0 || b->bad > 0)
        fprintf(out, "(%" PRId64 " expired, not pruned yet; %" PRId64 " bad records skipped)\n",
                b->expired, b->bad);
}

void ctl_text_status(FILE *out, const struct fleet *f, int is_color)
{
    const struct fleet_leader *l = &f->leader;
    char b1[32], b2[32];
    fprintf(out, "redis     %s  keys %s\n", f->redis_target, f->prefix);
    fprintf(out, "leader    ");
    if (!l->is_held) {
        ctl_cell(out, is_color, C_RED, 0, "none (no controller holds the lease)");
        fputc('\n', out);
    } else {
        ctl_cell(out, is_color, C_GREEN, 0, l->id);
        fprintf(out, " lease %s", ctl_dur(b1, sizeof(b1), l->lease_ttl_ms));
        if (l->has_heartbeat)
            fprintf(out, "  epoch %s  version %s%s%s  heartbeat %s ago", l->epoch,
                    l->version[0] != '\0' ? l->version : "-", l->commit[0] != '\0' ? " " : "",
                    l->commit,
                    ctl_dur(b2, sizeof(b2), l->heartbeat_at_ms != FLEET_UNKNOWN
                                                ? f->now_ms - l->heartbeat_at_ms
                                                : FLEET_UNKNOWN));
        else
            fprintf(out, "  (no heartbeat hash)");
        fputc('\n', out);
    }
    ctl_pool(out, f, is_color);
    fputc('\n', out);
    ctl_heading(out, is_color, "providers");
    ctl_text_providers(out, f, is_color);
    fputc('\n', out);
    ctl_heading(out, is_color, "nodes");
    ctl_text_nodes(out, f, is_color);
    fputc('\n', out);
    char title[64];
    snprintf(title, sizeof(title), "bans (%zu active)", f->bans.n);
    ctl_heading(out, is_color, title);
    ctl_text_bans(out, f, CTL_TEXT_BANS_RECENT);
}

int ctl_upstream_match(const struct fleet_upstream *u, const struct ctl_upstream_filter *flt)
{
    if (flt->provider != NULL && strcmp(u->provider, flt->provider) != 0)
        return 0;
    if (flt->has_state && u->health != flt->state)
        return 0;
    if (flt->label_key != NULL) {
        const char *v = strcmp(flt->label_key, "country") == 0 ? u->labels.country
                        : strcmp(flt->label_key, "city") == 0  ? u->labels.city
                                                               : u->labels.isp;
        if (strcmp(v, flt->label_value) != 0)
            return 0;
    }
    return 1;
}

void ctl_text_upstreams(FILE *out, const struct fleet *f, const struct ctl_upstream_filter *flt,
                        int is_color)
{
    char b1[32];
    size_t shown = 0;
    fprintf(out, "%-44s %-16s %4s %-10s %7s %-8s %s\n", "UPSTREAM", "PROVIDER", "TIER", "HEALTH",
            "LATENCY", "POOL", "LABELS / REASON");
    for (size_t i = 0; i < f->nupstreams; i++) {
        const struct fleet_upstream *u = &f->upstreams[i];
        if (!ctl_upstream_match(u, flt))
            continue;
        shown++;
        fprintf(out, "%-44s %-16s %4" PRIu32 " ", u->id, u->provider[0] != '\0' ? u->provider : "-",
                u->tier);
        const char *c = u->health == FLEET_HEALTH_HEALTHY                                 ? C_GREEN
                        : u->health == FLEET_HEALTH_UNHEALTHY || u->health == FLEET_HEALTH_EJECTED ? C_RED
                                                                                           : NULL;
        ctl_cell(out, is_color, c, 10, fleet_health_name(u->health));
        if (u->latency_ms > 0)
            snprintf(b1, sizeof(b1), "%" PRId64 "ms", u->latency_ms);
        else
            snprintf(b1, sizeof(b1), "-");
        fprintf(out, "%7s %-8s ", b1, u->is_bad ? "bad" : u->in_pool ? "yes" : "no");
        int any = 0;
        if (u->labels.country[0] != '\0')
            any += fprintf(out, "country=%s ", u->labels.country) > 0;
        if (u->labels.city[0] != '\0')
            any += fprintf(out, "city=%s ", u->labels.city) > 0;
        if (u->labels.isp[0] != '\0')
            any += fprintf(out, "isp=%s ", u->labels.isp) > 0;
        if (u->reason[0] != '\0')
            any += fprintf(out, "%s", u->reason) > 0;
        fprintf(out, "%s\n", any ? "" : "-");
    }
    fprintf(out, "%zu of %zu upstreams\n", shown, f->nupstreams);
}
