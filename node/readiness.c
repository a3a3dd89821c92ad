/* Readiness; see readiness.h. */
#include "readiness.h"

#include <stdio.h>
#include <string.h>

#include "dial.h"

void readiness_check(const struct node_ctx *ctx, int64_t now_wall_ms, int64_t now_mono_ms,
                     struct readiness *r)
{
    memset(r, 0, sizeof(*r));
    if (ctx->is_draining) {
        snprintf(r->why, sizeof(r->why), "draining");
        return;
    }
    if (ctx->conf.node.mode == CONF_NODE_DIRECT) {
        r->is_ready = 1;
        snprintf(r->why, sizeof(r->why), "ready");
        return;
    }
    unsigned mask = 0;
    for (unsigned s = 0; s < 8; s++)
        if (dial_scheme_is_supported((enum upstream_scheme)s))
            mask |= 1u << s;
    pool_cache_count_usable(&ctx->pool, now_wall_ms, now_mono_ms, mask,
                            ctx->conf.node.is_eject_panic, &r->pool);
    const struct pool_usable *p = &r->pool;
    r->is_ready = p->usable > 0;
    if (r->is_ready)
        snprintf(r->why, sizeof(r->why), "ready: %zu of %zu upstreams usable", p->usable,
                 ctx->pool.count);
    else if (ctx->pool.count == 0)
        snprintf(r->why, sizeof(r->why), "no upstreams%s",
                 ctx->pool.version == 0 ? " (no pool loaded yet)" : "");
    else
        snprintf(r->why, sizeof(r->why),
                 "no usable upstream: of %zu, %zu denied by the upstream policy, %zu expired, "
                 "%zu of an unsupported scheme, %zu ejected", ctx->pool.count, p->denied,
                 p->expired, p->unsupported, p->ejected);
}
