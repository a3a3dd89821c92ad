/* proxyfleet-ctl's commands; see ctl_run.h. */
#include "ctl_run.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cJSON.h>

#include "cli.h"
#include "ctl_bans.h"
#include "ctl_users.h"
#include "clock.h"
#include "conf.h"
#include "ctl_args.h"
#include "ctl_out.h"
#include "ctl_text.h"
#include "fleet_json.h"
#include "fleet_model.h"
#include "fleet_read.h"
#include "keys.h"
#include "log.h"
#include "redis.h"
#include "sentinel.h"

#define CTL_SAMPLE_CAP_MS 5000   /* the longest wait for a second heartbeat */

static int ctl_is_color(const struct ctl_args *a)
{
    if (a->color != CTL_COLOR_AUTO)
        return a->color == CTL_COLOR_ALWAYS;
    const char *term = getenv("TERM");
    return isatty(STDOUT_FILENO) && getenv("NO_COLOR") == NULL && term != NULL &&
           strcmp(term, "dumb") != 0;
}

static void ctl_sleep_ms(int64_t ms)
{
    struct timespec ts = { (time_t)(ms / 1000), (long)(ms % 1000) * 1000000L };
    while (nanosleep(&ts, &ts) != 0)
        ;
}

/* How long to wait for every live node's next heartbeat: the longest
 * report interval seen plus a margin, capped; 0 without a live node. */
static int64_t ctl_sample_wait_ms(const struct fleet *f)
{
    int64_t w = 0;
    for (size_t i = 0; i < f->nnodes; i++) {
        const struct fleet_node *n = &f->nodes[i];
        if (n->state == FLEET_NODE_UP && n->interval_ms != FLEET_UNKNOWN && n->interval_ms > w)
            w = n->interval_ms;
    }
    if (w == 0)
        return 0;
    w += 250;
    return w > CTL_SAMPLE_CAP_MS ? CTL_SAMPLE_CAP_MS : w;
}

static cJSON *ctl_json_upstreams(const struct fleet *f, const struct ctl_upstream_filter *flt)
{
    cJSON *o = cJSON_CreateObject();
    cJSON *a = o != NULL ? cJSON_AddArrayToObject(o, "upstreams") : NULL;
    if (a == NULL) {
        cJSON_Delete(o);
        return NULL;
    }
    for (size_t i = 0; i < f->nupstreams; i++) {
        if (!ctl_upstream_match(&f->upstreams[i], flt))
            continue;
        cJSON *u = fleet_json_upstream(&f->upstreams[i]);
        if (u == NULL || !cJSON_AddItemToArray(a, u)) {
            cJSON_Delete(u);
            cJSON_Delete(o);
            return NULL;
        }
    }
    return o;
}

/* Prints the command's view of <f> (read and finished). */
static int ctl_show(const struct ctl_args *a, const struct fleet *f)
{
    int is_color = ctl_is_color(a);
    struct ctl_upstream_filter flt = { a->provider, a->label_key, a->label_value, a->has_state,
                                       a->state };
    char why[512];
    int rc = CTL_EXIT_OK;

    if (a->is_check) {
        struct fleet_check_limits lim = { a->max_lag_versions, a->max_lag_ms };
        int bad = fleet_check(f, &lim, why, sizeof(why)) != PF_OK;
        if (a->is_json) {
            cJSON *o = cJSON_CreateObject();
            if (o == NULL || cJSON_AddBoolToObject(o, "ok", !bad) == NULL ||
                cJSON_AddStringToObject(o, "reason", bad ? why : "") == NULL) {
                cJSON_Delete(o);
                return CTL_EXIT_FAIL;
            }
            rc = ctl_out_json(o);
        } else if (bad) {
            printf("FAIL: %s\n", why);
        } else {
            int64_t up = 0;
            for (size_t i = 0; i < f->nnodes; i++)
                up += f->nodes[i].state == FLEET_NODE_UP;
            printf("OK: leader %s, pool version %" PRId64 " with %" PRId64
                   " upstreams, %" PRId64 " nodes up\n", f->leader.id, f->pool.version,
                   f->pool.records - f->pool.bad_records, up);
        }
        return bad ? CTL_EXIT_FAIL : rc;
    }
    switch (a->command) {
    case CTL_CMD_STATUS:
        if (a->is_json)
            return ctl_out_json(fleet_json_status(f));
        ctl_text_status(stdout, f, is_color);
        break;
    case CTL_CMD_NODES:
        if (a->is_json)
            return ctl_out_json(fleet_json_nodes(f));
        ctl_text_nodes(stdout, f, is_color);
        break;
    case CTL_CMD_PROVIDERS:
        if (a->is_json)
            return ctl_out_json(fleet_json_providers(f));
        ctl_text_providers(stdout, f, is_color);
        break;
    case CTL_CMD_UPSTREAMS:
        if (a->is_json)
            return ctl_out_json(ctl_json_upstreams(f, &flt));
        ctl_text_upstreams(stdout, f, &flt, is_color);
        break;
    default:
        break;
    }
    return rc;
}

/* Reads the fleet (twice, for the rates, when the command shows them) and
 * shows it. */
static int ctl_read_show(const struct ctl_args *a, struct redis *r, const struct keys *k)
{
    struct fleet f, g;
    struct pf_err err;
    int rc;

    pf_err_clear(&err);
    if (fleet_read(r, k, clock_wall_ms(), &f, &err) != PF_OK) {
        if (a->is_check && !a->is_json) {
            printf("FAIL: %s\n", err.msg);
        } else if (a->is_check) {
            cJSON *o = cJSON_CreateObject();
            if (o != NULL && cJSON_AddBoolToObject(o, "ok", 0) != NULL &&
                cJSON_AddStringToObject(o, "reason", err.msg) != NULL)
                (void)ctl_out_json(o);
            else
                cJSON_Delete(o);
        } else {
            fprintf(stderr, "proxyfleet-ctl: %s\n", err.msg);
        }
        fleet_deinit(&f);
        return CTL_EXIT_FAIL;
    }
    int is_rates = !a->is_check && (a->command == CTL_CMD_STATUS || a->command == CTL_CMD_NODES);
    int64_t wait = a->sample_ms >= 0 ? a->sample_ms : ctl_sample_wait_ms(&f);
    if (is_rates && wait > 0) {
        ctl_sleep_ms(wait);
        if (fleet_read(r, k, clock_wall_ms(), &g, &err) == PF_OK) {
            fleet_rates(&g, &f);
            fleet_deinit(&f);
            f = g;
        } else {
            fleet_deinit(&g);   /* the first read stands, without rates */
        }
    }
    rc = ctl_show(a, &f);
    fleet_deinit(&f);
    return rc;
}

int ctl_run(int argc, char **argv)
{
    struct ctl_args a;
    struct conf conf;
    struct keys keys;
    struct pf_err err;
    char why[256];
    int rc = CTL_EXIT_FAIL;

    if (ctl_args_parse(argc, argv, &a, why, sizeof(why)) != 0) {
        fprintf(stderr, "proxyfleet-ctl: %s\n", why);
        ctl_args_usage(stderr);
        return CTL_EXIT_USAGE;
    }
    if (a.command == CTL_CMD_VERSION) {
        cli_print_version(stdout, "proxyfleet-ctl");
        return CTL_EXIT_OK;
    }
    if (a.command == CTL_CMD_HELP) {
        ctl_args_usage(stdout);
        return CTL_EXIT_OK;
    }
    /* the blocking client logs its reconnects; the command says why it
     * failed itself, once */
    log_set_ident("ctl");
    log_set_level(PF_LOG_ERROR);
    pf_err_clear(&err);
    if (conf_load_file(&conf, a.config_path, &err) != PF_OK ||
        keys_init(&keys, conf.redis.prefix, &err) != PF_OK) {
        fprintf(stderr, "proxyfleet-ctl: config: %s: %s\n", a.config_path, err.msg);
        conf_deinit(&conf);
        return CTL_EXIT_USAGE;
    }
    struct sentinel *s = NULL;
    struct redis *r = NULL;
    if (conf.redis.nsentinels > 0 && (s = sentinel_create(&conf.redis)) == NULL)
        goto out;
    if ((r = redis_create(&conf.redis, s)) == NULL)
        goto out;
    if (a.command == CTL_CMD_BANS)
        rc = ctl_bans_run(&a, &conf, r, &keys);
    else if (a.command == CTL_CMD_USERS)
        rc = ctl_users_run(&a, r, &keys);
    else
        rc = ctl_read_show(&a, r, &keys);
out:
    if (r == NULL)
        fprintf(stderr, "proxyfleet-ctl: out of memory\n");
    redis_destroy(r);
    sentinel_destroy(s);
    conf_deinit(&conf);
    return rc;
}
