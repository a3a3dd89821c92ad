#include "json_text.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

int json_scalar_text(const cJSON *v, char *buf, size_t len)
{
    if (cJSON_IsString(v) && v->valuestring != NULL) {
        size_t n = strlen(v->valuestring);
        if (n >= len)
            return PF_EINVAL;
        memcpy(buf, v->valuestring, n + 1);
        return PF_OK;
    }
    if (cJSON_IsBool(v)) {
        snprintf(buf, len, "%s", cJSON_IsTrue(v) ? "true" : "false");
        return PF_OK;
    }
    if (cJSON_IsNull(v)) {
        snprintf(buf, len, "null");
        return PF_OK;
    }
    if (cJSON_IsNumber(v) && isfinite(v->valuedouble)) {
        double d = v->valuedouble;
        if (d == floor(d) && fabs(d) < 9e15)
            snprintf(buf, len, "%lld", (long long)d);
        else
            snprintf(buf, len, "%.17g", d);
        return PF_OK;
    }
    return PF_EINVAL;
}

cJSON *json_add_int(cJSON *o, const char *name, int64_t value)
{
    char text[24];
    snprintf(text, sizeof(text), "%lld", (long long)value);
    return cJSON_AddRawToObject(o, name, text);
}
