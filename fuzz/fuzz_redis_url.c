/* libFuzzer target: common/redis_url.c on redis.url and PF_REDIS_URL, the
 * operator's text. An accepted URL must hold what the header promises; a
 * refused one must leave nothing behind and its reason must not quote the
 * input (which may carry the password). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "redis_url.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Bytes no reason of redis_url.c contains: one of them in a reason means
 * the input was echoed. */
static const char fuzz_never_in_reasons[] = "~^|$`{}!*";

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
        if (buf[0] == '\0' || strlen(buf) >= sizeof(buf))
            abort();
        return 0;
    }
    if (err.msg[0] == '\0' || u.pass[0] != '\0' || u.user[0] != '\0')
        abort();
    if (strpbrk(err.msg, fuzz_never_in_reasons) != NULL)
        abort();
    return 0;
}
