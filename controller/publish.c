/* Redis writer of the controller. Key names come from common/keys.h only. */
#include "publish.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "clock.h"
#include "log.h"
#include "rng.h"
#include "pool_delta.h"
#include "pool_digest.h"
#include "provider.h"
#include "snapshot.h"
#include "version.h"

/* KEYS: 1 pool:upstreams, 2 pool:expiry, 3 pool:meta, 4 pool:events, 5 lease,
 * 6 pool:log.
 * ARGV: 1 fencing token ("" = none), 2 epoch, 3 updated_at_ms,
 * 4 controller_id, 5 count, 6 digest, then count triples (id, record,
 * expires_at_ms).
 * The whole snapshot: the pool log is deleted with it, so a node that is
 * behind finds no entry for this version and reads the snapshot.
 * The meta field names and the notice "<version> <epoch>" are those of
 * common/snapshot.h, which the nodes parse with. Lua's tostring() of the
 * HINCRBY integer is its plain decimal, as snapshot_notice_format() writes.
 * HSET/ZADD go in chunks: unpack() of a whole large pool would overflow
 * Lua's C stack (LUAI_MAXCSTACK 8000). */
static const char publish_script[] =
    "local token = ARGV[1]\n"
    "if token ~= '' then\n"
    "  if redis.call('GET', KEYS[5]) ~= token then\n"
    "    return redis.error_reply('FENCED')\n"
    "  end\n"
    "end\n"
    "local n = tonumber(ARGV[5])\n"
    "redis.call('DEL', KEYS[1], KEYS[2], KEYS[6])\n"
    "local i = 0\n"
    "while i < n do\n"
    "  local j = math.min(i + 500, n)\n"
    "  local h, z = {}, {}\n"
    "  for k = i, j - 1 do\n"
    "    local b = 7 + k * 3\n"
    "    h[#h + 1] = ARGV[b]\n"
    "    h[#h + 1] = ARGV[b + 1]\n"
    "    z[#z + 1] = ARGV[b + 2]\n"
    "    z[#z + 1] = ARGV[b]\n"
    "  end\n"
    "  redis.call('HSET', KEYS[1], unpack(h))\n"
    "  redis.call('ZADD', KEYS[2], unpack(z))\n"
    "  i = j\n"
    "end\n"
    "local v = redis.call('HINCRBY', KEYS[3], '" SNAPSHOT_META_VERSION "', 1)\n"
    "redis.call('HSET', KEYS[3], '" SNAPSHOT_META_EPOCH "', ARGV[2], '" SNAPSHOT_META_COUNT "', ARGV[5],\n"
    "           '" SNAPSHOT_META_UPDATED_AT "', ARGV[3], '" SNAPSHOT_META_CONTROLLER "', ARGV[4],\n"
    "           '" SNAPSHOT_META_DIGEST "', ARGV[6])\n"
    "redis.call('PUBLISH', KEYS[4], tostring(v) .. '" SNAPSHOT_NOTICE_SEP "' .. ARGV[2])\n"
    "return v\n";

/* The changes since the last publish, as one pool log entry
 * (common/pool_delta.h) with the same writes to the snapshot.
 * KEYS: as publish_script. ARGV: 1 token, 2 epoch, 3 updated_at_ms,
 * 4 controller_id, 5 count, 6 digest, 7 the version the changes apply to,
 * 8 the log's length bound, 9 nops, then nops quads (op field "+id"/"-id",
 * id, record or "", expires_at_ms). STALE when pool:meta is not at (epoch,
 * version) any more: the caller then publishes the whole snapshot. The
 * XADD goes first, before any other write: a script that fails later does
 * not undo what it wrote. */
static const char publish_delta_script[] =
    "if ARGV[1] ~= '' and redis.call('GET', KEYS[5]) ~= ARGV[1] then\n"
    "  return redis.error_reply('FENCED')\n"
    "end\n"
    "local m = redis.call('HMGET', KEYS[3], '" SNAPSHOT_META_EPOCH "', '" SNAPSHOT_META_VERSION "')\n"
    "if m[1] ~= ARGV[2] or m[2] ~= ARGV[7] then\n"
    "  return redis.error_reply('STALE')\n"
    "end\n"
    "local n = tonumber(ARGV[9])\n"
    "local x = { KEYS[6], 'MAXLEN', '~', ARGV[8], tostring(tonumber(ARGV[7]) + 1) .. '-0',\n"
    "            '" POOL_DELTA_EPOCH "', ARGV[2], '" POOL_DELTA_DIGEST "', ARGV[6],\n"
    "            '" POOL_DELTA_COUNT "', ARGV[5] }\n"
    "for k = 0, n - 1 do\n"
    "  x[#x + 1] = ARGV[10 + k * 4]\n"
    "  x[#x + 1] = ARGV[12 + k * 4]\n"
    "end\n"
    "redis.call('XADD', unpack(x))\n"
    "for k = 0, n - 1 do\n"
    "  local b = 10 + k * 4\n"
    "  if string.sub(ARGV[b], 1, 1) == '+' then\n"
    "    redis.call('HSET', KEYS[1], ARGV[b + 1], ARGV[b + 2])\n"
    "    redis.call('ZADD', KEYS[2], ARGV[b + 3], ARGV[b + 1])\n"
    "  else\n"
    "    redis.call('HDEL', KEYS[1], ARGV[b + 1])\n"
    "    redis.call('ZREM', KEYS[2], ARGV[b + 1])\n"
    "  end\n"
    "end\n"
    "local v = redis.call('HINCRBY', KEYS[3], '" SNAPSHOT_META_VERSION "', 1)\n"
    "redis.call('HSET', KEYS[3], '" SNAPSHOT_META_EPOCH "', ARGV[2], '" SNAPSHOT_META_COUNT "', ARGV[5],\n"
    "           '" SNAPSHOT_META_UPDATED_AT "', ARGV[3], '" SNAPSHOT_META_CONTROLLER "', ARGV[4],\n"
    "           '" SNAPSHOT_META_DIGEST "', ARGV[6])\n"
    "redis.call('PUBLISH', KEYS[4], tostring(v) .. '" SNAPSHOT_NOTICE_SEP "' .. ARGV[2])\n"
    "return v\n";

/* KEYS: 1 lease, 2 hash, 3 set. ARGV: 1 fencing token ("" = none), 2 member
 * to SADD to KEYS[3] ("" = none), 3 PEXPIRE ms of the hash (0 = none), then
 * field/value pairs for HSET. */
static const char publish_hash_script[] =
    "if ARGV[1] ~= '' and redis.call('GET', KEYS[1]) ~= ARGV[1] then\n"
    "  return redis.error_reply('FENCED')\n"
    "end\n"
    "redis.call('HSET', KEYS[2], unpack(ARGV, 4))\n"
    "if ARGV[2] ~= '' then redis.call('SADD', KEYS[3], ARGV[2]) end\n"
    "if tonumber(ARGV[3]) > 0 then redis.call('PEXPIRE', KEYS[2], ARGV[3]) end\n"
    "return 1\n";

/* KEYS: 1 lease, 2 providers set, then the hash of each provider removed.
 * ARGV: 1 fencing token ("" = none), 2 how many names have a hash in KEYS,
 * then the names to remove (those first, then members whose name makes no
 * key: only SREM'd). One script, so the set and the hashes change together
 * or, FENCED, not at all. */
static const char publish_prune_script[] =
    "if ARGV[1] ~= '' and redis.call('GET', KEYS[1]) ~= ARGV[1] then\n"
    "  return redis.error_reply('FENCED')\n"
    "end\n"
    "local nkeyed = tonumber(ARGV[2])\n"
    "for i = 3, #ARGV do\n"
    "  redis.call('SREM', KEYS[2], ARGV[i])\n"
    "  if i - 2 <= nkeyed then redis.call('DEL', KEYS[i]) end\n"
    "end\n"
    "return #ARGV - 2\n";

static void publish_new_epoch(struct publish *p)
{
    snprintf(p->epoch, sizeof(p->epoch), "%016" PRIx64, rng_os_u64());
    p->has_published = 0;
}

struct publish *publish_create(struct redis *redis, const struct keys *keys,
                               const char *controller_id, const struct seal_key *cred_key)
{
    struct publish *p = calloc(1, sizeof(*p));
    const struct redis_script script = REDIS_SCRIPT_INIT(publish_script);

    if (p == NULL)
        return NULL;
    p->redis = redis;
    p->keys = keys;
    p->controller_id = controller_id;
    p->cred_key = cred_key;
    const struct redis_script prune = REDIS_SCRIPT_INIT(publish_prune_script);
    const struct redis_script delta = REDIS_SCRIPT_INIT(publish_delta_script);
    p->pool_script = script;
    p->delta_script = delta;
    p->prune_script = prune;
    publish_new_epoch(p);
    return p;
}

/* Forgets what was last published (the next publish is whole). */
static void publish_forget(struct publish *p)
{
    for (size_t i = 0; i < p->nlast; i++)
        free(p->last[i].id);
    free(p->last);
    p->last = NULL;
    p->nlast = 0;
    p->pool_digest = 0;
}

void publish_destroy(struct publish *p)
{
    if (p == NULL)
        return;
    publish_forget(p);
    free(p);
}

void publish_begin_term(struct publish *p, const char *token, int64_t now_wall_ms)
{
    snprintf(p->token, sizeof(p->token), "%s", token);
    p->leader_since_ms = now_wall_ms;
    publish_new_epoch(p);
    publish_forget(p);
}

void publish_end_term(struct publish *p)
{
    p->token[0] = '\0';
    p->leader_since_ms = 0;
    p->has_published = 0;
}

static uint64_t publish_fnv(uint64_t h, const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ULL;
    }
    return h;
}

/* Reads pool:meta's epoch and version. Sets <*state> to 0 when it matches
 * ours, 1 when missing, 2 when another epoch. Returns PF_OK or PF_EIO. */
static int publish_read_meta(struct publish *p, int *state)
{
    const char *argv[] = { "HMGET", p->keys->pool_meta, SNAPSHOT_META_EPOCH,
                           SNAPSHOT_META_VERSION };
    struct redis_reply *r = redis_command(p->redis, "HMGET pool:meta", 4, argv, NULL);

    if (r == NULL)
        return PF_EIO;
    if (redis_reply_type(r) != REDIS_TYPE_ARRAY || redis_reply_count(r) != 2) {
        log_warn("redis: unexpected HMGET pool:meta reply type %d", (int)redis_reply_type(r));
        redis_reply_free(r);
        return redis_fail(p->redis, "HMGET pool:meta");
    }
    const struct redis_reply *e = redis_reply_element(r, 0);
    size_t elen = 0;
    const char *epoch = redis_reply_type(e) == REDIS_TYPE_STRING ? redis_reply_str(e, &elen) : NULL;
    if (epoch == NULL) {
        *state = 1;
    } else if (elen != strlen(p->epoch) || memcmp(epoch, p->epoch, elen) != 0) {
        *state = 2;
    } else {
        *state = 0;
        const struct redis_reply *v = redis_reply_element(r, 1);
        size_t vlen = 0;
        const char *vs = redis_reply_type(v) == REDIS_TYPE_STRING ? redis_reply_str(v, &vlen) : NULL;
        int64_t version = 0;
        if (vs != NULL && snapshot_version_parse(vs, vlen, &version) == PF_OK)
            p->version = version;
    }
    redis_reply_free(r);
    return PF_OK;
}

/* Runs pool script <script> with <nargs> <args> (numkeys, KEYS, ARGV).
 * PF_OK (p->version set), PF_EDENIED (fenced), PF_EAGAIN (STALE: the delta
 * script found pool:meta moved) or PF_EIO. */
static int publish_run_script(struct publish *p, struct redis_script *script, int nargs,
                              const char **args, size_t *argslen)
{
    struct redis_reply *r = redis_eval(p->redis, script, "pool script", nargs, args, argslen);
    if (r == NULL)
        return PF_EIO;
    int rc = PF_OK;
    if (redis_reply_type(r) == REDIS_TYPE_INTEGER) {
        p->version = redis_reply_integer(r);
    } else if (redis_reply_is_error(r, "FENCED")) {
        log_warn("redis: publish fenced: lease token no longer ours");
        p->nfenced++;
        rc = PF_EDENIED;
    } else if (redis_reply_is_error(r, "STALE")) {
        log_info("redis: pool:meta moved since version %" PRId64 "; publishing the whole pool",
                 p->version);
        rc = PF_EAGAIN;
    } else {
        const char *msg = redis_reply_str(r, NULL);
        log_warn("redis: publish script failed: %s",
                 redis_reply_type(r) == REDIS_TYPE_ERROR && msg != NULL ? msg : "unexpected reply");
        p->nerrors++;
        rc = PF_EIO;
    }
    redis_reply_free(r);
    return rc;
}

/* What one publish works with: per entry of the new pool its clear record
 * and what the next diff compares (the record's hash, the entry digest),
 * and the ops against the last publish. */
struct publish_work {
    size_t                 n;
    char                 **records;      /* clear; sealed in place before sending */
    struct publish_entry  *next;         /* becomes p->last on success; ids owned */
    uint64_t               pool_digest;
    size_t                *op_new;       /* ops: index into the new pool, or ... */
    const char           **op_del;       /* ... the id removed (borrowed from p->last) */
    size_t                 nset;         /* ops [0, nset) are sets, the rest removals */
    size_t                 nops;
};

static void publish_work_deinit(struct publish_work *w)
{
    if (w->records != NULL)
        for (size_t i = 0; i < w->n; i++)
            snapshot_record_free(w->records[i]);
    if (w->next != NULL)
        for (size_t i = 0; i < w->n; i++)
            free(w->next[i].id);
    free(w->records);
    free(w->next);
    free(w->op_new);
    free(w->op_del);
    memset(w, 0, sizeof(*w));
}

/* The digest of entry <e> as a node will compute it: from the record it
 * decodes (so any normalisation the codec does is in it). */
static uint64_t publish_entry_digest(struct publish *p, const struct provider_entry *e,
                                     const char *record)
{
    struct upstream u;
    struct pf_err err;
    pf_err_clear(&err);
    uint64_t d = snapshot_record_decode(record, strlen(record), NULL, &u, &err) == PF_OK
                 ? pool_digest_entry(&u, p->cred_key) : pool_digest_entry(&e->u, p->cred_key);
    OPENSSL_cleanse(u.pass, sizeof(u.pass));
    return d;
}

/* Encodes <es>[0..<n>) in clear, and diffs them against p->last (both
 * sorted by id): an entry whose record hash is unchanged keeps its digest.
 * Returns PF_OK or PF_ENOMEM. */
static int publish_work_build(struct publish *p, struct publish_work *w,
                              const struct provider_entry *const *es, size_t n)
{
    w->n = n;
    w->records = calloc(n + 1, sizeof(*w->records));
    w->next = calloc(n + 1, sizeof(*w->next));
    w->op_new = calloc(n + 1, sizeof(*w->op_new));
    w->op_del = calloc(p->nlast + 1, sizeof(*w->op_del));
    if (w->records == NULL || w->next == NULL || w->op_new == NULL || w->op_del == NULL)
        return PF_ENOMEM;
    size_t j = 0, ndel = 0;
    for (size_t i = 0; i < n; i++) {
        /* The hash is over the clear record: a sealed one differs at every
         * encode (random nonce), which would republish an unchanged pool. */
        w->records[i] = snapshot_record_encode(&es[i]->u, NULL);
        w->next[i].id = strdup(es[i]->id);
        if (w->records[i] == NULL || w->next[i].id == NULL)
            return PF_ENOMEM;
        uint64_t h = publish_fnv(14695981039346656037ULL, w->records[i], strlen(w->records[i]));
        w->next[i].rec_hash = h;
        while (j < p->nlast && strcmp(p->last[j].id, es[i]->id) < 0)
            w->op_del[ndel++] = p->last[j++].id;
        if (j < p->nlast && strcmp(p->last[j].id, es[i]->id) == 0 && p->last[j].rec_hash == h) {
            w->next[i].digest = p->last[j++].digest;
        } else {
            if (j < p->nlast && strcmp(p->last[j].id, es[i]->id) == 0)
                j++;
            w->next[i].digest = publish_entry_digest(p, es[i], w->records[i]);
            w->op_new[w->nops++] = i;
        }
        w->pool_digest += w->next[i].digest;
    }
    while (j < p->nlast)
        w->op_del[ndel++] = p->last[j++].id;
    w->nset = w->nops;
    w->nops += ndel;
    return PF_OK;
}

/* The arguments both pool scripts start with: numkeys, the 6 KEYS, then
 * token, epoch, now, controller id, count and digest (formatted into the
 * caller's <now>, <count> (24 bytes each) and <digest>). Returns how many. */
static size_t publish_fixed_args(const struct publish *p, const struct publish_work *w,
                                 int64_t now_wall_ms, const char **argv, char *now, char *count,
                                 char *digest)
{
    snprintf(now, 24, "%" PRId64, now_wall_ms);
    snprintf(count, 24, "%zu", w->n);
    (void)!pool_digest_format(w->pool_digest, digest, POOL_DIGEST_HEX_LEN + 1);
    size_t a = 0;
    argv[a++] = "6";
    argv[a++] = p->keys->pool_upstreams;
    argv[a++] = p->keys->pool_expiry;
    argv[a++] = p->keys->pool_meta;
    argv[a++] = p->keys->pool_channel;
    argv[a++] = p->keys->controller_lease;
    argv[a++] = p->keys->pool_log;
    argv[a++] = p->token;
    argv[a++] = p->epoch;
    argv[a++] = now;
    argv[a++] = p->controller_id;
    argv[a++] = count;
    argv[a++] = digest;
    return a;
}

/* Sends the whole pool: numkeys, 6 KEYS, 6 ARGV, n triples. */
static int publish_send_full(struct publish *p, struct publish_work *w,
                             const struct provider_entry *const *es, int64_t now_wall_ms)
{
    enum { NFIXED = 1 + 6 + 6 };
    size_t n = w->n;
    char (*expires)[24] = calloc(n + 1, sizeof(*expires));
    const char **argv = calloc(NFIXED + 3 * n, sizeof(*argv));
    size_t *argvlen = calloc(NFIXED + 3 * n, sizeof(*argvlen));
    char now[24], count[24], digest[POOL_DIGEST_HEX_LEN + 1];
    int rc = PF_ENOMEM;

    if (expires == NULL || argv == NULL || argvlen == NULL)
        goto out;
    size_t a = publish_fixed_args(p, w, now_wall_ms, argv, now, count, digest);
    for (size_t i = 0; i < n; i++) {
        snprintf(expires[i], sizeof(expires[i]), "%" PRId64, es[i]->u.expires_at_ms);
        argv[a++] = es[i]->id;
        argv[a++] = w->records[i];
        argv[a++] = expires[i];
    }
    for (size_t i = 0; i < a; i++)
        argvlen[i] = strlen(argv[i]);
    rc = publish_run_script(p, &p->pool_script, (int)a, argv, argvlen);
out:
    free(expires);
    free(argv);
    free(argvlen);
    return rc;
}

/* Sends the ops of <w> as one pool log entry: numkeys, 6 KEYS, 9 ARGV, ops
 * quads. */
static int publish_send_delta(struct publish *p, struct publish_work *w,
                              const struct provider_entry *const *es, int64_t now_wall_ms)
{
    enum { NFIXED = 1 + 6 + 9, FIELD_MAX = UPSTREAM_ID_MAX + 2 };
    size_t nops = w->nops;
    char (*expires)[24] = calloc(nops + 1, sizeof(*expires));
    char (*fields)[FIELD_MAX] = calloc(nops + 1, sizeof(*fields));
    const char **argv = calloc(NFIXED + 4 * nops, sizeof(*argv));
    size_t *argvlen = calloc(NFIXED + 4 * nops, sizeof(*argvlen));
    char now[24], count[24], base[24], nops_s[24], digest[POOL_DIGEST_HEX_LEN + 1];
    int rc = PF_ENOMEM;

    if (expires == NULL || fields == NULL || argv == NULL || argvlen == NULL)
        goto out;
    snprintf(base, sizeof(base), "%" PRId64, p->version);
    snprintf(nops_s, sizeof(nops_s), "%zu", nops);
    size_t a = publish_fixed_args(p, w, now_wall_ms, argv, now, count, digest);
    argv[a++] = base;
    argv[a++] = PUBLISH_LOG_MAXLEN;
    argv[a++] = nops_s;
    for (size_t k = 0; k < nops; k++) {
        /* the sets first (op_new), then the removals (op_del) */
        int is_set = k < w->nset;
        const char *id;
        if (is_set) {
            size_t i = w->op_new[k];
            id = es[i]->id;
            snprintf(expires[k], sizeof(expires[k]), "%" PRId64, es[i]->u.expires_at_ms);
            argv[a + 2] = w->records[i];
        } else {
            id = w->op_del[k - w->nset];
            argv[a + 2] = "";
        }
        if (pool_delta_op_field(fields[k], sizeof(fields[k]), is_set, id) != PF_OK) {
            rc = PF_ERANGE;
            goto out;
        }
        argv[a] = fields[k];
        argv[a + 1] = id;
        argv[a + 3] = expires[k];
        a += 4;
    }
    for (size_t i = 0; i < a; i++)
        argvlen[i] = strlen(argv[i]);
    rc = publish_run_script(p, &p->delta_script, (int)a, argv, argvlen);
out:
    free(expires);
    free(fields);
    free(argv);
    free(argvlen);
    return rc;
}
int publish_pool(struct publish *p, const struct provider_entry *const *es, size_t n,
                 int64_t now_wall_ms, int *is_published)
{
    struct publish_work w;
    int meta = 0;
    int rc;

    memset(&w, 0, sizeof(w));
    *is_published = 0;
    if (!redis_is_connected(p->redis))
        return PF_EIO;
    rc = publish_work_build(p, &w, es, n);
    if (rc != PF_OK)
        goto out;
    rc = publish_read_meta(p, &meta);
    if (rc != PF_OK)
        goto out;
    if (meta == 1 && p->has_published) {
        publish_new_epoch(p);
        log_info("redis: pool snapshot missing (Redis restarted empty?), new epoch %s", p->epoch);
    } else if (meta == 2) {
        log_info("redis: pool:meta carries another epoch, republishing under %s", p->epoch);
    }
    if (meta == 0 && p->has_published && w.nops == 0) {
        rc = PF_OK;
        goto out;
    }
    for (size_t i = 0; i < n && p->cred_key != NULL; i++) {
        snapshot_record_free(w.records[i]);
        w.records[i] = snapshot_record_encode(&es[i]->u, p->cred_key);
        if (w.records[i] == NULL) {
            log_error("redis: sealing upstream records failed; pool not published");
            rc = PF_ENOMEM;
            goto out;
        }
    }
    /* A change from the pool we wrote under this epoch goes as a log entry;
     * a new epoch, a first publish or a change of much of the pool goes
     * whole (and empties the log). */
    int is_delta = meta == 0 && p->has_published && w.nops <= PUBLISH_DELTA_MAX_OPS &&
                   w.nops <= PF_MAX_OF(n, p->nlast) / 2;
    rc = is_delta ? publish_send_delta(p, &w, es, now_wall_ms) : PF_EAGAIN;
    int is_sent_delta = rc == PF_OK;
    if (rc == PF_EAGAIN)
        rc = publish_send_full(p, &w, es, now_wall_ms);
    if (rc == PF_OK) {
        if (is_sent_delta)
            p->ndeltas++;
        publish_forget(p);
        p->last = w.next;
        p->nlast = n;
        p->pool_digest = w.pool_digest;
        w.next = NULL;
        p->has_published = 1;
        p->npublishes++;
        *is_published = 1;
        log_info("pool published: version %" PRId64 " epoch %s, %zu upstreams (%s, %zu changed)",
                 p->version, p->epoch, n, is_sent_delta ? "log entry" : "whole", w.nops);
    }
out:
    publish_work_deinit(&w);
    return rc;
}

/* The outcome of a fenced write's reply <r>: PF_OK, PF_EDENIED (FENCED:
 * another controller holds the lease) or PF_EIO (any other error). */
static int publish_reply_status(struct publish *p, const char *what, const struct redis_reply *r)
{
    if (redis_reply_is_error(r, "FENCED")) {
        log_warn("redis: %s fenced: lease token no longer ours", what);
        p->nfenced++;
        return PF_EDENIED;
    }
    if (redis_reply_type(r) == REDIS_TYPE_ERROR) {
        log_warn("redis: %s: %s", what, redis_reply_str(r, NULL));
        p->nerrors++;
        return PF_EIO;
    }
    return PF_OK;
}

/* Fenced HSET of <nfv> field/value strings into <key> (+ SADD <member> to
 * the providers set, + PEXPIRE <pexpire>). PF_OK, PF_EIO or PF_EDENIED. */
static int publish_hash(struct publish *p, const char *what, const char *key, const char *member,
                        const char *pexpire, int nfv, const char *const *fv)
{
    const char *argv[64];
    int a = 0;

    if (!redis_is_connected(p->redis))
        return PF_EIO;
    if (nfv + 9 > (int)PF_ARRAY_LEN(argv))
        return PF_ERANGE;
    argv[a++] = "EVAL";
    argv[a++] = publish_hash_script;
    argv[a++] = "3";
    argv[a++] = p->keys->controller_lease;
    argv[a++] = key;
    argv[a++] = p->keys->providers;
    argv[a++] = p->token;
    argv[a++] = member;
    argv[a++] = pexpire;
    for (int i = 0; i < nfv; i++)
        argv[a++] = fv[i];
    struct redis_reply *r = redis_command(p->redis, what, a, argv, NULL);
    if (r == NULL)
        return PF_EIO;
    int rc = publish_reply_status(p, what, r);
    redis_reply_free(r);
    return rc;
}

/* Wall clock of monotonic <at_mono_ms>, 0 when 0; <now_mono_ms> is the
 * monotonic time of <now_wall_ms> (one read for every field of a record, so
 * equal deadlines publish as equal). */
static int64_t publish_wall_of(int64_t at_mono_ms, int64_t now_wall_ms, int64_t now_mono_ms)
{
    if (at_mono_ms <= 0)
        return 0;
    return now_wall_ms + (at_mono_ms - now_mono_ms);
}

int publish_provider(struct publish *p, const struct provider *pr, int64_t now_wall_ms)
{
    char key[KEYS_NAME_MAX + UPSTREAM_NAME_MAX];
    char ups[24], polls[24], failures[24], err_at[24], ok_at[24], opens[24], until[24];
    char consec[24], next[24], retries[24];
    int64_t now_mono_ms = clock_mono_ms();

    if (keys_provider(p->keys, pr->conf->name, key, sizeof(key)) != PF_OK)
        return PF_EINVAL;
    snprintf(ups, sizeof(ups), "%zu", provider_live_count(pr, now_wall_ms));
    snprintf(polls, sizeof(polls), "%" PRIu64, pr->polls);
    snprintf(failures, sizeof(failures), "%" PRIu64, pr->failures);
    snprintf(err_at, sizeof(err_at), "%" PRId64, pr->last_error_at_ms);
    snprintf(ok_at, sizeof(ok_at), "%" PRId64, pr->last_success_at_ms);
    snprintf(opens, sizeof(opens), "%" PRIu64, pr->breaker.opens);
    snprintf(until, sizeof(until), "%" PRId64,
             pr->breaker.state == BREAKER_OPEN
             ? publish_wall_of(pr->breaker.open_until_ms, now_wall_ms, now_mono_ms) : 0);
    snprintf(consec, sizeof(consec), "%u", pr->breaker.consecutive_failures);
    snprintf(next, sizeof(next), "%" PRId64,
             publish_wall_of(pr->next_poll_at_ms, now_wall_ms, now_mono_ms));
    snprintf(retries, sizeof(retries), "%" PRIu64, pr->retries);
    const char *fv[] = {
        "state", provider_state_name(pr->state),
        "breaker", breaker_state_name(pr->breaker.state),
        "breaker_opens", opens,
        "breaker_until_ms", until,
        "consecutive_failures", consec,
        "next_poll_at_ms", next,
        "upstreams", ups,
        "polls", polls,
        "failures", failures,
        "retries", retries,
        "last_error", pr->last_error,
        "last_error_class", pr->last_error[0] ? provider_err_class_name(pr->last_error_class) : "",
        "last_error_at_ms", err_at,
        "last_success_at_ms", ok_at,
    };
    return publish_hash(p, "provider hash", key, pr->conf->name, "0",
                        (int)PF_ARRAY_LEN(fv), fv);
}

int publish_heartbeat(struct publish *p, int64_t now_wall_ms, int interval_ms,
                      const char *const *fields, int nfields)
{
    enum { IDENT = 2 * 6 };
    char at[24], ttl[24];

    snprintf(at, sizeof(at), "%" PRId64, now_wall_ms);
    snprintf(ttl, sizeof(ttl), "%" PRId64, (int64_t)interval_ms * 3);
    const char **fv = calloc((size_t)IDENT + (size_t)(nfields > 0 ? 2 * nfields : 0), sizeof(*fv));
    if (fv == NULL)
        return PF_ENOMEM;
    const char *ident[IDENT] = {
        "id", p->controller_id,
        "epoch", p->epoch,
        "heartbeat_at_ms", at,
        "leader", p->controller_id,
        "version", version_string(),
        "commit", version_commit(),
    };
    memcpy(fv, ident, sizeof(ident));
    for (int i = 0; i < 2 * nfields; i++)
        fv[IDENT + i] = fields[i];
    int rc = publish_hash(p, "heartbeat", p->keys->controller, "", ttl,
                          IDENT + 2 * PF_MAX_OF(nfields, 0), fv);
    free(fv);
    return rc;
}

/* 1 when <name> of <len> bytes is one of <names>[0..<n>). */
static int publish_is_listed(const char *name, size_t len, const char *const *names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strlen(names[i]) == len && memcmp(names[i], name, len) == 0)
            return 1;
    return 0;
}

/* Writes the hash key of provider <name> (<len> bytes, untrusted: read
 * from the set) into <buf>; returns 1, or 0 when the name makes no key. */
static int publish_provider_key(const struct publish *p, const char *name, size_t len,
                                char *buf, size_t buf_len)
{
    return strlen(name) == len && keys_provider(p->keys, name, buf, buf_len) == PF_OK;
}

int publish_prune_providers(struct publish *p, const char *const *names, size_t n,
                            size_t *nremoved)
{
    enum { KEY_MAX = KEYS_NAME_MAX + UPSTREAM_NAME_MAX };
    const char **args = NULL;
    size_t *argslen = NULL;
    char (*hkeys)[KEY_MAX] = NULL;
    char scratch[KEY_MAX];
    int rc = PF_ENOMEM;

    *nremoved = 0;
    if (!redis_is_connected(p->redis))
        return PF_EIO;
    const char *argv[] = { "SMEMBERS", p->keys->providers };
    struct redis_reply *r = redis_command(p->redis, "SMEMBERS providers", 2, argv, NULL);
    if (r == NULL)
        return PF_EIO;
    if (redis_reply_type(r) != REDIS_TYPE_ARRAY) {
        redis_reply_free(r);
        return redis_fail(p->redis, "SMEMBERS providers");
    }
    size_t nm = redis_reply_count(r);
    /* numkeys, lease, set, one hash key per member, token, nkeyed, one name per member */
    args = calloc(2 * nm + 5, sizeof(*args));
    argslen = calloc(2 * nm + 5, sizeof(*argslen));
    hkeys = calloc(nm + 1, sizeof(*hkeys));
    const char **stale = calloc(nm + 1, sizeof(*stale));
    size_t *stale_len = calloc(nm + 1, sizeof(*stale_len));
    if (args == NULL || argslen == NULL || hkeys == NULL || stale == NULL || stale_len == NULL)
        goto out;
    /* The members no longer configured: those naming a hash first (their
     * hash goes too), then any other (only SREM'd: not ours to name). */
    size_t nstale = 0, nkeyed = 0;
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < nm; i++) {
            size_t len = 0;
            const char *m = redis_reply_str(redis_reply_element(r, i), &len);
            if (m == NULL || publish_is_listed(m, len, names, n))
                continue;
            int has_key = publish_provider_key(p, m, len, pass == 0 ? hkeys[nkeyed] : scratch,
                                               KEY_MAX);
            if (has_key != (pass == 0))
                continue;
            stale[nstale] = m;
            stale_len[nstale++] = len;
            nkeyed += has_key;
        }
    }
    if (nstale == 0) {
        rc = PF_OK;
        goto out;
    }
    char numkeys[24], nk[24];
    snprintf(numkeys, sizeof(numkeys), "%zu", 2 + nkeyed);
    snprintf(nk, sizeof(nk), "%zu", nkeyed);
    size_t a = 0;
    args[a++] = numkeys;
    args[a++] = p->keys->controller_lease;
    args[a++] = p->keys->providers;
    for (size_t i = 0; i < nkeyed; i++)
        args[a++] = hkeys[i];
    args[a++] = p->token;
    args[a++] = nk;
    for (size_t i = 0; i < a; i++)
        argslen[i] = strlen(args[i]);
    for (size_t i = 0; i < nstale; i++) {
        args[a] = stale[i];
        argslen[a++] = stale_len[i];
    }
    struct redis_reply *x = redis_eval(p->redis, &p->prune_script, "provider prune", (int)a,
                                       args, argslen);
    if (x == NULL) {
        rc = PF_EIO;
        goto out;
    }
    rc = publish_reply_status(p, "provider prune", x);
    if (rc == PF_OK && redis_reply_type(x) != REDIS_TYPE_INTEGER) {
        log_warn("redis: provider prune: unexpected reply");
        p->nerrors++;
        rc = PF_EIO;
    }
    redis_reply_free(x);
    if (rc != PF_OK)
        goto out;
    *nremoved = nstale;
    for (size_t i = 0; i < nkeyed; i++)
        log_info("redis: provider %s removed from %s with its hash: no longer configured",
                 stale[i], p->keys->providers);
    if (nstale > nkeyed)
        log_info("redis: %zu members that name no provider removed from %s", nstale - nkeyed,
                 p->keys->providers);

out:
    free(args);
    free(argslen);
    free(hkeys);
    free(stale);
    free(stale_len);
    redis_reply_free(r);
    return rc;
}
