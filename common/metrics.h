/* The metrics engine: each binary describes its figures once, in one table
 * of rows (node/node_metrics.c, controller/controller_metrics.c), and this
 * module renders that table three ways:
 *   - the Prometheus text exposition (version 0.0.4) of /metrics;
 *   - JSON, one member per row (/stats, /status);
 *   - flat name/value fields, one per row marked METRICS_IN_REPORT (the
 *     heartbeat hashes in Redis).
 * A figure therefore has one name everywhere: the row's Prometheus name,
 * and in JSON and Redis the same name without the binary's prefix
 * ("pf_node_requests_total" is "requests_total" in /stats and in the node
 * hash). A labelled figure is one JSON object keyed by label value (two
 * labels nest), a histogram is {"count","sum","p50","p95","p99"}, in the
 * row's base unit (seconds, bytes).
 *
 * A row reads its figure(s) through its field function from a source the
 * binary passes in (its context, the clock, /proc, read once per render),
 * so the table is the only list of figures. metrics_table_check() enforces
 * the naming rules promtool's lint applies, and more (base units,
 * "_total" exactly on counters, HELP everywhere, unique names).
 *
 * Pure: no I/O but the caller's write callback, no globals, no logging. */
#ifndef PF_METRICS_H
#define PF_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "err.h"
#include "hist.h"
#include "pf.h"

enum metrics_type {
    METRICS_COUNTER = 0,
    METRICS_GAUGE,
    METRICS_HISTOGRAM,        /* a struct hist of microseconds, exposed in seconds */
};

/* The base unit of a row's values; the name must carry it. */
enum metrics_unit {
    METRICS_UNIT_NONE = 0,
    METRICS_UNIT_SECONDS,     /* "_seconds" in the name */
    METRICS_UNIT_BYTES,       /* "bytes" in the name */
};

#define METRICS_LABELS_MAX 2

/* Row flags. */
#define METRICS_IN_REPORT 0x1u  /* also a field of the binary's heartbeat hash */
#define METRICS_NOT_JSON  0x2u  /* /metrics only (build_info: its labels are
                                   identity fields of the JSON documents) */

struct metrics_emit;            /* where a field function puts its samples */
struct metrics_row;

/* Reads the figure(s) of <row> from <src> (the binary's source struct) and
 * emits them with metrics_int(), metrics_num() or metrics_hist(). A
 * labelled row emits one sample per label set, or none. */
typedef void metrics_field_fn(const void *src, const struct metrics_row *row,
                              struct metrics_emit *e);

struct metrics_row {
    const char       *name;     /* full Prometheus name: "pf_node_requests_total" */
    enum metrics_type type;
    enum metrics_unit unit;
    const char       *help;     /* one sentence, no newline */
    const char       *labels[METRICS_LABELS_MAX]; /* label names, unused ones NULL */
    metrics_field_fn *field;    /* reads the figure */
    size_t            arg;      /* for <field>: e.g. offsetof() of a counter */
    unsigned          flags;    /* METRICS_IN_REPORT, METRICS_NOT_JSON */
};

/* ---- field functions: emitting samples ---------------------------------- */

/* Emits one sample of the current row. <lv> holds one label value per
 * label name of the row (NULL for a row without labels). */
void metrics_int(struct metrics_emit *e, const char *const *lv, int64_t v);
void metrics_uint(struct metrics_emit *e, const char *const *lv, uint64_t v);
void metrics_num(struct metrics_emit *e, const char *const *lv, double v);

/* Emits histogram <h> (microseconds) of the current row, in seconds. */
void metrics_hist(struct metrics_emit *e, const char *const *lv, const struct hist *h);

/* Field functions for the common cases: the uint64_t / int64_t / double at
 * offset <row>->arg of <src>. */
void metrics_field_u64(const void *src, const struct metrics_row *row, struct metrics_emit *e);
void metrics_field_i64(const void *src, const struct metrics_row *row, struct metrics_emit *e);
void metrics_field_f64(const void *src, const struct metrics_row *row, struct metrics_emit *e);

/* ---- renderers ---------------------------------------------------------- */

/* Where the text renderer writes: <len> bytes at <s>. Returns 0, or -1 to
 * stop the render (out of memory). */
typedef int metrics_write_fn(void *arg, const char *s, size_t len);

/* Writes the Prometheus text exposition of the <n> <rows> read from <src>
 * (HELP and TYPE for every row, then its samples) through <write>.
 * Returns PF_OK, PF_ENOMEM when <write> failed, or PF_EINVAL when a field
 * function emitted samples that do not fit its row (a bug). */
int metrics_write_text(const struct metrics_row *rows, size_t n, const void *src,
                       metrics_write_fn *write, void *arg) PF_MUSTCHECK;

/* Adds one member per row to JSON object <obj>: key = the name without
 * <prefix> (when it starts with it), value = a number, an object keyed by
 * label value, or a histogram object. Rows flagged METRICS_NOT_JSON are
 * left out, and with <need> set only the rows having all of its flags.
 * Returns PF_OK, PF_ENOMEM or PF_EINVAL (as metrics_write_text()). */
int metrics_add_json(const struct metrics_row *rows, size_t n, const void *src,
                     const char *prefix, unsigned need, cJSON *obj) PF_MUSTCHECK;

/* Called once per METRICS_IN_REPORT row with its JSON key and the text of
 * its value (a decimal number, or the compact JSON of a labelled row or
 * histogram). Returns 0, or -1 to stop. */
typedef int metrics_report_fn(void *arg, const char *name, const char *value);

/* The heartbeat fields of <rows> read from <src>, keyed as in
 * metrics_add_json(). Returns PF_OK, PF_ENOMEM (or <fn> stopped) or
 * PF_EINVAL. */
int metrics_report(const struct metrics_row *rows, size_t n, const void *src,
                   const char *prefix, metrics_report_fn *fn, void *arg) PF_MUSTCHECK;

/* ---- the table itself --------------------------------------------------- */

/* Checks the naming rules on <rows>: names [a-zA-Z_:][a-zA-Z0-9_:]*, unique,
 * starting with <prefix> or "process_"; counters end in "_total" and
 * nothing else does; no "_bucket", "_sum", "_count" ending; base units only
 * (no "_ms", "_us", "milliseconds", "kilobytes" ...); the unit in the name;
 * a HELP text without newline; label names valid, unique, not "le" nor
 * reserved ("__"); a field function on every row. Returns PF_OK or
 * PF_EINVAL with the first offence in <err>. */
int metrics_table_check(const struct metrics_row *rows, size_t n, const char *prefix,
                        struct pf_err *err) PF_MUSTCHECK;

/* Writes the reference rows of docs/metrics.md for <rows>, one line each:
 * "| `name` | type | labels | unit | `heartbeat field` or - | help |". Returns PF_OK or
 * PF_ENOMEM when <write> failed. */
int metrics_write_doc(const struct metrics_row *rows, size_t n, const char *prefix,
                      metrics_write_fn *write, void *arg) PF_MUSTCHECK;

/* "counter", "gauge", "histogram". */
const char *metrics_type_name(enum metrics_type t);

#endif
