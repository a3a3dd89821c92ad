/* The node's word to its service manager (systemd Type=notify): READY=1
 * once it listens and runs its loop, RELOADING=1 then READY=1 around a
 * SIGHUP reload, STOPPING=1 when it drains. Sent through
 * common/svc_notify.h to $NOTIFY_SOCKET (ctx->notify_socket); nothing
 * when the variable is unset. */
#ifndef PF_NODE_NOTIFY_H
#define PF_NODE_NOTIFY_H

#include "node.h"

/* Sends <state> ("READY=1", ...). A failure is logged once per process,
 * then only counted as ignored: the node serves whatever the manager
 * thinks. */
void notify_state(struct node_ctx *ctx, const char *state);

/* Sends RELOADING=1 with MONOTONIC_USEC (sd_notify(3): the reload's start). */
void notify_reloading(struct node_ctx *ctx);

#endif
