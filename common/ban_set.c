/* The ban set; see ban_set.h. */
#include "ban_set.h"

#include <stdlib.h>
#include <string.h>

struct ban_entry {
    struct ban        b;
    uint64_t          subject;       /* ban_set_subject(b.upstream, b.session) */
    uint64_t          id_hash;
    struct ban_entry *next_subject;
    struct ban_entry *next_id;
};

#define BAN_SET_MIN_BUCKETS 64

static uint64_t fnv1a(uint64_t h, const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)s[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

static uint64_t mix64(uint64_t h)
{
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    return h;
}

static uint64_t ban_set_subject(const char *sid, const char *session)
{
    uint64_t h = fnv1a(0xcbf29ce484222325ULL, sid, strlen(sid));
    h = fnv1a(h, "\n", 1);
    return mix64(fnv1a(h, session, strlen(session)));
}

static uint64_t ban_set_id_hash(const char *id)
{
    return mix64(fnv1a(0xcbf29ce484222325ULL, id, strlen(id)));
}

void ban_set_init(struct ban_set *s)
{
    memset(s, 0, sizeof(*s));
}

void ban_set_clear(struct ban_set *s)
{
    for (size_t i = 0; i < s->nbuckets; i++) {
        struct ban_entry *e = s->by_id[i];
        while (e != NULL) {
            struct ban_entry *next = e->next_id;
            free(e);
            e = next;
        }
        s->by_id[i] = NULL;
        s->by_subject[i] = NULL;
    }
    s->count = 0;
    s->generation++;
}

void ban_set_deinit(struct ban_set *s)
{
    if (s->nbuckets > 0)
        ban_set_clear(s);
    free(s->by_subject);
    free(s->by_id);
    memset(s, 0, sizeof(*s));
}

/* Moves every entry into tables of <n> buckets. */
static int ban_set_rehash(struct ban_set *s, size_t n)
{
    struct ban_entry **bs = calloc(n, sizeof(*bs));
    struct ban_entry **bi = calloc(n, sizeof(*bi));
    if (bs == NULL || bi == NULL) {
        free(bs);
        free(bi);
        return PF_ENOMEM;
    }
    for (size_t i = 0; i < s->nbuckets; i++) {
        struct ban_entry *e = s->by_id[i];
        while (e != NULL) {
            struct ban_entry *next = e->next_id;
            e->next_id = bi[e->id_hash & (n - 1)];
            bi[e->id_hash & (n - 1)] = e;
            e->next_subject = bs[e->subject & (n - 1)];
            bs[e->subject & (n - 1)] = e;
            e = next;
        }
    }
    free(s->by_subject);
    free(s->by_id);
    s->by_subject = bs;
    s->by_id = bi;
    s->nbuckets = n;
    return PF_OK;
}

static struct ban_entry *ban_set_find(const struct ban_set *s, const char *id, uint64_t h)
{
    if (s->nbuckets == 0)
        return NULL;
    for (struct ban_entry *e = s->by_id[h & (s->nbuckets - 1)]; e != NULL; e = e->next_id)
        if (e->id_hash == h && strcmp(e->b.id, id) == 0)
            return e;
    return NULL;
}

/* Unlinks <e> from both chains and frees it. */
static void ban_set_unlink(struct ban_set *s, struct ban_entry *e)
{
    struct ban_entry **p = &s->by_id[e->id_hash & (s->nbuckets - 1)];
    while (*p != e)
        p = &(*p)->next_id;
    *p = e->next_id;
    p = &s->by_subject[e->subject & (s->nbuckets - 1)];
    while (*p != e)
        p = &(*p)->next_subject;
    *p = e->next_subject;
    free(e);
    s->count--;
    s->generation++;
}

int ban_set_put(struct ban_set *s, const struct ban *b)
{
    if (s->nbuckets == 0 || s->count + 1 > s->nbuckets) {
        size_t n = s->nbuckets == 0 ? BAN_SET_MIN_BUCKETS : s->nbuckets * 2;
        if (ban_set_rehash(s, n) != PF_OK)
            return PF_ENOMEM;
    }
    struct ban_entry *e = malloc(sizeof(*e));
    if (e == NULL)
        return PF_ENOMEM;
    e->b = *b;
    e->b.id[BAN_ID_LEN] = '\0';
    e->b.upstream[UPSTREAM_SID_LEN - 1] = '\0';
    e->b.session[BAN_SESSION_MAX - 1] = '\0';
    e->b.domain[BAN_DOMAIN_MAX - 1] = '\0';
    e->b.reason[BAN_REASON_MAX - 1] = '\0';
    e->subject = ban_set_subject(e->b.upstream, e->b.session);
    e->id_hash = ban_set_id_hash(e->b.id);
    struct ban_entry *old = ban_set_find(s, e->b.id, e->id_hash);
    if (old != NULL)
        ban_set_unlink(s, old);
    size_t m = s->nbuckets - 1;
    e->next_id = s->by_id[e->id_hash & m];
    s->by_id[e->id_hash & m] = e;
    e->next_subject = s->by_subject[e->subject & m];
    s->by_subject[e->subject & m] = e;
    s->count++;
    s->generation++;
    return PF_OK;
}

int ban_set_remove(struct ban_set *s, const char *id)
{
    struct ban_entry *e = ban_set_find(s, id, ban_set_id_hash(id));
    if (e == NULL)
        return 0;
    ban_set_unlink(s, e);
    return 1;
}

const struct ban *ban_set_get(const struct ban_set *s, const char *id, int64_t now_ms)
{
    const struct ban_entry *e = ban_set_find(s, id, ban_set_id_hash(id));
    return e != NULL && e->b.expires_at_ms > now_ms ? &e->b : NULL;
}

size_t ban_set_expire(struct ban_set *s, int64_t now_ms)
{
    size_t n = 0;
    for (size_t i = 0; i < s->nbuckets; i++) {
        struct ban_entry *e = s->by_id[i];
        while (e != NULL) {
            struct ban_entry *next = e->next_id;
            if (e->b.expires_at_ms <= now_ms) {
                ban_set_unlink(s, e);
                n++;
            }
            e = next;
        }
    }
    return n;
}

static const struct ban *ban_set_match_subject(const struct ban_set *s, const char *sid,
                                               const char *session, const char *host,
                                               size_t host_len, int64_t now_ms)
{
    uint64_t h = ban_set_subject(sid, session);
    for (const struct ban_entry *e = s->by_subject[h & (s->nbuckets - 1)]; e != NULL;
         e = e->next_subject)
        if (e->subject == h && e->b.expires_at_ms > now_ms && strcmp(e->b.upstream, sid) == 0 &&
            strcmp(e->b.session, session) == 0 && ban_domain_covers(e->b.domain, host, host_len))
            return &e->b;
    return NULL;
}

const struct ban *ban_set_match(const struct ban_set *s, const char *sid, const char *session,
                                const char *host, size_t host_len, int64_t now_ms)
{
    if (s->count == 0)
        return NULL;
    const struct ban *b = ban_set_match_subject(s, sid, "", host, host_len, now_ms);
    if (b == NULL && session != NULL && session[0] != '\0')
        b = ban_set_match_subject(s, sid, session, host, host_len, now_ms);
    return b;
}

void ban_set_foreach(const struct ban_set *s, int64_t now_ms,
                     int (*fn)(const struct ban *b, void *arg), void *arg)
{
    for (size_t i = 0; i < s->nbuckets; i++)
        for (const struct ban_entry *e = s->by_id[i]; e != NULL; e = e->next_id)
            if (e->b.expires_at_ms > now_ms && fn(&e->b, arg) != 0)
                return;
}

size_t ban_set_upstream_domains(const struct ban_set *s, const char *sid, int64_t now_ms)
{
    if (s->count == 0)
        return 0;
    uint64_t h = ban_set_subject(sid, "");
    size_t n = 0;
    const struct ban_entry *head = s->by_subject[h & (s->nbuckets - 1)];
    for (const struct ban_entry *e = head; e != NULL; e = e->next_subject) {
        if (e->subject != h || e->b.expires_at_ms <= now_ms || strcmp(e->b.upstream, sid) != 0 ||
            e->b.session[0] != '\0')
            continue;
        int is_dup = 0;   /* counted already under an earlier ban of the chain */
        for (const struct ban_entry *f = head; f != e && !is_dup; f = f->next_subject)
            is_dup = f->subject == h && f->b.expires_at_ms > now_ms && f->b.session[0] == '\0' &&
                     strcmp(f->b.upstream, sid) == 0 && strcmp(f->b.domain, e->b.domain) == 0;
        n += !is_dup;
    }
    return n;
}
