/* Entries in, reasons out: the part of provider body parsing both formats
 * share. See provider_intake.h. */
#include "provider_intake.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "str.h"

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
    [PROVIDER_REJECT_FILTERED]  = "filtered",
};

const char *provider_reject_name(enum provider_reject r)
{
    if ((unsigned)r >= PROVIDER_REJECT_COUNT)
        return "unknown";
    return reject_names[r];
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

void provider_result_init(struct provider_parse_result *res)
{
    memset(res, 0, sizeof(*res));
    res->retry_after_s = -1;
    res->err_class = PROVIDER_ERR_TRANSIENT;    /* until it succeeds */
}

void provider_parse_result_deinit(struct provider_parse_result *res)
{
    if (res == NULL)
        return;
    if (res->upstreams != NULL)
        memset(res->upstreams, 0, res->cap * sizeof(*res->upstreams));  /* passwords */
    free(res->upstreams);
    memset(res, 0, sizeof(*res));
}

static int intake_is_blank(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

size_t provider_skip_blank(const char *body, size_t len)
{
    size_t i = 0;
    if (body == NULL)
        return 0;
    if (len >= 3 && memcmp(body, "\xEF\xBB\xBF", 3) == 0)
        i = 3;
    while (i < len && (intake_is_blank((unsigned char)body[i]) || body[i] == '\0'))
        i++;
    return i;
}

/* "host:port" of <u> (IPv6 bracketed): a parsed upstream as a reason shows it. */
static void intake_hostport(const struct upstream *u, char *buf, size_t len)
{
    int is_v6 = strchr(u->host, ':') != NULL;
    snprintf(buf, len, is_v6 ? "[%.*s]:%u" : "%.*s:%u", (int)strnlen(u->host, sizeof(u->host)),
             u->host, (unsigned)u->port);
}

void provider_entry_reject(struct provider_parse_result *res, enum provider_reject r,
                           const char *unit, size_t where, size_t len, const struct upstream *u,
                           const char *reason)
{
    char what[PROVIDER_EXAMPLE_LEN];

    res->rejected[r]++;
    res->nrejected++;
    if (u != NULL)
        intake_hostport(u, what, sizeof(what));
    else if (len > 0)
        snprintf(what, sizeof(what), "%zu bytes", len);
    else
        what[0] = '\0';                 /* a JSON object: no bytes to count */
    if (res->nexamples < PROVIDER_EXAMPLES_MAX) {
        if (u != NULL)
            snprintf(res->examples[res->nexamples], PROVIDER_EXAMPLE_LEN, "%s", what);
        else
            snprintf(res->examples[res->nexamples], PROVIDER_EXAMPLE_LEN, "%s %zu%s%s%s", unit,
                     where, what[0] ? " (" : "", what, what[0] ? ")" : "");
        res->nexamples++;
    }
    if (res->first_reject[0] == '\0')
        snprintf(res->first_reject, sizeof(res->first_reject), "%s %zu%s%s%s: %s", unit, where,
                 what[0] ? " (" : "", what, what[0] ? ")" : "", reason);
}

/* Which reason an address parse error gives. */
static enum provider_reject intake_classify(const struct pf_err *e)
{
    if (strstr(e->msg, "scheme") != NULL)
        return PROVIDER_REJECT_SCHEME;
    if (strstr(e->msg, "port") != NULL)
        return PROVIDER_REJECT_PORT;
    if (strstr(e->msg, "host") != NULL || strstr(e->msg, "IPv") != NULL ||
        strstr(e->msg, "address") != NULL)
        return PROVIDER_REJECT_HOST;
    if (strstr(e->msg, "user") != NULL || strstr(e->msg, "pass") != NULL ||
        strstr(e->msg, "credential") != NULL)
        return PROVIDER_REJECT_CREDS;
    return PROVIDER_REJECT_SYNTAX;
}

static int intake_push(struct provider_parse_result *res, const struct upstream *u)
{
    if (res->nupstreams == res->cap) {
        size_t ncap = res->cap ? res->cap * 2 : 16;
        struct upstream *p = malloc(ncap * sizeof(*p));
        if (p == NULL)
            return PF_ENOMEM;
        if (res->nupstreams > 0)
            memcpy(p, res->upstreams, res->nupstreams * sizeof(*p));
        /* realloc() would leave the old copy, passwords and all, unwiped. */
        if (res->upstreams != NULL)
            memset(res->upstreams, 0, res->cap * sizeof(*res->upstreams));
        free(res->upstreams);
        res->upstreams = p;
        res->cap = ncap;
    }
    res->upstreams[res->nupstreams++] = *u;
    return PF_OK;
}

/* host:port:user:pass: exactly four ':' fields, the second a port (1..5
 * digits), no '@', '/' or '[' (a URL, userinfo or bracketed IPv6 is read
 * by addr_parse_upstream()). Fills <p> and returns 1 when it is one. */
static int intake_four_fields(const char *s, size_t len, struct addr_parts *p)
{
    size_t colon[3], n = 0;

    if (memchr(s, '@', len) != NULL || memchr(s, '/', len) != NULL || memchr(s, '[', len) != NULL)
        return 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] != ':')
            continue;
        if (n == 3)
            return 0;
        colon[n++] = i;
    }
    if (n != 3)
        return 0;
    size_t port_len = colon[1] - colon[0] - 1;
    if (port_len == 0 || port_len > 5)
        return 0;
    for (size_t i = colon[0] + 1; i < colon[1]; i++)
        if (s[i] < '0' || s[i] > '9')
            return 0;
    memset(p, 0, sizeof(*p));
    p->host = s;
    p->host_len = colon[0];
    p->port = s + colon[0] + 1;
    p->port_len = port_len;
    p->user = s + colon[1] + 1;
    p->user_len = colon[2] - colon[1] - 1;
    p->pass = s + colon[2] + 1;
    p->pass_len = len - colon[2] - 1;
    return 1;
}

int provider_entry_add(const char *s, size_t len, const char *unit, size_t where,
                       const struct provider_parse_opts *opts, struct provider_parse_result *res)
{
    struct upstream u;
    struct addr_parts parts;
    struct pf_err e;
    int rc;

    res->nentries++;
    if (len > PROVIDER_PARSE_TOKEN_MAX) {
        provider_entry_reject(res, PROVIDER_REJECT_TOO_LONG, unit, where, len, NULL,
                              "entry too long");
        return PF_EINVAL;
    }
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c >= 0x7f) {
            provider_entry_reject(res, PROVIDER_REJECT_BINARY, unit, where, len, NULL,
                                  "control or non-ASCII byte");
            return PF_EINVAL;
        }
    }
    pf_err_clear(&e);
    if (opts->line_format != NULL) {
        if (line_format_match(opts->line_format, s, len, &parts) != PF_OK) {
            provider_entry_reject(res, PROVIDER_REJECT_SYNTAX, unit, where, len, NULL,
                                  "does not match line_format");
            return PF_EINVAL;
        }
        rc = addr_upstream_from_parts(opts->default_scheme, &parts, &u, &e);
    } else if (intake_four_fields(s, len, &parts)) {
        rc = addr_upstream_from_parts(opts->default_scheme, &parts, &u, &e);
    } else {
        rc = addr_parse_upstream(s, len, opts->default_scheme, &u, &e);
    }
    if (rc != PF_OK) {
        /* Without a ':' it is no host:port at all: junk text. */
        enum provider_reject r = memchr(s, ':', len) == NULL && opts->line_format == NULL
                                 ? PROVIDER_REJECT_SYNTAX : intake_classify(&e);
        /* addr's reasons name kinds, not bytes, except the scheme's name. */
        provider_entry_reject(res, r, unit, where, len, NULL,
                              r == PROVIDER_REJECT_SCHEME ? "unsupported scheme" : e.msg);
        memset(&u, 0, sizeof(u));
        return PF_EINVAL;
    }
    rc = addr_validate_upstream(&u, opts->policy, &e);
    if (rc != PF_OK) {
        provider_entry_reject(res, rc == PF_EDENIED ? PROVIDER_REJECT_DENIED : intake_classify(&e),
                              unit, where, len, &u, e.msg);
        memset(&u, 0, sizeof(u));
        return PF_EINVAL;
    }
    if (opts->max_upstreams != 0 && res->nupstreams >= opts->max_upstreams) {
        provider_entry_reject(res, PROVIDER_REJECT_TOO_MANY, unit, where, len, &u,
                              "too many upstreams");
        memset(&u, 0, sizeof(u));
        return PF_EINVAL;
    }
    if (opts->provider != NULL)
        snprintf(u.provider, sizeof(u.provider), "%s", opts->provider);
    u.tier = opts->tier;
    rc = intake_push(res, &u);
    memset(&u, 0, sizeof(u));
    return rc;
}

/* FNV-1a 64 of the upstream id: a sort key for dedupe, equal ids compared in full. */
struct intake_key {
    uint64_t hash;
    size_t   idx;
};

static uint64_t intake_fnv64(const char *s)
{
    uint64_t h = 14695981039346656037ULL;
    for (; *s != '\0'; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ULL;
    }
    return h;
}

static int intake_key_cmp(const void *a, const void *b)
{
    const struct intake_key *x = a, *y = b;
    if (x->hash != y->hash)
        return x->hash < y->hash ? -1 : 1;
    return x->idx < y->idx ? -1 : (x->idx > y->idx);
}

int provider_entry_dedupe(struct provider_parse_result *res)
{
    size_t n = res->nupstreams;
    char ida[UPSTREAM_ID_MAX], idb[UPSTREAM_ID_MAX];
    struct intake_key *keys;
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
        keys[i].hash = intake_fnv64(ida);
        keys[i].idx = i;
    }
    qsort(keys, n, sizeof(*keys), intake_key_cmp);
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
            if (res->nexamples < PROVIDER_EXAMPLES_MAX)
                intake_hostport(&res->upstreams[i], res->examples[res->nexamples++],
                                PROVIDER_EXAMPLE_LEN);
            continue;
        }
        if (out != i)
            res->upstreams[out] = res->upstreams[i];
        out++;
    }
    if (out < n)
        memset(res->upstreams + out, 0, (n - out) * sizeof(*res->upstreams));
    res->nupstreams = out;
    free(keys);
    free(is_dup);
    return PF_OK;
}

/* 1 when the <n> bytes of word <w> could carry credentials: '@' (userinfo),
 * "://" (a URL) or two or more ':' (host:port:user:pass and its orders). */
static int intake_word_is_risky(const char *w, size_t n)
{
    size_t colons = 0;
    if (memchr(w, '@', n) != NULL)
        return 1;
    for (size_t i = 0; i < n; i++) {
        if (w[i] == ':') {
            colons++;
            if (i + 2 < n && w[i + 1] == '/' && w[i + 2] == '/')
                return 1;
        }
    }
    return colons >= 2;
}

static int intake_memmem(const char *h, size_t hn, const char *n, size_t nn)
{
    if (nn == 0 || nn > hn)
        return 0;
    for (size_t i = 0; i + nn <= hn; i++)
        if (h[i] == n[0] && memcmp(h + i, n, nn) == 0)
            return 1;
    return 0;
}

/* Whether a piece of a secret is worth redacting: long enough, and not a
 * plain word such as the "Token" or "Bearer" of an Authorization value. */
static int intake_is_secret_piece(const char *p, size_t n)
{
    if (n < PROVIDER_SECRET_MIN)
        return 0;
    if (n >= 12)
        return 1;
    for (size_t i = 0; i < n; i++)
        if (!isalpha((unsigned char)p[i]))
            return 1;
    return 0;
}

/* 1 when word <w> holds a piece (a blank-free run, intake_is_secret_piece())
 * of a secret of <opts>. */
static int intake_word_has_secret(const char *w, size_t n, const struct provider_parse_opts *opts)
{
    for (size_t k = 0; opts != NULL && k < opts->nsecrets; k++) {
        const char *sec = opts->secrets[k];
        for (size_t i = 0; sec != NULL && sec[i] != '\0';) {
            if (intake_is_blank((unsigned char)sec[i])) {
                i++;
                continue;
            }
            size_t j = i;
            while (sec[j] != '\0' && !intake_is_blank((unsigned char)sec[j]))
                j++;
            if (intake_is_secret_piece(sec + i, j - i) && intake_memmem(w, n, sec + i, j - i))
                return 1;
            i = j;
        }
    }
    return 0;
}

int provider_quote(const char *s, size_t len, const struct provider_parse_opts *opts, char *buf,
                   size_t buf_len)
{
    /* Room for PROVIDER_QUOTE_MAX characters of 4 bytes, plus one mask. */
    char tmp[PROVIDER_QUOTE_MAX * 4 + 32];
    size_t o = 0;
    int is_replaced = 0, is_kept = 0;

    for (size_t i = 0; s != NULL && i < len && o + 1 < sizeof(tmp);) {
        if (intake_is_blank((unsigned char)s[i])) {
            tmp[o++] = s[i++];
            continue;
        }
        size_t j = i;
        while (j < len && !intake_is_blank((unsigned char)s[j]))
            j++;
        /* The whole word is judged, however much of it fits. */
        if (intake_word_is_risky(s + i, j - i) || intake_word_has_secret(s + i, j - i, opts)) {
            int w = snprintf(tmp + o, sizeof(tmp) - o, "(%zu bytes)", j - i);
            o = w > 0 && (size_t)w < sizeof(tmp) - o ? o + (size_t)w : sizeof(tmp) - 1;
            is_replaced = 1;
        } else {
            size_t n = PF_MIN_OF(j - i, sizeof(tmp) - 1 - o);
            memcpy(tmp + o, s + i, n);
            o += n;
            is_kept = 1;
        }
        i = j;
    }
    str_sanitize_text(tmp, o, PROVIDER_QUOTE_MAX, buf, buf_len);
    /* Trailing blanks of a quoted line say nothing. */
    for (size_t n = strlen(buf); n > 0 && buf[n - 1] == ' '; n--)
        buf[n - 1] = '\0';
    return (is_replaced ? PROVIDER_QUOTE_REPLACED : 0) |
           (is_replaced && !is_kept ? PROVIDER_QUOTE_ALL : 0);
}

/* Case-insensitive (ASCII) search of NUL-terminated <word> in <len> bytes at <s>. */
static int intake_has_word(const char *s, size_t len, const char *word)
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

/* Wording that says "later": it beats the fatal wording below, since rate
 * messages often name the account ("账号提取频率过快，请稍后再试"). */
static const char *const transient_words[] = {
    "频率", "频繁", "稍后再试", "稍后重试", "繁忙", "too many requests", "rate limit",
    "try again later", "server busy",
};

/* Wording no retry can fix: the operator must whitelist the IP, top up,
 * or fix the key or the account. Kept specific so that "timeout" texts
 * stay transient. */
static const char *const fatal_words[] = {
    "whitelist", "white list", "white-list", "allowlist", "not whitelisted",
    "balance", "insufficient", "expired key", "key expired", "key has expired",
    "invalid key", "invalid api key", "invalid token", "invalid apikey", "unauthorized",
    "unauthorised", "forbidden", "authentication failed", "account expired",
    "package expired", "plan expired", "subscription expired", "not authorized",
    "key_error", "key error", "keyerror", "error_key", "key_invalid", "bad key", "wrong key",
    "invalid_key", "no_balance", "ip_not_allowed",
    "account suspended", "account disabled", "account blocked", "account not found",
    "permission denied", "not permit",
    "白名单", "余额不足", "已过期", "已经过期", "套餐过期", "密钥", "秘钥", "未授权",
    "账号", "账户", "实名认证", "订单无效", "已退款", "封禁", "禁用",
};

enum provider_err_class provider_classify_text(const char *s, size_t len,
                                               const struct conf_provider_errors *errors)
{
    if (s == NULL)
        return PROVIDER_ERR_TRANSIENT;
    if (errors != NULL) {
        for (int i = 0; i < errors->ntransient_words; i++)
            if (intake_has_word(s, len, errors->transient_words[i]))
                return PROVIDER_ERR_TRANSIENT;
        for (int i = 0; i < errors->nfatal_words; i++)
            if (intake_has_word(s, len, errors->fatal_words[i]))
                return PROVIDER_ERR_FATAL;
    }
    for (size_t i = 0; i < PF_ARRAY_LEN(transient_words); i++)
        if (intake_has_word(s, len, transient_words[i]))
            return PROVIDER_ERR_TRANSIENT;
    for (size_t i = 0; i < PF_ARRAY_LEN(fatal_words); i++)
        if (intake_has_word(s, len, fatal_words[i]))
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
