/* Unit tests of controller/controller_metrics.c: the controller's table
 * obeys the naming rules and is the one in docs/metrics.md. (Rendering is
 * checked against a running controller: test_metrics_hygiene.py.) */
#include <criterion/criterion.h>

#include "controller_metrics.h"
#include "metrics_doc.h"

Test(controller_metrics, table_passes_the_naming_rules)
{
    size_t n;
    const struct metrics_row *rows = controller_metrics_table(&n);
    struct pf_err err;
    pf_err_clear(&err);
    cr_expect_eq(metrics_table_check(rows, n, CONTROLLER_METRICS_PREFIX, &err), PF_OK, "%s",
                 err.msg);
}

Test(controller_metrics, docs_list_the_table)
{
    size_t n;
    const struct metrics_row *rows = controller_metrics_table(&n);
    metrics_doc_check("controller", rows, n, CONTROLLER_METRICS_PREFIX);
}
