/* One pool snapshot read from Redis being applied across event-loop turns.
 *
 * The snapshot arrives as the (field, value) pairs of HGETALL
 * pool:upstreams: upstream id -> JSON record (common/snapshot.h). Decoding
 * 10,000 JSON records, sorting and laying out the pool in one callback
 * blocked the loop for 60-260 ms, so each pool_apply_slice() decodes a
 * bounded number of pairs, then steps the pool_build (sort, layout, map)
 * and finally swaps it in. The pairs are borrowed: pool_apply_consumed()
 * tells the owner (pool_sync.c) how many it may release already. pool_sync
 * runs slices from a zero-delay timer, as many per loop turn as fit its
 * time budget, and keeps the timing.
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

#include "err.h"
#include "pf.h"
#include "pool_build.h"
#include "pool_cache.h"
#include "snapshot.h"

struct seal_key;

/* One pool_apply_slice() call: small, so that the caller can stop a loop
 * turn close to its time budget (each is roughly 0.05-0.2 ms). */
#define POOL_APPLY_QUANTUM_RECORDS 32     /* records decoded */
#define POOL_APPLY_QUANTUM_UNITS   2048   /* sort/layout operations */

/* One change of a patch (pool_apply_create_patch): the upstream <id> gets
 * record <u> (decoded, its digest set) or, <is_del>, leaves the pool. */
struct pool_patch_op {
    char            id[UPSTREAM_ID_MAX];
    int             is_del;
    struct upstream u;                 /* !is_del */
};

struct pool_apply {
    const struct snapshot_pair *pairs; /* borrowed until all are consumed; NULL after */
    struct pool_patch_op *ops;         /* owned: a patch's changes, sorted by id; NULL = a
                                        * snapshot (pairs) */
    size_t              nops;
    size_t              op_next;       /* patch: next op to merge */
    size_t              pc_next;       /* patch: next upstream of the served pool to merge */
    uint64_t            base_gen;      /* patch: the served pool it applies to */
    int                 is_feeding;    /* patch: the merge is not done */
    int                 has_want;      /* check the built pool against want_digest/count */
    uint64_t            want_digest;
    int64_t             want_count;    /* -1 = unknown */
    uint64_t            digest;        /* of the built pool, once fed */
    size_t              npairs;
    size_t              next;        /* next pair to decode */
    struct pool_build  *build;       /* owned */
    const struct seal_key *key;      /* borrowed from node_ctx; NULL = no credential key */
    size_t              nbad;        /* records skipped */
    char                first_bad[PF_ERR_MSG_LEN + 96]; /* the first one, for the log */
    int64_t             started_us;  /* monotonic: reply arrival (caller's clock) */
    int64_t             max_slice_us;/* longest loop turn so far (caller's timing) */
    uint32_t            nslices;     /* loop turns so far (caller's count) */
};

/* Starts applying snapshot (<version>, <epoch>) from <pairs>[0..<npairs>),
 * the upstream id -> record pairs of pool:upstreams (untrusted: a pair with
 * a NULL field or value, or a record that does not decode, is skipped and
 * counted). <pairs> and the bytes they point to are borrowed until
 * pool_apply_consumed() reaches <npairs> or the job is destroyed. Sealed
 * passwords are opened with <key> (borrowed, must outlive the job; NULL =
 * none: sealed records are then skipped as bad). Returns NULL on
 * allocation failure. */
struct pool_apply *pool_apply_create(const struct snapshot_pair *pairs, size_t npairs,
                                     int64_t version, const char *epoch,
                                     const struct seal_key *key);

/* Starts applying changes <ops>[0..<nops>) (sorted by id, one per id;
 * takes ownership of <ops>, freed with the job, also on failure) to the
 * pool <pc> serves now, as snapshot (<version>, <epoch>): the served
 * upstreams are merged with the ops into a new build, so nothing is
 * decoded again. With <has_want>, the built pool must then have digest
 * <want_digest> (the sum of its entries' digests, common/pool_digest.h)
 * and, unless <want_count> is -1, that many upstreams: else the slice
 * returns PF_EPROTO and nothing is swapped in. Returns NULL on allocation
 * failure. */
struct pool_apply *pool_apply_create_patch(const struct pool_cache *pc,
                                           struct pool_patch_op *ops, size_t nops,
                                           int64_t version, const char *epoch, int has_want,
                                           uint64_t want_digest, int64_t want_count);

/* Frees <a> and the build (accepts NULL); the pairs stay the owner's. */
void pool_apply_destroy(struct pool_apply *a);

/* Pairs decoded so far: the owner may release pairs [0, this) now. */
size_t pool_apply_consumed(const struct pool_apply *a);

/* Runs one slice: decodes up to <nrecords> records (a patch: merges up to
 * 8 x <nrecords> upstreams), or, once all are in, does up to <units> build
 * steps against <pc>, or swaps the finished pool into <pc>. Returns
 * PF_EAGAIN while there is more to do, PF_OK once swapped in (the retired
 * pool is freed by pool_apply_destroy), PF_ENOMEM, or PF_EPROTO (a patch
 * whose result fails the digest or count check, or whose base pool was
 * replaced meanwhile); the cache is untouched on error. */
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
