/* Provider body parsers: turn an untrusted provider answer into validated,
 * deduplicated upstreams, or into one clear failure reason. */
#include "provider_parse.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ctype.h>

#include "addr.h"
#include "provider_json.h"

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
    [PROVIDER_REJECT_EXPIRY]    = "expiry",
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

static int parse_is_sep_opt(unsigned char c, const struct provider_parse_opts *opts)
{
    return parse_is_sep(c) || (c != '\0' && opts->separators != NULL &&
                               strchr(opts->separators, c) != NULL);
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

void provider_parse_reject(struct provider_parse_result *res, enum provider_reject r,
                           const char *unit, size_t where, const char *reason)
{
    res->rejected[r]++;
    res->nrejected++;
    if (res->first_reject[0] == '\0') {
        char safe[PF_ERR_MSG_LEN - 32];
        provider_sanitize(reason, strlen(reason), sizeof(safe) - 1, safe, sizeof(safe));
        snprintf(res->first_reject, sizeof(res->first_reject), "%s %zu: %s", unit, where, safe);
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

int provider_parse_add(const char *s, size_t len, const char *unit, size_t line,
                       const struct provider_parse_opts *opts,
                       struct provider_parse_result *res, size_t *cap)
{
    struct upstream u;
    struct pf_err e;

    res->nentries++;
    if (len > PROVIDER_PARSE_TOKEN_MAX) {
        provider_parse_reject(res, PROVIDER_REJECT_TOO_LONG, unit, line, "entry too long");
        return PF_EINVAL;
    }
    for (size_t i = 0; i < len; i++) {
        if (!parse_is_print((unsigned char)s[i])) {
            provider_parse_reject(res, PROVIDER_REJECT_BINARY, unit, line,
                                  "control or non-ASCII byte");
            return PF_EINVAL;
        }
    }
    pf_err_clear(&e);
    if (addr_parse_upstream(s, len, opts->default_scheme, &u, &e) != PF_OK) {
        /* Without a ':' it is no host:port at all: junk text. */
        enum provider_reject r = memchr(s, ':', len) == NULL ? PROVIDER_REJECT_SYNTAX
                                                             : parse_classify(&e);
        provider_parse_reject(res, r, unit, line, e.msg);
        return PF_EINVAL;
    }
    if (addr_validate_upstream(&u, opts->is_private_allowed, &e) != PF_OK) {
        provider_parse_reject(res, e.code == PF_EDENIED ? PROVIDER_REJECT_DENIED
                                                        : parse_classify(&e),
                              unit, line, e.msg);
        return PF_EINVAL;
    }
    if (opts->max_upstreams != 0 && res->nupstreams >= opts->max_upstreams) {
        provider_parse_reject(res, PROVIDER_REJECT_TOO_MANY, unit, line, "too many upstreams");
        return PF_EINVAL;
    }
    if (opts->provider != NULL)
        snprintf(u.provider, sizeof(u.provider), "%s", opts->provider);
    return parse_push(res, cap, &u);
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
int provider_parse_dedupe(struct provider_parse_result *res)
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
    res->retry_after_s = -1;
    res->err_class = PROVIDER_ERR_TRANSIENT;    /* until it succeeds */
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
            if (parse_is_sep_opt((unsigned char)line[i], opts)) {
                i++;
                continue;
            }
            size_t j = i;
            while (j < line_len && !parse_is_sep_opt((unsigned char)line[j], opts))
                j++;
            if (provider_parse_add(line + i, j - i, "line", lineno, opts, res, &cap) == PF_ENOMEM)
                oom = 1;
            i = j;
        }
    }
    if (oom || provider_parse_dedupe(res) != PF_OK)
        return pf_err_set(err, PF_ENOMEM, "out of memory parsing body");
    if (res->nupstreams > 0) {
        res->err_class = PROVIDER_ERR_NONE;
        return PF_OK;
    }
    if (first == NULL)
        return pf_err_set(err, PF_EINVAL, "empty body");

    /* Text that is no address list is the provider talking: "ERROR(-3):
     * ...", "please add 1.2.3.4 to your whitelist". Its wording says
     * whether retrying can help. */
    res->err_class = provider_classify_text(first, first_len, opts->errors);
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

const char *provider_err_class_name(enum provider_err_class c)
{
    switch (c) {
    case PROVIDER_ERR_NONE:      return "none";
    case PROVIDER_ERR_TRANSIENT: return "transient";
    case PROVIDER_ERR_FATAL:     return "fatal";
    }
    return "unknown";
}

/* Case-insensitive search of NUL-terminated <word> in <len> bytes at <s>. */
static int parse_has_word(const char *s, size_t len, const char *word)
{
    size_t n = strlen(word);

    if (n == 0 || n > len)
        return 0;
    for (size_t i = 0; i + n <= len; i++) {
        size_t k = 0;
        while (k < n && tolower((unsigned char)s[i + k]) == tolower((unsigned char)word[k]))
            k++;
        if (k == n)
            return 1;
    }
    return 0;
}

/* Wording no retry can fix: the operator must whitelist the IP, top up,
 * or fix the key. Kept short to avoid classing "timeout" texts as fatal. */
static const char *const fatal_words[] = {
    "whitelist", "white list", "white-list", "allowlist", "not whitelisted",
    "balance", "insufficient", "expired key", "key expired", "key has expired",
    "invalid key", "invalid api key", "invalid token", "invalid apikey", "unauthorized",
    "unauthorised", "forbidden", "authentication failed", "account expired",
    "package expired", "plan expired", "subscription expired", "not authorized",
};

enum provider_err_class provider_classify_text(const char *s, size_t len,
                                               const struct conf_provider_errors *errors)
{
    if (s == NULL)
        return PROVIDER_ERR_TRANSIENT;
    if (errors != NULL) {
        for (int i = 0; i < errors->ntransient_words; i++)
            if (parse_has_word(s, len, errors->transient_words[i]))
                return PROVIDER_ERR_TRANSIENT;
        for (int i = 0; i < errors->nfatal_words; i++)
            if (parse_has_word(s, len, errors->fatal_words[i]))
                return PROVIDER_ERR_FATAL;
    }
    for (size_t i = 0; i < sizeof(fatal_words) / sizeof(fatal_words[0]); i++)
        if (parse_has_word(s, len, fatal_words[i]))
            return PROVIDER_ERR_FATAL;
    return PROVIDER_ERR_TRANSIENT;
}

enum provider_err_class provider_classify_code(const char *code,
                                               const struct conf_provider_errors *errors,
                                               int *is_known)
{
    if (is_known != NULL)
        *is_known = 0;
    if (code == NULL || errors == NULL)
        return PROVIDER_ERR_TRANSIENT;
    for (int i = 0; i < errors->ncodes; i++) {
        if (strcmp(errors->codes[i].code, code) == 0) {
            if (is_known != NULL)
                *is_known = 1;
            return errors->codes[i].is_fatal ? PROVIDER_ERR_FATAL : PROVIDER_ERR_TRANSIENT;
        }
    }
    return PROVIDER_ERR_TRANSIENT;
}

int provider_retry_after_s(const char *v)
{
    long n = 0;
    size_t i = 0;

    if (v == NULL)
        return -1;
    while (v[i] == ' ' || v[i] == '\t')
        i++;
    if (v[i] < '0' || v[i] > '9')
        return -1;
    for (; v[i] >= '0' && v[i] <= '9'; i++) {
        if (n < 86400)
            n = n * 10 + (v[i] - '0');
    }
    while (v[i] == ' ' || v[i] == '\t')
        i++;
    if (v[i] != '\0')
        return -1;
    return n > 86400 ? 86400 : (int)n;
}

/* Offset of the first byte after a BOM and blanks (== <len> when none). */
static size_t parse_skip_blank(const char *body, size_t len)
{
    size_t i = 0;
    if (len >= 3 && memcmp(body, "\xEF\xBB\xBF", 3) == 0)
        i = 3;
    while (i < len && (parse_is_blank((unsigned char)body[i]) || body[i] == '\0'))
        i++;
    return i;
}

/* A non-2xx answer: always a failure, its class from the status first. */
static int parse_http_error(const struct provider_response *r,
                            const struct provider_parse_opts *opts,
                            struct provider_parse_result *res, struct pf_err *err)
{
    char first[PROVIDER_PARSE_FIRST_MAX * 2];
    struct pf_err jerr;
    enum provider_err_class cls = PROVIDER_ERR_TRANSIENT;
    size_t start = parse_skip_blank(r->body, r->body_len);
    size_t len = start;
    const char *ra = r->retry_after != NULL ? r->retry_after : "";

    while (len < r->body_len && r->body[len] != '\n' && r->body[len] != '\r')
        len++;
    provider_sanitize(r->body + start, len - start, PROVIDER_PARSE_FIRST_MAX, first,
                      sizeof(first));
    if (r->http_status == 429 || r->http_status == 503)
        res->retry_after_s = provider_retry_after_s(ra);
    pf_err_clear(&jerr);
    if (r->http_status == 401 || r->http_status == 403 || r->http_status == 407) {
        cls = PROVIDER_ERR_FATAL;
    } else if (r->http_status >= 400 && r->http_status < 500 && r->http_status != 429 &&
               r->http_status != 408) {
        /* 400/404/...: the body may say why ("invalid key"). */
        if (provider_json_error(r->body, r->body_len, opts->errors, &cls, &jerr) != PF_EINVAL)
            cls = provider_classify_text(r->body + start, len - start, opts->errors);
    }
    res->err_class = cls;
    return pf_err_set(err, PF_EINVAL, "HTTP %ld%s%s%s%s%s", r->http_status,
                      ra[0] ? " retry-after " : "", ra[0] ? ra : "",
                      first[0] ? " (body: '" : "", first, first[0] ? "')" : "");
}

int provider_parse_response(const struct provider_response *r,
                            const struct provider_parse_opts *opts,
                            struct provider_parse_result *res, struct pf_err *err)
{
    const char *body = r->body != NULL ? r->body : "";
    size_t len = r->body != NULL ? r->body_len : 0;
    size_t start = parse_skip_blank(body, len);
    enum provider_err_class cls = PROVIDER_ERR_TRANSIENT;
    int rc;

    memset(res, 0, sizeof(*res));
    res->retry_after_s = -1;
    res->err_class = PROVIDER_ERR_TRANSIENT;
    if (r->http_status < 200 || r->http_status > 299) {
        struct provider_response rr = *r;
        rr.body = body;
        rr.body_len = len;
        return parse_http_error(&rr, opts, res, err);
    }
    if (start == len)
        return pf_err_set(err, PF_EINVAL, "empty body");
    if (body[start] == '<')
        return pf_err_set(err, PF_EINVAL, "HTML body");
    if (opts->format == CONF_FORMAT_JSON)
        return provider_parse_json(body, len, opts, res, err);
    /* A lines provider answering a JSON object is reporting an error. */
    if (body[start] == '{') {
        rc = provider_json_error(body, len, opts->errors, &cls, err);
        if (rc == PF_EINVAL) {
            res->err_class = cls;
            return rc;
        }
    }
    return provider_parse_lines(body, len, opts, res, err);
}
