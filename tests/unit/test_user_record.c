/* Unit tests for common/user_record.c: a user's record in {pf}:v1:users,
 * and every seed of tests/corpus/user_record/ replayed through the parser
 * (as fuzz/fuzz_user_record.c drives it). */
#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "user_record.h"

#define HASH "$scrypt$ln=4,r=8,p=1$AAECAwQFBgcICQoLDA0ODw$WPLQrc-ouAiU4Nbo51fbs-SfVjXgCK8aI_733Nwr5Oo"

static int parse(const char *json, struct user_record *r, struct pf_err *err)
{
    return user_record_parse(json, strlen(json), r, err);
}

Test(user_record, full_record)
{
    struct user_record r;
    struct pf_err err = { 0 };
    const char *j = "{\"pass\":\"" HASH "\",\"max_conns\":10,\"max_rps\":5,"
                    "\"bytes_per_day\":1073741824,\"bytes_per_month\":9007199254740992}";
    cr_assert_eq(parse(j, &r, &err), PF_OK, "%s", err.msg);
    cr_assert_eq(r.limits.max_conns, 10);
    cr_assert_eq(r.limits.max_rps, 5);
    cr_assert_eq(r.limits.bytes_per_day, 1073741824u);
    cr_assert_eq(r.limits.bytes_per_month, UINT64_C(9007199254740992));
    cr_assert_eq(r.pass.ln, 4);
    cr_assert_eq(pwhash_verify(&r.pass, "secret-pw", 9), 1);
}

Test(user_record, limits_are_optional)
{
    struct user_record r;
    cr_assert_eq(parse("{\"pass\":\"" HASH "\"}", &r, NULL), PF_OK);
    cr_assert_eq(r.limits.max_conns, 0);
    cr_assert_eq(r.limits.max_rps, 0);
    cr_assert_eq(r.limits.bytes_per_day, 0);
    cr_assert_eq(r.limits.bytes_per_month, 0);
}

struct bad {
    char json[256];
    char member[24];
};

Test(user_record, refuses_bad_records)
{
    static const struct bad cases[] = {
        { "", "" },
        { "[]", "object" },
        { "{}", "pass" },
        { "{\"pass\":\"plaintext\"}", "scrypt" },
        { "{\"pass\":1}", "pass" },
        { "{\"pass\":\"" HASH "\",\"max_conns\":-1}", "max_conns" },
        { "{\"pass\":\"" HASH "\",\"max_conns\":1.5}", "max_conns" },
        { "{\"pass\":\"" HASH "\",\"max_conns\":\"3\"}", "max_conns" },
        { "{\"pass\":\"" HASH "\",\"max_conns\":1000001}", "max_conns" },
        { "{\"pass\":\"" HASH "\",\"max_rps\":true}", "max_rps" },
        { "{\"pass\":\"" HASH "\",\"bytes_per_day\":1e300}", "bytes_per_day" },
        { "{\"pass\":\"" HASH "\",\"bytes_per_month\":-5}", "bytes_per_month" },
        { "{\"pass\":\"" HASH "\",\"password\":\"x\"}", "unknown" },
        { "{\"pass\":\"" HASH "\",\"max_rps\":1,\"max_rps\":2}", "twice" },
        { "{\"pass\":\"" HASH "\"} {}", "one JSON" },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct user_record r;
        struct pf_err err = { 0 };
        cr_expect_eq(parse(cases[i].json, &r, &err), PF_EINVAL, "case %zu", i);
        cr_expect_neq(strstr(err.msg, cases[i].member), NULL, "case %zu: \"%s\" lacks \"%s\"", i,
                      err.msg, cases[i].member);
        cr_expect_null(strstr(err.msg, "plaintext"), "case %zu quotes the value", i);
    }
}

Test(user_record, names)
{
    cr_assert(user_name_is_valid("alice", 5));
    cr_assert(user_name_is_valid("a.b_c@example.com", 17));
    cr_assert_not(user_name_is_valid("", 0));
    cr_assert_not(user_name_is_valid("alice-country-us", 16));
    cr_assert_not(user_name_is_valid("a:b", 3));
    cr_assert_not(user_name_is_valid("a b", 3));
    cr_assert_not(user_name_is_valid("a\0b", 3));
    char long_name[USER_NAME_MAX + 1];
    memset(long_name, 'x', sizeof(long_name));
    cr_assert(user_name_is_valid(long_name, USER_NAME_MAX));
    cr_assert_not(user_name_is_valid(long_name, USER_NAME_MAX + 1));
}

Test(user_record, corpus_replays)
{
    char dir[512];
    snprintf(dir, sizeof(dir), "%s/user_record", PF_CORPUS_DIR);
    DIR *d = opendir(dir);
    cr_assert_not_null(d, "opendir %s", dir);
    struct dirent *e;
    int n = 0, ok = 0;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        char path[1024], buf[4096];
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        FILE *f = fopen(path, "rb");
        cr_assert_not_null(f, "%s", path);
        size_t len = fread(buf, 1, sizeof(buf), f);
        fclose(f);
        struct user_record r;
        int rc = user_record_parse(buf, len, &r, NULL);
        cr_assert(rc == PF_OK || rc == PF_EINVAL, "%s: %d", e->d_name, rc);
        ok += rc == PF_OK;
        n++;
    }
    closedir(d);
    cr_assert_geq(n, 6, "corpus has %d seeds", n);
    cr_assert_geq(ok, 2, "corpus has %d valid records", ok);
}
