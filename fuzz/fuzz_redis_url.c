/* libFuzzer target: common/redis_url.c on redis.url and PF_REDIS_URL, the
 * operator's text. An accepted URL must hold what the header promises; a
 * refused one must leave nothing behind and its reason must not quote the
 * userinfo (which carries the password). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "redis_url.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* 1 when <len> bytes at <s> occur in NUL-terminated <hay>. */
static int fuzz_contains(const char *hay, const char *s, size_t len)
{
    size_t n = strlen(hay);
    for (size_t i = 0; len > 0 && i + len <= n; i++)
        if (memcmp(hay + i, s, len) == 0)
            return 1;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    struct redis_url u;
    struct pf_err err;
    char buf[REDIS_URL_PATH_MAX + 16];

    memset(&err, 0, sizeof(err));
    int rc = redis_url_parse(s, size, &u, &err);
    if (rc != PF_OK && rc != PF_EINVAL)
        abort();
    if (rc == PF_OK) {
        if (u.db < 0 || u.db > REDIS_URL_DB_MAX)
            abort();
        if (u.user[0] != '\0' && u.pass[0] == '\0')
            abort();
        if (u.kind == REDIS_URL_TCP && (u.host[0] == '\0' || u.port == 0 || u.path[0] != '\0'))
            abort();
        if (u.kind == REDIS_URL_UNIX &&
            (u.path[0] != '/' || strlen(u.path) >= REDIS_URL_PATH_MAX || u.host[0] != '\0'))
            abort();
        redis_url_format_addr(&u, buf, sizeof(buf));
        if (u.pass[0] != '\0' && strlen(u.pass) >= 4 && strstr(buf, u.pass) != NULL)
            abort();
        return 0;
    }
    if (err.msg[0] == '\0' || u.pass[0] != '\0' || u.user[0] != '\0')
        abort();
    /* The userinfo: between "://" and the last '@'. */
    const char *p = memmem(s, size, "://", 3);
    if (p != NULL) {
        p += 3;
        const char *at = NULL;
        for (const char *q = p; q < s + size; q++)
            if (*q == '@')
                at = q;
        if (at != NULL && at - p >= 6 && fuzz_contains(err.msg, p, (size_t)(at - p)))
            abort();
    }
    return 0;
}
