/* The typed table engine behind the config; see conf_schema.h. */
#include "conf_schema.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "addr.h"
#include "conf_secret.h"
#include "json_text.h"
#include "keys.h"

/* What one conf_schema_parse() call carries down. */
struct conf_run {
    const struct conf_io *io;           /* NULL: no env, no files */
    struct conf_warnings *warnings;     /* NULL: dropped */
};

static int parse_object(const struct conf_table *t, void *base, const cJSON *obj,
                        const char *path, const char *array_path, int index,
                        const struct conf_run *run, struct pf_err *err);

/* ---- helpers ------------------------------------------------------------ */

/* Writes "<path>.<key>" (or "<key>" at the root) into <buf>; unprintable or
 * overlong keys are shown safely. */
static void path_key(char *buf, size_t len, const char *path, const char *key)
{
    char safe[64];
    size_t i = 0;
    for (; key != NULL && key[i] != '\0' && i + 1 < sizeof(safe); i++) {
        unsigned char ch = (unsigned char)key[i];
        safe[i] = (ch >= 0x20 && ch < 0x7f) ? (char)ch : '?';
    }
    safe[i] = '\0';
    if (path[0] == '\0')
        snprintf(buf, len, "%s", safe);
    else if (snprintf(buf, len, "%s.%s", path, safe) < 0)
        buf[0] = '\0';
}

/* Writes "<path>[<i>]" into <buf>: a path cut short is still a useful hint. */
static void path_index(char *buf, size_t len, const char *path, int i)
{
    if (snprintf(buf, len, "%s[%d]", path, i) < 0)
        buf[0] = '\0';
}

/* Adds a warning; past CONF_WARNINGS_MAX - 1 of them, the last slot counts
 * the rest. */
static void warn(struct conf_warnings *w, const char *fmt, ...) PF_PRINTF(2, 3);
static void warn(struct conf_warnings *w, const char *fmt, ...)
{
    if (w == NULL || w->n < 0)
        return;
    if (w->n < CONF_WARNINGS_MAX - 1) {
        va_list ap;
        va_start(ap, fmt);
        if (vsnprintf(w->msg[w->n], sizeof(w->msg[w->n]), fmt, ap) < 0)
            w->msg[w->n][0] = '\0';
        va_end(ap);
    } else {
        snprintf(w->msg[CONF_WARNINGS_MAX - 1], sizeof(w->msg[0]), "%d more warnings like these",
                 w->n - (CONF_WARNINGS_MAX - 1) + 1);
    }
    w->n++;
}

static int find_key(const struct conf_table *t, const char *name, size_t len)
{
    for (size_t i = 0; i < t->nkeys; i++) {
        if (strlen(t->keys[i].name) == len && memcmp(t->keys[i].name, name, len) == 0)
            return (int)i;
    }
    return -1;
}

int conf_obj_has(const struct conf_obj *obj, const char *name)
{
    int i = find_key(obj->table, name, strlen(name));
    return i >= 0 && i < 64 && (obj->seen & ((uint64_t)1 << i)) != 0;
}

static void store_int(void *dst, size_t size, int64_t v)
{
    switch (size) {
    case 1: { int8_t x = (int8_t)v; memcpy(dst, &x, 1); break; }
    case 2: { int16_t x = (int16_t)v; memcpy(dst, &x, 2); break; }
    case 4: { int32_t x = (int32_t)v; memcpy(dst, &x, 4); break; }
    default: memcpy(dst, &v, sizeof(v)); break;
    }
}

static void store_count(void *base, const struct conf_key *k, int n)
{
    memcpy((char *)base + k->count_off, &n, sizeof(n));
}

static int load_count(const void *base, const struct conf_key *k)
{
    int n;
    memcpy(&n, (const char *)base + k->count_off, sizeof(n));
    return n;
}

static int json_string(const cJSON *item, const char *path, const char **out, struct pf_err *err)
{
    *out = NULL;
    if (!cJSON_IsString(item) || item->valuestring == NULL)
        return pf_err_set(err, PF_EINVAL, "%s: must be a string", path);
    *out = item->valuestring;
    return PF_OK;
}

/* A string of 1..<limit>-1 bytes (the lists' entries). */
static int json_entry(const cJSON *item, const char *path, size_t limit, const char **out,
                      struct pf_err *err)
{
    int rc = json_string(item, path, out, err);
    if (rc != PF_OK)
        return rc;
    size_t n = strlen(*out);
    if (n == 0)
        return pf_err_set(err, PF_EINVAL, "%s: must not be empty", path);
    if (n >= limit)
        return pf_err_set(err, PF_EINVAL, "%s: longer than %zu bytes", path, limit - 1);
    return PF_OK;
}

int conf_schema_int(const cJSON *item, int64_t min, int64_t max, int64_t *out,
                    struct pf_err *err)
{
    if (!cJSON_IsNumber(item))
        return pf_err_set(err, PF_EINVAL, "must be an integer");
    double v = item->valuedouble;
    if (!isfinite(v) || v != floor(v))
        return pf_err_set(err, PF_EINVAL, "must be an integer");
    if (v < (double)min || v > (double)max)
        return pf_err_set(err, PF_EINVAL, "must be %lld..%lld", (long long)min, (long long)max);
    *out = (int64_t)v;
    return PF_OK;
}

/* ---- standard checks and defaults ------------------------------------------ */

void conf_default_id(char *dst, size_t dst_len)
{
    char host[256];
    char suffix[24];
    size_t o = 0;

    if (gethostname(host, sizeof(host)) != 0)
        host[0] = '\0';
    host[sizeof(host) - 1] = '\0';
    snprintf(suffix, sizeof(suffix), "-%ld", (long)getpid());
    size_t room = PF_MIN_OF(dst_len - 1, (size_t)63) - strlen(suffix);
    for (size_t i = 0; host[i] != '\0' && o < room; i++) {
        char ch = host[i];
        if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
            (ch >= '0' && ch <= '9') || ch == '_' || ch == '-' || ch == '.')
            dst[o++] = ch;
    }
    if (o == 0) {
        memcpy(dst, "pf", 2);
        o = 2;
    }
    dst[o] = '\0';
    snprintf(dst + o, dst_len - o, "%s", suffix);
}

int conf_check_name(void *base, char *value, struct pf_err *err)
{
    (void)base;
    if (!keys_valid_name(value))
        return pf_err_set(err, PF_EINVAL, "must be 1..63 chars of [A-Za-z0-9_.-]");
    return PF_OK;
}

/* The URL may carry an API key: reasons describe it, never quote it. */
int conf_check_http_url(void *base, char *value, struct pf_err *err)
{
    size_t skip;
    (void)base;
    if (strncasecmp(value, "http://", 7) == 0)
        skip = 7;
    else if (strncasecmp(value, "https://", 8) == 0)
        skip = 8;
    else
        return pf_err_set(err, PF_EINVAL, "must start with http:// or https://");
    for (const char *q = value; *q != '\0'; q++) {
        unsigned char ch = (unsigned char)*q;
        if (ch <= 0x20 || ch >= 0x7f)
            return pf_err_set(err, PF_EINVAL, "invalid character in URL");
    }
    char c = value[skip];
    if (c == '\0' || c == '/' || c == '?' || c == '#' || c == ':')
        return pf_err_set(err, PF_EINVAL, "missing host");
    return PF_OK;
}

int conf_check_printable(void *base, char *value, struct pf_err *err)
{
    (void)base;
    for (const char *q = value; *q != '\0'; q++) {
        if ((unsigned char)*q < 0x20 || (unsigned char)*q >= 0x7f)
            return pf_err_set(err, PF_EINVAL, "invalid character");
    }
    return PF_OK;
}

static int check_listen(char *value, struct pf_err *err)
{
    char host[UPSTREAM_HOST_MAX];
    uint16_t port;
    struct pf_err aerr;
    pf_err_clear(&aerr);
    if (addr_parse_hostport(value, host, sizeof(host), &port, &aerr) != PF_OK)
        return pf_err_set(err, PF_EINVAL, "%s", aerr.msg);
    return PF_OK;
}

/* ---- strings ------------------------------------------------------------ */

static int is_string_type(enum conf_type t)
{
    return t == CONF_T_STR || t == CONF_T_SECRET || t == CONF_T_PATH || t == CONF_T_LISTEN;
}

static size_t str_limit(const struct conf_key *k)
{
    size_t lim = k->max > 0 ? (size_t)k->max : k->size;
    return PF_MIN_OF(lim, (size_t)CONF_STR_READ_MAX);
}

/* Checks string <s> for string key <k> and stores it in <base>. The reason
 * has no path and never quotes <s>. */
static int str_store(const struct conf_key *k, void *base, const char *s, struct pf_err *err)
{
    char tmp[CONF_STR_READ_MAX];
    size_t lim = str_limit(k);
    size_t n = strlen(s);
    int rc = PF_OK;

    if (n == 0 && (k->flags & CONF_F_NONEMPTY))
        return pf_err_set(err, PF_EINVAL, "must not be empty");
    if (n >= lim)
        return pf_err_set(err, PF_EINVAL, "longer than %zu bytes", lim - 1);
    memcpy(tmp, s, n + 1);
    if (n > 0 && k->type == CONF_T_LISTEN)
        rc = check_listen(tmp, err);
    if (n > 0 && rc == PF_OK && k->check != NULL)
        rc = k->check(base, tmp, err);
    if (rc == PF_OK && strlen(tmp) >= k->size)
        rc = pf_err_set(err, PF_EINVAL, "longer than %zu bytes", k->size - 1);
    if (rc == PF_OK)
        memcpy((char *)base + k->off, tmp, strlen(tmp) + 1);
    if (k->type == CONF_T_SECRET)
        explicit_bzero(tmp, sizeof(tmp));
    return rc;
}

/* {"env": NAME} or {"file": PATH} in place of a secret string: the value
 * read (conf_secret), then checked as a string. */
static int parse_secret_ref(const struct conf_key *k, void *base, const cJSON *item,
                            const char *path, const struct conf_run *run, struct pf_err *err)
{
    struct conf_secret s;
    int rc = conf_secret_read(item, path, run->io, &s, err);
    if (rc == PF_OK && str_store(k, base, s.value, err) != PF_OK) {
        pf_err_prefix(err, "%s: %s: ", path, s.src);
        rc = PF_EINVAL;
    }
    if (rc == PF_OK && s.is_loose)
        warn(run->warnings, "%s: %s is accessible to group or others; chmod 600 it", path,
             s.src);
    conf_secret_wipe(&s);
    return rc;
}

static int parse_str(const struct conf_key *k, void *base, const cJSON *item, const char *path,
                     const struct conf_run *run, struct pf_err *err)
{
    if (k->type == CONF_T_SECRET && cJSON_IsObject(item))
        return parse_secret_ref(k, base, item, path, run, err);
    if (!cJSON_IsString(item) || item->valuestring == NULL) {
        if (k->type == CONF_T_SECRET)
            return pf_err_set(err, PF_EINVAL,
                              "%s: must be a string, {\"env\": NAME} or {\"file\": PATH}", path);
        return pf_err_set(err, PF_EINVAL, "%s: must be a string", path);
    }
    if (str_store(k, base, item->valuestring, err) != PF_OK) {
        pf_err_prefix(err, "%s: ", path);
        return PF_EINVAL;
    }
    return PF_OK;
}

/* ---- choices ------------------------------------------------------------ */

static int choice_set(const struct conf_key *k, void *base, const char *s, struct pf_err *err)
{
    const struct conf_choice *c = k->aux;
    size_t n = strlen(s);
    if (n == 0)
        return pf_err_set(err, PF_EINVAL, "must not be empty");
    if (n >= str_limit(k))
        return pf_err_set(err, PF_EINVAL, "longer than %zu bytes", str_limit(k) - 1);
    for (size_t i = 0; c[i].name != NULL; i++) {
        if (strcmp(s, c[i].name) == 0) {
            store_int((char *)base + k->off, k->size, c[i].value);
            return PF_OK;
        }
    }
    /* "must be a, b or c" */
    char list[192];
    size_t used = 0, count = 0;
    while (c[count].name != NULL)
        count++;
    list[0] = '\0';
    for (size_t i = 0; i < count && used < sizeof(list); i++) {
        const char *sep = i == 0 ? "" : (i + 1 == count ? " or " : ", ");
        int w = snprintf(list + used, sizeof(list) - used, "%s%s", sep, c[i].name);
        if (w < 0)
            break;
        used += (size_t)w;
    }
    return pf_err_set(err, PF_EINVAL, "must be %s", list);
}

/* ---- lists -------------------------------------------------------------- */

/* Array of CIDR strings into <out> (<max> entries), count in <*n>. */
static int parse_cidr_list(const cJSON *item, const char *path, struct conf_cidr *out, int max,
                           int *n, struct pf_err *err)
{
    char ipath[CONF_PATH_MAX];
    struct pf_err aerr;
    const cJSON *it;
    int i = 0;

    if (!cJSON_IsArray(item))
        return pf_err_set(err, PF_EINVAL, "%s: must be an array of strings", path);
    if (cJSON_GetArraySize(item) > max)
        return pf_err_set(err, PF_EINVAL, "%s: more than %d entries", path, max);
    *n = 0;
    cJSON_ArrayForEach(it, item) {
        const char *s;
        path_index(ipath, sizeof(ipath), path, i);
        int rc = json_entry(it, ipath, 64, &s, err);
        if (rc != PF_OK)
            return rc;
        pf_err_clear(&aerr);
        if (addr_cidr_parse(s, &out[i], &aerr) != PF_OK)
            return pf_err_set(err, PF_EINVAL, "%s: %s", ipath, aerr.msg);
        *n = ++i;
    }
    return PF_OK;
}

static int parse_policy(const struct conf_key *k, void *base, const cJSON *item,
                        const char *path, struct pf_err *err)
{
    struct conf_upstream_policy pol;
    memset(&pol, 0, sizeof(pol));
    if (cJSON_IsBool(item)) {
        pol.is_private_allowed = cJSON_IsTrue(item) ? 1 : 0;
    } else if (!cJSON_IsArray(item)) {
        return pf_err_set(err, PF_EINVAL, "%s: must be true, false or an array of CIDRs", path);
    } else {
        int rc = parse_cidr_list(item, path, pol.allow, CONF_CIDRS_MAX, &pol.nallow, err);
        if (rc != PF_OK)
            return rc;
    }
    memcpy((char *)base + k->off, &pol, sizeof(pol));
    return PF_OK;
}

static int parse_ports(const struct conf_key *k, void *base, const cJSON *item,
                       const char *path, struct pf_err *err)
{
    char ipath[CONF_PATH_MAX];
    uint16_t *ports = (uint16_t *)((char *)base + k->off);
    const cJSON *it;
    int i = 0;

    if (!cJSON_IsArray(item))
        return pf_err_set(err, PF_EINVAL, "%s: must be an array of ports", path);
    if (cJSON_GetArraySize(item) > k->max)
        return pf_err_set(err, PF_EINVAL, "%s: more than %lld %s", path, (long long)k->max,
                          k->noun);
    store_count(base, k, 0);
    cJSON_ArrayForEach(it, item) {
        int64_t v = 0;
        path_index(ipath, sizeof(ipath), path, i);
        if (conf_schema_int(it, 1, 65535, &v, err) != PF_OK) {
            pf_err_prefix(err, "%s: ", ipath);
            return PF_EINVAL;
        }
        ports[i] = (uint16_t)v;
        store_count(base, k, ++i);
    }
    return PF_OK;
}

/* char[max][size]: strings (CONF_T_STRS) or scalars' text (CONF_T_SCALARS). */
static int parse_strs(const struct conf_key *k, void *base, const cJSON *item, const char *path,
                      struct pf_err *err)
{
    char ipath[CONF_PATH_MAX];
    char *rows = (char *)base + k->off;
    const cJSON *it;
    int i = 0;
    int n = cJSON_IsArray(item) ? cJSON_GetArraySize(item) : -1;

    if (k->type == CONF_T_SCALARS && (n < 1 || n > k->max))
        return pf_err_set(err, PF_EINVAL, "%s: must be an array of 1..%lld scalars", path,
                          (long long)k->max);
    if (k->type == CONF_T_STRS && (n < 0 || n > k->max))
        return pf_err_set(err, PF_EINVAL, "%s: must be an array of at most %lld strings", path,
                          (long long)k->max);
    cJSON_ArrayForEach(it, item) {
        char *dst = rows + (size_t)i * k->size;
        path_index(ipath, sizeof(ipath), path, i);
        if (k->type == CONF_T_SCALARS) {
            /* null is no value a config can mean */
            if (cJSON_IsNull(it) || json_scalar_text(it, dst, k->size) != PF_OK)
                return pf_err_set(err, PF_EINVAL, "%s: must be a number, string or boolean",
                                  ipath);
        } else {
            const char *s;
            int rc = json_entry(it, ipath, k->size, &s, err);
            if (rc != PF_OK)
                return rc;
            memcpy(dst, s, strlen(s) + 1);
        }
        i++;
    }
    store_count(base, k, i);
    return PF_OK;
}

static void strv_free(const struct conf_key *k, void *base)
{
    char **v;
    int n = load_count(base, k);
    memcpy(&v, (char *)base + k->off, sizeof(v));
    for (int i = 0; v != NULL && i < n; i++)
        free(v[i]);
    free(v);
    v = NULL;
    memcpy((char *)base + k->off, &v, sizeof(v));
    store_count(base, k, 0);
}

static int parse_strv(const struct conf_key *k, void *base, const cJSON *item, const char *path,
                      struct pf_err *err)
{
    char ipath[CONF_PATH_MAX];
    const cJSON *it;
    char **v;
    int n, i = 0;

    if (!cJSON_IsArray(item))
        return pf_err_set(err, PF_EINVAL, "%s: must be an array of strings", path);
    n = cJSON_GetArraySize(item);
    if (n > k->max)
        return pf_err_set(err, PF_EINVAL, "%s: more than %lld %s", path, (long long)k->max,
                          k->noun);
    strv_free(k, base);
    if (n == 0)
        return PF_OK;
    v = calloc((size_t)n, sizeof(char *));
    if (v == NULL)
        return pf_err_set(err, PF_ENOMEM, "%s: out of memory", path);
    memcpy((char *)base + k->off, &v, sizeof(v));
    cJSON_ArrayForEach(it, item) {
        const char *s;
        path_index(ipath, sizeof(ipath), path, i);
        int rc = json_entry(it, ipath, k->size, &s, err);
        if (rc != PF_OK)
            return rc;
        v[i] = strdup(s);
        if (v[i] == NULL)
            return pf_err_set(err, PF_ENOMEM, "%s: out of memory", ipath);
        store_count(base, k, ++i);
    }
    return PF_OK;
}

/* ---- arrays of objects ---------------------------------------------------- */

static void array_free(const struct conf_key *k, void *base)
{
    const struct conf_table *et = k->aux;
    char *arr;
    int n = load_count(base, k);
    memcpy(&arr, (char *)base + k->off, sizeof(arr));
    for (int i = 0; arr != NULL && i < n; i++)
        conf_schema_deinit(et, arr + (size_t)i * et->size);
    free(arr);
    arr = NULL;
    memcpy((char *)base + k->off, &arr, sizeof(arr));
    store_count(base, k, 0);
}

static int parse_array(const struct conf_key *k, void *base, const cJSON *item, const char *path,
                       const struct conf_run *run, struct pf_err *err)
{
    const struct conf_table *et = k->aux;
    char ipath[CONF_PATH_MAX];
    const cJSON *it;
    char *arr;
    int n, i = 0;

    if (!cJSON_IsArray(item))
        return pf_err_set(err, PF_EINVAL, "%s: must be an array", path);
    n = cJSON_GetArraySize(item);
    if (n > k->max)
        return pf_err_set(err, PF_EINVAL, "%s: more than %lld %s", path, (long long)k->max,
                          k->noun);
    array_free(k, base);
    if (n == 0)
        return PF_OK;
    arr = calloc((size_t)n, et->size);
    if (arr == NULL)
        return pf_err_set(err, PF_ENOMEM, "%s: out of memory", path);
    memcpy((char *)base + k->off, &arr, sizeof(arr));
    cJSON_ArrayForEach(it, item) {
        char *elem = arr + (size_t)i * et->size;
        conf_schema_defaults(et, elem);
        path_index(ipath, sizeof(ipath), path, i);
        store_count(base, k, ++i);      /* owned from here: conf_schema_deinit frees it */
        int rc = parse_object(et, elem, it, ipath, path, i - 1, run, err);
        if (rc != PF_OK)
            return rc;
    }
    return PF_OK;
}

/* ---- one key -------------------------------------------------------------- */

static int parse_value(const struct conf_key *k, void *base, const cJSON *item, const char *path,
                       const struct conf_run *run, struct pf_err *err)
{
    char *dst = (char *)base + k->off;
    int64_t v = 0;
    int rc;

    switch (k->type) {
    case CONF_T_STR:
    case CONF_T_SECRET:
    case CONF_T_PATH:
    case CONF_T_LISTEN:
        return parse_str(k, base, item, path, run, err);
    case CONF_T_INT:
        rc = conf_schema_int(item, k->min, k->max, &v, err);
        if (rc != PF_OK) {
            pf_err_prefix(err, "%s: ", path);
            return rc;
        }
        store_int(dst, k->size, v);
        return PF_OK;
    case CONF_T_BOOL:
        if (!cJSON_IsBool(item))
            return pf_err_set(err, PF_EINVAL, "%s: must be true or false", path);
        store_int(dst, k->size, cJSON_IsTrue(item) ? 1 : 0);
        return PF_OK;
    case CONF_T_NUM: {
        int is_open = (k->flags & CONF_F_MIN_OPEN) != 0;
        double d = cJSON_IsNumber(item) ? item->valuedouble : NAN;
        if (!isfinite(d) || d < (double)k->min || (is_open && d <= (double)k->min) ||
            d > (double)k->max)
            return pf_err_set(err, PF_EINVAL, "%s: must be a number in %c%g, %g]", path,
                              is_open ? '(' : '[', (double)k->min, (double)k->max);
        memcpy(dst, &d, sizeof(d));
        return PF_OK;
    }
    case CONF_T_CHOICE: {
        const char *s;
        rc = json_string(item, path, &s, err);
        if (rc == PF_OK && choice_set(k, base, s, err) != PF_OK) {
            pf_err_prefix(err, "%s: ", path);
            rc = PF_EINVAL;
        }
        return rc;
    }
    case CONF_T_CIDRS: {
        int n = 0;
        rc = parse_cidr_list(item, path, (struct conf_cidr *)(void *)dst, (int)k->max, &n, err);
        store_count(base, k, n);
        return rc;
    }
    case CONF_T_POLICY:
        return parse_policy(k, base, item, path, err);
    case CONF_T_PORTS:
        return parse_ports(k, base, item, path, err);
    case CONF_T_STRS:
    case CONF_T_SCALARS:
        return parse_strs(k, base, item, path, err);
    case CONF_T_STRV:
        return parse_strv(k, base, item, path, err);
    case CONF_T_OBJECT:
        if (k->flags & CONF_F_LAZY) {
            memset(dst, 0, k->size);
            conf_schema_defaults(k->aux, dst);
        }
        return parse_object(k->aux, dst, item, path, NULL, -1, run, err);
    case CONF_T_ARRAY:
        return parse_array(k, base, item, path, run, err);
    case CONF_T_HOOK:
        return k->hook(base, item, path, err);
    }
    return pf_err_set(err, PF_EINVAL, "%s: unsupported key type", path);
}

static int parse_object(const struct conf_table *t, void *base, const cJSON *obj,
                        const char *path, const char *array_path, int index,
                        const struct conf_run *run, struct pf_err *err)
{
    struct conf_obj o = { t, path, array_path, index, 0 };
    char kpath[CONF_PATH_MAX];
    const cJSON *it;

    if (!cJSON_IsObject(obj))
        return pf_err_set(err, PF_EINVAL, "%s: must be an object",
                          path[0] != '\0' ? path : "config");
    cJSON_ArrayForEach(it, obj) {
        path_key(kpath, sizeof(kpath), path, it->string);
        int i = it->string != NULL ? find_key(t, it->string, strlen(it->string)) : -1;
        if (i < 0)
            return pf_err_set(err, PF_EINVAL, "%s: unknown key", kpath);
        uint64_t bit = i < 64 ? (uint64_t)1 << i : 0;
        if (o.seen & bit)
            return pf_err_set(err, PF_EINVAL, "%s: duplicate key", kpath);
        o.seen |= bit;
        const struct conf_key *k = &t->keys[i];
        int rc = parse_value(k, base, it, kpath, run, err);
        if (rc != PF_OK)
            return rc;
        if (k->flags & CONF_F_MARK) {
            int one = 1;
            memcpy((char *)base + k->mark_off, &one, sizeof(one));
        }
    }
    for (size_t i = 0; i < t->nkeys && i < 64; i++) {
        if ((t->keys[i].flags & CONF_F_REQUIRED) && !(o.seen & ((uint64_t)1 << i))) {
            path_key(kpath, sizeof(kpath), path, t->keys[i].name);
            return pf_err_set(err, PF_EINVAL, "%s: missing", kpath);
        }
    }
    return t->finish != NULL ? t->finish(base, &o, err) : PF_OK;
}

/* ---- the API ---------------------------------------------------------------- */

void conf_schema_defaults(const struct conf_table *t, void *base)
{
    for (size_t i = 0; i < t->nkeys; i++) {
        const struct conf_key *k = &t->keys[i];
        char *dst = (char *)base + k->off;
        switch (k->type) {
        case CONF_T_STR:
        case CONF_T_SECRET:
        case CONF_T_PATH:
        case CONF_T_LISTEN:
            /* Through the key's checks: they may fill more (redis.url). A
             * default that fails them is a bug test_conf catches. */
            if (k->def_str != NULL && str_store(k, base, k->def_str, NULL) != PF_OK)
                dst[0] = '\0';
            break;
        case CONF_T_INT:
        case CONF_T_BOOL:
        case CONF_T_CHOICE:
            store_int(dst, k->size, k->def_int);
            break;
        case CONF_T_NUM:
            memcpy(dst, &k->def_num, sizeof(k->def_num));
            break;
        case CONF_T_PORTS: {
            const uint16_t *d = k->aux;
            uint16_t *ports = (uint16_t *)(void *)dst;
            int n = 0;
            for (; d != NULL && d[n] != 0 && n < k->max; n++)
                ports[n] = d[n];
            store_count(base, k, n);
            break;
        }
        case CONF_T_OBJECT:
            if (!(k->flags & CONF_F_LAZY))
                conf_schema_defaults(k->aux, dst);
            break;
        default:
            break;
        }
    }
    if (t->init != NULL)
        t->init(base);
}

int conf_schema_parse(const struct conf_table *t, void *base, const cJSON *obj,
                      const char *path, const struct conf_io *io,
                      struct conf_warnings *warnings, struct pf_err *err)
{
    struct conf_run run = { io, warnings };
    return parse_object(t, base, obj, path, NULL, -1, &run, err);
}

int conf_schema_set(const struct conf_table *t, void *base, const char *key_path,
                    const char *value, struct pf_err *err)
{
    const char *p = key_path;
    char *b = base;

    for (;;) {
        const char *dot = strchr(p, '.');
        size_t n = dot != NULL ? (size_t)(dot - p) : strlen(p);
        int i = find_key(t, p, n);
        if (i < 0)
            return pf_err_set(err, PF_EINVAL, "no such key");
        const struct conf_key *k = &t->keys[i];
        if (dot != NULL) {
            if (k->type != CONF_T_OBJECT)
                return pf_err_set(err, PF_EINVAL, "no such key");
            b += k->off;
            t = k->aux;
            p = dot + 1;
            continue;
        }
        if (is_string_type(k->type))
            return str_store(k, b, value, err);
        if (k->type == CONF_T_CHOICE)
            return choice_set(k, b, value, err);
        return pf_err_set(err, PF_EINVAL, "cannot be set from a string");
    }
}

void conf_schema_deinit(const struct conf_table *t, void *base)
{
    for (size_t i = 0; i < t->nkeys; i++) {
        const struct conf_key *k = &t->keys[i];
        char *dst = (char *)base + k->off;
        switch (k->type) {
        case CONF_T_SECRET:
            explicit_bzero(dst, k->size);
            break;
        case CONF_T_STRV:
            strv_free(k, base);
            break;
        case CONF_T_OBJECT:
            conf_schema_deinit(k->aux, dst);
            break;
        case CONF_T_ARRAY:
            array_free(k, base);
            break;
        default:
            break;
        }
    }
}

static void walk(const struct conf_table *t, char *path, size_t cap, conf_walk_fn fn, void *arg)
{
    size_t plen = strlen(path);
    for (size_t i = 0; i < t->nkeys; i++) {
        const struct conf_key *k = &t->keys[i];
        if (snprintf(path + plen, cap - plen, "%s%s", plen > 0 ? "." : "", k->name) < 0)
            continue;
        fn(arg, path, k);
        if (k->type == CONF_T_OBJECT) {
            walk(k->aux, path, cap, fn, arg);
        } else if (k->type == CONF_T_ARRAY) {
            size_t n = strlen(path);
            if (n + 3 <= cap) {
                memcpy(path + n, "[]", 3);
                walk(k->aux, path, cap, fn, arg);
            }
        }
        path[plen] = '\0';
    }
}

void conf_schema_walk(const struct conf_table *t, const char *prefix, conf_walk_fn fn, void *arg)
{
    char path[CONF_PATH_MAX];
    snprintf(path, sizeof(path), "%s", prefix != NULL ? prefix : "");
    walk(t, path, sizeof(path), fn, arg);
}
