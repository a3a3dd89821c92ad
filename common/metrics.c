/* The metrics engine; see metrics.h. */
#include "metrics.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json_text.h"

#define LINE_MAX_LEN 1024   /* one sample line; label values are bounded names */

enum emit_mode { EMIT_TEXT, EMIT_JSON };

enum value_kind { VAL_INT, VAL_UINT, VAL_NUM };

struct metrics_emit {
    enum emit_mode            mode;
    const struct metrics_row *row;
    int                       nlabels;  /* label names of <row> */
    int                       rc;       /* first failure, PF_OK */
    metrics_write_fn         *write;    /* text */
    void                     *arg;
    cJSON                    *obj;      /* json: the object the row's member goes in */
    const char               *key;      /* json: the row's member name */
};

static int row_nlabels(const struct metrics_row *row)
{
    int n = 0;
    while (n < METRICS_LABELS_MAX && row->labels[n] != NULL)
        n++;
    return n;
}

static void emit_fail(struct metrics_emit *e, int rc)
{
    if (e->rc == PF_OK)
        e->rc = rc;
}

/* 1 when <lv> carries a value for each label of the row. */
static int labels_fit(struct metrics_emit *e, const char *const *lv)
{
    if (e->nlabels == 0)
        return 1;
    if (lv == NULL)
        return 0;
    for (int i = 0; i < e->nlabels; i++)
        if (lv[i] == NULL)
            return 0;
    return 1;
}

/* ---- text ---------------------------------------------------------------- */

struct line {
    char   buf[LINE_MAX_LEN];
    size_t len;
    int    is_cut;
};

static void line_add(struct line *l, const char *s, size_t n)
{
    if (l->len + n >= sizeof(l->buf)) {
        l->is_cut = 1;
        return;
    }
    memcpy(l->buf + l->len, s, n);
    l->len += n;
    l->buf[l->len] = '\0';
}

static void line_str(struct line *l, const char *s)
{
    line_add(l, s, strlen(s));
}

/* A label value, escaped as the exposition format wants (\\, \", \n). */
static void line_label_value(struct line *l, const char *v)
{
    for (const char *p = v; *p != '\0'; p++) {
        if (*p == '\\')
            line_add(l, "\\\\", 2);
        else if (*p == '"')
            line_add(l, "\\\"", 2);
        else if (*p == '\n')
            line_add(l, "\\n", 2);
        else
            line_add(l, p, 1);
    }
}

/* "name<suffix>{l1="v1",l2="v2"[,le="<le>"]}" */
static void line_series(struct line *l, const struct metrics_emit *e, const char *suffix,
                        const char *const *lv, const char *le)
{
    line_str(l, e->row->name);
    line_str(l, suffix);
    if (e->nlabels == 0 && le == NULL)
        return;
    line_add(l, "{", 1);
    for (int i = 0; i < e->nlabels; i++) {
        if (i > 0)
            line_add(l, ",", 1);
        line_str(l, e->row->labels[i]);
        line_add(l, "=\"", 2);
        line_label_value(l, lv[i]);
        line_add(l, "\"", 1);
    }
    if (le != NULL) {
        if (e->nlabels > 0)
            line_add(l, ",", 1);
        line_add(l, "le=\"", 4);
        line_str(l, le);
        line_add(l, "\"", 1);
    }
    line_add(l, "}", 1);
}

/* A sample value as Go's ParseFloat reads it. */
static void format_num(char *buf, size_t len, double v)
{
    if (isnan(v))
        snprintf(buf, len, "NaN");
    else if (isinf(v))
        snprintf(buf, len, "%s", v > 0 ? "+Inf" : "-Inf");
    else
        snprintf(buf, len, "%.15g", v);
}

static void format_value(char *buf, size_t len, enum value_kind kind, int64_t i, uint64_t u,
                         double d)
{
    switch (kind) {
    case VAL_INT:  snprintf(buf, len, "%" PRId64, i); break;
    case VAL_UINT: snprintf(buf, len, "%" PRIu64, u); break;
    case VAL_NUM:
    default:       format_num(buf, len, d); break;
    }
}

static void text_line(struct metrics_emit *e, struct line *l)
{
    if (l->is_cut) {
        emit_fail(e, PF_EINVAL);
        return;
    }
    line_add(l, "\n", 1);
    if (e->rc == PF_OK && e->write(e->arg, l->buf, l->len) != 0)
        emit_fail(e, PF_ENOMEM);
}

static void text_sample(struct metrics_emit *e, const char *suffix, const char *const *lv,
                        const char *le, const char *value)
{
    struct line l = { .len = 0, .is_cut = 0 };
    l.buf[0] = '\0';
    line_series(&l, e, suffix, lv, le);
    line_add(&l, " ", 1);
    line_str(&l, value);
    text_line(e, &l);
}

static void text_hist(struct metrics_emit *e, const char *const *lv, const struct hist *h)
{
    char le[32], value[32];
    uint64_t cum = 0;
    for (int i = 0; i < HIST_NBUCKETS; i++) {
        cum += h->counts[i];
        format_num(le, sizeof(le), (double)hist_bucket_le_us(i) / 1e6);
        snprintf(value, sizeof(value), "%" PRIu64, cum);
        text_sample(e, "_bucket", lv, le, value);
    }
    snprintf(value, sizeof(value), "%" PRIu64, h->count);
    text_sample(e, "_bucket", lv, "+Inf", value);
    format_num(value, sizeof(value), (double)h->sum_us / 1e6);
    text_sample(e, "_sum", lv, NULL, value);
    snprintf(value, sizeof(value), "%" PRIu64, h->count);
    text_sample(e, "_count", lv, NULL, value);
}

/* ---- JSON ---------------------------------------------------------------- */

/* The object that holds the value for label values <lv>: the row's member
 * for one label, nested by the first for two; sets <*key> to the member
 * name the value goes under. NULL when out of memory. */
static cJSON *json_parent(struct metrics_emit *e, const char *const *lv, const char **key)
{
    if (e->nlabels == 0) {
        *key = e->key;
        return e->obj;
    }
    cJSON *o = cJSON_GetObjectItemCaseSensitive(e->obj, e->key);
    if (o == NULL)
        o = cJSON_AddObjectToObject(e->obj, e->key);
    for (int i = 0; o != NULL && i < e->nlabels - 1; i++) {
        cJSON *next = cJSON_GetObjectItemCaseSensitive(o, lv[i]);
        o = next != NULL ? next : cJSON_AddObjectToObject(o, lv[i]);
    }
    *key = lv[e->nlabels - 1];
    return o;
}

static void json_value(struct metrics_emit *e, const char *const *lv, enum value_kind kind,
                       int64_t i, uint64_t u, double d)
{
    const char *key = NULL;
    cJSON *o = json_parent(e, lv, &key);
    cJSON *item = NULL;
    if (o != NULL) {
        if (kind == VAL_INT)
            item = json_add_int(o, key, i);
        else if (kind == VAL_UINT && u <= (uint64_t)INT64_MAX)
            item = json_add_int(o, key, (int64_t)u);
        else
            item = cJSON_AddNumberToObject(o, key, kind == VAL_UINT ? (double)u
                                                   : isfinite(d) ? d : 0.0);
    }
    if (item == NULL)
        emit_fail(e, PF_ENOMEM);
}

static void json_hist(struct metrics_emit *e, const char *const *lv, const struct hist *h)
{
    const char *key = NULL;
    cJSON *o = json_parent(e, lv, &key);
    cJSON *hj = o != NULL ? cJSON_AddObjectToObject(o, key) : NULL;
    if (hj == NULL || json_add_int(hj, "count", (int64_t)h->count) == NULL ||
        cJSON_AddNumberToObject(hj, "sum", (double)h->sum_us / 1e6) == NULL ||
        cJSON_AddNumberToObject(hj, "p50", hist_quantile_us(h, 0.50) / 1e6) == NULL ||
        cJSON_AddNumberToObject(hj, "p95", hist_quantile_us(h, 0.95) / 1e6) == NULL ||
        cJSON_AddNumberToObject(hj, "p99", hist_quantile_us(h, 0.99) / 1e6) == NULL)
        emit_fail(e, PF_ENOMEM);
}

/* ---- emitting ------------------------------------------------------------ */

static void emit_value(struct metrics_emit *e, const char *const *lv, enum value_kind kind,
                       int64_t i, uint64_t u, double d)
{
    if (e->rc != PF_OK)
        return;
    if (!labels_fit(e, lv) || e->row->type == METRICS_HISTOGRAM) {
        emit_fail(e, PF_EINVAL);
        return;
    }
    if (e->mode == EMIT_JSON) {
        json_value(e, lv, kind, i, u, d);
        return;
    }
    char value[48];
    format_value(value, sizeof(value), kind, i, u, d);
    text_sample(e, "", lv, NULL, value);
}

void metrics_int(struct metrics_emit *e, const char *const *lv, int64_t v)
{
    emit_value(e, lv, VAL_INT, v, 0, 0.0);
}

void metrics_uint(struct metrics_emit *e, const char *const *lv, uint64_t v)
{
    emit_value(e, lv, VAL_UINT, 0, v, 0.0);
}

void metrics_num(struct metrics_emit *e, const char *const *lv, double v)
{
    emit_value(e, lv, VAL_NUM, 0, 0, v);
}

void metrics_hist(struct metrics_emit *e, const char *const *lv, const struct hist *h)
{
    if (e->rc != PF_OK)
        return;
    if (!labels_fit(e, lv) || e->row->type != METRICS_HISTOGRAM) {
        emit_fail(e, PF_EINVAL);
        return;
    }
    if (e->mode == EMIT_JSON)
        json_hist(e, lv, h);
    else
        text_hist(e, lv, h);
}

void metrics_field_u64(const void *src, const struct metrics_row *row, struct metrics_emit *e)
{
    uint64_t v;
    memcpy(&v, (const char *)src + row->arg, sizeof(v));
    metrics_uint(e, NULL, v);
}

void metrics_field_i64(const void *src, const struct metrics_row *row, struct metrics_emit *e)
{
    int64_t v;
    memcpy(&v, (const char *)src + row->arg, sizeof(v));
    metrics_int(e, NULL, v);
}

void metrics_field_f64(const void *src, const struct metrics_row *row, struct metrics_emit *e)
{
    double v;
    memcpy(&v, (const char *)src + row->arg, sizeof(v));
    metrics_num(e, NULL, v);
}

/* ---- renderers ----------------------------------------------------------- */

const char *metrics_type_name(enum metrics_type t)
{
    switch (t) {
    case METRICS_COUNTER:   return "counter";
    case METRICS_GAUGE:     return "gauge";
    case METRICS_HISTOGRAM: return "histogram";
    }
    return "untyped";
}

static const char *json_key(const char *name, const char *prefix)
{
    size_t n = prefix != NULL ? strlen(prefix) : 0;
    return n > 0 && strncmp(name, prefix, n) == 0 ? name + n : name;
}

int metrics_write_text(const struct metrics_row *rows, size_t n, const void *src,
                       metrics_write_fn *write, void *arg)
{
    struct metrics_emit e = { .mode = EMIT_TEXT, .rc = PF_OK, .write = write, .arg = arg };
    for (size_t i = 0; i < n && e.rc == PF_OK; i++) {
        const struct metrics_row *r = &rows[i];
        struct line l = { .len = 0, .is_cut = 0 };
        l.buf[0] = '\0';
        line_str(&l, "# HELP ");
        line_str(&l, r->name);
        line_add(&l, " ", 1);
        line_str(&l, r->help);
        line_str(&l, "\n# TYPE ");
        line_str(&l, r->name);
        line_add(&l, " ", 1);
        line_str(&l, metrics_type_name(r->type));
        e.row = r;
        e.nlabels = row_nlabels(r);
        text_line(&e, &l);
        if (e.rc == PF_OK)
            r->field(src, r, &e);
    }
    return e.rc;
}

int metrics_add_json(const struct metrics_row *rows, size_t n, const void *src,
                     const char *prefix, unsigned need, cJSON *obj)
{
    struct metrics_emit e = { .mode = EMIT_JSON, .rc = PF_OK, .obj = obj };
    for (size_t i = 0; i < n && e.rc == PF_OK; i++) {
        const struct metrics_row *r = &rows[i];
        if ((r->flags & METRICS_NOT_JSON) || (r->flags & need) != need)
            continue;
        e.row = r;
        e.nlabels = row_nlabels(r);
        e.key = json_key(r->name, prefix);
        /* a labelled row that emits nothing is still there, empty */
        if (e.nlabels > 0 && cJSON_AddObjectToObject(obj, e.key) == NULL)
            emit_fail(&e, PF_ENOMEM);
        if (e.rc == PF_OK)
            r->field(src, r, &e);
    }
    return e.rc;
}

int metrics_report(const struct metrics_row *rows, size_t n, const void *src,
                   const char *prefix, metrics_report_fn *fn, void *arg)
{
    cJSON *obj = cJSON_CreateObject();
    if (obj == NULL)
        return PF_ENOMEM;
    int rc = metrics_add_json(rows, n, src, prefix, METRICS_IN_REPORT, obj);
    for (cJSON *it = obj->child; rc == PF_OK && it != NULL; it = it->next) {
        char *text = cJSON_PrintUnformatted(it);
        if (text == NULL) {
            rc = PF_ENOMEM;
            break;
        }
        if (fn(arg, it->string, text) != 0)
            rc = PF_ENOMEM;
        cJSON_free(text);
    }
    cJSON_Delete(obj);
    return rc;
}

/* ---- the table itself ---------------------------------------------------- */

static int is_name_char(int c, int is_first)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' ||
           (!is_first && c >= '0' && c <= '9');
}

static int is_valid_name(const char *s)
{
    if (s == NULL || s[0] == '\0')
        return 0;
    for (const char *p = s; *p != '\0'; p++)
        if (!is_name_char((unsigned char)*p, p == s))
            return 0;
    return 1;
}

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

/* 1 when "_<word>" appears in <name> as a whole word (followed by '_' or
 * the end). */
static int has_word(const char *name, const char *word)
{
    size_t k = strlen(word);
    for (const char *p = strchr(name, '_'); p != NULL; p = strchr(p + 1, '_'))
        if (strncmp(p + 1, word, k) == 0 && (p[1 + k] == '_' || p[1 + k] == '\0'))
            return 1;
    return 0;
}

int metrics_table_check(const struct metrics_row *rows, size_t n, const char *prefix,
                        struct pf_err *err)
{
    /* promtool's list of abbreviated and non-base units, and a few more */
    static const char *const bad_units[] = {
        "ms", "us", "ns", "sec", "secs", "min", "mins", "hour", "hours", "day", "days",
        "milliseconds", "microseconds", "nanoseconds", "minutes",
        "b", "kb", "mb", "gb", "kib", "mib", "gib",
        "kilobytes", "megabytes", "gigabytes", "bits", "percent",
    };
    for (size_t i = 0; i < n; i++) {
        const struct metrics_row *r = &rows[i];
        const char *nm = r->name != NULL ? r->name : "(null)";
        if (!is_valid_name(r->name))
            return pf_err_set(err, PF_EINVAL, "row %zu: invalid metric name \"%s\"", i, nm);
        if (strncmp(nm, prefix, strlen(prefix)) != 0 && strncmp(nm, "process_", 8) != 0)
            return pf_err_set(err, PF_EINVAL, "%s: name starts with neither %s nor process_", nm,
                              prefix);
        for (size_t j = 0; j < i; j++)
            if (strcmp(rows[j].name, nm) == 0)
                return pf_err_set(err, PF_EINVAL, "%s: listed twice", nm);
        if (r->type == METRICS_COUNTER && !ends_with(nm, "_total"))
            return pf_err_set(err, PF_EINVAL, "%s: a counter's name ends in _total", nm);
        if (r->type != METRICS_COUNTER && ends_with(nm, "_total"))
            return pf_err_set(err, PF_EINVAL, "%s: only counters end in _total", nm);
        if (ends_with(nm, "_bucket") || ends_with(nm, "_sum") || ends_with(nm, "_count"))
            return pf_err_set(err, PF_EINVAL, "%s: _bucket, _sum and _count are reserved", nm);
        for (size_t k = 0; k < PF_ARRAY_LEN(bad_units); k++)
            if (has_word(nm, bad_units[k]))
                return pf_err_set(err, PF_EINVAL, "%s: \"%s\" is not a base unit", nm,
                                  bad_units[k]);
        if (r->unit == METRICS_UNIT_SECONDS && !has_word(nm, "seconds"))
            return pf_err_set(err, PF_EINVAL, "%s: unit seconds, but not in the name", nm);
        if (r->unit == METRICS_UNIT_BYTES && !has_word(nm, "bytes"))
            return pf_err_set(err, PF_EINVAL, "%s: unit bytes, but not in the name", nm);
        if (r->unit != METRICS_UNIT_SECONDS && has_word(nm, "seconds"))
            return pf_err_set(err, PF_EINVAL, "%s: \"seconds\" in the name, unit not seconds", nm);
        if (r->unit != METRICS_UNIT_BYTES && has_word(nm, "bytes"))
            return pf_err_set(err, PF_EINVAL, "%s: \"bytes\" in the name, unit not bytes", nm);
        if (r->type == METRICS_HISTOGRAM && r->unit != METRICS_UNIT_SECONDS)
            return pf_err_set(err, PF_EINVAL, "%s: histograms are of seconds", nm);
        if (r->help == NULL || r->help[0] == '\0' || strchr(r->help, '\n') != NULL ||
            strchr(r->help, '\\') != NULL)
            return pf_err_set(err, PF_EINVAL, "%s: HELP is one line of text", nm);
        if (r->field == NULL)
            return pf_err_set(err, PF_EINVAL, "%s: no field function", nm);
        int nl = row_nlabels(r);
        for (int k = nl; k < METRICS_LABELS_MAX; k++)
            if (r->labels[k] != NULL)
                return pf_err_set(err, PF_EINVAL, "%s: a label name after a NULL one", nm);
        for (int k = 0; k < nl; k++) {
            const char *ln = r->labels[k];
            if (!is_valid_name(ln) || strchr(ln, ':') != NULL || strncmp(ln, "__", 2) == 0 ||
                strcmp(ln, "le") == 0 || (k == 1 && strcmp(ln, r->labels[0]) == 0))
                return pf_err_set(err, PF_EINVAL, "%s: bad label name \"%s\"", nm, ln);
        }
    }
    return PF_OK;
}

static const char *unit_name(enum metrics_unit u)
{
    switch (u) {
    case METRICS_UNIT_SECONDS: return "seconds";
    case METRICS_UNIT_BYTES:   return "bytes";
    case METRICS_UNIT_NONE:    break;
    }
    return "-";
}

int metrics_write_doc(const struct metrics_row *rows, size_t n, const char *prefix,
                      metrics_write_fn *write, void *arg)
{
    for (size_t i = 0; i < n; i++) {
        const struct metrics_row *r = &rows[i];
        char labels[128] = "";
        size_t len = 0;
        for (int k = 0; k < row_nlabels(r); k++)
            len += (size_t)snprintf(labels + len, sizeof(labels) - PF_MIN_OF(len, sizeof(labels)),
                                    "%s`%s`", k > 0 ? ", " : "", r->labels[k]);
        char field[128] = "-";
        if (r->flags & METRICS_IN_REPORT)
            snprintf(field, sizeof(field), "`%s`", json_key(r->name, prefix));
        char line[LINE_MAX_LEN];
        int w = snprintf(line, sizeof(line), "| `%s` | %s | %s | %s | %s | %s |\n", r->name,
                         metrics_type_name(r->type), labels[0] != '\0' ? labels : "-",
                         unit_name(r->unit), field, r->help);
        if (w < 0 || (size_t)w >= sizeof(line) || write(arg, line, (size_t)w) != 0)
            return PF_ENOMEM;
    }
    return PF_OK;
}
