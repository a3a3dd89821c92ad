/* proxyfleet-ctl bans list|add|del: the bans in Redis, read and written
 * with the one write every writer shares (common/ban_write.h): a ban
 * added here is the record, expiry entry and channel notice a node's own
 * admin API writes, so every node obeys it at once. */
#ifndef PF_CTL_BANS_H
#define PF_CTL_BANS_H

#include "conf.h"
#include "ctl_args.h"
#include "keys.h"

struct redis;

/* Runs the bans command of <a> on <r> under <k>, with <conf> (the
 * credential key names upstreams). Returns an exit code (ctl_out.h). */
int ctl_bans_run(const struct ctl_args *a, const struct conf *conf, struct redis *r,
                 const struct keys *k);

#endif
