/* Users kept in Redis; see user_store.h. */
#include "user_store.h"

#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "clock.h"
#include "cred_cache.h"
#include "keys.h"
#include "log.h"
#include "redis_link.h"

#define USER_STORE_VERSION_MAX 32

struct user_entry {
    char               name[USER_NAME_MAX + 1];
    struct user_record rec;
    uint64_t           serial;       /* > 0; new whenever the record changes */
};

struct user_store {
    struct redis_link *link;         /* borrowed */
    const struct keys *keys;         /* borrowed */
    struct event      *timer;        /* owned, persistent */
    struct user_entry *users;        /* owned, sorted by name */
    size_t             nusers;
    uint64_t           next_serial;
    struct cred_cache  cache;        /* owned */
    int                is_in_flight; /* a GET or HGETALL is out */
    uint64_t           sent_disconnects; /* the link's disconnects when it went out */
    int                is_loaded;
    char               version[USER_STORE_VERSION_MAX];  /* of the table loaded */
    char               pending[USER_STORE_VERSION_MAX];  /* of the HGETALL out */
    int64_t            loaded_at_ms; /* monotonic */
    int64_t            budget_second;/* the second verify_count counts */
    int                verify_count;
    struct user_store_stats stats;
};

static int entry_cmp(const void *a, const void *b)
{
    return strcmp(((const struct user_entry *)a)->name, ((const struct user_entry *)b)->name);
}

static const struct user_entry *find(const struct user_store *s, const char *name)
{
    if (s == NULL || s->nusers == 0)
        return NULL;
    struct user_entry key;
    size_t n = strlen(name);
    if (n > USER_NAME_MAX)
        return NULL;
    memcpy(key.name, name, n + 1);
    return bsearch(&key, s->users, s->nusers, sizeof(*s->users), entry_cmp);
}

void user_store_lookup_name(const char *user, char *out, size_t len)
{
    /* Redis user names hold no '-' (user_name_is_valid), so whatever follows
     * the first '-' is a parameter of the name, never part of it. Stand-in
     * for common/user_params.c (issue 12 item 3), which owns the grammar. */
    size_t n = strcspn(user, "-");
    if (len == 0)
        return;
    if (n >= len)
        n = len - 1;
    memcpy(out, user, n);
    out[n] = '\0';
}

/* Builds the table from HGETALL's <reply> (name, value, name, value ...)
 * and swaps it in. */
static void load_table(struct user_store *s, const struct redis_link_reply *reply)
{
    size_t n = redis_link_reply_count(reply) / 2;
    struct user_entry *t = n > 0 ? calloc(n, sizeof(*t)) : NULL;
    if (n > 0 && t == NULL) {
        log_warn("users: out of memory for %zu users, keeping the previous table", n);
        return;
    }
    size_t k = 0, nbad = 0;
    for (size_t i = 0; i < n; i++) {
        size_t nlen = 0, vlen = 0;
        const char *name = redis_link_reply_str(redis_link_reply_element(reply, 2 * i), &nlen);
        const char *val = redis_link_reply_str(redis_link_reply_element(reply, 2 * i + 1), &vlen);
        struct pf_err err;
        pf_err_clear(&err);
        if (name == NULL || val == NULL || !user_name_is_valid(name, nlen)) {
            nbad++;
            log_warn("users: a user name that is not 1..%d of [A-Za-z0-9_.@] was skipped",
                     USER_NAME_MAX);
            continue;
        }
        struct user_entry *e = &t[k];
        memcpy(e->name, name, nlen);
        e->name[nlen] = '\0';
        if (user_record_parse(val, vlen, &e->rec, &err) != PF_OK) {
            nbad++;
            log_warn("users: record of %s skipped: %s", e->name, err.msg);
            continue;
        }
        if (pwhash_mem_bytes(&e->rec.pass) > USER_STORE_SCRYPT_MEM_MAX) {
            nbad++;
            log_warn("users: record of %s skipped: its scrypt cost needs more than %u MiB "
                     "(ln=%d, r=%d)", e->name, (unsigned)USER_STORE_SCRYPT_MIB,
                     e->rec.pass.ln, e->rec.pass.r);
            continue;
        }
        k++;
    }
    if (k > 0)
        qsort(t, k, sizeof(*t), entry_cmp);
    /* an unchanged record keeps its serial, so its cached pairs stay good */
    size_t changed = 0;
    for (size_t i = 0; i < k; i++) {
        const struct user_entry *old = find(s, t[i].name);
        if (old != NULL && memcmp(&old->rec, &t[i].rec, sizeof(t[i].rec)) == 0) {
            t[i].serial = old->serial;
        } else {
            t[i].serial = ++s->next_serial;
            changed++;
        }
    }
    size_t removed = 0;
    for (size_t i = 0; i < s->nusers; i++)
        removed += k == 0 || bsearch(&s->users[i], t, k, sizeof(*t), entry_cmp) == NULL;
    if (s->users != NULL)
        OPENSSL_cleanse(s->users, s->nusers * sizeof(*s->users));
    free(s->users);
    s->users = t;
    s->nusers = k;
    s->stats.loads++;
    s->stats.users = k;
    s->stats.bad_records += nbad;
    log_info("users: %zu from redis (%zu new or changed, %zu removed, %zu skipped), "
             "version %s", k, changed, removed, nbad, s->pending[0] != '\0' ? s->pending : "none");
}

static void on_users(struct redis_link_reply *reply, void *arg)
{
    struct user_store *s = arg;
    s->is_in_flight = 0;
    if (redis_link_reply_type(reply) != REDIS_LINK_REPLY_ARRAY) {
        char buf[160];
        log_warn("users: reading %s failed: %s", s->keys->users,
                 redis_link_reply_describe(reply, buf, sizeof(buf)));
        return;
    }
    load_table(s, reply);
    memcpy(s->version, s->pending, sizeof(s->version));
    s->is_loaded = 1;
    s->loaded_at_ms = clock_mono_ms();
}

static void on_version(struct redis_link_reply *reply, void *arg)
{
    struct user_store *s = arg;
    enum redis_link_reply_type t = redis_link_reply_type(reply);
    size_t len = 0;
    const char *v = t == REDIS_LINK_REPLY_STRING ? redis_link_reply_str(reply, &len) : "";
    if ((t != REDIS_LINK_REPLY_STRING && t != REDIS_LINK_REPLY_NIL) ||
        len >= USER_STORE_VERSION_MAX) {
        log_debug("users: %s is not a short string, reloading anyway", s->keys->users_version);
        len = 0;
        v = "";
    }
    char ver[USER_STORE_VERSION_MAX];
    memcpy(ver, v, len);
    ver[len] = '\0';
    if (s->is_loaded && strcmp(ver, s->version) == 0 &&
        clock_mono_ms() - s->loaded_at_ms < USER_STORE_RELOAD_MS) {
        s->is_in_flight = 0;
        return;
    }
    memcpy(s->pending, ver, sizeof(s->pending));
    const char *argv[] = { "HGETALL", s->keys->users };
    /* still in flight (a reply callback may send: redis_link.h) */
    s->is_in_flight = redis_link_command(s->link, on_users, s, 2, argv, NULL) == PF_OK;
}

static void tick_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd; (void)what;
    struct user_store *s = arg;
    uint64_t disc = redis_link_get_stats(s->link)->disconnects;
    if (s->is_in_flight && disc != s->sent_disconnects)
        s->is_in_flight = 0;         /* the session ended: that reply never comes */
    if (s->is_in_flight || !redis_link_is_connected(s->link))
        return;
    const char *argv[] = { "GET", s->keys->users_version };
    s->sent_disconnects = disc;
    if (redis_link_command(s->link, on_version, s, 2, argv, NULL) == PF_OK)
        s->is_in_flight = 1;
}

struct user_store *user_store_create(struct event_base *base, struct redis_link *link,
                                     const struct keys *keys)
{
    struct user_store *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return NULL;
    s->link = link;
    s->keys = keys;
    uint8_t key[CRED_CACHE_KEY_LEN];
    if (RAND_bytes(key, sizeof(key)) != 1 ||
        cred_cache_init(&s->cache, key, USER_STORE_CACHE_SLOTS) != PF_OK) {
        OPENSSL_cleanse(key, sizeof(key));
        free(s);
        return NULL;
    }
    OPENSSL_cleanse(key, sizeof(key));
    s->timer = event_new(base, -1, EV_PERSIST, tick_cb, s);
    if (s->timer == NULL) {
        user_store_destroy(s);
        return NULL;
    }
    struct timeval tv = { .tv_sec = 0, .tv_usec = USER_STORE_POLL_MS * 1000 };
    event_add(s->timer, &tv);
    return s;
}

void user_store_destroy(struct user_store *s)
{
    if (s == NULL)
        return;
    if (s->timer != NULL)
        event_free(s->timer);
    cred_cache_deinit(&s->cache);
    if (s->users != NULL)
        OPENSSL_cleanse(s->users, s->nusers * sizeof(*s->users));
    free(s->users);
    free(s);
}

int user_store_check(struct user_store *s, const char *user, const char *pass, size_t pass_len)
{
    if (s == NULL)
        return 0;
    char name[USER_NAME_MAX + 1];
    user_store_lookup_name(user, name, sizeof(name));
    const struct user_entry *e = find(s, name);
    if (e == NULL)
        return 0;
    uint8_t d[CRED_CACHE_DIGEST_LEN];
    if (cred_cache_digest(&s->cache, e->name, pass, pass_len, d) != PF_OK)
        return 0;
    if (cred_cache_lookup(&s->cache, d, e->serial))
        return 1;
    int64_t sec = clock_mono_ms() / 1000;
    if (sec != s->budget_second) {
        s->budget_second = sec;
        s->verify_count = 0;
    }
    if (s->verify_count >= USER_STORE_VERIFY_PER_S) {
        s->stats.verify_throttled++;
        return 0;
    }
    s->verify_count++;
    s->stats.verifications++;
    int ok = pwhash_verify(&e->rec.pass, pass, pass_len) == 1;
    if (ok)
        cred_cache_put(&s->cache, d, e->serial);
    OPENSSL_cleanse(d, sizeof(d));
    return ok;
}

static int auth_check_cb(void *arg, const char *user, const char *pass, size_t pass_len)
{
    return user_store_check(arg, user, pass, pass_len);
}

void user_store_auth_source(struct user_store *s, struct auth_source *out)
{
    out->check = auth_check_cb;
    out->arg = s;
    out->is_on = s != NULL;
}

const struct user_limits *user_store_limits(const struct user_store *s, const char *name)
{
    const struct user_entry *e = find(s, name);
    return e != NULL ? &e->rec.limits : NULL;
}

void user_store_get_stats(const struct user_store *s, struct user_store_stats *out)
{
    memset(out, 0, sizeof(*out));
    if (s == NULL)
        return;
    *out = s->stats;
    out->cache_hits = s->cache.hits;
    out->cache_misses = s->cache.misses;
}
