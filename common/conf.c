/* The config file: the "redis" and "log" sections, the root, the PF_*
 * overrides, loading; see conf.h. The node and controller sections are in
 * conf_node.c and conf_controller.c, the engine in conf_schema.c. */
#include "conf.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "addr.h"
#include "conf_controller.h"
#include "conf_node.h"
#include "conf_schema.h"
#include "keys.h"
#include "log.h"
#include "redis_url.h"
#include "str.h"

#define CONF_FILE_MAX       (1024 * 1024)
#define CONF_DEFAULT_REDIS  "redis://127.0.0.1:6379/0"

/* ---- redis ---------------------------------------------------------------- */

/* Parses redis.url <url> (common/redis_url.h: redis:// with an ACL user,
 * unix:// sockets, ?db=) into <r>'s host, port, db, user, password and
 * socket path (the engine stores the url itself); <r> is unchanged on
 * error, and the reason never quotes the URL. */
static int check_redis_url(void *base, char *url, struct pf_err *err)
{
    struct conf_redis *r = base;
    struct redis_url u;

    if (redis_url_parse(url, strlen(url), &u, err) != PF_OK) {
        explicit_bzero(&u, sizeof(u));
        return PF_EINVAL;
    }
    memcpy(r->host, u.host, sizeof(r->host));
    r->port = u.port;
    r->db = u.db;
    memcpy(r->password, u.pass, sizeof(r->password));
    memcpy(r->user, u.user, sizeof(r->user));
    memcpy(r->unix_path, u.path, sizeof(r->unix_path));
    explicit_bzero(&u, sizeof(u));
    return PF_OK;
}

/* The redis settings that only make sense together; the message names its
 * keys. */
static int redis_check(const struct conf_redis *r, struct pf_err *err)
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

static int redis_finish(void *base, const struct conf_obj *obj, struct pf_err *err)
{
    (void)obj;
    return redis_check(base, err);
}

/* One "host:port" of redis.sentinels (<len> bytes at <s>) appended to <r>.
 * The reason has no path. */
static int redis_add_sentinel(struct conf_redis *r, const char *s, size_t len,
                              struct pf_err *err)
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
    pf_err_clear(&aerr);
    if (addr_parse_hostport(buf, sn->host, sizeof(sn->host), &sn->port, &aerr) != PF_OK)
        return pf_err_set(err, PF_EINVAL, "must be host:port: %s", aerr.msg);
    for (int i = 0; i < r->nsentinels; i++)
        if (r->sentinels[i].port == sn->port && strcmp(r->sentinels[i].host, sn->host) == 0)
            return pf_err_set(err, PF_EINVAL, "sentinel listed twice");
    r->nsentinels++;
    return PF_OK;
}

/* "sentinels": ["host:port", ...] */
static int redis_sentinels(void *base, const cJSON *item, const char *path, struct pf_err *err)
{
    struct conf_redis *r = base;
    char ipath[CONF_PATH_MAX];
    const cJSON *it;
    int i = 0;

    if (!cJSON_IsArray(item))
        return pf_err_set(err, PF_EINVAL, "%s: must be an array of \"host:port\"", path);
    r->nsentinels = 0;
    cJSON_ArrayForEach(it, item) {
        snprintf(ipath, sizeof(ipath), "%s[%d]", path, i++);
        if (!cJSON_IsString(it) || it->valuestring == NULL)
            return pf_err_set(err, PF_EINVAL, "%s: must be a string", ipath);
        if (redis_add_sentinel(r, it->valuestring, strlen(it->valuestring), err) != PF_OK) {
            pf_err_prefix(err, "%s: ", ipath);
            return PF_EINVAL;
        }
    }
    return PF_OK;
}

/* PF_REDIS_SENTINELS: "host:port,host:port" replaces redis.sentinels. */
static int env_redis_sentinels(struct conf *c, const char *v, struct pf_err *err)
{
    struct conf_redis *r = &c->redis;
    r->nsentinels = 0;
    for (const char *p = v;;) {
        const char *comma = strchr(p, ',');
        size_t n = comma != NULL ? (size_t)(comma - p) : strlen(p);
        if (redis_add_sentinel(r, p, n, err) != PF_OK) {
            pf_err_prefix(err, "entry %d: ", r->nsentinels + 1);
            return PF_EINVAL;
        }
        if (comma == NULL)
            return PF_OK;
        p = comma + 1;
    }
}

static int check_redis_prefix(void *base, char *value, struct pf_err *err)
{
    struct keys k;
    (void)base;
    if (keys_init(&k, value, NULL) != PF_OK)
        return pf_err_set(err, PF_EINVAL, "must be 1..%d chars of [A-Za-z0-9_.-]",
                          KEYS_PREFIX_MAX);
    return PF_OK;
}

#define R struct conf_redis
static const struct conf_key redis_keys[] = {
    /* The URL may carry the password: a secret. */
    CONF_SECRET_DEF(R, "url", url, CONF_F_NONEMPTY, CONF_DEFAULT_REDIS, check_redis_url),
    CONF_STR(R, "prefix", prefix, CONF_F_NONEMPTY, "pf", check_redis_prefix),
    CONF_PATH(R, "credential_key_file", credential_key_file, 0),
    CONF_INT(R, "connect_timeout_ms", connect_timeout_ms, 1, 600000, 2000),
    CONF_INT(R, "command_timeout_ms", command_timeout_ms, 1, 600000, 2000),
    CONF_HOOK("sentinels", 0, redis_sentinels),
    CONF_NAME(R, "master_name", master_name, 0),
    CONF_STR(R, "sentinel_user", sentinel_user, 0, NULL, NULL),
    CONF_SECRET(R, "sentinel_password", sentinel_password, 0, NULL),
};
#undef R
static const struct conf_table redis_table =
    CONF_TABLE(redis_keys, struct conf_redis, NULL, redis_finish);

/* ---- log ------------------------------------------------------------------ */

/* Any case in, the canonical lower-case name out. */
static int check_log_level(void *base, char *value, struct pf_err *err)
{
    static const char *const names[] = { "error", "warn", "info", "debug" };
    enum pf_log_level lvl;
    (void)base;
    if (log_parse_level(value, &lvl) != PF_OK || (size_t)lvl >= PF_ARRAY_LEN(names))
        return pf_err_set(err, PF_EINVAL, "must be error, warn, info or debug");
    snprintf(value, strlen(value) + 1, "%s", names[lvl]);
    return PF_OK;
}

/* Any case in, the canonical name out. */
static int check_log_format(void *base, char *value, struct pf_err *err)
{
    enum pf_log_format fmt;
    (void)base;
    if (log_parse_format(value, &fmt) != PF_OK)
        return pf_err_set(err, PF_EINVAL, "must be text or json");
    snprintf(value, strlen(value) + 1, "%s", log_format_name(fmt));
    return PF_OK;
}

/* "log" fills struct conf itself. */
static const struct conf_key log_keys[] = {
    CONF_STR_READ(struct conf, "level", log_level, CONF_F_NONEMPTY, "info", check_log_level, 64),
    CONF_STR_READ(struct conf, "format", log_format, CONF_F_NONEMPTY, "text", check_log_format,
                  64),
};
static const struct conf_table log_table = CONF_TABLE(log_keys, struct conf, NULL, NULL);

/* ---- root ----------------------------------------------------------------- */

static const struct conf_key root_keys[] = {
    CONF_OBJECT(struct conf, "redis", redis, 0, &redis_table),
    CONF_OBJECT_HERE(struct conf, "log", &log_table),
    CONF_OBJECT(struct conf, "controller", controller, 0, &conf_controller_table),
    CONF_OBJECT(struct conf, "node", node, 0, &conf_node_table),
};
static const struct conf_table root_table = CONF_TABLE(root_keys, struct conf, NULL, NULL);

/* The PF_* overrides: variable, key. An empty variable counts as unset,
 * as with docker-compose defaults. */
static const struct {
    const char *var;
    const char *key_path;
    /* NULL: the value is set as the key's string, through its checks */
    int (*set)(struct conf *c, const char *value, struct pf_err *err);
} env_overrides[] = {
    { "PF_REDIS_URL", "redis.url", NULL },
    { "PF_REDIS_SENTINELS", "redis.sentinels", env_redis_sentinels },
    { "PF_REDIS_MASTER_NAME", "redis.master_name", NULL },
    { "PF_LOG_LEVEL", "log.level", NULL },
    { "PF_NODE_ID", "node.id", NULL },
    { "PF_CONTROLLER_ID", "controller.id", NULL },
};

const struct conf_table *conf_table(void)
{
    return &root_table;
}

const char *conf_env_override(size_t i, const char **key_path)
{
    if (i >= PF_ARRAY_LEN(env_overrides))
        return NULL;
    if (key_path != NULL)
        *key_path = env_overrides[i].key_path;
    return env_overrides[i].var;
}

void conf_init_defaults(struct conf *c)
{
    memset(c, 0, sizeof(*c));
    conf_schema_defaults(&root_table, c);
}

int conf_parse(struct conf *c, const char *text, size_t len, struct pf_err *err)
{
    return conf_parse_io(c, text, len, NULL, err);
}

int conf_parse_io(struct conf *c, const char *text, size_t len, const struct conf_io *io,
                  struct pf_err *err)
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
    rc = conf_schema_parse(&root_table, c, root, "", io, &c->warnings, err);
    cJSON_Delete(root);
    return rc;
}

int conf_apply_env(struct conf *c, char *(*getenv_fn)(const char *), struct pf_err *err)
{
    for (size_t i = 0; i < PF_ARRAY_LEN(env_overrides); i++) {
        const char *v = getenv_fn(env_overrides[i].var);
        if (v == NULL || v[0] == '\0')
            continue;
        int rc = env_overrides[i].set != NULL
                     ? env_overrides[i].set(c, v, err)
                     : conf_schema_set(&root_table, c, env_overrides[i].key_path, v, err);
        if (rc != PF_OK) {
            pf_err_prefix(err, "%s: ", env_overrides[i].var);
            return PF_EINVAL;
        }
    }
    /* the overrides may pair keys the file did not (sentinels, a unix:// url) */
    return redis_check(&c->redis, err);
}

/* conf_read_file_fn on the real file system: a regular file (a FIFO or a
 * device is refused, never waited on) of at most <cap> bytes. */
static int read_secret_file(void *arg, const char *path, char *buf, size_t cap, size_t *len,
                            int *is_loose, struct pf_err *err)
{
    struct stat st;
    size_t n = 0;
    int rc = PF_OK;
    (void)arg;

    *len = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0)
        return pf_err_set(err, PF_EIO, "%s", strerror(errno));
    if (fstat(fd, &st) != 0) {
        rc = pf_err_set(err, PF_EIO, "%s", strerror(errno));
        goto out;
    }
    if (!S_ISREG(st.st_mode)) {
        rc = pf_err_set(err, PF_EINVAL, "not a regular file");
        goto out;
    }
    for (;;) {
        char extra;
        ssize_t r = n < cap ? read(fd, buf + n, cap - n) : read(fd, &extra, 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            rc = pf_err_set(err, PF_EIO, "%s", strerror(errno));
            goto out;
        }
        if (r == 0)
            break;
        if (n >= cap) {
            rc = pf_err_set(err, PF_ERANGE, "larger than %zu bytes", cap);
            goto out;
        }
        n += (size_t)r;
    }
    *len = n;
    *is_loose = (st.st_mode & (S_IRWXG | S_IRWXO)) != 0;
out:
    if (rc != PF_OK)
        explicit_bzero(buf, n);
    close(fd);
    return rc;
}

int conf_load_file(struct conf *c, const char *path, struct pf_err *err)
{
    const struct conf_io io = { getenv, read_secret_file, NULL };
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
    rc = conf_parse_io(c, buf, n, &io, err);
    if (rc != PF_OK)
        goto fail;
    rc = conf_apply_env(c, getenv, err);
    if (rc != PF_OK)
        goto fail;
    rc = PF_OK;

fail:
    if (buf != NULL)
        explicit_bzero(buf, n);     /* the file may hold secrets */
    free(buf);
    if (f != NULL)
        fclose(f);
    return rc;
}

void conf_deinit(struct conf *c)
{
    if (c == NULL)
        return;
    conf_schema_deinit(&root_table, c);
    explicit_bzero(c->redis.password, sizeof(c->redis.password));
    explicit_bzero(c->redis.user, sizeof(c->redis.user));
}
