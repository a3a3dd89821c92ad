/* libFuzzer entry: provider_parse_lines() over arbitrary bodies, with
 * entries read automatically (host:port, URLs, host:port:user:pass) or by
 * a line_format template (the first byte picks which and the policy).
 * Seeds: tests/corpus/provider_parse/. Every outcome must be PF_OK with at
 * least one upstream, or a failure with a reason of clean UTF-8 that holds
 * no password of an entry. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "provider_parse.h"
#include "str.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const tmpls[] = {
        "{host}:{port}:{user}:{pass}", "{user}:{pass}:{host}:{port}",
        "{user}:{pass}@{host}:{port}", "{host}|{port}|{user}|{pass}",
    };
    static const struct conf_upstream_policy all = { .is_private_allowed = 1 };
    uint8_t sel = size > 0 ? data[0] : 0;
    struct line_format lf;
    struct provider_parse_opts opts = {
        .default_scheme = UPSTREAM_HTTP,
        .policy = (sel & 1) ? &all : NULL,
        .max_upstreams = 1000,
        .provider = "fuzz",
    };
    if (sel & 2) {
        if (line_format_compile(tmpls[(sel >> 2) & 3], &lf, NULL) != PF_OK)
            abort();
        opts.line_format = &lf;
    }
    struct provider_parse_result res;
    struct pf_err err;

    pf_err_clear(&err);
    int rc = provider_parse_lines((const char *)data, size, &opts, &res, &err);
    if (rc == PF_OK && res.nupstreams == 0)
        abort();
    if (rc != PF_OK && rc != PF_ENOMEM) {
        if (res.nupstreams != 0 || err.msg[0] == '\0' || !str_is_clean_text(err.msg, strlen(err.msg)))
            abort();
    }
    for (size_t i = 0; i < res.nupstreams; i++) {
        const struct upstream *u = &res.upstreams[i];
        if (u->port == 0 || u->host[0] == '\0')
            abort();
        /* an accepted password never shows in what is said about the body */
        if (strlen(u->pass) >= 8 && (strstr(err.msg, u->pass) != NULL ||
                                     strstr(res.first_reject, u->pass) != NULL))
            abort();
    }
    provider_parse_result_deinit(&res);
    return 0;
}
