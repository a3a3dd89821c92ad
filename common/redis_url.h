/* redis.url: the operator's Redis URL parsed into what a connection needs.
 *
 *   redis://[[user]:password@]host[:port][/db]
 *   unix://[[user]:password@]/absolute/path/redis.sock[?db=N]
 *
 * A user with a password sends "AUTH user password" (a Redis 6+ ACL
 * user); a password alone sends "AUTH password" (the default user or
 * requirepass). User and password are percent-decoded; write "%40" for an
 * '@' in a password, "%2F" for a '/' (a raw one is accepted too, since the
 * userinfo ends at the last '@'). rediss:// is refused with a pointer to
 * the TLS tunnel of docs/configuration.md: hiredis 0.14 has no TLS.
 *
 * Pure: no I/O. Error messages never quote the password (nor the user
 * name, nor any raw part of the URL): they are built from parsed parts. */
#ifndef PF_REDIS_URL_H
#define PF_REDIS_URL_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "upstream-t.h"

#define REDIS_URL_MAX           2048
#define REDIS_URL_PATH_MAX      108     /* sizeof(sun_path): 107 chars and the NUL */
#define REDIS_URL_DEFAULT_PORT  6379
#define REDIS_URL_DB_MAX        65535

enum redis_url_kind {
    REDIS_URL_TCP = 0,          /* redis:// */
    REDIS_URL_UNIX,             /* unix:// */
};

struct redis_url {
    enum redis_url_kind kind;
    char     host[UPSTREAM_HOST_MAX];   /* TCP: name or IP (IPv6 without brackets); unix: "" */
    uint16_t port;                      /* TCP: default 6379; unix: 0 */
    char     path[REDIS_URL_PATH_MAX];  /* unix: absolute socket path; TCP: "" */
    int      db;                        /* 0..65535, default 0 */
    char     user[UPSTREAM_CRED_MAX];   /* ACL user; "" = AUTH <password> alone */
    char     pass[UPSTREAM_CRED_MAX];   /* "" = no AUTH; never logged */
};

/* Parses <len> bytes of <s> into <out> (cleared first). Returns PF_OK, or
 * PF_EINVAL with a reason in <err> that never quotes the input. */
int redis_url_parse(const char *s, size_t len, struct redis_url *out,
                    struct pf_err *err) PF_MUSTCHECK;

/* Writes where <u> connects, for a log line: "127.0.0.1:6379", "[::1]:6379"
 * or "unix:/run/redis.sock". No credentials. Always NUL-terminates. */
void redis_url_format_addr(const struct redis_url *u, char *buf, size_t len);

#endif
