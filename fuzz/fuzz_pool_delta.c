/* libFuzzer target: common/pool_delta.c on pool:log entries read from Redis
 * (untrusted). The input is an entry id and field/value pairs framed as
 * fuzz/pool_delta_input.h says; an accepted entry must hold what it claims
 * (pool_delta_input_check), and the collapse of its ops must keep one
 * change per id. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pool_delta.h"
#include "pool_delta_input.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct snapshot_pair pairs[POOL_DELTA_INPUT_MAX_PAIRS];
    struct pool_delta_change ch[POOL_DELTA_INPUT_MAX_PAIRS];
    const char *sid = NULL;
    size_t sid_len = 0;
    size_t np = pool_delta_input_split((const char *)data, size, &sid, &sid_len, pairs);
    struct pool_delta_head h;
    struct pf_err err;
    int rc = pool_delta_parse(sid, sid_len, pairs, np, &h, &err);
    if (rc != PF_OK && rc != PF_EINVAL)
        abort();
    if (rc != PF_OK)
        return 0;
    if (!pool_delta_input_check(pairs, np, &h))
        abort();
    for (size_t i = 0; i < h.nops; i++) {
        struct pool_delta_op op;
        pool_delta_op_at(pairs, i, &op);
        ch[i].id = op.id;
        ch[i].id_len = op.id_len;
        ch[i].seq = i;
        ch[i].data = NULL;
    }
    size_t kept = pool_delta_collapse(ch, h.nops, NULL, NULL);
    for (size_t i = 1; i < kept; i++)
        if (ch[i - 1].id_len == ch[i].id_len && memcmp(ch[i - 1].id, ch[i].id, ch[i].id_len) == 0)
            abort();
    return 0;
}
