/* The gateway user-name template; see user_template.h. */
#include "user_template.h"

#include <stdio.h>
#include <string.h>

static const char *const var_names[USER_TEMPLATE__COUNT] = {
    "country", "region", "city", "isp", "asn", "session", "sesstime",
};

/* The longest value of each placeholder. */
static const size_t var_max[USER_TEMPLATE__COUNT] = {
    USER_PARAMS_VALUE_LEN, USER_PARAMS_VALUE_LEN, USER_PARAMS_VALUE_LEN,
    USER_PARAMS_VALUE_LEN, USER_PARAMS_VALUE_LEN, USER_TEMPLATE_SESSION_LEN, 4,
};

#define NAME_MAX_LEN 16   /* longest placeholder name quoted in a reason */

const char *user_template_var_name(enum user_template_var v)
{
    return (unsigned)v < USER_TEMPLATE__COUNT ? var_names[v] : "?";
}

static int is_literal(unsigned char ch)
{
    return ch > 0x20 && ch < 0x7f && ch != ':' && ch != '[' && ch != ']' && ch != '{' &&
           ch != '}';
}

static int is_value_char(unsigned char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           ch == '_' || ch == '.';
}

/* Reads the placeholder opening at <s>[<i>] == '{'. Returns its variable
 * and sets <*end> past the '}', or -1 with the reason in <err>. */
static int read_var(const char *s, size_t i, size_t *end, struct pf_err *err)
{
    size_t j = i + 1, n;
    while ((s[j] >= 'a' && s[j] <= 'z') || s[j] == '_')
        j++;
    n = j - i - 1;
    if (s[j] != '}' || n == 0) {
        pf_err_set(err, PF_EINVAL, "byte %zu: a placeholder is {name} with a name of a-z and _",
                   i);
        return -1;
    }
    for (int v = 0; v < USER_TEMPLATE__COUNT; v++) {
        if (strlen(var_names[v]) == n && memcmp(var_names[v], s + i + 1, n) == 0) {
            *end = j + 1;
            return v;
        }
    }
    if (n <= NAME_MAX_LEN)
        pf_err_set(err, PF_EINVAL, "unknown placeholder {%.*s} (country, region, city, isp, asn, "
                   "session, sesstime)", (int)n, s + i + 1);
    else
        pf_err_set(err, PF_EINVAL, "byte %zu: unknown placeholder", i);
    return -1;
}

/* Appends <len> bytes of <s> to <out> of <out_len> bytes at <*o>, keeping
 * room for the NUL; past the end only <*o> grows (the caller reports it). */
static void put(char *out, size_t out_len, size_t *o, const char *s, size_t len)
{
    if (*o + len < out_len)
        memcpy(out + *o, s, len);
    *o += len;
}

/* One pass over <tmpl>: checks it (always), and with <vars> renders into
 * <out> of <out_len> bytes. */
static int walk(const char *tmpl, const struct user_template_vars *vars, char *out,
                size_t out_len, struct pf_err *err)
{
    size_t i = 0, o = 0, fixed = 0, seg_start = 0, seg_o = 0;
    int in_seg = 0, seg_vars = 0, seg_empty = 0;

    if (strlen(tmpl) >= USER_TEMPLATE_MAX)
        return pf_err_set(err, PF_EINVAL, "longer than %d bytes", USER_TEMPLATE_MAX - 1);
    while (tmpl[i] != '\0') {
        unsigned char ch = (unsigned char)tmpl[i];
        if (ch == '[') {
            if (in_seg)
                return pf_err_set(err, PF_EINVAL, "byte %zu: segments do not nest", i);
            in_seg = 1;
            seg_start = i;
            seg_vars = 0;
            seg_empty = 0;
            seg_o = o;
            i++;
        } else if (ch == ']') {
            if (!in_seg)
                return pf_err_set(err, PF_EINVAL, "byte %zu: ']' without '['", i);
            if (seg_vars == 0)
                return pf_err_set(err, PF_EINVAL, "byte %zu: a segment needs a placeholder",
                                  seg_start);
            in_seg = 0;
            if (seg_empty)
                o = seg_o;              /* dropped: a placeholder in it is empty */
            i++;
        } else if (ch == '{') {
            size_t end = 0;
            int v = read_var(tmpl, i, &end, err);
            if (v < 0)
                return PF_EINVAL;
            if (!in_seg)
                return pf_err_set(err, PF_EINVAL, "{%s} must stand inside [...]: a request may "
                                  "leave it out", var_names[v]);
            seg_vars++;
            if (vars != NULL) {
                const char *val = vars->v[v];
                size_t n = strnlen(val, sizeof(vars->v[v]));
                if (n > var_max[v] || n == sizeof(vars->v[v]))
                    return pf_err_set(err, PF_EINVAL, "{%s}: value too long", var_names[v]);
                for (size_t k = 0; k < n; k++)
                    if (!is_value_char((unsigned char)val[k]))
                        return pf_err_set(err, PF_EINVAL, "{%s}: bad value", var_names[v]);
                if (n == 0)
                    seg_empty = 1;
                else if (!seg_empty)
                    put(out, out_len, &o, val, n);
            }
            i = end;
        } else if (is_literal(ch)) {
            if (!in_seg)
                fixed++;
            if (vars != NULL && !(in_seg && seg_empty))
                put(out, out_len, &o, tmpl + i, 1);
            i++;
        } else if (ch == '}') {
            return pf_err_set(err, PF_EINVAL, "byte %zu: '}' without '{'", i);
        } else if (ch == ':') {
            return pf_err_set(err, PF_EINVAL, "byte %zu: ':' is not allowed (it ends a user "
                              "name)", i);
        } else {
            return pf_err_set(err, PF_EINVAL, "byte %zu: not a printable ASCII character "
                              "(0x%02x)", i, ch);
        }
    }
    if (in_seg)
        return pf_err_set(err, PF_EINVAL, "byte %zu: '[' without ']'", seg_start);
    if (fixed == 0)
        return pf_err_set(err, PF_EINVAL, "needs at least one character outside [...]");
    if (out == NULL)
        return PF_OK;
    if (o >= out_len || o >= USER_TEMPLATE_OUT_MAX)
        return pf_err_set(err, PF_ERANGE, "the user name would be %zu bytes, at most %zu", o,
                          PF_MIN_OF(out_len, (size_t)USER_TEMPLATE_OUT_MAX) - 1);
    out[o] = '\0';
    return PF_OK;
}

int user_template_check(const char *tmpl, struct pf_err *err)
{
    return walk(tmpl, NULL, NULL, 0, err);
}

int user_template_render(const char *tmpl, const struct user_template_vars *vars, char *out,
                         size_t out_len, struct pf_err *err)
{
    if (out_len == 0)
        return pf_err_set(err, PF_ERANGE, "no room for the user name");
    int rc = walk(tmpl, vars, out, out_len, err);
    if (rc != PF_OK)
        out[0] = '\0';
    return rc;
}

void user_template_vars_from_params(const struct user_params *p, struct user_template_vars *vars)
{
    static const enum user_label map[] = {
        [USER_TEMPLATE_COUNTRY] = USER_LABEL_COUNTRY, [USER_TEMPLATE_REGION] = USER_LABEL_REGION,
        [USER_TEMPLATE_CITY] = USER_LABEL_CITY,       [USER_TEMPLATE_ISP] = USER_LABEL_ISP,
        [USER_TEMPLATE_ASN] = USER_LABEL_ASN,
    };
    memset(vars, 0, sizeof(*vars));
    for (int v = USER_TEMPLATE_COUNTRY; v <= USER_TEMPLATE_ASN; v++)
        snprintf(vars->v[v], sizeof(vars->v[v]), "%s", p->label[map[v]]);
    if (p->session[0] != '\0' && p->sesstime_min > 0)
        snprintf(vars->v[USER_TEMPLATE_SESSTIME], sizeof(vars->v[USER_TEMPLATE_SESSTIME]), "%d",
                 p->sesstime_min);
}

void user_template_session_format(unsigned long long h, struct user_template_vars *vars)
{
    snprintf(vars->v[USER_TEMPLATE_SESSION], sizeof(vars->v[USER_TEMPLATE_SESSION]), "%016llx", h);
}
