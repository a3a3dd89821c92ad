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
#include "keys.h"
#include "log.h"
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

/* Parses redis://[[user]:password@]host[:port][/db] of <url>. */
static int conf_parse_redis_url(struct conf_redis *r, const char *url, struct pf_err *err)
{
    static const char scheme[] = "redis://";
    const size_t sn = sizeof(scheme) - 1;
    char hostport[UPSTREAM_HOST_MAX + 16];
    char password[UPSTREAM_CRED_MAX];
    const char *p, *end, *slash, *at;
    int db = 0;

    if (strlen(url) >= sizeof(r->url))
        return pf_err_set(err, PF_EINVAL, "too long");
    if (strncasecmp(url, scheme, sn) != 0)
        return pf_err_set(err, PF_EINVAL, "must start with redis://");
    p = url + sn;
    end = p + strlen(p);
    for (const char *q = p; q < end; q++) {
        unsigned char ch = (unsigned char)*q;
        if (ch <= 0x20 || ch >= 0x7f || ch == '?' || ch == '#')
            return pf_err_set(err, PF_EINVAL, "invalid character in URL");
    }
    slash = strchr(p, '/');
    if (slash != NULL) {
        const char *d = slash + 1;
        size_t dn = strlen(d);
        if (dn > 5)
            return pf_err_set(err, PF_EINVAL, "database must be 0..65535");
        for (size_t i = 0; i < dn; i++) {
            if (d[i] < '0' || d[i] > '9')
                return pf_err_set(err, PF_EINVAL, "database must be 0..65535");
            db = db * 10 + (d[i] - '0');
        }
        if (db > 65535)
            return pf_err_set(err, PF_EINVAL, "database must be 0..65535");
        end = slash;
    }
    password[0] = '\0';
    at = NULL;
    for (const char *q = end; q > p; q--) {
        if (q[-1] == '@') {
            at = q - 1;
            break;
        }
    }
    if (at != NULL) {
        const char *colon = memchr(p, ':', (size_t)(at - p));
        if (colon != NULL &&
            str_pct_decode(colon + 1, (size_t)(at - colon - 1), password,
                           sizeof(password), NULL) != PF_OK)
            return pf_err_set(err, PF_EINVAL, "bad password");
        p = at + 1;
    }
    size_t hn = (size_t)(end - p);
    if (hn == 0)
        return pf_err_set(err, PF_EINVAL, "missing host");
    if (hn + 6 >= sizeof(hostport))
        return pf_err_set(err, PF_EINVAL, "host too long");
    memcpy(hostport, p, hn);
    hostport[hn] = '\0';
    /* Port is optional: add the default when the last ':' is not a port's. */
    const char *lastc = strrchr(hostport, ':');
    const char *rbr = strrchr(hostport, ']');
    if (lastc == NULL || (hostport[0] == '[' && (rbr == NULL || lastc < rbr)))
        strcat(hostport, ":6379");
    struct pf_err aerr;
    uint16_t port;
    char host[UPSTREAM_HOST_MAX];
    if (addr_parse_hostport(hostport, host, sizeof(host), &port, &aerr) != PF_OK)
        return pf_err_set(err, PF_EINVAL, "%s", aerr.msg);
    memcpy(r->url, url, strlen(url) + 1);
    memcpy(r->host, host, sizeof(r->host));
    r->port = port;
    r->db = db;
    memcpy(r->password, password, sizeof(r->password));
    return PF_OK;
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

static const struct conf_field conf_redis_fields[] = {
    CONF_FN("url", conf_redis_url),
    CONF_FN("prefix", conf_redis_prefix),
    CONF_INT(struct conf_redis, "connect_timeout_ms", connect_timeout_ms, 1, 600000),
    CONF_INT(struct conf_redis, "command_timeout_ms", command_timeout_ms, 1, 600000),
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

static const struct conf_field conf_log_fields[] = {
    CONF_FN("level", conf_log_level),
};

/* ---- providers ------------------------------------------------------------ */

static int conf_prov_name(void *base, const cJSON *item, const char *path, struct pf_err *err)
{
    struct conf_provider *p = base;
    return conf_check_name(item, path, p->name, sizeof(p->name), err);
}

static int conf_prov_type(void *base, const cJSON *item, const char *path, struct pf_err *err)
{
    struct conf_provider *p = base;
    const char *s;
    int rc = conf_get_string(item, path, 64, 0, &s, err);
    if (rc != PF_OK)
        return rc;
    if (strcmp(s, "static") == 0)
        p->type = CONF_PROVIDER_STATIC;
    else if (strcmp(s, "api") == 0)
        p->type = CONF_PROVIDER_API;
    else
        return pf_err_set(err, PF_EINVAL, "%s: must be static or api", path);
    return PF_OK;
}

static int conf_prov_format(void *base, const cJSON *item, const char *path, struct pf_err *err)
{
    struct conf_provider *p = base;
    const char *s;
    int rc = conf_get_string(item, path, 64, 0, &s, err);
    if (rc != PF_OK)
        return rc;
    if (strcmp(s, "lines") != 0)
        return pf_err_set(err, PF_EINVAL, "%s: must be lines", path);
    p->format = CONF_FORMAT_LINES;
    return PF_OK;
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

static const struct conf_field conf_provider_fields[] = {
    CONF_FN("name", conf_prov_name),
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
    CONF_BOOL(struct conf_provider, "allow_private", is_private_allowed),
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
    if (p->type == CONF_PROVIDER_STATIC) {
        static const char *const api_only[] = { "url", "format", "interval_ms", "timeout_ms",
                                                "connect_timeout_ms", "max_body_bytes" };
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
                addr_validate_upstream(&u, p->is_private_allowed, &aerr) != PF_OK) {
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
    for (int i = 0; i < ctl->nproviders; i++)
        conf_free_static(&ctl->providers[i]);
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

static const struct conf_field conf_controller_fields[] = {
    CONF_FN("id", conf_ctl_id),
    CONF_FN("admin_listen", conf_ctl_admin),
    CONF_INT(struct conf_controller, "poll_interval_ms", poll_interval_ms, 10, 86400000),
    CONF_INT(struct conf_controller, "default_ttl_s", default_ttl_s, 1, 30 * 86400),
    CONF_INT(struct conf_controller, "heartbeat_interval_ms", heartbeat_interval_ms, 10, 600000),
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

static int conf_node_mode(void *base, const cJSON *item, const char *path, struct pf_err *err)
{
    struct conf_node *n = base;
    const char *s;
    int rc = conf_get_string(item, path, 64, 0, &s, err);
    if (rc != PF_OK)
        return rc;
    if (strcmp(s, "pool") == 0)
        n->mode = CONF_NODE_POOL;
    else if (strcmp(s, "direct") == 0)
        n->mode = CONF_NODE_DIRECT;
    else
        return pf_err_set(err, PF_EINVAL, "%s: must be pool or direct", path);
    return PF_OK;
}

static int conf_node_strategy(void *base, const cJSON *item, const char *path,
                              struct pf_err *err)
{
    struct conf_node *n = base;
    const char *s;
    int rc = conf_get_string(item, path, 64, 0, &s, err);
    if (rc != PF_OK)
        return rc;
    if (strcmp(s, "round_robin") != 0)
        return pf_err_set(err, PF_EINVAL, "%s: must be round_robin", path);
    n->strategy = CONF_STRATEGY_ROUND_ROBIN;
    return PF_OK;
}

static int conf_node_dest_allow(void *base, const cJSON *item, const char *path,
                                struct pf_err *err)
{
    struct conf_node *n = base;
    char ipath[CONF_PATH_MAX];
    struct pf_err aerr;
    const cJSON *it;
    int i = 0;

    if (!cJSON_IsArray(item))
        return pf_err_set(err, PF_EINVAL, "%s: must be an array of strings", path);
    if (cJSON_GetArraySize(item) > CONF_CIDRS_MAX)
        return pf_err_set(err, PF_EINVAL, "%s: more than %d entries", path, CONF_CIDRS_MAX);
    n->ndest_allow = 0;
    cJSON_ArrayForEach(it, item) {
        const char *s;
        conf_pathf(ipath, sizeof(ipath), "%s[%d]", path, i);
        int rc = conf_get_string(it, ipath, 64, 0, &s, err);
        if (rc != PF_OK)
            return rc;
        if (addr_cidr_parse(s, &n->dest_allow[i], &aerr) != PF_OK)
            return pf_err_set(err, PF_EINVAL, "%s: %s", ipath, aerr.msg);
        n->ndest_allow = ++i;
    }
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

static const struct conf_field conf_node_fields[] = {
    CONF_FN("id", conf_node_id),
    CONF_FN("listen", conf_node_listen),
    CONF_FN("admin_listen", conf_node_admin),
    CONF_FN("mode", conf_node_mode),
    CONF_FN("strategy", conf_node_strategy),
    CONF_INT(struct conf_node, "max_clients", max_clients, 1, 1000000),
    CONF_INT(struct conf_node, "connect_timeout_ms", connect_timeout_ms, 1, 600000),
    CONF_INT(struct conf_node, "header_timeout_ms", header_timeout_ms, 1, 600000),
    CONF_INT(struct conf_node, "idle_timeout_ms", idle_timeout_ms, 1, 86400000),
    CONF_INT(struct conf_node, "max_header_bytes", max_header_bytes, 1024, 1048576),
    CONF_INT(struct conf_node, "retries", retries, 0, 10),
    CONF_INT(struct conf_node, "report_interval_ms", report_interval_ms, 10, 600000),
    CONF_BOOL(struct conf_node, "allow_private_destinations", is_private_dest_allowed),
    CONF_FN("destination_allow", conf_node_dest_allow),
    CONF_FN("users", conf_node_users),
};

/* ---- root ----------------------------------------------------------------- */

static int conf_sec_redis(void *base, const cJSON *item, const char *path, struct pf_err *err)
{
    struct conf *c = base;
    return conf_parse_object(item, path, conf_redis_fields, PF_ARRAY_LEN(conf_redis_fields),
                             &c->redis, err);
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
    return conf_parse_object(item, path, conf_node_fields, PF_ARRAY_LEN(conf_node_fields),
                             &c->node, err);
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

    conf_default_id(c->controller.id, sizeof(c->controller.id));
    c->controller.poll_interval_ms = 10000;
    c->controller.default_ttl_s = 300;
    c->controller.heartbeat_interval_ms = 2000;

    conf_default_id(c->node.id, sizeof(c->node.id));
    snprintf(c->node.listen, sizeof(c->node.listen), "127.0.0.1:3128");
    snprintf(c->node.admin_listen, sizeof(c->node.admin_listen), "127.0.0.1:9100");
    c->node.mode = CONF_NODE_POOL;
    c->node.strategy = CONF_STRATEGY_ROUND_ROBIN;
    c->node.max_clients = 4096;
    c->node.connect_timeout_ms = 5000;
    c->node.header_timeout_ms = 10000;
    c->node.idle_timeout_ms = 300000;
    c->node.max_header_bytes = 32768;
    c->node.retries = 2;
    c->node.report_interval_ms = 2000;
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
}
