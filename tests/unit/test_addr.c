/* Unit tests for common/addr.c: upstream parsing, validation, classification,
 * CIDR, formatting. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "addr.h"

struct good_case {
    const char *in;
    enum upstream_scheme scheme;
    enum upstream_host_kind kind;
    const char *host;
    unsigned port;
    const char *user;
    const char *pass;
};

static const struct good_case good_cases[] = {
    { "1.2.3.4:8080", UPSTREAM_HTTP, UPSTREAM_HOST_IPV4, "1.2.3.4", 8080, "", "" },
    { "user:pass@1.2.3.4:8080", UPSTREAM_HTTP, UPSTREAM_HOST_IPV4, "1.2.3.4", 8080, "user", "pass" },
    { "http://user:pass@1.2.3.4:8080", UPSTREAM_HTTP, UPSTREAM_HOST_IPV4, "1.2.3.4", 8080, "user", "pass" },
    { "socks5h://u:p%40ss@proxy.example.com:1080", UPSTREAM_SOCKS5H, UPSTREAM_HOST_NAME,
      "proxy.example.com", 1080, "u", "p@ss" },
    { "[2001:db8::1]:3128", UPSTREAM_HTTP, UPSTREAM_HOST_IPV6, "2001:db8::1", 3128, "", "" },
    { "1.2.3.4:8080\r\n", UPSTREAM_HTTP, UPSTREAM_HOST_IPV4, "1.2.3.4", 8080, "", "" },
    { "  \t5.6.7.8:1\r", UPSTREAM_HTTP, UPSTREAM_HOST_IPV4, "5.6.7.8", 1, "", "" },
    { "HTTPS://9.9.9.9:443/", UPSTREAM_HTTPS, UPSTREAM_HOST_IPV4, "9.9.9.9", 443, "", "" },
    { "socks5://[2001:db8::2]:65535", UPSTREAM_SOCKS5, UPSTREAM_HOST_IPV6, "2001:db8::2", 65535, "", "" },
    { "http://user@Proxy.Example.COM:80", UPSTREAM_HTTP, UPSTREAM_HOST_NAME, "proxy.example.com", 80, "user", "" },
    { "a%3Ab:c%3Ad@h-1.example:81", UPSTREAM_HTTP, UPSTREAM_HOST_NAME, "h-1.example", 81, "a:b", "c:d" },
    { "u:p:q@1.2.3.4:82", UPSTREAM_HTTP, UPSTREAM_HOST_IPV4, "1.2.3.4", 82, "u", "p:q" },
};

Test(addr, parse_good_table)
{
    for (size_t i = 0; i < PF_ARRAY_LEN(good_cases); i++) {
        const struct good_case *tc = &good_cases[i];
        struct upstream u;
        struct pf_err err = { 0 };
        int rc = addr_parse_upstream(tc->in, strlen(tc->in), UPSTREAM_HTTP, &u, &err);
        cr_expect_eq(rc, PF_OK, "case %zu: rc %d (%s)", i, rc, err.msg);
        if (rc != PF_OK)
            continue;
        cr_expect_eq(u.scheme, tc->scheme, "case %zu: scheme", i);
        cr_expect_eq(u.host_kind, tc->kind, "case %zu: kind", i);
        cr_expect_str_eq(u.host, tc->host, "case %zu: host", i);
        cr_expect_eq(u.port, tc->port, "case %zu: port", i);
        cr_expect_str_eq(u.user, tc->user, "case %zu: user", i);
        cr_expect_str_eq(u.pass, tc->pass, "case %zu: pass", i);
        cr_expect_eq(u.weight, 1u, "case %zu: weight", i);
        cr_expect_eq(u.expires_at_ms, 0, "case %zu: expiry", i);
        cr_expect_str_eq(u.provider, "", "case %zu: provider", i);
    }
}

Test(addr, default_scheme_applies_without_scheme)
{
    struct upstream u;
    cr_assert_eq(addr_parse_upstream("1.2.3.4:1080", 12, UPSTREAM_SOCKS5, &u, NULL), PF_OK);
    cr_expect_eq(u.scheme, UPSTREAM_SOCKS5);
}

Test(addr, explicit_scheme_beats_default)
{
    struct upstream u;
    const char *s = "http://1.2.3.4:1080";
    cr_assert_eq(addr_parse_upstream(s, strlen(s), UPSTREAM_SOCKS5, &u, NULL), PF_OK);
    cr_expect_eq(u.scheme, UPSTREAM_HTTP);
}

struct bad_case {
    const char *in;
    size_t len;           /* 0 = strlen */
    const char *msg;      /* substring expected in the error, NULL = any */
};

static const struct bad_case bad_cases[] = {
    { "http://user:pwd@", 0, "missing host" },
    { "1.2.3.4:0", 0, "port 0 out of range" },
    { "1.2.3.4:70000", 0, "port 70000 out of range" },
    { "<html><body>Error</body></html>", 0, "invalid character" },
    { "ftp://1.2.3.4:21", 0, "unsupported scheme 'ftp'" },
    { "1.2.3.4", 0, "missing port" },
    { ":8080", 0, "missing host" },
    { "", 0, "empty" },
    { " \r\n", 0, "empty" },
    { "1.2.3.4:", 0, "missing port" },
    { "1.2.3.4:80a", 0, "invalid port" },
    { "1.2.3.4:-1", 0, "invalid port" },
    { "1.2.3.4:+80", 0, "invalid port" },
    { "1.2.3.4:0000080", 0, "out of range" },
    { "1.2.3 .4:80", 0, "invalid character" },
    { "1.2.3.4: 80", 0, "invalid character" },
    { "2001:db8::1:3128", 0, "brackets" },
    { "[2001:db8::1]", 0, "missing port" },
    { "[2001:db8::zz]:80", 0, "invalid IPv6" },
    { "[1.2.3.4]:80", 0, "invalid IPv6" },
    { "[fe80::1%eth0]:80", 0, "invalid IPv6" },
    { "256.1.1.1:80", 0, "invalid IPv4" },
    { "1.2.3:80", 0, "invalid IPv4" },
    { "01.2.3.4:80", 0, "invalid IPv4" },
    { "-bad.example.com:80", 0, "invalid host name" },
    { "bad-.example.com:80", 0, "invalid host name" },
    { "a..b:80", 0, "invalid host name" },
    { "a_b.example:80", 0, "invalid host name" },
    { "example.com.:80", 0, "invalid host name" },
    { "0x7f000001:80", 0, "invalid IPv4" },
    { "0x7f.1:80", 0, "invalid IPv4" },
    { "user:p%zzss@1.2.3.4:80", 0, "percent-escape in password" },
    { "us%4@1.2.3.4:80", 0, "percent-escape in user" },
    { "user:p%00ss@1.2.3.4:80", 0, "percent-escape" },
    { ":pass@1.2.3.4:80", 0, "empty user" },
    { "@1.2.3.4:80", 0, "empty user" },
    { "1.2.3.4:80/path", 0, "unexpected '/'" },
    { "http://1.2.3.4:80/x", 0, "unexpected '/'" },
    { "1.2.3.4:80/", 0, "unexpected '/'" },
    { "1.2.3.4:80\0junk", 15, "NUL" },
    { "http:/1.2.3.4:80", 0, NULL },
    { "1ttp://1.2.3.4:80", 0, "malformed scheme" },
    { "http://http://1.2.3.4:80", 0, NULL },
    { "1.2.3.4:80?x=1", 0, "invalid character" },
    { "caf\xc3\xa9.example:80", 0, "invalid character" },
};

Test(addr, parse_bad_table)
{
    for (size_t i = 0; i < PF_ARRAY_LEN(bad_cases); i++) {
        const struct bad_case *tc = &bad_cases[i];
        size_t len = tc->len != 0 ? tc->len : strlen(tc->in);
        struct upstream u;
        struct pf_err err = { 0 };
        int rc = addr_parse_upstream(tc->in, len, UPSTREAM_HTTP, &u, &err);
        cr_expect_eq(rc, PF_EINVAL, "case %zu (%s): rc %d", i, tc->in, rc);
        cr_expect_eq(err.code, PF_EINVAL, "case %zu: err.code", i);
        if (tc->msg != NULL)
            cr_expect(strstr(err.msg, tc->msg) != NULL, "case %zu (%s): msg '%s' lacks '%s'",
                      i, tc->in, err.msg, tc->msg);
    }
}

Test(addr, overlong_fields_rejected)
{
    char buf[2048];
    struct upstream u;
    struct pf_err err = { 0 };

    /* 64-char label */
    memset(buf, 'a', 64);
    strcpy(buf + 64, ".example:80");
    cr_expect_eq(addr_parse_upstream(buf, strlen(buf), UPSTREAM_HTTP, &u, &err), PF_EINVAL);

    /* 254-char host name made of valid labels */
    size_t o = 0;
    while (o < 254) {
        memcpy(buf + o, "abcdefghi.", 10);
        o += 10;
    }
    buf[253] = 'x';
    strcpy(buf + 254, ":80");
    cr_expect_eq(addr_parse_upstream(buf, strlen(buf), UPSTREAM_HTTP, &u, &err), PF_EINVAL);

    /* 256-byte user */
    memset(buf, 'u', 256);
    strcpy(buf + 256, ":p@1.2.3.4:80");
    cr_expect_eq(addr_parse_upstream(buf, strlen(buf), UPSTREAM_HTTP, &u, &err), PF_EINVAL);
    cr_expect(strstr(err.msg, "user too long") != NULL, "%s", err.msg);

    /* 255-byte password fits exactly */
    memcpy(buf, "u:", 2);
    memset(buf + 2, 'p', 255);
    strcpy(buf + 257, "@1.2.3.4:80");
    cr_expect_eq(addr_parse_upstream(buf, strlen(buf), UPSTREAM_HTTP, &u, &err), PF_OK);
    cr_expect_eq(strlen(u.pass), 255u);
}

Test(addr, error_never_contains_password)
{
    static const char *const inputs[] = {
        "http://user:S3cretPw@",
        "user:S3cretPw@1.2.3.4:0",
        "ftp://user:S3cretPw@1.2.3.4:21",
        "user:S3cretPw@1.2.3.4",
        "user:S3cretPw%zz@1.2.3.4:80",
        "user:S3cretPw@[::1:80",
    };
    for (size_t i = 0; i < PF_ARRAY_LEN(inputs); i++) {
        struct upstream u;
        struct pf_err err = { 0 };
        int rc = addr_parse_upstream(inputs[i], strlen(inputs[i]), UPSTREAM_HTTP, &u, &err);
        cr_expect_neq(rc, PF_OK, "case %zu", i);
        cr_expect(strstr(err.msg, "S3cretPw") == NULL, "case %zu leaks: %s", i, err.msg);
        cr_expect_str_eq(u.pass, "", "case %zu: pass left in rejected record", i);
    }
}

struct validate_case {
    const char *in;
    int         is_denied;    /* without allow_private */
    const char *cls;          /* class word expected in the message */
    int         is_metadata;  /* denied even under allow_private: true */
};

static const struct validate_case validate_cases[] = {
    { "127.0.0.1:80", 1, "loopback", 0 },
    { "[::1]:80", 1, "loopback", 0 },
    { "10.1.2.3:80", 1, "private", 0 },
    { "172.16.0.1:80", 1, "private", 0 },
    { "192.168.1.1:80", 1, "private", 0 },
    { "100.64.0.1:80", 1, "private", 0 },
    { "169.254.169.254:80", 1, "metadata", 1 },
    { "169.254.170.2:80", 1, "metadata", 1 },
    { "100.100.100.200:80", 1, "metadata", 1 },
    { "168.63.129.16:80", 1, "metadata", 1 },
    { "[::ffff:169.254.169.254]:80", 1, "metadata", 1 },
    { "169.254.1.1:80", 1, "link-local", 0 },
    { "224.0.0.1:80", 1, "multicast", 0 },
    { "0.0.0.0:80", 1, "unspecified", 0 },
    { "255.255.255.255:80", 1, "reserved", 0 },
    { "192.0.0.8:80", 1, "reserved", 0 },
    { "198.18.0.1:80", 1, "reserved", 0 },
    { "localhost:80", 1, "localhost", 0 },
    { "foo.LOCALHOST:80", 1, "localhost", 0 },
    { "[fd00::1]:80", 1, "private", 0 },
    { "[fe80::1]:80", 1, "link-local", 0 },
    { "[fd00:ec2::254]:80", 1, "metadata", 1 },
    { "[ff02::1]:80", 1, "multicast", 0 },
    { "[::]:80", 1, "unspecified", 0 },
    { "[::ffff:127.0.0.1]:80", 1, "loopback", 0 },
    { "[::ffff:10.0.0.1]:80", 1, "private", 0 },
    { "1.2.3.4:80", 0, NULL, 0 },
    { "203.0.113.10:8080", 0, NULL, 0 },
    { "172.32.0.1:80", 0, NULL, 0 },
    { "100.128.0.1:80", 0, NULL, 0 },
    { "[2001:db8::1]:80", 0, NULL, 0 },
    { "[::ffff:8.8.8.8]:80", 0, NULL, 0 },
    { "proxy.example.com:80", 0, NULL, 0 },
    { "notlocalhost:80", 0, NULL, 0 },
};

Test(addr, validate_table)
{
    for (size_t i = 0; i < PF_ARRAY_LEN(validate_cases); i++) {
        const struct validate_case *tc = &validate_cases[i];
        struct upstream u;
        struct pf_err err = { 0 };
        cr_assert_eq(addr_parse_upstream(tc->in, strlen(tc->in), UPSTREAM_HTTP, &u, &err), PF_OK,
                     "case %zu (%s): %s", i, tc->in, err.msg);
        int rc = addr_validate_upstream(&u, NULL, &err);
        cr_expect_eq(rc, tc->is_denied ? PF_EDENIED : PF_OK, "case %zu (%s): rc %d", i, tc->in, rc);
        if (tc->cls != NULL)
            cr_expect(strstr(err.msg, tc->cls) != NULL, "case %zu: msg '%s'", i, err.msg);
        struct conf_upstream_policy all = { .is_private_allowed = 1 };
        cr_expect_eq(addr_validate_upstream(&u, &all, &err), tc->is_metadata ? PF_EDENIED : PF_OK,
                     "case %zu (%s): allow_private true", i, tc->in);
    }
}

Test(addr, validate_message_format)
{
    struct upstream u;
    struct pf_err err = { 0 };
    cr_assert_eq(addr_parse_upstream("127.0.0.1:80", 12, UPSTREAM_HTTP, &u, NULL), PF_OK);
    cr_assert_eq(addr_validate_upstream(&u, NULL, &err), PF_EDENIED);
    cr_expect_str_eq(err.msg, "loopback address 127.0.0.1 not allowed");
}

static struct conf_upstream_policy policy_of(const char *const *cidrs, size_t n)
{
    struct conf_upstream_policy p;
    memset(&p, 0, sizeof(p));
    for (size_t i = 0; i < n; i++)
        cr_assert_eq(addr_cidr_parse(cidrs[i], &p.allow[p.nallow++], NULL), PF_OK, "%s", cidrs[i]);
    return p;
}

static int allowed(const struct conf_upstream_policy *p, const char *hostport)
{
    struct upstream u;
    cr_assert_eq(addr_parse_upstream(hostport, strlen(hostport), UPSTREAM_HTTP, &u, NULL), PF_OK,
                 "%s", hostport);
    return addr_validate_upstream(&u, p, NULL) == PF_OK;
}

/* allow_private as a CIDR list: only those nets; metadata only when a CIDR
 * names exactly that host. */
Test(addr, policy_cidr_list)
{
    static const char *const cidrs[] = { "127.0.0.0/8", "10.1.0.0/16", "169.254.0.0/16",
                                         "100.64.0.0/10", "::1/128" };
    struct conf_upstream_policy p = policy_of(cidrs, PF_ARRAY_LEN(cidrs));
    cr_expect(allowed(&p, "127.0.0.1:80"));
    cr_expect(allowed(&p, "[::1]:80"));
    cr_expect(allowed(&p, "10.1.2.3:80"));
    cr_expect(!allowed(&p, "10.2.0.1:80"), "outside every CIDR");
    cr_expect(!allowed(&p, "192.168.1.1:80"));
    cr_expect(allowed(&p, "169.254.1.1:80"), "link-local inside the /16");
    cr_expect(!allowed(&p, "169.254.169.254:80"), "metadata not admitted by a wider range");
    cr_expect(!allowed(&p, "100.100.100.200:80"), "metadata not admitted by 100.64/10");
    cr_expect(allowed(&p, "8.8.8.8:80"), "public always passes");
    cr_expect(!allowed(&p, "168.63.129.16:80"), "Azure's public-range metadata address");
    cr_expect(allowed(&p, "localhost:80"), "localhost counts as 127.0.0.1");

    static const char *const meta[] = { "169.254.169.254/32", "fd00:ec2::254/128" };
    struct conf_upstream_policy m = policy_of(meta, PF_ARRAY_LEN(meta));
    cr_expect(allowed(&m, "169.254.169.254:80"), "listed explicitly");
    cr_expect(allowed(&m, "[::ffff:169.254.169.254]:80"), "its mapped form too");
    cr_expect(allowed(&m, "[fd00:ec2::254]:80"));
    cr_expect(!allowed(&m, "169.254.170.2:80"), "another metadata address");
    cr_expect(!allowed(&m, "127.0.0.1:80"));
    cr_expect(!allowed(&m, "localhost:80"));
    cr_expect(!allowed(NULL, "localhost:80"));
}

struct parts_case {
    char host[48];
    char port[8];
    char user[24];
    char pass[24];
    int  rc;
    char reason[40];      /* substring; "" = not checked */
};

Test(addr, upstream_from_parts)
{
    static const struct parts_case cases[] = {
        { "203.0.113.10", "8080", "u1", "p:w@d%41", PF_OK, "" },
        { "[2001:db8::1]", "1080", "", "", PF_OK, "" },
        { "2001:db8::1", "1080", "", "", PF_OK, "" },
        { "Proxy.Example.COM", "80", "a", "", PF_OK, "" },
        { "203.0.113.10", "0", "u", "p", PF_EINVAL, "port" },
        { "203.0.113.10", "123456", "u", "p", PF_EINVAL, "port" },
        { "203.0.113.10", "80x", "u", "p", PF_EINVAL, "port" },
        { "", "80", "u", "p", PF_EINVAL, "missing host" },
        { "bad_host", "80", "u", "p", PF_EINVAL, "host" },
        { "203.0.113.10", "80", "", "secret", PF_EINVAL, "without user" },
        { "203.0.113.10", "80", "u", "sp ace", PF_EINVAL, "password" },
        { "203.0.113.10", "80", "u\x01", "p", PF_EINVAL, "user" },
        { "1.2.3.4/x", "80", "u", "p", PF_EINVAL, "host" },
    };
    for (size_t i = 0; i < PF_ARRAY_LEN(cases); i++) {
        const struct parts_case *c = &cases[i];
        struct addr_parts parts = {
            c->host, strlen(c->host), c->port, strlen(c->port),
            c->user, strlen(c->user), c->pass, strlen(c->pass),
        };
        struct upstream u;
        struct pf_err err = { 0 };
        int rc = addr_upstream_from_parts(UPSTREAM_SOCKS5, &parts, &u, &err);
        cr_expect_eq(rc, c->rc, "case %zu: rc %d (%s)", i, rc, err.msg);
        if (rc == PF_OK) {
            cr_expect_eq(u.scheme, UPSTREAM_SOCKS5, "case %zu", i);
            cr_expect_str_eq(u.user, c->user, "case %zu", i);
            cr_expect_str_eq(u.pass, c->pass, "case %zu: raw, not percent-decoded", i);
            cr_expect_eq(u.weight, 1, "case %zu", i);
        } else {
            cr_expect(strstr(err.msg, c->reason) != NULL, "case %zu: '%s'", i, err.msg);
            if (strlen(c->pass) >= 4)
                cr_expect(strstr(err.msg, c->pass) == NULL, "case %zu: password in reason", i);
        }
    }
    struct addr_parts v6 = { "2001:db8::1", 11, "1080", 4, NULL, 0, NULL, 0 };
    struct upstream u;
    cr_assert_eq(addr_upstream_from_parts(UPSTREAM_HTTP, &v6, &u, NULL), PF_OK);
    cr_expect_eq(u.host_kind, UPSTREAM_HOST_IPV6);
    cr_expect_str_eq(u.host, "2001:db8::1");
}

static struct sockaddr_storage sa_of(const char *ip)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
    if (inet_pton(AF_INET, ip, &sin->sin_addr) == 1) {
        sin->sin_family = AF_INET;
    } else {
        cr_assert_eq(inet_pton(AF_INET6, ip, &sin6->sin6_addr), 1, "bad test ip %s", ip);
        sin6->sin6_family = AF_INET6;
    }
    return ss;
}

struct class_case {
    const char *ip;
    enum addr_class cls;
};

static const struct class_case class_cases[] = {
    { "8.8.8.8", ADDR_PUBLIC },
    { "192.0.2.1", ADDR_PUBLIC },          /* documentation: public */
    { "2001:db8::5", ADDR_PUBLIC },
    { "127.255.0.1", ADDR_LOOPBACK },
    { "::1", ADDR_LOOPBACK },
    { "10.255.255.255", ADDR_PRIVATE },
    { "172.31.255.255", ADDR_PRIVATE },
    { "100.127.255.255", ADDR_PRIVATE },
    { "fc00::1", ADDR_PRIVATE },
    { "fdff::1", ADDR_PRIVATE },
    { "169.254.0.1", ADDR_LINK_LOCAL },
    { "fe80::1", ADDR_LINK_LOCAL },
    { "febf::1", ADDR_LINK_LOCAL },
    { "169.254.169.254", ADDR_METADATA },
    { "169.254.170.2", ADDR_METADATA },
    { "100.100.100.200", ADDR_METADATA },
    { "168.63.129.16", ADDR_METADATA },
    { "168.63.129.17", ADDR_PUBLIC },
    { "100.100.100.201", ADDR_PRIVATE },
    { "169.254.170.3", ADDR_LINK_LOCAL },
    { "fd00:ec2::254", ADDR_METADATA },
    { "239.255.255.255", ADDR_MULTICAST },
    { "ff00::", ADDR_MULTICAST },
    { "0.1.2.3", ADDR_UNSPECIFIED },
    { "::", ADDR_UNSPECIFIED },
    { "240.0.0.1", ADDR_RESERVED },
    { "255.255.255.255", ADDR_RESERVED },
    { "192.0.0.255", ADDR_RESERVED },
    { "198.19.255.255", ADDR_RESERVED },
    { "198.20.0.1", ADDR_PUBLIC },
    { "::ffff:169.254.169.254", ADDR_METADATA },
    { "::ffff:1.1.1.1", ADDR_PUBLIC },
    { "64:ff9b::7f00:1", ADDR_LOOPBACK },
};

Test(addr, classify_table)
{
    for (size_t i = 0; i < PF_ARRAY_LEN(class_cases); i++) {
        struct sockaddr_storage ss = sa_of(class_cases[i].ip);
        enum addr_class c = addr_classify((struct sockaddr *)&ss);
        cr_expect_eq(c, class_cases[i].cls, "case %zu (%s): got %s", i, class_cases[i].ip,
                     addr_class_name(c));
    }
}

Test(addr, class_names)
{
    cr_expect_str_eq(addr_class_name(ADDR_PUBLIC), "public");
    cr_expect_str_eq(addr_class_name(ADDR_LINK_LOCAL), "link-local");
    cr_expect_str_eq(addr_class_name(ADDR_RESERVED), "reserved");
}

struct cidr_case {
    const char *cidr;
    const char *ip;
    int         is_match;
};

static const struct cidr_case cidr_cases[] = {
    { "127.0.0.1/32", "127.0.0.1", 1 },
    { "127.0.0.1/32", "127.0.0.2", 0 },
    { "127.0.0.1", "127.0.0.1", 1 },
    { "10.0.0.0/8", "10.200.1.1", 1 },
    { "10.0.0.0/8", "11.0.0.1", 0 },
    { "10.1.2.3/8", "10.9.9.9", 1 },          /* host bits masked */
    { "192.168.4.0/22", "192.168.7.255", 1 },
    { "192.168.4.0/22", "192.168.8.0", 0 },
    { "0.0.0.0/0", "203.0.113.9", 1 },
    { "0.0.0.0/0", "2001:db8::1", 0 },
    { "10.0.0.0/8", "::ffff:10.1.1.1", 1 },  /* mapped matches v4 */
    { "2001:db8::/32", "2001:db8:ffff::1", 1 },
    { "2001:db8::/32", "2001:db9::1", 0 },
    { "fd00::/7", "fc12::1", 1 },
    { "::1", "::1", 1 },
    { "::1/128", "::2", 0 },
    { "::/0", "1.2.3.4", 0 },
    { "2001:db8::/33", "2001:db8:8000::1", 0 },
};

Test(addr, cidr_match_table)
{
    for (size_t i = 0; i < PF_ARRAY_LEN(cidr_cases); i++) {
        struct conf_cidr c;
        struct pf_err err = { 0 };
        cr_assert_eq(addr_cidr_parse(cidr_cases[i].cidr, &c, &err), PF_OK, "case %zu: %s", i, err.msg);
        struct sockaddr_storage ss = sa_of(cidr_cases[i].ip);
        cr_expect_eq(addr_cidr_match(&c, (struct sockaddr *)&ss), cidr_cases[i].is_match,
                     "case %zu: %s in %s", i, cidr_cases[i].ip, cidr_cases[i].cidr);
    }
}

Test(addr, cidr_parse_fields)
{
    struct conf_cidr c;
    cr_assert_eq(addr_cidr_parse("10.1.2.3/8", &c, NULL), PF_OK);
    cr_expect_eq(c.family, AF_INET);
    cr_expect_eq(c.prefix_len, 8);
    cr_expect_eq(c.addr[0], 10);
    cr_expect_eq(c.addr[1], 0);
    cr_assert_eq(addr_cidr_parse("2001:db8::1", &c, NULL), PF_OK);
    cr_expect_eq(c.family, AF_INET6);
    cr_expect_eq(c.prefix_len, 128);
}

Test(addr, cidr_parse_bad)
{
    static const char *const bad[] = {
        "", "10.0.0.0/", "10.0.0.0/33", "::/129", "10.0.0.0/8/8", "10.0.0.0/-1",
        "10.0.0.0/+8", "10.0.0/8", "host.example/8", "10.0.0.0/0008", " 10.0.0.0/8",
        "10.0.0.0/8 ",
    };
    for (size_t i = 0; i < PF_ARRAY_LEN(bad); i++) {
        struct conf_cidr c;
        cr_expect_eq(addr_cidr_parse(bad[i], &c, NULL), PF_EINVAL, "case %zu (%s)", i, bad[i]);
    }
    struct conf_cidr c;
    cr_expect_eq(addr_cidr_parse(NULL, &c, NULL), PF_EINVAL);
}

Test(addr, format_safe_and_id)
{
    struct upstream u;
    char buf[UPSTREAM_ID_MAX];
    const char *s = "socks5://alice:pw@[2001:db8::1]:1080";
    cr_assert_eq(addr_parse_upstream(s, strlen(s), UPSTREAM_HTTP, &u, NULL), PF_OK);
    addr_format_safe(&u, buf, sizeof(buf));
    cr_expect_str_eq(buf, "socks5://[2001:db8::1]:1080");
    addr_upstream_id(&u, buf, sizeof(buf));
    /* FNV-1a 32 of "alice" is 0xc84ff35e... computed below independently. */
    uint32_t h = 0x811c9dc5u;
    for (const char *p = "alice"; *p; p++) {
        h ^= (uint8_t)*p;
        h *= 0x01000193u;
    }
    char want[64];
    snprintf(want, sizeof(want), "socks5://[2001:db8::1]:1080#%08x", h);
    cr_expect_str_eq(buf, want);
    cr_expect(strstr(buf, "pw") == NULL);
}

Test(addr, id_without_user_is_safe_format)
{
    struct upstream u;
    char buf[UPSTREAM_ID_MAX];
    cr_assert_eq(addr_parse_upstream("203.0.113.10:8080", 17, UPSTREAM_HTTP, &u, NULL), PF_OK);
    addr_upstream_id(&u, buf, sizeof(buf));
    cr_expect_str_eq(buf, "http://203.0.113.10:8080");
}

Test(addr, fnv1a_known_vector)
{
    /* FNV-1a 32-bit of "a" is 0xe40c292c (reference test vector). */
    struct upstream u;
    char buf[UPSTREAM_ID_MAX];
    cr_assert_eq(addr_parse_upstream("a:b@1.2.3.4:80", 14, UPSTREAM_HTTP, &u, NULL), PF_OK);
    addr_upstream_id(&u, buf, sizeof(buf));
    cr_expect_str_eq(buf, "http://1.2.3.4:80#e40c292c");
}

Test(addr, format_truncates_and_terminates)
{
    struct upstream u;
    char buf[10];
    cr_assert_eq(addr_parse_upstream("203.0.113.10:8080", 17, UPSTREAM_HTTP, &u, NULL), PF_OK);
    memset(buf, 'X', sizeof(buf));
    addr_format_safe(&u, buf, sizeof(buf));
    cr_expect_eq(strlen(buf), sizeof(buf) - 1);
    memset(buf, 'X', sizeof(buf));
    addr_upstream_id(&u, buf, 5);
    cr_expect_eq(strlen(buf), 4u);
}

struct hp_case {
    const char *in;
    int rc;
    const char *host;
    unsigned port;
};

static const struct hp_case hp_cases[] = {
    { "127.0.0.1:3128", PF_OK, "127.0.0.1", 3128 },
    { "[::1]:9100", PF_OK, "::1", 9100 },
    { "0.0.0.0:1", PF_OK, "0.0.0.0", 1 },
    { "localhost:8080", PF_OK, "localhost", 8080 },
    { "127.0.0.1", PF_EINVAL, NULL, 0 },
    { ":3128", PF_EINVAL, NULL, 0 },
    { "127.0.0.1:0", PF_EINVAL, NULL, 0 },
    { "::1:80", PF_EINVAL, NULL, 0 },
    { "u@127.0.0.1:80", PF_EINVAL, NULL, 0 },
    { "", PF_EINVAL, NULL, 0 },
};

Test(addr, parse_hostport_table)
{
    for (size_t i = 0; i < PF_ARRAY_LEN(hp_cases); i++) {
        char host[UPSTREAM_HOST_MAX];
        uint16_t port = 0;
        int rc = addr_parse_hostport(hp_cases[i].in, host, sizeof(host), &port, NULL);
        cr_expect_eq(rc, hp_cases[i].rc, "case %zu (%s)", i, hp_cases[i].in);
        if (rc == PF_OK && hp_cases[i].rc == PF_OK) {
            cr_expect_str_eq(host, hp_cases[i].host, "case %zu", i);
            cr_expect_eq(port, hp_cases[i].port, "case %zu", i);
        }
    }
}

Test(addr, scheme_names)
{
    cr_expect_str_eq(addr_scheme_name(UPSTREAM_HTTP), "http");
    cr_expect_str_eq(addr_scheme_name(UPSTREAM_HTTPS), "https");
    cr_expect_str_eq(addr_scheme_name(UPSTREAM_SOCKS5), "socks5");
    cr_expect_str_eq(addr_scheme_name(UPSTREAM_SOCKS5H), "socks5h");
}

Test(addr, ip_to_sockaddr)
{
    struct sockaddr_storage ss;
    socklen_t len = 0;
    cr_assert_eq(addr_ip_to_sockaddr("10.1.2.3", 8080, &ss, &len), PF_OK);
    const struct sockaddr_in *s4 = (const struct sockaddr_in *)&ss;
    cr_expect_eq(ss.ss_family, AF_INET);
    cr_expect_eq(len, sizeof(struct sockaddr_in));
    cr_expect_eq(ntohs(s4->sin_port), 8080);
    cr_expect_eq(ntohl(s4->sin_addr.s_addr), 0x0a010203u);
    cr_assert_eq(addr_ip_to_sockaddr("2001:db8::1", 443, &ss, &len), PF_OK);
    const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)&ss;
    cr_expect_eq(ss.ss_family, AF_INET6);
    cr_expect_eq(len, sizeof(struct sockaddr_in6));
    cr_expect_eq(ntohs(s6->sin6_port), 443);
    cr_expect_eq(s6->sin6_addr.s6_addr[0], 0x20);
    cr_expect_eq(s6->sin6_addr.s6_addr[15], 0x01);
    cr_expect_eq(addr_ip_to_sockaddr("2001:db8::1", 0, &ss, NULL), PF_OK);
    static const char *const names[] = { "example.com", "[::1]", "10.1.2.3:80", "", "1.2.3", "localhost" };
    for (size_t i = 0; i < PF_ARRAY_LEN(names); i++) {
        cr_expect_eq(addr_ip_to_sockaddr(names[i], 80, &ss, &len), PF_EINVAL, "%s", names[i]);
        cr_expect_eq(ss.ss_family, AF_UNSPEC, "%s", names[i]);
    }
}
