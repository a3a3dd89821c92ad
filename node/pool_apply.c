/* A Redis snapshot applied across loop turns; see pool_apply.h. */
#include "pool_apply.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "snapshot.h"

struct pool_apply *pool_apply_create(redisReply *ups, int64_t version, const char *epoch,
                                     const struct seal_key *key)
{
    struct pool_apply *a = calloc(1, sizeof(*a));
    if (a == NULL)
        return NULL;
    a->build = pool_build_create(ups->elements / 2, version, epoch);
    if (a->build == NULL) {
        free(a);
        return NULL;
    }
    /* freeReplyObject() frees an array's elements through these two fields:
     * emptied, hiredis frees only the shell and the job owns the records. */
    a->key = key;
    a->el = ups->element;
    a->nel = ups->elements;
    ups->element = NULL;
    ups->elements = 0;
    return a;
}

void pool_apply_destroy(struct pool_apply *a)
{
    if (a == NULL)
        return;
    for (size_t i = a->next; i < a->nel; i++)
        freeReplyObject(a->el[i]);
    free(a->el);
    pool_build_destroy(a->build);
    free(a);
}

static int pool_apply_is_str(const redisReply *r)
{
    return r != NULL && r->type == REDIS_REPLY_STRING && r->str != NULL;
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

static void pool_apply_bad(struct pool_apply *a, const redisReply *f, const char *why)
{
    if (a->nbad++ > 0)
        return;
    char id[72] = "";
    if (pool_apply_is_str(f))
        pool_apply_sanitize(id, sizeof(id), f->str, f->len);
    snprintf(a->first_bad, sizeof(a->first_bad), "%s: %s", id[0] != '\0' ? id : "entry", why);
}

/* Decodes the record pair at a->next into the build, then frees it.
 * Returns PF_OK or PF_ENOMEM. A bad record is skipped and counted. */
static int pool_apply_decode_one(struct pool_apply *a)
{
    redisReply *f = a->el[a->next], *v = a->el[a->next + 1];
    int rc = PF_OK;
    if (!pool_apply_is_str(f) || !pool_apply_is_str(v)) {
        pool_apply_bad(a, f, "not a string pair");
    } else {
        struct pf_err err;
        pf_err_clear(&err);
        struct upstream *slot = pool_build_slot(a->build);
        if (slot != NULL && snapshot_record_decode(v->str, v->len, a->key, slot, &err) != PF_OK)
            pool_apply_bad(a, f, err.msg);
        else if (slot != NULL)
            rc = pool_build_push(a->build);
    }
    freeReplyObject(f);
    freeReplyObject(v);
    a->next += 2;
    return rc == PF_ENOMEM ? PF_ENOMEM : PF_OK;
}

/* All records decoded: the element array goes, an odd last one with it. */
static void pool_apply_release_records(struct pool_apply *a)
{
    if (a->next < a->nel)
        freeReplyObject(a->el[a->next]);
    free(a->el);
    a->el = NULL;
    a->next = a->nel = 0;
}

int pool_apply_slice(struct pool_apply *a, struct pool_cache *pc, size_t nrecords, size_t units,
                     int64_t now_mono_ms)
{
    if (a->el != NULL) {
        for (size_t i = 0; i < nrecords && a->next + 1 < a->nel; i++)
            if (pool_apply_decode_one(a) != PF_OK)
                return PF_ENOMEM;
        if (a->next + 1 < a->nel)
            return PF_EAGAIN;
        pool_apply_release_records(a);
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
