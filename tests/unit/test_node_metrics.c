/* Unit tests of node/node_metrics.c: the node's table obeys the naming
 * rules, renders from a context without a bug in any row, and is the one
 * in docs/metrics.md. */
#include <criterion/criterion.h>

#include <string.h>

#include "metrics_doc.h"
#include "node_metrics.h"

Test(node_metrics, table_passes_the_naming_rules)
{
    size_t n;
    const struct metrics_row *rows = node_metrics_table(&n);
    struct pf_err err;
    pf_err_clear(&err);
    cr_expect_eq(metrics_table_check(rows, n, NODE_METRICS_PREFIX, &err), PF_OK, "%s", err.msg);
}

Test(node_metrics, docs_list_the_table)
{
    size_t n;
    const struct metrics_row *rows = node_metrics_table(&n);
    metrics_doc_check("node", rows, n, NODE_METRICS_PREFIX);
}

static int text_sink(void *arg, const char *s, size_t len)
{
    return doc_write(arg, s, len);
}

/* A node context as a direct-mode node has it before its loop starts: no
 * Redis session, no pool. Every row renders, each with its samples. */
Test(node_metrics, every_row_renders_from_a_bare_context)
{
    static struct node_ctx ctx;
    memset(&ctx, 0, sizeof(ctx));
    conf_init_defaults(&ctx.conf);
    pool_cache_init(&ctx.pool);
    ctx.stats.requests_total = 5;
    ctx.stats.errors_503 = 2;
    hist_init(&ctx.stats.ttfb);
    hist_add(&ctx.stats.ttfb, 1500);
    struct node_metrics_src src;
    node_metrics_src_init(&src, &ctx);
    struct doc_text t = { NULL, 0 };
    cr_assert_eq(node_metrics_write_text(&src, text_sink, &t), PF_OK);
    cr_expect_not_null(strstr(t.buf, "\npf_node_requests_total 5\n"));
    cr_expect_not_null(strstr(t.buf, "\npf_node_errors_total{code=\"503\"} 2\n"));
    cr_expect_not_null(strstr(t.buf, "\npf_node_ttfb_seconds_count 1\n"));
    cr_expect_not_null(strstr(t.buf, "\npf_node_build_info{version=\""));
    cr_expect_not_null(strstr(t.buf, "\nprocess_open_fds "));
    size_t n;
    const struct metrics_row *rows = node_metrics_table(&n);
    for (size_t i = 0; i < n; i++) {
        char head[160];
        snprintf(head, sizeof(head), "# TYPE %s %s\n", rows[i].name, metrics_type_name(rows[i].type));
        cr_expect_not_null(strstr(t.buf, head), "no %s", head);
    }
    free(t.buf);
    cJSON *o = cJSON_CreateObject();
    cr_assert_eq(node_metrics_add_json(&src, o), PF_OK);
    cr_expect_not_null(cJSON_GetObjectItem(o, "requests_total"));
    cr_expect_null(cJSON_GetObjectItem(o, "build_info"));
    cr_expect_not_null(cJSON_GetObjectItem(o, "process_start_time_seconds"));
    cJSON_Delete(o);
    pool_cache_deinit(&ctx.pool);
    conf_deinit(&ctx.conf);
}
