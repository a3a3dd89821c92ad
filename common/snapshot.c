#include "snapshot.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "keys.h"

/* Largest integer a JSON number (double) carries exactly. */
#define SNAPSHOT_INT_MAX 9007199254740992.0

char *snapshot_record_encode(const struct upstream *u)
{
    cJSON *o = cJSON_CreateObject();
    char *out = NULL;
    if (o == NULL)
        return NULL;
    if (cJSON_AddStringToObject(o, "scheme", addr_scheme_name(u->scheme)) == NULL ||
        cJSON_AddStringToObject(o, "host", u->host) == NULL ||
        cJSON_AddNumberToObject(o, "port", u->port) == NULL)
        goto done;
    if (u->user[0] != '\0' && cJSON_AddStringToObject(o, "user", u->user) == NULL)
        goto done;
    if (u->pass[0] != '\0' && cJSON_AddStringToObject(o, "pass", u->pass) == NULL)
        goto done;
    if (cJSON_AddStringToObject(o, "provider", u->provider) == NULL ||
        cJSON_AddNumberToObject(o, "expires_at_ms", (double)u->expires_at_ms) == NULL ||
        cJSON_AddNumberToObject(o, "weight", u->weight) == NULL ||
        cJSON_AddNumberToObject(o, "latency_ms", u->latency_ms) == NULL)
        goto done;
    out = cJSON_PrintUnformatted(o);
done:
    cJSON_Delete(o);
    return out;
}

/* Fetches member <name> of <o>; a duplicate member is an error, since two
 * readers could otherwise disagree on which one counts. */
static int snapshot_get(const cJSON *o, const char *name, const cJSON **out,
                        struct pf_err *err)
{
    const cJSON *found = NULL;
    const cJSON *it;
    *out = NULL;   /* a definite output on every path, error ones included */
    cJSON_ArrayForEach(it, o) {
        if (it->string != NULL && strcmp(it->string, name) == 0) {
            if (found != NULL)
                return pf_err_set(err, PF_EINVAL, "%s: duplicate field", name);
            found = it;
        }
    }
    *out = found;
    return PF_OK;
}

static int snapshot_get_str(const cJSON *o, const char *name, int is_required,
                            char *dst, size_t dst_len, struct pf_err *err)
{
    const cJSON *it;
    int rc = snapshot_get(o, name, &it, err);
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

static int snapshot_get_int(const cJSON *o, const char *name, int is_required,
                            double min, double max, double def, double *out,
                            struct pf_err *err)
{
    const cJSON *it;
    int rc = snapshot_get(o, name, &it, err);
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

static int snapshot_decode_fields(const cJSON *o, struct upstream *out, struct pf_err *err)
{
    char scheme[16];
    char host[UPSTREAM_HOST_MAX];
    char addr[UPSTREAM_HOST_MAX + 16];
    double port, expires, weight, latency;
    struct pf_err perr;
    int rc;

    if ((rc = snapshot_get_str(o, "scheme", 1, scheme, sizeof(scheme), err)) != PF_OK ||
        (rc = snapshot_get_str(o, "host", 1, host, sizeof(host), err)) != PF_OK ||
        (rc = snapshot_get_int(o, "port", 1, 1, 65535, 0, &port, err)) != PF_OK)
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
    if ((rc = snapshot_get_str(o, "user", 0, out->user, sizeof(out->user), err)) != PF_OK ||
        (rc = snapshot_get_str(o, "pass", 0, out->pass, sizeof(out->pass), err)) != PF_OK ||
        (rc = snapshot_get_str(o, "provider", 0, out->provider, sizeof(out->provider), err)) != PF_OK)
        return rc;
    if (out->pass[0] != '\0' && out->user[0] == '\0')
        return pf_err_set(err, PF_EINVAL, "pass: set without user");
    if (out->provider[0] != '\0' && !keys_valid_name(out->provider))
        return pf_err_set(err, PF_EINVAL, "provider: invalid name");
    if ((rc = snapshot_get_int(o, "expires_at_ms", 0, 0, SNAPSHOT_INT_MAX, 0, &expires, err)) != PF_OK ||
        (rc = snapshot_get_int(o, "weight", 0, 1, UINT32_MAX, 1, &weight, err)) != PF_OK ||
        (rc = snapshot_get_int(o, "latency_ms", 0, 0, UINT32_MAX, 0, &latency, err)) != PF_OK)
        return rc;
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

int snapshot_record_decode(const char *json, size_t len, struct upstream *out,
                           struct pf_err *err)
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
        rc = snapshot_decode_fields(o, out, err);
    }
    cJSON_Delete(o);
    if (rc != PF_OK) {
        memset(out, 0, sizeof(*out));
        out->weight = 1;
    }
    return rc;
}
