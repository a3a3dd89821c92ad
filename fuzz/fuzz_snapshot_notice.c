/* libFuzzer target: common/snapshot.c on the pool notice and pool:meta
 * values read from Redis. A notice that parses must format back to the
 * same bytes; a meta value that is accepted must hold what it claims. The
 * first byte picks the meta field the rest is fed to. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "snapshot.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const fields[] = {
        SNAPSHOT_META_VERSION, SNAPSHOT_META_EPOCH, SNAPSHOT_META_COUNT, "other",
    };
    const char *s = (const char *)data;
    int64_t version = 0;
    char epoch[SNAPSHOT_EPOCH_MAX];
    char back[SNAPSHOT_NOTICE_MAX];

    int rc = snapshot_notice_parse(s, size, &version, epoch);
    if (rc != PF_OK && rc != PF_EINVAL)
        abort();
    if (rc == PF_OK) {
        if (version < 1 || !snapshot_epoch_valid(epoch, strlen(epoch)))
            abort();
        if (snapshot_notice_format(back, sizeof(back), version, epoch) != PF_OK ||
            strlen(back) != size || memcmp(back, s, size) != 0)
            abort();
    }

    if (size == 0)
        return 0;
    const char *field = fields[data[0] % 4];
    struct snapshot_meta m;
    struct pf_err err;
    snapshot_meta_init(&m);
    rc = snapshot_meta_field(&m, field, strlen(field), s + 1, size - 1, &err);
    if (rc != PF_OK && rc != PF_EINVAL)
        abort();
    if (rc == PF_OK && m.has_version && m.version < 1)
        abort();
    if (rc == PF_OK && m.epoch[0] != '\0' && !snapshot_epoch_valid(m.epoch, strlen(m.epoch)))
        abort();
    if (m.count != -1 && m.count < 1)
        abort();
    rc = snapshot_meta_finish(&m, &err);
    if (rc != PF_OK && rc != PF_EINVAL && rc != PF_ENOENT)
        abort();
    return 0;
}
