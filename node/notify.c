/* Service manager notifications; see notify.h. */
#include "notify.h"

#include <inttypes.h>
#include <stdio.h>

#include "clock.h"
#include "log.h"
#include "svc_notify.h"

void notify_state(struct node_ctx *ctx, const char *state)
{
    struct pf_err err;
    pf_err_clear(&err);
    if (svc_notify(ctx->notify_socket, state, &err) == PF_OK || ctx->is_notify_failed)
        return;
    ctx->is_notify_failed = 1;
    log_warn("telling the service manager failed, ignored from now on: %s", err.msg);
}

void notify_reloading(struct node_ctx *ctx)
{
    char state[64];
    snprintf(state, sizeof(state), "RELOADING=1\nMONOTONIC_USEC=%" PRId64, clock_mono_us());
    notify_state(ctx, state);
}
