#include "conf.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "addr.h"
#include "json_text.h"
#include "keys.h"
#include "line_format.h"
#include "log.h"
#include "redis_url.h"
#include "str.h"

#define CONF_FILE_MAX       (1024 * 1024)
#define CONF_PATH_MAX       160
#define CONF_PROVIDERS_MAX  256
#define CONF_STATIC_MAX     100000
#define CONF_DEFAULT_REDIS  "redis://127.0.0.1:6379/0"

enum conf_ftype {
    CONF_F_INT,      /* int, range min..max */
    CONF_F_INT64,    /* int64_t, range min..max */
    CONF_F_BOOL,     /* int 0/1 */
    CONF_F_FN,       /* custom parser */
};

struct conf_field;

/* Parses <item> into the struct at <base>; <path> names it in errors. */
typedef int (*conf_field_fn)(void *base, const cJSON *item, const char *path,
                             struct pf_err *err);

struct conf_field {
    const char     *key;
    enum conf_ftype type;
    size_t          off;        /* offset in the target struct */
    int64_t         min;
    int64_t         max;
    conf_field_fn   fn;         /* CONF_F_FN only */
};

#define CONF_INT(s, key, field, lo, hi)   { key, CONF_F_INT, offsetof(s, field), lo, hi, NULL }
#define CONF_INT64(s, key, field, lo, hi) { key, CONF_F_INT64, offsetof(s, field), lo, hi, NULL }
#define CONF_BOOL(s, key, field)          { key, CONF_F_BOOL, offsetof(s, field), 0, 1, NULL }
#define CONF_FN(key, fn)                  { key, CONF_F_FN, 0, 0, 0, fn }

/* ---- helpers ------------------------------------------------------------ */

/* snprintf() for JSON paths: a path cut short is still a useful hint. */
static void conf_pathf(char *buf, size_t len, const char *fmt, ...) PF_PRINTF(3, 4);
static void conf_pathf(char *buf, size_t len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (vsnprintf(buf, len, fmt, ap) < 0)
        buf[0] = '\0';
    va_end(ap);
}

/* Writes "<path>.<key>" (or "<key>" at the root) into <buf>; unprintable or
 * overlong keys are shown safely. */
static void conf_join(char *buf, size_t len, const char *path, const char *key)
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

static int conf_get_string(const cJSON *item, const char *path, size_t max,
                           int is_empty_ok, const char **out, struct pf_err *err)
{
    *out = NULL;   /* a definite output on every path, error ones included */
    if (!cJSON_IsString(item) || item->valuestring == NULL)
        return pf_err_set(err, PF_EINVAL, "%s: must be a string", path);
    size_t n = strlen(item->valuestring);
    if (n == 0 && !is_empty_ok)
        return pf_err_set(err, PF_EINVAL, "%s: must not be empty", path);
    if (n >= max)
        return pf_err_set(err, PF_EINVAL, "%s: longer than %zu bytes", path, max - 1);
    *out = item->valuestring;
    return PF_OK;
}

static int conf_copy_string(const cJSON *item, const char *path, char *dst, size_t dst_len,
                            int is_empty_ok, struct pf_err *err)
{
    const char *s;
    int rc = conf_get_string(item, path, dst_len, is_empty_ok, &s, err);
    if (rc != PF_OK)
        return rc;
    memcpy(dst, s, strlen(s) + 1);
    return PF_OK;
}

static int conf_get_int(const cJSON *item, const char *path, int64_t min, int64_t max,
                        int64_t *out, struct pf_err *err)
{
    if (!cJSON_IsNumber(item))
        return pf_err_set(err, PF_EINVAL, "%s: must be an integer", path);
    double v = item->valuedouble;
    if (!isfinite(v) || v != floor(v))
        return pf_err_set(err, PF_EINVAL, "%s: must be an integer", path);
    if (v < (double)min || v > (double)max)
        return pf_err_set(err, PF_EINVAL, "%s: must be %lld..%lld", path,
                          (long long)min, (long long)max);
    *out = (int64_t)v;
    return PF_OK;
}

/* Parses object <obj> at <path> into <base> by <fields>. Unknown and
 * repeated keys are errors. */
static int conf_parse_object(const cJSON *obj, const char *path, const struct conf_field *fields,
                             size_t nfields, void *base, struct pf_err *err)
{
    char fpath[CONF_PATH_MAX];
    uint64_t seen = 0;
    const cJSON *it;
    int rc;

    if (!cJSON_IsObject(obj))
        return pf_err_set(err, PF_EINVAL, "%s: must be an object",
                          path[0] != '\0' ? path : "config");
    cJSON_ArrayForEach(it, obj) {
        size_t i;
        conf_join(fpath, sizeof(fpath), path, it->string);
        for (i = 0; i < nfields; i++) {
            if (it->string != NULL && strcmp(it->string, fields[i].key) == 0)
                break;
        }
        if (i == nfields)
            return pf_err_set(err, PF_EINVAL, "%s: unknown key", fpath);
        if (seen & ((uint64_t)1 << i))
            return pf_err_set(err, PF_EINVAL, "%s: duplicate key", fpath);
        seen |= (uint64_t)1 << i;

        const struct conf_field *f = &fields[i];
        char *dst = (char *)base + f->off;
        int64_t v = 0;
        switch (f->type) {
        case CONF_F_INT:
        case CONF_F_INT64:
            rc = conf_get_int(it, fpath, f->min, f->max, &v, err);
            if (rc != PF_OK)
                return rc;
            if (f->type == CONF_F_INT) {
                int iv = (int)v;
                memcpy(dst, &iv, sizeof(iv));
            } else {
                memcpy(dst, &v, sizeof(v));
            }
            break;
        case CONF_F_BOOL:
            if (!cJSON_IsBool(it))
                return pf_err_set(err, PF_EINVAL, "%s: must be true or false", fpath);
            {
                int bv = cJSON_IsTrue(it) ? 1 : 0;
                memcpy(dst, &bv, sizeof(bv));
            }
            break;
        case CONF_F_FN:
            rc = f->fn(base, it, fpath, err);
            if (rc != PF_OK)
                return rc;
            break;
        }
    }
    return PF_OK;
}

static int conf_check_name(const cJSON *item, const char *path, char *dst, size_t dst_len,
                           struct pf_err *err)
{
    const char *s;
    int rc = conf_get_string(item, path, 1024, 0, &s, err);
    if (rc != PF_OK)
        return rc;
    if (!keys_valid_name(s) || strlen(s) >= dst_len)
        return pf_err_set(err, PF_EINVAL, "%s: must be 1..63 chars of [A-Za-z0-9_.-]", path);
    memcpy(dst, s, strlen(s) + 1);
    return PF_OK;
}

static int conf_check_listen(const cJSON *item, const char *path, char *dst, size_t dst_len,
                             int is_empty_ok, struct pf_err *err)
{
    char host[UPSTREAM_HOST_MAX];
    uint16_t port;
    struct pf_err aerr;
    int rc = conf_copy_string(item, path, dst, dst_len, is_empty_ok, err);
    if (rc != PF_OK || dst[0] == '\0')
        return rc;
    if (addr_parse_hostport(dst, host, sizeof(host), &port, &aerr) != PF_OK)
        return pf_err_set(err, PF_EINVAL, "%s: %s", path, aerr.msg);
    return PF_OK;
}

/* ---- redis ---------------------------------------------------------------- */

/* Parses redis.url <url> (common/redis_url.h) into <r>; <r> is unchanged
 * on error. */
static int conf_parse_redis_url(struct conf_redis *r, const char *url, struct pf_err *err)
{
    struct redis_url u;
    size_t n = strlen(url);

    if (n >= sizeof(r->url))
        return pf_err_set(err, PF_EINVAL, "too long");
    if (redis_url_parse(url, n, &u, err) != PF_OK)
        return PF_EINVAL;
    memcpy(r->url, url, n + 1);
    memcpy(r->host, u.host, sizeof(r->host));
    r->port = u.port;
    r->db = u.db;
    memcpy(r->password, u.pass, sizeof(r->password));
    memcpy(r->user, u.user, sizeof(r->user));
    memcpy(r->unix_path, u.path, sizeof(r->unix_path));
    memset(&u, 0, sizeof(u));
    return PF_OK;
}

/* The redis settings that only make sense together. */
static int conf_redis_check(const struct conf_redis *r, struct pf_err *err)
{
    if (r->nsentinels > 0 && r->master_name[0] == '\0')
        return pf_err_set(err, PF_EINVAL, "redis.master_name: required with redis.sentinels");
    if (r->nsentinels == 0 && r->master_name[0] != '\0')
        return pf_err_set(err, PF_EINVAL, "redis.sentinels: required with redis.master_name");
    if (r->nsentinels > 0 && r->unix_path[0] != '\0')
        return pf_err_set(err, PF_EINVAL, "redis.url: unix:// cannot be used with "
                          "redis.sentinels (the sentinels name the master's TCP address)");
    if (r->nsentinels == 0 && (r->sentinel_password[0] != '\0' || r->sentinel_user[0] != '\0'))
        return pf_err_set(err, PF_EINVAL, "redis.sentinel_password: set without redis.sentinels");
    if (r->sentinel_user[0] != '\0' && r->sentinel_password[0] == '\0')
        return pf_err_set(err, PF_EINVAL, "redis.sentinel_user: needs redis.sentinel_password");
    return PF_OK;
}

/* One "host:port" of redis.sentinels (<len> bytes at <s>) appended to <r>. */
static int conf_add_sentinel(struct conf_redis *r, const char *s, size_t len, struct pf_err *err)
{
    char buf[UPSTREAM_HOST_MAX + 8];
    struct pf_err aerr;

    if (r->nsentinels >= CONF_SENTINELS_MAX)
        return pf_err_set(err, PF_EINVAL, "more than %d sentinels", CONF_SENTINELS_MAX);
    if (len == 0 || len >= sizeof(buf))
        return pf_err_set(err, PF_EINVAL, "must be host:port");
    memcpy(buf, s, len);
    buf[len] = '\0';
    struct conf_sentinel *sn = &r->sentinels[r->nsentinels];
    if (addr_parse_hostport(buf, sn->host, sizeof(sn->host), &sn->port, &aerr) != PF_OK)
        return pf_err_set(err, PF_EINVAL, "must be host:port: %s", aerr.msg);
    for (int i = 0; i < r->nsentinels; i++)
        if (r->sentinels[i].port == sn->port && strcmp(r->sentinels[i].host, sn->host) == 0)
            return pf_err_set(err, PF_EINVAL, "sentinel listed twice");
    r->nsentinels++;
    return PF_OK;
}

static int conf_redis_sentinels(void *base, const cJSON *item, const char *path,
                                struct pf_err *err)
{
    struct conf_redis *r = base;
    char ipath[CONF_PATH_MAX];
    const cJSON *it;
    int i = 0;

    if (!cJSON_IsArray(item))
        return pf_err_set(err, PF_EINVAL, "%s: must be an array of \"host:port\"", path);
    r->nsentinels = 0;
    cJSON_ArrayForEach(it, item) {
        const char *s;
        conf_pathf(ipath, sizeof(ipath), "%s[%d]", path, i++);
        if (conf_get_string(it, ipath, UPSTREAM_HOST_MAX + 8, 0, &s, err) != PF_OK)
            return PF_EINVAL;
        if (conf_add_sentinel(r, s, strlen(s), err) != PF_OK) {
            pf_err_prefix(err, "%s: ", ipath);
            return PF_EINVAL;
        }
    }
    return PF_OK;
}

static int conf_redis_master_name(void *base, const cJSON *item, const char *path,
                                  struct pf_err *err)
{
    struct conf_redis *r = base;
    return conf_check_name(item, path, r->master_name, sizeof(r->master_name), err);
}

static int conf_redis_sentinel_user(void *base, const cJSON *item, const char *path,
                                    struct pf_err *err)
{
    struct conf_redis *r = base;
    return conf_copy_string(item, path, r->sentinel_user, sizeof(r->sentinel_user), 1, err);
}

static int conf_redis_sentinel_password(void *base, const cJSON *item, const char *path,
                                        struct pf_err *err)
{
    struct conf_redis *r = base;
    return conf_copy_string(item, path, r->sentinel_password, sizeof(r->sentinel_password), 1,
                            err);
}

static int conf_redis_url(void *base, const cJSON *item, const char *path, struct pf_err *err)
{
    const char *s;
    int rc = conf_get_string(item, path, CONF_URL_MAX, 0, &s, err);
    if (rc != PF_OK)
        return rc;
    if (conf_parse_redis_url(base, s, err) != PF_OK) {
        pf_err_prefix(err, "%s: ", path);
        return PF_EINVAL;
    }
    return PF_OK;
}

static int conf_redis_prefix(void *base, const cJSON *item, const char *path, struct pf_err *err)
{
    struct conf_redis *r = base;
    struct keys k;
    const char *s;
    int rc = conf_get_string(item, path, sizeof(r->prefix), 0, &s, err);
    if (rc != PF_OK)
        return rc;
    if (keys_init(&k, s, NULL) != PF_OK)
        return pf_err_set(err, PF_EINVAL, "%s: must be 1..%d chars of [A-Za-z0-9_.-]",
                          path, KEYS_PREFIX_MAX);
    memcpy(r->prefix, s, strlen(s) + 1);
    return PF_OK;
}

static int conf_redis_credential_key_file(void *base, const cJSON *item, const char *path,
                                          struct pf_err *err)
{
    struct conf_redis *r = base;
    return conf_copy_string(item, path, r->credential_key_file, sizeof(r->credential_key_file), 1,
                            err);
}

static const struct conf_field conf_redis_fields[] = {
    CONF_FN("url", conf_redis_url),
    CONF_FN("prefix", conf_redis_prefix),
    CONF_FN("credential_key_file", conf_redis_credential_key_file),
    CONF_INT(struct conf_redis, "connect_timeout_ms", connect_timeout_ms, 1, 600000),
    CONF_INT(struct conf_redis, "command_timeout_ms", command_timeout_ms, 1, 600000),
    CONF_FN("sentinels", conf_redis_sentinels),
    CONF_FN("master_name", conf_redis_master_name),
    CONF_FN("sentinel_user", conf_redis_sentinel_user),
    CONF_FN("sentinel_password", conf_redis_sentinel_password),
};

/* ---- log ------------------------------------------------------------------ */

static int conf_set_level(char *dst, size_t dst_len, const char *s)
{
    enum pf_log_level lvl;
    static const char *const names[] = { "error", "warn", "info", "debug" };
    if (log_parse_level(s, &lvl) != PF_OK || (size_t)lvl >= PF_ARRAY_LEN(names))
        return PF_EINVAL;
    snprintf(dst, dst_len, "%s", names[lvl]);
    return PF_OK;
}

static int conf_log_level(void *base, const cJSON *item, const char *path, struct pf_err *err)
{
    struct conf *c = base;
    const char *s;
    int rc = conf_get_string(item, path, 64, 0, &s, err);
    if (rc != PF_OK)
        return rc;
    if (conf_set_level(c->log_level, sizeof(c->log_level), s) != PF_OK)
        return pf_err_set(err, PF_EINVAL, "%s: must be error, warn, info or debug", path);
    return PF_OK;
}

static int conf_log_format(void *base, const cJSON *item, const char *path, struct pf_err *err)
{
    struct conf *c = base;
    enum pf_log_format fmt;
    const char *s;
    int rc = conf_get_string(item, path, 64, 0, &s, err);
    if (rc != PF_OK)
        return rc;
    if (log_parse_format(s, &fmt) != PF_OK)
        return pf_err_set(err, PF_EINVAL, "%s: must be text or json", path);
    snprintf(c->log_format, sizeof(c->log_format), "%s", log_format_name(fmt));
    return PF_OK;
}

static const struct conf_field conf_log_fields[] = {
    CONF_FN("level", conf_log_level),
    CONF_FN("format", conf_log_format),
};

/* ---- providers ------------------------------------------------------------ */

static int conf_cidr_list(const cJSON *item, const char *path, struct conf_cidr *out, int *n,
                          struct pf_err *err);

/* An upstream policy: false, true, or an array of CIDR strings (see
 * struct conf_upstream_policy). */
static int conf_upstream_policy(const cJSON *item, const char *path,
                                struct conf_upstream_policy *out, struct pf_err *err)
{
    memset(out, 0, sizeof(*out));
    if (cJSON_IsBool(item)) {
        out->is_private_allowed = cJSON_IsTrue(item) ? 1 : 0;
        return PF_OK;
    }
    if (!cJSON_IsArray(item))
        return pf_err_set(err, PF_EINVAL, "%s: must be true, false or an array of CIDRs", path);
    return conf_cidr_list(item, path, out->allow, &out->nallow, err);
}

static int conf_prov_name(void *base, const cJSON *item, const char *path, struct pf_err *err)
{
    struct conf_provider *p = base;
    return conf_check_name(item, path, p->name, sizeof(p->name), err);
}

/* One accepted spelling of an enum-valued string key. */
struct conf_choice {
    const char *name;
    int         value;
};

/* Maps string <item> to the value of the matching entry of <choices>
 * (<n> entries) in <*out>. The error lists every choice: "must be a, b or c". */
static int conf_get_choice(const cJSON *item, const char *path, const struct conf_choice *choices,
                           size_t n, int *out, struct pf_err *err)
{
    const char *s;
    *out = 0;   /* a definite output on every path, error ones included */
    int rc = conf_get_string(item, path, 64, 0, &s, err);
    if (rc != PF_OK)
        return rc;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(s, choices[i].name) == 0) {
            *out = choices[i].value;
            return PF_OK;
        }
    }
    char list[192];
    size_t used = 0;
    list[0] = '\0';
    for (size_t i = 0; i < n && used < sizeof(list); i++) {
        const char *sep = i == 0 ? "" : (i + 1 == n ? " or " : ", ");
        int w = snprintf(list + used, sizeof(list) - used, "%s%s", sep, choices[i].name);
        if (w < 0)
            break;
        used += (size_t)w;
    }
    return pf_err_set(err, PF_EINVAL, "%s: must be %s", path, list);
}

static int conf_prov_type(void *base, const cJSON *item, const char *path, struct pf_err *err)
{
    static const struct conf_choice choices[] = {
        { "static", CONF_PROVIDER_STATIC },
        { "api", CONF_PROVIDER_API },
        { "file", CONF_PROVIDER_FILE },
    };
    struct conf_provider *p = base;
    int v;
    int rc = conf_get_choice(item, path, choices, PF_ARRAY_LEN(choices), &v, err);
    if (rc == PF_OK)
        p->type = (enum conf_provider_type)v;
    return rc;
}

static int conf_prov_format(void *base, const cJSON *item, const char *path, struct pf_err *err)
{
    static const struct conf_choice choices[] = {
        { "lines", CONF_FORMAT_LINES },
        { "json", CONF_FORMAT_JSON },
    };
    struct conf_provider *p = base;
    int v;
    int rc = conf_get_choice(item, path, choices, PF_ARRAY_LEN(choices), &v, err);
    if (rc == PF_OK)
        p->format = (enum conf_body_format)v;
    return rc;
}

static int conf_prov_url(void *base, const cJSON *item, const char *path, struct pf_err *err)
{
    struct conf_provider *p = base;
    const char *s;
    size_t skip;
    /* The URL may carry an API key: errors describe it, never quote it. */
    int rc = conf_get_string(item, path, sizeof(p->url), 0, &s, err);
    if (rc != PF_OK)
        return rc;
    if (strncasecmp(s, "http://", 7) == 0)
        skip = 7;
    else if (strncasecmp(s, "https://", 8) == 0)
        skip = 8;
    else
        return pf_err_set(err, PF_EINVAL, "%s: must start with http:// or https://", path);
    for (const char *q = s; *q != '\0'; q++) {
        unsigned char ch = (unsigned char)*q;
        if (ch <= 0x20 || ch >= 0x7f)
            return pf_err_set(err, PF_EINVAL, "%s: invalid character in URL", path);
    }
    if (s[skip] == '\0' || s[skip] == '/' || s[skip] == '?' || s[skip] == '#' ||
        s[skip] == ':')
        return pf_err_set(err, PF_EINVAL, "%s: missing host", path);
    memcpy(p->url, s, strlen(s) + 1);
    return PF_OK;
}

static int conf_parse_scheme(const char *s, enum upstream_scheme *out)
{
    static const enum upstream_scheme all[] = {
        UPSTREAM_HTTP, UPSTREAM_HTTPS, UPSTREAM_SOCKS5, UPSTREAM_SOCKS5H,
    };
    for (size_t i = 0; i < PF_ARRAY_LEN(all); i++) {
        if (strcmp(s, addr_scheme_name(all[i])) == 0) {
            *out = all[i];
            return PF_OK;
        }
    }
    return PF_EINVAL;
}

static int conf_prov_scheme(void *base, const cJSON *item, const char *path, struct pf_err *err)
{
    struct conf_provider *p = base;
    const char *s;
    int rc = conf_get_string(item, path, 64, 0, &s, err);
    if (rc != PF_OK)
        return rc;
    if (conf_parse_scheme(s, &p->default_scheme) != PF_OK)
        return pf_err_set(err, PF_EINVAL, "%s: must be http, https, socks5 or socks5h", path);
    return PF_OK;
}

static int conf_prov_allow_private(void *base, const cJSON *item, const char *path,
                                   struct pf_err *err)
{
    struct conf_provider *p = base;
    return conf_upstream_policy(item, path, &p->allow_private, err);
}

static int conf_prov_line_format(void *base, const cJSON *item, const char *path,
                                 struct pf_err *err)
{
    struct conf_provider *p = base;
    struct line_format lf;
    struct pf_err lerr;
    int rc = conf_copy_string(item, path, p->line_format, sizeof(p->line_format), 0, err);
    if (rc != PF_OK)
        return rc;
    pf_err_clear(&lerr);
    if (line_format_compile(p->line_format, &lf, &lerr) != PF_OK)
        return pf_err_set(err, PF_EINVAL, "%s: %s", path, lerr.msg);
    return PF_OK;
}

static void conf_free_static(struct conf_provider *p)
{
    for (int i = 0; i < p->nstatic; i++)
        free(p->static_upstreams[i]);
    free(p->static_upstreams);
    p->static_upstreams = NULL;
    p->nstatic = 0;
}

static int conf_prov_upstreams(void *base, const cJSON *item, const char *path,
                               struct pf_err *err)
{
    struct conf_provider *p = base;
    char ipath[CONF_PATH_MAX];
    const cJSON *it;
    int n, i = 0;

    if (!cJSON_IsArray(item))
        return pf_err_set(err, PF_EINVAL, "%s: must be an array of strings", path);
    n = cJSON_GetArraySize(item);
    if (n > CONF_STATIC_MAX)
        return pf_err_set(err, PF_EINVAL, "%s: more than %d entries", path, CONF_STATIC_MAX);
    conf_free_static(p);
    if (n == 0)
        return PF_OK;
    p->static_upstreams = calloc((size_t)n, sizeof(char *));
    if (p->static_upstreams == NULL)
        return pf_err_set(err, PF_ENOMEM, "%s: out of memory", path);
    cJSON_ArrayForEach(it, item) {
        const char *s;
        conf_pathf(ipath, sizeof(ipath), "%s[%d]", path, i);
        int rc = conf_get_string(it, ipath, 4096, 0, &s, err);
        if (rc != PF_OK)
            return rc;
        p->static_upstreams[i] = strdup(s);
        if (p->static_upstreams[i] == NULL)
            return pf_err_set(err, PF_ENOMEM, "%s: out of memory", ipath);
        p->nstatic = ++i;
    }
    return PF_OK;
}

/* ---- provider formats, errors, auth (see docs/providers.md) ----------------- */

#define CONF_STR_FN(fname, type, member, is_empty_ok)                                  \
    static int fname(void *base, const cJSON *item, const char *path, struct pf_err *err) \
    {                                                                                  \
        type *t = base;                                                                \
        return conf_copy_string(item, path, t->member, sizeof(t->member), is_empty_ok, err); \
    }

static int conf_json_scalars(const cJSON *item, const char *path,
                             char (*equals)[CONF_FIELD_MAX], int *n, struct pf_err *err);

CONF_STR_FN(conf_json_list, struct conf_provider_json, list, 1)
CONF_STR_FN(conf_json_host, struct conf_provider_json, host, 0)
CONF_STR_FN(conf_json_port, struct conf_provider_json, port, 1)
CONF_STR_FN(conf_json_user, struct conf_provider_json, user, 1)
CONF_STR_FN(conf_json_pass, struct conf_provider_json, pass, 1)
CONF_STR_FN(conf_json_scheme, struct conf_provider_json, scheme, 1)
CONF_STR_FN(conf_json_expire, struct conf_provider_json, expire, 1)

static int conf_json_expire_kind(void *base, const cJSON *item, const char *path,
                                 struct pf_err *err)
{
    static const char *const names[] = { "timestamp", "epoch_s", "epoch_ms", "lifetime_s" };
    struct conf_provider_json *j = base;
    const char *s;
    int rc = conf_get_string(item, path, 64, 0, &s, err);
    if (rc != PF_OK)
        return rc;
    for (size_t i = 0; i < PF_ARRAY_LEN(names); i++) {
        if (strcmp(s, names[i]) == 0) {
            j->expire_kind = (enum conf_expire_kind)i;
            return PF_OK;
        }
    }
    return pf_err_set(err, PF_EINVAL, "%s: must be timestamp, epoch_s, epoch_ms or lifetime_s",
                      path);
}

static int conf_json_success_field(void *base, const cJSON *item, const char *path,
                                   struct pf_err *err)
{
    struct conf_provider_json *j = base;
    return conf_copy_string(item, path, j->success_field, sizeof(j->success_field), 0, err);
}

static int conf_json_success_equals(void *base, const cJSON *item, const char *path,
                                    struct pf_err *err)
{
    struct conf_provider_json *j = base;
    /* null is no success value a config can mean. */
    return conf_json_scalars(item, path, j->success_equals, &j->nsuccess_equals, err);
}

static const struct conf_field conf_success_fields[] = {
    CONF_FN("field", conf_json_success_field),
    CONF_FN("equals", conf_json_success_equals),
};

static int conf_json_success(void *base, const cJSON *item, const char *path,
                             struct pf_err *err)
{
    struct conf_provider_json *j = base;
    int rc = conf_parse_object(item, path, conf_success_fields,
                               PF_ARRAY_LEN(conf_success_fields), j, err);
    if (rc != PF_OK)
        return rc;
    if (j->success_field[0] == '\0' || j->nsuccess_equals == 0)
        return pf_err_set(err, PF_EINVAL, "%s: needs field and equals", path);
    return PF_OK;
}

/* Array of 1..CONF_MATCH_MAX scalars into <equals>, canonical text. */
static int conf_json_scalars(const cJSON *item, const char *path,
                             char (*equals)[CONF_FIELD_MAX], int *n, struct pf_err *err)
{
    const cJSON *it;
    int i = 0;

    if (!cJSON_IsArray(item) || cJSON_GetArraySize(item) < 1 ||
        cJSON_GetArraySize(item) > CONF_MATCH_MAX)
        return pf_err_set(err, PF_EINVAL, "%s: must be an array of 1..%d scalars",
                          path, CONF_MATCH_MAX);
    cJSON_ArrayForEach(it, item) {
        if (cJSON_IsNull(it) || json_scalar_text(it, equals[i], CONF_FIELD_MAX) != PF_OK)
            return pf_err_set(err, PF_EINVAL, "%s[%d]: must be a number, string or boolean",
                              path, i);
        i++;
    }
    *n = i;
    return PF_OK;
}

CONF_STR_FN(conf_json_filter_field, struct conf_provider_json, filter_field, 0)

static int conf_json_filter_equals(void *base, const cJSON *item, const char *path,
                                   struct pf_err *err)
{
    struct conf_provider_json *j = base;
    return conf_json_scalars(item, path, j->filter_equals, &j->nfilter_equals, err);
}

static const struct conf_field conf_filter_fields[] = {
    CONF_FN("field", conf_json_filter_field),
    CONF_FN("equals", conf_json_filter_equals),
};

static int conf_json_filter(void *base, const cJSON *item, const char *path, struct pf_err *err)
{
    struct conf_provider_json *j = base;
    int rc = conf_parse_object(item, path, conf_filter_fields, PF_ARRAY_LEN(conf_filter_fields),
                               j, err);
    if (rc != PF_OK)
        return rc;
    if (j->filter_field[0] == '\0' || j->nfilter_equals == 0)
        return pf_err_set(err, PF_EINVAL, "%s: needs field and equals", path);
    return PF_OK;
}

CONF_STR_FN(conf_json_label_country, struct conf_provider_json, label_country, 0)
CONF_STR_FN(conf_json_label_city, struct conf_provider_json, label_city, 0)
CONF_STR_FN(conf_json_label_isp, struct conf_provider_json, label_isp, 0)

static const struct conf_field conf_labels_fields[] = {
    CONF_FN("country", conf_json_label_country),
    CONF_FN("city", conf_json_label_city),
    CONF_FN("isp", conf_json_label_isp),
};

static int conf_json_labels(void *base, const cJSON *item, const char *path, struct pf_err *err)
{
    return conf_parse_object(item, path, conf_labels_fields, PF_ARRAY_LEN(conf_labels_fields),
                             base, err);
}

CONF_STR_FN(conf_json_next, struct conf_provider_json, next, 0)

static const struct conf_field conf_json_fields[] = {
    CONF_FN("list", conf_json_list),
    CONF_FN("host", conf_json_host),
    CONF_FN("port", conf_json_port),
    CONF_FN("user", conf_json_user),
    CONF_FN("pass", conf_json_pass),
    CONF_FN("scheme", conf_json_scheme),
    CONF_FN("expire", conf_json_expire),
    CONF_FN("expire_kind", conf_json_expire_kind),
    CONF_INT(struct conf_provider_json, "expire_tz_offset_min", expire_tz_offset_min,
             -24 * 60, 24 * 60),
    CONF_FN("success", conf_json_success),
    CONF_FN("filter", conf_json_filter),
    CONF_FN("labels", conf_json_labels),
    CONF_FN("next", conf_json_next),
};

static int conf_prov_json(void *base, const cJSON *item, const char *path, struct pf_err *err)
{
    struct conf_provider *p = base;
    return conf_parse_object(item, path, conf_json_fields, PF_ARRAY_LEN(conf_json_fields),
                             &p->json, err);
}

CONF_STR_FN(conf_err_code_field, struct conf_provider_errors, code_field, 0)
CONF_STR_FN(conf_err_message_field, struct conf_provider_errors, message_field, 0)

static int conf_err_codes(void *base, const cJSON *item, const char *path, struct pf_err *err)
{
    struct conf_provider_errors *e = base;
    const cJSON *it;

    if (!cJSON_IsObject(item) || cJSON_GetArraySize(item) > CONF_CODES_MAX)
        return pf_err_set(err, PF_EINVAL, "%s: must be an object of at most %d codes",
                          path, CONF_CODES_MAX);
    e->ncodes = 0;
    cJSON_ArrayForEach(it, item) {
        struct conf_provider_code *c = &e->codes[e->ncodes];
        if (it->string == NULL || it->string[0] == '\0' ||
            strlen(it->string) >= sizeof(c->code))
            return pf_err_set(err, PF_EINVAL, "%s: codes must be 1..%zu chars", path,
                              sizeof(c->code) - 1);
        if (!cJSON_IsString(it) || (strcmp(it->valuestring, "fatal") != 0 &&
                                    strcmp(it->valuestring, "transient") != 0))
            return pf_err_set(err, PF_EINVAL, "%s: values must be fatal or transient", path);
        memcpy(c->code, it->string, strlen(it->string) + 1);
        c->is_fatal = strcmp(it->valuestring, "fatal") == 0;
        e->ncodes++;
    }
    return PF_OK;
}

static int conf_words(const cJSON *item, const char *path, char (*words)[CONF_FIELD_MAX],
                      int *n, struct pf_err *err)
{
    char ipath[CONF_PATH_MAX];
    const cJSON *it;
    int i = 0;

    if (!cJSON_IsArray(item) || cJSON_GetArraySize(item) > CONF_WORDS_MAX)
        return pf_err_set(err, PF_EINVAL, "%s: must be an array of at most %d strings",
                          path, CONF_WORDS_MAX);
    cJSON_ArrayForEach(it, item) {
        conf_pathf(ipath, sizeof(ipath), "%s[%d]", path, i);
        int rc = conf_copy_string(it, ipath, words[i], CONF_FIELD_MAX, 0, err);
        if (rc != PF_OK)
            return rc;
        i++;
    }
    *n = i;
    return PF_OK;
}

static int conf_err_fatal_words(void *base, const cJSON *item, const char *path,
                                struct pf_err *err)
{
    struct conf_provider_errors *e = base;
    return conf_words(item, path, e->fatal_words, &e->nfatal_words, err);
}

static int conf_err_transient_words(void *base, const cJSON *item, const char *path,
                                    struct pf_err *err)
{
    struct conf_provider_errors *e = base;
    return conf_words(item, path, e->transient_words, &e->ntransient_words, err);
}

static const struct conf_field conf_errors_fields[] = {
    CONF_FN("code_field", conf_err_code_field),
    CONF_FN("message_field", conf_err_message_field),
    CONF_FN("codes", conf_err_codes),
    CONF_FN("fatal_words", conf_err_fatal_words),
    CONF_FN("transient_words", conf_err_transient_words),
};

static int conf_prov_errors(void *base, const cJSON *item, const char *path, struct pf_err *err)
{
    struct conf_provider *p = base;
    return conf_parse_object(item, path, conf_errors_fields, PF_ARRAY_LEN(conf_errors_fields),
                             &p->errors, err);
}

static int conf_auth_type(void *base, const cJSON *item, const char *path, struct pf_err *err)
{
    static const struct conf_choice choices[] = {
        { "header", CONF_AUTH_HEADER },
        { "basic", CONF_AUTH_BASIC },
    };
    struct conf_provider_auth *a = base;
    int v;
    int rc = conf_get_choice(item, path, choices, PF_ARRAY_LEN(choices), &v, err);
    if (rc == PF_OK)
        a->kind = (enum conf_auth_kind)v;
    return rc;
}

/* Header names are RFC 9110 tokens. */
static int conf_auth_name(void *base, const cJSON *item, const char *path, struct pf_err *err)
{
    struct conf_provider_auth *a = base;
    int rc = conf_copy_string(item, path, a->name, sizeof(a->name), 0, err);
    if (rc != PF_OK)
        return rc;
    for (const char *q = a->name; *q != '\0'; q++) {
        if (strchr("!#$%&'*+-.^_`|~", *q) == NULL &&
            !((*q >= '0' && *q <= '9') || (*q >= 'a' && *q <= 'z') || (*q >= 'A' && *q <= 'Z')))
            return pf_err_set(err, PF_EINVAL, "%s: invalid header name", path);
    }
    return PF_OK;
}

/* A secret: printable ASCII; errors describe the value, never quote it. */
static int conf_auth_secret(const cJSON *item, const char *path, char *dst, size_t len,
                            struct pf_err *err)
{
    int rc = conf_copy_string(item, path, dst, len, 0, err);
    if (rc != PF_OK)
        return rc;
    for (const char *q = dst; *q != '\0'; q++) {
        if ((unsigned char)*q < 0x20 || (unsigned char)*q >= 0x7f)
            return pf_err_set(err, PF_EINVAL, "%s: invalid character", path);
    }
    return PF_OK;
}

static int conf_auth_value(void *base, const cJSON *item, const char *path, struct pf_err *err)
{
    struct conf_provider_auth *a = base;
    return conf_auth_secret(item, path, a->value, sizeof(a->value), err);
}

static int conf_auth_user(void *base, const cJSON *item, const char *path, struct pf_err *err)
{
    struct conf_provider_auth *a = base;
    return conf_auth_secret(item, path, a->user, sizeof(a->user), err);
}

static int conf_auth_pass(void *base, const cJSON *item, const char *path, struct pf_err *err)
{
    struct conf_provider_auth *a = base;
    return conf_auth_secret(item, path, a->pass, sizeof(a->pass), err);
}

static const struct conf_field conf_auth_fields[] = {
    CONF_FN("type", conf_auth_type),
    CONF_FN("name", conf_auth_name),
    CONF_FN("value", conf_auth_value),
    CONF_FN("user", conf_auth_user),
    CONF_FN("pass", conf_auth_pass),
};

static int conf_prov_auth(void *base, const cJSON *item, const char *path, struct pf_err *err)
{
    struct conf_provider *p = base;
    struct conf_provider_auth *a = &p->auth;
    int rc = conf_parse_object(item, path, conf_auth_fields, PF_ARRAY_LEN(conf_auth_fields),
                               a, err);
    if (rc != PF_OK)
        return rc;
    if (a->kind == CONF_AUTH_NONE)
        return pf_err_set(err, PF_EINVAL, "%s.type: missing", path);
    if (a->kind == CONF_AUTH_HEADER && (a->name[0] == '\0' || a->value[0] == '\0' ||
                                        a->user[0] != '\0' || a->pass[0] != '\0'))
        return pf_err_set(err, PF_EINVAL, "%s: type header needs name and value only", path);
    if (a->kind == CONF_AUTH_BASIC && (a->user[0] == '\0' || a->name[0] != '\0' ||
                                       a->value[0] != '\0' || strchr(a->user, ':') != NULL))
        return pf_err_set(err, PF_EINVAL, "%s: type basic needs user (no ':') and pass only",
                          path);
    return PF_OK;
}

static int conf_prov_method(void *base, const cJSON *item, const char *path, struct pf_err *err)
{
    static const struct conf_choice choices[] = {
        { "GET", 0 },
        { "POST", 1 },
    };
    struct conf_provider *p = base;
    int v;
    int rc = conf_get_choice(item, path, choices, PF_ARRAY_LEN(choices), &v, err);
    if (rc == PF_OK)
        p->is_post = v;
    return rc;
}

CONF_STR_FN(conf_prov_body, struct conf_provider, request_body, 1)
CONF_STR_FN(conf_prov_path, struct conf_provider, path, 0)

static int conf_prov_content_type(void *base, const cJSON *item, const char *path,
                                  struct pf_err *err)
{
    struct conf_provider *p = base;
    int rc = conf_copy_string(item, path, p->content_type, sizeof(p->content_type), 0, err);
    if (rc != PF_OK)
        return rc;
    for (const char *q = p->content_type; *q != '\0'; q++) {
        if ((unsigned char)*q < 0x20 || (unsigned char)*q >= 0x7f)
            return pf_err_set(err, PF_EINVAL, "%s: invalid character", path);
    }
    return PF_OK;
}

static int conf_prov_separator(void *base, const cJSON *item, const char *path,
                               struct pf_err *err)
{
    struct conf_provider *p = base;
    int rc = conf_copy_string(item, path, p->separators, sizeof(p->separators), 0, err);
    if (rc != PF_OK)
        return rc;
    for (const char *q = p->separators; *q != '\0'; q++) {
        /* Characters of an address cannot separate addresses. */
        if ((unsigned char)*q <= 0x20 || (unsigned char)*q >= 0x7f ||
            strchr(":@/[]._-%", *q) != NULL ||
            (*q >= '0' && *q <= '9') || (*q >= 'a' && *q <= 'z') || (*q >= 'A' && *q <= 'Z'))
            return pf_err_set(err, PF_EINVAL, "%s: this character cannot separate addresses",
                              path);
    }
    return PF_OK;
}

static const struct conf_field conf_provider_fields[] = {
    CONF_FN("name", conf_prov_name),
    CONF_FN("method", conf_prov_method),
    CONF_FN("body", conf_prov_body),
    CONF_FN("content_type", conf_prov_content_type),
    CONF_FN("auth", conf_prov_auth),
    CONF_FN("path", conf_prov_path),
    CONF_FN("separator", conf_prov_separator),
    CONF_FN("json", conf_prov_json),
    CONF_FN("errors", conf_prov_errors),
    CONF_FN("type", conf_prov_type),
    CONF_FN("format", conf_prov_format),
    CONF_FN("url", conf_prov_url),
    CONF_FN("upstreams", conf_prov_upstreams),
    CONF_FN("default_scheme", conf_prov_scheme),
    CONF_INT(struct conf_provider, "interval_ms", interval_ms, 10, 86400000),
    CONF_INT(struct conf_provider, "timeout_ms", timeout_ms, 1, 600000),
    CONF_INT(struct conf_provider, "connect_timeout_ms", connect_timeout_ms, 1, 600000),
    CONF_INT64(struct conf_provider, "max_body_bytes", max_body_bytes, 1, 64 * 1024 * 1024),
    CONF_INT(struct conf_provider, "ttl_s", ttl_s, 1, 30 * 86400),
    CONF_INT(struct conf_provider, "priority", priority, -1000000, 1000000),
    CONF_FN("allow_private", conf_prov_allow_private),
    CONF_FN("line_format", conf_prov_line_format),
    CONF_INT(struct conf_provider, "tier", tier, 0, UPSTREAM_TIER_MAX),
    CONF_INT(struct conf_provider, "max_pages", max_pages, 1, 1000),
    CONF_INT(struct conf_provider, "retry_base_ms", retry_base_ms, 1, 3600000),
    CONF_INT(struct conf_provider, "retry_cap_ms", retry_cap_ms, 1, 3600000),
    CONF_INT(struct conf_provider, "retry_attempts", retry_attempts, 1, 10),
    CONF_INT(struct conf_provider, "breaker_failures", breaker_failures, 1, 1000),
    CONF_INT(struct conf_provider, "breaker_open_ms", breaker_open_ms, 1, 86400000),
    CONF_INT(struct conf_provider, "breaker_open_max_ms", breaker_open_max_ms, 1, 86400000),
    CONF_INT(struct conf_provider, "fatal_recheck_s", fatal_recheck_s, 1, 7 * 86400),
};

/* Checks what only the whole provider object can tell: required keys, keys
 * that belong to the other type, and the static addresses. */
static int conf_provider_finish(struct conf_provider *p, const cJSON *obj, const char *path,
                                struct pf_err *err)
{
    char ipath[CONF_PATH_MAX];
    struct upstream u;
    struct pf_err aerr;

    if (!cJSON_HasObjectItem(obj, "name"))
        return pf_err_set(err, PF_EINVAL, "%s.name: missing", path);
    if (!cJSON_HasObjectItem(obj, "type"))
        return pf_err_set(err, PF_EINVAL, "%s.type: missing", path);
    if (p->retry_cap_ms < p->retry_base_ms)
        return pf_err_set(err, PF_EINVAL, "%s.retry_cap_ms: must be >= retry_base_ms (%d)",
                          path, p->retry_base_ms);
    if (p->breaker_open_max_ms < p->breaker_open_ms)
        return pf_err_set(err, PF_EINVAL,
                          "%s.breaker_open_max_ms: must be >= breaker_open_ms (%d)",
                          path, p->breaker_open_ms);
    if (p->type != CONF_PROVIDER_API) {
        static const char *const api_only[] = { "url", "method", "body", "content_type",
                                                "auth", "timeout_ms", "connect_timeout_ms" };
        for (size_t i = 0; i < PF_ARRAY_LEN(api_only); i++) {
            if (cJSON_HasObjectItem(obj, api_only[i]))
                return pf_err_set(err, PF_EINVAL, "%s.%s: only valid for type api",
                                  path, api_only[i]);
        }
    }
    if (p->type != CONF_PROVIDER_FILE && cJSON_HasObjectItem(obj, "path"))
        return pf_err_set(err, PF_EINVAL, "%s.path: only valid for type file", path);
    if (p->format != CONF_FORMAT_JSON && cJSON_HasObjectItem(obj, "json"))
        return pf_err_set(err, PF_EINVAL, "%s.json: only valid for format json", path);
    if ((p->format != CONF_FORMAT_LINES || p->type == CONF_PROVIDER_STATIC) &&
        cJSON_HasObjectItem(obj, "line_format"))
        return pf_err_set(err, PF_EINVAL, "%s.line_format: only valid for format lines", path);
    if (cJSON_HasObjectItem(obj, "max_pages") &&
        (p->format != CONF_FORMAT_JSON || p->json.next[0] == '\0' || p->type != CONF_PROVIDER_API))
        return pf_err_set(err, PF_EINVAL, "%s.max_pages: only valid for type api with json.next",
                          path);
    if (p->json.next[0] != '\0' && p->type != CONF_PROVIDER_API)
        return pf_err_set(err, PF_EINVAL, "%s.json.next: only valid for type api", path);
    if ((p->request_body[0] != '\0' || p->content_type[0] != '\0') && !p->is_post)
        return pf_err_set(err, PF_EINVAL, "%s.body: only valid for method POST", path);
    if (p->type == CONF_PROVIDER_FILE) {
        if (!cJSON_HasObjectItem(obj, "path"))
            return pf_err_set(err, PF_EINVAL, "%s.path: missing", path);
        if (cJSON_HasObjectItem(obj, "upstreams"))
            return pf_err_set(err, PF_EINVAL, "%s.upstreams: only valid for type static", path);
    } else if (p->type == CONF_PROVIDER_STATIC) {
        static const char *const api_only[] = { "format", "interval_ms", "max_body_bytes",
                                                "separator", "errors" };
        for (size_t i = 0; i < PF_ARRAY_LEN(api_only); i++) {
            if (cJSON_HasObjectItem(obj, api_only[i]))
                return pf_err_set(err, PF_EINVAL, "%s.%s: only valid for type api",
                                  path, api_only[i]);
        }
        if (!cJSON_HasObjectItem(obj, "upstreams"))
            return pf_err_set(err, PF_EINVAL, "%s.upstreams: missing", path);
        for (int i = 0; i < p->nstatic; i++) {
            const char *s = p->static_upstreams[i];
            conf_pathf(ipath, sizeof(ipath), "%s.upstreams[%d]", path, i);
            if (addr_parse_upstream(s, strlen(s), p->default_scheme, &u, &aerr) != PF_OK ||
                addr_validate_upstream(&u, &p->allow_private, &aerr) != PF_OK) {
                memset(&u, 0, sizeof(u));
                return pf_err_set(err, PF_EINVAL, "%s: %s", ipath, aerr.msg);
            }
        }
        memset(&u, 0, sizeof(u));
    } else {
        if (cJSON_HasObjectItem(obj, "upstreams"))
            return pf_err_set(err, PF_EINVAL, "%s.upstreams: only valid for type static", path);
        if (!cJSON_HasObjectItem(obj, "url"))
            return pf_err_set(err, PF_EINVAL, "%s.url: missing", path);
    }
    return PF_OK;
}

static void conf_free_providers(struct conf_controller *ctl)
{
    for (int i = 0; i < ctl->nproviders; i++) {
        conf_free_static(&ctl->providers[i]);
        memset(&ctl->providers[i].auth, 0, sizeof(ctl->providers[i].auth));   /* secrets */
    }
    free(ctl->providers);
    ctl->providers = NULL;
    ctl->nproviders = 0;
}

static int conf_ctl_providers(void *base, const cJSON *item, const char *path,
                              struct pf_err *err)
{
    struct conf_controller *ctl = base;
    char ppath[CONF_PATH_MAX];
    const cJSON *it;
    int n, i = 0, rc;

    if (!cJSON_IsArray(item))
        return pf_err_set(err, PF_EINVAL, "%s: must be an array", path);
    n = cJSON_GetArraySize(item);
    if (n > CONF_PROVIDERS_MAX)
        return pf_err_set(err, PF_EINVAL, "%s: more than %d providers", path, CONF_PROVIDERS_MAX);
    conf_free_providers(ctl);
    if (n == 0)
        return PF_OK;
    ctl->providers = calloc((size_t)n, sizeof(*ctl->providers));
    if (ctl->providers == NULL)
        return pf_err_set(err, PF_ENOMEM, "%s: out of memory", path);
    cJSON_ArrayForEach(it, item) {
        struct conf_provider *p = &ctl->providers[i];
        conf_pathf(ppath, sizeof(ppath), "%s[%d]", path, i);
        /* Defaults; 0 interval/ttl mean "inherit from the controller". */
        p->type = CONF_PROVIDER_STATIC;
        p->format = CONF_FORMAT_LINES;
        p->timeout_ms = 10000;
        p->connect_timeout_ms = 3000;
        p->max_body_bytes = 1024 * 1024;
        p->default_scheme = UPSTREAM_HTTP;
        snprintf(p->json.list, sizeof(p->json.list), "data");
        snprintf(p->json.host, sizeof(p->json.host), "ip");
        snprintf(p->json.port, sizeof(p->json.port), "port");
        snprintf(p->errors.code_field, sizeof(p->errors.code_field), "code");
        snprintf(p->errors.message_field, sizeof(p->errors.message_field), "msg");
        p->retry_base_ms = 500;
        p->retry_cap_ms = 30000;
        p->retry_attempts = 3;
        p->breaker_failures = 5;
        p->breaker_open_ms = 30000;
        p->breaker_open_max_ms = 600000;
        p->fatal_recheck_s = 3600;
        p->max_pages = 10;
        ctl->nproviders = ++i;     /* owned from here, freed by conf_deinit */
        rc = conf_parse_object(it, ppath, conf_provider_fields,
                               PF_ARRAY_LEN(conf_provider_fields), p, err);
        if (rc != PF_OK)
            return rc;
        rc = conf_provider_finish(p, it, ppath, err);
        if (rc != PF_OK)
            return rc;
        for (int j = 0; j + 1 < i; j++) {
            if (strcmp(ctl->providers[j].name, p->name) == 0)
                return pf_err_set(err, PF_EINVAL, "%s: duplicate name '%s'", path, p->name);
        }
    }
    return PF_OK;
}

static int conf_ctl_id(void *base, const cJSON *item, const char *path, struct pf_err *err)
{
    struct conf_controller *ctl = base;
    return conf_check_name(item, path, ctl->id, sizeof(ctl->id), err);
}

static int conf_ctl_admin(void *base, const cJSON *item, const char *path, struct pf_err *err)
{
    struct conf_controller *ctl = base;
    return conf_check_listen(item, path, ctl->admin_listen, sizeof(ctl->admin_listen), 1, err);
}

/* ---- controller.health ------------------------------------------------------ */

static int conf_health_url(void *base, const cJSON *item, const char *path, struct pf_err *err)
{
    struct conf_health *h = base;
    const char *s;
    size_t skip;
    int rc = conf_get_string(item, path, sizeof(h->url), 1, &s, err);
    if (rc != PF_OK)
        return rc;
    if (s[0] == '\0') {
        h->url[0] = '\0';   /* passive health only */
        return PF_OK;
    }
    if (strncasecmp(s, "http://", 7) == 0)
        skip = 7;
    else if (strncasecmp(s, "https://", 8) == 0)
        skip = 8;
    else
        return pf_err_set(err, PF_EINVAL, "%s: must start with http:// or https://", path);
    for (const char *q = s; *q != '\0'; q++) {
        unsigned char ch = (unsigned char)*q;
        if (ch <= 0x20 || ch >= 0x7f)
            return pf_err_set(err, PF_EINVAL, "%s: invalid character in URL", path);
    }
    if (s[skip] == '\0' || s[skip] == '/' || s[skip] == '?' || s[skip] == '#' || s[skip] == ':')
        return pf_err_set(err, PF_EINVAL, "%s: missing host", path);
    memcpy(h->url, s, strlen(s) + 1);
    return PF_OK;
}

/* "expect_status": one status (302) or a range "200..399". */
static int conf_health_expect(void *base, const cJSON *item, const char *path,
                              struct pf_err *err)
{
    struct conf_health *h = base;
    int lo = 0, hi = 0, used = 0;

    if (cJSON_IsNumber(item)) {
        int64_t v = 0;
        int rc = conf_get_int(item, path, 100, 599, &v, err);
        if (rc != PF_OK)
            return rc;
        h->expect_status_min = h->expect_status_max = (int)v;
        return PF_OK;
    }
    if (!cJSON_IsString(item) || item->valuestring == NULL ||
        sscanf(item->valuestring, "%3d..%3d%n", &lo, &hi, &used) != 2 ||
        item->valuestring[used] != '\0' || lo < 100 || hi > 599 || lo > hi)
        return pf_err_set(err, PF_EINVAL, "%s: must be a status or \"lo..hi\" within 100..599",
                          path);
    h->expect_status_min = lo;
    h->expect_status_max = hi;
    return PF_OK;
}

static int conf_passive_ratio(void *base, const cJSON *item, const char *path,
                              struct pf_err *err)
{
    struct conf_health_passive *p = base;
    if (!cJSON_IsNumber(item) || !isfinite(item->valuedouble) || item->valuedouble <= 0 ||
        item->valuedouble > 1)
        return pf_err_set(err, PF_EINVAL, "%s: must be a number in (0, 1]", path);
    p->failure_ratio = item->valuedouble;
    return PF_OK;
}

static const struct conf_field conf_passive_fields[] = {
    CONF_INT(struct conf_health_passive, "interval_ms", interval_ms, 10, 86400000),
    CONF_INT(struct conf_health_passive, "window_ms", window_ms, 10, 86400000),
    CONF_FN("failure_ratio", conf_passive_ratio),
    CONF_INT(struct conf_health_passive, "min_requests", min_requests, 1, 1000000000),
    CONF_INT(struct conf_health_passive, "ejection_ms", ejection_ms, 1, 86400000),
    CONF_INT(struct conf_health_passive, "ejection_max_ms", ejection_max_ms, 1, 86400000),
    CONF_INT(struct conf_health_passive, "node_max_age_ms", node_max_age_ms, 10, 86400000),
};

static int conf_health_passive(void *base, const cJSON *item, const char *path,
                               struct pf_err *err)
{
    struct conf_health_passive *p = &((struct conf_health *)base)->passive;
    int rc = conf_parse_object(item, path, conf_passive_fields, PF_ARRAY_LEN(conf_passive_fields),
                               p, err);
    if (rc != PF_OK)
        return rc;
    if (p->ejection_max_ms < p->ejection_ms)
        return pf_err_set(err, PF_EINVAL, "%s.ejection_max_ms: must be >= ejection_ms (%d)",
                          path, p->ejection_ms);
    p->is_enabled = 1;
    return PF_OK;
}

CONF_STR_FN(conf_health_proxy_ca_file, struct conf_health, proxy_ca_file, 1)

static const struct conf_field conf_health_fields[] = {
    CONF_FN("url", conf_health_url),
    CONF_INT(struct conf_health, "interval_ms", interval_ms, 10, 86400000),
    CONF_INT(struct conf_health, "timeout_ms", timeout_ms, 1, 600000),
    CONF_INT(struct conf_health, "rise", rise, 1, 100),
    CONF_INT(struct conf_health, "fall", fall, 1, 100),
    CONF_INT(struct conf_health, "concurrency", concurrency, 1, 10000),
    CONF_FN("expect_status", conf_health_expect),
    CONF_INT(struct conf_health, "max_ejection_percent", max_ejection_percent, 0, 100),
    CONF_INT(struct conf_health, "latency_publish_interval_ms", latency_publish_interval_ms,
             0, 86400000),
    CONF_FN("proxy_ca_file", conf_health_proxy_ca_file),
    CONF_FN("passive", conf_health_passive),
};

static int conf_ctl_health(void *base, const cJSON *item, const char *path, struct pf_err *err)
{
    struct conf_health *h = &((struct conf_controller *)base)->health;

    /* Defaults apply only when the section is present: without it the
     * controller publishes every upstream as before. */
    memset(h, 0, sizeof(*h));
    h->interval_ms = 10000;
    h->timeout_ms = 5000;
    h->rise = 2;
    h->fall = 3;
    h->concurrency = 64;
    h->expect_status_min = 200;
    h->expect_status_max = 399;
    h->max_ejection_percent = 50;
    h->latency_publish_interval_ms = 60000;
    h->passive.interval_ms = 5000;
    h->passive.window_ms = 30000;
    h->passive.failure_ratio = 0.5;
    h->passive.min_requests = 10;
    h->passive.ejection_ms = 30000;
    h->passive.ejection_max_ms = 300000;
    h->passive.node_max_age_ms = 30000;
    int rc = conf_parse_object(item, path, conf_health_fields, PF_ARRAY_LEN(conf_health_fields),
                               h, err);
    if (rc != PF_OK)
        return rc;
    h->is_enabled = 1;
    return PF_OK;
}

static const struct conf_field conf_controller_fields[] = {
    CONF_FN("health", conf_ctl_health),
    CONF_FN("id", conf_ctl_id),
    CONF_FN("admin_listen", conf_ctl_admin),
    CONF_INT(struct conf_controller, "poll_interval_ms", poll_interval_ms, 10, 86400000),
    CONF_INT(struct conf_controller, "default_ttl_s", default_ttl_s, 1, 30 * 86400),
    CONF_INT(struct conf_controller, "heartbeat_interval_ms", heartbeat_interval_ms, 10, 600000),
    CONF_INT(struct conf_controller, "lease_ms", lease_ms, 300, 600000),
    CONF_FN("providers", conf_ctl_providers),
};

/* ---- node ----------------------------------------------------------------- */

static int conf_node_id(void *base, const cJSON *item, const char *path, struct pf_err *err)
{
    struct conf_node *n = base;
    return conf_check_name(item, path, n->id, sizeof(n->id), err);
}

static int conf_node_listen(void *base, const cJSON *item, const char *path, struct pf_err *err)
{
    struct conf_node *n = base;
    return conf_check_listen(item, path, n->listen, sizeof(n->listen), 0, err);
}

static int conf_node_admin(void *base, const cJSON *item, const char *path, struct pf_err *err)
{
    struct conf_node *n = base;
    return conf_check_listen(item, path, n->admin_listen, sizeof(n->admin_listen), 1, err);
}

static int conf_node_socks5(void *base, const cJSON *item, const char *path, struct pf_err *err)
{
    struct conf_node *n = base;
    return conf_check_listen(item, path, n->socks5_listen, sizeof(n->socks5_listen), 1, err);
}

static int conf_node_mode(void *base, const cJSON *item, const char *path, struct pf_err *err)
{
    static const struct conf_choice choices[] = {
        { "pool", CONF_NODE_POOL },
        { "direct", CONF_NODE_DIRECT },
    };
    struct conf_node *n = base;
    int v;
    int rc = conf_get_choice(item, path, choices, PF_ARRAY_LEN(choices), &v, err);
    if (rc == PF_OK)
        n->mode = (enum conf_node_mode)v;
    return rc;
}

static int conf_node_strategy(void *base, const cJSON *item, const char *path, struct pf_err *err)
{
    static const struct conf_choice choices[] = {
        { "round_robin", CONF_STRATEGY_ROUND_ROBIN },
        { "random", CONF_STRATEGY_RANDOM },
        { "least_conn", CONF_STRATEGY_LEAST_CONN },
        { "weighted", CONF_STRATEGY_WEIGHTED },
        { "rotate", CONF_STRATEGY_ROTATE },
    };
    struct conf_node *n = base;
    int v;
    int rc = conf_get_choice(item, path, choices, PF_ARRAY_LEN(choices), &v, err);
    if (rc == PF_OK)
        n->strategy = (enum conf_strategy)v;
    return rc;
}

/* Parses an array of CIDR strings into <out> (CONF_CIDRS_MAX), count in <*n>. */
static int conf_cidr_list(const cJSON *item, const char *path, struct conf_cidr *out, int *n,
                          struct pf_err *err)
{
    char ipath[CONF_PATH_MAX];
    struct pf_err aerr;
    const cJSON *it;
    int i = 0;

    if (!cJSON_IsArray(item))
        return pf_err_set(err, PF_EINVAL, "%s: must be an array of strings", path);
    if (cJSON_GetArraySize(item) > CONF_CIDRS_MAX)
        return pf_err_set(err, PF_EINVAL, "%s: more than %d entries", path, CONF_CIDRS_MAX);
    *n = 0;
    cJSON_ArrayForEach(it, item) {
        const char *s;
        conf_pathf(ipath, sizeof(ipath), "%s[%d]", path, i);
        int rc = conf_get_string(it, ipath, 64, 0, &s, err);
        if (rc != PF_OK)
            return rc;
        if (addr_cidr_parse(s, &out[i], &aerr) != PF_OK)
            return pf_err_set(err, PF_EINVAL, "%s: %s", ipath, aerr.msg);
        *n = ++i;
    }
    return PF_OK;
}

static int conf_node_dest_allow(void *base, const cJSON *item, const char *path,
                                struct pf_err *err)
{
    struct conf_node *n = base;
    return conf_cidr_list(item, path, n->dest_allow, &n->ndest_allow, err);
}

static int conf_node_client_allow(void *base, const cJSON *item, const char *path,
                                  struct pf_err *err)
{
    struct conf_node *n = base;
    return conf_cidr_list(item, path, n->client_allow, &n->nclient_allow, err);
}

static int conf_node_upstream_allow_private(void *base, const cJSON *item, const char *path,
                                            struct pf_err *err)
{
    struct conf_node *n = base;
    return conf_upstream_policy(item, path, &n->upstream_policy, err);
}

static int conf_node_connect_ports(void *base, const cJSON *item, const char *path,
                                   struct pf_err *err)
{
    struct conf_node *n = base;
    char ipath[CONF_PATH_MAX];
    const cJSON *it;
    int i = 0;

    if (!cJSON_IsArray(item))
        return pf_err_set(err, PF_EINVAL, "%s: must be an array of ports", path);
    if (cJSON_GetArraySize(item) > CONF_PORTS_MAX)
        return pf_err_set(err, PF_EINVAL, "%s: more than %d entries", path, CONF_PORTS_MAX);
    n->nconnect_ports = 0;
    cJSON_ArrayForEach(it, item) {
        int64_t v = 0;
        conf_pathf(ipath, sizeof(ipath), "%s[%d]", path, i);
        int rc = conf_get_int(it, ipath, 1, 65535, &v, err);
        if (rc != PF_OK)
            return rc;
        n->connect_ports[i] = (uint16_t)v;
        n->nconnect_ports = ++i;
    }
    return PF_OK;
}

/* An HTTP field name (RFC 9110 token), or "". The node strips this header
 * before forwarding, so a name that frames the message or that the proxy
 * itself interprets is refused: stripping Content-Length while framing the
 * body by it would desynchronise the upstream (request smuggling). */
static int conf_node_sticky_header(void *base, const cJSON *item, const char *path,
                                   struct pf_err *err)
{
    static const char *const reserved[] = {
        "content-length", "transfer-encoding", "host", "connection", "proxy-connection",
        "keep-alive", "te", "trailer", "upgrade", "proxy-authorization", "proxy-authenticate",
        "expect",
    };
    struct conf_node *n = base;
    int rc = conf_copy_string(item, path, n->sticky_header, sizeof(n->sticky_header), 1, err);
    if (rc != PF_OK)
        return rc;
    for (const char *p = n->sticky_header; *p != '\0'; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '-' || *p == '_' || *p == '.'))
            return pf_err_set(err, PF_EINVAL, "%s: not a header name", path);
    for (size_t i = 0; i < PF_ARRAY_LEN(reserved); i++)
        if (strcasecmp(n->sticky_header, reserved[i]) == 0)
            return pf_err_set(err, PF_EINVAL, "%s: %s frames or controls the request; "
                              "pick a header of your own (e.g. X-Session)", path, n->sticky_header);
    return PF_OK;
}

static int conf_node_session_tag(void *base, const cJSON *item, const char *path,
                                 struct pf_err *err)
{
    struct conf_node *n = base;
    return conf_copy_string(item, path, n->session_tag, sizeof(n->session_tag), 1, err);
}

static int conf_node_session_time_tag(void *base, const cJSON *item, const char *path,
                                      struct pf_err *err)
{
    struct conf_node *n = base;
    return conf_copy_string(item, path, n->session_time_tag, sizeof(n->session_time_tag), 0, err);
}

static int conf_node_source_address(void *base, const cJSON *item, const char *path,
                                    struct pf_err *err)
{
    struct conf_node *n = base;
    struct conf_cidr c;
    struct pf_err aerr;
    int rc = conf_copy_string(item, path, n->source_address, sizeof(n->source_address), 1, err);
    if (rc != PF_OK)
        return rc;
    if (n->source_address[0] != '\0' &&
        (strchr(n->source_address, '/') != NULL ||
         addr_cidr_parse(n->source_address, &c, &aerr) != PF_OK))
        return pf_err_set(err, PF_EINVAL, "%s: must be an IP address", path);
    return PF_OK;
}

static int conf_user_name(void *base, const cJSON *item, const char *path, struct pf_err *err)
{
    struct conf_user *u = base;
    int rc = conf_copy_string(item, path, u->user, sizeof(u->user), 0, err);
    if (rc != PF_OK)
        return rc;
    /* Basic auth splits "user:pass" at the first colon. */
    if (strchr(u->user, ':') != NULL)
        return pf_err_set(err, PF_EINVAL, "%s: must not contain ':'", path);
    return PF_OK;
}

static int conf_user_pass(void *base, const cJSON *item, const char *path, struct pf_err *err)
{
    struct conf_user *u = base;
    return conf_copy_string(item, path, u->pass, sizeof(u->pass), 1, err);
}

static const struct conf_field conf_user_fields[] = {
    CONF_FN("user", conf_user_name),
    CONF_FN("pass", conf_user_pass),
};

static void conf_free_users(struct conf_node *n)
{
    if (n->users != NULL)
        memset(n->users, 0, sizeof(*n->users) * (size_t)n->nusers);
    free(n->users);
    n->users = NULL;
    n->nusers = 0;
}

static int conf_node_users(void *base, const cJSON *item, const char *path, struct pf_err *err)
{
    struct conf_node *n = base;
    char upath[CONF_PATH_MAX];
    const cJSON *it;
    int count, i = 0;

    if (!cJSON_IsArray(item))
        return pf_err_set(err, PF_EINVAL, "%s: must be an array", path);
    count = cJSON_GetArraySize(item);
    if (count > CONF_USERS_MAX)
        return pf_err_set(err, PF_EINVAL, "%s: more than %d users", path, CONF_USERS_MAX);
    conf_free_users(n);
    if (count == 0)
        return PF_OK;
    n->users = calloc((size_t)count, sizeof(*n->users));
    if (n->users == NULL)
        return pf_err_set(err, PF_ENOMEM, "%s: out of memory", path);
    cJSON_ArrayForEach(it, item) {
        struct conf_user *u = &n->users[i];
        conf_pathf(upath, sizeof(upath), "%s[%d]", path, i);
        n->nusers = ++i;
        int rc = conf_parse_object(it, upath, conf_user_fields, PF_ARRAY_LEN(conf_user_fields),
                                   u, err);
        if (rc != PF_OK)
            return rc;
        if (!cJSON_HasObjectItem(it, "user"))
            return pf_err_set(err, PF_EINVAL, "%s.user: missing", upath);
        if (!cJSON_HasObjectItem(it, "pass"))
            return pf_err_set(err, PF_EINVAL, "%s.pass: missing", upath);
        for (int j = 0; j + 1 < i; j++) {
            if (strcmp(n->users[j].user, u->user) == 0)
                return pf_err_set(err, PF_EINVAL, "%s: duplicate user", upath);
        }
    }
    return PF_OK;
}

CONF_STR_FN(conf_node_snapshot_file, struct conf_node, snapshot_file, 1)
CONF_STR_FN(conf_node_upstream_ca_file, struct conf_node, upstream_ca_file, 1)

static int conf_node_access_log(void *base, const cJSON *item, const char *path,
                                struct pf_err *err)
{
    struct conf_node *n = base;
    int rc = conf_copy_string(item, path, n->access_log, sizeof(n->access_log), 1, err);
    if (rc != PF_OK)
        return rc;
    if (n->access_log[0] != '\0' && strcmp(n->access_log, "stderr") != 0 &&
        n->access_log[0] != '/') {
        n->access_log[0] = '\0';
        return pf_err_set(err, PF_EINVAL, "%s: must be \"stderr\" or an absolute path", path);
    }
    return PF_OK;
}

static const struct conf_field conf_node_fields[] = {
    CONF_FN("id", conf_node_id),
    CONF_FN("listen", conf_node_listen),
    CONF_FN("admin_listen", conf_node_admin),
    CONF_FN("socks5_listen", conf_node_socks5),
    CONF_FN("mode", conf_node_mode),
    CONF_FN("strategy", conf_node_strategy),
    CONF_INT(struct conf_node, "max_clients", max_clients, 1, 1000000),
    CONF_INT(struct conf_node, "connect_timeout_ms", connect_timeout_ms, 1, 600000),
    CONF_INT(struct conf_node, "header_timeout_ms", header_timeout_ms, 1, 600000),
    CONF_INT(struct conf_node, "idle_timeout_ms", idle_timeout_ms, 1, 86400000),
    CONF_INT(struct conf_node, "response_timeout_ms", response_timeout_ms, 0, 86400000),
    CONF_INT(struct conf_node, "max_header_bytes", max_header_bytes, 1024, 1048576),
    CONF_INT(struct conf_node, "retries", retries, 0, 10),
    CONF_INT(struct conf_node, "report_interval_ms", report_interval_ms, 10, 600000),
    CONF_BOOL(struct conf_node, "allow_private_destinations", is_private_dest_allowed),
    CONF_FN("destination_allow", conf_node_dest_allow),
    CONF_FN("upstream_allow_private", conf_node_upstream_allow_private),
    CONF_FN("users", conf_node_users),
    CONF_BOOL(struct conf_node, "allow_anonymous", is_anonymous_allowed),
    CONF_INT(struct conf_node, "rotate_interval_s", rotate_interval_s, 0, 86400),
    CONF_FN("sticky_header", conf_node_sticky_header),
    CONF_FN("session_tag", conf_node_session_tag),
    CONF_FN("session_time_tag", conf_node_session_time_tag),
    CONF_INT(struct conf_node, "eject_consecutive_failures", eject_consecutive_failures, 0, 1000),
    CONF_INT(struct conf_node, "eject_base_ms", eject_base_ms, 1, 3600000),
    CONF_INT(struct conf_node, "eject_max_ms", eject_max_ms, 1, 86400000),
    CONF_BOOL(struct conf_node, "eject_panic", is_eject_panic),
    CONF_FN("client_allow", conf_node_client_allow),
    CONF_FN("connect_ports", conf_node_connect_ports),
    CONF_INT(struct conf_node, "drain_grace_ms", drain_grace_ms, 0, 3600000),
    CONF_FN("source_address", conf_node_source_address),
    CONF_FN("snapshot_file", conf_node_snapshot_file),
    CONF_FN("access_log", conf_node_access_log),
    CONF_FN("upstream_ca_file", conf_node_upstream_ca_file),
    CONF_BOOL(struct conf_node, "upstream_tls_verify", is_upstream_tls_verified),
};

/* ---- root ----------------------------------------------------------------- */

static int conf_sec_redis(void *base, const cJSON *item, const char *path, struct pf_err *err)
{
    struct conf *c = base;
    int rc = conf_parse_object(item, path, conf_redis_fields, PF_ARRAY_LEN(conf_redis_fields),
                               &c->redis, err);
    return rc != PF_OK ? rc : conf_redis_check(&c->redis, err);
}

static int conf_sec_log(void *base, const cJSON *item, const char *path, struct pf_err *err)
{
    return conf_parse_object(item, path, conf_log_fields, PF_ARRAY_LEN(conf_log_fields),
                             base, err);
}

static int conf_sec_controller(void *base, const cJSON *item, const char *path,
                               struct pf_err *err)
{
    struct conf *c = base;
    return conf_parse_object(item, path, conf_controller_fields,
                             PF_ARRAY_LEN(conf_controller_fields), &c->controller, err);
}

static int conf_sec_node(void *base, const cJSON *item, const char *path, struct pf_err *err)
{
    struct conf *c = base;
    int rc = conf_parse_object(item, path, conf_node_fields, PF_ARRAY_LEN(conf_node_fields),
                               &c->node, err);
    if (rc != PF_OK)
        return rc;
    if (c->node.eject_max_ms < c->node.eject_base_ms)
        return pf_err_set(err, PF_EINVAL, "%s.eject_max_ms: must be >= eject_base_ms (%d)",
                          path, c->node.eject_base_ms);
    return PF_OK;
}

static const struct conf_field conf_root_fields[] = {
    CONF_FN("redis", conf_sec_redis),
    CONF_FN("log", conf_sec_log),
    CONF_FN("controller", conf_sec_controller),
    CONF_FN("node", conf_sec_node),
};

/* "<hostname>-<pid>" reduced to [A-Za-z0-9_.-], at most 63 chars. */
static void conf_default_id(char *dst, size_t dst_len)
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

void conf_init_defaults(struct conf *c)
{
    memset(c, 0, sizeof(*c));
    if (conf_parse_redis_url(&c->redis, CONF_DEFAULT_REDIS, NULL) != PF_OK)
        snprintf(c->redis.url, sizeof(c->redis.url), "%s", CONF_DEFAULT_REDIS);
    snprintf(c->redis.prefix, sizeof(c->redis.prefix), "pf");
    c->redis.connect_timeout_ms = 2000;
    c->redis.command_timeout_ms = 2000;
    snprintf(c->log_level, sizeof(c->log_level), "info");
    snprintf(c->log_format, sizeof(c->log_format), "text");

    conf_default_id(c->controller.id, sizeof(c->controller.id));
    c->controller.poll_interval_ms = 10000;
    c->controller.default_ttl_s = 300;
    c->controller.heartbeat_interval_ms = 2000;
    c->controller.lease_ms = 6000;

    conf_default_id(c->node.id, sizeof(c->node.id));
    snprintf(c->node.listen, sizeof(c->node.listen), "127.0.0.1:3128");
    snprintf(c->node.admin_listen, sizeof(c->node.admin_listen), "127.0.0.1:3180");
    c->node.mode = CONF_NODE_POOL;
    c->node.strategy = CONF_STRATEGY_ROUND_ROBIN;
    c->node.max_clients = 4096;
    c->node.connect_timeout_ms = 5000;
    c->node.header_timeout_ms = 10000;
    c->node.idle_timeout_ms = 300000;
    c->node.response_timeout_ms = 30000;
    c->node.max_header_bytes = 32768;
    c->node.retries = 2;
    c->node.report_interval_ms = 2000;
    c->node.rotate_interval_s = 60;
    snprintf(c->node.session_tag, sizeof(c->node.session_tag), "-session-");
    snprintf(c->node.session_time_tag, sizeof(c->node.session_time_tag), "-sesstime-");
    c->node.eject_consecutive_failures = 5;
    c->node.eject_base_ms = 10000;
    c->node.eject_max_ms = 300000;
    static const uint16_t connect_ports[] = { 443, 80, 8080, 8443 };
    for (size_t i = 0; i < PF_ARRAY_LEN(connect_ports); i++)
        c->node.connect_ports[c->node.nconnect_ports++] = connect_ports[i];
    c->node.drain_grace_ms = 10000;
    c->node.is_upstream_tls_verified = 1;
}

int conf_parse(struct conf *c, const char *text, size_t len, struct pf_err *err)
{
    const char *end = NULL;
    cJSON *root;
    int rc;

    pf_err_clear(err);
    if (text == NULL || len == 0)
        return pf_err_set(err, PF_EINVAL, "config: empty");
    if (memchr(text, '\0', len) != NULL)
        return pf_err_set(err, PF_EINVAL, "config: NUL byte in file");
    root = cJSON_ParseWithLengthOpts(text, len, &end, 0);
    if (root == NULL) {
        const char *at = cJSON_GetErrorPtr();
        size_t off = (at != NULL && at >= text && at <= text + len) ? (size_t)(at - text) : 0;
        size_t line = 1;
        for (size_t i = 0; i < off; i++)
            line += text[i] == '\n';
        return pf_err_set(err, PF_EINVAL, "config: invalid JSON near line %zu", line);
    }
    for (; end != NULL && end < text + len; end++) {
        if (!str_is_blank((unsigned char)*end)) {
            cJSON_Delete(root);
            return pf_err_set(err, PF_EINVAL, "config: trailing bytes after JSON value");
        }
    }
    rc = conf_parse_object(root, "", conf_root_fields, PF_ARRAY_LEN(conf_root_fields), c, err);
    cJSON_Delete(root);
    if (rc != PF_OK)
        return rc;
    /* Provider settings inherited from the controller section. */
    for (int i = 0; i < c->controller.nproviders; i++) {
        struct conf_provider *p = &c->controller.providers[i];
        if (p->interval_ms == 0)
            p->interval_ms = c->controller.poll_interval_ms;
        if (p->ttl_s == 0)
            p->ttl_s = c->controller.default_ttl_s;
    }
    return PF_OK;
}

int conf_apply_env(struct conf *c, char *(*getenv_fn)(const char *), struct pf_err *err)
{
    const char *v;

    /* An empty variable counts as unset, as with docker-compose defaults. */
    v = getenv_fn("PF_REDIS_URL");
    if (v != NULL && v[0] != '\0' && conf_parse_redis_url(&c->redis, v, err) != PF_OK) {
        pf_err_prefix(err, "PF_REDIS_URL: ");
        return PF_EINVAL;
    }
    v = getenv_fn("PF_REDIS_SENTINELS");
    if (v != NULL && v[0] != '\0') {
        c->redis.nsentinels = 0;
        for (const char *p = v;;) {
            const char *comma = strchr(p, ',');
            size_t n = comma != NULL ? (size_t)(comma - p) : strlen(p);
            if (conf_add_sentinel(&c->redis, p, n, err) != PF_OK) {
                pf_err_prefix(err, "PF_REDIS_SENTINELS: entry %d: ", c->redis.nsentinels + 1);
                return PF_EINVAL;
            }
            if (comma == NULL)
                break;
            p = comma + 1;
        }
    }
    v = getenv_fn("PF_REDIS_MASTER_NAME");
    if (v != NULL && v[0] != '\0') {
        if (!keys_valid_name(v) || strlen(v) >= sizeof(c->redis.master_name))
            return pf_err_set(err, PF_EINVAL,
                              "PF_REDIS_MASTER_NAME: must be 1..63 chars of [A-Za-z0-9_.-]");
        snprintf(c->redis.master_name, sizeof(c->redis.master_name), "%s", v);
    }
    if (conf_redis_check(&c->redis, err) != PF_OK)
        return PF_EINVAL;
    v = getenv_fn("PF_LOG_LEVEL");
    if (v != NULL && v[0] != '\0' &&
        conf_set_level(c->log_level, sizeof(c->log_level), v) != PF_OK)
        return pf_err_set(err, PF_EINVAL, "PF_LOG_LEVEL: must be error, warn, info or debug");
    v = getenv_fn("PF_NODE_ID");
    if (v != NULL && v[0] != '\0') {
        if (!keys_valid_name(v))
            return pf_err_set(err, PF_EINVAL, "PF_NODE_ID: must be 1..63 chars of [A-Za-z0-9_.-]");
        snprintf(c->node.id, sizeof(c->node.id), "%s", v);
    }
    v = getenv_fn("PF_CONTROLLER_ID");
    if (v != NULL && v[0] != '\0') {
        if (!keys_valid_name(v))
            return pf_err_set(err, PF_EINVAL,
                              "PF_CONTROLLER_ID: must be 1..63 chars of [A-Za-z0-9_.-]");
        snprintf(c->controller.id, sizeof(c->controller.id), "%s", v);
    }
    return PF_OK;
}

int conf_load_file(struct conf *c, const char *path, struct pf_err *err)
{
    char *buf = NULL;
    size_t n = 0;
    FILE *f = NULL;
    int rc;

    conf_init_defaults(c);
    f = fopen(path, "rb");
    if (f == NULL) {
        rc = pf_err_set(err, PF_EIO, "cannot read %s: %s", path, strerror(errno));
        goto fail;
    }
    buf = malloc(CONF_FILE_MAX + 1);
    if (buf == NULL) {
        rc = pf_err_set(err, PF_ENOMEM, "cannot read %s: out of memory", path);
        goto fail;
    }
    n = fread(buf, 1, CONF_FILE_MAX + 1, f);
    if (ferror(f)) {
        rc = pf_err_set(err, PF_EIO, "cannot read %s: %s", path, strerror(errno));
        goto fail;
    }
    if (n > CONF_FILE_MAX) {
        rc = pf_err_set(err, PF_ERANGE, "cannot read %s: larger than %d bytes",
                        path, CONF_FILE_MAX);
        goto fail;
    }
    rc = conf_parse(c, buf, n, err);
    if (rc != PF_OK)
        goto fail;
    rc = conf_apply_env(c, getenv, err);
    if (rc != PF_OK)
        goto fail;
    free(buf);
    fclose(f);
    return PF_OK;

fail:
    free(buf);
    if (f != NULL)
        fclose(f);
    return rc;
}

void conf_deinit(struct conf *c)
{
    if (c == NULL)
        return;
    conf_free_providers(&c->controller);
    conf_free_users(&c->node);
    memset(c->redis.password, 0, sizeof(c->redis.password));
    memset(c->redis.sentinel_password, 0, sizeof(c->redis.sentinel_password));
}
