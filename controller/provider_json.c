/* JSON provider bodies: walk the configured paths with cJSON, turn each
 * entry into an address string for provider_entry_add(), and turn error
 * answers into one classified reason. */
#include "provider_json.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "json_text.h"
#include "label_value.h"
#include "str.h"

#define JSON_DEPTH_MAX   8      /* segments of a dotted path */
#define JSON_TEXT_MAX    64     /* canonical text of a code */

/* Defaults when opts->json is NULL: {"code":0,"data":[{"ip","port"}]}. */
static const struct conf_provider_json json_defaults = {
    .list = "data", .host = "ip", .port = "port",
};

static const struct conf_provider_errors errors_defaults = {
    .code_field = "code", .message_field = "msg",
};

/* Looks up dotted <path> ("data.list") under <root>; "" is <root> itself.
 * Numeric segments index arrays ("data.0.ip"). Returns NULL when absent. */
static const cJSON *json_get(const cJSON *root, const char *path)
{
    const cJSON *cur = root;
    char seg[CONF_FIELD_MAX];
    int depth = 0;

    while (cur != NULL && *path != '\0') {
        const char *dot = strchr(path, '.');
        size_t n = dot != NULL ? (size_t)(dot - path) : strlen(path);
        if (n >= sizeof(seg) || ++depth > JSON_DEPTH_MAX)
            return NULL;
        memcpy(seg, path, n);
        seg[n] = '\0';
        if (cJSON_IsArray(cur)) {
            char *end;
            long i = strtol(seg, &end, 10);
            cur = (n > 0 && *end == '\0' && i >= 0 && i < 1000000) ?
                  cJSON_GetArrayItem(cur, (int)i) : NULL;
        } else if (cJSON_IsObject(cur)) {
            cur = cJSON_GetObjectItemCaseSensitive(cur, seg);
        } else {
            cur = NULL;
        }
        path += n;
        if (*path == '.')
            path++;
    }
    return cur;
}

static const char *json_type_name(const cJSON *v)
{
    if (v == NULL)
        return "missing";
    if (cJSON_IsArray(v))
        return "array";
    if (cJSON_IsObject(v))
        return "object";
    if (cJSON_IsString(v))
        return "string";
    if (cJSON_IsNumber(v))
        return "number";
    if (cJSON_IsBool(v))
        return "boolean";
    return "null";
}

/* Fills <err> with the provider's own error from <root> ("provider error
 * code 10001: IP not whitelisted", or "<fallback>: <msg>" without a code)
 * and returns its class: the code table first, then the message wording.
 * Both code and message are quoted through provider_quote(). */
static enum provider_err_class json_report(const cJSON *root,
                                           const struct provider_parse_opts *opts,
                                           const char *fallback, struct pf_err *err)
{
    const struct conf_provider_errors *errors = opts->errors;
    const struct conf_provider_errors *e = errors != NULL ? errors : &errors_defaults;
    const cJSON *code = cJSON_IsObject(root) ? json_get(root, e->code_field) : NULL;
    const cJSON *msg = cJSON_IsObject(root) ? json_get(root, e->message_field) : NULL;
    char code_text[JSON_TEXT_MAX] = "";
    char safe_code[JSON_TEXT_MAX * 2];
    char safe_msg[PROVIDER_QUOTE_MAX * 4 + 1] = "";
    enum provider_err_class cls = PROVIDER_ERR_TRANSIENT;
    int is_known = 0;
    const char *m = cJSON_IsString(msg) && msg->valuestring != NULL ? msg->valuestring : "";

    /* Some APIs name the message "message" or "error"; try them too. */
    if (m[0] == '\0' && cJSON_IsObject(root)) {
        static const char *const alt[] = { "msg", "message", "error", "err", "info", "detail" };
        for (size_t i = 0; i < sizeof(alt) / sizeof(alt[0]) && m[0] == '\0'; i++) {
            const cJSON *a = cJSON_GetObjectItemCaseSensitive(root, alt[i]);
            if (cJSON_IsString(a) && a->valuestring != NULL)
                m = a->valuestring;
        }
    }
    provider_quote(m, strlen(m), opts, safe_msg, sizeof(safe_msg));
    if (code != NULL && json_scalar_text(code, code_text, sizeof(code_text)) == PF_OK) {
        cls = provider_classify_code(code_text, errors, &is_known);
        provider_quote(code_text, strlen(code_text), opts, safe_code, sizeof(safe_code));
        if (strcmp(fallback, "provider error") == 0)
            pf_err_set(err, PF_EINVAL, "provider error code %s%s%s", safe_code,
                       safe_msg[0] ? ": " : "", safe_msg);
        else
            pf_err_set(err, PF_EINVAL, "%s, code %s%s%s", fallback, safe_code,
                       safe_msg[0] ? ": " : "", safe_msg);
    } else {
        pf_err_set(err, PF_EINVAL, "%s%s%s", fallback, safe_msg[0] ? ": " : "", safe_msg);
    }
    if (!is_known)
        cls = provider_classify_text(m, strlen(m), errors);
    return cls;
}

int provider_json_error(const char *body, size_t len, const struct provider_parse_opts *opts,
                        enum provider_err_class *cls, struct pf_err *err)
{
    cJSON *root;

    if (body == NULL || len == 0)
        return PF_ENOENT;
    root = cJSON_ParseWithLengthOpts(body, len, NULL, 0);
    if (root == NULL)
        return PF_ENOENT;
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return PF_ENOENT;
    }
    *cls = json_report(root, opts, "provider error", err);
    cJSON_Delete(root);
    return PF_EINVAL;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant). */
static int64_t json_days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static int json_digits(const char *s, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return PF_EINVAL;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return PF_OK;
}

int provider_json_timestamp_ms(const char *s, int tz_offset_min, int64_t *out)
{
    static const int mdays[] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    int y, mo, d, h, mi, se;
    size_t n = strlen(s);
    size_t i = 19;

    if (n < 19 || s[4] != '-' || s[7] != '-' || (s[10] != ' ' && s[10] != 'T') ||
        s[13] != ':' || s[16] != ':' ||
        json_digits(s, 4, &y) != PF_OK || json_digits(s + 5, 2, &mo) != PF_OK ||
        json_digits(s + 8, 2, &d) != PF_OK || json_digits(s + 11, 2, &h) != PF_OK ||
        json_digits(s + 14, 2, &mi) != PF_OK || json_digits(s + 17, 2, &se) != PF_OK)
        return PF_EINVAL;
    if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] || h > 23 || mi > 59 ||
        se > 60)
        return PF_EINVAL;
    if (s[i] == '.') {
        for (i++; s[i] >= '0' && s[i] <= '9'; i++)
            ;
    }
    if (s[i] == 'Z' && s[i + 1] == '\0')
        tz_offset_min = 0;
    else if (s[i] != '\0')
        return PF_EINVAL;
    int64_t secs = json_days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + se;
    *out = (secs - (int64_t)tz_offset_min * 60) * 1000;
    return PF_OK;
}

/* A number, or a string holding only digits (with an optional fraction). */
static int json_number(const cJSON *v, double *out)
{
    if (cJSON_IsNumber(v) && isfinite(v->valuedouble)) {
        *out = v->valuedouble;
        return PF_OK;
    }
    if (cJSON_IsString(v) && v->valuestring != NULL && v->valuestring[0] != '\0') {
        char *end;
        const char *p = v->valuestring;
        if (!((p[0] >= '0' && p[0] <= '9') || p[0] == '-') || strlen(p) > 32)
            return PF_EINVAL;
        double d = strtod(p, &end);
        if (*end != '\0' || !isfinite(d))
            return PF_EINVAL;
        *out = d;
        return PF_OK;
    }
    return PF_EINVAL;
}

/* Expiry of field <v> by <j>'s kind. Returns PF_OK or PF_EINVAL with why in
 * <why>. */
static int json_expiry(const cJSON *v, const struct conf_provider_json *j, int64_t now_ms,
                       int64_t *out, const char **why)
{
    double d;

    if (j->expire_kind == CONF_EXPIRE_TIMESTAMP && cJSON_IsString(v) && v->valuestring != NULL) {
        if (provider_json_timestamp_ms(v->valuestring, j->expire_tz_offset_min, out) != PF_OK) {
            *why = "malformed expiry timestamp";
            return PF_EINVAL;
        }
    } else if (json_number(v, &d) == PF_OK && j->expire_kind != CONF_EXPIRE_TIMESTAMP) {
        /* 1e13 s is year 318857: anything larger is garbage, not a time. */
        if (d < 0 || d > 1e13 * (j->expire_kind == CONF_EXPIRE_EPOCH_MS ? 1000 : 1)) {
            *why = "expiry out of range";
            return PF_EINVAL;
        }
        switch (j->expire_kind) {
        case CONF_EXPIRE_EPOCH_S:    *out = (int64_t)(d * 1000); break;
        case CONF_EXPIRE_EPOCH_MS:   *out = (int64_t)d; break;
        case CONF_EXPIRE_LIFETIME_S: *out = now_ms + (int64_t)(d * 1000); break;
        default:                     *out = 0; break;
        }
    } else {
        *why = "missing or malformed expiry";
        return PF_EINVAL;
    }
    if (*out <= now_ms) {
        *why = "already expired";
        return PF_EINVAL;
    }
    return PF_OK;
}

/* Appends <s> percent-encoded (all but unreserved) to <buf> at <*off>. */
static int json_pct_append(char *buf, size_t len, size_t *off, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (; *s != '\0'; s++) {
        unsigned char c = (unsigned char)*s;
        int is_plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                       (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' || c == '~';
        if (*off + 4 >= len)
            return PF_ERANGE;
        if (is_plain) {
            buf[(*off)++] = (char)c;
        } else {
            buf[(*off)++] = '%';
            buf[(*off)++] = hex[c >> 4];
            buf[(*off)++] = hex[c & 15];
        }
    }
    buf[*off] = '\0';
    return PF_OK;
}

/* A string field at <path> of <obj>, "" when the path is "" or absent; a
 * number is accepted as its text (ports, numeric user names). */
static int json_field_text(const cJSON *obj, const char *path, char *buf, size_t len)
{
    buf[0] = '\0';
    if (path[0] == '\0')
        return PF_OK;
    const cJSON *v = json_get(obj, path);
    if (v == NULL || cJSON_IsNull(v))
        return PF_OK;
    if (cJSON_IsString(v) || cJSON_IsNumber(v))
        return json_scalar_text(v, buf, len) == PF_OK ? PF_OK : PF_ERANGE;
    return PF_EINVAL;
}

/* Sets label <lab> of <l> from the field at <path> of <o> (a string or
 * number), as clean UTF-8 cut to fit; left "" when the path is "" or
 * absent, or the value fails label_value_check() (an asn that is no
 * number): a label is descriptive, the upstream is kept without it. */
static void json_label(const cJSON *o, const char *path, enum user_label lab,
                       struct upstream_labels *l)
{
    char text[JSON_TEXT_MAX * 4];
    char clean[UPSTREAM_LABEL_MAX];
    const char *v = NULL;
    struct pf_err err;

    if (path[0] == '\0')
        return;
    const cJSON *it = json_get(o, path);
    if (cJSON_IsString(it) && it->valuestring != NULL)
        v = it->valuestring;
    else if (cJSON_IsNumber(it) && json_scalar_text(it, text, sizeof(text)) == PF_OK)
        v = text;
    if (v == NULL)
        return;
    size_t n = str_sanitize_text(v, strlen(v), 0, clean, sizeof(clean));
    if (label_value_set(l, lab, clean, n, &err) != PF_OK)
        return;   /* left "" */
}

/* Turns object entry <o> into "scheme://user:pass@host:port" in <buf> and
 * adds it, with its labels. Returns like provider_entry_add(). */
static int json_add_object(const cJSON *o, size_t idx, const struct conf_provider_json *j,
                           const struct provider_parse_opts *opts,
                           struct provider_parse_result *res)
{
    char host[UPSTREAM_HOST_MAX], port[16], user[UPSTREAM_CRED_MAX], pass[UPSTREAM_CRED_MAX];
    char scheme[16];
    char buf[PROVIDER_PARSE_TOKEN_MAX + 1];
    size_t off = 0;
    int rc;

    if (json_field_text(o, j->host, host, sizeof(host)) != PF_OK ||
        json_field_text(o, j->port, port, sizeof(port)) != PF_OK ||
        json_field_text(o, j->scheme, scheme, sizeof(scheme)) != PF_OK) {
        res->nentries++;
        provider_entry_reject(res, PROVIDER_REJECT_SYNTAX, "entry", idx, 0, NULL,
                              "host, port or scheme field of the wrong type or too long");
        return PF_EINVAL;
    }
    if (json_field_text(o, j->user, user, sizeof(user)) != PF_OK ||
        json_field_text(o, j->pass, pass, sizeof(pass)) != PF_OK) {
        res->nentries++;
        provider_entry_reject(res, PROVIDER_REJECT_CREDS, "entry", idx, 0, NULL,
                              "user or pass field of the wrong type or too long");
        memset(pass, 0, sizeof(pass));
        return PF_EINVAL;
    }
    if (host[0] == '\0') {
        res->nentries++;
        provider_entry_reject(res, PROVIDER_REJECT_HOST, "entry", idx, 0, NULL, "missing host");
        memset(pass, 0, sizeof(pass));
        return PF_EINVAL;
    }
    for (char *c = scheme; *c != '\0'; c++)
        *c = (*c >= 'A' && *c <= 'Z') ? (char)(*c - 'A' + 'a') : *c;
    if (strcmp(scheme, "socks") == 0)
        memcpy(scheme, "socks5", 7);           /* a common spelling of the same */
    /* Host chars are checked by addr_parse_upstream(); '@', '/' would
     * change the meaning of the composed URL, so refuse them here. */
    if (strpbrk(host, "@/?#") != NULL || strpbrk(port, "@/?#:") != NULL ||
        strpbrk(scheme, ":/@") != NULL) {
        res->nentries++;
        provider_entry_reject(res, PROVIDER_REJECT_HOST, "entry", idx, 0, NULL,
                              "invalid character in host, port or scheme");
        memset(pass, 0, sizeof(pass));
        return PF_EINVAL;
    }
    int is_v6 = strchr(host, ':') != NULL && port[0] != '\0';
    rc = snprintf(buf, sizeof(buf), "%s%s", scheme, scheme[0] ? "://" : "");
    off = rc > 0 ? (size_t)rc : 0;
    if (user[0] != '\0' || pass[0] != '\0') {
        if (json_pct_append(buf, sizeof(buf), &off, user) != PF_OK ||
            (pass[0] != '\0' && (off + 1 >= sizeof(buf) || (buf[off++] = ':', buf[off] = '\0',
                                 json_pct_append(buf, sizeof(buf), &off, pass) != PF_OK))) ||
            off + 1 >= sizeof(buf)) {
            res->nentries++;
            provider_entry_reject(res, PROVIDER_REJECT_TOO_LONG, "entry", idx, 0, NULL,
                                  "entry too long");
            memset(buf, 0, sizeof(buf));
            memset(pass, 0, sizeof(pass));
            return PF_EINVAL;
        }
        buf[off++] = '@';
        buf[off] = '\0';
    }
    /* Without a port field the host may be "ip:port" itself. */
    rc = snprintf(buf + off, sizeof(buf) - off, "%s%s%s%s%s", is_v6 ? "[" : "", host,
                  is_v6 ? "]" : "", port[0] ? ":" : "", port);
    if (rc < 0 || (size_t)rc >= sizeof(buf) - off) {
        res->nentries++;
        provider_entry_reject(res, PROVIDER_REJECT_TOO_LONG, "entry", idx, 0, NULL,
                              "entry too long");
        memset(buf, 0, sizeof(buf));
        memset(pass, 0, sizeof(pass));
        return PF_EINVAL;
    }
    off += (size_t)rc;
    rc = provider_entry_add(buf, off, "entry", idx, opts, res);
    memset(buf, 0, sizeof(buf));     /* held a password */
    memset(pass, 0, sizeof(pass));
    if (rc == PF_OK) {
        struct upstream_labels *l = &res->upstreams[res->nupstreams - 1].labels;
        json_label(o, j->label_country, USER_LABEL_COUNTRY, l);
        json_label(o, j->label_region, USER_LABEL_REGION, l);
        json_label(o, j->label_city, USER_LABEL_CITY, l);
        json_label(o, j->label_isp, USER_LABEL_ISP, l);
        json_label(o, j->label_asn, USER_LABEL_ASN, l);
    }
    return rc;
}

/* Whether object entry <o> passes the filter of <j> (none: yes). */
static int json_filter_keeps(const cJSON *o, const struct conf_provider_json *j)
{
    char text[JSON_TEXT_MAX];

    if (j->filter_field[0] == '\0')
        return 1;
    const cJSON *v = json_get(o, j->filter_field);
    if (v == NULL || json_scalar_text(v, text, sizeof(text)) != PF_OK)
        return 0;
    for (int i = 0; i < j->nfilter_equals; i++)
        if (strcmp(text, j->filter_equals[i]) == 0)
            return 1;
    return 0;
}

/* The next page's URL at path <j>->next of <root> into res->next: a string
 * of printable ASCII shorter than CONF_URL_MAX; anything else ends the
 * pages (null is how the last page says so). */
static void json_next(const cJSON *root, const struct conf_provider_json *j,
                      struct provider_parse_result *res)
{
    res->next[0] = '\0';
    if (j->next[0] == '\0')
        return;
    const cJSON *v = json_get(root, j->next);
    if (!cJSON_IsString(v) || v->valuestring == NULL)
        return;
    size_t n = strlen(v->valuestring);
    if (n == 0 || n >= sizeof(res->next))
        return;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)v->valuestring[i];
        if (c <= 0x20 || c >= 0x7f)
            return;
    }
    memcpy(res->next, v->valuestring, n + 1);
}

/* Success predicate of <j> on <root>: PF_OK when absent or met. */
static int json_success(const cJSON *root, const struct conf_provider_json *j)
{
    char text[JSON_TEXT_MAX];

    if (j->success_field[0] == '\0')
        return PF_OK;
    const cJSON *v = json_get(root, j->success_field);
    if (v == NULL || json_scalar_text(v, text, sizeof(text)) != PF_OK)
        return PF_EINVAL;
    for (int i = 0; i < j->nsuccess_equals; i++)
        if (strcmp(text, j->success_equals[i]) == 0)
            return PF_OK;
    return PF_EINVAL;
}

int provider_parse_json(const char *body, size_t len, const struct provider_parse_opts *opts,
                        struct provider_parse_result *res, struct pf_err *err)
{
    const struct conf_provider_json *j = opts->json != NULL ? opts->json : &json_defaults;
    const char *end = NULL;
    cJSON *root = NULL;
    int rc;

    provider_result_init(res);
    if (body == NULL || len == 0)
        return pf_err_set(err, PF_EINVAL, "empty body");
    root = cJSON_ParseWithLengthOpts(body, len, &end, 0);
    if (root == NULL) {
        size_t at = (end != NULL && end >= body && end <= body + len) ? (size_t)(end - body) : 0;
        return pf_err_set(err, PF_EINVAL, "invalid or truncated JSON near byte %zu of %zu",
                          at, len);
    }
    if (json_success(root, j) != PF_OK) {
        res->err_class = json_report(root, opts, "provider error", err);
        rc = PF_EINVAL;
        goto done;
    }
    const cJSON *list = json_get(root, j->list);
    if (!cJSON_IsArray(list)) {
        /* "data" turned into "", {} or null: the provider is failing. */
        char why[PF_ERR_MSG_LEN];
        char path[CONF_FIELD_MAX];      /* a config value: ASCII, under CONF_FIELD_MAX */
        str_sanitize_text(j->list, strlen(j->list), CONF_FIELD_MAX - 1, path, sizeof(path));
        snprintf(why, sizeof(why), "no list at '%s' (%s)", path, json_type_name(list));
        res->err_class = json_report(root, opts, why, err);
        rc = PF_EINVAL;
        goto done;
    }
    /* An error code from the table fails the answer even with a list. */
    {
        const struct conf_provider_errors *e = opts->errors != NULL ? opts->errors
                                                                    : &errors_defaults;
        const cJSON *code = cJSON_IsObject(root) ? json_get(root, e->code_field) : NULL;
        char text[JSON_TEXT_MAX];
        int is_known = 0;
        if (code != NULL && json_scalar_text(code, text, sizeof(text)) == PF_OK) {
            (void)provider_classify_code(text, opts->errors, &is_known);
            if (is_known) {
                res->err_class = json_report(root, opts, "provider error", err);
                rc = PF_EINVAL;
                goto done;
            }
        }
    }
    /* A well-formed page from here on, whatever its entries are worth. */
    res->is_page = 1;
    json_next(root, j, res);

    size_t idx = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, list) {
        idx++;
        res->nlines++;
        if (cJSON_IsString(it) && it->valuestring != NULL) {
            rc = provider_entry_add(it->valuestring, strlen(it->valuestring), "entry", idx,
                                    opts, res);
        } else if (cJSON_IsObject(it)) {
            if (!json_filter_keeps(it, j)) {
                res->nentries++;
                provider_entry_reject(res, PROVIDER_REJECT_FILTERED, "entry", idx, 0, NULL,
                                      "left out by json.filter");
                continue;
            }
            rc = json_add_object(it, idx, j, opts, res);
        } else {
            res->nentries++;
            provider_entry_reject(res, PROVIDER_REJECT_SYNTAX, "entry", idx, 0, NULL,
                                  "neither a string nor an object");
            continue;
        }
        if (rc == PF_ENOMEM)
            goto oom;
        if (rc != PF_OK || j->expire[0] == '\0')
            continue;
        struct upstream *u = &res->upstreams[res->nupstreams - 1];
        const char *why = NULL;
        const cJSON *ev = cJSON_IsObject(it) ? json_get(it, j->expire) : NULL;
        if (!cJSON_IsObject(it)) {
            u->expires_at_ms = 0;     /* string entries carry no expiry: ttl_s */
        } else if (json_expiry(ev, j, opts->now_wall_ms, &u->expires_at_ms, &why) != PF_OK) {
            struct upstream gone = *u;
            memset(u, 0, sizeof(*u));
            res->nupstreams--;
            provider_entry_reject(res, PROVIDER_REJECT_EXPIRY, "entry", idx, 0, &gone, why);
            memset(&gone, 0, sizeof(gone));
        }
    }
    if (provider_entry_dedupe(res) != PF_OK)
        goto oom;
    if (res->nupstreams > 0) {
        res->err_class = PROVIDER_ERR_NONE;
        rc = PF_OK;
        goto done;
    }
    if (idx == 0) {
        res->err_class = json_report(root, opts, "empty list", err);
        rc = PF_EINVAL;
        goto done;
    }
    rc = pf_err_set(err, PF_EINVAL, "no valid address in %zu entr%s (first: %s)", idx,
                    idx == 1 ? "y" : "ies", res->first_reject);
    goto done;

oom:
    rc = pf_err_set(err, PF_ENOMEM, "out of memory parsing body");
done:
    cJSON_Delete(root);
    return rc;
}
