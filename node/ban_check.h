/* Bans as the exclusion of a pick (issue 12 item 2): the one predicate
 * pool_cache_select() asks, through pool_select_req.is_excluded, whether
 * an upstream is banned for the request's domain (and session). The pick
 * asks it last and only of the upstreams its walk reaches, so a sticky
 * session whose winner is banned for this domain moves to its next upstream
 * in rendezvous order, for this domain only.
 *
 * A check is O(1): the short id of the upstream (SipHash of its id) and
 * one probe of the ban set per subject (ban_set.h), then the domains of
 * that upstream's bans only. Pure: the time comes in with the request. */
#ifndef PF_NODE_BAN_CHECK_H
#define PF_NODE_BAN_CHECK_H

#include <stddef.h>
#include <stdint.h>

#include "ban_set.h"
#include "pool-t.h"
#include "upstream_sid.h"

struct ban_check {
    const struct ban_set          *set;       /* borrowed; NULL = no bans */
    const struct upstream_sid_key *key;       /* borrowed: short ids' key */
    const struct pool_cache       *pc;        /* borrowed: indexes name its upstreams */
    const char                    *session;   /* borrowed; "<user>-session-<key>" or NULL */
    const char                    *host;      /* borrowed: the request's host */
    size_t                         host_len;
    int64_t                        now_wall_ms;
    uint64_t                       nbanned;   /* upstreams refused so far */
};

/* Prepares <bc> for one pick of pool <pc> to <host> for <session> (may be
 * NULL) at <now_wall_ms>. Everything is borrowed for the pick. */
void ban_check_init(struct ban_check *bc, const struct ban_set *set,
                    const struct upstream_sid_key *key, const struct pool_cache *pc,
                    const char *session, const char *host, int64_t now_wall_ms);

/* 1 when no ban can match: the pick need not ask (leave is_excluded NULL). */
int ban_check_is_empty(const struct ban_check *bc);

/* pool_select_req.is_excluded: 1 when upstream <idx> of the pool is banned
 * for the host (fleet-wide or for the session); counts it in nbanned.
 * <arg> is a struct ban_check. */
int ban_check_is_banned(void *arg, size_t idx);

#endif
