/* libFuzzer target: common/snapshot.c on records read back from Redis.
 * A record that decodes must re-encode and decode to the same upstream. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "snapshot.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct upstream u, v;
    struct pf_err err;

    int rc = snapshot_record_decode((const char *)data, size, NULL, &u, &err);
    if (rc != PF_OK && rc != PF_EINVAL)
        abort();
    if (rc != PF_OK)
        return 0;
    if (u.port == 0 || u.weight == 0 || u.host[0] == '\0')
        abort();
    char *json = snapshot_record_encode(&u, NULL);
    if (json == NULL)
        return 0;
    if (snapshot_record_decode(json, strlen(json), NULL, &v, &err) != PF_OK)
        abort();
    if (memcmp(&u, &v, sizeof(u)) != 0)
        abort();
    free(json);
    return 0;
}
