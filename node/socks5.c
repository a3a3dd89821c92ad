/* SOCKS5 wire format, both sides; see socks5.h. */
#include "socks5.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

int socks5_parse_greeting(const uint8_t *buf, size_t len, struct socks5_greeting *out,
                          size_t *used)
{
    if (len < 1)
        return PF_EAGAIN;
    if (buf[0] != SOCKS5_VERSION)
        return PF_EPROTO;
    if (len < 2)
        return PF_EAGAIN;
    size_t n = buf[1];
    if (n == 0)
        return PF_EPROTO;
    if (len < 2 + n)
        return PF_EAGAIN;
    memcpy(out->methods, buf + 2, n);
    out->nmethods = n;
    *used = 2 + n;
    return PF_OK;
}

int socks5_greeting_has(const struct socks5_greeting *g, uint8_t method)
{
    for (size_t i = 0; i < g->nmethods; i++)
        if (g->methods[i] == method)
            return 1;
    return 0;
}

int socks5_parse_userpass(const uint8_t *buf, size_t len, struct socks5_userpass *out,
                          size_t *used)
{
    if (len < 1)
        return PF_EAGAIN;
    if (buf[0] != SOCKS5_AUTH_VERSION)
        return PF_EPROTO;
    if (len < 2)
        return PF_EAGAIN;
    size_t ulen = buf[1];
    if (ulen == 0)
        return PF_EPROTO;
    if (len < 2 + ulen + 1)
        return PF_EAGAIN;
    size_t plen = buf[2 + ulen];
    if (plen == 0)
        return PF_EPROTO;
    if (len < 3 + ulen + plen)
        return PF_EAGAIN;
    memcpy(out->user, buf + 2, ulen);
    out->user[ulen] = '\0';
    out->user_len = ulen;
    memcpy(out->pass, buf + 3 + ulen, plen);
    out->pass[plen] = '\0';
    out->pass_len = plen;
    *used = 3 + ulen + plen;
    return PF_OK;
}

static int is_name_byte(uint8_t ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           ch == '.' || ch == '-' || ch == '_';
}

int socks5_parse_request(const uint8_t *buf, size_t len, struct socks5_request *out,
                         size_t *used)
{
    out->err_rep = SOCKS5_REP_GENERAL;
    if (len < 1)
        return PF_EAGAIN;
    if (buf[0] != SOCKS5_VERSION)
        return PF_EPROTO;
    if (len < 4)
        return PF_EAGAIN;
    if (buf[2] != 0x00)
        return PF_EPROTO;
    out->cmd = buf[1];
    out->atyp = buf[3];
    size_t addr_len;
    size_t off = 4;
    switch (buf[3]) {
    case SOCKS5_ATYP_IPV4:
        addr_len = 4;
        break;
    case SOCKS5_ATYP_IPV6:
        addr_len = 16;
        break;
    case SOCKS5_ATYP_NAME:
        if (len < 5)
            return PF_EAGAIN;
        addr_len = buf[4];
        off = 5;
        if (addr_len == 0)
            return PF_EINVAL;
        break;
    default:
        out->err_rep = SOCKS5_REP_ATYP_UNSUPPORTED;
        return PF_EINVAL;
    }
    if (len < off + addr_len + 2)
        return PF_EAGAIN;
    const uint8_t *a = buf + off;
    if (buf[3] == SOCKS5_ATYP_NAME) {
        for (size_t i = 0; i < addr_len; i++)
            if (!is_name_byte(a[i]))
                return PF_EINVAL;
        memcpy(out->host, a, addr_len);
        out->host[addr_len] = '\0';
    } else if (inet_ntop(buf[3] == SOCKS5_ATYP_IPV4 ? AF_INET : AF_INET6, a, out->host,
                         sizeof(out->host)) == NULL) {
        return PF_EINVAL;
    }
    out->port = (uint16_t)((a[addr_len] << 8) | a[addr_len + 1]);
    if (out->port == 0)
        return PF_EINVAL;
    *used = off + addr_len + 2;
    out->err_rep = SOCKS5_REP_SUCCEEDED;
    return PF_OK;
}

int socks5_encode_reply(uint8_t rep, const struct sockaddr *bound, uint8_t *buf, size_t len)
{
    size_t need = 10;
    if (bound != NULL && bound->sa_family == AF_INET6)
        need = 22;
    if (len < need)
        return PF_ERANGE;
    buf[0] = SOCKS5_VERSION;
    buf[1] = rep;
    buf[2] = 0x00;
    if (bound != NULL && bound->sa_family == AF_INET6) {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)bound;
        buf[3] = SOCKS5_ATYP_IPV6;
        memcpy(buf + 4, &s6->sin6_addr, 16);
        memcpy(buf + 20, &s6->sin6_port, 2);
    } else if (bound != NULL && bound->sa_family == AF_INET) {
        const struct sockaddr_in *s4 = (const struct sockaddr_in *)bound;
        buf[3] = SOCKS5_ATYP_IPV4;
        memcpy(buf + 4, &s4->sin_addr, 4);
        memcpy(buf + 8, &s4->sin_port, 2);
    } else {
        buf[3] = SOCKS5_ATYP_IPV4;
        memset(buf + 4, 0, 6);
    }
    return (int)need;
}

int socks5_encode_greeting(int has_credentials, uint8_t *buf, size_t len)
{
    size_t need = has_credentials ? 4 : 3;
    if (len < need)
        return PF_ERANGE;
    buf[0] = SOCKS5_VERSION;
    buf[1] = has_credentials ? 2 : 1;
    buf[2] = SOCKS5_METHOD_NONE;
    if (has_credentials)
        buf[3] = SOCKS5_METHOD_USERPASS;
    return (int)need;
}

/* The server's method choice and its auth status are both two bytes: a
 * version, then the value. */
static int socks5_parse_pair(const uint8_t *buf, size_t len, uint8_t version, uint8_t *value,
                             size_t *used)
{
    if (len < 1)
        return PF_EAGAIN;
    if (buf[0] != version)
        return PF_EPROTO;
    if (len < 2)
        return PF_EAGAIN;
    *value = buf[1];
    *used = 2;
    return PF_OK;
}

int socks5_parse_method(const uint8_t *buf, size_t len, uint8_t *method, size_t *used)
{
    return socks5_parse_pair(buf, len, SOCKS5_VERSION, method, used);
}

int socks5_encode_userpass(const char *user, const char *pass, uint8_t *buf, size_t len)
{
    size_t ulen = strlen(user), plen = strlen(pass);
    if (ulen == 0 || plen == 0 || ulen > SOCKS5_CRED_MAX || plen > SOCKS5_CRED_MAX)
        return PF_EINVAL;
    size_t need = 3 + ulen + plen;
    if (len < need)
        return PF_ERANGE;
    buf[0] = SOCKS5_AUTH_VERSION;
    buf[1] = (uint8_t)ulen;
    memcpy(buf + 2, user, ulen);
    buf[2 + ulen] = (uint8_t)plen;
    memcpy(buf + 3 + ulen, pass, plen);
    return (int)need;
}

int socks5_parse_auth_status(const uint8_t *buf, size_t len, uint8_t *status, size_t *used)
{
    return socks5_parse_pair(buf, len, SOCKS5_AUTH_VERSION, status, used);
}

int socks5_encode_request(uint8_t cmd, const char *host, uint16_t port, uint8_t *buf, size_t len)
{
    uint8_t a[16];
    size_t off, alen;
    uint8_t atyp;
    if (inet_pton(AF_INET, host, a) == 1) {
        atyp = SOCKS5_ATYP_IPV4;
        alen = 4;
        off = 4;
    } else if (inet_pton(AF_INET6, host, a) == 1) {
        atyp = SOCKS5_ATYP_IPV6;
        alen = 16;
        off = 4;
    } else {
        alen = strlen(host);
        if (alen == 0 || alen > SOCKS5_NAME_MAX)
            return PF_EINVAL;
        atyp = SOCKS5_ATYP_NAME;
        off = 5;
    }
    size_t need = off + alen + 2;
    if (len < need)
        return PF_ERANGE;
    buf[0] = SOCKS5_VERSION;
    buf[1] = cmd;
    buf[2] = 0x00;
    buf[3] = atyp;
    if (atyp == SOCKS5_ATYP_NAME) {
        buf[4] = (uint8_t)alen;
        memcpy(buf + 5, host, alen);
    } else {
        memcpy(buf + 4, a, alen);
    }
    buf[off + alen] = (uint8_t)(port >> 8);
    buf[off + alen + 1] = (uint8_t)(port & 0xff);
    return (int)need;
}

int socks5_parse_reply(const uint8_t *buf, size_t len, uint8_t *rep, size_t *used)
{
    if (len < 1)
        return PF_EAGAIN;
    if (buf[0] != SOCKS5_VERSION)
        return PF_EPROTO;
    if (len < 4)
        return PF_EAGAIN;
    if (buf[2] != 0x00)
        return PF_EPROTO;
    size_t need;
    switch (buf[3]) {
    case SOCKS5_ATYP_IPV4:
        need = 4 + 4 + 2;
        break;
    case SOCKS5_ATYP_IPV6:
        need = 4 + 16 + 2;
        break;
    case SOCKS5_ATYP_NAME:
        if (len < 5)
            return PF_EAGAIN;
        need = 5 + (size_t)buf[4] + 2;
        break;
    default:
        return PF_EPROTO;
    }
    if (len < need)
        return PF_EAGAIN;
    *rep = buf[1];
    *used = need;
    return PF_OK;
}

const char *socks5_rep_name(uint8_t rep)
{
    static const char *const names[] = {
        "succeeded", "general failure", "not allowed by ruleset", "network unreachable",
        "host unreachable", "connection refused", "TTL expired", "command not supported",
        "address type not supported",
    };
    return rep < PF_ARRAY_LEN(names) ? names[rep] : "unassigned";
}
