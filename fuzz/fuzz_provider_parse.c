/* libFuzzer entry: provider_parse_lines() over arbitrary bodies.
 * Seeds: tests/corpus/provider_parse/. Every outcome must be PF_OK with at
 * least one upstream, or a failure with a printable reason. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "provider_parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct provider_parse_opts opts = {
        .default_scheme = UPSTREAM_HTTP,
        .is_private_allowed = size > 0 && (data[0] & 1),
        .max_upstreams = 1000,
        .provider = "fuzz",
    };
    struct provider_parse_result res;
    struct pf_err err;

    pf_err_clear(&err);
    int rc = provider_parse_lines((const char *)data, size, &opts, &res, &err);
    if (rc == PF_OK && res.nupstreams == 0)
        abort();
    if (rc != PF_OK && rc != PF_ENOMEM) {
        if (res.nupstreams != 0 || err.msg[0] == '\0')
            abort();
        for (const char *p = err.msg; *p != '\0'; p++)
            if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f)
                abort();
    }
    for (size_t i = 0; i < res.nupstreams; i++)
        if (res.upstreams[i].port == 0 || res.upstreams[i].host[0] == '\0')
            abort();
    provider_parse_result_deinit(&res);
    return 0;
}
