/* proxyfleet-ctl bans; see ctl_bans.h. */
#include "ctl_bans.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>
#include <openssl/rand.h>

#include "ban.h"
#include "ban_write.h"
#include "clock.h"
#include "ctl_out.h"
#include "ctl_text.h"
#include "fleet_json.h"
#include "fleet_model.h"
#include "fleet_read.h"
#include "redis.h"
#include "seal.h"
#include "upstream_sid.h"

static int ctl_bans_list(const struct ctl_args *a, struct redis *r, const struct keys *k)
{
    struct fleet f;
    struct pf_err err;
    pf_err_clear(&err);
    if (fleet_read_bans(r, k, clock_wall_ms(), &f, &err) != PF_OK) {
        fprintf(stderr, "proxyfleet-ctl: %s\n", err.msg);
        fleet_deinit(&f);
        return CTL_EXIT_FAIL;
    }
    int rc = CTL_EXIT_OK;
    if (a->is_json)
        rc = ctl_out_json(fleet_json_bans(&f, "bans", f.bans.n));
    else
        ctl_text_bans(stdout, &f, f.bans.n);
    fleet_deinit(&f);
    return rc;
}

/* The short id of --upstream <arg>: itself when it has the shape, else the
 * short id of the upstream id it names, under the fleet's key (from
 * redis.credential_key_file, as the nodes derive it). */
static int ctl_bans_sid(const char *arg, const struct conf *conf, char sid[UPSTREAM_SID_LEN])
{
    if (upstream_sid_is_valid(arg)) {
        memcpy(sid, arg, UPSTREAM_SID_LEN);
        return CTL_EXIT_OK;
    }
    if (strstr(arg, "://") == NULL) {
        fprintf(stderr, "proxyfleet-ctl: --upstream: a short id (12 hex digits) or an upstream "
                        "id (scheme://host:port, as `upstreams` lists it)\n");
        return CTL_EXIT_USAGE;
    }
    struct upstream_sid_key key;
    struct seal_key *sk = NULL;
    if (conf->redis.credential_key_file[0] != '\0') {
        struct pf_err err;
        pf_err_clear(&err);
        if ((sk = seal_key_load(conf->redis.credential_key_file, &err)) == NULL) {
            fprintf(stderr, "proxyfleet-ctl: %s\n", err.msg);
            return CTL_EXIT_USAGE;
        }
    }
    upstream_sid_key_derive(sk != NULL ? sk->bytes : NULL, sk != NULL ? sizeof(sk->bytes) : 0,
                            &key);
    seal_key_destroy(sk);
    upstream_sid_format(&key, arg, sid, UPSTREAM_SID_LEN);
    return sid[0] != '\0' ? CTL_EXIT_OK : CTL_EXIT_USAGE;
}

/* The ban of the command line, checked as the node checks a POST /v1/bans
 * body (ban_request_parse: one validation for every writer). */
static int ctl_bans_build(const struct ctl_args *a, const struct conf *conf, struct ban *b)
{
    char sid[UPSTREAM_SID_LEN];
    int rc = ctl_bans_sid(a->ban_upstream, conf, sid);
    if (rc != CTL_EXIT_OK)
        return rc;
    cJSON *o = cJSON_CreateObject();
    int ok = o != NULL && cJSON_AddStringToObject(o, "upstream", sid) != NULL &&
             cJSON_AddStringToObject(o, "domain", a->ban_domain) != NULL &&
             (a->ban_session == NULL ||
              cJSON_AddStringToObject(o, "session", a->ban_session) != NULL) &&
             (a->ban_reason == NULL || cJSON_AddStringToObject(o, "reason", a->ban_reason) != NULL) &&
             (a->ban_ttl_s == 0 || cJSON_AddNumberToObject(o, "ttl_s", (double)a->ban_ttl_s) != NULL);
    char *body = ok ? cJSON_PrintUnformatted(o) : NULL;
    cJSON_Delete(o);
    if (body == NULL) {
        fprintf(stderr, "proxyfleet-ctl: out of memory\n");
        return CTL_EXIT_FAIL;
    }
    struct pf_err err;
    pf_err_clear(&err);
    rc = ban_request_parse(body, strlen(body), clock_wall_ms(), b, &err);
    free(body);
    if (rc != PF_OK) {
        fprintf(stderr, "proxyfleet-ctl: bans add: %s\n", err.msg);
        return CTL_EXIT_USAGE;
    }
    uint64_t rnd;
    if (RAND_bytes((unsigned char *)&rnd, sizeof(rnd)) != 1) {
        fprintf(stderr, "proxyfleet-ctl: no randomness for the ban id\n");
        return CTL_EXIT_FAIL;
    }
    ban_id_format(rnd, b->id);
    return CTL_EXIT_OK;
}

/* Runs the shared write <w>; returns the script's integer, or -1 (said). */
static long long ctl_bans_send(struct redis *r, const struct ban_write *w)
{
    struct redis_script script = { ban_write_script, strlen(ban_write_script), "", 0 };
    if (redis_connect(r, clock_mono_ms()) != PF_OK) {
        const char *why = redis_last_error(r);
        fprintf(stderr, "proxyfleet-ctl: redis %s: %s\n", redis_target(r),
                why[0] != '\0' ? why : "not connected");
        return -1;
    }
    const char *args[BAN_WRITE_NARGS];
    memcpy(args, w->args, sizeof(args));
    struct redis_reply *x = redis_eval(r, &script, "ban write", BAN_WRITE_NARGS, args, NULL);
    long long n = -1;
    if (redis_reply_type(x) == REDIS_TYPE_INTEGER) {
        n = redis_reply_integer(x);
    } else {
        const char *why = redis_reply_type(x) == REDIS_TYPE_ERROR ? redis_reply_str(x, NULL)
                                                                   : redis_last_error(r);
        fprintf(stderr, "proxyfleet-ctl: redis %s: writing the ban failed: %s\n", redis_target(r),
                why != NULL && why[0] != '\0' ? why : "connection lost");
    }
    redis_reply_free(x);
    return n;
}

static int ctl_bans_add(const struct ctl_args *a, const struct conf *conf, struct redis *r,
                        const struct keys *k)
{
    struct ban b;
    struct ban_write w;
    int rc = ctl_bans_build(a, conf, &b);
    if (rc != CTL_EXIT_OK)
        return rc;
    if (ban_write_add(&w, k, &b, clock_wall_ms()) != PF_OK) {
        fprintf(stderr, "proxyfleet-ctl: bans add: the record does not fit\n");
        return CTL_EXIT_FAIL;
    }
    if (ctl_bans_send(r, &w) != 1)
        return CTL_EXIT_FAIL;
    if (a->is_json) {
        cJSON *o = cJSON_CreateObject(), *x = fleet_json_ban(&b);
        if (o == NULL || x == NULL || !cJSON_AddItemToObject(o, "ban", x)) {
            cJSON_Delete(x);
            cJSON_Delete(o);
            o = NULL;
        }
        return ctl_out_json(o);
    }
    printf("ban %s added: upstream %s%s%s for %s, %lld s%s%s\n", b.id, b.upstream,
           b.session[0] != '\0' ? " session " : "", b.session, b.domain,
           (long long)((b.expires_at_ms - b.created_at_ms) / 1000), b.reason[0] != '\0' ? ": " : "",
           b.reason);
    return CTL_EXIT_OK;
}

static int ctl_bans_del(const struct ctl_args *a, struct redis *r, const struct keys *k)
{
    struct ban_write w;
    if (ban_write_del(&w, k, a->target, clock_wall_ms()) != PF_OK) {
        fprintf(stderr, "proxyfleet-ctl: bans del: a ban id is %d lowercase hex digits\n",
                BAN_ID_LEN);
        return CTL_EXIT_USAGE;
    }
    long long n = ctl_bans_send(r, &w);
    if (n < 0)
        return CTL_EXIT_FAIL;
    if (a->is_json) {
        cJSON *o = cJSON_CreateObject();
        if (o != NULL && (n > 0 ? cJSON_AddStringToObject(o, "deleted", w.id)
                                : cJSON_AddNullToObject(o, "deleted")) == NULL) {
            cJSON_Delete(o);
            o = NULL;
        }
        int rc = ctl_out_json(o);
        return n > 0 ? rc : CTL_EXIT_FAIL;
    }
    if (n == 0) {
        fprintf(stderr, "proxyfleet-ctl: bans del: no ban %s\n", w.id);
        return CTL_EXIT_FAIL;
    }
    printf("ban %s removed\n", w.id);
    return CTL_EXIT_OK;
}

int ctl_bans_run(const struct ctl_args *a, const struct conf *conf, struct redis *r,
                 const struct keys *k)
{
    switch (a->op) {
    case CTL_OP_LIST:
        return ctl_bans_list(a, r, k);
    case CTL_OP_ADD:
        return ctl_bans_add(a, conf, r, k);
    case CTL_OP_DEL:
        return ctl_bans_del(a, r, k);
    default:
        return CTL_EXIT_USAGE;
    }
}
