/* One pool snapshot read from Redis being applied across event-loop turns.
 *
 * The EXEC reply of the snapshot read carries HGETALL pool:upstreams (two
 * reply objects per upstream). Decoding 10,000 JSON records, sorting and
 * laying out the pool in one callback blocked the loop for 60-260 ms, so
 * the job takes the records out of the reply (hiredis then frees only the
 * empty shell) and each pool_apply_slice() decodes a bounded number of
 * them, freeing their reply objects as it goes, then steps the pool_build
 * (sort, layout, map) and finally swaps it in. redis_link.c runs slices
 * from a zero-delay timer, as many per loop turn as fit its time budget,
 * and keeps the timing.
 *
 * Supersede rule (pool_apply_is_wanted): a snapshot (version, epoch) is
 * wanted when it is stale for the cache (new epoch, or greater version) and
 * also for the job in progress, if any. A newer snapshot read while a job
 * runs replaces the job (the caller destroys it); duplicates of either are
 * ignored. */
#ifndef PF_NODE_POOL_APPLY_H
#define PF_NODE_POOL_APPLY_H

#include <stddef.h>
#include <stdint.h>

#include <hiredis/hiredis.h>

#include "err.h"
#include "pf.h"
#include "pool_build.h"
#include "pool_cache.h"

struct seal_key;

/* One pool_apply_slice() call: small, so that the caller can stop a loop
 * turn close to its time budget (each is roughly 0.05-0.2 ms). */
#define POOL_APPLY_QUANTUM_RECORDS 32     /* records decoded */
#define POOL_APPLY_QUANTUM_UNITS   2048   /* sort/layout operations */

struct pool_apply {
    redisReply        **el;          /* owned; taken from HGETALL pool:upstreams */
    size_t              nel;
    size_t              next;        /* next field element to decode (even) */
    struct pool_build  *build;       /* owned */
    const struct seal_key *key;      /* borrowed from node_ctx; NULL = no credential key */
    size_t              nbad;        /* records skipped */
    char                first_bad[PF_ERR_MSG_LEN + 96]; /* the first one, for the log */
    int64_t             started_us;  /* monotonic: reply arrival (caller's clock) */
    int64_t             max_slice_us;/* longest loop turn so far (caller's timing) */
    uint32_t            nslices;     /* loop turns so far (caller's count) */
};

/* Starts applying snapshot (<version>, <epoch>) from <ups>, the HGETALL
 * pool:upstreams reply: takes ownership of its elements and leaves <ups>
 * an empty array (hiredis frees that shell after the callback). Sealed
 * passwords are opened with <key> (borrowed, must outlive the job; NULL =
 * none: sealed records are then skipped as bad). Returns NULL on
 * allocation failure (<ups> is then left whole). */
struct pool_apply *pool_apply_create(redisReply *ups, int64_t version, const char *epoch,
                                     const struct seal_key *key);

/* Frees <a>, the records not decoded yet and the build (accepts NULL). */
void pool_apply_destroy(struct pool_apply *a);

/* Runs one slice: decodes up to <nrecords> records, or, once all are
 * decoded, does up to <units> build steps against <pc>, or swaps the
 * finished pool into <pc>. Returns PF_EAGAIN while there is more to do,
 * PF_OK once swapped in (the retired pool is freed by pool_apply_destroy),
 * PF_ENOMEM (the cache is untouched). */
int pool_apply_slice(struct pool_apply *a, struct pool_cache *pc, size_t nrecords, size_t units,
                     int64_t now_mono_ms) PF_MUSTCHECK;

/* 1 once the job has swapped its pool in. */
int pool_apply_is_done(const struct pool_apply *a);

/* Upstreams decoded so far (all of them once done). */
size_t pool_apply_count(const struct pool_apply *a);

/* Returns 1 when snapshot (<version>, <epoch>) should be read and applied:
 * stale for <pc> and, when job <a> (may be NULL) is still running, stale
 * for it too. */
int pool_apply_is_wanted(const struct pool_cache *pc, const struct pool_apply *a,
                         int64_t version, const char *epoch);

#endif
