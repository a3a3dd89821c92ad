/* libFuzzer target: common/redis_proto.c on what Redis servers and
 * sentinels send: error texts, ROLE, the master address and the
 * +switch-master notice. The first byte picks the parser; for the master
 * address, the second byte splits the rest into host and port. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "redis_proto.h"
#include "upstream-t.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_check_addr(const char *host, size_t host_len, uint16_t port)
{
    size_t n = strnlen(host, host_len);
    if (n == 0 || n >= host_len || port == 0)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char host[UPSTREAM_HOST_MAX];
    uint16_t port = 0;
    struct pf_err err;
    int rc;

    if (size == 0)
        return 0;
    const char *s = (const char *)data + 1;
    size_t n = size - 1;
    memset(&err, 0, sizeof(err));
    switch (data[0] % 4) {
    case 0: {
        enum redis_proto_error e = redis_proto_error_class(s, n);
        if (e != REDIS_PROTO_ERR_OTHER && e != REDIS_PROTO_ERR_AUTH &&
            e != REDIS_PROTO_ERR_READONLY)
            abort();
        break;
    }
    case 1: {
        enum redis_proto_role r = redis_proto_role(s, n);
        if (redis_proto_role_name(r) == NULL)
            abort();
        break;
    }
    case 2: {
        if (n == 0)
            return 0;
        size_t split = (unsigned char)s[0] % n;
        rc = redis_proto_master_addr(s + 1, split, s + 1 + split, n - 1 - split, host,
                                     sizeof(host), &port, &err);
        if (rc != PF_OK && rc != PF_EINVAL)
            abort();
        if (rc == PF_OK)
            fuzz_check_addr(host, sizeof(host), port);
        else if (err.msg[0] == '\0' || host[0] != '\0')
            abort();
        break;
    }
    default:
        rc = redis_proto_switch_master(s, n, "pfmaster", host, sizeof(host), &port, &err);
        if (rc != PF_OK && rc != PF_EINVAL && rc != PF_ENOENT)
            abort();
        if (rc == PF_OK)
            fuzz_check_addr(host, sizeof(host), port);
        if (rc == PF_EINVAL && err.msg[0] == '\0')
            abort();
        break;
    }
    return 0;
}
