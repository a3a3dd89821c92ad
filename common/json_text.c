#include "json_text.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "str.h"

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

size_t json_text_quote(const char *s, size_t len, char *dst, size_t dst_len)
{
    /* a character is at most 4 bytes of UTF-8 (U+FFFD takes 3) */
    char clean[JSON_TEXT_QUOTE_MAX * 4 + 1];
    size_t n = str_sanitize_text(s, len, JSON_TEXT_QUOTE_MAX, clean, sizeof(clean));
    size_t o = 0;

    if (dst_len < 3) {
        if (dst_len > 0)
            dst[0] = '\0';
        return 0;
    }
    dst[o++] = '"';
    for (size_t i = 0; i < n; i++) {
        char ch = clean[i];
        int is_escaped = ch == '"' || ch == '\\';
        if (o + (is_escaped ? 2u : 1u) + 2 > dst_len) {
            /* no room: end before a character cut short (escapes are ASCII) */
            o = 1 + str_utf8_cut(dst + 1, o - 1);
            break;
        }
        if (is_escaped)
            dst[o++] = '\\';
        dst[o++] = ch;
    }
    dst[o++] = '"';
    dst[o] = '\0';
    return o;
}
