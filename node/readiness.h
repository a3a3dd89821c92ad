/* Whether this node can serve requests now: /readyz and the pf_node_ready
 * gauge. Direct mode: ready unless draining. Pool mode: not draining and at
 * least one pool upstream usable by this node, as a pick would see it
 * (allowed by its upstream policy, not expired, a scheme it can dial, not
 * locally ejected, or ejected but used anyway under node.eject_panic). A node that answers every
 * request 503 is never "ready". */
#ifndef PF_NODE_READINESS_H
#define PF_NODE_READINESS_H

#include <stddef.h>
#include <stdint.h>

#include "node.h"

struct readiness {
    int               is_ready;
    struct pool_usable pool;        /* pool mode: the count behind the verdict */
    char              why[160];     /* "ready", or why not (no secret, no address) */
};

/* Fills <r> for <ctx> at <now_wall_ms> (expiry) and <now_mono_ms>
 * (ejection). */
void readiness_check(const struct node_ctx *ctx, int64_t now_wall_ms, int64_t now_mono_ms,
                     struct readiness *r);

#endif
