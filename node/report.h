/* The node's heartbeat in Redis (pool mode): every node.report_interval_ms,
 * the fields of {pf}:v1:node:<node_id> and the outcome counters of
 * {pf}:v1:node:<node_id>:upstreams (docs/redis-keys.md) are written with a
 * TTL of 3 intervals, through redis_link's command API; nothing is queued
 * while Redis is down. The same timer saves a changed pool to
 * node.snapshot_file (snapshot_file.h), Redis up or not. */
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

/* Stops and frees <r> (accepts NULL). <r> is the argument of its writes in
 * flight: destroy it together with <ctx>->redis (no loop turn in between). */
void report_destroy(struct report *r);

/* Fills <values> (REPORT_NFIELDS buffers of REPORT_VALUE_MAX bytes) for the field
 * names returned in <names>, from <ctx> at <now_wall_ms>; <is_connected>
 * is the value written for redis_connected. */
void report_build(const struct node_ctx *ctx, int64_t now_wall_ms, int is_connected,
                  const char **names, char (*values)[REPORT_VALUE_MAX]);

#endif
