/* SIGHUP: re-reads the controller's config file. A bad file keeps the old
 * config (one error line, reload_errors +1); a good one rebuilds the
 * providers, which keep their upstreams and counters (provider_adopt) but
 * lose fatal and breaker state, and a leader starts them and syncs at once.
 * Redis, admin, id, lease, heartbeat and health settings need a restart:
 * the running process keeps what it borrows from the old config. */
#ifndef PF_CTL_RELOAD_H
#define PF_CTL_RELOAD_H

#include "controller.h"

/* Reloads <ctx>->config_path into <ctx> (see above); logs the outcome. */
void reload_run(struct ctl_ctx *ctx);

#endif
