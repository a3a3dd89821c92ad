/* The input framing of fuzz/fuzz_pool_delta.c, shared with its corpus
 * replay (tests/unit/test_corpus_common.c) so both feed the parser alike:
 * tokens separated by '\n'; the first is the stream entry id, the rest
 * alternate field, value (a token "\x01" alone stands for a reply element
 * that is not a string: NULL). At most POOL_DELTA_INPUT_MAX_PAIRS pairs. */
#ifndef PF_FUZZ_POOL_DELTA_INPUT_H
#define PF_FUZZ_POOL_DELTA_INPUT_H

#include <stddef.h>
#include <string.h>

#include "pool_delta.h"

#define POOL_DELTA_INPUT_MAX_PAIRS 64

/* Splits <data> into <*sid> and <pairs>; returns the number of pairs. */
static inline size_t pool_delta_input_split(const char *data, size_t len, const char **sid,
                                            size_t *sid_len, struct snapshot_pair *pairs)
{
    const char *tok[2 * POOL_DELTA_INPUT_MAX_PAIRS + 1];
    size_t tlen[2 * POOL_DELTA_INPUT_MAX_PAIRS + 1];
    size_t nt = 0, start = 0;
    for (size_t i = 0; i <= len && nt < 2 * POOL_DELTA_INPUT_MAX_PAIRS + 1; i++) {
        if (i == len || data[i] == '\n') {
            tok[nt] = data + start;
            tlen[nt] = i - start;
            if (tlen[nt] == 1 && tok[nt][0] == '\x01')
                tok[nt] = NULL;
            nt++;
            start = i + 1;
        }
    }
    *sid = nt > 0 ? tok[0] : NULL;
    *sid_len = nt > 0 && tok[0] != NULL ? tlen[0] : 0;
    size_t np = nt > 0 ? (nt - 1) / 2 : 0;
    for (size_t k = 0; k < np; k++) {
        pairs[k].field = tok[1 + 2 * k];
        pairs[k].field_len = tok[1 + 2 * k] != NULL ? tlen[1 + 2 * k] : 0;
        pairs[k].value = tok[2 + 2 * k];
        pairs[k].value_len = tok[2 + 2 * k] != NULL ? tlen[2 + 2 * k] : 0;
    }
    return np;
}

/* The invariants of an accepted entry; returns 1 when they hold. */
static inline int pool_delta_input_check(const struct snapshot_pair *pairs, size_t np,
                                         const struct pool_delta_head *h)
{
    if (h->version < 1 || h->count < 0 || h->nops + POOL_DELTA_HEAD_FIELDS != np ||
        !snapshot_epoch_valid(h->epoch, strlen(h->epoch)))
        return 0;
    for (size_t i = 0; i < h->nops; i++) {
        struct pool_delta_op op;
        pool_delta_op_at(pairs, i, &op);
        if (op.id == NULL || op.id_len == 0 || op.id_len >= UPSTREAM_ID_MAX)
            return 0;
        if (op.is_set != (op.record != NULL) || (op.is_set && op.record_len == 0))
            return 0;
        for (size_t k = 0; k < op.id_len; k++)
            if ((unsigned char)op.id[k] <= 0x20 || (unsigned char)op.id[k] >= 0x7f)
                return 0;
    }
    return 1;
}

#endif
