/* SIGHUP: the node re-reads its config file; SIGUSR1: it reopens the
 * access log file (logrotate).
 *
 * A reload parses the whole file again. A bad file (JSON, a key, the
 * open-proxy guard, an access log that cannot be opened) changes nothing:
 * one error line says why and the running config stays. A good one
 * becomes the running config (ctx->conf) and a new settings generation
 * (conf_gen.h) that new exchanges take, while every exchange in flight
 * finishes under the generation it started with. Restart-only keys
 * (conf_gen_restart_keys: listeners, mode, id, Redis, ...) keep their
 * running values and are named in one warning, never their values. Log
 * level and format, the access log and the descriptor budget of a new
 * max_clients apply at once. The service manager hears RELOADING=1, then
 * READY=1 (notify.h). */
#ifndef PF_NODE_RELOAD_H
#define PF_NODE_RELOAD_H

#include "node.h"

struct reload;

/* Installs the SIGHUP and SIGUSR1 handlers on <ctx>->base. Returns NULL
 * when out of memory. */
struct reload *reload_create(struct node_ctx *ctx);

/* Removes the handlers and frees <r>; accepts NULL. */
void reload_destroy(struct reload *r);

/* Reloads <ctx>->config_path (see above); logs the outcome. */
void reload_run(struct node_ctx *ctx);

#endif
