/* libFuzzer entry: provider_answer_parse() with the json format (and the
 * lines format's JSON-error path) over arbitrary bodies, with the entry
 * filter, labels and the next link configured.
 * Seeds: tests/corpus/provider_json/. Every outcome must be PF_OK with at
 * least one upstream and no error class, or a classified failure with a
 * reason of clean UTF-8; labels are clean UTF-8 (an asn digits, optionally
 * after "AS", or empty) and the next link printable ASCII. The first byte picks the options. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "label_value.h"
#include "provider_answer.h"
#include "str.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const enum conf_expire_kind kinds[] = {
        CONF_EXPIRE_TIMESTAMP, CONF_EXPIRE_EPOCH_S, CONF_EXPIRE_EPOCH_MS, CONF_EXPIRE_LIFETIME_S,
    };
    struct conf_provider_json j = { .list = "data", .host = "ip", .port = "port",
                                    .user = "user", .pass = "pass", .scheme = "scheme",
                                    .expire = "expire_time", .expire_tz_offset_min = 480,
                                    .filter_field = "valid", .filter_equals = { "true" },
                                    .nfilter_equals = 1, .label_country = "country_code",
                                    .label_city = "city_name", .label_isp = "asn_name",
                                    .label_region = "region", .label_asn = "asn",
                                    .next = "next" };
    struct conf_provider_errors e = { .code_field = "code", .message_field = "msg",
                                      .codes = { { "10001", 1 }, { "10002", 0 } }, .ncodes = 2 };
    static const struct conf_upstream_policy all = { .is_private_allowed = 1 };
    uint8_t sel = size > 0 ? data[0] : 0;
    struct provider_parse_opts opts = {
        .default_scheme = UPSTREAM_HTTP,
        .policy = (sel & 1) ? &all : NULL,
        .max_upstreams = 1000,
        .provider = "fuzz",
        .format = (sel & 2) ? CONF_FORMAT_LINES : CONF_FORMAT_JSON,
        .json = &j,
        .errors = &e,
        .now_wall_ms = 1795219200000LL,
    };
    j.expire_kind = kinds[(sel >> 2) & 3];
    if (sel & 16) {
        memcpy(j.success_field, "code", 5);
        memcpy(j.success_equals[0], "0", 2);
        j.nsuccess_equals = 1;
    }
    if (sel & 32)
        j.list[0] = '\0';
    if (sel & 128)
        j.nfilter_equals = 0, j.filter_field[0] = '\0';
    struct provider_response r = {
        .http_status = (sel & 64) ? 429 : 200,
        .body = size > 0 ? (const char *)data + 1 : "",
        .body_len = size > 0 ? size - 1 : 0,
        .retry_after = "",
    };
    struct provider_parse_result res;
    struct pf_err err;

    pf_err_clear(&err);
    int rc = provider_answer_parse(&r, &opts, &res, &err);
    if (rc == PF_OK && (res.nupstreams == 0 || res.err_class != PROVIDER_ERR_NONE))
        abort();
    if (rc != PF_OK && rc != PF_ENOMEM) {
        if (res.nupstreams != 0 || err.msg[0] == '\0' || res.err_class == PROVIDER_ERR_NONE ||
            !str_is_clean_text(err.msg, strlen(err.msg)))
            abort();
    }
    for (const char *p = res.next; *p != '\0'; p++)
        if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f)
            abort();
    for (size_t i = 0; i < res.nupstreams; i++)
        if (res.upstreams[i].port == 0 || res.upstreams[i].host[0] == '\0' ||
            (res.upstreams[i].expires_at_ms != 0 &&
             res.upstreams[i].expires_at_ms <= opts.now_wall_ms) ||
            !str_is_clean_text(res.upstreams[i].labels.city, strlen(res.upstreams[i].labels.city)) ||
            !str_is_clean_text(res.upstreams[i].labels.isp, strlen(res.upstreams[i].labels.isp)) ||
            !str_is_clean_text(res.upstreams[i].labels.country,
                               strlen(res.upstreams[i].labels.country)) ||
            !str_is_clean_text(res.upstreams[i].labels.region,
                               strlen(res.upstreams[i].labels.region)) ||
            (res.upstreams[i].labels.asn[0] != '\0' &&
             label_value_check(USER_LABEL_ASN, res.upstreams[i].labels.asn,
                               strlen(res.upstreams[i].labels.asn), &err) != PF_OK))
            abort();
    provider_parse_result_deinit(&res);
    return 0;
}
