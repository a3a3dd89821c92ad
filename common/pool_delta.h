/* The pool log's wire format (docs/redis-keys.md, "{pf}:v1:pool:log"):
 * one Redis Stream entry per published version, written by the controller
 * in the same fenced script as the snapshot, read by nodes that are a few
 * versions behind instead of the whole snapshot.
 *
 * Entry id: "<version>-0". Fields, in this order:
 *   "epoch"  <epoch of the snapshot>
 *   "digest" <pool digest after this version, common/pool_digest.h>
 *   "count"  <upstreams after this version>
 * then one field per changed upstream:
 *   "+<upstream id>" <its record, as in pool:upstreams>   added or changed
 *   "-<upstream id>" ""                                    removed
 *
 * Entries are untrusted bytes: pool_delta_parse() checks every field, and
 * the caller still decodes each record (snapshot_record_decode) and checks
 * that it carries the id it is filed under. */
#ifndef PF_POOL_DELTA_H
#define PF_POOL_DELTA_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "pf.h"
#include "snapshot.h"

/* Field names of an entry's head; string literals for the publish script. */
#define POOL_DELTA_EPOCH   "epoch"
#define POOL_DELTA_DIGEST  "digest"
#define POOL_DELTA_COUNT   "count"
#define POOL_DELTA_SET     '+'      /* "+<id>": added or changed */
#define POOL_DELTA_DEL     '-'      /* "-<id>": removed */
#define POOL_DELTA_HEAD_FIELDS 3

#define POOL_DELTA_RECORD_MAX 65536 /* longest record accepted in an entry */

/* The head of one entry, checked. */
struct pool_delta_head {
    int64_t  version;                   /* from the entry id */
    char     epoch[SNAPSHOT_EPOCH_MAX];
    uint64_t digest;
    int64_t  count;
    size_t   nops;                      /* ops: pairs [POOL_DELTA_HEAD_FIELDS, +nops) */
};

/* One change, borrowed from the entry's pairs. */
struct pool_delta_op {
    int         is_set;                 /* 1: id -> record, 0: id removed */
    const char *id;
    size_t      id_len;
    const char *record;                 /* is_set only */
    size_t      record_len;
};

/* Parses entry id <sid> (<sid_len> bytes: "<version>-0") and its <npairs>
 * field/value <pairs> (a NULL field or value: not a string) into <h>,
 * checking every op too (pool_delta_op_at() then cannot fail). Returns
 * PF_OK or PF_EINVAL with what and where in <err>; never quotes the bytes. */
int pool_delta_parse(const char *sid, size_t sid_len, const struct snapshot_pair *pairs,
                     size_t npairs, struct pool_delta_head *h, struct pf_err *err) PF_MUSTCHECK;

/* Op <i> (0..h->nops) of an entry pool_delta_parse() accepted. */
void pool_delta_op_at(const struct snapshot_pair *pairs, size_t i, struct pool_delta_op *op);

/* Writes the field name of an op on <id> ("+<id>" or "-<id>") into <buf>
 * of <len> bytes. Returns PF_OK or PF_ERANGE. */
int pool_delta_op_field(char *buf, size_t len, int is_set, const char *id) PF_MUSTCHECK;

/* Writes the entry id of <version> ("<version>-0") into <buf>. Returns
 * PF_OK, PF_EINVAL (version < 1) or PF_ERANGE. */
int pool_delta_entry_id(char *buf, size_t len, int64_t version) PF_MUSTCHECK;

/* One op gathered from several entries, for pool_delta_collapse(). */
struct pool_delta_change {
    const char *id;                     /* borrowed */
    size_t      id_len;
    size_t      seq;                    /* order of arrival: a later one wins */
    void       *data;                   /* the caller's (e.g. a decoded record; NULL = removed) */
};

/* Sorts <ch>[0..<n>) by id and keeps, for each id, the change that came
 * last (greatest seq): what applying them one after the other leaves.
 * Returns the number kept, at the front of <ch>; <dropped> (may be NULL)
 * receives each superseded change's data through <drop>(data, arg). */
size_t pool_delta_collapse(struct pool_delta_change *ch, size_t n,
                           void (*drop)(void *data, void *arg), void *arg);

#endif
