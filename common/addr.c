#include "addr.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "str.h"

/* Longest raw address line accepted: two percent-encoded credentials, a
 * hostname, a scheme and a port, with room to spare. */
#define ADDR_LINE_MAX  (3 * 2 * UPSTREAM_CRED_MAX + UPSTREAM_HOST_MAX + 64)
#define ADDR_NAME_MAX  253
#define ADDR_LABEL_MAX 63

static const struct {
    const char          *name;
    enum upstream_scheme scheme;
} addr_schemes[] = {
    { "http",    UPSTREAM_HTTP },
    { "https",   UPSTREAM_HTTPS },
    { "socks5",  UPSTREAM_SOCKS5 },
    { "socks5h", UPSTREAM_SOCKS5H },
};

const char *addr_scheme_name(enum upstream_scheme s)
{
    for (size_t i = 0; i < PF_ARRAY_LEN(addr_schemes); i++) {
        if (addr_schemes[i].scheme == s)
            return addr_schemes[i].name;
    }
    return "unknown";
}

const char *addr_class_name(enum addr_class c)
{
    switch (c) {
    case ADDR_PUBLIC:      return "public";
    case ADDR_LOOPBACK:    return "loopback";
    case ADDR_PRIVATE:     return "private";
    case ADDR_LINK_LOCAL:  return "link-local";
    case ADDR_METADATA:    return "metadata";
    case ADDR_MULTICAST:   return "multicast";
    case ADDR_UNSPECIFIED: return "unspecified";
    case ADDR_RESERVED:    return "reserved";
    }
    return "unknown";
}

static int addr_is_alpha(int c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int addr_is_digit(int c)
{
    return c >= '0' && c <= '9';
}

/* RFC 3986 characters that may appear raw in an address line:
 * unreserved, sub-delims, ':', '@', '[', ']', '/', '%'. */
static int addr_is_uri_char(int c)
{
    if (addr_is_alpha(c) || addr_is_digit(c))
        return 1;
    return c != '\0' && strchr("-._~!$&'()*+,;=:@[]/%", c) != NULL;
}

/* Port: 1..5 digits, 1..65535. */
static int addr_parse_port(const char *p, size_t n, uint16_t *port, struct pf_err *err)
{
    uint32_t v = 0;
    if (n == 0)
        return pf_err_set(err, PF_EINVAL, "missing port");
    for (size_t i = 0; i < n; i++) {
        if (!addr_is_digit((unsigned char)p[i]))
            return pf_err_set(err, PF_EINVAL, "invalid port");
    }
    if (n > 5)
        return pf_err_set(err, PF_EINVAL, "port out of range");
    for (size_t i = 0; i < n; i++)
        v = v * 10 + (uint32_t)(p[i] - '0');
    if (v == 0 || v > 65535)
        return pf_err_set(err, PF_EINVAL, "port %u out of range", (unsigned)v);
    *port = (uint16_t)v;
    return PF_OK;
}

/* RFC 1123 hostname: labels of 1..63 [A-Za-z0-9-], no hyphen at either end,
 * total <= 253. */
static int addr_valid_hostname(const char *p, size_t n)
{
    size_t label = 0;
    if (n == 0 || n > ADDR_NAME_MAX)
        return 0;
    for (size_t i = 0; i < n; i++) {
        int c = (unsigned char)p[i];
        if (c == '.') {
            if (label == 0 || p[i - 1] == '-')
                return 0;
            label = 0;
            continue;
        }
        if (!addr_is_alpha(c) && !addr_is_digit(c) && c != '-')
            return 0;
        if (c == '-' && label == 0)
            return 0;
        if (++label > ADDR_LABEL_MAX)
            return 0;
    }
    return label > 0 && p[n - 1] != '-';
}

static int addr_all_digits_dots(const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (!addr_is_digit((unsigned char)p[i]) && p[i] != '.')
            return 0;
    }
    return 1;
}

/* Parses "host:port" or "[v6]:port" of <n> bytes at <p>. */
static int addr_split_hostport(const char *p, size_t n, char *host, size_t host_len,
                               enum upstream_host_kind *kind, uint16_t *port,
                               struct pf_err *err)
{
    const char *h;
    size_t hn;
    const char *rest;
    size_t rn;
    char tmp[INET6_ADDRSTRLEN + 1];
    unsigned char bin[16];

    if (n == 0)
        return pf_err_set(err, PF_EINVAL, "missing host");
    if (p[0] == '[') {
        const char *close = memchr(p, ']', n);
        if (close == NULL)
            return pf_err_set(err, PF_EINVAL, "missing ']' after IPv6 address");
        h = p + 1;
        hn = (size_t)(close - h);
        rest = close + 1;
        rn = n - (size_t)(rest - p);
        if (hn == 0)
            return pf_err_set(err, PF_EINVAL, "missing host");
        if (hn >= sizeof(tmp) || str_copy(tmp, sizeof(tmp), h, hn) != PF_OK ||
            inet_pton(AF_INET6, tmp, bin) != 1)
            return pf_err_set(err, PF_EINVAL, "invalid IPv6 address");
        if (rn == 0 || rest[0] != ':')
            return pf_err_set(err, PF_EINVAL, "missing port");
        *kind = UPSTREAM_HOST_IPV6;
        rest++;
        rn--;
    } else {
        const char *colon = NULL;
        for (size_t i = n; i > 0; i--) {
            if (p[i - 1] == ':') {
                colon = p + i - 1;
                break;
            }
        }
        if (colon == NULL)
            return pf_err_set(err, PF_EINVAL, "missing port");
        h = p;
        hn = (size_t)(colon - p);
        rest = colon + 1;
        rn = n - hn - 1;
        if (hn == 0)
            return pf_err_set(err, PF_EINVAL, "missing host");
        if (memchr(h, ':', hn) != NULL)
            return pf_err_set(err, PF_EINVAL, "IPv6 address must be in brackets");
        if (memchr(h, '[', hn) != NULL || memchr(h, ']', hn) != NULL)
            return pf_err_set(err, PF_EINVAL, "invalid host");
        if (addr_all_digits_dots(h, hn)) {
            if (hn >= sizeof(tmp) || str_copy(tmp, sizeof(tmp), h, hn) != PF_OK ||
                inet_pton(AF_INET, tmp, bin) != 1)
                return pf_err_set(err, PF_EINVAL, "invalid IPv4 address");
            *kind = UPSTREAM_HOST_IPV4;
        } else {
            if (hn > ADDR_NAME_MAX)
                return pf_err_set(err, PF_EINVAL, "host name too long");
            if (!addr_valid_hostname(h, hn))
                return pf_err_set(err, PF_EINVAL, "invalid host name");
            /* Names the resolver would read as an IPv4 number ("0x7f.1",
             * "0177.0.0.1") would dodge the address policy. */
            struct in_addr ia;
            char name[ADDR_NAME_MAX + 1];
            memcpy(name, h, hn);
            name[hn] = '\0';
            if (inet_aton(name, &ia) != 0)
                return pf_err_set(err, PF_EINVAL, "invalid IPv4 address");
            *kind = UPSTREAM_HOST_NAME;
        }
    }
    int rc = addr_parse_port(rest, rn, port, err);
    if (rc != PF_OK)
        return rc;
    if (str_copy(host, host_len, h, hn) != PF_OK)
        return pf_err_set(err, PF_EINVAL, "host too long");
    if (*kind == UPSTREAM_HOST_NAME) {
        for (size_t i = 0; host[i] != '\0'; i++) {
            if (host[i] >= 'A' && host[i] <= 'Z')
                host[i] = (char)(host[i] - 'A' + 'a');
        }
    }
    return PF_OK;
}

static int addr_decode_cred(const char *p, size_t n, char *dst, const char *what,
                            struct pf_err *err)
{
    int rc = str_pct_decode(p, n, dst, UPSTREAM_CRED_MAX, NULL);
    if (rc == PF_ERANGE)
        return pf_err_set(err, PF_EINVAL, "%s too long", what);
    if (rc != PF_OK)
        return pf_err_set(err, PF_EINVAL, "bad percent-escape in %s", what);
    return PF_OK;
}

int addr_parse_upstream(const char *s, size_t len, enum upstream_scheme default_scheme,
                        struct upstream *out, struct pf_err *err)
{
    const char *p = s;
    size_t n = len;
    int rc;

    memset(out, 0, sizeof(*out));
    out->weight = 1;
    out->scheme = default_scheme;
    if (s == NULL)
        return pf_err_set(err, PF_EINVAL, "empty address");
    if (str_has_nul(s, len))
        return pf_err_set(err, PF_EINVAL, "NUL byte in address");
    str_trim(&p, &n);
    if (n == 0)
        return pf_err_set(err, PF_EINVAL, "empty address");
    if (n > ADDR_LINE_MAX)
        return pf_err_set(err, PF_EINVAL, "address too long");
    for (size_t i = 0; i < n; i++) {
        if (!addr_is_uri_char((unsigned char)p[i]))
            return pf_err_set(err, PF_EINVAL, "invalid character in address");
    }

    /* scheme:// */
    int has_scheme = 0;
    for (size_t i = 0; i + 2 < n; i++) {
        if (p[i] == ':' && p[i + 1] == '/' && p[i + 2] == '/') {
            size_t sn = i;
            int ok = sn > 0 && addr_is_alpha((unsigned char)p[0]);
            for (size_t j = 1; ok && j < sn; j++) {
                int c = (unsigned char)p[j];
                ok = addr_is_alpha(c) || addr_is_digit(c) || c == '+' || c == '-' || c == '.';
            }
            if (!ok || sn > 16)
                return pf_err_set(err, PF_EINVAL, "malformed scheme");
            size_t k;
            for (k = 0; k < PF_ARRAY_LEN(addr_schemes); k++) {
                if (strlen(addr_schemes[k].name) == sn &&
                    strncasecmp(addr_schemes[k].name, p, sn) == 0)
                    break;
            }
            if (k == PF_ARRAY_LEN(addr_schemes))
                return pf_err_set(err, PF_EINVAL, "unsupported scheme '%.*s'", (int)sn, p);
            out->scheme = addr_schemes[k].scheme;
            p += sn + 3;
            n -= sn + 3;
            has_scheme = 1;
            break;
        }
        if (p[i] == '@' || p[i] == '/' || p[i] == '[')
            break;
    }
    /* Optional single trailing '/' after scheme://authority. */
    if (has_scheme && n > 0 && p[n - 1] == '/')
        n--;
    if (memchr(p, '/', n) != NULL)
        return pf_err_set(err, PF_EINVAL, "unexpected '/' in address");

    /* userinfo@: the last '@' ends it, since hosts never contain one. */
    const char *at = NULL;
    for (size_t i = n; i > 0; i--) {
        if (p[i - 1] == '@') {
            at = p + i - 1;
            break;
        }
    }
    if (at != NULL) {
        size_t un = (size_t)(at - p);
        const char *colon = memchr(p, ':', un);
        size_t user_n = colon != NULL ? (size_t)(colon - p) : un;
        if (user_n == 0)
            return pf_err_set(err, PF_EINVAL, "empty user");
        if (memchr(p, '[', un) != NULL || memchr(p, ']', un) != NULL)
            return pf_err_set(err, PF_EINVAL, "invalid character in credentials");
        rc = addr_decode_cred(p, user_n, out->user, "user", err);
        if (rc != PF_OK)
            return rc;
        if (colon != NULL) {
            rc = addr_decode_cred(colon + 1, un - user_n - 1, out->pass, "password", err);
            if (rc != PF_OK)
                goto fail;
        }
        n -= un + 1;
        p = at + 1;
    }
    rc = addr_split_hostport(p, n, out->host, sizeof(out->host), &out->host_kind,
                             &out->port, err);
    if (rc != PF_OK)
        goto fail;
    return PF_OK;

fail:
    /* Don't leave decoded credentials behind in a rejected record. */
    memset(out->user, 0, sizeof(out->user));
    memset(out->pass, 0, sizeof(out->pass));
    return rc;
}

static int addr_is_cred_char(int c)
{
    return c > 0x20 && c < 0x7f;
}

int addr_upstream_from_parts(enum upstream_scheme scheme, const struct addr_parts *parts,
                             struct upstream *out, struct pf_err *err)
{
    char hostport[UPSTREAM_HOST_MAX + 16];
    const char *h = parts->host;
    size_t hn = parts->host_len;
    int rc;

    memset(out, 0, sizeof(*out));
    out->weight = 1;
    out->scheme = scheme;
    if (hn >= 2 && h[0] == '[' && h[hn - 1] == ']') {
        h++;
        hn -= 2;
    }
    if (hn == 0)
        return pf_err_set(err, PF_EINVAL, "missing host");
    if (hn >= UPSTREAM_HOST_MAX)
        return pf_err_set(err, PF_EINVAL, "host name too long");
    if (parts->port_len == 0)
        return pf_err_set(err, PF_EINVAL, "missing port");
    if (parts->port_len > 5)
        return pf_err_set(err, PF_EINVAL, "port out of range");
    for (size_t i = 0; i < hn; i++) {
        int c = (unsigned char)h[i];
        if (!addr_is_alpha(c) && !addr_is_digit(c) && c != '.' && c != '-' && c != ':')
            return pf_err_set(err, PF_EINVAL, "invalid character in host");
    }
    int is_v6 = memchr(h, ':', hn) != NULL;
    snprintf(hostport, sizeof(hostport), is_v6 ? "[%.*s]:%.*s" : "%.*s:%.*s", (int)hn, h,
             (int)parts->port_len, parts->port);
    rc = addr_split_hostport(hostport, strlen(hostport), out->host, sizeof(out->host),
                             &out->host_kind, &out->port, err);
    if (rc != PF_OK)
        return rc;
    if (parts->pass_len > 0 && parts->user_len == 0)
        return pf_err_set(err, PF_EINVAL, "password without user");
    if (parts->user_len >= UPSTREAM_CRED_MAX)
        return pf_err_set(err, PF_EINVAL, "user too long");
    if (parts->pass_len >= UPSTREAM_CRED_MAX)
        return pf_err_set(err, PF_EINVAL, "password too long");
    for (size_t i = 0; i < parts->user_len; i++)
        if (!addr_is_cred_char((unsigned char)parts->user[i]))
            return pf_err_set(err, PF_EINVAL, "invalid character in user");
    for (size_t i = 0; i < parts->pass_len; i++)
        if (!addr_is_cred_char((unsigned char)parts->pass[i]))
            return pf_err_set(err, PF_EINVAL, "invalid character in password");
    if (parts->user_len > 0)
        memcpy(out->user, parts->user, parts->user_len);
    out->user[parts->user_len] = '\0';
    if (parts->pass_len > 0)
        memcpy(out->pass, parts->pass, parts->pass_len);
    out->pass[parts->pass_len] = '\0';
    return PF_OK;
}

int addr_ip_to_sockaddr(const char *ip, uint16_t port, struct sockaddr_storage *ss, socklen_t *len)
{
    struct sockaddr_in *sin = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
    memset(ss, 0, sizeof(*ss));
    if (inet_pton(AF_INET, ip, &sin->sin_addr) == 1) {
        sin->sin_family = AF_INET;
        sin->sin_port = htons(port);
        if (len != NULL)
            *len = sizeof(*sin);
        return PF_OK;
    }
    if (inet_pton(AF_INET6, ip, &sin6->sin6_addr) == 1) {
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons(port);
        if (len != NULL)
            *len = sizeof(*sin6);
        return PF_OK;
    }
    memset(ss, 0, sizeof(*ss));
    return PF_EINVAL;
}

static int addr_is_localhost_name(const char *h)
{
    static const char suffix[] = ".localhost";
    size_t n = strlen(h);
    size_t sn = sizeof(suffix) - 1;
    if (strcasecmp(h, "localhost") == 0)
        return 1;
    return n > sn && strcasecmp(h + n - sn, suffix) == 0;
}

int addr_policy_allows(const struct conf_upstream_policy *p, const struct sockaddr *sa)
{
    enum addr_class c = addr_classify(sa);

    if (c == ADDR_METADATA) {
        /* Only a CIDR naming exactly this host lets a metadata address in:
         * neither true nor a wider range (169.254.0.0/16) does. */
        for (int i = 0; p != NULL && i < p->nallow; i++) {
            int host_len = p->allow[i].family == AF_INET ? 32 : 128;
            if (p->allow[i].prefix_len == host_len && addr_cidr_match(&p->allow[i], sa))
                return 1;
        }
        return 0;
    }
    if (c == ADDR_PUBLIC)
        return 1;
    if (p == NULL)
        return 0;
    if (p->is_private_allowed)
        return 1;
    for (int i = 0; i < p->nallow; i++)
        if (addr_cidr_match(&p->allow[i], sa))
            return 1;
    return 0;
}

int addr_validate_upstream(const struct upstream *u, const struct conf_upstream_policy *p,
                           struct pf_err *err)
{
    char safe[UPSTREAM_HOST_MAX];
    struct sockaddr_storage ss;

    if (u->port == 0)
        return pf_err_set(err, PF_EINVAL, "port 0 out of range");
    snprintf(safe, sizeof(safe), "%s", u->host);
    if (u->host_kind == UPSTREAM_HOST_NAME) {
        if (!addr_is_localhost_name(u->host))
            return PF_OK;
        struct sockaddr_in lo = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(0x7f000001) };
        if (addr_policy_allows(p, (const struct sockaddr *)&lo))
            return PF_OK;
        return pf_err_set(err, PF_EDENIED, "loopback name %s not allowed", safe);
    }
    if (addr_ip_to_sockaddr(u->host, 0, &ss, NULL) != PF_OK)
        return pf_err_set(err, PF_EINVAL, "invalid address %s", safe);
    if (addr_policy_allows(p, (const struct sockaddr *)&ss))
        return PF_OK;
    return pf_err_set(err, PF_EDENIED, "%s address %s not allowed",
                      addr_class_name(addr_classify((const struct sockaddr *)&ss)), safe);
}

static enum addr_class addr_classify_v4(uint32_t a)
{
    if (a == 0xa9fea9feu || a == 0xa9feaa02u || a == 0x646464c8u || a == 0xa83f8110u)
        return ADDR_METADATA;       /* 169.254.169.254, 169.254.170.2, 100.100.100.200,
                                       168.63.129.16: before the ranges holding them */
    if ((a >> 24) == 0)
        return ADDR_UNSPECIFIED;                        /* 0.0.0.0/8 */
    if ((a >> 24) == 127)
        return ADDR_LOOPBACK;
    if ((a >> 24) == 10 || (a >> 20) == 0xac1 || (a >> 16) == 0xc0a8 ||
        (a >> 22) == (0x64400000u >> 22))
        return ADDR_PRIVATE;                            /* 10/8 172.16/12 192.168/16 100.64/10 */
    if ((a >> 16) == 0xa9fe)
        return ADDR_LINK_LOCAL;                         /* 169.254/16 */
    if ((a >> 28) == 0xe)
        return ADDR_MULTICAST;                          /* 224/4 */
    if ((a >> 28) == 0xf)
        return ADDR_RESERVED;                           /* 240/4 incl. broadcast */
    if ((a >> 8) == 0xc00000 || (a >> 17) == (0xc6120000u >> 17))
        return ADDR_RESERVED;                           /* 192.0.0/24, 198.18/15 */
    return ADDR_PUBLIC;
}

static uint32_t addr_load_be32(const uint8_t *b)
{
    return ((uint32_t)b[0] << 24) | ((uint32_t)b[1] << 16) | ((uint32_t)b[2] << 8) | b[3];
}

static enum addr_class addr_classify_v6(const uint8_t *b)
{
    static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
    static const uint8_t nat64[12] = { 0x00, 0x64, 0xff, 0x9b };
    static const uint8_t metadata[16] = { 0xfd, 0x00, 0x0e, 0xc2, 0, 0, 0, 0,
                                          0, 0, 0, 0, 0, 0, 0x02, 0x54 };
    static const uint8_t zero[16] = { 0 };

    if (memcmp(b, zero, 16) == 0)
        return ADDR_UNSPECIFIED;
    if (memcmp(b, zero, 15) == 0 && b[15] == 1)
        return ADDR_LOOPBACK;
    if (memcmp(b, mapped, 12) == 0)
        return addr_classify_v4(addr_load_be32(b + 12));
    if (memcmp(b, nat64, 12) == 0) {
        /* 64:ff9b::/96 reaches the embedded IPv4 address through NAT64. */
        enum addr_class c = addr_classify_v4(addr_load_be32(b + 12));
        return c;
    }
    if (memcmp(b, zero, 12) == 0)
        return ADDR_RESERVED;                           /* deprecated ::a.b.c.d */
    if (memcmp(b, metadata, 16) == 0)
        return ADDR_METADATA;
    if ((b[0] & 0xfe) == 0xfc)
        return ADDR_PRIVATE;                            /* fc00::/7 */
    if (b[0] == 0xfe && (b[1] & 0xc0) == 0x80)
        return ADDR_LINK_LOCAL;                         /* fe80::/10 */
    if (b[0] == 0xfe && (b[1] & 0xc0) == 0xc0)
        return ADDR_PRIVATE;                            /* fec0::/10, deprecated site-local */
    if (b[0] == 0xff)
        return ADDR_MULTICAST;
    return ADDR_PUBLIC;
}

enum addr_class addr_classify(const struct sockaddr *sa)
{
    if (sa == NULL)
        return ADDR_RESERVED;
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *sin = (const struct sockaddr_in *)sa;
        return addr_classify_v4(ntohl(sin->sin_addr.s_addr));
    }
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)sa;
        return addr_classify_v6(sin6->sin6_addr.s6_addr);
    }
    return ADDR_RESERVED;
}

int addr_cidr_parse(const char *s, struct conf_cidr *out, struct pf_err *err)
{
    char buf[INET6_ADDRSTRLEN + 1];
    const char *slash;
    size_t an;
    int max_len;

    memset(out, 0, sizeof(*out));
    if (s == NULL || *s == '\0')
        return pf_err_set(err, PF_EINVAL, "empty CIDR");
    slash = strchr(s, '/');
    an = slash != NULL ? (size_t)(slash - s) : strlen(s);
    if (an == 0 || an >= sizeof(buf))
        return pf_err_set(err, PF_EINVAL, "invalid CIDR address");
    memcpy(buf, s, an);
    buf[an] = '\0';
    if (inet_pton(AF_INET, buf, out->addr) == 1) {
        out->family = AF_INET;
        max_len = 32;
    } else if (inet_pton(AF_INET6, buf, out->addr) == 1) {
        out->family = AF_INET6;
        max_len = 128;
    } else {
        return pf_err_set(err, PF_EINVAL, "invalid CIDR address");
    }
    out->prefix_len = max_len;
    if (slash != NULL) {
        const char *p = slash + 1;
        size_t pn = strlen(p);
        int v = 0;
        if (pn == 0 || pn > 3)
            return pf_err_set(err, PF_EINVAL, "invalid CIDR prefix length");
        for (size_t i = 0; i < pn; i++) {
            if (!addr_is_digit((unsigned char)p[i]))
                return pf_err_set(err, PF_EINVAL, "invalid CIDR prefix length");
            v = v * 10 + (p[i] - '0');
        }
        if (v > max_len)
            return pf_err_set(err, PF_EINVAL, "CIDR prefix length %d out of range", v);
        out->prefix_len = v;
    }
    /* Mask host bits. */
    int nbytes = max_len / 8;
    for (int i = 0; i < nbytes; i++) {
        int bits = out->prefix_len - i * 8;
        if (bits >= 8)
            continue;
        out->addr[i] &= bits <= 0 ? 0 : (uint8_t)(0xff << (8 - bits));
    }
    return PF_OK;
}

static int addr_prefix_eq(const uint8_t *a, const uint8_t *b, int prefix_len)
{
    int full = prefix_len / 8;
    int rem = prefix_len % 8;
    if (memcmp(a, b, (size_t)full) != 0)
        return 0;
    if (rem == 0)
        return 1;
    uint8_t mask = (uint8_t)(0xff << (8 - rem));
    return (a[full] & mask) == (b[full] & mask);
}

int addr_cidr_match(const struct conf_cidr *c, const struct sockaddr *sa)
{
    static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
    if (c == NULL || sa == NULL)
        return 0;
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *sin = (const struct sockaddr_in *)sa;
        const uint8_t *a = (const uint8_t *)&sin->sin_addr.s_addr;
        if (c->family != AF_INET)
            return 0;
        return addr_prefix_eq(a, c->addr, c->prefix_len);
    }
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)sa;
        const uint8_t *a = sin6->sin6_addr.s6_addr;
        if (c->family == AF_INET6)
            return addr_prefix_eq(a, c->addr, c->prefix_len);
        if (c->family == AF_INET && memcmp(a, mapped, 12) == 0)
            return addr_prefix_eq(a + 12, c->addr, c->prefix_len);
    }
    return 0;
}

void addr_format_safe(const struct upstream *u, char *buf, size_t len)
{
    if (buf == NULL || len == 0)
        return;
    int is_v6 = u->host_kind == UPSTREAM_HOST_IPV6 || strchr(u->host, ':') != NULL;
    snprintf(buf, len, is_v6 ? "%s://[%.*s]:%u" : "%s://%.*s:%u",
             addr_scheme_name(u->scheme), (int)strnlen(u->host, sizeof(u->host)),
             u->host, (unsigned)u->port);
}

static uint32_t addr_fnv1a32(const char *s)
{
    uint32_t h = 0x811c9dc5u;
    for (; *s != '\0'; s++) {
        h ^= (uint8_t)*s;
        h *= 0x01000193u;
    }
    return h;
}

void addr_upstream_id(const struct upstream *u, char *buf, size_t len)
{
    if (buf == NULL || len == 0)
        return;
    addr_format_safe(u, buf, len);
    if (u->user[0] != '\0' && strnlen(u->user, sizeof(u->user)) < sizeof(u->user)) {
        size_t n = strlen(buf);
        if (n < len)
            snprintf(buf + n, len - n, "#%08x", (unsigned)addr_fnv1a32(u->user));
    }
}

int addr_parse_hostport(const char *s, char *host, size_t host_len, uint16_t *port,
                        struct pf_err *err)
{
    enum upstream_host_kind kind;
    const char *p = s;
    size_t n;

    if (host_len > 0)
        host[0] = '\0';
    if (s == NULL || *s == '\0')
        return pf_err_set(err, PF_EINVAL, "empty address");
    n = strlen(s);
    for (size_t i = 0; i < n; i++) {
        if (!addr_is_uri_char((unsigned char)p[i]) || p[i] == '@' || p[i] == '/')
            return pf_err_set(err, PF_EINVAL, "invalid character in address");
    }
    return addr_split_hostport(p, n, host, host_len, &kind, port, err);
}
