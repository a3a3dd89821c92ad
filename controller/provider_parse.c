/* Provider body parsers: turn an untrusted provider answer into validated,
 * deduplicated upstreams, or into one clear failure reason. */
#include "provider_parse.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"

static const char *const reject_names[PROVIDER_REJECT_COUNT] = {
    [PROVIDER_REJECT_SYNTAX]    = "syntax",
    [PROVIDER_REJECT_HOST]      = "host",
    [PROVIDER_REJECT_PORT]      = "port",
    [PROVIDER_REJECT_SCHEME]    = "scheme",
    [PROVIDER_REJECT_CREDS]     = "credentials",
    [PROVIDER_REJECT_DENIED]    = "denied",
    [PROVIDER_REJECT_DUPLICATE] = "duplicate",
    [PROVIDER_REJECT_TOO_LONG]  = "too_long",
    [PROVIDER_REJECT_BINARY]    = "binary",
    [PROVIDER_REJECT_TOO_MANY]  = "too_many",
};

const char *provider_reject_name(enum provider_reject r)
{
    if ((unsigned)r >= PROVIDER_REJECT_COUNT)
        return "unknown";
    return reject_names[r];
}

static int parse_is_blank(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

/* Entry separators inside one line. */
static int parse_is_sep(unsigned char c)
{
    return parse_is_blank(c) || c == ',' || c == ';';
}

static int parse_is_print(unsigned char c)
{
    return c >= 0x20 && c < 0x7f;
}

void provider_sanitize(const char *s, size_t len, size_t max, char *buf, size_t buf_len)
{
    char tmp[PROVIDER_PARSE_FIRST_MAX * 4 + 1];
    size_t n = 0;
    size_t out = 0;

    if (buf_len == 0)
        return;
    if (max > sizeof(tmp) - 1)
        max = sizeof(tmp) - 1;
    for (; n < len && n < max; n++)
        tmp[n] = parse_is_print((unsigned char)s[n]) ? s[n] : '?';
    tmp[n] = '\0';

    /* Word by word: a word holding '@' may carry "user:pass@", mask it. */
    for (size_t i = 0; i < n && out + 1 < buf_len;) {
        if (parse_is_sep((unsigned char)tmp[i])) {
            buf[out++] = tmp[i++];
            continue;
        }
        size_t end = i;
        while (end < n && !parse_is_sep((unsigned char)tmp[end]))
            end++;
        size_t at = end;
        for (size_t k = i; k < end; k++)
            if (tmp[k] == '@')
                at = k;
        size_t mask_from = at;
        if (at < end) {
            mask_from = i;
            for (size_t k = i; k + 2 < at; k++) {
                if (tmp[k] == ':' && tmp[k + 1] == '/' && tmp[k + 2] == '/') {
                    mask_from = k + 3;
                    break;
                }
            }
        }
        for (size_t k = i; k < end && out + 1 < buf_len; k++) {
            if (k == mask_from && k < at) {
                for (const char *m = "***"; *m != '\0' && out + 1 < buf_len; m++)
                    buf[out++] = *m;
                k = at - 1;
                continue;
            }
            buf[out++] = tmp[k];
        }
        i = end;
    }
    buf[out] = '\0';
}

static enum provider_reject parse_classify(const struct pf_err *e)
{
    if (strstr(e->msg, "scheme") != NULL)
        return PROVIDER_REJECT_SCHEME;
    if (strstr(e->msg, "port") != NULL)
        return PROVIDER_REJECT_PORT;
    if (strstr(e->msg, "host") != NULL)
        return PROVIDER_REJECT_HOST;
    if (strstr(e->msg, "user") != NULL || strstr(e->msg, "pass") != NULL ||
        strstr(e->msg, "credential") != NULL)
        return PROVIDER_REJECT_CREDS;
    return PROVIDER_REJECT_SYNTAX;
}

static void parse_reject(struct provider_parse_result *res, enum provider_reject r,
                         size_t line, const char *reason)
{
    res->rejected[r]++;
    res->nrejected++;
    if (res->first_reject[0] == '\0') {
        char safe[PF_ERR_MSG_LEN - 32];
        provider_sanitize(reason, strlen(reason), sizeof(safe) - 1, safe, sizeof(safe));
        snprintf(res->first_reject, sizeof(res->first_reject), "line %zu: %s", line, safe);
    }
}

static int parse_push(struct provider_parse_result *res, size_t *cap, const struct upstream *u)
{
    if (res->nupstreams == *cap) {
        size_t ncap = *cap ? *cap * 2 : 16;
        struct upstream *p = realloc(res->upstreams, ncap * sizeof(*p));
        if (p == NULL)
            return PF_ENOMEM;
        res->upstreams = p;
        *cap = ncap;
    }
    res->upstreams[res->nupstreams++] = *u;
    return PF_OK;
}

static void parse_entry(const char *s, size_t len, size_t line,
                        const struct provider_parse_opts *opts,
                        struct provider_parse_result *res, size_t *cap, int *oom)
{
    struct upstream u;
    struct pf_err e;

    res->nentries++;
    if (len > PROVIDER_PARSE_TOKEN_MAX) {
        parse_reject(res, PROVIDER_REJECT_TOO_LONG, line, "entry too long");
        return;
    }
    for (size_t i = 0; i < len; i++) {
        if (!parse_is_print((unsigned char)s[i])) {
            parse_reject(res, PROVIDER_REJECT_BINARY, line, "control or non-ASCII byte");
            return;
        }
    }
    pf_err_clear(&e);
    if (addr_parse_upstream(s, len, opts->default_scheme, &u, &e) != PF_OK) {
        /* Without a ':' it is no host:port at all: junk text. */
        enum provider_reject r = memchr(s, ':', len) == NULL ? PROVIDER_REJECT_SYNTAX
                                                             : parse_classify(&e);
        parse_reject(res, r, line, e.msg);
        return;
    }
    if (addr_validate_upstream(&u, opts->is_private_allowed, &e) != PF_OK) {
        parse_reject(res, e.code == PF_EDENIED ? PROVIDER_REJECT_DENIED : parse_classify(&e),
                     line, e.msg);
        return;
    }
    if (opts->max_upstreams != 0 && res->nupstreams >= opts->max_upstreams) {
        parse_reject(res, PROVIDER_REJECT_TOO_MANY, line, "too many upstreams");
        return;
    }
    if (opts->provider != NULL)
        snprintf(u.provider, sizeof(u.provider), "%s", opts->provider);
    if (parse_push(res, cap, &u) != PF_OK)
        *oom = 1;
}

/* FNV-1a 64 of the upstream id: a sort key for dedupe, equal ids compared in full. */
struct parse_key {
    uint64_t hash;
    size_t   idx;
};

static uint64_t parse_fnv64(const char *s)
{
    uint64_t h = 14695981039346656037ULL;
    for (; *s != '\0'; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ULL;
    }
    return h;
}

static int parse_key_cmp(const void *a, const void *b)
{
    const struct parse_key *x = a, *y = b;
    if (x->hash != y->hash)
        return x->hash < y->hash ? -1 : 1;
    return x->idx < y->idx ? -1 : (x->idx > y->idx);
}

/* Drops later duplicates, keeping body order. Returns PF_OK or PF_ENOMEM. */
static int parse_dedupe(struct provider_parse_result *res)
{
    size_t n = res->nupstreams;
    char ida[UPSTREAM_ID_MAX], idb[UPSTREAM_ID_MAX];
    struct parse_key *keys;
    unsigned char *is_dup;

    if (n < 2)
        return PF_OK;
    keys = malloc(n * sizeof(*keys));
    is_dup = calloc(n, 1);
    if (keys == NULL || is_dup == NULL) {
        free(keys);
        free(is_dup);
        return PF_ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        addr_upstream_id(&res->upstreams[i], ida, sizeof(ida));
        keys[i].hash = parse_fnv64(ida);
        keys[i].idx = i;
    }
    qsort(keys, n, sizeof(*keys), parse_key_cmp);
    for (size_t i = 0; i < n; i++) {
        if (is_dup[keys[i].idx])
            continue;
        addr_upstream_id(&res->upstreams[keys[i].idx], ida, sizeof(ida));
        for (size_t j = i + 1; j < n && keys[j].hash == keys[i].hash; j++) {
            if (is_dup[keys[j].idx])
                continue;
            addr_upstream_id(&res->upstreams[keys[j].idx], idb, sizeof(idb));
            if (strcmp(ida, idb) == 0)
                is_dup[keys[j].idx] = 1;
        }
    }
    size_t out = 0;
    for (size_t i = 0; i < n; i++) {
        if (is_dup[i]) {
            res->rejected[PROVIDER_REJECT_DUPLICATE]++;
            res->nrejected++;
            continue;
        }
        if (out != i)
            res->upstreams[out] = res->upstreams[i];
        out++;
    }
    res->nupstreams = out;
    free(keys);
    free(is_dup);
    return PF_OK;
}

int provider_parse_lines(const char *body, size_t len, const struct provider_parse_opts *opts,
                         struct provider_parse_result *res, struct pf_err *err)
{
    size_t cap = 0;
    size_t pos = 0;
    size_t lineno = 0;
    const char *first = NULL;
    size_t first_len = 0;
    int oom = 0;

    memset(res, 0, sizeof(*res));
    if (body == NULL)
        len = 0;

    /* Skip a UTF-8 BOM and leading blanks to look at what the body is. */
    size_t start = 0;
    if (len >= 3 && memcmp(body, "\xEF\xBB\xBF", 3) == 0)
        start = 3;
    while (start < len && (parse_is_blank((unsigned char)body[start]) || body[start] == '\0'))
        start++;
    if (start == len)
        return pf_err_set(err, PF_EINVAL, "empty body");
    if (body[start] == '<')
        return pf_err_set(err, PF_EINVAL, "HTML body");

    if (len >= 3 && memcmp(body, "\xEF\xBB\xBF", 3) == 0)
        pos = 3;
    while (pos < len && !oom) {
        const char *nl = memchr(body + pos, '\n', len - pos);
        size_t end = nl ? (size_t)(nl - body) : len;
        const char *line = body + pos;
        size_t line_len = end - pos;

        lineno++;
        pos = end + 1;
        while (line_len > 0 && parse_is_blank((unsigned char)line[0])) {
            line++;
            line_len--;
        }
        while (line_len > 0 && parse_is_blank((unsigned char)line[line_len - 1]))
            line_len--;
        if (line_len == 0 || line[0] == '#')
            continue;
        res->nlines++;
        if (first == NULL) {
            first = line;
            first_len = line_len;
        }
        for (size_t i = 0; i < line_len && !oom;) {
            if (parse_is_sep((unsigned char)line[i])) {
                i++;
                continue;
            }
            size_t j = i;
            while (j < line_len && !parse_is_sep((unsigned char)line[j]))
                j++;
            parse_entry(line + i, j - i, lineno, opts, res, &cap, &oom);
            i = j;
        }
    }
    if (oom || parse_dedupe(res) != PF_OK)
        return pf_err_set(err, PF_ENOMEM, "out of memory parsing body");
    if (res->nupstreams > 0)
        return PF_OK;
    if (first == NULL)
        return pf_err_set(err, PF_EINVAL, "empty body");

    char quoted[PROVIDER_PARSE_FIRST_MAX * 2];
    provider_sanitize(first, first_len, PROVIDER_PARSE_FIRST_MAX, quoted, sizeof(quoted));
    return pf_err_set(err, PF_EINVAL, "no valid address in %zu line%s (first: '%s')",
                      res->nlines, res->nlines == 1 ? "" : "s", quoted);
}

void provider_parse_result_deinit(struct provider_parse_result *res)
{
    if (res == NULL)
        return;
    free(res->upstreams);
    memset(res, 0, sizeof(*res));
}
