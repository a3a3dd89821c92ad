/* libFuzzer target: common/addr.c on untrusted provider lines. Every address
 * that parses must validate, format and survive a snapshot round trip. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "snapshot.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct upstream u;
    struct pf_err err;
    char buf[UPSTREAM_ID_MAX];

    int rc = addr_parse_upstream((const char *)data, size, UPSTREAM_HTTP, &u, &err);
    if (rc != PF_OK && rc != PF_EINVAL)
        abort();
    if (rc == PF_OK) {
        if (u.port == 0 || u.host[0] == '\0' || u.weight != 1)
            abort();
        static const struct conf_upstream_policy all = { .is_private_allowed = 1 };
        rc = addr_validate_upstream(&u, NULL, &err);
        if (rc != PF_OK && rc != PF_EDENIED)
            abort();
        /* true admits every class but metadata, which NULL denies too */
        int is_all = addr_validate_upstream(&u, &all, &err);
        if (is_all != PF_OK && (is_all != PF_EDENIED || rc != PF_EDENIED ||
                                strstr(err.msg, "metadata") == NULL))
            abort();
        addr_format_safe(&u, buf, sizeof(buf));
        addr_upstream_id(&u, buf, sizeof(buf));

        char *json = snapshot_record_encode(&u, NULL);
        if (json != NULL) {
            struct upstream v;
            if (snapshot_record_decode(json, strlen(json), NULL, &v, &err) != PF_OK)
                abort();
            if (memcmp(&u, &v, sizeof(u)) != 0)
                abort();
            free(json);
        }
    }

    /* The same bytes as a listener address and as a CIDR. */
    char *s = malloc(size + 1);
    if (s == NULL)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    char host[UPSTREAM_HOST_MAX];
    uint16_t port;
    rc = addr_parse_hostport(s, host, sizeof(host), &port, &err);
    if (rc != PF_OK && rc != PF_EINVAL)
        abort();
    struct conf_cidr c;
    rc = addr_cidr_parse(s, &c, &err);
    if (rc != PF_OK && rc != PF_EINVAL)
        abort();
    free(s);
    return 0;
}
