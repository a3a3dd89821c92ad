/* The "controller" section of the config; see conf_controller.h. */
#include "conf_controller.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>

#include "addr.h"
#include "label_value.h"
#include "line_format.h"
#include "user_template.h"

#define CONF_PROVIDERS_MAX  256
#define CONF_STATIC_MAX     100000  /* addresses of a static provider */
#define CONF_STATIC_LEN     4096    /* one address, NUL included */

/* ---- controller.health ------------------------------------------------------ */

/* "expect_status": one status (302) or a range "200..399". */
static int health_expect_status(void *base, const cJSON *item, const char *path,
                                struct pf_err *err)
{
    struct conf_health *h = base;
    int lo = 0, hi = 0, used = 0;

    if (cJSON_IsNumber(item)) {
        int64_t v = 0;
        if (conf_schema_int(item, 100, 599, &v, err) != PF_OK) {
            pf_err_prefix(err, "%s: ", path);
            return PF_EINVAL;
        }
        h->expect_status_min = h->expect_status_max = (int)v;
        return PF_OK;
    }
    if (!cJSON_IsString(item) || item->valuestring == NULL ||
        sscanf(item->valuestring, "%3d..%3d%n", &lo, &hi, &used) != 2 ||
        item->valuestring[used] != '\0' || lo < 100 || hi > 599 || lo > hi)
        return pf_err_set(err, PF_EINVAL, "%s: must be a status or \"lo..hi\" within 100..599",
                          path);
    h->expect_status_min = lo;
    h->expect_status_max = hi;
    return PF_OK;
}

static int passive_finish(void *base, const struct conf_obj *obj, struct pf_err *err)
{
    const struct conf_health_passive *p = base;
    if (p->ejection_max_ms < p->ejection_ms)
        return pf_err_set(err, PF_EINVAL, "%s.ejection_max_ms: must be >= ejection_ms (%d)",
                          obj->path, p->ejection_ms);
    return PF_OK;
}

#define P struct conf_health_passive
static const struct conf_key passive_keys[] = {
    CONF_INT(P, "interval_ms", interval_ms, 10, 86400000, 5000),
    CONF_INT(P, "window_ms", window_ms, 10, 86400000, 30000),
    CONF_NUM(P, "failure_ratio", failure_ratio, CONF_F_MIN_OPEN, 0, 1, 0.5),
    CONF_INT(P, "min_requests", min_requests, 1, 1000000000, 10),
    CONF_INT(P, "ejection_ms", ejection_ms, 1, 86400000, 30000),
    CONF_INT(P, "ejection_max_ms", ejection_max_ms, 1, 86400000, 300000),
    CONF_INT(P, "node_max_age_ms", node_max_age_ms, 10, 86400000, 30000),
    CONF_INT(P, "bans_eject_domains", bans_eject_domains, 0, 1000000, 0),
};
#undef P
static const struct conf_table passive_table =
    CONF_TABLE(passive_keys, struct conf_health_passive, NULL, passive_finish);

static void health_init(void *base)
{
    struct conf_health *h = base;
    h->expect_status_min = 200;
    h->expect_status_max = 399;
}

/* The section's defaults apply only when it is present (CONF_F_LAZY):
 * without it the controller publishes every upstream, unchecked. */
#define H struct conf_health
static const struct conf_key health_keys[] = {
    CONF_STR(H, "url", url, 0, NULL, conf_check_http_url),
    CONF_INT(H, "interval_ms", interval_ms, 10, 86400000, 10000),
    CONF_INT(H, "timeout_ms", timeout_ms, 1, 600000, 5000),
    CONF_INT(H, "rise", rise, 1, 100, 2),
    CONF_INT(H, "fall", fall, 1, 100, 3),
    CONF_INT(H, "concurrency", concurrency, 1, 10000, 64),
    CONF_HOOK("expect_status", 0, health_expect_status),
    CONF_INT(H, "max_ejection_percent", max_ejection_percent, 0, 100, 50),
    CONF_INT(H, "latency_publish_interval_ms", latency_publish_interval_ms, 0, 86400000, 60000),
    CONF_PATH(H, "proxy_ca_file", proxy_ca_file, 0),
    CONF_OBJECT_MARK(H, "passive", passive, 0, &passive_table, passive.is_enabled),
};
#undef H
static const struct conf_table health_table =
    CONF_TABLE(health_keys, struct conf_health, health_init, NULL);

/* ---- providers[].json --------------------------------------------------------- */

static const struct conf_choice expire_kinds[] = {
    { "timestamp", CONF_EXPIRE_TIMESTAMP },
    { "epoch_s", CONF_EXPIRE_EPOCH_S },
    { "epoch_ms", CONF_EXPIRE_EPOCH_MS },
    { "lifetime_s", CONF_EXPIRE_LIFETIME_S },
    { NULL, 0 },
};

static int success_finish(void *base, const struct conf_obj *obj, struct pf_err *err)
{
    const struct conf_provider_json *j = base;
    if (j->success_field[0] == '\0' || j->nsuccess_equals == 0)
        return pf_err_set(err, PF_EINVAL, "%s: needs field and equals", obj->path);
    return PF_OK;
}

static int filter_finish(void *base, const struct conf_obj *obj, struct pf_err *err)
{
    const struct conf_provider_json *j = base;
    if (j->filter_field[0] == '\0' || j->nfilter_equals == 0)
        return pf_err_set(err, PF_EINVAL, "%s: needs field and equals", obj->path);
    return PF_OK;
}

/* "success", "filter" and "labels" fill struct conf_provider_json itself. */
#define J struct conf_provider_json
static const struct conf_key success_keys[] = {
    CONF_STR(J, "field", success_field, CONF_F_NONEMPTY, NULL, NULL),
    CONF_SCALARS(J, "equals", success_equals, nsuccess_equals),
};
static const struct conf_table success_table = CONF_TABLE(success_keys, J, NULL, success_finish);

static const struct conf_key filter_keys[] = {
    CONF_STR(J, "field", filter_field, CONF_F_NONEMPTY, NULL, NULL),
    CONF_SCALARS(J, "equals", filter_equals, nfilter_equals),
};
static const struct conf_table filter_table = CONF_TABLE(filter_keys, J, NULL, filter_finish);

static const struct conf_key labels_keys[] = {
    CONF_STR(J, "country", label_country, CONF_F_NONEMPTY, NULL, NULL),
    CONF_STR(J, "city", label_city, CONF_F_NONEMPTY, NULL, NULL),
    CONF_STR(J, "isp", label_isp, CONF_F_NONEMPTY, NULL, NULL),
    CONF_STR(J, "region", label_region, CONF_F_NONEMPTY, NULL, NULL),
    CONF_STR(J, "asn", label_asn, CONF_F_NONEMPTY, NULL, NULL),
};
static const struct conf_table labels_table = CONF_TABLE(labels_keys, J, NULL, NULL);

static const struct conf_key json_keys[] = {
    CONF_STR(J, "list", list, 0, "data", NULL),
    CONF_STR(J, "host", host, CONF_F_NONEMPTY, "ip", NULL),
    CONF_STR(J, "port", port, 0, "port", NULL),
    CONF_STR(J, "user", user, 0, NULL, NULL),
    CONF_STR(J, "pass", pass, 0, NULL, NULL),
    CONF_STR(J, "scheme", scheme, 0, NULL, NULL),
    CONF_STR(J, "expire", expire, 0, NULL, NULL),
    CONF_CHOICE(J, "expire_kind", expire_kind, 0, expire_kinds, CONF_EXPIRE_TIMESTAMP),
    CONF_INT(J, "expire_tz_offset_min", expire_tz_offset_min, -24 * 60, 24 * 60, 0),
    CONF_OBJECT_HERE(J, "success", &success_table),
    CONF_OBJECT_HERE(J, "filter", &filter_table),
    CONF_OBJECT_HERE(J, "labels", &labels_table),
    CONF_STR(J, "next", next, CONF_F_NONEMPTY, NULL, NULL),
};
#undef J
static const struct conf_table json_table =
    CONF_TABLE(json_keys, struct conf_provider_json, NULL, NULL);

/* ---- providers[].errors ------------------------------------------------------- */

/* "codes": {"<code>": "fatal" | "transient", ...} */
static int errors_codes(void *base, const cJSON *item, const char *path, struct pf_err *err)
{
    struct conf_provider_errors *e = base;
    const cJSON *it;

    if (!cJSON_IsObject(item) || cJSON_GetArraySize(item) > CONF_CODES_MAX)
        return pf_err_set(err, PF_EINVAL, "%s: must be an object of at most %d codes", path,
                          CONF_CODES_MAX);
    e->ncodes = 0;
    cJSON_ArrayForEach(it, item) {
        struct conf_provider_code *c = &e->codes[e->ncodes];
        if (it->string == NULL || it->string[0] == '\0' ||
            strlen(it->string) >= sizeof(c->code))
            return pf_err_set(err, PF_EINVAL, "%s: codes must be 1..%zu chars", path,
                              sizeof(c->code) - 1);
        if (!cJSON_IsString(it) || (strcmp(it->valuestring, "fatal") != 0 &&
                                    strcmp(it->valuestring, "transient") != 0))
            return pf_err_set(err, PF_EINVAL, "%s: values must be fatal or transient", path);
        memcpy(c->code, it->string, strlen(it->string) + 1);
        c->is_fatal = strcmp(it->valuestring, "fatal") == 0;
        e->ncodes++;
    }
    return PF_OK;
}

#define E struct conf_provider_errors
static const struct conf_key errors_keys[] = {
    CONF_STR(E, "code_field", code_field, CONF_F_NONEMPTY, "code", NULL),
    CONF_STR(E, "message_field", message_field, CONF_F_NONEMPTY, "msg", NULL),
    CONF_HOOK("codes", 0, errors_codes),
    CONF_STRS(E, "fatal_words", fatal_words, nfatal_words),
    CONF_STRS(E, "transient_words", transient_words, ntransient_words),
};
#undef E
static const struct conf_table errors_table =
    CONF_TABLE(errors_keys, struct conf_provider_errors, NULL, NULL);

/* ---- providers[].auth ------------------------------------------------------------ */

static const struct conf_choice auth_kinds[] = {
    { "header", CONF_AUTH_HEADER },
    { "basic", CONF_AUTH_BASIC },
    { NULL, 0 },
};

/* Header names are RFC 9110 tokens. */
static int check_header_name(void *base, char *value, struct pf_err *err)
{
    (void)base;
    for (const char *q = value; *q != '\0'; q++) {
        if (strchr("!#$%&'*+-.^_`|~", *q) == NULL &&
            !((*q >= '0' && *q <= '9') || (*q >= 'a' && *q <= 'z') || (*q >= 'A' && *q <= 'Z')))
            return pf_err_set(err, PF_EINVAL, "invalid header name");
    }
    return PF_OK;
}

static int auth_finish(void *base, const struct conf_obj *obj, struct pf_err *err)
{
    const struct conf_provider_auth *a = base;
    if (a->kind == CONF_AUTH_HEADER && (a->name[0] == '\0' || a->value[0] == '\0' ||
                                        a->user[0] != '\0' || a->pass[0] != '\0'))
        return pf_err_set(err, PF_EINVAL, "%s: type header needs name and value only",
                          obj->path);
    if (a->kind == CONF_AUTH_BASIC && (a->user[0] == '\0' || a->name[0] != '\0' ||
                                       a->value[0] != '\0' || strchr(a->user, ':') != NULL))
        return pf_err_set(err, PF_EINVAL, "%s: type basic needs user (no ':') and pass only",
                          obj->path);
    return PF_OK;
}

/* Credentials: never logged; reasons describe them, never quote them. */
#define A struct conf_provider_auth
static const struct conf_key auth_keys[] = {
    CONF_CHOICE(A, "type", kind, CONF_F_REQUIRED, auth_kinds, CONF_AUTH_NONE),
    CONF_STR(A, "name", name, CONF_F_NONEMPTY, NULL, check_header_name),
    CONF_SECRET(A, "value", value, CONF_F_NONEMPTY, conf_check_printable),
    CONF_STR(A, "user", user, CONF_F_NONEMPTY, NULL, conf_check_printable),
    CONF_SECRET(A, "pass", pass, CONF_F_NONEMPTY, conf_check_printable),
};
#undef A
static const struct conf_table auth_table =
    CONF_TABLE(auth_keys, struct conf_provider_auth, NULL, auth_finish);

/* ---- providers[] ------------------------------------------------------------------ */

static const struct conf_choice provider_types[] = {
    { "static", CONF_PROVIDER_STATIC },
    { "api", CONF_PROVIDER_API },
    { "file", CONF_PROVIDER_FILE },
    { NULL, 0 },
};

static const struct conf_choice body_formats[] = {
    { "lines", CONF_FORMAT_LINES },
    { "json", CONF_FORMAT_JSON },
    { NULL, 0 },
};

static const struct conf_choice http_methods[] = {
    { "GET", 0 },
    { "POST", 1 },
    { NULL, 0 },
};

static const struct conf_choice schemes[] = {
    { "http", UPSTREAM_HTTP },
    { "https", UPSTREAM_HTTPS },
    { "socks5", UPSTREAM_SOCKS5 },
    { "socks5h", UPSTREAM_SOCKS5H },
    { NULL, 0 },
};

static int check_line_format(void *base, char *value, struct pf_err *err)
{
    struct line_format lf;
    (void)base;
    return line_format_compile(value, &lf, err);
}

/* Characters of an address cannot separate addresses. */
static int check_separators(void *base, char *value, struct pf_err *err)
{
    (void)base;
    for (const char *q = value; *q != '\0'; q++) {
        if ((unsigned char)*q <= 0x20 || (unsigned char)*q >= 0x7f ||
            strchr(":@/[]._-%", *q) != NULL ||
            (*q >= '0' && *q <= '9') || (*q >= 'a' && *q <= 'z') || (*q >= 'A' && *q <= 'Z'))
            return pf_err_set(err, PF_EINVAL, "this character cannot separate addresses");
    }
    return PF_OK;
}

/* providers[].labels: static label values (common/label_value.h). */
static int check_label_text(void *base, char *value, struct pf_err *err)
{
    (void)base;
    return label_value_check(USER_LABEL_COUNTRY, value, strlen(value), err);
}

static int check_label_asn(void *base, char *value, struct pf_err *err)
{
    (void)base;
    return label_value_check(USER_LABEL_ASN, value, strlen(value), err);
}

#define L struct upstream_labels
static const struct conf_key static_labels_keys[] = {
    CONF_STR(L, "country", country, CONF_F_NONEMPTY, NULL, check_label_text),
    CONF_STR(L, "region", region, CONF_F_NONEMPTY, NULL, check_label_text),
    CONF_STR(L, "city", city, CONF_F_NONEMPTY, NULL, check_label_text),
    CONF_STR(L, "isp", isp, CONF_F_NONEMPTY, NULL, check_label_text),
    CONF_STR(L, "asn", asn, CONF_F_NONEMPTY, NULL, check_label_asn),
};
#undef L
static const struct conf_table static_labels_table =
    CONF_TABLE(static_labels_keys, struct upstream_labels, NULL, NULL);

static int check_user_template(void *base, char *value, struct pf_err *err)
{
    (void)base;
    return user_template_check(value, err);
}

/* What only the whole provider object can tell: keys that belong to another
 * type or format, cross-key limits, the static addresses, unique names. */
static int provider_finish(void *base, const struct conf_obj *obj, struct pf_err *err)
{
    const struct conf_provider *p = base;
    const char *path = obj->path;
    char ipath[CONF_PATH_MAX];
    struct upstream u;
    struct pf_err aerr;

    if (p->retry_cap_ms < p->retry_base_ms)
        return pf_err_set(err, PF_EINVAL, "%s.retry_cap_ms: must be >= retry_base_ms (%d)",
                          path, p->retry_base_ms);
    if (p->breaker_open_max_ms < p->breaker_open_ms)
        return pf_err_set(err, PF_EINVAL,
                          "%s.breaker_open_max_ms: must be >= breaker_open_ms (%d)",
                          path, p->breaker_open_ms);
    if (p->type != CONF_PROVIDER_API) {
        static const char *const api_only[] = { "url", "method", "body", "content_type",
                                                "auth", "timeout_ms", "connect_timeout_ms" };
        for (size_t i = 0; i < PF_ARRAY_LEN(api_only); i++) {
            if (conf_obj_has(obj, api_only[i]))
                return pf_err_set(err, PF_EINVAL, "%s.%s: only valid for type api",
                                  path, api_only[i]);
        }
    }
    if (p->type != CONF_PROVIDER_FILE && conf_obj_has(obj, "path"))
        return pf_err_set(err, PF_EINVAL, "%s.path: only valid for type file", path);
    if (p->format != CONF_FORMAT_JSON && conf_obj_has(obj, "json"))
        return pf_err_set(err, PF_EINVAL, "%s.json: only valid for format json", path);
    if ((p->format != CONF_FORMAT_LINES || p->type == CONF_PROVIDER_STATIC) &&
        conf_obj_has(obj, "line_format"))
        return pf_err_set(err, PF_EINVAL, "%s.line_format: only valid for format lines", path);
    if (conf_obj_has(obj, "max_pages") &&
        (p->format != CONF_FORMAT_JSON || p->json.next[0] == '\0' || p->type != CONF_PROVIDER_API))
        return pf_err_set(err, PF_EINVAL, "%s.max_pages: only valid for type api with json.next",
                          path);
    if (p->json.next[0] != '\0' && p->type != CONF_PROVIDER_API)
        return pf_err_set(err, PF_EINVAL, "%s.json.next: only valid for type api", path);
    if ((p->request_body[0] != '\0' || p->content_type[0] != '\0') && !p->is_post)
        return pf_err_set(err, PF_EINVAL, "%s.body: only valid for method POST", path);
    if (p->type == CONF_PROVIDER_FILE) {
        if (!conf_obj_has(obj, "path"))
            return pf_err_set(err, PF_EINVAL, "%s.path: missing", path);
        if (conf_obj_has(obj, "upstreams"))
            return pf_err_set(err, PF_EINVAL, "%s.upstreams: only valid for type static", path);
    } else if (p->type == CONF_PROVIDER_STATIC) {
        static const char *const api_only[] = { "format", "interval_ms", "max_body_bytes",
                                                "separator", "errors" };
        for (size_t i = 0; i < PF_ARRAY_LEN(api_only); i++) {
            if (conf_obj_has(obj, api_only[i]))
                return pf_err_set(err, PF_EINVAL, "%s.%s: only valid for type api",
                                  path, api_only[i]);
        }
        if (!conf_obj_has(obj, "upstreams"))
            return pf_err_set(err, PF_EINVAL, "%s.upstreams: missing", path);
        for (int i = 0; i < p->nstatic; i++) {
            const char *s = p->static_upstreams[i];
            snprintf(ipath, sizeof(ipath), "%s.upstreams[%d]", path, i);
            pf_err_clear(&aerr);
            if (addr_parse_upstream(s, strlen(s), p->default_scheme, &u, &aerr) != PF_OK ||
                addr_validate_upstream(&u, &p->allow_private, &aerr) != PF_OK) {
                memset(&u, 0, sizeof(u));
                return pf_err_set(err, PF_EINVAL, "%s: %s", ipath, aerr.msg);
            }
        }
        memset(&u, 0, sizeof(u));
    } else {
        if (conf_obj_has(obj, "upstreams"))
            return pf_err_set(err, PF_EINVAL, "%s.upstreams: only valid for type static", path);
        if (!conf_obj_has(obj, "url"))
            return pf_err_set(err, PF_EINVAL, "%s.url: missing", path);
    }
    for (int j = 1; j <= obj->index; j++) {
        if (strcmp(p[-j].name, p->name) == 0)
            return pf_err_set(err, PF_EINVAL, "%s: duplicate name '%s'", obj->array_path,
                              p->name);
    }
    return PF_OK;
}

/* interval_ms and ttl_s default to 0: the controller's values, filled in
 * once the whole section is read (conf_controller's finish). */
#define R struct conf_provider
static const struct conf_key provider_keys[] = {
    CONF_NAME(R, "name", name, CONF_F_REQUIRED),
    CONF_CHOICE(R, "method", is_post, 0, http_methods, 0),
    CONF_SECRET(R, "body", request_body, 0, NULL),
    CONF_STR(R, "content_type", content_type, CONF_F_NONEMPTY, NULL, conf_check_printable),
    CONF_OBJECT(R, "auth", auth, 0, &auth_table),
    CONF_PATH(R, "path", path, CONF_F_NONEMPTY),
    CONF_STR(R, "separator", separators, CONF_F_NONEMPTY, NULL, check_separators),
    CONF_OBJECT(R, "json", json, 0, &json_table),
    CONF_OBJECT(R, "errors", errors, 0, &errors_table),
    CONF_CHOICE(R, "type", type, CONF_F_REQUIRED, provider_types, CONF_PROVIDER_STATIC),
    CONF_CHOICE(R, "format", format, 0, body_formats, CONF_FORMAT_LINES),
    /* The URL may carry an API key: a secret, never logged whole. */
    CONF_SECRET(R, "url", url, CONF_F_NONEMPTY, conf_check_http_url),
    CONF_STRV(R, "upstreams", static_upstreams, nstatic, CONF_STATIC_MAX, CONF_STATIC_LEN),
    CONF_CHOICE(R, "default_scheme", default_scheme, 0, schemes, UPSTREAM_HTTP),
    CONF_INT(R, "interval_ms", interval_ms, 10, 86400000, 0),
    CONF_INT(R, "timeout_ms", timeout_ms, 1, 600000, 10000),
    CONF_INT(R, "connect_timeout_ms", connect_timeout_ms, 1, 600000, 3000),
    CONF_INT(R, "max_body_bytes", max_body_bytes, 1, 64 * 1024 * 1024, 1024 * 1024),
    CONF_INT(R, "ttl_s", ttl_s, 1, 30 * 86400, 0),
    CONF_INT(R, "priority", priority, -1000000, 1000000, 0),
    CONF_POLICY(R, "allow_private", allow_private),
    CONF_STR(R, "line_format", line_format, CONF_F_NONEMPTY, NULL, check_line_format),
    CONF_INT(R, "tier", tier, 0, UPSTREAM_TIER_MAX, 0),
    CONF_OBJECT(R, "labels", labels, 0, &static_labels_table),
    CONF_STR(R, "user_template", user_template, CONF_F_NONEMPTY, NULL, check_user_template),
    CONF_INT(R, "max_pages", max_pages, 1, 1000, 10),
    CONF_INT(R, "retry_base_ms", retry_base_ms, 1, 3600000, 500),
    CONF_INT(R, "retry_cap_ms", retry_cap_ms, 1, 3600000, 30000),
    CONF_INT(R, "retry_attempts", retry_attempts, 1, 10, 3),
    CONF_INT(R, "breaker_failures", breaker_failures, 1, 1000, 5),
    CONF_INT(R, "breaker_open_ms", breaker_open_ms, 1, 86400000, 30000),
    CONF_INT(R, "breaker_open_max_ms", breaker_open_max_ms, 1, 86400000, 600000),
    CONF_INT(R, "fatal_recheck_s", fatal_recheck_s, 1, 7 * 86400, 3600),
};
#undef R
static const struct conf_table provider_table =
    CONF_TABLE(provider_keys, struct conf_provider, NULL, provider_finish);

/* ---- controller ---------------------------------------------------------------------- */

static void controller_init(void *base)
{
    struct conf_controller *ctl = base;
    conf_default_id(ctl->id, sizeof(ctl->id));
}

/* Provider settings inherited from the controller section, whichever
 * order the keys came in. */
static int controller_finish(void *base, const struct conf_obj *obj, struct pf_err *err)
{
    struct conf_controller *ctl = base;
    (void)obj;
    (void)err;
    for (int i = 0; i < ctl->nproviders; i++) {
        struct conf_provider *p = &ctl->providers[i];
        if (p->interval_ms == 0)
            p->interval_ms = ctl->poll_interval_ms;
        if (p->ttl_s == 0)
            p->ttl_s = ctl->default_ttl_s;
    }
    return PF_OK;
}

#define C struct conf_controller
/* controller.admin_token: a Bearer token (RFC 6750 characters, 16..255 of
 * them); errors describe it, never quote it. */
static int check_admin_token(void *base, char *value, struct pf_err *err)
{
    (void)base;
    size_t n = strlen(value);
    if (strspn(value, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                      "0123456789-._~+/=") != n)
        return pf_err_set(err, PF_EINVAL, "only letters, digits and -._~+/= are allowed");
    if (n < 16)
        return pf_err_set(err, PF_EINVAL, "at least 16 characters (e.g. openssl rand -hex 16)");
    return PF_OK;
}

static const struct conf_key controller_keys[] = {
    CONF_OBJECT_MARK(C, "health", health, CONF_F_LAZY, &health_table, health.is_enabled),
    CONF_NAME(C, "id", id, 0),
    CONF_LISTEN(C, "admin_listen", admin_listen, 0, NULL),
    CONF_SECRET(C, "admin_token", admin_token, 0, check_admin_token),
    CONF_INT(C, "poll_interval_ms", poll_interval_ms, 10, 86400000, 10000),
    CONF_INT(C, "default_ttl_s", default_ttl_s, 1, 30 * 86400, 300),
    CONF_INT(C, "heartbeat_interval_ms", heartbeat_interval_ms, 10, 600000, 2000),
    CONF_INT(C, "lease_ms", lease_ms, 300, 600000, 6000),
    CONF_ARRAY(C, "providers", providers, nproviders, CONF_PROVIDERS_MAX, "providers",
               &provider_table),
};
#undef C

const struct conf_table conf_controller_table =
    CONF_TABLE(controller_keys, struct conf_controller, controller_init, controller_finish);
