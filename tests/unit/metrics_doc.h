/* Shared by test_node_metrics.c and test_controller_metrics.c: the
 * reference table of docs/metrics.md for one binary is exactly what
 * metrics_write_doc() makes of that binary's table, so the two cannot
 * drift. The block sits between "<!-- metrics:<name> -->" and
 * "<!-- end metrics:<name> -->" (after its two header lines).
 * PF_METRICS_DOC_WRITE=1 rewrites the block in place instead. */
#ifndef PF_TEST_METRICS_DOC_H
#define PF_TEST_METRICS_DOC_H

#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"

#define METRICS_DOC_PATH PF_CORPUS_DIR "/../../docs/metrics.md"
#define METRICS_DOC_HEADER "| metric | type | labels | unit | heartbeat field | help |\n" \
                           "|---|---|---|---|---|---|\n"

struct doc_text {
    char  *buf;
    size_t len;
};

static int doc_write(void *arg, const char *s, size_t len)
{
    struct doc_text *t = arg;
    char *nb = realloc(t->buf, t->len + len + 1);
    if (nb == NULL)
        return -1;
    memcpy(nb + t->len, s, len);
    t->buf = nb;
    t->len += len;
    t->buf[t->len] = '\0';
    return 0;
}

static char *doc_read(const char *path)
{
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "cannot open %s", path);
    struct doc_text t = { NULL, 0 };
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        cr_assert_eq(doc_write(&t, chunk, n), 0);
    fclose(f);
    cr_assert_not_null(t.buf, "%s is empty", path);
    return t.buf;
}

/* Checks (or with PF_METRICS_DOC_WRITE=1 rewrites) the block <name> of
 * docs/metrics.md against <rows>. */
static void metrics_doc_check(const char *name, const struct metrics_row *rows, size_t n,
                              const char *prefix)
{
    struct doc_text want = { NULL, 0 };
    cr_assert_eq(doc_write(&want, METRICS_DOC_HEADER, strlen(METRICS_DOC_HEADER)), 0);
    cr_assert_eq(metrics_write_doc(rows, n, prefix, doc_write, &want), PF_OK);
    char begin[64], end[64];
    snprintf(begin, sizeof(begin), "<!-- metrics:%s -->\n", name);
    snprintf(end, sizeof(end), "<!-- end metrics:%s -->", name);
    char *doc = doc_read(METRICS_DOC_PATH);
    char *b = strstr(doc, begin);
    cr_assert_not_null(b, "docs/metrics.md has no %s", begin);
    b += strlen(begin);
    char *e = strstr(b, end);
    cr_assert_not_null(e, "docs/metrics.md has no %s", end);
    const char *w = getenv("PF_METRICS_DOC_WRITE");
    if (w != NULL && strcmp(w, "1") == 0) {
        FILE *f = fopen(METRICS_DOC_PATH, "wb");
        cr_assert_not_null(f);
        fwrite(doc, 1, (size_t)(b - doc), f);
        fwrite(want.buf, 1, want.len, f);
        fputs(e, f);
        fclose(f);
    } else {
        size_t got_len = (size_t)(e - b);
        int same = got_len == want.len && memcmp(b, want.buf, want.len) == 0;
        cr_expect(same, "docs/metrics.md block \"%s\" differs from the code's table; "
                  "PF_METRICS_DOC_WRITE=1 on this test rewrites it. Expected:\n%s", name, want.buf);
    }
    free(doc);
    free(want.buf);
}

#endif
