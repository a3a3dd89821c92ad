/* Users kept in Redis; see user_record.h. */
#include "user_record.h"

#include <math.h>
#include <string.h>

#include <cjson/cJSON.h>

int user_name_is_valid(const char *name, size_t len)
{
    if (len == 0 || len > USER_NAME_MAX)
        return 0;
    for (size_t i = 0; i < len; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == '@'))
            return 0;
    }
    return 1;
}

/* Reads member <v> as an integer 0..<max> into <*out>. Returns PF_OK or
 * PF_EINVAL. */
static int read_uint(const cJSON *v, double max, uint64_t *out)
{
    if (!cJSON_IsNumber(v))
        return PF_EINVAL;
    double d = v->valuedouble;
    if (!isfinite(d) || d < 0 || d > max || floor(d) != d)
        return PF_EINVAL;
    *out = (uint64_t)d;
    return PF_OK;
}

int user_record_parse(const char *json, size_t len, struct user_record *out, struct pf_err *err)
{
    memset(out, 0, sizeof(*out));
    if (len == 0 || len > USER_RECORD_MAX)
        return pf_err_set(err, PF_EINVAL, "user record must be 1..%d bytes", USER_RECORD_MAX);
    const char *end = NULL;
    cJSON *o = cJSON_ParseWithLengthOpts(json, len, &end, 0);
    if (o == NULL || end != json + len) {
        cJSON_Delete(o);
        return pf_err_set(err, PF_EINVAL, "user record is not one JSON value");
    }
    int rc = PF_OK;
    int has_pass = 0;
    unsigned seen = 0;               /* members read, to refuse duplicates */
    if (!cJSON_IsObject(o)) {
        rc = pf_err_set(err, PF_EINVAL, "user record is not a JSON object");
        goto done;
    }
    const cJSON *m;
    cJSON_ArrayForEach(m, o) {
        const char *k = m->string;
        uint64_t u = 0;
        static const char *const names[] = { "pass", "max_conns", "max_rps", "bytes_per_day",
                                             "bytes_per_month" };
        for (unsigned i = 0; i < PF_ARRAY_LEN(names); i++) {
            if (strcmp(k, names[i]) != 0)
                continue;
            if (seen & (1u << i)) {
                rc = pf_err_set(err, PF_EINVAL, "user record: member %s twice", names[i]);
                goto done;
            }
            seen |= 1u << i;
        }
        if (strcmp(k, "pass") == 0) {
            if (!cJSON_IsString(m)) {
                rc = pf_err_set(err, PF_EINVAL, "user record: \"pass\" must be one string");
                goto done;
            }
            if ((rc = pwhash_parse(m->valuestring, strlen(m->valuestring), &out->pass, err)) != PF_OK)
                goto done;
            has_pass = 1;
        } else if (strcmp(k, "max_conns") == 0) {
            if (read_uint(m, USER_CONNS_MAX, &u) != PF_OK) {
                rc = pf_err_set(err, PF_EINVAL, "user record: max_conns must be 0..%d", USER_CONNS_MAX);
                goto done;
            }
            out->limits.max_conns = (int)u;
        } else if (strcmp(k, "max_rps") == 0) {
            if (read_uint(m, USER_RPS_MAX, &u) != PF_OK) {
                rc = pf_err_set(err, PF_EINVAL, "user record: max_rps must be 0..%d", USER_RPS_MAX);
                goto done;
            }
            out->limits.max_rps = (int)u;
        } else if (strcmp(k, "bytes_per_day") == 0 || strcmp(k, "bytes_per_month") == 0) {
            if (read_uint(m, (double)USER_BYTES_MAX, &u) != PF_OK) {
                rc = pf_err_set(err, PF_EINVAL, "user record: %s must be 0..2^53",
                                k[10] == 'd' ? "bytes_per_day" : "bytes_per_month");
                goto done;
            }
            if (k[10] == 'd')
                out->limits.bytes_per_day = u;
            else
                out->limits.bytes_per_month = u;
        } else {
            rc = pf_err_set(err, PF_EINVAL, "user record: unknown member");
            goto done;
        }
    }
    if (!has_pass)
        rc = pf_err_set(err, PF_EINVAL, "user record: \"pass\" is missing");
done:
    cJSON_Delete(o);
    if (rc != PF_OK)
        memset(out, 0, sizeof(*out));
    return rc;
}
