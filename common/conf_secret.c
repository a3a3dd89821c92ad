/* Secrets outside the config's JSON; see conf_secret.h. */
#include "conf_secret.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>

static int is_env_name(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > CONF_ENV_NAME_MAX || (s[0] >= '0' && s[0] <= '9'))
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '_'))
            return 0;
    }
    return 1;
}

/* Printed in reasons: no control characters, so no forged log lines. */
static int is_file_name(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n >= CONF_FILE_PATH_MAX)
        return 0;
    for (size_t i = 0; i < n; i++) {
        if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] == 0x7f)
            return 0;
    }
    return 1;
}

/* "<path>.<key>" for the reasons about the reference object's own keys. */
static void sub_path(char *buf, size_t len, const char *path, const char *key)
{
    char safe[32];
    size_t i = 0;
    for (; key != NULL && key[i] != '\0' && i + 1 < sizeof(safe); i++) {
        unsigned char ch = (unsigned char)key[i];
        safe[i] = (ch >= 0x20 && ch < 0x7f) ? (char)ch : '?';
    }
    safe[i] = '\0';
    if (snprintf(buf, len, "%s.%s", path, safe) < 0)
        buf[0] = '\0';
}

static int read_env(const char *name, const char *path, const struct conf_io *io,
                    struct conf_secret *s, struct pf_err *err)
{
    const char *v = NULL;
    snprintf(s->src, sizeof(s->src), "env %s", name);
    if (io != NULL && io->getenv_fn != NULL)
        v = io->getenv_fn(name);
    if (v == NULL)
        return pf_err_set(err, PF_EINVAL, "%s: env %s is not set", path, name);
    if (v[0] == '\0')
        return pf_err_set(err, PF_EINVAL, "%s: env %s is empty", path, name);
    s->value = v;
    return PF_OK;
}

static int read_file(const char *fname, const char *path, const struct conf_io *io,
                     struct conf_secret *s, struct pf_err *err)
{
    size_t n = 0;
    struct pf_err ferr;

    snprintf(s->src, sizeof(s->src), "file %s", fname);
    if (io == NULL || io->read_file_fn == NULL)
        return pf_err_set(err, PF_EINVAL, "%s: file %s: no file can be read here", path, fname);
    pf_err_clear(&ferr);
    int rc = io->read_file_fn(io->arg, fname, s->buf, CONF_SECRET_FILE_MAX, &n, &s->is_loose,
                              &ferr);
    if (rc == PF_OK && n > CONF_SECRET_FILE_MAX)
        rc = pf_err_set(&ferr, PF_ERANGE, "larger than %d bytes", CONF_SECRET_FILE_MAX);
    if (rc != PF_OK) {
        conf_secret_wipe(s);
        return pf_err_set(err, PF_EINVAL, "%s: file %s: %s", path, fname,
                          ferr.msg[0] != '\0' ? ferr.msg : "cannot be read");
    }
    while (n > 0 && (s->buf[n - 1] == '\n' || s->buf[n - 1] == '\r'))
        n--;
    if (memchr(s->buf, '\0', n) != NULL) {
        conf_secret_wipe(s);
        return pf_err_set(err, PF_EINVAL, "%s: file %s: holds a NUL byte", path, fname);
    }
    if (n == 0)
        return pf_err_set(err, PF_EINVAL, "%s: file %s is empty", path, fname);
    s->buf[n] = '\0';
    s->value = s->buf;
    return PF_OK;
}

int conf_secret_read(const cJSON *item, const char *path, const struct conf_io *io,
                     struct conf_secret *s, struct pf_err *err)
{
    char kpath[CONF_SECRET_SRC_MAX];
    const cJSON *env = NULL, *file = NULL, *it;

    memset(s, 0, sizeof(*s));
    cJSON_ArrayForEach(it, item) {
        const cJSON **slot = NULL;
        sub_path(kpath, sizeof(kpath), path, it->string);
        if (it->string != NULL && strcmp(it->string, "env") == 0)
            slot = &env;
        else if (it->string != NULL && strcmp(it->string, "file") == 0)
            slot = &file;
        else
            return pf_err_set(err, PF_EINVAL, "%s: unknown key", kpath);
        if (*slot != NULL)
            return pf_err_set(err, PF_EINVAL, "%s: duplicate key", kpath);
        *slot = it;
    }
    if (env != NULL && file != NULL)
        return pf_err_set(err, PF_EINVAL, "%s: give env or file, not both", path);
    if (env != NULL) {
        if (!cJSON_IsString(env) || env->valuestring == NULL || !is_env_name(env->valuestring))
            return pf_err_set(err, PF_EINVAL,
                              "%s.env: must be a variable name ([A-Za-z_][A-Za-z0-9_]*, at most %d)",
                              path, CONF_ENV_NAME_MAX);
        return read_env(env->valuestring, path, io, s, err);
    }
    if (file != NULL) {
        if (!cJSON_IsString(file) || file->valuestring == NULL ||
            !is_file_name(file->valuestring))
            return pf_err_set(err, PF_EINVAL,
                              "%s.file: must be a file name (1..%d bytes, no control characters)",
                              path, CONF_FILE_PATH_MAX - 1);
        return read_file(file->valuestring, path, io, s, err);
    }
    return pf_err_set(err, PF_EINVAL, "%s: needs env or file", path);
}

void conf_secret_wipe(struct conf_secret *s)
{
    explicit_bzero(s->buf, sizeof(s->buf));
    s->value = NULL;
}
