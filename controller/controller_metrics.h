/* The controller's one table of figures (common/metrics.h): every counter,
 * gauge and histogram it exports, with name, type, unit, help, labels and
 * the field it is read from. /metrics (Prometheus text), /status (JSON) and
 * the figures of the heartbeat hash {pf}:v1:controller are rendered from
 * it, so a figure has one name: "pf_controller_<name>" in /metrics,
 * "<name>" in /status and in Redis. docs/metrics.md lists the table; a
 * unit test keeps the two equal (tests/unit/test_controller_metrics.c). */
#ifndef PF_CTL_CONTROLLER_METRICS_H
#define PF_CTL_CONTROLLER_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "controller.h"
#include "metrics.h"
#include "procstat.h"

#define CONTROLLER_METRICS_PREFIX "pf_controller_"

/* What one render reads: the context, and what is computed once per render
 * (the clock, /proc, the health table's counts). */
struct controller_metrics_src {
    struct procstat       proc;         /* first: PROCSTAT_ROWS read it */
    const struct ctl_ctx *ctx;          /* borrowed */
    int64_t               now_wall_ms;
    int64_t               now_mono_ms;
    size_t                health_by_state[3]; /* tracked upstreams by enum health_state */
    size_t                health_ejected;     /* passively ejected now */
    size_t                health_excluded;    /* left out of the pool now */
};

/* The table: <*n> rows. */
const struct metrics_row *controller_metrics_table(size_t *n);

/* Reads the clock, /proc/self and the health table of <ctx> into <src>. */
void controller_metrics_src_init(struct controller_metrics_src *src, const struct ctl_ctx *ctx);

/* /metrics: the Prometheus text of the table through <write>. Returns
 * PF_OK or PF_ENOMEM (PF_EINVAL: a bug in a row). */
int controller_metrics_write_text(const struct controller_metrics_src *src,
                                  metrics_write_fn *write, void *arg) PF_MUSTCHECK;

/* /status: the table's members added to <obj>. Returns PF_OK or PF_ENOMEM. */
int controller_metrics_add_json(const struct controller_metrics_src *src,
                                cJSON *obj) PF_MUSTCHECK;

/* The heartbeat's figures (rows marked METRICS_IN_REPORT) through <fn>.
 * Returns PF_OK or PF_ENOMEM. */
int controller_metrics_report(const struct controller_metrics_src *src, metrics_report_fn *fn,
                              void *arg) PF_MUSTCHECK;

#endif
