/* libFuzzer target: common/conf.c and its engine on arbitrary config bytes,
 * with a fake environment and file system so that secrets given as
 * {"env": NAME} and {"file": PATH} are read, checked and refused too. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "conf.h"
#include "conf_fake_io.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct conf c;
    struct pf_err err;

    conf_init_defaults(&c);
    int rc = conf_parse_io(&c, (const char *)data, size, &conf_fake_io, &err);
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
