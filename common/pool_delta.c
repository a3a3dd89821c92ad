/* The pool log's wire format; see pool_delta.h. */
#include "pool_delta.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pool_digest.h"
#include "upstream-t.h"

static int field_is(const struct snapshot_pair *p, const char *name)
{
    return p->field != NULL && p->field_len == strlen(name) &&
           memcmp(p->field, name, p->field_len) == 0;
}

/* A non-negative decimal without sign or leading zero ("0" itself is fine). */
static int parse_count(const char *s, size_t len, int64_t *out)
{
    if (len == 1 && s[0] == '0') {
        *out = 0;
        return PF_OK;
    }
    return snapshot_version_parse(s, len, out);
}

/* An upstream id: 1..UPSTREAM_ID_MAX-1 printable ASCII bytes, no space. */
static int id_valid(const char *s, size_t len)
{
    if (len == 0 || len >= UPSTREAM_ID_MAX)
        return 0;
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f)
            return 0;
    return 1;
}

int pool_delta_parse(const char *sid, size_t sid_len, const struct snapshot_pair *pairs,
                     size_t npairs, struct pool_delta_head *h, struct pf_err *err)
{
    memset(h, 0, sizeof(*h));
    if (sid == NULL || sid_len < 3 || sid[sid_len - 2] != '-' || sid[sid_len - 1] != '0' ||
        snapshot_version_parse(sid, sid_len - 2, &h->version) != PF_OK)
        return pf_err_set(err, PF_EINVAL, "entry id is not <version>-0");
    if (npairs < POOL_DELTA_HEAD_FIELDS)
        return pf_err_set(err, PF_EINVAL, "entry %lld: %zu fields, head needs %d",
                          (long long)h->version, npairs, POOL_DELTA_HEAD_FIELDS);
    const struct snapshot_pair *e = &pairs[0], *d = &pairs[1], *c = &pairs[2];
    if (!field_is(e, POOL_DELTA_EPOCH) || e->value == NULL ||
        !snapshot_epoch_valid(e->value, e->value_len))
        return pf_err_set(err, PF_EINVAL, "entry %lld: bad epoch", (long long)h->version);
    memcpy(h->epoch, e->value, e->value_len);
    h->epoch[e->value_len] = '\0';
    if (!field_is(d, POOL_DELTA_DIGEST) || d->value == NULL ||
        pool_digest_parse(d->value, d->value_len, &h->digest) != PF_OK)
        return pf_err_set(err, PF_EINVAL, "entry %lld: bad digest", (long long)h->version);
    if (!field_is(c, POOL_DELTA_COUNT) || c->value == NULL ||
        parse_count(c->value, c->value_len, &h->count) != PF_OK)
        return pf_err_set(err, PF_EINVAL, "entry %lld: bad count", (long long)h->version);
    for (size_t i = POOL_DELTA_HEAD_FIELDS; i < npairs; i++) {
        const struct snapshot_pair *p = &pairs[i];
        size_t k = i - POOL_DELTA_HEAD_FIELDS;
        if (p->field == NULL || p->value == NULL || p->field_len < 2 ||
            (p->field[0] != POOL_DELTA_SET && p->field[0] != POOL_DELTA_DEL) ||
            !id_valid(p->field + 1, p->field_len - 1))
            return pf_err_set(err, PF_EINVAL, "entry %lld: op %zu: bad field",
                              (long long)h->version, k);
        if (p->field[0] == POOL_DELTA_DEL && p->value_len != 0)
            return pf_err_set(err, PF_EINVAL, "entry %lld: op %zu: removal with a value",
                              (long long)h->version, k);
        if (p->field[0] == POOL_DELTA_SET &&
            (p->value_len == 0 || p->value_len > POOL_DELTA_RECORD_MAX))
            return pf_err_set(err, PF_EINVAL, "entry %lld: op %zu: record of %zu bytes",
                              (long long)h->version, k, p->value_len);
    }
    h->nops = npairs - POOL_DELTA_HEAD_FIELDS;
    return PF_OK;
}

void pool_delta_op_at(const struct snapshot_pair *pairs, size_t i, struct pool_delta_op *op)
{
    const struct snapshot_pair *p = &pairs[POOL_DELTA_HEAD_FIELDS + i];
    op->is_set = p->field[0] == POOL_DELTA_SET;
    op->id = p->field + 1;
    op->id_len = p->field_len - 1;
    op->record = op->is_set ? p->value : NULL;
    op->record_len = op->is_set ? p->value_len : 0;
}

int pool_delta_op_field(char *buf, size_t len, int is_set, const char *id)
{
    int n = snprintf(buf, len, "%c%s", is_set ? POOL_DELTA_SET : POOL_DELTA_DEL, id);
    return n < 0 || (size_t)n >= len ? PF_ERANGE : PF_OK;
}

int pool_delta_entry_id(char *buf, size_t len, int64_t version)
{
    if (version < 1)
        return PF_EINVAL;
    int n = snprintf(buf, len, "%lld-0", (long long)version);
    return n < 0 || (size_t)n >= len ? PF_ERANGE : PF_OK;
}

static int change_cmp(const void *a, const void *b)
{
    const struct pool_delta_change *x = a, *y = b;
    size_t n = x->id_len < y->id_len ? x->id_len : y->id_len;
    int c = memcmp(x->id, y->id, n);
    if (c != 0)
        return c;
    if (x->id_len != y->id_len)
        return x->id_len < y->id_len ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

size_t pool_delta_collapse(struct pool_delta_change *ch, size_t n,
                           void (*drop)(void *data, void *arg), void *arg)
{
    size_t kept = 0;
    if (n > 1)
        qsort(ch, n, sizeof(*ch), change_cmp);
    for (size_t i = 0; i < n; i++) {
        int is_superseded = i + 1 < n && ch[i + 1].id_len == ch[i].id_len &&
                            memcmp(ch[i + 1].id, ch[i].id, ch[i].id_len) == 0;
        if (is_superseded) {
            if (drop != NULL)
                drop(ch[i].data, arg);
            continue;
        }
        ch[kept++] = ch[i];
    }
    return kept;
}
