/* The set of bans a binary obeys, and the question selection asks of it:
 * "is upstream U banned for host H (for session S)?". Pure: no clock, no
 * I/O; the time comes in as arguments.
 *
 * Layout: bans are chained twice, by subject (hash of the upstream short
 * id and the session name, "" for a fleet ban) and by ban id. A check
 * costs one probe for the fleet subject and, for a sticky request, one for
 * the session subject; an upstream without bans stops there (the common
 * case: O(1)). An upstream with k bans then compares the host with each
 * of their domains from the end (suffix at a label boundary, "*" covers
 * all): O(k), and k stays small because the controller ejects an upstream
 * banned on more than bans_eject_domains domains. Expired bans never
 * match; ban_set_expire() drops them. */
#ifndef PF_BAN_SET_H
#define PF_BAN_SET_H

#include <stddef.h>
#include <stdint.h>

#include "ban.h"
#include "pf.h"

struct ban_entry;

struct ban_set {
    struct ban_entry **by_subject;   /* owned: bucket heads */
    struct ban_entry **by_id;        /* owned: bucket heads */
    size_t             nbuckets;     /* power of two, 0 before the first put */
    size_t             count;        /* bans held (expired ones until ban_set_expire) */
    uint64_t           generation;   /* +1 on every change */
};

void ban_set_init(struct ban_set *s);

/* Frees every ban (accepts a zeroed set). */
void ban_set_deinit(struct ban_set *s);

/* Removes every ban. */
void ban_set_clear(struct ban_set *s);

/* Adds a copy of <b> (upstream set, domain normalised), replacing a ban
 * with the same id. Returns PF_OK, or PF_ENOMEM (the set is unchanged). */
int ban_set_put(struct ban_set *s, const struct ban *b) PF_MUSTCHECK;

/* Removes ban <id>. Returns 1 when it was there, else 0. */
int ban_set_remove(struct ban_set *s, const char *id);

/* The ban with <id> not expired at <now_ms>, or NULL. */
const struct ban *ban_set_get(const struct ban_set *s, const char *id, int64_t now_ms);

/* Drops the bans expired at <now_ms>. Returns how many. */
size_t ban_set_expire(struct ban_set *s, int64_t now_ms);

/* The ban (not expired at <now_ms>) that forbids upstream <sid> for host
 * <host> (<host_len> bytes): a fleet ban, or, when <session> is not NULL,
 * a ban of that session. NULL when none. */
const struct ban *ban_set_match(const struct ban_set *s, const char *sid, const char *session,
                                const char *host, size_t host_len, int64_t now_ms);

/* Calls <fn> on every ban not expired at <now_ms> (order unspecified);
 * stops when it returns non-zero. <fn> must not change the set. */
void ban_set_foreach(const struct ban_set *s, int64_t now_ms,
                     int (*fn)(const struct ban *b, void *arg), void *arg);

/* How many distinct domains fleet bans (no session) of upstream <sid> name
 * at <now_ms> ("*" counts as one). */
size_t ban_set_upstream_domains(const struct ban_set *s, const char *sid, int64_t now_ms);

#endif
