/* Reads the fleet status from Redis; see fleet_read.h. */
#include "fleet_read.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "fleet_decode.h"
#include "fleet_model.h"
#include "redis.h"

enum {
    FR_LEASE = 0,       /* GET lease */
    FR_LEASE_TTL,       /* PTTL lease */
    FR_CONTROLLER,      /* HGETALL controller */
    FR_PROVIDERS,       /* SMEMBERS providers */
    FR_NODES,           /* ZRANGE nodes 0 -1 WITHSCORES */
    FR_META,            /* HGETALL pool:meta */
    FR_UPSTREAMS,       /* HGETALL pool:upstreams */
    FR_HEALTH,          /* HGETALL health */
    FR_BANS,            /* HGETALL bans */
    FR_N,
};

/* The field/value pairs of HGETALL reply <x> in a malloc'd array (<*n>
 * pairs; NULL with *n == 0 when empty). Returns PF_OK, PF_EINVAL (not a
 * flat array of strings) or PF_ENOMEM. */
static int fleet_pairs(const struct redis_reply *x, struct snapshot_pair **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    if (redis_reply_type(x) != REDIS_TYPE_ARRAY || redis_reply_count(x) % 2 != 0)
        return PF_EINVAL;
    size_t np = redis_reply_count(x) / 2;
    if (np == 0)
        return PF_OK;
    struct snapshot_pair *p = calloc(np, sizeof(*p));
    if (p == NULL)
        return PF_ENOMEM;
    for (size_t i = 0; i < np; i++) {
        const struct redis_reply *f = redis_reply_element(x, 2 * i);
        const struct redis_reply *v = redis_reply_element(x, 2 * i + 1);
        p[i].field = redis_reply_str(f, &p[i].field_len);
        p[i].value = redis_reply_str(v, &p[i].value_len);
        if (redis_reply_type(f) != REDIS_TYPE_STRING || redis_reply_type(v) != REDIS_TYPE_STRING) {
            free(p);
            return PF_EINVAL;
        }
    }
    *out = p;
    *n = np;
    return PF_OK;
}

static int fleet_id_cmp(const void *a, const void *b)
{
    return strcmp(((const struct fleet_upstream *)a)->id, ((const struct fleet_upstream *)b)->id);
}

/* The upstream <id>/<len> of <f>: one of the first <npool> (sorted by id:
 * the records), else a new one appended (<f->upstreams> has room). NULL on
 * allocation failure. */
static struct fleet_upstream *fleet_upstream_at(struct fleet *f, const char *id, size_t len,
                                                size_t npool)
{
    struct fleet_upstream key;
    if (fleet_upstream_init(&key, id, len) != PF_OK)
        return NULL;
    struct fleet_upstream *u = bsearch(&key, f->upstreams, npool, sizeof(key), fleet_id_cmp);
    if (u != NULL) {
        fleet_upstream_deinit(&key);
        return u;
    }
    u = &f->upstreams[f->nupstreams++];
    *u = key;
    return u;
}

static int fleet_read_pool(struct fleet *f, const struct redis_reply *meta,
                           const struct redis_reply *ups, const struct redis_reply *health)
{
    struct snapshot_pair *p = NULL;
    size_t n = 0;
    int rc;

    if ((rc = fleet_pairs(meta, &p, &n)) != PF_OK)
        return rc;
    if (n > 0) {
        struct snapshot_meta m;
        struct pf_err err;
        if (snapshot_meta_from_pairs(&m, p, n, &err) == PF_OK) {
            f->pool.has_meta = 1;
            f->pool.version = m.version;
            memcpy(f->pool.epoch, m.epoch, sizeof(f->pool.epoch));
            f->pool.count = m.count;
        }
        for (size_t i = 0; i < n; i++) {
            if (p[i].field_len == strlen(SNAPSHOT_META_UPDATED_AT) &&
                memcmp(p[i].field, SNAPSHOT_META_UPDATED_AT, p[i].field_len) == 0)
                f->pool.updated_at_ms = fleet_parse_int(p[i].value, p[i].value_len);
            else if (p[i].field_len == strlen(SNAPSHOT_META_CONTROLLER) &&
                     memcmp(p[i].field, SNAPSHOT_META_CONTROLLER, p[i].field_len) == 0)
                fleet_copy_text(f->pool.controller_id, sizeof(f->pool.controller_id),
                                p[i].value, p[i].value_len);
        }
    }
    free(p);

    size_t nrec = redis_reply_count(ups) / 2, nh = redis_reply_count(health) / 2;
    if (redis_reply_type(ups) != REDIS_TYPE_ARRAY || redis_reply_type(health) != REDIS_TYPE_ARRAY)
        return PF_EINVAL;
    if (nrec + nh == 0)
        return PF_OK;
    f->upstreams = calloc(nrec + nh, sizeof(*f->upstreams));
    if (f->upstreams == NULL)
        return PF_ENOMEM;
    for (size_t i = 0; i < nrec; i++) {
        size_t il, vl;
        const char *id = redis_reply_str(redis_reply_element(ups, 2 * i), &il);
        const char *v = redis_reply_str(redis_reply_element(ups, 2 * i + 1), &vl);
        if (id == NULL || v == NULL)
            return PF_EINVAL;
        struct fleet_upstream *u = &f->upstreams[f->nupstreams];
        if (fleet_upstream_init(u, id, il) != PF_OK)
            return PF_ENOMEM;
        f->nupstreams++;
        struct pf_err err;
        if (fleet_record_decode(u, v, vl, &err) != PF_OK)
            continue;   /* is_bad: counted, listed */
    }
    size_t npool = f->nupstreams;
    if (npool > 1)
        qsort(f->upstreams, npool, sizeof(*f->upstreams), fleet_id_cmp);
    for (size_t i = 0; i < nh; i++) {
        size_t il, vl;
        const char *id = redis_reply_str(redis_reply_element(health, 2 * i), &il);
        const char *v = redis_reply_str(redis_reply_element(health, 2 * i + 1), &vl);
        if (id == NULL || v == NULL)
            return PF_EINVAL;
        struct fleet_upstream *u = fleet_upstream_at(f, id, il, npool);
        if (u == NULL)
            return PF_ENOMEM;
        if (fleet_health_decode(u, v, vl, f->now_ms) != PF_OK)
            continue;   /* tracked, health unknown */
    }
    return PF_OK;
}

static int fleet_read_first(struct fleet *f, struct redis_reply **x)
{
    size_t len;
    const char *s;

    if (redis_reply_type(x[FR_LEASE]) == REDIS_TYPE_STRING) {
        s = redis_reply_str(x[FR_LEASE], &len);
        fleet_leader_token(&f->leader, s, len);
        if (redis_reply_type(x[FR_LEASE_TTL]) == REDIS_TYPE_INTEGER)
            f->leader.lease_ttl_ms = redis_reply_integer(x[FR_LEASE_TTL]);
    }
    struct snapshot_pair *p = NULL;
    size_t n = 0;
    int rc = fleet_pairs(x[FR_CONTROLLER], &p, &n);
    if (rc != PF_OK)
        return rc;
    fleet_leader_from_pairs(&f->leader, p, n);
    free(p);

    const struct redis_reply *pr = x[FR_PROVIDERS];
    if (redis_reply_type(pr) != REDIS_TYPE_ARRAY)
        return PF_EINVAL;
    if (redis_reply_count(pr) > 0) {
        f->providers = calloc(redis_reply_count(pr), sizeof(*f->providers));
        if (f->providers == NULL)
            return PF_ENOMEM;
    }
    for (size_t i = 0; i < redis_reply_count(pr); i++) {
        s = redis_reply_str(redis_reply_element(pr, i), &len);
        if (s == NULL)
            return PF_EINVAL;
        fleet_provider_init(&f->providers[f->nproviders++], s, len);
    }

    const struct redis_reply *nd = x[FR_NODES];
    if (redis_reply_type(nd) != REDIS_TYPE_ARRAY || redis_reply_count(nd) % 2 != 0)
        return PF_EINVAL;
    if (redis_reply_count(nd) > 0) {
        f->nodes = calloc(redis_reply_count(nd) / 2, sizeof(*f->nodes));
        if (f->nodes == NULL)
            return PF_ENOMEM;
    }
    for (size_t i = 0; i < redis_reply_count(nd) / 2; i++) {
        size_t sl;
        s = redis_reply_str(redis_reply_element(nd, 2 * i), &len);
        const char *score = redis_reply_str(redis_reply_element(nd, 2 * i + 1), &sl);
        if (s == NULL || score == NULL)
            return PF_EINVAL;
        fleet_node_init(&f->nodes[f->nnodes++], s, len, fleet_parse_int(score, sl));
    }
    if ((rc = fleet_pairs(x[FR_BANS], &p, &n)) != PF_OK)
        return rc;
    rc = fleet_bans_from_pairs(&f->bans, p, n, f->now_ms);
    free(p);
    if (rc != PF_OK)
        return rc;
    return fleet_read_pool(f, x[FR_META], x[FR_UPSTREAMS], x[FR_HEALTH]);
}

/* The second round trip: each provider's hash, each node's hash and its
 * PTTL. Names that are not valid key names are never read (listed as
 * they are, their figures unknown). */
static int fleet_read_second(struct fleet *f, struct redis *r, const struct keys *k)
{
    size_t ncmd = f->nproviders + 2 * f->nnodes;
    if (ncmd == 0)
        return PF_OK;
    int rc = PF_ENOMEM;
    struct redis_cmd *cmds = calloc(ncmd, sizeof(*cmds));
    struct redis_reply **x = calloc(ncmd, sizeof(*x));
    char (*names)[KEYS_NAME_MAX] = calloc(ncmd, sizeof(*names));
    const char **argv = calloc(2 * ncmd, sizeof(*argv));
    size_t *owner = calloc(ncmd, sizeof(*owner));
    size_t m = 0;
    if (cmds == NULL || x == NULL || names == NULL || argv == NULL || owner == NULL)
        goto out;
    for (size_t i = 0; i < f->nproviders; i++) {
        if (keys_provider(k, f->providers[i].name, names[m], sizeof(names[m])) != PF_OK)
            continue;
        argv[2 * m] = "HGETALL";
        argv[2 * m + 1] = names[m];
        cmds[m] = (struct redis_cmd){ 2, &argv[2 * m], NULL };
        owner[m++] = i;
    }
    size_t nprov = m;
    for (size_t i = 0; i < f->nnodes; i++) {
        if (keys_node(k, f->nodes[i].id, names[m], sizeof(names[m])) != PF_OK)
            continue;
        argv[2 * m] = "HGETALL";
        argv[2 * m + 1] = names[m];
        cmds[m] = (struct redis_cmd){ 2, &argv[2 * m], NULL };
        owner[m++] = i;
        memcpy(names[m], names[m - 1], sizeof(names[m]));
        argv[2 * m] = "PTTL";
        argv[2 * m + 1] = names[m];
        cmds[m] = (struct redis_cmd){ 2, &argv[2 * m], NULL };
        owner[m++] = i;
    }
    if (m == 0) {
        rc = PF_OK;
        goto out;
    }
    if (redis_pipeline(r, "fleet status", m, cmds, x) != PF_OK) {
        rc = PF_EIO;
        goto out;
    }
    rc = PF_OK;
    for (size_t j = 0; j < m && rc == PF_OK; j++) {
        struct snapshot_pair *p = NULL;
        size_t n = 0;
        if (j >= nprov && (j - nprov) % 2 == 1) {
            if (redis_reply_type(x[j]) == REDIS_TYPE_INTEGER)
                f->nodes[owner[j]].ttl_ms = redis_reply_integer(x[j]);
            continue;
        }
        if ((rc = fleet_pairs(x[j], &p, &n)) != PF_OK)
            break;
        if (j < nprov)
            fleet_provider_from_pairs(&f->providers[owner[j]], p, n);
        else
            fleet_node_from_pairs(&f->nodes[owner[j]], p, n);
        free(p);
    }
out:
    for (size_t j = 0; x != NULL && j < m; j++)
        redis_reply_free(x[j]);
    free(cmds);
    free(x);
    free(names);
    free(argv);
    free(owner);
    return rc;
}

int fleet_read(struct redis *r, const struct keys *k, int64_t now_ms, struct fleet *f,
               struct pf_err *err)
{
    struct redis_reply *x[FR_N] = { 0 };
    int rc;

    fleet_init(f, now_ms);
    snprintf(f->prefix, sizeof(f->prefix), "%s", k->base);
    if (redis_connect(r, clock_mono_ms()) != PF_OK) {
        const char *why = redis_last_error(r);
        return pf_err_set(err, PF_EIO, "redis %s: %s", redis_target(r),
                          why[0] != '\0' ? why : "not connected (retrying later)");
    }
    snprintf(f->redis_target, sizeof(f->redis_target), "%s", redis_target(r));
    const char *a_lease[] = { "GET", k->controller_lease };
    const char *a_ttl[] = { "PTTL", k->controller_lease };
    const char *a_ctl[] = { "HGETALL", k->controller };
    const char *a_prov[] = { "SMEMBERS", k->providers };
    const char *a_nodes[] = { "ZRANGE", k->nodes, "0", "-1", "WITHSCORES" };
    const char *a_meta[] = { "HGETALL", k->pool_meta };
    const char *a_ups[] = { "HGETALL", k->pool_upstreams };
    const char *a_health[] = { "HGETALL", k->health };
    const char *a_bans[] = { "HGETALL", k->bans };
    const struct redis_cmd cmds[FR_N] = {
        [FR_LEASE] = { 2, a_lease, NULL },
        [FR_LEASE_TTL] = { 2, a_ttl, NULL },
        [FR_CONTROLLER] = { 2, a_ctl, NULL },
        [FR_PROVIDERS] = { 2, a_prov, NULL },
        [FR_NODES] = { 5, a_nodes, NULL },
        [FR_META] = { 2, a_meta, NULL },
        [FR_UPSTREAMS] = { 2, a_ups, NULL },
        [FR_HEALTH] = { 2, a_health, NULL },
        [FR_BANS] = { 2, a_bans, NULL },
    };
    if (redis_pipeline(r, "fleet status", FR_N, cmds, x) != PF_OK) {
        const char *why = redis_last_error(r);
        return pf_err_set(err, PF_EIO, "redis %s: %s", f->redis_target,
                          why[0] != '\0' ? why : "connection lost");
    }
    rc = fleet_read_first(f, x);
    for (size_t i = 0; i < FR_N; i++)
        redis_reply_free(x[i]);
    if (rc == PF_OK)
        rc = fleet_read_second(f, r, k);
    if (rc == PF_OK)
        rc = fleet_model_finish(f);
    if (rc != PF_OK) {
        fleet_deinit(f);
        fleet_init(f, now_ms);
        if (rc == PF_EINVAL)
            return pf_err_set(err, PF_EIO, "redis %s: an unexpected reply (a key of another type?)",
                              redis_target(r));
        if (rc == PF_EIO)
            return pf_err_set(err, PF_EIO, "redis %s: %s", redis_target(r),
                              redis_last_error(r)[0] != '\0' ? redis_last_error(r) : "connection lost");
        return pf_err_set(err, rc, "out of memory");
    }
    return PF_OK;
}

int fleet_read_bans(struct redis *r, const struct keys *k, int64_t now_ms, struct fleet *f,
                    struct pf_err *err)
{
    fleet_init(f, now_ms);
    snprintf(f->prefix, sizeof(f->prefix), "%s", k->base);
    if (redis_connect(r, clock_mono_ms()) != PF_OK) {
        const char *why = redis_last_error(r);
        return pf_err_set(err, PF_EIO, "redis %s: %s", redis_target(r),
                          why[0] != '\0' ? why : "not connected (retrying later)");
    }
    snprintf(f->redis_target, sizeof(f->redis_target), "%s", redis_target(r));
    const char *argv[] = { "HGETALL", k->bans };
    struct redis_reply *x = redis_command(r, "bans", 2, argv, NULL);
    if (x == NULL) {
        const char *why = redis_last_error(r);
        return pf_err_set(err, PF_EIO, "redis %s: %s", f->redis_target,
                          why[0] != '\0' ? why : "connection lost");
    }
    struct snapshot_pair *p = NULL;
    size_t n = 0;
    int rc = fleet_pairs(x, &p, &n);
    if (rc == PF_OK)
        rc = fleet_bans_from_pairs(&f->bans, p, n, now_ms);
    free(p);
    redis_reply_free(x);
    if (rc == PF_EINVAL)
        return pf_err_set(err, PF_EIO, "redis %s: an unexpected reply (a key of another type?)",
                          f->redis_target);
    if (rc != PF_OK)
        return pf_err_set(err, rc, "out of memory");
    return PF_OK;
}
