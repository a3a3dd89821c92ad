/* libFuzzer target: common/conf.c on arbitrary config bytes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "conf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct conf c;
    struct pf_err err;

    conf_init_defaults(&c);
    int rc = conf_parse(&c, (const char *)data, size, &err);
    if (rc != PF_OK && rc != PF_EINVAL && rc != PF_ENOMEM)
        abort();
    if (rc != PF_OK && err.msg[0] == '\0')
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
    }
    conf_deinit(&c);
    conf_deinit(&c);
    return 0;
}
