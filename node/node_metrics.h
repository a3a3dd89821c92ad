/* The node's one table of figures (common/metrics.h): every counter, gauge
 * and histogram the node exports, with its name, type, unit, help, labels
 * and the field it is read from. /metrics (Prometheus text), /stats (JSON)
 * and the heartbeat hash {pf}:v1:node:<id> (report.c) are all rendered from
 * it, so a figure has one name: "pf_node_<name>" in /metrics, "<name>" in
 * /stats and in Redis. docs/metrics.md lists the table; a unit test keeps
 * the two equal (tests/unit/test_node_metrics.c). */
#ifndef PF_NODE_NODE_METRICS_H
#define PF_NODE_NODE_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "metrics.h"
#include "node.h"
#include "procstat.h"
#include "readiness.h"

#define NODE_METRICS_PREFIX "pf_node_"

/* What one render reads: the context, and what is computed once per render
 * (the clock, /proc, readiness). */
struct node_metrics_src {
    struct procstat        proc;        /* first: PROCSTAT_ROWS read it */
    const struct node_ctx *ctx;         /* borrowed */
    int64_t                now_wall_ms;
    int64_t                now_mono_ms;
    struct readiness       ready;
};

/* The table: <*n> rows. */
const struct metrics_row *node_metrics_table(size_t *n);

/* Reads the clock, /proc/self and the readiness of <ctx> into <src>. */
void node_metrics_src_init(struct node_metrics_src *src, const struct node_ctx *ctx);

/* /metrics: the Prometheus text of the table through <write>. Returns
 * PF_OK or PF_ENOMEM (PF_EINVAL: a bug in a row). */
int node_metrics_write_text(const struct node_metrics_src *src, metrics_write_fn *write,
                            void *arg) PF_MUSTCHECK;

/* /stats: the table's members added to <obj>. Returns PF_OK or PF_ENOMEM. */
int node_metrics_add_json(const struct node_metrics_src *src, cJSON *obj) PF_MUSTCHECK;

/* The heartbeat's figures (rows marked METRICS_IN_REPORT) through <fn>.
 * Returns PF_OK or PF_ENOMEM. */
int node_metrics_report(const struct node_metrics_src *src, metrics_report_fn *fn,
                        void *arg) PF_MUSTCHECK;

#endif
