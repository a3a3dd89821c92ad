/* The pool snapshot's wire format, shared by the controller (writer) and the
 * nodes (readers), docs/redis-keys.md:
 *   - the record: one JSON object per upstream, the value of
 *     {pf}:v1:pool:upstreams;
 *   - the meta fields of {pf}:v1:pool:meta (version, epoch, count, ...);
 *   - the notice "<version> <epoch>" sent on {pf}:v1:pool:events. */
#ifndef PF_SNAPSHOT_H
#define PF_SNAPSHOT_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "upstream-t.h"

struct seal_key;

/* Returns a malloc'd NUL-terminated JSON record for <u>; the caller frees it.
 * NULL on allocation or sealing failure. Empty user/pass are omitted, and
 * so are "tier" when 0 and "labels" when all are empty (records without
 * them are what older controllers wrote and still decode the same). With
 * <key> (borrowed; NULL = none) the password is written sealed
 * ("pass_sealed", common/seal.h, bound to the upstream id), else in clear
 * ("pass"). */
char *snapshot_record_encode(const struct upstream *u, const struct seal_key *key);

/* Clears (it may hold a password in clear) and frees record <rec> from
 * snapshot_record_encode() (accepts NULL). */
void snapshot_record_free(char *rec);

/* Parses a record of <len> bytes (untrusted: it comes from Redis) into <out>,
 * validating every field as addr_parse_upstream() would (scheme, host,
 * port range, string lengths; "tier" 0..UPSTREAM_TIER_MAX, default 0;
 * "labels" strings of clean UTF-8). Unknown members are ignored. A clear "pass" is accepted with or without
 * <key> (records written before sealing); "pass_sealed" is opened with <key>
 * and is an error when <key> is NULL or wrong, or the value was moved from
 * another upstream, so such a record is never used with an empty password.
 * Returns PF_OK or PF_EINVAL with the field. */
int snapshot_record_decode(const char *json, size_t len, const struct seal_key *key,
                           struct upstream *out, struct pf_err *err) PF_MUSTCHECK;

/* As snapshot_record_decode(), for readers that never dial (the fleet
 * status): every field but the password is decoded and checked the same
 * way; "pass" and "pass_sealed" must be strings but are not kept (out->pass
 * stays ""), so no credential key is needed and none is opened. */
int snapshot_record_decode_public(const char *json, size_t len, struct upstream *out,
                                  struct pf_err *err) PF_MUSTCHECK;

/* ---- pool:meta and the notice ------------------------------------------ */

/* Field names of {pf}:v1:pool:meta. String literals, so that the
 * controller's publish script is built from them at compile time. */
#define SNAPSHOT_META_VERSION    "version"        /* integer >= 1, +1 per publish */
#define SNAPSHOT_META_EPOCH      "epoch"          /* token, see snapshot_epoch_valid() */
#define SNAPSHOT_META_COUNT      "count"          /* records in pool:upstreams */
#define SNAPSHOT_META_UPDATED_AT "updated_at_ms"  /* wall clock of the publish */
#define SNAPSHOT_META_CONTROLLER "controller_id"  /* writer */
#define SNAPSHOT_META_DIGEST     "digest"         /* pool digest, common/pool_digest.h */

/* The notice is "<version>" SNAPSHOT_NOTICE_SEP "<epoch>", e.g. "7 9f1c2a7be0d4431a". */
#define SNAPSHOT_NOTICE_SEP " "

#define SNAPSHOT_EPOCH_MAX  40                        /* epoch token plus NUL */
#define SNAPSHOT_NOTICE_MAX (20 + 1 + SNAPSHOT_EPOCH_MAX) /* notice plus NUL */

/* One field/value pair of a hash as read from Redis (HGETALL), borrowed.
 * A NULL <field> or <value> stands for an element that was not a string. */
struct snapshot_pair {
    const char *field;
    size_t      field_len;
    const char *value;
    size_t      value_len;
};

/* What pool:meta says about the snapshot. */
struct snapshot_meta {
    int     has_version;            /* a version field was present */
    int64_t version;
    char    epoch[SNAPSHOT_EPOCH_MAX]; /* "" when absent */
    int64_t count;                  /* -1 when absent or not a positive integer */
    int     has_digest;             /* a valid digest was present (controllers since
                                     * the pool log); none = no deltas */
    uint64_t digest;
};

/* Parses a version of <len> bytes: strict decimal, 1..INT64_MAX, no sign,
 * no leading zero, nothing else. Returns PF_OK, PF_EINVAL or PF_ERANGE. */
int snapshot_version_parse(const char *s, size_t len, int64_t *out) PF_MUSTCHECK;

/* Returns 1 when <s> of <len> bytes is a valid epoch: 1..SNAPSHOT_EPOCH_MAX-1
 * chars of [A-Za-z0-9_.-] (controllers write 16 hex chars). Such a token is
 * safe in a log line. */
int snapshot_epoch_valid(const char *s, size_t len);

/* Parses notice <s> of <len> bytes (untrusted) strictly into <*version> and
 * <epoch> (SNAPSHOT_EPOCH_MAX bytes). Returns PF_OK or PF_EINVAL. */
int snapshot_notice_parse(const char *s, size_t len, int64_t *version, char *epoch) PF_MUSTCHECK;

/* Writes the notice of (<version>, <epoch>) into <buf> of <len> bytes
 * (SNAPSHOT_NOTICE_MAX is enough). Returns PF_OK, PF_EINVAL when the pair
 * would not parse back, or PF_ERANGE when <len> is too small. */
int snapshot_notice_format(char *buf, size_t len, int64_t version, const char *epoch) PF_MUSTCHECK;

/* Starts reading pool:meta into <m>: nothing seen yet. */
void snapshot_meta_init(struct snapshot_meta *m);

/* Folds one field of pool:meta into <m>. <value> NULL means absent (nil);
 * unknown fields, a bad count (count is informational) and a bad digest
 * (read as none: the node then never applies the pool log) are ignored.
 * Returns PF_OK, or PF_EINVAL with "bad version" / "bad epoch" in <err>. */
int snapshot_meta_field(struct snapshot_meta *m, const char *field, size_t field_len,
                        const char *value, size_t value_len, struct pf_err *err) PF_MUSTCHECK;

/* snapshot_meta_init() then snapshot_meta_field() on each of <pairs>
 * [0..<n>) (pairs with a NULL field are skipped), then
 * snapshot_meta_finish(). */
int snapshot_meta_from_pairs(struct snapshot_meta *m, const struct snapshot_pair *pairs,
                             size_t n, struct pf_err *err) PF_MUSTCHECK;

/* Checks <m> once every field is in. Returns PF_OK, PF_ENOENT when there is
 * no version (no snapshot in Redis), or PF_EINVAL ("version without epoch"). */
int snapshot_meta_finish(const struct snapshot_meta *m, struct pf_err *err) PF_MUSTCHECK;

#endif
