/* libFuzzer target: common/conf.c and its engine on arbitrary config bytes,
 * with a fake environment and file system so that secrets given as
 * {"env": NAME} and {"file": PATH} are read, checked and refused too. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "conf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* PF_FUZZ_URL, PF_FUZZ_PASS, PF_FUZZ_REDIS and PF_FUZZ_EMPTY are set. */
static char *fuzz_getenv(const char *name)
{
    static char url[] = "https://api.example/list?key=FUZZKEY";
    static char pass[] = "fuzz-pass";
    static char redis[] = "redis://:FUZZPW@127.0.0.1:6379/1";
    static char empty[] = "";
    if (strcmp(name, "PF_FUZZ_URL") == 0)
        return url;
    if (strcmp(name, "PF_FUZZ_PASS") == 0)
        return pass;
    if (strcmp(name, "PF_FUZZ_REDIS") == 0)
        return redis;
    if (strcmp(name, "PF_FUZZ_EMPTY") == 0)
        return empty;
    return NULL;
}

/* /s/<x>: the file holds <x> and a newline; /loose/<x>: the same, readable
 * by others; /big: larger than <cap>; anything else is missing. */
static int fuzz_read_file(void *arg, const char *path, char *buf, size_t cap, size_t *len,
                          int *is_loose, struct pf_err *err)
{
    (void)arg;
    if (strcmp(path, "/big") == 0)
        return pf_err_set(err, PF_ERANGE, "larger than %zu bytes", cap);
    const char *body = NULL;
    if (strncmp(path, "/s/", 3) == 0)
        body = path + 3;
    else if (strncmp(path, "/loose/", 7) == 0)
        body = path + 7;
    if (body == NULL)
        return pf_err_set(err, PF_EIO, "No such file or directory");
    size_t n = strlen(body);
    if (n + 1 > cap)
        return pf_err_set(err, PF_ERANGE, "larger than %zu bytes", cap);
    memcpy(buf, body, n);
    buf[n] = '\n';
    *len = n + 1;
    *is_loose = body != path + 3;
    return PF_OK;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const struct conf_io io = { fuzz_getenv, fuzz_read_file, NULL };
    struct conf c;
    struct pf_err err;

    conf_init_defaults(&c);
    int rc = conf_parse_io(&c, (const char *)data, size, &io, &err);
    if (rc != PF_OK && rc != PF_EINVAL && rc != PF_ENOMEM)
        abort();
    if (rc != PF_OK && err.msg[0] == '\0')
        abort();
    /* A secret from the environment never shows in a reason (unless the
     * input itself holds those bytes, e.g. in a key name that is echoed). */
    static const char *const env_secrets[] = { "FUZZKEY", "FUZZPW", "fuzz-pass" };
    for (size_t i = 0; rc != PF_OK && i < sizeof(env_secrets) / sizeof(env_secrets[0]); i++)
        if (strstr(err.msg, env_secrets[i]) != NULL &&
            memmem(data, size, env_secrets[i], strlen(env_secrets[i])) == NULL)
            abort();
    if (c.warnings.n < 0)
        abort();
    if (rc == PF_OK) {
        /* Invariants the shells rely on. */
        if (c.node.max_header_bytes < 1024 || c.node.retries < 0 || c.node.retries > 10)
            abort();
        for (int i = 0; i < c.controller.nproviders; i++) {
            const struct conf_provider *p = &c.controller.providers[i];
            if (p->interval_ms <= 0 || p->ttl_s <= 0 || p->name[0] == '\0')
                abort();
            if (p->type == CONF_PROVIDER_API && strncasecmp(p->url, "http", 4) != 0)
                abort();
        }
        for (int i = 0; i < c.node.nusers; i++)
            if (c.node.users[i].user[0] == '\0' || strchr(c.node.users[i].user, ':') != NULL)
                abort();
        if (c.redis.port == 0 && c.redis.unix_path[0] == '\0')   /* TCP needs a port */
            abort();
    }
    conf_deinit(&c);
    conf_deinit(&c);
    return 0;
}
