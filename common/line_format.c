/* Entry templates of `lines` providers; see line_format.h. */
#include "line_format.h"

#include <string.h>

static const char *const line_field_names[LINE_F__COUNT] = { "host", "port", "user", "pass" };

/* Characters a separator between two fields may not use: they occur in
 * host names, ports and plain user names. */
static int line_is_name_char(int c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '.' || c == '-' || c == '_';
}

static int line_is_literal_char(int c)
{
    return c >= 0x20 && c < 0x7f && c != '{' && c != '}';
}

int line_format_compile(const char *tmpl, struct line_format *out, struct pf_err *err)
{
    char lit[LINE_FORMAT_LIT_MAX + 1];
    size_t nlit = 0;
    int seen[LINE_F__COUNT] = { 0 };

    memset(out, 0, sizeof(*out));
    out->pass_at = -1;
    if (tmpl == NULL || tmpl[0] == '\0')
        return pf_err_set(err, PF_EINVAL, "empty template");
    for (const char *p = tmpl;; p++) {
        if (*p == '{' || *p == '\0') {
            lit[nlit] = '\0';
            if (out->nfields == 0)
                memcpy(out->prefix, lit, nlit + 1);
            else
                memcpy(out->seps[out->nfields - 1], lit, nlit + 1);
            if (*p == '\0')
                break;
            if (out->nfields > 0 && nlit == 0)
                return pf_err_set(err, PF_EINVAL, "{%s} and the next field need a separator",
                                  line_field_names[out->fields[out->nfields - 1]]);
            for (size_t i = 0; out->nfields > 0 && i < nlit; i++)
                if (line_is_name_char((unsigned char)lit[i]))
                    return pf_err_set(err, PF_EINVAL, "separator after {%s} may not use "
                                      "letters, digits, '.', '-' or '_'",
                                      line_field_names[out->fields[out->nfields - 1]]);
            const char *close = strchr(p, '}');
            if (close == NULL)
                return pf_err_set(err, PF_EINVAL, "unclosed '{'");
            size_t n = (size_t)(close - p - 1);
            int f = -1;
            for (int k = 0; k < LINE_F__COUNT; k++)
                if (strlen(line_field_names[k]) == n && memcmp(p + 1, line_field_names[k], n) == 0)
                    f = k;
            if (f < 0)
                return pf_err_set(err, PF_EINVAL, "unknown field (use {host}, {port}, {user}, "
                                  "{pass})");
            if (seen[f]++)
                return pf_err_set(err, PF_EINVAL, "{%s} given twice", line_field_names[f]);
            if (f == LINE_F_PASS)
                out->pass_at = out->nfields;
            out->fields[out->nfields++] = (enum line_field)f;
            nlit = 0;
            p = close;
            continue;
        }
        if (*p == '}')
            return pf_err_set(err, PF_EINVAL, "'}' without '{'");
        if (!line_is_literal_char((unsigned char)*p))
            return pf_err_set(err, PF_EINVAL, "literal text must be printable ASCII");
        if (nlit == LINE_FORMAT_LIT_MAX)
            return pf_err_set(err, PF_EINVAL, "literal text longer than %d bytes",
                              LINE_FORMAT_LIT_MAX);
        lit[nlit++] = *p;
    }
    if (!seen[LINE_F_HOST] || !seen[LINE_F_PORT])
        return pf_err_set(err, PF_EINVAL, "needs {host} and {port}");
    if (seen[LINE_F_PASS] && !seen[LINE_F_USER])
        return pf_err_set(err, PF_EINVAL, "{pass} needs {user}");
    return PF_OK;
}

/* First occurrence of <lit> in [<from>, <to>) of <s>, or -1. */
static long line_find_first(const char *s, size_t from, size_t to, const char *lit)
{
    size_t n = strlen(lit);
    for (size_t i = from; n > 0 && i + n <= to; i++)
        if (memcmp(s + i, lit, n) == 0)
            return (long)i;
    return -1;
}

/* Last occurrence of <lit> in [<from>, <to>) of <s>, or -1. */
static long line_find_last(const char *s, size_t from, size_t to, const char *lit)
{
    size_t n = strlen(lit);
    for (size_t i = to; n > 0 && i >= from + n; i--)
        if (memcmp(s + i - n, lit, n) == 0)
            return (long)(i - n);
    return -1;
}

static void line_set(struct addr_parts *out, enum line_field f, const char *p, size_t n)
{
    switch (f) {
    case LINE_F_HOST: out->host = p; out->host_len = n; break;
    case LINE_F_PORT: out->port = p; out->port_len = n; break;
    case LINE_F_USER: out->user = p; out->user_len = n; break;
    case LINE_F_PASS: out->pass = p; out->pass_len = n; break;
    case LINE_F__COUNT: break;
    }
}

int line_format_match(const struct line_format *f, const char *s, size_t len,
                      struct addr_parts *out)
{
    size_t pn = strlen(f->prefix);
    const char *suffix = f->seps[f->nfields - 1];
    size_t sn = strlen(suffix);
    size_t a, b;
    int split_at = f->pass_at >= 0 ? f->pass_at : f->nfields - 1;

    memset(out, 0, sizeof(*out));
    out->host = out->port = out->user = out->pass = s;
    if (len < pn + sn || memcmp(s, f->prefix, pn) != 0 || memcmp(s + len - sn, suffix, sn) != 0)
        return PF_EINVAL;
    a = pn;
    b = len - sn;
    /* Left to right up to the split field (the password, else the last). */
    for (int i = 0; i < split_at; i++) {
        size_t from = a;
        if (f->fields[i] == LINE_F_HOST && a < b && s[a] == '[') {
            long close = line_find_first(s, a, b, "]");
            if (close < 0)
                return PF_EINVAL;
            from = (size_t)close;
        }
        long at = line_find_first(s, from, b, f->seps[i]);
        if (at < 0 || (size_t)at == a)
            return PF_EINVAL;
        line_set(out, f->fields[i], s + a, (size_t)at - a);
        a = (size_t)at + strlen(f->seps[i]);
    }
    /* Right to left back to it. */
    for (int j = f->nfields - 1; j > split_at; j--) {
        long at = line_find_last(s, a, b, f->seps[j - 1]);
        size_t start = at < 0 ? 0 : (size_t)at + strlen(f->seps[j - 1]);
        if (at < 0 || start == b)
            return PF_EINVAL;
        line_set(out, f->fields[j], s + start, b - start);
        b = (size_t)at;
    }
    if (a >= b)
        return PF_EINVAL;
    line_set(out, f->fields[split_at], s + a, b - a);
    return PF_OK;
}

int line_format_uses(const struct line_format *f, char c)
{
    if (c == '\0')
        return 0;
    if (strchr(f->prefix, c) != NULL)
        return 1;
    for (int i = 0; i < f->nfields; i++)
        if (strchr(f->seps[i], c) != NULL)
            return 1;
    return 0;
}
