/* Bans as the exclusion of a pick; see ban_check.h. */
#include "ban_check.h"

#include <string.h>

void ban_check_init(struct ban_check *bc, const struct ban_set *set,
                    const struct upstream_sid_key *key, const struct pool_cache *pc,
                    const char *session, const char *host, int64_t now_wall_ms)
{
    memset(bc, 0, sizeof(*bc));
    bc->set = set;
    bc->key = key;
    bc->pc = pc;
    bc->session = session;
    bc->host = host != NULL ? host : "";
    bc->host_len = strlen(bc->host);
    bc->now_wall_ms = now_wall_ms;
}

int ban_check_is_empty(const struct ban_check *bc)
{
    return bc->set == NULL || bc->set->count == 0;
}

int ban_check_is_banned(void *arg, size_t idx)
{
    struct ban_check *bc = arg;
    if (ban_check_is_empty(bc) || idx >= bc->pc->count)
        return 0;
    char sid[UPSTREAM_SID_LEN];
    upstream_sid_format(bc->key, bc->pc->ids[idx], sid, sizeof(sid));
    if (ban_set_match(bc->set, sid, bc->session, bc->host, bc->host_len, bc->now_wall_ms) == NULL)
        return 0;
    bc->nbanned++;
    return 1;
}
