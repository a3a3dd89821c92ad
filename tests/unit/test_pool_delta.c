/* Unit tests for common/pool_delta.c: the pool log's entries. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "pool_delta.h"

#define P(f, v) { (f), sizeof(f) - 1, (v), sizeof(v) - 1 }

static const struct snapshot_pair good[] = {
    P("epoch", "9f1c2a7be0d4431a"),
    P("digest", "00000000000000ff"),
    P("count", "2"),
    P("+http://203.0.113.10:8080", "{\"scheme\":\"http\"}"),
    P("-http://203.0.113.11:8080", ""),
};

Test(pool_delta, parses_a_good_entry)
{
    struct pool_delta_head h;
    struct pf_err err;
    pf_err_clear(&err);
    cr_assert_eq(pool_delta_parse("8-0", 3, good, PF_ARRAY_LEN(good), &h, &err), PF_OK, "%s",
                 err.msg);
    cr_expect_eq(h.version, 8);
    cr_expect_str_eq(h.epoch, "9f1c2a7be0d4431a");
    cr_expect_eq(h.digest, 0xff);
    cr_expect_eq(h.count, 2);
    cr_assert_eq(h.nops, 2);
    struct pool_delta_op op;
    pool_delta_op_at(good, 0, &op);
    cr_expect(op.is_set);
    cr_expect_eq(op.id_len, strlen("http://203.0.113.10:8080"));
    cr_expect(memcmp(op.id, "http://203.0.113.10:8080", op.id_len) == 0);
    cr_expect_eq(op.record_len, strlen("{\"scheme\":\"http\"}"));
    pool_delta_op_at(good, 1, &op);
    cr_expect_not(op.is_set);
    cr_expect_null(op.record);
}

Test(pool_delta, count_zero_and_no_ops)
{
    static const struct snapshot_pair p[] = {
        P("epoch", "e"), P("digest", "0000000000000000"), P("count", "0"),
    };
    struct pool_delta_head h;
    cr_assert_eq(pool_delta_parse("1-0", 3, p, 3, &h, NULL), PF_OK);
    cr_expect_eq(h.count, 0);
    cr_expect_eq(h.nops, 0);
}

Test(pool_delta, refuses_bad_ids)
{
    static const char *const ids[] = { "", "-0", "0-0", "8", "8-1", "08-0", "8-00", "a-0",
                                       "99999999999999999999-0", " 8-0" };
    struct pool_delta_head h;
    for (size_t i = 0; i < PF_ARRAY_LEN(ids); i++)
        cr_expect_eq(pool_delta_parse(ids[i], strlen(ids[i]), good, PF_ARRAY_LEN(good), &h, NULL),
                     PF_EINVAL, "%s", ids[i]);
}

/* Each row: the good entry with one pair replaced. */
struct bad_case {
    size_t at;
    struct snapshot_pair pair;
    char   why[32];
};

Test(pool_delta, refuses_bad_fields)
{
    static const struct bad_case cases[] = {
        { 0, P("epoch", "bad epoch"), "bad epoch" },
        { 0, P("epoch", ""), "bad epoch" },
        { 0, P("epocj", "e"), "bad epoch" },
        { 1, P("digest", "123"), "bad digest" },
        { 1, P("digest", "zz00000000000000"), "bad digest" },
        { 2, P("count", "-1"), "bad count" },
        { 2, P("count", "01"), "bad count" },
        { 3, P("*http://a:1", "{}"), "bad field" },
        { 3, P("+", "{}"), "bad field" },
        { 3, P("+http://a b:1", "{}"), "bad field" },
        { 3, P("+http://a:1", ""), "record of 0 bytes" },
        { 4, P("-http://a:1", "x"), "removal with a value" },
        { 4, { NULL, 0, "", 0 }, "bad field" },
        { 4, { "-http://a:1", 11, NULL, 0 }, "bad field" },
    };
    for (size_t i = 0; i < PF_ARRAY_LEN(cases); i++) {
        struct snapshot_pair p[PF_ARRAY_LEN(good)];
        memcpy(p, good, sizeof(good));
        p[cases[i].at] = cases[i].pair;
        struct pool_delta_head h;
        struct pf_err err;
        pf_err_clear(&err);
        cr_expect_eq(pool_delta_parse("8-0", 3, p, PF_ARRAY_LEN(p), &h, &err), PF_EINVAL, "case %zu", i);
        cr_expect(strstr(err.msg, cases[i].why) != NULL, "case %zu: %s", i, err.msg);
    }
    struct pool_delta_head h;
    cr_expect_eq(pool_delta_parse("8-0", 3, good, 2, &h, NULL), PF_EINVAL);
}

Test(pool_delta, refuses_a_huge_record)
{
    char *big = malloc(POOL_DELTA_RECORD_MAX + 1);
    cr_assert_not_null(big);
    memset(big, 'x', POOL_DELTA_RECORD_MAX + 1);
    struct snapshot_pair p[PF_ARRAY_LEN(good)];
    memcpy(p, good, sizeof(good));
    p[3].value = big;
    p[3].value_len = POOL_DELTA_RECORD_MAX + 1;
    struct pool_delta_head h;
    cr_expect_eq(pool_delta_parse("8-0", 3, p, PF_ARRAY_LEN(p), &h, NULL), PF_EINVAL);
    p[3].value_len = POOL_DELTA_RECORD_MAX;
    cr_expect_eq(pool_delta_parse("8-0", 3, p, PF_ARRAY_LEN(p), &h, NULL), PF_OK);
    free(big);
}

Test(pool_delta, encoders)
{
    char buf[64];
    cr_assert_eq(pool_delta_op_field(buf, sizeof(buf), 1, "http://a:1"), PF_OK);
    cr_expect_str_eq(buf, "+http://a:1");
    cr_assert_eq(pool_delta_op_field(buf, sizeof(buf), 0, "http://a:1"), PF_OK);
    cr_expect_str_eq(buf, "-http://a:1");
    cr_expect_eq(pool_delta_op_field(buf, 5, 0, "http://a:1"), PF_ERANGE);
    cr_assert_eq(pool_delta_entry_id(buf, sizeof(buf), 42), PF_OK);
    cr_expect_str_eq(buf, "42-0");
    cr_expect_eq(pool_delta_entry_id(buf, sizeof(buf), 0), PF_EINVAL);
    cr_expect_eq(pool_delta_entry_id(buf, 3, 42), PF_ERANGE);
}

static void count_drop(void *data, void *arg)
{
    (void)data;
    (*(int *)arg)++;
}

Test(pool_delta, collapse_keeps_the_last_change_per_id_in_id_order)
{
    int tags[5] = { 0, 1, 2, 3, 4 };
    struct pool_delta_change ch[] = {
        { "b", 1, 0, &tags[0] },
        { "a", 1, 1, &tags[1] },
        { "b", 1, 2, &tags[2] },
        { "ab", 2, 3, &tags[3] },
        { "b", 1, 4, NULL },     /* removed at last */
    };
    int dropped = 0;
    size_t n = pool_delta_collapse(ch, PF_ARRAY_LEN(ch), count_drop, &dropped);
    cr_assert_eq(n, 3);
    cr_expect_eq(dropped, 2);
    cr_expect(memcmp(ch[0].id, "a", 1) == 0 && ch[0].id_len == 1);
    cr_expect_eq(ch[0].data, &tags[1]);
    cr_expect(ch[1].id_len == 2 && memcmp(ch[1].id, "ab", 2) == 0);
    cr_expect(ch[2].id_len == 1 && memcmp(ch[2].id, "b", 1) == 0);
    cr_expect_null(ch[2].data);
    cr_expect_eq(pool_delta_collapse(ch, 0, NULL, NULL), 0);
}
