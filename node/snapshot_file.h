/* A local copy of the pool snapshot (node.snapshot_file), so that a node
 * can start serving when Redis is unreachable at boot.
 *
 * Format: one JSON object
 *   {"version":N,"epoch":"...","saved_at_ms":T,"upstreams":[<record>,...]}
 * where each record is a snapshot_record_encode() object (common/snapshot.h).
 * The file holds upstream credentials: it is written with mode 0600, and
 * with a credential key (redis.credential_key_file) the passwords in it are
 * sealed as in Redis ("pass_sealed").
 *
 * The loaded version and epoch go into the pool cache, so redis_link's usual
 * rule (pool_cache_is_stale: new epoch or greater version) makes Redis win
 * as soon as it answers. */
#ifndef PF_NODE_SNAPSHOT_FILE_H
#define PF_NODE_SNAPSHOT_FILE_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "pf.h"
#include "pool_cache.h"

struct seal_key;

#define SNAPSHOT_FILE_MAX_BYTES ((size_t)64 << 20)  /* larger files are refused */
#define SNAPSHOT_FILE_BAD_MAX   (PF_ERR_MSG_LEN + 32) /* first_bad message buffer */

/* What snapshot_file_load() found. */
struct snapshot_file_info {
    int64_t version;                        /* file's pool version (>= 1) */
    char    epoch[POOL_EPOCH_MAX];          /* file's epoch */
    int64_t saved_at_ms;                    /* wall clock of the save; 0 when absent */
    size_t  count;                          /* upstreams loaded */
    size_t  nbad;                           /* records skipped as invalid */
    char    first_bad[SNAPSHOT_FILE_BAD_MAX];/* why the first skipped record was bad */
};

/* Writes the snapshot held by <pc> (its version, epoch and upstreams) to
 * <path>, stamped <now_wall_ms>, passwords sealed with <key> (borrowed;
 * NULL = in clear): the data goes to "<path>.tmp" (mode 0600),
 * is fsync'd, then renamed over <path>, so readers see the old file or the
 * new one, never a torn one. Returns PF_OK, PF_EINVAL (empty path, cache
 * never loaded), PF_ENOMEM, or PF_EIO with the syscall and errno in <err>;
 * on error <path> is left as it was and the temporary file is removed. */
int snapshot_file_save(const char *path, const struct pool_cache *pc, const struct seal_key *key,
                       int64_t now_wall_ms, struct pf_err *err) PF_MUSTCHECK;

/* Reads <path> (at most SNAPSHOT_FILE_MAX_BYTES) and, when the file is
 * valid, replaces the contents of <pc> with its upstreams, version and epoch
 * (pool_cache_replace at <now_mono_ms>). Sealed passwords are opened with
 * <key> (borrowed; NULL = none). Invalid records (sealed ones the key
 * cannot open among them) are skipped and
 * counted in <info> (may be NULL); a file that is not a well-formed snapshot
 * (bad JSON, truncated, wrong types, version < 1, bad epoch) is refused as a
 * whole. Returns PF_OK, PF_ENOENT (no such file), PF_EINVAL (corrupt; where
 * and why in <err>), PF_ERANGE (too large), PF_EIO or PF_ENOMEM. <pc> is
 * untouched on error. */
int snapshot_file_load(const char *path, const struct seal_key *key, struct pool_cache *pc,
                       int64_t now_mono_ms, struct snapshot_file_info *info,
                       struct pf_err *err) PF_MUSTCHECK;

#endif
