/* A Redis snapshot applied across loop turns; see pool_apply.h. */
#include "pool_apply.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pool_digest.h"
#include "snapshot.h"

struct pool_apply *pool_apply_create(const struct snapshot_pair *pairs, size_t npairs,
                                     int64_t version, const char *epoch,
                                     const struct seal_key *key)
{
    struct pool_apply *a = calloc(1, sizeof(*a));
    if (a == NULL)
        return NULL;
    a->build = pool_build_create(npairs, version, epoch);
    if (a->build == NULL) {
        free(a);
        return NULL;
    }
    a->key = key;
    a->pairs = npairs > 0 ? pairs : NULL;
    a->npairs = npairs;
    return a;
}

struct pool_apply *pool_apply_create_patch(const struct pool_cache *pc,
                                           struct pool_patch_op *ops, size_t nops,
                                           int64_t version, const char *epoch, int has_want,
                                           uint64_t want_digest, int64_t want_count)
{
    struct pool_apply *a = calloc(1, sizeof(*a));
    if (a == NULL) {
        free(ops);
        return NULL;
    }
    a->ops = ops;
    a->nops = nops;
    a->build = pool_build_create(pc->count + nops, version, epoch);
    if (a->build == NULL) {
        pool_apply_destroy(a);
        return NULL;
    }
    a->base_gen = pc->generation;
    a->is_feeding = 1;
    a->has_want = has_want;
    a->want_digest = want_digest;
    a->want_count = want_count;
    return a;
}

void pool_apply_destroy(struct pool_apply *a)
{
    if (a == NULL)
        return;
    pool_build_destroy(a->build);
    free(a->ops);
    free(a);
}

size_t pool_apply_consumed(const struct pool_apply *a)
{
    return a->next;
}

/* Copies at most 64 bytes of untrusted <s> for a log line. */
static void pool_apply_sanitize(char *buf, size_t len, const char *s, size_t slen)
{
    size_t n = 0;
    for (size_t i = 0; i < slen && n + 1 < len && n < 64; i++) {
        unsigned char ch = (unsigned char)s[i];
        buf[n++] = (ch >= 0x20 && ch < 0x7f) ? (char)ch : '?';
    }
    buf[n] = '\0';
}

static void pool_apply_bad(struct pool_apply *a, const struct snapshot_pair *p, const char *why)
{
    if (a->nbad++ > 0)
        return;
    char id[72] = "";
    if (p->field != NULL)
        pool_apply_sanitize(id, sizeof(id), p->field, p->field_len);
    snprintf(a->first_bad, sizeof(a->first_bad), "%s: %s", id[0] != '\0' ? id : "entry", why);
}

/* Decodes the pair at a->next into the build. Returns PF_OK or PF_ENOMEM.
 * A bad record is skipped and counted. */
static int pool_apply_decode_one(struct pool_apply *a)
{
    const struct snapshot_pair *p = &a->pairs[a->next++];
    int rc = PF_OK;
    if (p->field == NULL || p->value == NULL) {
        pool_apply_bad(a, p, "not a string pair");
    } else {
        struct pf_err err;
        pf_err_clear(&err);
        struct upstream *slot = pool_build_slot(a->build);
        if (slot != NULL &&
            snapshot_record_decode(p->value, p->value_len, a->key, slot, &err) != PF_OK)
            pool_apply_bad(a, p, err.msg);
        else if (slot != NULL) {
            slot->digest = pool_digest_entry(slot, a->key);
            a->digest += slot->digest;
            rc = pool_build_push(a->build);
        }
    }
    return rc == PF_ENOMEM ? PF_ENOMEM : PF_OK;
}

/* Pushes <u> into the build, its digest into the sum. */
static int pool_apply_push(struct pool_apply *a, const struct upstream *u)
{
    struct upstream *slot = pool_build_slot(a->build);
    if (slot == NULL)
        return PF_ERANGE;
    *slot = *u;
    a->digest += u->digest;
    return pool_build_push(a->build);
}

/* Merges up to <n> upstreams of the served pool <pc> and the ops (both
 * sorted by id) into the build. Returns PF_EAGAIN while more remain, PF_OK
 * when done, PF_ENOMEM, PF_EPROTO (the served pool changed meanwhile). */
static int pool_apply_merge(struct pool_apply *a, const struct pool_cache *pc, size_t n)
{
    if (pc->generation != a->base_gen)
        return PF_EPROTO;
    for (size_t k = 0; k < n; k++) {
        int has_pc = a->pc_next < pc->count, has_op = a->op_next < a->nops;
        if (!has_pc && !has_op)
            break;
        int cmp = !has_op ? -1 : !has_pc ? 1 : strcmp(pc->ids[a->pc_next], a->ops[a->op_next].id);
        int rc = PF_OK;
        if (cmp < 0) {
            rc = pool_apply_push(a, &pc->items[a->pc_next++]);
        } else {
            const struct pool_patch_op *op = &a->ops[a->op_next++];
            if (cmp == 0)
                a->pc_next++;   /* replaced or removed */
            if (!op->is_del)
                rc = pool_apply_push(a, &op->u);
        }
        if (rc != PF_OK)
            return rc == PF_ENOMEM ? PF_ENOMEM : PF_EPROTO;
    }
    if (a->pc_next < pc->count || a->op_next < a->nops)
        return PF_EAGAIN;
    a->is_feeding = 0;
    if (a->has_want && (a->digest != a->want_digest ||
                        (a->want_count >= 0 && (int64_t)a->build->count != a->want_count)))
        return PF_EPROTO;
    return PF_OK;
}

int pool_apply_slice(struct pool_apply *a, struct pool_cache *pc, size_t nrecords, size_t units,
                     int64_t now_mono_ms)
{
    if (a->is_feeding) {
        int rc = pool_apply_merge(a, pc, 8 * nrecords);
        return rc == PF_OK ? PF_EAGAIN : rc;
    }
    if (a->pairs != NULL) {
        for (size_t i = 0; i < nrecords && a->next < a->npairs; i++)
            if (pool_apply_decode_one(a) != PF_OK)
                return PF_ENOMEM;
        if (a->next >= a->npairs)
            a->pairs = NULL;   /* all decoded: the owner may release them */
        return PF_EAGAIN;
    }
    if (a->build->phase == POOL_BUILD_COMMITTED)
        return PF_OK;
    if (a->build->phase != POOL_BUILD_READY) {
        int rc = pool_build_step(a->build, pc, units);
        return rc == PF_OK ? PF_EAGAIN : rc;   /* the swap gets a turn of its own */
    }
    return pool_build_commit(a->build, pc, now_mono_ms);
}

int pool_apply_is_done(const struct pool_apply *a)
{
    return a->build->phase == POOL_BUILD_COMMITTED;
}

size_t pool_apply_count(const struct pool_apply *a)
{
    return a->build->count;
}

int pool_apply_is_wanted(const struct pool_cache *pc, const struct pool_apply *a,
                         int64_t version, const char *epoch)
{
    if (!pool_cache_is_stale(pc, version, epoch))
        return 0;
    if (a == NULL || pool_apply_is_done(a))
        return 1;
    if (epoch == NULL)
        epoch = "";
    return strcmp(a->build->epoch, epoch) != 0 || version > a->build->version;
}
