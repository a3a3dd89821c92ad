/* proxyfleet-ctl users; see ctl_users.h. */
#include "ctl_users.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include <cJSON.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "clock.h"
#include "ctl_out.h"
#include "pwhash.h"
#include "redis.h"
#include "user_record.h"

#define CTL_PASS_MAX 256      /* bytes of a password read */

/* KEYS[1] users, KEYS[2] users:version; ARGV[1] name, ARGV[2] record.
 * Returns the new version. */
static const char ctl_users_set_script[] =
    "redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])\n"
    "return redis.call('INCR', KEYS[2])\n";

/* KEYS as above; ARGV[1] name. Returns 1 when the user existed. */
static const char ctl_users_del_script[] =
    "local n = redis.call('HDEL', KEYS[1], ARGV[1])\n"
    "if n > 0 then redis.call('INCR', KEYS[2]) end\n"
    "return n\n";

static int ctl_users_connect(struct redis *r)
{
    if (redis_connect(r, clock_mono_ms()) == PF_OK)
        return 0;
    const char *why = redis_last_error(r);
    fprintf(stderr, "proxyfleet-ctl: redis %s: %s\n", redis_target(r),
            why[0] != '\0' ? why : "not connected");
    return -1;
}

/* Says why reply <x> (not the expected one) came. */
static void ctl_users_failed(struct redis *r, const struct redis_reply *x, const char *what)
{
    const char *why = redis_reply_type(x) == REDIS_TYPE_ERROR ? redis_reply_str(x, NULL)
                                                               : redis_last_error(r);
    fprintf(stderr, "proxyfleet-ctl: redis %s: %s failed: %s\n", redis_target(r), what,
            why != NULL && why[0] != '\0' ? why : "connection lost");
}

/* Reads one line from <fd> into <buf> of <len> (no newline kept). Returns
 * its length, or -1 (end of input before anything, too long, or error). */
static ssize_t ctl_read_line(int fd, char *buf, size_t len)
{
    size_t n = 0;
    for (;;) {
        char c;
        ssize_t k = read(fd, &c, 1);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return n > 0 ? (ssize_t)n : -1;
        if (c == '\n')
            break;
        if (n + 1 >= len) {
            OPENSSL_cleanse(buf, len);
            return -1;
        }
        buf[n++] = c;
    }
    if (n > 0 && buf[n - 1] == '\r')
        n--;
    buf[n] = '\0';
    return (ssize_t)n;
}

/* Prompts <prompt> on the TTY <fd> with echo off and reads a line. */
static ssize_t ctl_read_hidden(int fd, const char *prompt, char *buf, size_t len)
{
    struct termios old, quiet;
    fputs(prompt, stderr);
    fflush(stderr);
    int is_set = tcgetattr(fd, &old) == 0;
    if (is_set) {
        quiet = old;
        quiet.c_lflag &= (tcflag_t)~(ECHO | ECHONL);
        quiet.c_lflag |= ICANON;
        is_set = tcsetattr(fd, TCSAFLUSH, &quiet) == 0;
    }
    ssize_t n = ctl_read_line(fd, buf, len);
    if (is_set)
        (void)tcsetattr(fd, TCSAFLUSH, &old);
    fputc('\n', stderr);
    return n;
}

/* The new password of <name> into <buf> of <len>: prompted twice on a TTY,
 * else the first line of stdin. Returns its length, or -1 (said why). */
static ssize_t ctl_users_password(const char *name, char *buf, size_t len)
{
    ssize_t n;
    if (isatty(STDIN_FILENO)) {
        char again[CTL_PASS_MAX + 2];
        char prompt[USER_NAME_MAX + 32];
        snprintf(prompt, sizeof(prompt), "password for %s: ", name);
        n = ctl_read_hidden(STDIN_FILENO, prompt, buf, len);
        ssize_t m = n > 0 ? ctl_read_hidden(STDIN_FILENO, "again: ", again, sizeof(again)) : -1;
        int same = n > 0 && m == n && CRYPTO_memcmp(buf, again, (size_t)n) == 0;
        OPENSSL_cleanse(again, sizeof(again));
        if (n > 0 && !same) {
            OPENSSL_cleanse(buf, len);
            fprintf(stderr, "proxyfleet-ctl: users add: the passwords differ\n");
            return -1;
        }
    } else {
        n = ctl_read_line(STDIN_FILENO, buf, len);
    }
    if (n <= 0) {
        fprintf(stderr, "proxyfleet-ctl: users add: no password (1..%d bytes on a TTY prompt "
                        "or stdin's first line)\n", CTL_PASS_MAX);
        return -1;
    }
    if (memchr(buf, '\0', (size_t)n) != NULL) {
        OPENSSL_cleanse(buf, len);
        fprintf(stderr, "proxyfleet-ctl: users add: the password holds a NUL byte\n");
        return -1;
    }
    return n;
}

/* The record of <a>'s user with password <pass> into <out> of <len>
 * (a fresh salt, the default cost). Returns 0 or -1 (said why). */
static int ctl_users_record(const struct ctl_args *a, const char *pass, size_t pass_len,
                            char *out, size_t len)
{
    uint8_t salt[16];
    char text[PWHASH_TEXT_MAX];
    struct user_record rec;
    struct pf_err err;
    int rc = -1;
    memset(&rec, 0, sizeof(rec));
    pf_err_clear(&err);
    if (RAND_bytes(salt, sizeof(salt)) != 1) {
        fprintf(stderr, "proxyfleet-ctl: no randomness for the salt\n");
        return -1;
    }
    if (pwhash_encode(pass, pass_len, PWHASH_DEFAULT_LN, PWHASH_DEFAULT_R, PWHASH_DEFAULT_P, salt,
                      sizeof(salt), text, sizeof(text), &err) != PF_OK ||
        pwhash_parse(text, strlen(text), &rec.pass, &err) != PF_OK) {
        fprintf(stderr, "proxyfleet-ctl: users add: %s\n", err.msg);
        goto out;
    }
    rec.limits.max_conns = (int)a->max_conns;
    rec.limits.max_rps = (int)a->max_rps;
    rec.limits.bytes_per_day = (uint64_t)a->bytes_per_day;
    rec.limits.bytes_per_month = (uint64_t)a->bytes_per_month;
    if (user_record_format(&rec, out, len) < 0) {
        fprintf(stderr, "proxyfleet-ctl: users add: the record does not fit\n");
        goto out;
    }
    rc = 0;
out:
    OPENSSL_cleanse(text, sizeof(text));
    OPENSSL_cleanse(&rec, sizeof(rec));
    return rc;
}

static int ctl_users_add(const struct ctl_args *a, struct redis *r, const struct keys *k)
{
    char pass[CTL_PASS_MAX + 2];
    char rec[USER_RECORD_MAX + 1];
    if (!user_name_is_valid(a->target, strlen(a->target))) {
        fprintf(stderr, "proxyfleet-ctl: users add: a user name is 1..%d of [A-Za-z0-9_.@]\n",
                USER_NAME_MAX);
        return CTL_EXIT_USAGE;
    }
    ssize_t n = ctl_users_password(a->target, pass, sizeof(pass));
    if (n < 0)
        return CTL_EXIT_USAGE;
    int bad = ctl_users_record(a, pass, (size_t)n, rec, sizeof(rec));
    OPENSSL_cleanse(pass, sizeof(pass));
    if (bad)
        return CTL_EXIT_FAIL;
    int rc = CTL_EXIT_FAIL;
    struct redis_script script = REDIS_SCRIPT_INIT(ctl_users_set_script);
    const char *args[] = { "2", k->users, k->users_version, a->target, rec };
    struct redis_reply *x = NULL;
    if (ctl_users_connect(r) != 0)
        goto out;
    x = redis_eval(r, &script, "users add", 5, args, NULL);
    if (redis_reply_type(x) != REDIS_TYPE_INTEGER) {
        ctl_users_failed(r, x, "users add");
        goto out;
    }
    long long version = redis_reply_integer(x);
    if (a->is_json) {
        cJSON *o = cJSON_CreateObject();
        if (o != NULL && (cJSON_AddStringToObject(o, "added", a->target) == NULL ||
                          cJSON_AddNumberToObject(o, "version", (double)version) == NULL)) {
            cJSON_Delete(o);
            o = NULL;
        }
        rc = ctl_out_json(o);
    } else {
        printf("user %s set (users version %lld)\n", a->target, version);
        rc = CTL_EXIT_OK;
    }
out:
    redis_reply_free(x);
    OPENSSL_cleanse(rec, sizeof(rec));
    return rc;
}

static int ctl_users_del(const struct ctl_args *a, struct redis *r, const struct keys *k)
{
    if (!user_name_is_valid(a->target, strlen(a->target))) {
        fprintf(stderr, "proxyfleet-ctl: users del: a user name is 1..%d of [A-Za-z0-9_.@]\n",
                USER_NAME_MAX);
        return CTL_EXIT_USAGE;
    }
    if (ctl_users_connect(r) != 0)
        return CTL_EXIT_FAIL;
    struct redis_script script = REDIS_SCRIPT_INIT(ctl_users_del_script);
    const char *args[] = { "2", k->users, k->users_version, a->target };
    struct redis_reply *x = redis_eval(r, &script, "users del", 4, args, NULL);
    if (redis_reply_type(x) != REDIS_TYPE_INTEGER) {
        ctl_users_failed(r, x, "users del");
        redis_reply_free(x);
        return CTL_EXIT_FAIL;
    }
    long long n = redis_reply_integer(x);
    redis_reply_free(x);
    if (a->is_json) {
        cJSON *o = cJSON_CreateObject();
        if (o != NULL && (n > 0 ? cJSON_AddStringToObject(o, "deleted", a->target)
                                : cJSON_AddNullToObject(o, "deleted")) == NULL) {
            cJSON_Delete(o);
            o = NULL;
        }
        int rc = ctl_out_json(o);
        return n > 0 ? rc : CTL_EXIT_FAIL;
    }
    if (n == 0) {
        fprintf(stderr, "proxyfleet-ctl: users del: no user %s\n", a->target);
        return CTL_EXIT_FAIL;
    }
    printf("user %s removed\n", a->target);
    return CTL_EXIT_OK;
}

/* One user of the list as JSON: name, limits, the hash's cost (never the
 * hash), or the reason its record was skipped. */
static cJSON *ctl_user_json(const char *name, const struct user_record *rec, const char *bad)
{
    cJSON *o = cJSON_CreateObject();
    int ok = o != NULL && cJSON_AddStringToObject(o, "name", name) != NULL;
    if (ok && bad != NULL) {
        ok = cJSON_AddStringToObject(o, "error", bad) != NULL;
    } else if (ok) {
        char cost[48];
        snprintf(cost, sizeof(cost), "scrypt ln=%d,r=%d,p=%d", rec->pass.ln, rec->pass.r,
                 rec->pass.p);
        ok = cJSON_AddStringToObject(o, "hash", cost) != NULL &&
             cJSON_AddNumberToObject(o, "max_conns", rec->limits.max_conns) != NULL &&
             cJSON_AddNumberToObject(o, "max_rps", rec->limits.max_rps) != NULL &&
             cJSON_AddNumberToObject(o, "bytes_per_day", (double)rec->limits.bytes_per_day) != NULL &&
             cJSON_AddNumberToObject(o, "bytes_per_month", (double)rec->limits.bytes_per_month) != NULL;
    }
    if (!ok) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

struct ctl_user_ref {
    char   name[USER_NAME_MAX + 1];
    size_t idx;                        /* pair index in the HGETALL reply */
};

static int ctl_name_cmp(const void *a, const void *b)
{
    return strcmp(((const struct ctl_user_ref *)a)->name, ((const struct ctl_user_ref *)b)->name);
}

static int ctl_users_list(const struct ctl_args *a, struct redis *r, const struct keys *k)
{
    if (ctl_users_connect(r) != 0)
        return CTL_EXIT_FAIL;
    const char *ah[] = { "HGETALL", k->users };
    const char *av[] = { "GET", k->users_version };
    const struct redis_cmd cmds[2] = { { 2, ah, NULL }, { 2, av, NULL } };
    struct redis_reply *x[2] = { NULL, NULL };
    if (redis_pipeline(r, "users list", 2, cmds, x) != PF_OK ||
        redis_reply_type(x[0]) != REDIS_TYPE_ARRAY || redis_reply_count(x[0]) % 2 != 0) {
        ctl_users_failed(r, x[0], "users list");
        redis_reply_free(x[0]);
        redis_reply_free(x[1]);
        return CTL_EXIT_FAIL;
    }
    size_t n = redis_reply_count(x[0]) / 2;
    struct ctl_user_ref *order = calloc(n > 0 ? n : 1, sizeof(*order));
    const char *ver = redis_reply_type(x[1]) == REDIS_TYPE_STRING ? redis_reply_str(x[1], NULL) : "";
    char version[32];
    snprintf(version, sizeof(version), "%s", strspn(ver, "0123456789") == strlen(ver) ? ver : "?");
    cJSON *o = a->is_json ? cJSON_CreateObject() : NULL;
    cJSON *arr = o != NULL ? cJSON_AddArrayToObject(o, "users") : NULL;
    int rc = CTL_EXIT_OK;
    size_t m = 0;
    if (order == NULL || (a->is_json && arr == NULL)) {
        fprintf(stderr, "proxyfleet-ctl: out of memory\n");
        rc = CTL_EXIT_FAIL;
        goto out;
    }
    /* names that are not user names are counted, never printed */
    size_t nbadname = 0;
    for (size_t i = 0; i < n; i++) {
        size_t len = 0;
        const char *s = redis_reply_str(redis_reply_element(x[0], 2 * i), &len);
        if (s == NULL || !user_name_is_valid(s, len)) {
            nbadname++;
            continue;
        }
        memcpy(order[m].name, s, len);
        order[m].name[len] = '\0';
        order[m++].idx = i;
    }
    qsort(order, m, sizeof(*order), ctl_name_cmp);
    if (!a->is_json)
        printf("%-24s %10s %10s %14s %14s %s\n", "USER", "MAX_CONNS", "MAX_RPS", "BYTES/DAY",
               "BYTES/MONTH", "HASH");
    for (size_t i = 0; i < m; i++) {
        const char *name = order[i].name;
        size_t vl = 0;
        const char *v = redis_reply_str(redis_reply_element(x[0], 2 * order[i].idx + 1), &vl);
        struct user_record rec;
        struct pf_err err;
        pf_err_clear(&err);
        const char *bad = NULL;
        if (v == NULL || user_record_parse(v, vl, &rec, &err) != PF_OK)
            bad = err.msg[0] != '\0' ? err.msg : "not a string";
        if (a->is_json) {
            cJSON *u = ctl_user_json(name, &rec, bad);
            if (u == NULL || !cJSON_AddItemToArray(arr, u)) {
                cJSON_Delete(u);
                rc = CTL_EXIT_FAIL;
            }
        } else if (bad != NULL) {
            printf("%-24s (skipped by nodes: %s)\n", name, bad);
        } else {
            printf("%-24s %10d %10d %14" PRIu64 " %14" PRIu64 " scrypt ln=%d,r=%d,p=%d\n", name,
                   rec.limits.max_conns, rec.limits.max_rps, rec.limits.bytes_per_day,
                   rec.limits.bytes_per_month, rec.pass.ln, rec.pass.r, rec.pass.p);
        }
        OPENSSL_cleanse(&rec, sizeof(rec));
    }
    if (a->is_json) {
        if (cJSON_AddStringToObject(o, "version", version) == NULL ||
            cJSON_AddNumberToObject(o, "bad_names", (double)nbadname) == NULL)
            rc = CTL_EXIT_FAIL;
        if (rc == CTL_EXIT_OK) {
            rc = ctl_out_json(o);
            o = NULL;
        }
    } else {
        printf("%zu user%s, version %s%s\n", m, m == 1 ? "" : "s",
               version[0] != '\0' ? version : "none",
               nbadname > 0 ? " (names that are not user names skipped)" : "");
    }
out:
    cJSON_Delete(o);
    free(order);
    redis_reply_free(x[0]);
    redis_reply_free(x[1]);
    return rc;
}

int ctl_users_run(const struct ctl_args *a, struct redis *r, const struct keys *k)
{
    switch (a->op) {
    case CTL_OP_LIST:
        return ctl_users_list(a, r, k);
    case CTL_OP_ADD:
        return ctl_users_add(a, r, k);
    case CTL_OP_DEL:
        return ctl_users_del(a, r, k);
    default:
        return CTL_EXIT_USAGE;
    }
}
