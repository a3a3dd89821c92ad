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
#include "conf_controller.h"
#include "conf_node.h"
#include "conf_schema.h"
#include "json_text.h"
#include "keys.h"
#include "line_format.h"
#include "log.h"
#include "str.h"

#define CONF_FILE_MAX       (1024 * 1024)
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

#define CONF_FIELD_INT(s, key, field, lo, hi)   { key, CONF_F_INT, offsetof(s, field), lo, hi, NULL }
#define CONF_FIELD_INT64(s, key, field, lo, hi) { key, CONF_F_INT64, offsetof(s, field), lo, hi, NULL }
#define CONF_FIELD_BOOL(s, key, field)          { key, CONF_F_BOOL, offsetof(s, field), 0, 1, NULL }
#define CONF_FN(key, fn)                  { key, CONF_F_FN, 0, 0, 0, fn }

/* ---- helpers ------------------------------------------------------------ */

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
    CONF_FIELD_INT(struct conf_redis, "connect_timeout_ms", connect_timeout_ms, 1, 600000),
    CONF_FIELD_INT(struct conf_redis, "command_timeout_ms", command_timeout_ms, 1, 600000),
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
    return conf_schema_parse(&conf_controller_table, &c->controller, item, path, NULL, NULL,
                             err);
}

static int conf_sec_node(void *base, const cJSON *item, const char *path, struct pf_err *err)
{
    struct conf *c = base;
    return conf_schema_parse(&conf_node_table, &c->node, item, path, NULL, NULL, err);
}

static const struct conf_field conf_root_fields[] = {
    CONF_FN("redis", conf_sec_redis),
    CONF_FN("log", conf_sec_log),
    CONF_FN("controller", conf_sec_controller),
    CONF_FN("node", conf_sec_node),
};

void conf_init_defaults(struct conf *c)
{
    memset(c, 0, sizeof(*c));
    if (conf_parse_redis_url(&c->redis, CONF_DEFAULT_REDIS, NULL) != PF_OK)
        snprintf(c->redis.url, sizeof(c->redis.url), "%s", CONF_DEFAULT_REDIS);
    snprintf(c->redis.prefix, sizeof(c->redis.prefix), "pf");
    c->redis.connect_timeout_ms = 2000;
    c->redis.command_timeout_ms = 2000;
    snprintf(c->log_level, sizeof(c->log_level), "info");

    conf_schema_defaults(&conf_controller_table, &c->controller);

    conf_schema_defaults(&conf_node_table, &c->node);
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
    conf_schema_deinit(&conf_controller_table, &c->controller);
    conf_schema_deinit(&conf_node_table, &c->node);
    memset(c->redis.password, 0, sizeof(c->redis.password));
}
