/* Ejection of upstreams banned on many domains (controller.health.passive.
 * bans_eject_domains, issue 12 item 2). Pure: no I/O, time passed in
 * (tests/unit/test_ban_eject.c).
 *
 * A site that bans an upstream says little; many sites banning the same
 * upstream say the address is burnt. From the fleet bans in {pf}:v1:bans
 * (session bans name a session's trouble, not the address's, and are not
 * counted), an upstream whose active bans cover more than <max_domains>
 * distinct domains is ejected from the pool until enough of those bans
 * expire that it is back at <max_domains>; a domain banned twice counts
 * once, with its latest expiry; "*" counts as one domain. */
#ifndef PF_CTL_BAN_EJECT_H
#define PF_CTL_BAN_EJECT_H

#include <stddef.h>
#include <stdint.h>

#include "ban.h"
#include "upstream_sid.h"

/* One fleet ban as the count needs it. */
struct ban_eject_ban {
    char    sid[UPSTREAM_SID_LEN];      /* the banned upstream's short id */
    char    domain[BAN_DOMAIN_MAX];
    int64_t expires_at_ms;              /* wall clock */
};

/* An upstream to eject. */
struct ban_eject {
    char    sid[UPSTREAM_SID_LEN];
    int     ndomains;                   /* distinct domains banned now */
    int64_t until_ms;                   /* wall clock: its count is back at max_domains then */
};

/* Counts <bans>[0..<n>) (sorted in place) at <now_ms> (expired ones
 * ignored): writes to <out> (room for <n>) the upstreams banned on more
 * than <max_domains> distinct domains, sorted by sid. Returns how many. */
size_t ban_eject_compute(struct ban_eject_ban *bans, size_t n, int max_domains, int64_t now_ms,
                         struct ban_eject *out);

/* The entry of <sid> in <ej>[0..<n>) (sorted by sid), or NULL. */
const struct ban_eject *ban_eject_find(const struct ban_eject *ej, size_t n, const char *sid);

#endif
