#include "snapshot.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "json_text.h"
#include "keys.h"
#include "pool_digest.h"
#include "seal.h"
#include "str.h"
#include "user_template.h"

/* Largest integer a JSON number (double) carries exactly. */
#define SNAPSHOT_INT_MAX 9007199254740992.0

/* Adds "pass_sealed" for <u>'s password sealed under <key>, bound to the
 * upstream id. Returns PF_OK or an error (allocation, OpenSSL). */
static int snapshot_add_sealed(cJSON *o, const struct upstream *u, const struct seal_key *key)
{
    char id[UPSTREAM_ID_MAX];
    char sealed[SEAL_TEXT_MAX];
    size_t n = strnlen(u->pass, sizeof(u->pass));
    addr_upstream_id(u, id, sizeof(id));
    if (n >= sizeof(u->pass) ||
        seal_encrypt(key, u->pass, n, id, sealed, sizeof(sealed), NULL) != PF_OK)
        return PF_EIO;
    return cJSON_AddStringToObject(o, "pass_sealed", sealed) == NULL ? PF_ENOMEM : PF_OK;
}

/* The label names of a record's "labels" object, in struct upstream_labels order. */
static const char *const snapshot_label_names[] = { "country", "city", "isp", "region", "asn" };

static char *snapshot_label_field(struct upstream_labels *l, size_t i)
{
    switch (i) {
    case 0:  return l->country;
    case 1:  return l->city;
    case 2:  return l->isp;
    case 3:  return l->region;
    default: return l->asn;
    }
}

/* Adds "labels": {"country": .., "city": .., "isp": .., "region": .., "asn": ..} with the non-empty
 * labels of <l>; nothing when all are empty. */
static int snapshot_add_labels(cJSON *o, const struct upstream_labels *l)
{
    struct upstream_labels copy = *l;
    cJSON *lo = NULL;
    for (size_t i = 0; i < PF_ARRAY_LEN(snapshot_label_names); i++) {
        const char *v = snapshot_label_field(&copy, i);
        if (v[0] == '\0')
            continue;
        if (lo == NULL && (lo = cJSON_AddObjectToObject(o, "labels")) == NULL)
            return PF_ENOMEM;
        if (cJSON_AddStringToObject(lo, snapshot_label_names[i], v) == NULL)
            return PF_ENOMEM;
    }
    return PF_OK;
}

char *snapshot_record_encode(const struct upstream *u, const struct seal_key *key)
{
    cJSON *o = cJSON_CreateObject();
    char *out = NULL;
    if (o == NULL)
        return NULL;
    if (cJSON_AddStringToObject(o, "scheme", addr_scheme_name(u->scheme)) == NULL ||
        cJSON_AddStringToObject(o, "host", u->host) == NULL ||
        json_add_int(o, "port", u->port) == NULL)
        goto done;
    if (u->user[0] != '\0' && cJSON_AddStringToObject(o, "user", u->user) == NULL)
        goto done;
    if (u->pass[0] != '\0' && key != NULL && snapshot_add_sealed(o, u, key) != PF_OK)
        goto done;
    if (u->pass[0] != '\0' && key == NULL && cJSON_AddStringToObject(o, "pass", u->pass) == NULL)
        goto done;
    if (cJSON_AddStringToObject(o, "provider", u->provider) == NULL ||
        json_add_int(o, "expires_at_ms", u->expires_at_ms) == NULL ||
        json_add_int(o, "weight", u->weight) == NULL ||
        json_add_int(o, "latency_ms", u->latency_ms) == NULL)
        goto done;
    /* Newer members are written only when set: a record without them reads
     * the same to nodes of any version. */
    if (u->tier != 0 && json_add_int(o, "tier", u->tier) == NULL)
        goto done;
    if (snapshot_add_labels(o, &u->labels) != PF_OK)
        goto done;
    if (u->user_template[0] != '\0' &&
        cJSON_AddStringToObject(o, "user_template", u->user_template) == NULL)
        goto done;
    out = cJSON_PrintUnformatted(o);
done:
    cJSON_Delete(o);
    return out;
}

void snapshot_record_free(char *rec)
{
    if (rec == NULL)
        return;
    OPENSSL_cleanse(rec, strlen(rec));
    free(rec);
}

/* The members a record may carry, found in one pass over the object
 * (snapshot_index) instead of one pass per member: a 10,000-upstream
 * snapshot is decoded inside the node's event loop. */
enum snapshot_field {
    SNAPSHOT_F_SCHEME = 0,
    SNAPSHOT_F_HOST,
    SNAPSHOT_F_PORT,
    SNAPSHOT_F_USER,
    SNAPSHOT_F_PASS,
    SNAPSHOT_F_PASS_SEALED,
    SNAPSHOT_F_PROVIDER,
    SNAPSHOT_F_EXPIRES,
    SNAPSHOT_F_WEIGHT,
    SNAPSHOT_F_LATENCY,
    SNAPSHOT_F_TIER,
    SNAPSHOT_F_LABELS,
    SNAPSHOT_F_USER_TEMPLATE,
    SNAPSHOT_F__COUNT
};

static const char *const snapshot_field_names[SNAPSHOT_F__COUNT] = {
    "scheme", "host", "port", "user", "pass", "pass_sealed", "provider", "expires_at_ms", "weight", "latency_ms",
    "tier", "labels", "user_template",
};

struct snapshot_fields {
    const cJSON *v[SNAPSHOT_F__COUNT];     /* borrowed from the object; NULL when absent */
    int          is_dup[SNAPSHOT_F__COUNT];/* member given twice */
};

/* Indexes the known members of <o> into <f>; other members are ignored. */
static void snapshot_index(const cJSON *o, struct snapshot_fields *f)
{
    const cJSON *it;
    memset(f, 0, sizeof(*f));
    cJSON_ArrayForEach(it, o) {
        if (it->string == NULL)
            continue;
        for (int k = 0; k < SNAPSHOT_F__COUNT; k++) {
            const char *name = snapshot_field_names[k];
            if (name[0] == it->string[0] && strcmp(it->string, name) == 0) {
                if (f->v[k] != NULL)
                    f->is_dup[k] = 1;
                else
                    f->v[k] = it;
                break;
            }
        }
    }
}

/* Fetches member <k> from <f>; a duplicate member is an error, since two
 * readers could otherwise disagree on which one counts. */
static int snapshot_get(const struct snapshot_fields *f, enum snapshot_field k, const cJSON **out,
                        struct pf_err *err)
{
    *out = NULL;   /* a definite output on every path, error ones included */
    if (f->is_dup[k])
        return pf_err_set(err, PF_EINVAL, "%s: duplicate field", snapshot_field_names[k]);
    *out = f->v[k];
    return PF_OK;
}

static int snapshot_get_str(const struct snapshot_fields *f, enum snapshot_field k, int is_required,
                            char *dst, size_t dst_len, struct pf_err *err)
{
    const char *name = snapshot_field_names[k];
    const cJSON *it;
    int rc = snapshot_get(f, k, &it, err);
    if (rc != PF_OK)
        return rc;
    if (it == NULL) {
        if (is_required)
            return pf_err_set(err, PF_EINVAL, "%s: missing", name);
        dst[0] = '\0';
        return PF_OK;
    }
    if (!cJSON_IsString(it) || it->valuestring == NULL)
        return pf_err_set(err, PF_EINVAL, "%s: must be a string", name);
    size_t n = strlen(it->valuestring);
    if (n >= dst_len)
        return pf_err_set(err, PF_EINVAL, "%s: longer than %zu bytes", name, dst_len - 1);
    memcpy(dst, it->valuestring, n + 1);
    return PF_OK;
}

static int snapshot_get_int(const struct snapshot_fields *f, enum snapshot_field k, int is_required,
                            double min, double max, double def, double *out,
                            struct pf_err *err)
{
    const char *name = snapshot_field_names[k];
    const cJSON *it;
    int rc = snapshot_get(f, k, &it, err);
    if (rc != PF_OK)
        return rc;
    if (it == NULL) {
        if (is_required)
            return pf_err_set(err, PF_EINVAL, "%s: missing", name);
        *out = def;
        return PF_OK;
    }
    if (!cJSON_IsNumber(it))
        return pf_err_set(err, PF_EINVAL, "%s: must be a number", name);
    double v = it->valuedouble;
    if (!isfinite(v) || v != floor(v) || v < min || v > max)
        return pf_err_set(err, PF_EINVAL, "%s: must be an integer in %.0f..%.0f",
                          name, min, max);
    *out = v;
    return PF_OK;
}

static int snapshot_host_chars_ok(const char *h)
{
    for (; *h != '\0'; h++) {
        char c = *h;
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                 (c >= '0' && c <= '9') || c == '.' || c == '-' || c == ':';
        if (!ok)
            return 0;
    }
    return 1;
}

/* Opens "pass_sealed" of <f> into out->pass with <key> (may be NULL: then a
 * sealed password is an error, never an empty one), bound to the id of the
 * upstream decoded so far in <out> (scheme, host, port, user). */
static int snapshot_get_sealed(const struct snapshot_fields *f, const struct seal_key *key,
                               struct upstream *out, struct pf_err *err)
{
    char sealed[SEAL_TEXT_MAX];
    char id[UPSTREAM_ID_MAX];
    struct pf_err serr;
    size_t n = 0;
    int rc = snapshot_get_str(f, SNAPSHOT_F_PASS_SEALED, 0, sealed, sizeof(sealed), err);
    if (rc != PF_OK || sealed[0] == '\0')
        return rc == PF_OK ? pf_err_set(err, PF_EINVAL, "pass_sealed: empty") : rc;
    if (out->pass[0] != '\0')
        return pf_err_set(err, PF_EINVAL, "pass_sealed: given with pass");
    if (key == NULL)
        return pf_err_set(err, PF_EINVAL, "pass_sealed: password is sealed but no "
                          "redis.credential_key_file is configured");
    addr_upstream_id(out, id, sizeof(id));
    pf_err_clear(&serr);
    if (seal_decrypt(key, sealed, strlen(sealed), id, out->pass, sizeof(out->pass), &n,
                     &serr) != PF_OK)
        return pf_err_set(err, PF_EINVAL, "pass_sealed: %s", serr.msg);
    if (n == 0 || strlen(out->pass) != n) {
        memset(out->pass, 0, sizeof(out->pass));
        return pf_err_set(err, PF_EINVAL, "pass_sealed: empty or NUL byte in password");
    }
    return PF_OK;
}

/* Reads "labels" (optional): an object of strings, each clean UTF-8 that
 * fits; unknown label names are ignored, as unknown record members are. */
static int snapshot_get_labels(const struct snapshot_fields *f, struct upstream_labels *out,
                               struct pf_err *err)
{
    const cJSON *lo;
    int rc = snapshot_get(f, SNAPSHOT_F_LABELS, &lo, err);
    if (rc != PF_OK || lo == NULL)
        return rc;
    if (!cJSON_IsObject(lo))
        return pf_err_set(err, PF_EINVAL, "labels: must be an object");
    for (size_t i = 0; i < PF_ARRAY_LEN(snapshot_label_names); i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(lo, snapshot_label_names[i]);
        char *dst = snapshot_label_field(out, i);
        if (v == NULL)
            continue;
        if (!cJSON_IsString(v) || v->valuestring == NULL)
            return pf_err_set(err, PF_EINVAL, "labels.%s: must be a string", snapshot_label_names[i]);
        size_t n = strlen(v->valuestring);
        if (n >= UPSTREAM_LABEL_MAX || !str_is_clean_text(v->valuestring, n))
            return pf_err_set(err, PF_EINVAL, "labels.%s: longer than %d bytes or not clean "
                              "UTF-8", snapshot_label_names[i], UPSTREAM_LABEL_MAX - 1);
        memcpy(dst, v->valuestring, n + 1);
    }
    return PF_OK;
}

/* Decodes the members of record <o> into <out>. With <is_public> the
 * password is neither opened nor kept: "pass" and "pass_sealed" are only
 * checked to be strings (a reader that never dials needs no key). */
static int snapshot_decode_fields(const cJSON *o, const struct seal_key *key, int is_public,
                                  struct upstream *out, struct pf_err *err)
{
    char scheme[16];
    char host[UPSTREAM_HOST_MAX];
    char addr[UPSTREAM_HOST_MAX + 16];
    double port, expires, weight, latency, tier;
    struct pf_err perr;
    struct snapshot_fields f;
    int rc;

    snapshot_index(o, &f);
    if ((rc = snapshot_get_str(&f, SNAPSHOT_F_SCHEME, 1, scheme, sizeof(scheme), err)) != PF_OK ||
        (rc = snapshot_get_str(&f, SNAPSHOT_F_HOST, 1, host, sizeof(host), err)) != PF_OK ||
        (rc = snapshot_get_int(&f, SNAPSHOT_F_PORT, 1, 1, 65535, 0, &port, err)) != PF_OK)
        return rc;
    if (host[0] == '\0' || !snapshot_host_chars_ok(host))
        return pf_err_set(err, PF_EINVAL, "host: invalid");
    /* Re-parse host and port exactly as a provider line would be. */
    snprintf(addr, sizeof(addr), strchr(host, ':') != NULL ? "%s://[%s]:%u" : "%s://%s:%u",
             scheme, host, (unsigned)port);
    if (addr_parse_upstream(addr, strlen(addr), UPSTREAM_HTTP, out, &perr) != PF_OK) {
        if (strncmp(perr.msg, "unsupported scheme", 18) == 0 ||
            strncmp(perr.msg, "malformed scheme", 16) == 0)
            return pf_err_set(err, PF_EINVAL, "scheme: unsupported");
        return pf_err_set(err, PF_EINVAL, "host: %s", perr.msg);
    }
    if ((rc = snapshot_get_str(&f, SNAPSHOT_F_USER, 0, out->user, sizeof(out->user), err)) != PF_OK ||
        (rc = snapshot_get_str(&f, SNAPSHOT_F_PASS, 0, out->pass, sizeof(out->pass), err)) != PF_OK ||
        (rc = snapshot_get_str(&f, SNAPSHOT_F_PROVIDER, 0, out->provider, sizeof(out->provider), err)) != PF_OK)
        return rc;
    if (is_public) {
        char sealed[SEAL_TEXT_MAX];
        if ((rc = snapshot_get_str(&f, SNAPSHOT_F_PASS_SEALED, 0, sealed, sizeof(sealed),
                                   err)) != PF_OK)
            return rc;
    } else if ((f.v[SNAPSHOT_F_PASS_SEALED] != NULL || f.is_dup[SNAPSHOT_F_PASS_SEALED]) &&
               (rc = snapshot_get_sealed(&f, key, out, err)) != PF_OK) {
        return rc;
    }
    if (out->pass[0] != '\0' && out->user[0] == '\0')
        return pf_err_set(err, PF_EINVAL, "pass: set without user");
    if (is_public)
        OPENSSL_cleanse(out->pass, sizeof(out->pass));
    if (out->provider[0] != '\0' && !keys_valid_name(out->provider))
        return pf_err_set(err, PF_EINVAL, "provider: invalid name");
    if ((rc = snapshot_get_int(&f, SNAPSHOT_F_EXPIRES, 0, 0, SNAPSHOT_INT_MAX, 0, &expires, err)) != PF_OK ||
        (rc = snapshot_get_int(&f, SNAPSHOT_F_WEIGHT, 0, 1, UINT32_MAX, 1, &weight, err)) != PF_OK ||
        (rc = snapshot_get_int(&f, SNAPSHOT_F_LATENCY, 0, 0, UINT32_MAX, 0, &latency, err)) != PF_OK ||
        (rc = snapshot_get_int(&f, SNAPSHOT_F_TIER, 0, 0, UPSTREAM_TIER_MAX, 0, &tier, err)) != PF_OK ||
        (rc = snapshot_get_labels(&f, &out->labels, err)) != PF_OK ||
        (rc = snapshot_get_str(&f, SNAPSHOT_F_USER_TEMPLATE, 0, out->user_template,
                               sizeof(out->user_template), err)) != PF_OK)
        return rc;
    if (out->user_template[0] != '\0' && user_template_check(out->user_template, &perr) != PF_OK)
        return pf_err_set(err, PF_EINVAL, "user_template: %s", perr.msg);
    out->tier = (uint32_t)tier;
    out->expires_at_ms = (int64_t)expires;
    out->weight = (uint32_t)weight;
    out->latency_ms = (uint32_t)latency;
    return PF_OK;
}

/* cJSON_ParseWithLength() ignores trailing bytes; a record must be one value. */
static cJSON *snapshot_parse_json(const char *json, size_t len)
{
    const char *end = NULL;
    cJSON *o = cJSON_ParseWithLengthOpts(json, len, &end, 0);
    if (o == NULL)
        return NULL;
    for (; end != NULL && end < json + len; end++) {
        if (*end != ' ' && *end != '\t' && *end != '\r' && *end != '\n') {
            cJSON_Delete(o);
            return NULL;
        }
    }
    return o;
}

static int snapshot_record_decode_as(const char *json, size_t len, const struct seal_key *key,
                                     int is_public, struct upstream *out, struct pf_err *err)
{
    cJSON *o;
    int rc;

    memset(out, 0, sizeof(*out));
    if (json == NULL || len == 0)
        return pf_err_set(err, PF_EINVAL, "empty record");
    if (memchr(json, '\0', len) != NULL)
        return pf_err_set(err, PF_EINVAL, "NUL byte in record");
    o = snapshot_parse_json(json, len);
    if (o == NULL)
        return pf_err_set(err, PF_EINVAL, "record is not valid JSON");
    if (!cJSON_IsObject(o)) {
        rc = pf_err_set(err, PF_EINVAL, "record is not a JSON object");
    } else {
        rc = snapshot_decode_fields(o, key, is_public, out, err);
    }
    cJSON_Delete(o);
    if (rc != PF_OK) {
        memset(out, 0, sizeof(*out));
        out->weight = 1;
    }
    return rc;
}

int snapshot_record_decode(const char *json, size_t len, const struct seal_key *key,
                           struct upstream *out, struct pf_err *err)
{
    return snapshot_record_decode_as(json, len, key, 0, out, err);
}

int snapshot_record_decode_public(const char *json, size_t len, struct upstream *out,
                                  struct pf_err *err)
{
    return snapshot_record_decode_as(json, len, NULL, 1, out, err);
}

/* ---- pool:meta and the notice ------------------------------------------ */

int snapshot_version_parse(const char *s, size_t len, int64_t *out)
{
    int64_t v = 0;
    if (s == NULL || len == 0 || len > 19 || s[0] < '1' || s[0] > '9')
        return PF_EINVAL;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return PF_EINVAL;
        int d = s[i] - '0';
        if (v > (INT64_MAX - d) / 10)
            return PF_ERANGE;
        v = v * 10 + d;
    }
    *out = v;
    return PF_OK;
}

int snapshot_epoch_valid(const char *s, size_t len)
{
    if (s == NULL || len == 0 || len >= SNAPSHOT_EPOCH_MAX)
        return 0;
    for (size_t i = 0; i < len; i++) {
        char ch = s[i];
        int ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                 (ch >= '0' && ch <= '9') || ch == '_' || ch == '-' || ch == '.';
        if (!ok)
            return 0;
    }
    return 1;
}

int snapshot_notice_parse(const char *s, size_t len, int64_t *version, char *epoch)
{
    const char *sp = s != NULL ? memchr(s, SNAPSHOT_NOTICE_SEP[0], len) : NULL;
    if (sp == NULL)
        return PF_EINVAL;
    size_t vlen = (size_t)(sp - s);
    size_t elen = len - vlen - 1;
    if (snapshot_version_parse(s, vlen, version) != PF_OK || !snapshot_epoch_valid(sp + 1, elen))
        return PF_EINVAL;
    memcpy(epoch, sp + 1, elen);
    epoch[elen] = '\0';
    return PF_OK;
}

int snapshot_notice_format(char *buf, size_t len, int64_t version, const char *epoch)
{
    if (version < 1 || epoch == NULL || !snapshot_epoch_valid(epoch, strlen(epoch)))
        return PF_EINVAL;
    int n = snprintf(buf, len, "%lld" SNAPSHOT_NOTICE_SEP "%s", (long long)version, epoch);
    return n < 0 || (size_t)n >= len ? PF_ERANGE : PF_OK;
}

void snapshot_meta_init(struct snapshot_meta *m)
{
    memset(m, 0, sizeof(*m));
    m->count = -1;
}

static int snapshot_field_is(const char *field, size_t len, const char *name)
{
    return len == strlen(name) && memcmp(field, name, len) == 0;
}

int snapshot_meta_field(struct snapshot_meta *m, const char *field, size_t field_len,
                        const char *value, size_t value_len, struct pf_err *err)
{
    if (field == NULL)
        return PF_OK;
    if (snapshot_field_is(field, field_len, SNAPSHOT_META_VERSION)) {
        if (value == NULL)
            return PF_OK;
        if (snapshot_version_parse(value, value_len, &m->version) != PF_OK)
            return pf_err_set(err, PF_EINVAL, "bad version");
        m->has_version = 1;
    } else if (snapshot_field_is(field, field_len, SNAPSHOT_META_EPOCH)) {
        if (value == NULL)
            return PF_OK;
        if (!snapshot_epoch_valid(value, value_len))
            return pf_err_set(err, PF_EINVAL, "bad epoch");
        memcpy(m->epoch, value, value_len);
        m->epoch[value_len] = '\0';
    } else if (snapshot_field_is(field, field_len, SNAPSHOT_META_COUNT)) {
        /* informational only: "0" and garbage read as unknown */
        if (value != NULL && snapshot_version_parse(value, value_len, &m->count) != PF_OK)
            m->count = -1;
    } else if (snapshot_field_is(field, field_len, SNAPSHOT_META_DIGEST)) {
        m->has_digest = value != NULL && pool_digest_parse(value, value_len, &m->digest) == PF_OK;
    }
    return PF_OK;
}

int snapshot_meta_finish(const struct snapshot_meta *m, struct pf_err *err)
{
    if (!m->has_version)
        return PF_ENOENT;
    if (m->epoch[0] == '\0')
        return pf_err_set(err, PF_EINVAL, "version without epoch");
    return PF_OK;
}

int snapshot_meta_from_pairs(struct snapshot_meta *m, const struct snapshot_pair *pairs,
                             size_t n, struct pf_err *err)
{
    snapshot_meta_init(m);
    for (size_t i = 0; i < n; i++)
        if (snapshot_meta_field(m, pairs[i].field, pairs[i].field_len, pairs[i].value,
                                pairs[i].value_len, err) != PF_OK)
            return PF_EINVAL;
    return snapshot_meta_finish(m, err);
}
