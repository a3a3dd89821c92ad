/* Address parsing and validation for upstream proxies and destinations.
 * Pure: no DNS, no sockets; callers pass resolved addresses to classify. */
#ifndef PF_ADDR_H
#define PF_ADDR_H

#include <stddef.h>
#include <sys/socket.h>

#include "addr-t.h"
#include "err.h"
#include "upstream-t.h"

enum addr_class {
    ADDR_PUBLIC = 0,
    ADDR_LOOPBACK,       /* 127/8, ::1 */
    ADDR_PRIVATE,        /* 10/8, 172.16/12, 192.168/16, 100.64/10 (CGNAT), fc00::/7 */
    ADDR_LINK_LOCAL,     /* 169.254/16, fe80::/10 */
    ADDR_METADATA,       /* cloud metadata: 169.254.169.254, 169.254.170.2 (AWS ECS),
                            fd00:ec2::254, 100.100.100.200 (Alibaba), 168.63.129.16 (Azure) */
    ADDR_MULTICAST,      /* 224/4, ff00::/8 */
    ADDR_UNSPECIFIED,    /* 0.0.0.0/8, :: */
    ADDR_RESERVED,       /* 240/4, 255.255.255.255, documentation ranges are PUBLIC */
};

/* Parses one upstream address of <len> bytes at <s> into <out>:
 *   host:port | user:pass@host:port | scheme://[user[:pass]@]host:port[/]
 * scheme is http, https, socks5 or socks5h (case-insensitive); <default_scheme>
 * applies when absent. IPv6 hosts are bracketed: [2001:db8::1]:8080.
 * Credentials are percent-decoded. Hostnames follow RFC 1123 (labels of
 * [A-Za-z0-9-], 1..63 chars, total <= 253). Leading/trailing blanks are
 * trimmed. <out>->provider, expires_at_ms are left 0/"", weight is 1.
 * Returns PF_OK or PF_EINVAL with a reason that never contains the password,
 * e.g. "missing host", "port 0 out of range", "unsupported scheme 'ftp'". */
int addr_parse_upstream(const char *s, size_t len, enum upstream_scheme default_scheme,
                        struct upstream *out, struct pf_err *err) PF_MUSTCHECK;

/* An entry split into its parts (a line_format template, a
 * host:port:user:pass line): untrusted bytes, not NUL-terminated. */
struct addr_parts {
    const char *host;            /* IPv6 with or without brackets */
    size_t      host_len;
    const char *port;            /* digits */
    size_t      port_len;
    const char *user;            /* raw (not percent-decoded); len 0 = none */
    size_t      user_len;
    const char *pass;            /* raw; len 0 = none */
    size_t      pass_len;
};

/* Builds <out> with scheme <scheme> from <parts>: host and port checked as
 * addr_parse_upstream() checks them; user and password taken as they are
 * (printable ASCII without blanks, each under UPSTREAM_CRED_MAX, a password
 * needs a user). Returns PF_OK or PF_EINVAL with a reason built from the
 * parts' kinds, never their bytes ("invalid host name", "password too long"). */
int addr_upstream_from_parts(enum upstream_scheme scheme, const struct addr_parts *parts,
                             struct upstream *out, struct pf_err *err) PF_MUSTCHECK;

/* Whether address <sa> passes upstream policy <p> (NULL = public only):
 * public addresses always; metadata addresses only through a CIDR of
 * p->allow that is exactly that host (/32, /128); any other non-public
 * address when p->is_private_allowed or a CIDR of p->allow holds it.
 * Returns 1 or 0. */
int addr_policy_allows(const struct conf_upstream_policy *p, const struct sockaddr *sa);

/* Rejects an upstream that policy <p> (NULL = public only) does not allow:
 * an IP literal by addr_policy_allows(); a hostname passes (it is checked
 * again once resolved, by the node), except "localhost" and names ending
 * ".localhost", which count as 127.0.0.1. Returns PF_OK, PF_EINVAL for port
 * 0, or PF_EDENIED with e.g. "loopback address 127.0.0.1 not allowed". */
int addr_validate_upstream(const struct upstream *u, const struct conf_upstream_policy *p,
                           struct pf_err *err) PF_MUSTCHECK;

/* Classifies an AF_INET or AF_INET6 socket address. IPv4-mapped IPv6
 * (::ffff:a.b.c.d) is classified as the IPv4 address. */
enum addr_class addr_classify(const struct sockaddr *sa);

/* Fills <ss> with IP literal <ip> (dotted IPv4, or IPv6 without brackets)
 * and <port>; <*len> (may be NULL) gets the length of that family's
 * address. Returns PF_OK, or PF_EINVAL (family AF_UNSPEC in <ss>) when <ip>
 * is not an IP literal: a host name. */
int addr_ip_to_sockaddr(const char *ip, uint16_t port, struct sockaddr_storage *ss,
                        socklen_t *len) PF_MUSTCHECK;

/* Short name of <c>: "public", "loopback", "private", ... */
const char *addr_class_name(enum addr_class c);

/* Parses "a.b.c.d/n", "v6/n" or a bare address (host route) into <out>.
 * Returns PF_OK or PF_EINVAL. */
int addr_cidr_parse(const char *s, struct conf_cidr *out, struct pf_err *err) PF_MUSTCHECK;

/* Returns 1 when <sa> lies inside <c>. */
int addr_cidr_match(const struct conf_cidr *c, const struct sockaddr *sa);

/* Writes "scheme://host:port" (IPv6 bracketed) into <buf>: never credentials.
 * Use it for every log line about an upstream. Always NUL-terminates. */
void addr_format_safe(const struct upstream *u, char *buf, size_t len);

/* Writes the upstream id used in Redis: addr_format_safe() plus, when a user
 * is set, "#" and 8 hex digits of FNV-1a(user). Always NUL-terminates. */
void addr_upstream_id(const struct upstream *u, char *buf, size_t len);

/* Parses "host:port" / "[v6]:port" of a listener into <host> and <port>. */
int addr_parse_hostport(const char *s, char *host, size_t host_len, uint16_t *port,
                        struct pf_err *err) PF_MUSTCHECK;

/* Returns "http", "https", "socks5" or "socks5h". */
const char *addr_scheme_name(enum upstream_scheme s);

#endif
