/* Ban records and their parsers; see ban.h. */
#include "ban.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "str.h"

static int ban_lower(int c)
{
    return (c >= 'A' && c <= 'Z') ? c + ('a' - 'A') : c;
}

int ban_is_control_host(const char *host)
{
    size_t n = strlen(host), hl = sizeof(BAN_CONTROL_HOST) - 1;
    if (n == hl + 1 && host[hl] == '.')
        n--;
    if (n != hl)
        return 0;
    for (size_t i = 0; i < hl; i++)
        if (ban_lower((unsigned char)host[i]) != BAN_CONTROL_HOST[i])
            return 0;
    return 1;
}

int ban_domain_norm(const char *s, size_t len, char *out, struct pf_err *err)
{
    if (len == 1 && s[0] == '*') {
        memcpy(out, "*", 2);
        return PF_OK;
    }
    if (len > 0 && s[len - 1] == '.')
        len--;
    if (len == 0)
        return pf_err_set(err, PF_EINVAL, "domain is empty");
    if (len > BAN_DOMAIN_MAX - 1)
        return pf_err_set(err, PF_EINVAL, "domain longer than %d chars", BAN_DOMAIN_MAX - 1);
    for (size_t i = 0; i < len; i++) {
        int c = ban_lower((unsigned char)s[i]);
        int ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
                 c == '_' || c == ':';
        if (!ok)
            return pf_err_set(err, PF_EINVAL, "domain: invalid character at offset %zu", i);
        if (c == '.' && (i == 0 || s[i - 1] == '.'))
            return pf_err_set(err, PF_EINVAL, "domain: empty label at offset %zu", i);
        out[i] = (char)c;
    }
    out[len] = '\0';
    return PF_OK;
}

int ban_domain_covers(const char *domain, const char *host, size_t len)
{
    if (domain[0] == '*' && domain[1] == '\0')
        return 1;
    if (len > 0 && host[len - 1] == '.')
        len--;
    size_t dl = strlen(domain);
    if (dl > len)
        return 0;
    const char *tail = host + (len - dl);
    for (size_t i = 0; i < dl; i++)
        if (ban_lower((unsigned char)tail[i]) != (unsigned char)domain[i])
            return 0;
    return dl == len || tail[-1] == '.';
}

static int ban_session_char_ok(unsigned char c)
{
    return c > 0x20 && c < 0x7f;
}

int ban_session_is_valid(const char *s, size_t len)
{
    if (s == NULL || len == 0 || len >= BAN_SESSION_MAX)
        return 0;
    for (size_t i = 0; i < len; i++)
        if (!ban_session_char_ok((unsigned char)s[i]))
            return 0;
    /* the first "-session-": the user names of users.c never hold it */
    const char *sep = NULL;
    size_t sl = sizeof(BAN_SESSION_SEP) - 1;
    for (size_t i = 0; i + sl <= len; i++)
        if (memcmp(s + i, BAN_SESSION_SEP, sl) == 0) {
            sep = s + i;
            break;
        }
    return sep != NULL && sep > s && (size_t)(sep - s) + sl < len;
}

int ban_session_name(const char *user, size_t user_len, const char *key, size_t key_len,
                     char *out, size_t len)
{
    int n = snprintf(out, len, "%.*s" BAN_SESSION_SEP "%.*s", (int)user_len, user,
                     (int)key_len, key);
    if (n < 0 || (size_t)n >= len) {
        if (len > 0)
            out[0] = '\0';
        return PF_ERANGE;
    }
    return PF_OK;
}

void ban_id_format(uint64_t rnd, char id[BAN_ID_LEN + 1])
{
    snprintf(id, BAN_ID_LEN + 1, "%016llx", (unsigned long long)rnd);
}

static int ban_id_is_valid(const char *s, size_t len)
{
    if (len != BAN_ID_LEN)
        return 0;
    for (size_t i = 0; i < len; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return 0;
    return 1;
}

/* A string member <name> of <o>: NULL when absent; PF_EINVAL when not a string. */
static int ban_json_str(const cJSON *o, const char *name, const char **out, size_t *len,
                        struct pf_err *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    *out = NULL;
    *len = 0;
    if (v == NULL)
        return PF_OK;
    if (!cJSON_IsString(v) || v->valuestring == NULL)
        return pf_err_set(err, PF_EINVAL, "%s must be a string", name);
    *out = v->valuestring;
    *len = strlen(v->valuestring);
    return PF_OK;
}

/* An integer member <name> in [lo, hi]: <*present> 0 when absent. */
static int ban_json_int(const cJSON *o, const char *name, int64_t lo, int64_t hi, int64_t *out,
                        int *present, struct pf_err *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    *present = v != NULL;
    if (v == NULL)
        return PF_OK;
    if (!cJSON_IsNumber(v))
        return pf_err_set(err, PF_EINVAL, "%s must be a number", name);
    double d = v->valuedouble;
    if (!(d >= (double)lo && d <= (double)hi) || d != (double)(int64_t)d)
        return pf_err_set(err, PF_EINVAL, "%s must be an integer in %lld..%lld", name,
                          (long long)lo, (long long)hi);
    *out = (int64_t)d;
    return PF_OK;
}

static void ban_set_reason(struct ban *b, const char *s, size_t len)
{
    b->reason[0] = '\0';
    if (s != NULL && len > 0)
        (void)str_sanitize_text(s, len, BAN_REASON_MAX / 4, b->reason, sizeof(b->reason));
}

/* The members both a record and a request carry: upstream, session,
 * domain, reason. */
static int ban_common_members(const cJSON *o, struct ban *b, struct pf_err *err)
{
    const char *s;
    size_t len;
    int rc = ban_json_str(o, "upstream", &s, &len, err);
    if (rc != PF_OK)
        return rc;
    if (s != NULL) {
        if (len != UPSTREAM_SID_LEN - 1 || !upstream_sid_is_valid(s))
            return pf_err_set(err, PF_EINVAL, "upstream must be a short id of %d hex digits",
                              UPSTREAM_SID_LEN - 1);
        memcpy(b->upstream, s, len + 1);
    }
    if ((rc = ban_json_str(o, "session", &s, &len, err)) != PF_OK)
        return rc;
    if (s != NULL) {
        if (!ban_session_is_valid(s, len))
            return pf_err_set(err, PF_EINVAL, "session must be \"<user>-session-<key>\" "
                              "(printable, under %d chars)", BAN_SESSION_MAX);
        memcpy(b->session, s, len + 1);
    }
    if ((rc = ban_json_str(o, "domain", &s, &len, err)) != PF_OK)
        return rc;
    if (s == NULL)
        return pf_err_set(err, PF_EINVAL, "domain is required (a host name or \"*\")");
    if ((rc = ban_domain_norm(s, len, b->domain, err)) != PF_OK)
        return rc;
    if ((rc = ban_json_str(o, "reason", &s, &len, err)) != PF_OK)
        return rc;
    ban_set_reason(b, s, len);
    return PF_OK;
}

static cJSON *ban_json_object(const char *s, size_t len, struct pf_err *err)
{
    cJSON *o = cJSON_ParseWithLength(s, len);
    if (o == NULL) {
        pf_err_set(err, PF_EINVAL, "not valid JSON");
        return NULL;
    }
    if (!cJSON_IsObject(o)) {
        cJSON_Delete(o);
        pf_err_set(err, PF_EINVAL, "not a JSON object");
        return NULL;
    }
    return o;
}

int ban_record_parse(const char *s, size_t len, struct ban *out, struct pf_err *err)
{
    memset(out, 0, sizeof(*out));
    if (len >= BAN_RECORD_MAX * 4)
        return pf_err_set(err, PF_EINVAL, "ban record longer than %d bytes", BAN_RECORD_MAX * 4);
    cJSON *o = ban_json_object(s, len, err);
    if (o == NULL)
        return PF_EINVAL;
    const char *v;
    size_t vl;
    int present = 0;
    int rc = ban_json_str(o, "id", &v, &vl, err);
    if (rc == PF_OK && (v == NULL || !ban_id_is_valid(v, vl)))
        rc = pf_err_set(err, PF_EINVAL, "id must be %d hex digits", BAN_ID_LEN);
    if (rc == PF_OK)
        memcpy(out->id, v, vl + 1);
    if (rc == PF_OK)
        rc = ban_common_members(o, out, err);
    if (rc == PF_OK && out->upstream[0] == '\0')
        rc = pf_err_set(err, PF_EINVAL, "upstream is required");
    if (rc == PF_OK)
        rc = ban_json_int(o, "expires_at_ms", 1, INT64_C(1) << 53, &out->expires_at_ms,
                          &present, err);
    if (rc == PF_OK && !present)
        rc = pf_err_set(err, PF_EINVAL, "expires_at_ms is required");
    if (rc == PF_OK)
        rc = ban_json_int(o, "created_at_ms", 0, INT64_C(1) << 53, &out->created_at_ms,
                          &present, err);
    cJSON_Delete(o);
    if (rc != PF_OK)
        memset(out, 0, sizeof(*out));
    return rc;
}

int ban_record_format(const struct ban *b, char *buf, size_t len)
{
    cJSON *o = cJSON_CreateObject();
    int n = -1;
    if (o == NULL)
        return -1;
    int ok = cJSON_AddStringToObject(o, "id", b->id) != NULL &&
             cJSON_AddStringToObject(o, "upstream", b->upstream) != NULL &&
             (b->session[0] == '\0' || cJSON_AddStringToObject(o, "session", b->session) != NULL) &&
             cJSON_AddStringToObject(o, "domain", b->domain) != NULL &&
             cJSON_AddNumberToObject(o, "created_at_ms", (double)b->created_at_ms) != NULL &&
             cJSON_AddNumberToObject(o, "expires_at_ms", (double)b->expires_at_ms) != NULL &&
             cJSON_AddStringToObject(o, "reason", b->reason) != NULL;
    if (ok && len <= (size_t)INT32_MAX &&
        cJSON_PrintPreallocated(o, buf, (int)len, 0) && strlen(buf) < len)
        n = (int)strlen(buf);
    cJSON_Delete(o);
    if (n < 0 && len > 0)
        buf[0] = '\0';
    return n;
}

int ban_notice_parse(const char *s, size_t len, enum ban_notice_kind *kind, struct ban *out,
                     struct pf_err *err)
{
    memset(out, 0, sizeof(*out));
    if (len > 4 && memcmp(s, "add ", 4) == 0) {
        *kind = BAN_NOTICE_ADD;
        return ban_record_parse(s + 4, len - 4, out, err);
    }
    if (len > 4 && memcmp(s, "del ", 4) == 0) {
        if (!ban_id_is_valid(s + 4, len - 4))
            return pf_err_set(err, PF_EINVAL, "del notice: id must be %d hex digits",
                              BAN_ID_LEN);
        *kind = BAN_NOTICE_DEL;
        memcpy(out->id, s + 4, BAN_ID_LEN);
        out->id[BAN_ID_LEN] = '\0';
        return PF_OK;
    }
    return pf_err_set(err, PF_EINVAL, "notice must start with \"add \" or \"del \"");
}

static int ban_set_ttl(struct ban *b, int64_t ttl_s, int64_t now_ms)
{
    b->created_at_ms = now_ms;
    b->expires_at_ms = now_ms + ttl_s * 1000;
    return PF_OK;
}

int ban_request_parse(const char *s, size_t len, int64_t now_ms, struct ban *out,
                      struct pf_err *err)
{
    memset(out, 0, sizeof(*out));
    if (len > 4096)
        return pf_err_set(err, PF_EINVAL, "body longer than 4096 bytes");
    cJSON *o = ban_json_object(s, len, err);
    if (o == NULL)
        return PF_EINVAL;
    int64_t ttl_s = BAN_TTL_DEFAULT_S;
    int present = 0;
    int rc = PF_OK;
    for (const cJSON *m = o->child; m != NULL && rc == PF_OK; m = m->next) {
        static const char *const known[] = { "upstream", "session", "domain", "ttl_s", "reason" };
        int is_known = 0;
        for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
            is_known |= m->string != NULL && strcmp(m->string, known[i]) == 0;
        if (!is_known)
            rc = pf_err_set(err, PF_EINVAL, "unknown member (known: upstream, session, "
                            "domain, ttl_s, reason)");
    }
    if (rc == PF_OK)
        rc = ban_common_members(o, out, err);
    if (rc == PF_OK && out->upstream[0] == '\0' && out->session[0] == '\0')
        rc = pf_err_set(err, PF_EINVAL, "upstream or session is required");
    if (rc == PF_OK)
        rc = ban_json_int(o, "ttl_s", 1, BAN_TTL_MAX_S, &ttl_s, &present, err);
    if (rc == PF_OK)
        rc = ban_set_ttl(out, ttl_s, now_ms);
    cJSON_Delete(o);
    if (rc != PF_OK)
        memset(out, 0, sizeof(*out));
    return rc;
}

/* Percent-decodes one query value into <dst> of <dst_len>. */
static int ban_query_value(const char *v, size_t vl, char *dst, size_t dst_len, size_t *out_len,
                           const char *name, struct pf_err *err)
{
    if (str_pct_decode(v, vl, dst, dst_len, out_len) != PF_OK || str_has_nul(dst, *out_len))
        return pf_err_set(err, PF_EINVAL, "%s: bad percent-encoding or too long", name);
    return PF_OK;
}

int ban_query_parse(const char *q, size_t len, const char *user, int64_t now_ms,
                    struct ban *out, struct pf_err *err)
{
    memset(out, 0, sizeof(*out));
    char val[BAN_DOMAIN_MAX * 3];
    char key[BAN_SESSION_MAX];
    size_t key_len = 0;
    int has_domain = 0;
    int64_t ttl_s = BAN_TTL_DEFAULT_S;
    int rc = PF_OK;
    size_t i = 0;
    if (len > 2048)
        return pf_err_set(err, PF_EINVAL, "query longer than 2048 bytes");
    while (i < len && rc == PF_OK) {
        size_t j = i;
        while (j < len && q[j] != '&')
            j++;
        const char *p = q + i, *eq = memchr(p, '=', j - i);
        size_t nl = eq != NULL ? (size_t)(eq - p) : j - i;
        const char *v = eq != NULL ? eq + 1 : p + nl;
        size_t vl = (size_t)(q + j - v), dl = 0;
        i = j + 1;
        if (nl == 0 && vl == 0)
            continue;     /* "&&" */
        if (nl == 7 && memcmp(p, "session", 7) == 0) {
            rc = ban_query_value(v, vl, key, sizeof(key), &key_len, "session", err);
        } else if (nl == 6 && memcmp(p, "domain", 6) == 0) {
            rc = ban_query_value(v, vl, val, sizeof(val), &dl, "domain", err);
            if (rc == PF_OK)
                rc = ban_domain_norm(val, dl, out->domain, err);
            has_domain = 1;
        } else if (nl == 5 && memcmp(p, "ttl_s", 5) == 0) {
            char *end = NULL;
            rc = ban_query_value(v, vl, val, 16, &dl, "ttl_s", err);
            long long t = rc == PF_OK && dl > 0 && val[0] >= '0' && val[0] <= '9'
                              ? strtoll(val, &end, 10) : -1;
            if (rc == PF_OK && (end == NULL || *end != '\0' || t < 1 || t > BAN_TTL_MAX_S))
                rc = pf_err_set(err, PF_EINVAL, "ttl_s must be an integer in 1..%d",
                                BAN_TTL_MAX_S);
            ttl_s = t;
        } else if (nl == 6 && memcmp(p, "reason", 6) == 0) {
            rc = ban_query_value(v, vl, val, sizeof(val), &dl, "reason", err);
            if (rc == PF_OK)
                ban_set_reason(out, val, dl);
        } else if (nl == 8 && memcmp(p, "upstream", 8) == 0) {
            rc = ban_query_value(v, vl, val, sizeof(val), &dl, "upstream", err);
            if (rc == PF_OK && (dl != UPSTREAM_SID_LEN - 1 || !upstream_sid_is_valid(val)))
                rc = pf_err_set(err, PF_EINVAL, "upstream must be a short id of %d hex digits",
                                UPSTREAM_SID_LEN - 1);
            if (rc == PF_OK)
                memcpy(out->upstream, val, dl + 1);
        } else {
            rc = pf_err_set(err, PF_EINVAL, "unknown parameter (known: session, domain, "
                            "ttl_s, reason, upstream)");
        }
    }
    if (rc == PF_OK && key_len == 0)
        rc = pf_err_set(err, PF_EINVAL, "session is required (the session key of your user "
                        "name, e.g. session=42)");
    if (rc == PF_OK && !has_domain)
        rc = pf_err_set(err, PF_EINVAL, "domain is required (a host name or \"*\")");
    if (rc == PF_OK &&
        (ban_session_name(user, strlen(user), key, key_len, out->session,
                          sizeof(out->session)) != PF_OK ||
         !ban_session_is_valid(out->session, strlen(out->session))))
        rc = pf_err_set(err, PF_EINVAL, "session: printable characters only, under %d in all",
                        BAN_SESSION_MAX);
    if (rc == PF_OK)
        rc = ban_set_ttl(out, ttl_s, now_ms);
    if (rc != PF_OK)
        memset(out, 0, sizeof(*out));
    return rc;
}
