/* Unit tests of common/metrics.c: one table rendered as Prometheus text,
 * JSON and heartbeat fields, and the naming rules of metrics_table_check(). */
#include <criterion/criterion.h>

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"

struct src {
    uint64_t requests;
    int64_t  level;
    double   age_s;
    uint64_t by_class[2];
    struct hist lat;
    const char *odd_label;
};

static void field_by_class(const void *s, const struct metrics_row *row, struct metrics_emit *e)
{
    (void)row;
    const struct src *x = s;
    metrics_uint(e, (const char *[]){ "2xx" }, x->by_class[0]);
    metrics_uint(e, (const char *[]){ "5xx" }, x->by_class[1]);
}

static void field_pair(const void *s, const struct metrics_row *row, struct metrics_emit *e)
{
    (void)row;
    const struct src *x = s;
    metrics_int(e, (const char *[]){ "request", "ok" }, 3);
    metrics_int(e, (const char *[]){ "request", "denied" }, 1);
    metrics_int(e, (const char *[]){ "tunnel", "ok" }, 2);
    metrics_int(e, (const char *[]){ x->odd_label, "ok" }, 9);
}

static void field_lat(const void *s, const struct metrics_row *row, struct metrics_emit *e)
{
    (void)row;
    metrics_hist(e, NULL, &((const struct src *)s)->lat);
}

static void field_info(const void *s, const struct metrics_row *row, struct metrics_emit *e)
{
    (void)s; (void)row;
    metrics_int(e, (const char *[]){ "1.2.3", "abc" }, 1);
}

static void field_empty(const void *s, const struct metrics_row *row, struct metrics_emit *e)
{
    (void)s; (void)row; (void)e;
}

static const struct metrics_row rows[] = {
    { "pf_t_requests_total", METRICS_COUNTER, METRICS_UNIT_NONE, "Requests.", { NULL, NULL },
      metrics_field_u64, offsetof(struct src, requests), METRICS_IN_REPORT },
    { "pf_t_level", METRICS_GAUGE, METRICS_UNIT_NONE, "Level.", { NULL, NULL },
      metrics_field_i64, offsetof(struct src, level), 0 },
    { "pf_t_age_seconds", METRICS_GAUGE, METRICS_UNIT_SECONDS, "Age.", { NULL, NULL },
      metrics_field_f64, offsetof(struct src, age_s), METRICS_IN_REPORT },
    { "pf_t_responses_total", METRICS_COUNTER, METRICS_UNIT_NONE, "By class.", { "class", NULL },
      field_by_class, 0, METRICS_IN_REPORT },
    { "pf_t_outcomes_total", METRICS_COUNTER, METRICS_UNIT_NONE, "By kind and outcome.",
      { "kind", "outcome" }, field_pair, 0, 0 },
    { "pf_t_latency_seconds", METRICS_HISTOGRAM, METRICS_UNIT_SECONDS, "Latency.", { NULL, NULL },
      field_lat, 0, 0 },
    { "pf_t_build_info", METRICS_GAUGE, METRICS_UNIT_NONE, "Build.", { "version", "commit" },
      field_info, 0, METRICS_NOT_JSON },
    { "pf_t_nothing", METRICS_GAUGE, METRICS_UNIT_NONE, "Nothing yet.", { "provider", NULL },
      field_empty, 0, 0 },
};

struct text {
    char  *buf;
    size_t len;
    int    fail_after;   /* writes before a failure, -1 = never */
};

static int text_write(void *arg, const char *s, size_t len)
{
    struct text *t = arg;
    if (t->fail_after == 0)
        return -1;
    if (t->fail_after > 0)
        t->fail_after--;
    char *nb = realloc(t->buf, t->len + len + 1);
    cr_assert_not_null(nb);
    memcpy(nb + t->len, s, len);
    t->buf = nb;
    t->len += len;
    t->buf[t->len] = '\0';
    return 0;
}

static struct src sample(void)
{
    struct src x;
    memset(&x, 0, sizeof(x));
    x.requests = 42;
    x.level = -3;
    x.age_s = 1.5;
    x.by_class[0] = 7;
    x.by_class[1] = 2;
    hist_init(&x.lat);
    hist_add(&x.lat, 150);        /* le 0.0002 */
    hist_add(&x.lat, 2500000);    /* le 5 */
    x.odd_label = "a\"b\\c\nd";
    return x;
}

Test(metrics, text_exposition)
{
    struct src x = sample();
    struct text t = { NULL, 0, -1 };
    cr_assert_eq(metrics_write_text(rows, PF_ARRAY_LEN(rows), &x, text_write, &t), PF_OK);
    const char *want[] = {
        "# HELP pf_t_requests_total Requests.\n# TYPE pf_t_requests_total counter\npf_t_requests_total 42\n",
        "# TYPE pf_t_level gauge\npf_t_level -3\n",
        "pf_t_age_seconds 1.5\n",
        "pf_t_responses_total{class=\"2xx\"} 7\npf_t_responses_total{class=\"5xx\"} 2\n",
        "pf_t_outcomes_total{kind=\"request\",outcome=\"denied\"} 1\n",
        "pf_t_outcomes_total{kind=\"a\\\"b\\\\c\\nd\",outcome=\"ok\"} 9\n",
        "# TYPE pf_t_latency_seconds histogram\npf_t_latency_seconds_bucket{le=\"0.0001\"} 0\n"
        "pf_t_latency_seconds_bucket{le=\"0.0002\"} 1\n",
        "pf_t_latency_seconds_bucket{le=\"5\"} 2\n",
        "pf_t_latency_seconds_bucket{le=\"60\"} 2\npf_t_latency_seconds_bucket{le=\"+Inf\"} 2\n"
        "pf_t_latency_seconds_sum 2.50015\npf_t_latency_seconds_count 2\n",
        "pf_t_build_info{version=\"1.2.3\",commit=\"abc\"} 1\n",
        "# HELP pf_t_nothing Nothing yet.\n# TYPE pf_t_nothing gauge\n",
    };
    for (size_t i = 0; i < PF_ARRAY_LEN(want); i++)
        cr_expect_not_null(strstr(t.buf, want[i]), "missing %s in:\n%s", want[i], t.buf);
    /* every line is a comment or a sample */
    for (const char *l = t.buf; *l != '\0'; l = strchr(l, '\n') + 1)
        cr_expect(l[0] == '#' || strncmp(l, "pf_t_", 5) == 0, "line: %.40s", l);
    free(t.buf);
}

Test(metrics, text_write_failure_is_reported)
{
    struct src x = sample();
    struct text t = { NULL, 0, 3 };
    cr_expect_eq(metrics_write_text(rows, PF_ARRAY_LEN(rows), &x, text_write, &t), PF_ENOMEM);
    free(t.buf);
}

Test(metrics, json_members)
{
    struct src x = sample();
    cJSON *built = cJSON_CreateObject();
    cr_assert_eq(metrics_add_json(rows, PF_ARRAY_LEN(rows), &x, "pf_t_", 0, built), PF_OK);
    /* integers are raw members (exact): read the document back */
    char *text = cJSON_PrintUnformatted(built);
    cJSON_Delete(built);
    cJSON *o = cJSON_Parse(text);
    cJSON_free(text);
    cr_assert_not_null(o);
    cr_expect_eq(cJSON_GetObjectItem(o, "requests_total")->valuedouble, 42);
    cr_expect_eq(cJSON_GetObjectItem(o, "level")->valuedouble, -3);
    cr_expect_float_eq(cJSON_GetObjectItem(o, "age_seconds")->valuedouble, 1.5, 1e-9);
    cJSON *rc = cJSON_GetObjectItem(o, "responses_total");
    cr_expect_eq(cJSON_GetObjectItem(rc, "5xx")->valuedouble, 2);
    cJSON *oc = cJSON_GetObjectItem(o, "outcomes_total");
    cr_expect_eq(cJSON_GetObjectItem(cJSON_GetObjectItem(oc, "request"), "denied")->valuedouble, 1);
    cr_expect_eq(cJSON_GetObjectItem(cJSON_GetObjectItem(oc, "tunnel"), "ok")->valuedouble, 2);
    cJSON *lat = cJSON_GetObjectItem(o, "latency_seconds");
    cr_expect_eq(cJSON_GetObjectItem(lat, "count")->valuedouble, 2);
    cr_expect_float_eq(cJSON_GetObjectItem(lat, "sum")->valuedouble, 2.50015, 1e-9);
    double p50 = cJSON_GetObjectItem(lat, "p50")->valuedouble;
    double p99 = cJSON_GetObjectItem(lat, "p99")->valuedouble;
    cr_expect(p50 > 0.0001 && p50 <= p99 && p99 <= 5.0, "p50 %f p99 %f", p50, p99);
    cr_expect_null(cJSON_GetObjectItem(o, "build_info"), "NOT_JSON rows stay out");
    cJSON *none = cJSON_GetObjectItem(o, "nothing");
    cr_expect(cJSON_IsObject(none) && none->child == NULL, "an empty labelled row is {}");
    cJSON_Delete(o);
}

Test(metrics, json_large_counter_is_exact)
{
    struct src x = sample();
    x.requests = 9007199254740993ull;     /* 2^53 + 1: a double would round it */
    cJSON *o = cJSON_CreateObject();
    cr_assert_eq(metrics_add_json(rows, 1, &x, "pf_t_", 0, o), PF_OK);
    char *s = cJSON_PrintUnformatted(o);
    cr_expect_str_eq(s, "{\"requests_total\":9007199254740993}");
    cJSON_free(s);
    cJSON_Delete(o);
}

struct fields {
    char names[8][64];
    char values[8][128];
    int  n;
};

static int collect(void *arg, const char *name, const char *value)
{
    struct fields *f = arg;
    cr_assert_lt(f->n, 8);
    snprintf(f->names[f->n], sizeof(f->names[0]), "%s", name);
    snprintf(f->values[f->n], sizeof(f->values[0]), "%s", value);
    f->n++;
    return 0;
}

Test(metrics, report_fields_are_the_flagged_rows)
{
    struct src x = sample();
    struct fields f;
    memset(&f, 0, sizeof(f));
    cr_assert_eq(metrics_report(rows, PF_ARRAY_LEN(rows), &x, "pf_t_", collect, &f), PF_OK);
    cr_assert_eq(f.n, 3);
    cr_expect_str_eq(f.names[0], "requests_total");
    cr_expect_str_eq(f.values[0], "42");
    cr_expect_str_eq(f.names[1], "age_seconds");
    cr_expect_str_eq(f.values[1], "1.5");
    cr_expect_str_eq(f.names[2], "responses_total");
    cr_expect_str_eq(f.values[2], "{\"2xx\":7,\"5xx\":2}");
}

static void field_wrong_labels(const void *s, const struct metrics_row *row, struct metrics_emit *e)
{
    (void)s; (void)row;
    metrics_int(e, NULL, 1);     /* the row has a label */
}

Test(metrics, a_sample_that_does_not_fit_its_row_fails)
{
    static const struct metrics_row bad[] = {
        { "pf_t_x", METRICS_GAUGE, METRICS_UNIT_NONE, "X.", { "a", NULL }, field_wrong_labels, 0, 0 },
    };
    static const struct metrics_row bad_hist[] = {
        { "pf_t_y_seconds", METRICS_GAUGE, METRICS_UNIT_SECONDS, "Y.", { NULL, NULL }, field_lat, 0, 0 },
    };
    struct src x = sample();
    struct text t = { NULL, 0, -1 };
    cr_expect_eq(metrics_write_text(bad, 1, &x, text_write, &t), PF_EINVAL);
    cr_expect_eq(metrics_write_text(bad_hist, 1, &x, text_write, &t), PF_EINVAL);
    cJSON *o = cJSON_CreateObject();
    cr_expect_eq(metrics_add_json(bad, 1, &x, "pf_t_", 0, o), PF_EINVAL);
    cJSON_Delete(o);
    free(t.buf);
}

Test(metrics, the_test_table_passes_the_check)
{
    struct pf_err err;
    pf_err_clear(&err);
    cr_expect_eq(metrics_table_check(rows, PF_ARRAY_LEN(rows), "pf_t_", &err), PF_OK, "%s", err.msg);
}

struct bad_case {
    struct metrics_row row;
    char why[48];
};

Test(metrics, check_refuses_each_rule)
{
    static const struct bad_case cases[] = {
        { { "pf_t_x", METRICS_COUNTER, METRICS_UNIT_NONE, "X.", { NULL, NULL }, metrics_field_u64, 0, 0 }, "ends in _total" },
        { { "pf_t_x_total", METRICS_GAUGE, METRICS_UNIT_NONE, "X.", { NULL, NULL }, metrics_field_u64, 0, 0 }, "only counters" },
        { { "pf_t_lat_ms", METRICS_GAUGE, METRICS_UNIT_NONE, "X.", { NULL, NULL }, metrics_field_u64, 0, 0 }, "not a base unit" },
        { { "pf_t_lat_milliseconds", METRICS_GAUGE, METRICS_UNIT_NONE, "X.", { NULL, NULL }, metrics_field_u64, 0, 0 }, "not a base unit" },
        { { "pf_t_lat", METRICS_GAUGE, METRICS_UNIT_SECONDS, "X.", { NULL, NULL }, metrics_field_u64, 0, 0 }, "unit seconds" },
        { { "pf_t_in_bytes", METRICS_GAUGE, METRICS_UNIT_NONE, "X.", { NULL, NULL }, metrics_field_u64, 0, 0 }, "unit not bytes" },
        { { "pf_t_x", METRICS_GAUGE, METRICS_UNIT_NONE, "", { NULL, NULL }, metrics_field_u64, 0, 0 }, "HELP" },
        { { "pf_t_x", METRICS_GAUGE, METRICS_UNIT_NONE, "a\nb", { NULL, NULL }, metrics_field_u64, 0, 0 }, "HELP" },
        { { "pf_t_x", METRICS_GAUGE, METRICS_UNIT_NONE, "X.", { "le", NULL }, metrics_field_u64, 0, 0 }, "bad label" },
        { { "pf_t_x", METRICS_GAUGE, METRICS_UNIT_NONE, "X.", { "a", "a" }, metrics_field_u64, 0, 0 }, "bad label" },
        { { "pf_t_x", METRICS_GAUGE, METRICS_UNIT_NONE, "X.", { "__a", NULL }, metrics_field_u64, 0, 0 }, "bad label" },
        { { "pf_t_x", METRICS_GAUGE, METRICS_UNIT_NONE, "X.", { NULL, "a" }, metrics_field_u64, 0, 0 }, "after a NULL" },
        { { "pf_t_x-y", METRICS_GAUGE, METRICS_UNIT_NONE, "X.", { NULL, NULL }, metrics_field_u64, 0, 0 }, "invalid metric name" },
        { { "other_x", METRICS_GAUGE, METRICS_UNIT_NONE, "X.", { NULL, NULL }, metrics_field_u64, 0, 0 }, "starts with neither" },
        { { "pf_t_x_count", METRICS_GAUGE, METRICS_UNIT_NONE, "X.", { NULL, NULL }, metrics_field_u64, 0, 0 }, "reserved" },
        { { "pf_t_x", METRICS_GAUGE, METRICS_UNIT_NONE, "X.", { NULL, NULL }, NULL, 0, 0 }, "no field" },
        { { "pf_t_x", METRICS_HISTOGRAM, METRICS_UNIT_NONE, "X.", { NULL, NULL }, field_lat, 0, 0 }, "histograms are of seconds" },
    };
    for (size_t i = 0; i < PF_ARRAY_LEN(cases); i++) {
        struct pf_err err;
        pf_err_clear(&err);
        cr_expect_eq(metrics_table_check(&cases[i].row, 1, "pf_t_", &err), PF_EINVAL, "case %zu", i);
        cr_expect_not_null(strstr(err.msg, cases[i].why), "case %zu: %s", i, err.msg);
    }
    /* the same name twice */
    struct metrics_row two[2] = { rows[0], rows[0] };
    struct pf_err err;
    pf_err_clear(&err);
    cr_expect_eq(metrics_table_check(two, 2, "pf_t_", &err), PF_EINVAL);
    cr_expect_not_null(strstr(err.msg, "listed twice"), "%s", err.msg);
}

Test(metrics, doc_rows)
{
    struct text t = { NULL, 0, -1 };
    cr_assert_eq(metrics_write_doc(rows, PF_ARRAY_LEN(rows), "pf_t_", text_write, &t), PF_OK);
    cr_expect_not_null(strstr(t.buf, "| `pf_t_requests_total` | counter | - | - | `requests_total` | Requests. |\n"), "%s", t.buf);
    cr_expect_not_null(strstr(t.buf, "| `pf_t_outcomes_total` | counter | `kind`, `outcome` | - | - | By kind and outcome. |\n"), "%s", t.buf);
    cr_expect_not_null(strstr(t.buf, "| `pf_t_age_seconds` | gauge | - | seconds | `age_seconds` | Age. |\n"), "%s", t.buf);
    free(t.buf);
}
