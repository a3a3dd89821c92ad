/* The controller's sync loop: the lease timer, the leader's term, and the
 * coalesced writes that bring Redis in line with memory.
 *
 *   lease timer (every lease_ms/3, or when the holder's PTTL ends):
 *     lease_tick(): acquired -> a term begins (new epoch, providers and
 *     health start, sync now); lost -> the term ends (everything stops).
 *   sync (one per loop turn however many polls or probes finished):
 *     at the start of a term and after a reload, remove the providers no
 *     longer configured from {pf}:v1:providers with their hashes (first, in
 *     one fenced write); merge the providers' live sets, pass them through
 *     the health filter,
 *     run the pool script when the result differs from the last publish (or
 *     Redis lost the snapshot), write dirty provider hashes and, on the
 *     heartbeat timer, the controller hash. FENCED ends the term at once;
 *     an I/O error retries after the reconnect backoff.
 * The three timers are ctl_ctx's lease_ev, sync_ev and heartbeat_ev, owned
 * here (sync_init / sync_deinit). */
#ifndef PF_CTL_SYNC_H
#define PF_CTL_SYNC_H

#include <stdint.h>

#include "controller.h"
#include "pf.h"

struct provider;

/* Creates the three timers on <ctx>->base. Returns PF_OK or PF_ENOMEM. */
int sync_init(struct ctl_ctx *ctx) PF_MUSTCHECK;

/* Frees the timers (safe on a half-built <ctx>). */
void sync_deinit(struct ctl_ctx *ctx);

/* Starts the loop: the heartbeat timer, and the lease timer at once (every
 * controller starts as a standby). Returns PF_OK or PF_EIO. */
int sync_start(struct ctl_ctx *ctx) PF_MUSTCHECK;

/* What Redis should hold may have changed: a sync runs at the end of this
 * loop turn (coalesced). */
void sync_want(struct ctl_ctx *ctx);

/* provider_create()'s update callback (<arg> is the ctl_ctx): a poll ended. */
void sync_on_provider(struct provider *p, void *arg);

/* health_check_create()'s change callback (<arg> is the ctl_ctx). */
void sync_on_health(void *arg);

/* sentinel_watch_start()'s callback (<arg> is the ctl_ctx): the sentinels name
 * <host>:<port> as the master. When that moves the connection, the lease
 * timer runs at once (it reconnects and renews or acquires) and a leader
 * rewrites its state (a failover may have lost it). */
void sync_on_master_moved(const char *host, uint16_t port, void *arg);

/* The providers were rebuilt (SIGHUP): a leader starts them and syncs now. */
void sync_providers_changed(struct ctl_ctx *ctx);

/* Clean shutdown: a leader releases its lease (compare-and-DEL), so a
 * standby takes over within one retry. */
void sync_shutdown(struct ctl_ctx *ctx);

#endif
