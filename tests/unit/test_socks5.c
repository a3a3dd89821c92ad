/* Unit tests of node/socks5.c: server-side parsing (greetings, RFC 1929
 * credentials, requests for each ATYP), client-side parsing (method choice,
 * auth status, replies), encoders, truncation (PF_EAGAIN on every prefix),
 * and a replay of the fuzz corpus tests/corpus/socks5. */
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "socks5.h"

struct bytes_case {
    char    name[48];
    uint8_t data[300];
    size_t  len;
    int     rc;             /* expected status on the whole input */
    size_t  used;           /* expected bytes used on PF_OK */
};

#define B(...) { __VA_ARGS__ }, sizeof((uint8_t[]){ __VA_ARGS__ })

/* Every strict prefix of a message the parser accepts must give PF_EAGAIN. */
#define CHECK_PREFIXES(call_k, c)                                                    \
    do {                                                                             \
        if ((c)->rc == PF_OK)                                                        \
            for (size_t k = 0; k < (c)->used; k++) {                                 \
                size_t used_k = 0;                                                   \
                int rc_k = (call_k);                                                 \
                cr_expect_eq(rc_k, PF_EAGAIN, "%s: prefix %zu gave %d", (c)->name, k, rc_k); \
            }                                                                        \
    } while (0)

/* --- greetings ------------------------------------------------------------- */

static const struct bytes_case greetings[] = {
    { "no auth", B(0x05, 0x01, 0x00), PF_OK, 3 },
    { "no auth + userpass", B(0x05, 0x02, 0x00, 0x02), PF_OK, 4 },
    { "trailing bytes kept", B(0x05, 0x01, 0x02, 0x05, 0x01), PF_OK, 3 },
    { "socks4", B(0x04, 0x01, 0x00, 0x50), PF_EPROTO, 0 },
    { "http", B('G', 'E', 'T', ' '), PF_EPROTO, 0 },
    { "zero methods", B(0x05, 0x00), PF_EPROTO, 0 },
    { "short methods", B(0x05, 0x03, 0x00, 0x02), PF_EAGAIN, 0 },
    { "version only", B(0x05), PF_EAGAIN, 0 },
};

Test(socks5, greetings)
{
    for (size_t i = 0; i < PF_ARRAY_LEN(greetings); i++) {
        const struct bytes_case *c = &greetings[i];
        struct socks5_greeting g;
        size_t used = 0;
        int rc = socks5_parse_greeting(c->data, c->len, &g, &used);
        cr_expect_eq(rc, c->rc, "%s: rc %d", c->name, rc);
        if (rc == PF_OK)
            cr_expect_eq(used, c->used, "%s: used %zu", c->name, used);
        CHECK_PREFIXES(socks5_parse_greeting(c->data, k, &g, &used_k), c);
    }
    struct socks5_greeting g;
    size_t used;
    cr_assert_eq(socks5_parse_greeting((const uint8_t *)"\x05\x02\x00\x02", 4, &g, &used), PF_OK);
    cr_expect(socks5_greeting_has(&g, SOCKS5_METHOD_USERPASS));
    cr_expect(socks5_greeting_has(&g, SOCKS5_METHOD_NONE));
    cr_expect(!socks5_greeting_has(&g, 0x01));
    cr_expect(socks5_parse_greeting(NULL, 0, &g, &used) == PF_EAGAIN);
}

/* --- RFC 1929 ---------------------------------------------------------------- */

static const struct bytes_case userpass[] = {
    { "ok", B(0x01, 0x01, 'a', 0x02, 'p', 'w'), PF_OK, 6 },
    { "bad version", B(0x05, 0x01, 'a', 0x01, 'p'), PF_EPROTO, 0 },
    { "empty user", B(0x01, 0x00, 0x01, 'p'), PF_EPROTO, 0 },
    { "empty password", B(0x01, 0x01, 'a', 0x00), PF_EPROTO, 0 },
    { "short user", B(0x01, 0x05, 'a', 'b'), PF_EAGAIN, 0 },
    { "short password", B(0x01, 0x01, 'a', 0x04, 'p'), PF_EAGAIN, 0 },
};

Test(socks5, userpass)
{
    for (size_t i = 0; i < PF_ARRAY_LEN(userpass); i++) {
        const struct bytes_case *c = &userpass[i];
        struct socks5_userpass up;
        size_t used = 0;
        int rc = socks5_parse_userpass(c->data, c->len, &up, &used);
        cr_expect_eq(rc, c->rc, "%s: rc %d", c->name, rc);
        if (rc == PF_OK)
            cr_expect_eq(used, c->used, "%s: used %zu", c->name, used);
        CHECK_PREFIXES(socks5_parse_userpass(c->data, k, &up, &used_k), c);
    }
    struct socks5_userpass up;
    size_t used;
    const uint8_t msg[] = { 0x01, 0x05, 'a', 'l', 'i', 'c', 'e', 0x03, 'x', 0x00, 'y' };
    cr_assert_eq(socks5_parse_userpass(msg, sizeof(msg), &up, &used), PF_OK);
    cr_expect_str_eq(up.user, "alice");
    cr_expect_eq(up.user_len, 5);
    cr_expect_eq(up.pass_len, 3);               /* NUL inside: length, not strlen */
    cr_expect_eq(memcmp(up.pass, "x\0y", 3), 0);
}

/* --- requests ------------------------------------------------------------------ */

struct req_case {
    char     name[48];
    uint8_t  data[300];
    size_t   len;
    int      rc;
    size_t   used;
    uint8_t  cmd;
    uint8_t  atyp;
    char     host[64];
    uint16_t port;
    uint8_t  err_rep;
};

static const struct req_case requests[] = {
    { "ipv4", B(0x05, 0x01, 0x00, 0x01, 127, 0, 0, 1, 0x1f, 0x90), PF_OK, 10,
      1, 1, "127.0.0.1", 8080, 0 },
    { "ipv6", B(0x05, 0x01, 0x00, 0x04, 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1,
               0x01, 0xbb), PF_OK, 22, 1, 4, "2001:db8::1", 443, 0 },
    { "name", B(0x05, 0x01, 0x00, 0x03, 11, 'e', 'x', 'a', 'm', 'p', 'l', 'e', '.', 'c', 'o', 'm',
               0x00, 0x50), PF_OK, 18, 1, 3, "example.com", 80, 0 },
    { "bind parses", B(0x05, 0x02, 0x00, 0x01, 10, 0, 0, 1, 0x00, 0x50), PF_OK, 10,
      2, 1, "10.0.0.1", 80, 0 },
    { "udp parses", B(0x05, 0x03, 0x00, 0x01, 10, 0, 0, 1, 0x00, 0x50), PF_OK, 10,
      3, 1, "10.0.0.1", 80, 0 },
    { "bad version", B(0x04, 0x01, 0x00, 0x01, 1, 2, 3, 4, 0, 80), PF_EPROTO, 0, 0, 0, "", 0, 1 },
    { "rsv not zero", B(0x05, 0x01, 0x01, 0x01, 1, 2, 3, 4, 0, 80), PF_EPROTO, 0, 0, 0, "", 0, 1 },
    { "atyp 2", B(0x05, 0x01, 0x00, 0x02, 1, 2, 3, 4, 0, 80), PF_EINVAL, 0, 0, 0, "", 0, 8 },
    { "atyp 5", B(0x05, 0x01, 0x00, 0x05), PF_EINVAL, 0, 0, 0, "", 0, 8 },
    { "empty name", B(0x05, 0x01, 0x00, 0x03, 0, 0, 80), PF_EINVAL, 0, 0, 0, "", 0, 1 },
    { "nul in name", B(0x05, 0x01, 0x00, 0x03, 3, 'a', 0, 'b', 0, 80), PF_EINVAL, 0, 0, 0, "", 0, 1 },
    { "slash in name", B(0x05, 0x01, 0x00, 0x03, 3, 'a', '/', 'b', 0, 80), PF_EINVAL, 0, 0, 0, "", 0, 1 },
    { "port zero", B(0x05, 0x01, 0x00, 0x01, 1, 2, 3, 4, 0, 0), PF_EINVAL, 0, 0, 0, "", 0, 1 },
    { "truncated ipv4", B(0x05, 0x01, 0x00, 0x01, 1, 2, 3), PF_EAGAIN, 0, 0, 0, "", 0, 0 },
    { "truncated name", B(0x05, 0x01, 0x00, 0x03, 5, 'a', 'b'), PF_EAGAIN, 0, 0, 0, "", 0, 0 },
    { "truncated port", B(0x05, 0x01, 0x00, 0x04, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0),
      PF_EAGAIN, 0, 0, 0, "", 0, 0 },
};

Test(socks5, requests)
{
    for (size_t i = 0; i < PF_ARRAY_LEN(requests); i++) {
        const struct req_case *c = &requests[i];
        struct socks5_request r;
        size_t used = 0;
        int rc = socks5_parse_request(c->data, c->len, &r, &used);
        cr_expect_eq(rc, c->rc, "%s: rc %d", c->name, rc);
        if (rc == PF_OK) {
            cr_expect_eq(used, c->used, "%s: used %zu", c->name, used);
            cr_expect_eq(r.cmd, c->cmd, "%s: cmd", c->name);
            cr_expect_eq(r.atyp, c->atyp, "%s: atyp", c->name);
            cr_expect_str_eq(r.host, c->host, "%s: host %s", c->name, r.host);
            cr_expect_eq(r.port, c->port, "%s: port", c->name);
        } else if (rc != PF_EAGAIN) {
            cr_expect_eq(r.err_rep, c->err_rep, "%s: err_rep %u", c->name, r.err_rep);
        }
        if (rc == PF_OK)
            for (size_t k = 0; k < c->used; k++) {
                size_t u;
                cr_expect_eq(socks5_parse_request(c->data, k, &r, &u), PF_EAGAIN, "%s: prefix %zu", c->name, k);
            }
    }
}

/* --- encoders and the client side ---------------------------------------------- */

Test(socks5, encode_reply)
{
    uint8_t buf[32];
    cr_assert_eq(socks5_encode_reply(SOCKS5_REP_NOT_ALLOWED, NULL, buf, sizeof(buf)), 10);
    const uint8_t denied[] = { 5, 2, 0, 1, 0, 0, 0, 0, 0, 0 };
    cr_expect_eq(memcmp(buf, denied, 10), 0);
    struct sockaddr_in s4 = { .sin_family = AF_INET, .sin_port = htons(1080) };
    inet_pton(AF_INET, "10.1.2.3", &s4.sin_addr);
    cr_assert_eq(socks5_encode_reply(0, (struct sockaddr *)&s4, buf, sizeof(buf)), 10);
    const uint8_t ok4[] = { 5, 0, 0, 1, 10, 1, 2, 3, 0x04, 0x38 };
    cr_expect_eq(memcmp(buf, ok4, 10), 0);
    struct sockaddr_in6 s6 = { .sin6_family = AF_INET6, .sin6_port = htons(443) };
    inet_pton(AF_INET6, "::1", &s6.sin6_addr);
    cr_assert_eq(socks5_encode_reply(0, (struct sockaddr *)&s6, buf, sizeof(buf)), 22);
    cr_expect_eq(buf[3], SOCKS5_ATYP_IPV6);
    cr_expect_eq(buf[19], 1);
    cr_expect_eq(buf[20], 0x01);
    cr_expect_eq(buf[21], 0xbb);
    cr_expect_eq(socks5_encode_reply(0, (struct sockaddr *)&s6, buf, 21), PF_ERANGE);
    size_t used;
    uint8_t rep;
    cr_expect_eq(socks5_parse_reply(buf, 22, &rep, &used), PF_OK);
    cr_expect_eq(used, 22);
}

Test(socks5, encode_greeting_and_userpass)
{
    uint8_t buf[SOCKS5_USERPASS_MAX];
    cr_assert_eq(socks5_encode_greeting(0, buf, sizeof(buf)), 3);
    cr_expect_eq(memcmp(buf, "\x05\x01\x00", 3), 0);
    cr_assert_eq(socks5_encode_greeting(1, buf, sizeof(buf)), 4);
    cr_expect_eq(memcmp(buf, "\x05\x02\x00\x02", 4), 0);
    cr_expect_eq(socks5_encode_greeting(1, buf, 3), PF_ERANGE);
    cr_assert_eq(socks5_encode_userpass("bob", "pw", buf, sizeof(buf)), 8);
    cr_expect_eq(memcmp(buf, "\x01\x03" "bob" "\x02" "pw", 8), 0);
    cr_expect_eq(socks5_encode_userpass("", "pw", buf, sizeof(buf)), PF_EINVAL);
    cr_expect_eq(socks5_encode_userpass("bob", "", buf, sizeof(buf)), PF_EINVAL);
    char longu[300];
    memset(longu, 'u', sizeof(longu) - 1);
    longu[sizeof(longu) - 1] = '\0';
    cr_expect_eq(socks5_encode_userpass(longu, "pw", buf, sizeof(buf)), PF_EINVAL);
    cr_expect_eq(socks5_encode_userpass("bob", "pw", buf, 7), PF_ERANGE);
    /* round trip through the server-side parser */
    struct socks5_userpass up;
    size_t used;
    int n = socks5_encode_userpass("bob", "pw", buf, sizeof(buf));
    cr_assert_eq(socks5_parse_userpass(buf, (size_t)n, &up, &used), PF_OK);
    cr_expect_str_eq(up.user, "bob");
    cr_expect_str_eq(up.pass, "pw");
}

struct enc_case {
    char     name[48];
    char     host[300];
    uint16_t port;
    int      rc;            /* byte count or status */
    uint8_t  atyp;
};

static const struct enc_case enc_requests[] = {
    { "ipv4 literal", "192.0.2.7", 80, 10, SOCKS5_ATYP_IPV4 },
    { "ipv6 literal", "2001:db8::7", 443, 22, SOCKS5_ATYP_IPV6 },
    { "name", "example.com", 8080, 18, SOCKS5_ATYP_NAME },
    { "empty name", "", 80, PF_EINVAL, 0 },
};

Test(socks5, encode_request_round_trip)
{
    for (size_t i = 0; i < PF_ARRAY_LEN(enc_requests); i++) {
        const struct enc_case *c = &enc_requests[i];
        uint8_t buf[SOCKS5_REQUEST_MAX];
        int n = socks5_encode_request(SOCKS5_CMD_CONNECT, c->host, c->port, buf, sizeof(buf));
        cr_expect_eq(n, c->rc, "%s: %d", c->name, n);
        if (n <= 0)
            continue;
        cr_expect_eq(buf[3], c->atyp, "%s: atyp", c->name);
        struct socks5_request r;
        size_t used;
        cr_assert_eq(socks5_parse_request(buf, (size_t)n, &r, &used), PF_OK, "%s", c->name);
        cr_expect_eq(used, (size_t)n);
        cr_expect_str_eq(r.host, c->host, "%s", c->name);
        cr_expect_eq(r.port, c->port, "%s", c->name);
    }
    char longname[300];
    memset(longname, 'a', 256);
    longname[256] = '\0';
    uint8_t buf[SOCKS5_REQUEST_MAX];
    cr_expect_eq(socks5_encode_request(1, longname, 80, buf, sizeof(buf)), PF_EINVAL);
    cr_expect_eq(socks5_encode_request(1, "example.com", 80, buf, 10), PF_ERANGE);
}

static const struct bytes_case replies[] = {
    { "ok ipv4", B(0x05, 0x00, 0x00, 0x01, 1, 2, 3, 4, 0, 80), PF_OK, 10 },
    { "refused ipv4", B(0x05, 0x05, 0x00, 0x01, 0, 0, 0, 0, 0, 0), PF_OK, 10 },
    { "ok ipv6", B(0x05, 0x00, 0x00, 0x04, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 80),
      PF_OK, 22 },
    { "ok name", B(0x05, 0x00, 0x00, 0x03, 4, 'h', 'o', 's', 't', 0, 80), PF_OK, 11 },
    { "ttl expired + data", B(0x05, 0x06, 0x00, 0x01, 0, 0, 0, 0, 0, 0, 'x'), PF_OK, 10 },
    { "bad version", B(0x04, 0x5a, 0x00, 0x01), PF_EPROTO, 0 },
    { "rsv", B(0x05, 0x00, 0x01, 0x01, 0, 0, 0, 0, 0, 0), PF_EPROTO, 0 },
    { "bad atyp", B(0x05, 0x00, 0x00, 0x07, 0, 0), PF_EPROTO, 0 },
    { "truncated", B(0x05, 0x00, 0x00, 0x01, 1, 2), PF_EAGAIN, 0 },
};

Test(socks5, client_replies)
{
    for (size_t i = 0; i < PF_ARRAY_LEN(replies); i++) {
        const struct bytes_case *c = &replies[i];
        uint8_t rep = 0xee;
        size_t used = 0;
        int rc = socks5_parse_reply(c->data, c->len, &rep, &used);
        cr_expect_eq(rc, c->rc, "%s: rc %d", c->name, rc);
        if (rc == PF_OK) {
            cr_expect_eq(used, c->used, "%s: used %zu", c->name, used);
            cr_expect_eq(rep, c->data[1], "%s: rep", c->name);
        }
        CHECK_PREFIXES(socks5_parse_reply(c->data, k, &rep, &used_k), c);
    }
}

Test(socks5, client_method_and_auth_status)
{
    uint8_t v;
    size_t used;
    cr_expect_eq(socks5_parse_method((const uint8_t *)"\x05\x02", 2, &v, &used), PF_OK);
    cr_expect_eq(v, SOCKS5_METHOD_USERPASS);
    cr_expect_eq(used, 2);
    cr_expect_eq(socks5_parse_method((const uint8_t *)"\x05\xff", 2, &v, &used), PF_OK);
    cr_expect_eq(v, SOCKS5_METHOD_NO_ACCEPTABLE);
    cr_expect_eq(socks5_parse_method((const uint8_t *)"\x05", 1, &v, &used), PF_EAGAIN);
    cr_expect_eq(socks5_parse_method((const uint8_t *)"\x04\x00", 2, &v, &used), PF_EPROTO);
    cr_expect_eq(socks5_parse_method((const uint8_t *)"", 0, &v, &used), PF_EAGAIN);
    cr_expect_eq(socks5_parse_auth_status((const uint8_t *)"\x01\x00", 2, &v, &used), PF_OK);
    cr_expect_eq(v, 0);
    cr_expect_eq(socks5_parse_auth_status((const uint8_t *)"\x01\x01", 2, &v, &used), PF_OK);
    cr_expect_eq(v, 1);
    cr_expect_eq(socks5_parse_auth_status((const uint8_t *)"\x01", 1, &v, &used), PF_EAGAIN);
    cr_expect_eq(socks5_parse_auth_status((const uint8_t *)"\x05\x00", 2, &v, &used), PF_EPROTO);
    cr_expect_str_eq(socks5_rep_name(SOCKS5_REP_TTL_EXPIRED), "TTL expired");
    cr_expect_str_eq(socks5_rep_name(0x42), "unassigned");
}

/* --- corpus replay ------------------------------------------------------------- */

/* What fuzz/fuzz_socks5.c does with one input: selector byte, then every parser
 * on the rest must stay in bounds and agree with its prefixes. */
static void replay_one(const char *name, const uint8_t *data, size_t size)
{
    if (size < 1)
        return;
    const uint8_t *p = data + 1;
    size_t len = size - 1;
    for (int which = 0; which < 6; which++) {
        size_t used = 0;
        struct socks5_greeting g;
        struct socks5_userpass up;
        struct socks5_request r;
        uint8_t v;
        int rc;
        switch (which) {
        case 0: rc = socks5_parse_greeting(p, len, &g, &used); break;
        case 1: rc = socks5_parse_userpass(p, len, &up, &used); break;
        case 2: rc = socks5_parse_request(p, len, &r, &used); break;
        case 3: rc = socks5_parse_method(p, len, &v, &used); break;
        case 4: rc = socks5_parse_auth_status(p, len, &v, &used); break;
        default: rc = socks5_parse_reply(p, len, &v, &used); break;
        }
        cr_expect(rc == PF_OK || rc == PF_EAGAIN || rc == PF_EPROTO || rc == PF_EINVAL,
                  "%s: parser %d returned %d", name, which, rc);
        if (rc == PF_OK)
            cr_expect(used > 0 && used <= len, "%s: parser %d used %zu of %zu", name, which, used, len);
    }
}

Test(socks5, corpus_replay)
{
    char dir[512];
    snprintf(dir, sizeof(dir), "%s/socks5", PF_CORPUS_DIR);
    DIR *d = opendir(dir);
    cr_assert_not_null(d, "opendir %s", dir);
    struct dirent *e;
    int count = 0;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        char path[1024];
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        FILE *f = fopen(path, "rb");
        cr_assert_not_null(f, "open %s", path);
        uint8_t buf[65536];
        size_t n = fread(buf, 1, sizeof(buf), f);
        fclose(f);
        /* an exact-size heap copy, so ASan catches any over-read */
        uint8_t *copy = malloc(n > 0 ? n : 1);
        cr_assert_not_null(copy);
        memcpy(copy, buf, n);
        replay_one(e->d_name, copy, n);
        free(copy);
        count++;
    }
    closedir(d);
    cr_expect_geq(count, 10, "corpus has %d files", count);
}
