/* Builds and tears down the controller's one context (struct ctl_ctx,
 * controller.h): the event base, fetch, the Redis connection, publish, the
 * lease, health, the providers, admin, the signal events and the sync loop's
 * timers, wired to each other. */
#ifndef PF_CTL_CONTEXT_H
#define PF_CTL_CONTEXT_H

#include "controller.h"
#include "err.h"
#include "pf.h"

/* Validates what conf_parse() cannot, for <ctx>->conf: the Redis prefix
 * (fills <ctx>->keys) and the static providers' lists. Returns PF_OK or
 * PF_EINVAL with the path in <err>. */
int context_check(struct ctl_ctx *ctx, struct pf_err *err) PF_MUSTCHECK;

/* Builds everything else of <ctx> (its conf, keys, cred_key and config_path
 * are set) and starts the loop's timers and signals: SIGINT/SIGTERM stop
 * the loop (a leader releases its lease first), SIGHUP reloads. Returns
 * PF_OK, PF_ENOMEM or PF_EIO (admin listen failed, logged); call
 * context_destroy() either way. */
int context_create(struct ctl_ctx *ctx) PF_MUSTCHECK;

/* Frees what <ctx> owns, conf and credential key included (safe on a
 * half-built one). */
void context_destroy(struct ctl_ctx *ctx);

#endif
