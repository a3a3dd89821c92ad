/* The node's heartbeat in Redis (pool mode): every node.report_interval_ms,
 * the fields of {pf}:v1:node:<node_id> (the node's identity and the
 * figures node_metrics.h marks for the report) and the outcome counters of
 * {pf}:v1:node:<node_id>:upstreams (docs/redis-keys.md) are written with a
 * TTL of 3 intervals, through redis_link's command API; nothing is queued
 * while Redis is down. The same timer saves a changed pool to
 * node.snapshot_file (snapshot_file.h), Redis up or not. */
#ifndef PF_NODE_REPORT_H
#define PF_NODE_REPORT_H

#include <stddef.h>

#include "node.h"

struct report;

/* Starts the periodic report on <ctx>->base (needs <ctx>->redis). The pool
 * in <ctx> at this point (e.g. loaded from node.snapshot_file) counts as
 * saved. Returns NULL on allocation failure. */
struct report *report_create(struct node_ctx *ctx);

/* Stops and frees <r> (accepts NULL). <r> is the argument of its writes in
 * flight: destroy it together with <ctx>->redis (no loop turn in between). */
void report_destroy(struct report *r);

#endif
