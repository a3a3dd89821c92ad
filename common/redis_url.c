/* redis.url parsing; see redis_url.h. */
#include "redis_url.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "addr.h"
#include "str.h"

#define REDIS_URL_TLS_HINT \
    "rediss:// (TLS) is not supported: hiredis 0.14 has no TLS; run a local TLS " \
    "tunnel (stunnel4) and point redis.url at it (docs/configuration.md, \"TLS to Redis\")"

static const char redis_url_userinfo_hint[] =
    "user without a password: write redis://user:password@host for an ACL user, "
    "redis://:password@host for the default user";

/* Case-insensitive prefix test of <len> bytes at <s>. */
static int redis_url_has_prefix(const char *s, size_t len, const char *prefix)
{
    size_t n = strlen(prefix);
    return len >= n && strncasecmp(s, prefix, n) == 0;
}

/* Last <ch> in <len> bytes at <s>, or NULL. */
static const char *redis_url_memrchr(const char *s, size_t len, char ch)
{
    while (len > 0) {
        if (s[len - 1] == ch)
            return s + len - 1;
        len--;
    }
    return NULL;
}

/* Parses 1..5 decimal digits <s>/<len> as a database number. */
static int redis_url_db(const char *s, size_t len, int *db, struct pf_err *err)
{
    int v = 0;
    if (len == 0 || len > 5)
        return pf_err_set(err, PF_EINVAL, "database must be 0..%d", REDIS_URL_DB_MAX);
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return pf_err_set(err, PF_EINVAL, "database must be 0..%d", REDIS_URL_DB_MAX);
        v = v * 10 + (s[i] - '0');
    }
    if (v > REDIS_URL_DB_MAX)
        return pf_err_set(err, PF_EINVAL, "database must be 0..%d", REDIS_URL_DB_MAX);
    *db = v;
    return PF_OK;
}

/* Percent-decodes one credential of <len> bytes at <s> into <dst>; <what>
 * ("user", "password") names it in errors. */
static int redis_url_cred(const char *s, size_t len, char *dst, size_t dst_len,
                          const char *what, struct pf_err *err)
{
    int rc = str_pct_decode(s, len, dst, dst_len, NULL);
    if (rc == PF_ERANGE)
        return pf_err_set(err, PF_EINVAL, "%s longer than %zu bytes", what, dst_len - 1);
    if (rc != PF_OK)
        return pf_err_set(err, PF_EINVAL, "bad percent-escape in %s", what);
    return PF_OK;
}

/* "[user]:password" of <len> bytes at <ui> into <u>. */
static int redis_url_userinfo(const char *ui, size_t len, struct redis_url *u,
                              struct pf_err *err)
{
    const char *colon = memchr(ui, ':', len);
    if (colon == NULL)
        return pf_err_set(err, PF_EINVAL, "%s", redis_url_userinfo_hint);
    size_t ulen = (size_t)(colon - ui);
    if (redis_url_cred(ui, ulen, u->user, sizeof(u->user), "user", err) != PF_OK ||
        redis_url_cred(colon + 1, len - ulen - 1, u->pass, sizeof(u->pass), "password",
                       err) != PF_OK)
        return PF_EINVAL;
    if (u->user[0] != '\0' && u->pass[0] == '\0')
        return pf_err_set(err, PF_EINVAL, "%s", redis_url_userinfo_hint);
    return PF_OK;
}

/* "host[:port][/db]" of a redis:// URL. */
static int redis_url_tcp(const char *p, size_t len, struct redis_url *u, struct pf_err *err)
{
    char hostport[UPSTREAM_HOST_MAX + 8];
    struct pf_err aerr;

    if (memchr(p, '?', len) != NULL)
        return pf_err_set(err, PF_EINVAL, "query parameters are not supported in redis:// "
                          "URLs (the database goes in the path: redis://host:port/N)");
    const char *slash = memchr(p, '/', len);
    size_t hn = slash != NULL ? (size_t)(slash - p) : len;
    if (slash != NULL && slash + 1 < p + len &&
        redis_url_db(slash + 1, (size_t)(p + len - slash - 1), &u->db, err) != PF_OK)
        return PF_EINVAL;
    if (hn == 0)
        return pf_err_set(err, PF_EINVAL, "missing host");
    if (hn + 6 >= sizeof(hostport))
        return pf_err_set(err, PF_EINVAL, "host too long");
    memcpy(hostport, p, hn);
    hostport[hn] = '\0';
    /* The port is optional: add the default when the last ':' is not a
     * port's (none, or inside an IPv6 literal's brackets). */
    const char *lastc = strrchr(hostport, ':');
    const char *rbr = strrchr(hostport, ']');
    if (lastc == NULL || (hostport[0] == '[' && (rbr == NULL || lastc < rbr)))
        snprintf(hostport + hn, sizeof(hostport) - hn, ":%d", REDIS_URL_DEFAULT_PORT);
    if (addr_parse_hostport(hostport, u->host, sizeof(u->host), &u->port, &aerr) != PF_OK)
        return pf_err_set(err, PF_EINVAL, "%s", aerr.msg);
    return PF_OK;
}

/* "?db=N" of a unix:// URL: <len> bytes at <q> after the '?'. */
static int redis_url_query(const char *q, size_t len, struct redis_url *u, struct pf_err *err)
{
    int has_db = 0;
    while (len > 0) {
        const char *amp = memchr(q, '&', len);
        size_t n = amp != NULL ? (size_t)(amp - q) : len;
        if (n < 3 || memcmp(q, "db=", 3) != 0)
            return pf_err_set(err, PF_EINVAL, "unknown query parameter (unix:// URLs take "
                              "only ?db=N)");
        if (has_db)
            return pf_err_set(err, PF_EINVAL, "db given twice");
        if (redis_url_db(q + 3, n - 3, &u->db, err) != PF_OK)
            return PF_EINVAL;
        has_db = 1;
        q += n;
        len -= n;
        if (amp != NULL) {
            q++;
            len--;
            if (len == 0)
                return pf_err_set(err, PF_EINVAL, "empty query parameter");
        }
    }
    return PF_OK;
}

/* "/path[?db=N]" of a unix:// URL. */
static int redis_url_unix(const char *p, size_t len, struct redis_url *u, struct pf_err *err)
{
    if (len == 0 || p[0] != '/')
        return pf_err_set(err, PF_EINVAL, "unix:// needs an absolute socket path "
                          "(unix:///run/redis/redis.sock)");
    const char *q = memchr(p, '?', len);
    size_t pn = q != NULL ? (size_t)(q - p) : len;
    if (q != NULL && redis_url_query(q + 1, len - pn - 1, u, err) != PF_OK)
        return PF_EINVAL;
    size_t dn = 0;
    int rc = str_pct_decode(p, pn, u->path, sizeof(u->path), &dn);
    if (rc == PF_ERANGE)
        return pf_err_set(err, PF_EINVAL, "socket path longer than %zu bytes",
                          sizeof(u->path) - 1);
    if (rc != PF_OK)
        return pf_err_set(err, PF_EINVAL, "bad percent-escape in socket path");
    if (dn < 2 || u->path[dn - 1] == '/')
        return pf_err_set(err, PF_EINVAL, "missing socket file name");
    return PF_OK;
}

int redis_url_parse(const char *s, size_t len, struct redis_url *out, struct pf_err *err)
{
    memset(out, 0, sizeof(*out));
    if (s == NULL || len == 0)
        return pf_err_set(err, PF_EINVAL, "empty URL");
    if (len >= REDIS_URL_MAX)
        return pf_err_set(err, PF_EINVAL, "longer than %d bytes", REDIS_URL_MAX - 1);
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch <= 0x20 || ch >= 0x7f)
            return pf_err_set(err, PF_EINVAL, "invalid character in URL (control, space or "
                              "non-ASCII; percent-encode it)");
    }
    const char *p;
    if (redis_url_has_prefix(s, len, "redis://")) {
        out->kind = REDIS_URL_TCP;
        p = s + 8;
    } else if (redis_url_has_prefix(s, len, "unix://")) {
        out->kind = REDIS_URL_UNIX;
        p = s + 7;
    } else if (redis_url_has_prefix(s, len, "rediss://")) {
        return pf_err_set(err, PF_EINVAL, "%s", REDIS_URL_TLS_HINT);
    } else if (redis_url_has_prefix(s, len, "redis+sentinel://") ||
               redis_url_has_prefix(s, len, "sentinel://")) {
        return pf_err_set(err, PF_EINVAL, "Sentinel URLs are not supported: set "
                          "redis.sentinels and redis.master_name");
    } else {
        return pf_err_set(err, PF_EINVAL, "must start with redis:// or unix://");
    }
    size_t n = len - (size_t)(p - s);
    /* The userinfo ends at the last '@', so a raw '@' or '/' in a password
     * still parses (and never ends up in the host, or in an error). */
    const char *at = redis_url_memrchr(p, n, '@');
    if (at != NULL) {
        if (redis_url_userinfo(p, (size_t)(at - p), out, err) != PF_OK)
            goto fail;
        n -= (size_t)(at + 1 - p);
        p = at + 1;
    }
    if (memchr(p, '#', n) != NULL) {
        pf_err_set(err, PF_EINVAL, "a fragment (#) is not allowed");
        goto fail;
    }
    if ((out->kind == REDIS_URL_TCP ? redis_url_tcp(p, n, out, err)
                                    : redis_url_unix(p, n, out, err)) != PF_OK)
        goto fail;
    return PF_OK;

fail:
    /* Leave no credential behind in a rejected result. */
    memset(out, 0, sizeof(*out));
    return PF_EINVAL;
}

void redis_url_format_addr(const struct redis_url *u, char *buf, size_t len)
{
    if (len == 0)
        return;
    if (u->kind == REDIS_URL_UNIX)
        snprintf(buf, len, "unix:%s", u->path);
    else if (strchr(u->host, ':') != NULL)
        snprintf(buf, len, "[%s]:%u", u->host, (unsigned)u->port);
    else
        snprintf(buf, len, "%s:%u", u->host, (unsigned)u->port);
}
