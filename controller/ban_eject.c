/* Ejection of upstreams banned on many domains; see ban_eject.h. */
#include "ban_eject.h"

#include <stdlib.h>
#include <string.h>

/* By sid, then domain, then the latest expiry first. */
static int cmp_ban(const void *a, const void *b)
{
    const struct ban_eject_ban *x = a, *y = b;
    int c = strcmp(x->sid, y->sid);
    if (c == 0)
        c = strcmp(x->domain, y->domain);
    if (c == 0)
        c = (x->expires_at_ms < y->expires_at_ms) - (x->expires_at_ms > y->expires_at_ms);
    return c;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

size_t ban_eject_compute(struct ban_eject_ban *bans, size_t n, int max_domains, int64_t now_ms,
                         struct ban_eject *out)
{
    size_t nout = 0, live = 0;
    if (max_domains < 0 || n == 0)
        return 0;
    for (size_t i = 0; i < n; i++)           /* drop the expired ones */
        if (bans[i].expires_at_ms > now_ms)
            bans[live++] = bans[i];
    qsort(bans, live, sizeof(*bans), cmp_ban);
    /* the latest expiry of each (sid, domain), gathered per sid in
     * <exp>: reuses nothing of <bans> (one scratch array of int64) */
    int64_t *exp = malloc(sizeof(*exp) * (live > 0 ? live : 1));
    if (exp == NULL)
        return 0;
    for (size_t i = 0; i < live;) {
        size_t j = i, k = 0;
        while (j < live && strcmp(bans[j].sid, bans[i].sid) == 0) {
            if (j == i || strcmp(bans[j].domain, bans[j - 1].domain) != 0)
                exp[k++] = bans[j].expires_at_ms;   /* the first of a domain: its latest */
            j++;
        }
        if (k > (size_t)max_domains) {
            qsort(exp, k, sizeof(*exp), cmp_i64);
            struct ban_eject *e = &out[nout++];
            memcpy(e->sid, bans[i].sid, sizeof(e->sid));
            e->ndomains = (int)k;
            /* once the k - max_domains earliest expire, max_domains are left */
            e->until_ms = exp[k - (size_t)max_domains - 1];
        }
        i = j;
    }
    free(exp);
    return nout;
}

static int cmp_key(const void *key, const void *elem)
{
    return strcmp(key, ((const struct ban_eject *)elem)->sid);
}

const struct ban_eject *ban_eject_find(const struct ban_eject *ej, size_t n, const char *sid)
{
    return n == 0 ? NULL : bsearch(sid, ej, n, sizeof(*ej), cmp_key);
}
