/* Unit tests for common/redis_url.c: every accepted form with what it
 * parses into, every refused form with its exact reason, and that no
 * reason quotes the credentials. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "redis_url.h"

struct ok_case {
    char url[160];
    int  kind;
    char host[64];
    unsigned port;
    char path[120];
    int  db;
    char user[32];
    char pass[32];
};

static const struct ok_case ok_cases[] = {
    { "redis://127.0.0.1:6379/0", REDIS_URL_TCP, "127.0.0.1", 6379, "", 0, "", "" },
    { "redis://127.0.0.1", REDIS_URL_TCP, "127.0.0.1", 6379, "", 0, "", "" },
    { "redis://cache/", REDIS_URL_TCP, "cache", 6379, "", 0, "", "" },
    { "REDIS://cache:1/15", REDIS_URL_TCP, "cache", 1, "", 15, "", "" },
    { "redis://[::1]:6380/2", REDIS_URL_TCP, "::1", 6380, "", 2, "", "" },
    { "redis://[::1]", REDIS_URL_TCP, "::1", 6379, "", 0, "", "" },
    /* the default user: AUTH <password> */
    { "redis://:pw@10.0.0.1:7000/3", REDIS_URL_TCP, "10.0.0.1", 7000, "", 3, "", "pw" },
    /* an ACL user: AUTH <user> <password> */
    { "redis://pfuser:pfpass@redis.example:6380/1", REDIS_URL_TCP, "redis.example", 6380, "", 1,
      "pfuser", "pfpass" },
    { "redis://us%65r:p%40ss@h", REDIS_URL_TCP, "h", 6379, "", 0, "user", "p@ss" },
    /* raw '@', '/' and ':' in a password: the userinfo ends at the last '@' */
    { "redis://u:a@b/c:d@h:1/2", REDIS_URL_TCP, "h", 1, "", 2, "u", "a@b/c:d" },
    /* no credentials at all */
    { "redis://:@h", REDIS_URL_TCP, "h", 6379, "", 0, "", "" },
    { "unix:///run/redis/redis.sock", REDIS_URL_UNIX, "", 0, "/run/redis/redis.sock", 0, "", "" },
    { "unix:///run/redis.sock?db=5", REDIS_URL_UNIX, "", 0, "/run/redis.sock", 5, "", "" },
    { "UNIX:///tmp/a%20b.sock", REDIS_URL_UNIX, "", 0, "/tmp/a b.sock", 0, "", "" },
    { "unix://:pw@/run/r.sock", REDIS_URL_UNIX, "", 0, "/run/r.sock", 0, "", "pw" },
    { "unix://app:pw@/run/r.sock?db=65535", REDIS_URL_UNIX, "", 0, "/run/r.sock", 65535, "app",
      "pw" },
};

Test(redis_url, accepted_forms)
{
    for (size_t i = 0; i < PF_ARRAY_LEN(ok_cases); i++) {
        const struct ok_case *c = &ok_cases[i];
        struct redis_url u;
        struct pf_err err = { 0 };
        int rc = redis_url_parse(c->url, strlen(c->url), &u, &err);
        cr_assert_eq(rc, PF_OK, "case %zu (%s): %s", i, c->url, err.msg);
        cr_expect_eq((int)u.kind, c->kind, "case %zu", i);
        cr_expect_str_eq(u.host, c->host, "case %zu", i);
        cr_expect_eq(u.port, c->port, "case %zu", i);
        cr_expect_str_eq(u.path, c->path, "case %zu", i);
        cr_expect_eq(u.db, c->db, "case %zu", i);
        cr_expect_str_eq(u.user, c->user, "case %zu", i);
        cr_expect_str_eq(u.pass, c->pass, "case %zu", i);
    }
}

struct bad_case {
    char url[200];
    char msg[240];
};

static const struct bad_case bad_cases[] = {
    { "", "empty URL" },
    { "http://127.0.0.1:6379", "must start with redis:// or unix://" },
    { "redis:/h", "must start with redis:// or unix://" },
    { "rediss://:SECRET@cache:6380",
      "rediss:// (TLS) is not supported: hiredis 0.14 has no TLS; run a local TLS tunnel "
      "(stunnel4) and point redis.url at it (docs/configuration.md, \"TLS to Redis\")" },
    { "redis+sentinel://h:26379/m", "Sentinel URLs are not supported: set redis.sentinels "
      "and redis.master_name" },
    /* a user alone is ambiguous (redis-cli reads it as a password): refused */
    { "redis://SECRET@h", "user without a password: write redis://user:password@host for an "
      "ACL user, redis://:password@host for the default user" },
    { "redis://pfuser:@h", "user without a password: write redis://user:password@host for an "
      "ACL user, redis://:password@host for the default user" },
    { "redis://u:SE%zzCRET@h", "bad percent-escape in password" },
    { "redis://u%0:SECRET@h", "bad percent-escape in user" },
    { "redis://u:SECRET%00@h", "bad percent-escape in password" },
    { "redis://:SECRET@", "missing host" },
    { "redis://:SECRET@/1", "missing host" },
    { "redis://h:0", "port 0 out of range" },
    { "redis://h:70000", "port 70000 out of range" },
    { "redis://h:6379/x", "database must be 0..65535" },
    { "redis://h:6379/65536", "database must be 0..65535" },
    { "redis://h:6379/123456", "database must be 0..65535" },
    { "redis://h:6379/0/1", "database must be 0..65535" },
    { "redis://::1:6379", "IPv6 address must be in brackets" },
    { "redis://h:6379/0?password=SECRET", "query parameters are not supported in redis:// URLs "
      "(the database goes in the path: redis://host:port/N)" },
    { "redis://h:6379/0#x", "a fragment (#) is not allowed" },
    { "redis://h a", "invalid character in URL (control, space or non-ASCII; percent-encode it)" },
    { "unix://run/redis.sock", "unix:// needs an absolute socket path "
      "(unix:///run/redis/redis.sock)" },
    { "unix://", "unix:// needs an absolute socket path (unix:///run/redis/redis.sock)" },
    { "unix:///", "missing socket file name" },
    { "unix:///run/redis/", "missing socket file name" },
    { "unix:///run/r.sock?db=x", "database must be 0..65535" },
    { "unix:///run/r.sock?db=1&db=2", "db given twice" },
    { "unix:///run/r.sock?db=1&", "empty query parameter" },
    { "unix:///run/r.sock?password=SECRET", "unknown query parameter (unix:// URLs take only "
      "?db=N)" },
    { "unix:///run/r%zz.sock", "bad percent-escape in socket path" },
};

Test(redis_url, refused_forms_with_reasons)
{
    for (size_t i = 0; i < PF_ARRAY_LEN(bad_cases); i++) {
        const struct bad_case *c = &bad_cases[i];
        struct redis_url u;
        struct pf_err err = { 0 };
        int rc = redis_url_parse(c->url, strlen(c->url), &u, &err);
        cr_expect_eq(rc, PF_EINVAL, "case %zu (%s): rc %d", i, c->url, rc);
        cr_expect_str_eq(err.msg, c->msg, "case %zu (%s)", i, c->url);
        cr_expect(strstr(err.msg, "SECRET") == NULL, "case %zu leaks", i);
        /* nothing of a refused URL is kept, credentials included */
        cr_expect_eq(u.pass[0], '\0', "case %zu", i);
        cr_expect_eq(u.user[0], '\0', "case %zu", i);
    }
}

Test(redis_url, length_limits)
{
    char url[REDIS_URL_MAX + 16];
    struct redis_url u;
    struct pf_err err = { 0 };

    /* a socket path of 107 bytes fits sun_path, 108 does not */
    int n = snprintf(url, sizeof(url), "unix:///");
    memset(url + n, 'a', 106);
    url[n + 106] = '\0';
    cr_expect_eq(redis_url_parse(url, strlen(url), &u, &err), PF_OK, "%s", err.msg);
    cr_expect_eq(strlen(u.path), 107);
    url[n + 106] = 'a';
    url[n + 107] = '\0';
    cr_expect_eq(redis_url_parse(url, strlen(url), &u, &err), PF_EINVAL);
    cr_expect_str_eq(err.msg, "socket path longer than 107 bytes");

    /* a password of 255 bytes fits, 256 does not */
    n = snprintf(url, sizeof(url), "redis://:");
    memset(url + n, 'p', 255);
    snprintf(url + n + 255, sizeof(url) - (size_t)n - 255, "@h");
    cr_expect_eq(redis_url_parse(url, strlen(url), &u, &err), PF_OK, "%s", err.msg);
    cr_expect_eq(strlen(u.pass), 255);
    memset(url + n, 'p', 256);
    snprintf(url + n + 256, sizeof(url) - (size_t)n - 256, "@h");
    cr_expect_eq(redis_url_parse(url, strlen(url), &u, &err), PF_EINVAL);
    cr_expect_str_eq(err.msg, "password longer than 255 bytes");

    memset(url, 'a', REDIS_URL_MAX);
    memcpy(url, "redis://", 8);
    cr_expect_eq(redis_url_parse(url, REDIS_URL_MAX, &u, &err), PF_EINVAL);
    cr_expect_str_eq(err.msg, "longer than 2047 bytes");
}

Test(redis_url, length_is_explicit)
{
    /* Only <len> bytes are read: the NUL-free tail is never looked at. */
    static const char s[] = "redis://h:1/2XXXX";
    struct redis_url u;
    cr_assert_eq(redis_url_parse(s, 13, &u, NULL), PF_OK);
    cr_expect_eq(u.db, 2);
    cr_expect_eq(redis_url_parse(s, 0, &u, NULL), PF_EINVAL);
    cr_expect_eq(redis_url_parse(NULL, 4, &u, NULL), PF_EINVAL);
}

Test(redis_url, format_addr_has_no_credentials)
{
    struct redis_url u;
    char buf[160];
    static const char *const urls[] = {
        "redis://user:SECRET@10.0.0.1:6380/1", "redis://:SECRET@[::1]:7000",
        "unix://u:SECRET@/run/redis.sock?db=2",
    };
    static const char *const want[] = { "10.0.0.1:6380", "[::1]:7000", "unix:/run/redis.sock" };
    for (size_t i = 0; i < PF_ARRAY_LEN(urls); i++) {
        cr_assert_eq(redis_url_parse(urls[i], strlen(urls[i]), &u, NULL), PF_OK);
        redis_url_format_addr(&u, buf, sizeof(buf));
        cr_expect_str_eq(buf, want[i]);
    }
    redis_url_format_addr(&u, buf, 5);
    cr_expect_str_eq(buf, "unix");
}
