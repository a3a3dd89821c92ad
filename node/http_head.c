/* Strict incremental HTTP/1.x head parser and body framing; see http_head.h. */
#include "http_head.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* RFC 9110 tchar. */
static int is_tchar(unsigned char c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
        return 1;
    return c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* field-vchar, SP and HTAB: what a header value may contain. */
static int is_value_char(unsigned char c)
{
    return c == '\t' || c == ' ' || (c >= 0x21 && c != 0x7f);
}

static int is_ows(unsigned char c) { return c == ' ' || c == '\t'; }

static int ieq(const char *a, size_t alen, const char *b)
{
    return alen == strlen(b) && strncasecmp(a, b, alen) == 0;
}

void http_head_init(struct http_head *h, enum http_head_kind kind, size_t max_bytes)
{
    memset(h, 0, sizeof(*h));
    h->kind = kind;
    h->max_bytes = max_bytes;
    h->content_length = -1;
    h->version_minor = 1;
}

void http_head_deinit(struct http_head *h)
{
    if (h == NULL)
        return;
    free(h->raw);
    h->raw = NULL;
}

struct http_head *http_head_create(enum http_head_kind kind, size_t max_bytes)
{
    struct http_head *h = malloc(sizeof(*h));
    if (h != NULL)
        http_head_init(h, kind, max_bytes);
    return h;
}

void http_head_destroy(struct http_head *h)
{
    http_head_deinit(h);
    free(h);
}

/* Calls <fn> on each OWS-trimmed element of the comma list <v> (<len> bytes).
 * Stops and returns the first non-zero result. Empty elements are passed too. */
static int list_each(const char *v, size_t len, int (*fn)(void *, const char *, size_t), void *arg)
{
    size_t i = 0;
    for (;;) {
        size_t s = i;
        while (i < len && v[i] != ',')
            i++;
        size_t e = i;
        while (s < e && is_ows((unsigned char)v[s]))
            s++;
        while (e > s && is_ows((unsigned char)v[e - 1]))
            e--;
        int r = fn(arg, v + s, e - s);
        if (r != 0)
            return r;
        if (i >= len)
            return 0;
        i++;
    }
}

struct te_state {
    int nchunked;
    int is_last_chunked;
};

static int te_token(void *arg, const char *tok, size_t len)
{
    struct te_state *st = arg;
    if (len == 0)
        return 1;
    for (size_t i = 0; i < len; i++)
        if (!is_tchar((unsigned char)tok[i]))
            return 1;
    if (st->is_last_chunked)
        return 1;                        /* something after chunked */
    if (ieq(tok, len, "chunked")) {
        st->nchunked++;
        st->is_last_chunked = 1;
    }
    return 0;
}

static int conn_token(void *arg, const char *tok, size_t len)
{
    struct http_head *h = arg;
    if (ieq(tok, len, "close"))
        h->is_conn_close = 1;
    else if (ieq(tok, len, "keep-alive"))
        h->is_conn_keep_alive = 1;
    return 0;
}

/* Semantic checks on one header as it arrives. */
static int check_header(struct http_head *h, const char *name, size_t nlen,
                        const char *val, size_t vlen, size_t lineno)
{
    if (ieq(name, nlen, "content-length")) {
        if (vlen == 0 || vlen > 18)
            return pf_err_set(&h->err, PF_EINVAL, "line %zu: bad Content-Length", lineno);
        int64_t n = 0;
        for (size_t i = 0; i < vlen; i++) {
            if (val[i] < '0' || val[i] > '9')
                return pf_err_set(&h->err, PF_EINVAL, "line %zu: non-numeric Content-Length", lineno);
            n = n * 10 + (val[i] - '0');
        }
        if (h->content_length >= 0 && h->content_length != n)
            return pf_err_set(&h->err, PF_EINVAL, "line %zu: conflicting Content-Length", lineno);
        h->content_length = n;
    } else if (ieq(name, nlen, "transfer-encoding")) {
        struct te_state st = { .nchunked = h->is_chunked == 1, .is_last_chunked = h->is_chunked == 1 };
        if (list_each(val, vlen, te_token, &st) != 0 || st.nchunked > 1)
            return pf_err_set(&h->err, PF_EINVAL,
                              "line %zu: unsupported Transfer-Encoding", lineno);
        h->is_chunked = st.is_last_chunked ? 1 : -1;   /* -1: coding without final chunked */
    } else if (ieq(name, nlen, "connection")) {
        (void)list_each(val, vlen, conn_token, h);
    } else if (ieq(name, nlen, "host")) {
        if (++h->nhost > 1 && h->kind == HTTP_HEAD_REQUEST)
            return pf_err_set(&h->err, PF_EINVAL, "line %zu: duplicate Host", lineno);
    }
    return PF_OK;
}

static int parse_request_line(struct http_head *h, const char *l, size_t len, size_t base)
{
    size_t i = 0;
    while (i < len && is_tchar((unsigned char)l[i]))
        i++;
    if (i == 0 || i > HTTP_METHOD_MAX || i >= len || l[i] != ' ')
        return pf_err_set(&h->err, PF_EINVAL, "line 1: bad method");
    h->sl[0][0] = (uint32_t)base;
    h->sl[0][1] = (uint32_t)i;
    size_t t = ++i;
    while (i < len && (unsigned char)l[i] > 0x20 && (unsigned char)l[i] < 0x7f)
        i++;
    if (i == t || i >= len || l[i] != ' ')
        return pf_err_set(&h->err, PF_EINVAL, "line 1: bad request target");
    h->sl[1][0] = (uint32_t)(base + t);
    h->sl[1][1] = (uint32_t)(i - t);
    i++;
    if (len - i != 8 || memcmp(l + i, "HTTP/1.", 7) != 0 || (l[i + 7] != '0' && l[i + 7] != '1'))
        return pf_err_set(&h->err, PF_EINVAL, "line 1: bad version");
    h->sl[2][0] = (uint32_t)(base + i);
    h->sl[2][1] = 8;
    h->version_minor = l[i + 7] - '0';
    return PF_OK;
}

static int parse_status_line(struct http_head *h, const char *l, size_t len, size_t base)
{
    if (len < 12 || memcmp(l, "HTTP/1.", 7) != 0 || (l[7] != '0' && l[7] != '1') || l[8] != ' ')
        return pf_err_set(&h->err, PF_EINVAL, "line 1: bad status line");
    h->version_minor = l[7] - '0';
    int status = 0;
    for (size_t i = 9; i < 12; i++) {
        if (l[i] < '0' || l[i] > '9')
            return pf_err_set(&h->err, PF_EINVAL, "line 1: bad status code");
        status = status * 10 + (l[i] - '0');
    }
    if (status < 100)
        return pf_err_set(&h->err, PF_EINVAL, "line 1: bad status code");
    h->status = status;
    h->sl[0][0] = (uint32_t)base;
    h->sl[0][1] = 8;
    h->sl[1][0] = (uint32_t)(base + 9);
    h->sl[1][1] = 3;
    size_t r = 12;
    if (len > 12) {
        if (l[12] != ' ')
            return pf_err_set(&h->err, PF_EINVAL, "line 1: bad status line");
        r = 13;
        for (size_t i = r; i < len; i++)
            if (!is_value_char((unsigned char)l[i]))
                return pf_err_set(&h->err, PF_EINVAL, "line 1: bad reason phrase");
    }
    h->sl[2][0] = (uint32_t)(base + r);
    h->sl[2][1] = (uint32_t)(len - r);
    return PF_OK;
}

static int parse_header_line(struct http_head *h, const char *l, size_t len, size_t base)
{
    size_t lineno = (size_t)h->nlines + 1;
    if (is_ows((unsigned char)l[0]))
        return pf_err_set(&h->err, PF_EINVAL, "line %zu: obs-fold not allowed", lineno);
    size_t i = 0;
    while (i < len && is_tchar((unsigned char)l[i]))
        i++;
    if (i == 0 || i >= len || l[i] != ':')
        return pf_err_set(&h->err, PF_EINVAL, "line %zu: bad header name", lineno);
    size_t nlen = i++;
    while (i < len && is_ows((unsigned char)l[i]))
        i++;
    size_t vs = i;
    for (; i < len; i++)
        if (!is_value_char((unsigned char)l[i]))
            return pf_err_set(&h->err, PF_EINVAL, "line %zu: control character in value", lineno);
    size_t ve = len;
    while (ve > vs && is_ows((unsigned char)l[ve - 1]))
        ve--;
    if (h->nheaders >= HTTP_HEAD_MAX_HEADERS)
        return pf_err_set(&h->err, PF_ERANGE, "too many headers");
    uint32_t *f = h->hf[h->nheaders++];
    f[0] = (uint32_t)base;
    f[1] = (uint32_t)nlen;
    f[2] = (uint32_t)(base + vs);
    f[3] = (uint32_t)(ve - vs);
    return check_header(h, l, nlen, l + vs, ve - vs, lineno);
}

static int finish(struct http_head *h, const char *buf, size_t head_len)
{
    if (h->is_chunked < 0)
        return pf_err_set(&h->err, PF_EINVAL, "Transfer-Encoding does not end with chunked");
    if (h->is_chunked && h->content_length >= 0)
        return pf_err_set(&h->err, PF_EINVAL, "both Content-Length and Transfer-Encoding");
    h->raw = malloc(head_len + 1);
    if (h->raw == NULL)
        return pf_err_set(&h->err, PF_ENOMEM, "out of memory");
    memcpy(h->raw, buf, head_len);
    h->raw[head_len] = '\0';
    const char *sl[3];
    for (int k = 0; k < 3; k++) {
        h->raw[h->sl[k][0] + h->sl[k][1]] = '\0';
        sl[k] = h->raw + h->sl[k][0];
    }
    if (h->kind == HTTP_HEAD_REQUEST) {
        h->method = sl[0];
        h->target = sl[1];
    } else {
        h->reason = sl[2];
    }
    for (size_t i = 0; i < h->nheaders; i++) {
        uint32_t *f = h->hf[i];
        h->raw[f[0] + f[1]] = '\0';
        h->raw[f[2] + f[3]] = '\0';
        h->headers[i].name = h->raw + f[0];
        h->headers[i].name_len = f[1];
        h->headers[i].value = h->raw + f[2];
        h->headers[i].value_len = f[3];
    }
    h->head_len = head_len;
    h->is_complete = 1;
    return PF_OK;
}

int http_head_parse(struct http_head *h, const char *buf, size_t len)
{
    if (h->is_complete)
        return PF_OK;
    if (h->err.code != PF_OK)
        return h->err.code;
    size_t limit = PF_MIN_OF(len, h->max_bytes);
    size_t i = h->scan;
    while (i < limit) {
        unsigned char c = (unsigned char)buf[i];
        if (c == '\n')
            return pf_err_set(&h->err, PF_EINVAL, "line %d: bare LF", h->nlines + 1);
        if (c != '\r') {
            i++;
            continue;
        }
        if (i + 1 >= limit)
            break;
        if (buf[i + 1] != '\n')
            return pf_err_set(&h->err, PF_EINVAL, "line %d: bare CR", h->nlines + 1);
        size_t s = h->line_start, n = i - s;
        int rc = PF_OK;
        if (n == 0) {
            if (h->nlines > 0)
                return finish(h, buf, i + 2);
            if (h->kind == HTTP_HEAD_RESPONSE)
                return pf_err_set(&h->err, PF_EINVAL, "line 1: empty status line");
            /* RFC 9112 2.2: a server SHOULD ignore empty lines before a request. */
        } else if (h->nlines == 0) {
            rc = h->kind == HTTP_HEAD_REQUEST ? parse_request_line(h, buf + s, n, s)
                                              : parse_status_line(h, buf + s, n, s);
            h->nlines++;
        } else {
            rc = parse_header_line(h, buf + s, n, s);
            h->nlines++;
        }
        if (rc != PF_OK)
            return rc;
        i += 2;
        h->line_start = i;
    }
    h->scan = i;
    if (len >= h->max_bytes)
        return pf_err_set(&h->err, PF_ERANGE, "head larger than %zu bytes", h->max_bytes);
    return PF_EAGAIN;
}

const char *http_head_get(const struct http_head *h, const char *name)
{
    for (size_t i = 0; i < h->nheaders; i++)
        if (strcasecmp(h->headers[i].name, name) == 0)
            return h->headers[i].value;
    return NULL;
}

struct token_find {
    const char *token;
    size_t      len;
};

static int token_match(void *arg, const char *tok, size_t len)
{
    const struct token_find *f = arg;
    return len == f->len && strncasecmp(tok, f->token, len) == 0;
}

int http_list_has_token(const char *value, const char *token)
{
    struct token_find f = { token, strlen(token) };
    return value != NULL && list_each(value, strlen(value), token_match, &f) == 1;
}

int http_head_is_hop_by_hop(const struct http_head *h, size_t idx)
{
    /* lengths first: strcasecmp only on a same-length candidate (this runs
     * for every header of every forwarded message) */
    static const struct { const char *name; size_t len; } names[] = {
        { "connection", 10 }, { "keep-alive", 10 }, { "proxy-connection", 16 },
        { "proxy-authorization", 19 }, { "proxy-authenticate", 18 }, { "te", 2 },
        { "trailer", 7 }, { "upgrade", 7 },
    };
    const char *name = h->headers[idx].name;
    size_t len = h->headers[idx].name_len;
    for (size_t i = 0; i < PF_ARRAY_LEN(names); i++)
        if (len == names[i].len && strcasecmp(name, names[i].name) == 0)
            return 1;
    if ((len == 17 && strcasecmp(name, "transfer-encoding") == 0) ||
        (len == 14 && strcasecmp(name, "content-length") == 0))
        return 0;   /* framing is relayed unchanged; never let Connection remove it */
    for (size_t i = 0; i < h->nheaders; i++)
        if (h->headers[i].name_len == 10 && strcasecmp(h->headers[i].name, "connection") == 0 &&
            http_list_has_token(h->headers[i].value, name))
            return 1;
    return 0;
}

enum http_framing http_head_request_framing(const struct http_head *req)
{
    if (req->is_chunked)
        return HTTP_FRAMING_CHUNKED;
    if (req->content_length > 0)
        return HTTP_FRAMING_LENGTH;
    return HTTP_FRAMING_NONE;
}

enum http_framing http_head_response_framing(const struct http_head *resp, int is_head_request)
{
    if (is_head_request || resp->status < 200 || resp->status == 204 || resp->status == 304)
        return HTTP_FRAMING_NONE;
    if (resp->is_chunked)
        return HTTP_FRAMING_CHUNKED;
    if (resp->content_length == 0)
        return HTTP_FRAMING_NONE;
    if (resp->content_length > 0)
        return HTTP_FRAMING_LENGTH;
    return HTTP_FRAMING_UNTIL_CLOSE;
}

/* Host: a DNS-ish name, an IPv4 literal or (bracketed) IPv6 literal. */
static int set_host(struct http_target *t, const char *s, size_t len, int is_bracketed,
                    struct pf_err *err)
{
    if (len == 0 || len >= sizeof(t->host))
        return pf_err_set(err, PF_EINVAL, "bad host");
    memcpy(t->host, s, len);
    t->host[len] = '\0';
    if (is_bracketed) {
        unsigned char a[16];
        if (inet_pton(AF_INET6, t->host, a) != 1)
            return pf_err_set(err, PF_EINVAL, "bad IPv6 host");
        t->is_ipv6 = 1;
        return PF_OK;
    }
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '.' || c == '_'))
            return pf_err_set(err, PF_EINVAL, "bad host");
    }
    return PF_OK;
}

static int parse_port(const char *s, size_t len, uint16_t *out, struct pf_err *err)
{
    unsigned long v = 0;
    if (len == 0 || len > 5)
        return pf_err_set(err, PF_EINVAL, "bad port");
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return pf_err_set(err, PF_EINVAL, "bad port");
        v = v * 10 + (unsigned long)(s[i] - '0');
    }
    if (v == 0 || v > 65535)
        return pf_err_set(err, PF_EINVAL, "port out of range");
    *out = (uint16_t)v;
    return PF_OK;
}

/* Authority "host[:port]" of <len> bytes; <need_port> for CONNECT. */
static int parse_authority(const char *a, size_t len, int need_port, struct http_target *t,
                           struct pf_err *err)
{
    const char *host, *port = NULL;
    size_t hlen, plen = 0;
    int is_bracketed = 0;
    if (memchr(a, '@', len) != NULL)
        return pf_err_set(err, PF_EINVAL, "userinfo not allowed");
    if (len > 0 && a[0] == '[') {
        const char *rb = memchr(a, ']', len);
        if (rb == NULL)
            return pf_err_set(err, PF_EINVAL, "bad IPv6 host");
        host = a + 1;
        hlen = (size_t)(rb - host);
        is_bracketed = 1;
        size_t rest = len - (size_t)(rb + 1 - a);
        if (rest > 0) {
            if (rb[1] != ':')
                return pf_err_set(err, PF_EINVAL, "bad authority");
            port = rb + 2;
            plen = rest - 1;
        }
    } else {
        const char *colon = memchr(a, ':', len);
        host = a;
        hlen = colon != NULL ? (size_t)(colon - a) : len;
        if (colon != NULL) {
            port = colon + 1;
            plen = len - hlen - 1;
        }
    }
    if (set_host(t, host, hlen, is_bracketed, err) != PF_OK)
        return err != NULL ? err->code : PF_EINVAL;
    if (port == NULL) {
        if (need_port)
            return pf_err_set(err, PF_EINVAL, "missing port");
        t->port = 80;
        return PF_OK;
    }
    return parse_port(port, plen, &t->port, err);
}

int http_target_parse(const char *target, int is_connect, struct http_target *out,
                      struct pf_err *err)
{
    memset(out, 0, sizeof(*out));
    if (is_connect)
        return parse_authority(target, strlen(target), 1, out, err);
    if (strncasecmp(target, "http://", 7) != 0) {
        if (target[0] == '/')
            return pf_err_set(err, PF_EINVAL, "origin-form target on a proxy");
        return pf_err_set(err, PF_EINVAL, "unsupported target scheme");
    }
    const char *a = target + 7;
    size_t alen = strcspn(a, "/?#");
    if (a[alen] == '#')
        return pf_err_set(err, PF_EINVAL, "fragment in target");
    int rc = parse_authority(a, alen, 0, out, err);
    if (rc != PF_OK)
        return rc;
    const char *path = a + alen;
    if (strchr(path, '#') != NULL)
        return pf_err_set(err, PF_EINVAL, "fragment in target");
    size_t plen = strlen(path);
    int need_slash = plen == 0 || path[0] == '?';
    out->path = malloc(plen + 2);
    if (out->path == NULL)
        return pf_err_set(err, PF_ENOMEM, "out of memory");
    out->path[0] = '/';
    memcpy(out->path + need_slash, path, plen + 1);
    return PF_OK;
}

void http_target_deinit(struct http_target *t)
{
    if (t == NULL)
        return;
    free(t->path);
    t->path = NULL;
}

enum {
    CH_SIZE0 = 0, CH_SIZE, CH_EXT, CH_SIZE_LF, CH_DATA, CH_DATA_CR, CH_DATA_LF,
    CH_TRAILER_START, CH_TRAILER_LINE, CH_TRAILER_LF, CH_FINAL_LF, CH_DONE,
};

static int hexval(unsigned char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Feeds the chunked decoder; see http_body_feed(). */
static int chunked_feed(struct http_chunked *d, const char *buf, size_t len, size_t *consumed)
{
    size_t i = 0;
    while (i < len && d->state != CH_DONE) {
        unsigned char c = (unsigned char)buf[i];
        switch (d->state) {
        case CH_SIZE0:
        case CH_SIZE: {
            int v = hexval(c);
            if (v >= 0) {
                if (++d->ndigits > 15)
                    goto bad;
                d->remaining = d->remaining * 16 + (uint64_t)v;
                d->state = CH_SIZE;
            } else if (d->state == CH_SIZE && (c == ';' || is_ows(c))) {
                d->state = CH_EXT;
            } else if (d->state == CH_SIZE && c == '\r') {
                d->state = CH_SIZE_LF;
            } else {
                goto bad;
            }
            i++;
            break;
        }
        case CH_EXT:
            if (c == '\r')
                d->state = CH_SIZE_LF;
            else if (!is_value_char(c))
                goto bad;
            i++;
            break;
        case CH_SIZE_LF:
            if (c != '\n')
                goto bad;
            d->state = d->remaining == 0 ? CH_TRAILER_START : CH_DATA;
            i++;
            break;
        case CH_DATA: {
            size_t n = (size_t)PF_MIN_OF((uint64_t)(len - i), d->remaining);
            d->remaining -= n;
            i += n;
            if (d->remaining == 0)
                d->state = CH_DATA_CR;
            break;
        }
        case CH_DATA_CR:
            if (c != '\r')
                goto bad;
            d->state = CH_DATA_LF;
            i++;
            break;
        case CH_DATA_LF:
            if (c != '\n')
                goto bad;
            d->state = CH_SIZE0;
            d->ndigits = 0;
            i++;
            break;
        case CH_TRAILER_START:
        case CH_TRAILER_LINE:
            if (c == '\r') {
                d->state = d->state == CH_TRAILER_START ? CH_FINAL_LF : CH_TRAILER_LF;
            } else if (is_value_char(c) && !(d->state == CH_TRAILER_START && is_ows(c))) {
                d->state = CH_TRAILER_LINE;
            } else {
                goto bad;
            }
            if (++d->trailer_bytes > HTTP_CHUNK_TRAILER_MAX)
                goto bad;
            i++;
            break;
        case CH_TRAILER_LF:
        case CH_FINAL_LF:
            if (c != '\n')
                goto bad;
            d->state = d->state == CH_FINAL_LF ? CH_DONE : CH_TRAILER_START;
            i++;
            break;
        default:
            goto bad;
        }
    }
    *consumed = i;
    return d->state == CH_DONE ? PF_OK : PF_EAGAIN;
bad:
    *consumed = i;
    return PF_EPROTO;
}

void http_body_init(struct http_body *b, enum http_framing framing, int64_t content_length)
{
    memset(b, 0, sizeof(*b));
    b->framing = framing;
    b->remaining = content_length > 0 ? (uint64_t)content_length : 0;
    if (framing == HTTP_FRAMING_NONE || (framing == HTTP_FRAMING_LENGTH && b->remaining == 0))
        b->is_done = 1;
}

int http_body_feed(struct http_body *b, const char *buf, size_t len, size_t *consumed)
{
    *consumed = 0;
    if (b->is_done)
        return PF_OK;
    switch (b->framing) {
    case HTTP_FRAMING_LENGTH: {
        size_t n = (size_t)PF_MIN_OF((uint64_t)len, b->remaining);
        b->remaining -= n;
        *consumed = n;
        break;
    }
    case HTTP_FRAMING_CHUNKED: {
        int rc = chunked_feed(&b->ch, buf, len, consumed);
        if (rc == PF_EPROTO)
            return rc;
        if (rc == PF_OK)
            b->is_done = 1;
        return rc;
    }
    case HTTP_FRAMING_UNTIL_CLOSE:
        *consumed = len;
        return PF_EAGAIN;
    default:
        b->is_done = 1;
        return PF_OK;
    }
    if (b->remaining == 0)
        b->is_done = 1;
    return b->is_done ? PF_OK : PF_EAGAIN;
}

int http_body_feed_payload(struct http_body *b, const char *buf, size_t len, size_t *consumed,
                           char *out, size_t cap, size_t *out_len)
{
    *consumed = 0;
    while (*consumed < len && !b->is_done) {
        const char *p = buf + *consumed;
        size_t n = len - *consumed, used = 0;
        int is_payload = 1;
        if (b->framing == HTTP_FRAMING_CHUNKED) {
            /* the decoder takes a chunk's data in one run: feed framing a
             * byte at a time and data up to its chunk's end, so each call
             * consumes payload only or framing only */
            is_payload = b->ch.state == CH_DATA;
            n = is_payload ? (size_t)PF_MIN_OF((uint64_t)n, b->ch.remaining) : 1;
        }
        int rc = http_body_feed(b, p, n, &used);
        if (is_payload && *out_len < cap) {
            size_t k = PF_MIN_OF(used, cap - *out_len);
            memcpy(out + *out_len, p, k);
            *out_len += k;
        }
        *consumed += used;
        if (rc == PF_EPROTO)
            return rc;
        if (used == 0)
            break;
    }
    return b->is_done ? PF_OK : PF_EAGAIN;
}

int http_method_is_idempotent(const char *method)
{
    static const char *const idempotent[] = { "GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE" };
    for (size_t i = 0; i < PF_ARRAY_LEN(idempotent); i++)
        if (strcmp(method, idempotent[i]) == 0)
            return 1;
    return 0;
}
