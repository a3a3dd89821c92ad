/* The node's heartbeat in Redis (pool mode): every node.report_interval_ms,
 * the fields of {pf}:v1:node:<node_id> (docs/redis-keys.md) are written
 * through redis_link_report() with a TTL of 3 intervals. The same timer
 * saves a changed pool to node.snapshot_file (snapshot_file.h), Redis up
 * or not. */
#ifndef PF_NODE_REPORT_H
#define PF_NODE_REPORT_H

#include <stddef.h>

#include "node.h"

#define REPORT_NFIELDS 19
#define REPORT_VALUE_MAX 136   /* >= CONF_ADDR_MAX */

struct report;

/* Starts the periodic report on <ctx>->base (needs <ctx>->redis). The pool
 * in <ctx> at this point (e.g. loaded from node.snapshot_file) counts as
 * saved. Returns NULL on allocation failure. */
struct report *report_create(struct node_ctx *ctx);

/* Stops and frees <r> (accepts NULL). */
void report_destroy(struct report *r);

/* Fills <values> (REPORT_NFIELDS buffers of REPORT_VALUE_MAX bytes) for the field
 * names returned in <names>, from <ctx> at <now_wall_ms>; <is_connected>
 * is the value written for redis_connected. */
void report_build(const struct node_ctx *ctx, int64_t now_wall_ms, int is_connected,
                  const char **names, char (*values)[REPORT_VALUE_MAX]);

#endif
