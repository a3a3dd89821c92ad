/* Unit tests of node/snapshot_file.c: save/load round trip, atomic write and
 * file mode, and every way a file on disk can be wrong (corrupt, truncated,
 * wrong types, bad records, missing). Each test works in its own temp dir. */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pool_cache.h"
#include "snapshot_file.h"

static char dir[256];
static char path[320];

static void setup(void)
{
    snprintf(dir, sizeof(dir), "/tmp/pf-test-snapfile-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/pool.json", dir);
}

static void teardown(void)
{
    DIR *d = opendir(dir);
    if (d != NULL) {
        struct dirent *e;
        char p[600];
        while ((e = readdir(d)) != NULL) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                continue;
            snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
            unlink(p);
        }
        closedir(d);
    }
    rmdir(dir);
}

TestSuite(snapshot_file, .init = setup, .fini = teardown);

/* A cache at (<version>, <epoch>) with n upstreams, the first with credentials. */
static void fill(struct pool_cache *pc, size_t n, int64_t version, const char *epoch)
{
    struct upstream *u = calloc(n, sizeof(*u));
    cr_assert_not_null(u);
    for (size_t i = 0; i < n; i++) {
        u[i].scheme = i % 2 == 0 ? UPSTREAM_HTTP : UPSTREAM_SOCKS5;
        u[i].host_kind = UPSTREAM_HOST_IPV4;
        snprintf(u[i].host, sizeof(u[i].host), "192.0.2.%zu", 1 + i);
        u[i].port = (uint16_t)(3000 + i);
        snprintf(u[i].provider, sizeof(u[i].provider), "prov");
        u[i].weight = (uint32_t)(1 + i);
        u[i].latency_ms = (uint32_t)(10 * i);
        u[i].expires_at_ms = i == 0 ? 0 : 1700000000000LL + (int64_t)i;
    }
    snprintf(u[0].user, sizeof(u[0].user), "alice");
    snprintf(u[0].pass, sizeof(u[0].pass), "s3cr3t \"q\"");
    pool_cache_init(pc);
    pool_cache_replace(pc, u, n, version, epoch, 0);
}

static void write_file(const char *text)
{
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f);
    fwrite(text, 1, strlen(text), f);
    fclose(f);
}

static char *read_all(const char *p)
{
    FILE *f = fopen(p, "rb");
    cr_assert_not_null(f);
    static char buf[1 << 16];
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

/* Loads <path> into a fresh cache; returns the status, cache left in <pc>. */
static int load(struct pool_cache *pc, struct snapshot_file_info *info, struct pf_err *err)
{
    pool_cache_init(pc);
    pf_err_clear(err);
    return snapshot_file_load(path, NULL, pc, 0, info, err);
}

Test(snapshot_file, round_trip)
{
    struct pool_cache a, b;
    struct pf_err err;
    struct snapshot_file_info info;
    fill(&a, 5, 42, "0123456789abcdef");
    pf_err_clear(&err);
    cr_assert_eq(snapshot_file_save(path, &a, NULL, 1700000000123LL, &err), PF_OK, "%s", err.msg);
    cr_assert_eq(load(&b, &info, &err), PF_OK, "%s", err.msg);
    cr_expect_eq(info.version, 42);
    cr_expect_str_eq(info.epoch, "0123456789abcdef");
    cr_expect_eq(info.saved_at_ms, 1700000000123LL);
    cr_expect_eq(info.count, 5);
    cr_expect_eq(info.nbad, 0);
    cr_expect_eq(b.version, 42);
    cr_expect_str_eq(b.epoch, "0123456789abcdef");
    cr_assert_eq(b.count, a.count);
    for (size_t i = 0; i < a.count; i++) {
        cr_expect_str_eq(b.ids[i], a.ids[i]);
        cr_expect_eq(b.items[i].scheme, a.items[i].scheme);
        cr_expect_str_eq(b.items[i].host, a.items[i].host);
        cr_expect_eq(b.items[i].port, a.items[i].port);
        cr_expect_str_eq(b.items[i].user, a.items[i].user);
        cr_expect_str_eq(b.items[i].pass, a.items[i].pass);
        cr_expect_str_eq(b.items[i].provider, a.items[i].provider);
        cr_expect_eq(b.items[i].expires_at_ms, a.items[i].expires_at_ms);
        cr_expect_eq(b.items[i].weight, a.items[i].weight);
        cr_expect_eq(b.items[i].latency_ms, a.items[i].latency_ms);
    }
    pool_cache_deinit(&a);
    pool_cache_deinit(&b);
}

Test(snapshot_file, mode_0600_and_no_tmp_left)
{
    struct pool_cache a;
    struct pf_err err;
    struct stat st;
    char tmp[400];
    fill(&a, 2, 1, "e");
    mode_t old = umask(0);           /* even a permissive umask gives 0600 */
    cr_assert_eq(snapshot_file_save(path, &a, NULL, 1, &err), PF_OK, "%s", err.msg);
    /* overwrite: the rename replaces the previous file, mode still 0600 */
    chmod(path, 0644);
    cr_assert_eq(snapshot_file_save(path, &a, NULL, 2, &err), PF_OK, "%s", err.msg);
    umask(old);
    cr_assert_eq(stat(path, &st), 0);
    cr_expect_eq(st.st_mode & 0777, 0600);
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    cr_expect_neq(access(tmp, F_OK), 0, "temporary file left behind");
    pool_cache_deinit(&a);
}

Test(snapshot_file, empty_pool_round_trip)
{
    struct pool_cache a, b;
    struct pf_err err;
    struct snapshot_file_info info;
    pool_cache_init(&a);
    pool_cache_replace(&a, NULL, 0, 3, "e", 0);
    cr_assert_eq(snapshot_file_save(path, &a, NULL, 1, &err), PF_OK, "%s", err.msg);
    cr_assert_eq(load(&b, &info, &err), PF_OK, "%s", err.msg);
    cr_expect_eq(b.version, 3);
    cr_expect_eq(b.count, 0);
    pool_cache_deinit(&a);
    pool_cache_deinit(&b);
}

Test(snapshot_file, never_loaded_cache_is_not_saved)
{
    struct pool_cache a;
    struct pf_err err;
    pool_cache_init(&a);
    cr_expect_eq(snapshot_file_save(path, &a, NULL, 1, &err), PF_EINVAL);
    cr_expect_neq(access(path, F_OK), 0);
    pool_cache_deinit(&a);
}

Test(snapshot_file, save_into_missing_dir_fails_cleanly)
{
    struct pool_cache a;
    struct pf_err err;
    char bad[400];
    fill(&a, 1, 1, "e");
    snprintf(bad, sizeof(bad), "%s/nope/pool.json", dir);
    pf_err_clear(&err);
    cr_expect_eq(snapshot_file_save(bad, &a, NULL, 1, &err), PF_EIO);
    cr_expect_not_null(strstr(err.msg, "No such file"), "%s", err.msg);
    pool_cache_deinit(&a);
}

Test(snapshot_file, missing_file_is_enoent)
{
    struct pool_cache b;
    struct pf_err err;
    cr_expect_eq(load(&b, NULL, &err), PF_ENOENT);
    cr_expect_eq(b.version, 0);
    pool_cache_deinit(&b);
}

Test(snapshot_file, truncated_file_is_refused_whole)
{
    struct pool_cache a, b;
    struct pf_err err;
    fill(&a, 4, 7, "e");
    cr_assert_eq(snapshot_file_save(path, &a, NULL, 1, &err), PF_OK, "%s", err.msg);
    char *orig = strdup(read_all(path));
    cr_assert_not_null(orig);
    size_t len = strlen(orig);
    char *text = malloc(len + 1);
    cr_assert_not_null(text);
    /* proper prefixes (torn writes) are refused, never half-loaded */
    for (size_t cut = 0; cut < len - 2; cut += 7) {
        memcpy(text, orig, cut);
        text[cut] = '\0';
        write_file(text);
        cr_expect_eq(load(&b, NULL, &err), PF_EINVAL, "cut at %zu", cut);
        cr_expect_eq(b.version, 0);
        cr_expect_eq(b.count, 0);
        pool_cache_deinit(&b);
    }
    free(orig);
    free(text);
    pool_cache_deinit(&a);
}

Test(snapshot_file, corrupt_file_leaves_cache_untouched)
{
    struct pool_cache b;
    struct pf_err err;
    write_file("\x01\x02garbage{{{");
    pool_cache_init(&b);
    pool_cache_replace(&b, NULL, 0, 9, "keep", 0);
    pf_err_clear(&err);
    cr_expect_eq(snapshot_file_load(path, NULL, &b, 0, NULL, &err), PF_EINVAL);
    cr_expect_not_null(strstr(err.msg, "bad JSON"), "%s", err.msg);
    cr_expect_eq(b.version, 9);
    cr_expect_str_eq(b.epoch, "keep");
    pool_cache_deinit(&b);
}

Test(snapshot_file, nul_byte_and_trailing_garbage)
{
    struct pool_cache b;
    struct pf_err err;
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f);
    fwrite("{\"version\":1,\"epoch\":\"e\",\"upstreams\":[]}\0x", 1, 42, f);
    fclose(f);
    cr_expect_eq(load(&b, NULL, &err), PF_EINVAL);
    cr_expect_not_null(strstr(err.msg, "NUL"), "%s", err.msg);
    pool_cache_deinit(&b);
    write_file("{\"version\":1,\"epoch\":\"e\",\"upstreams\":[]} {}");
    cr_expect_eq(load(&b, NULL, &err), PF_EINVAL);
    pool_cache_deinit(&b);
}

struct bad_case {
    char text[160];
};

static struct bad_case bad_cases[] = {
    { "[]" },
    { "\"x\"" },
    { "{}" },
    { "{\"version\":\"1\",\"epoch\":\"e\",\"upstreams\":[]}" },
    { "{\"version\":0,\"epoch\":\"e\",\"upstreams\":[]}" },
    { "{\"version\":-3,\"epoch\":\"e\",\"upstreams\":[]}" },
    { "{\"version\":1.5,\"epoch\":\"e\",\"upstreams\":[]}" },
    { "{\"version\":1e300,\"epoch\":\"e\",\"upstreams\":[]}" },
    { "{\"version\":1,\"epoch\":5,\"upstreams\":[]}" },
    { "{\"version\":1,\"epoch\":\"\",\"upstreams\":[]}" },
    { "{\"version\":1,\"epoch\":\"a b\",\"upstreams\":[]}" },
    { "{\"version\":1,\"epoch\":\"0123456789012345678901234567890123456789x\",\"upstreams\":[]}" },
    { "{\"version\":1,\"upstreams\":[]}" },
    { "{\"version\":1,\"epoch\":\"e\"}" },
    { "{\"version\":1,\"epoch\":\"e\",\"upstreams\":{}}" },
    { "{\"version\":1,\"epoch\":\"e\",\"saved_at_ms\":\"now\",\"upstreams\":[]}" },
};

ParameterizedTestParameters(snapshot_file, wrong_types)
{
    return cr_make_param_array(struct bad_case, bad_cases, PF_ARRAY_LEN(bad_cases));
}

ParameterizedTest(struct bad_case *bc, snapshot_file, wrong_types)
{
    struct pool_cache b;
    struct pf_err err;
    write_file(bc->text);
    cr_expect_eq(load(&b, NULL, &err), PF_EINVAL, "%s", bc->text);
    cr_expect_eq(b.version, 0);
    pool_cache_deinit(&b);
}

Test(snapshot_file, bad_records_are_skipped_and_counted)
{
    struct pool_cache b;
    struct pf_err err;
    struct snapshot_file_info info;
    write_file("{\"version\":4,\"epoch\":\"ep\",\"saved_at_ms\":1,\"upstreams\":["
               "{\"scheme\":\"http\",\"host\":\"192.0.2.1\",\"port\":3128,\"provider\":\"p\","
               "\"expires_at_ms\":0,\"weight\":1,\"latency_ms\":0},"
               "{\"scheme\":\"http\",\"host\":\"192.0.2.2\",\"port\":\"x\",\"provider\":\"p\","
               "\"expires_at_ms\":0,\"weight\":1,\"latency_ms\":0},"
               "{\"scheme\":\"gopher\",\"host\":\"192.0.2.3\",\"port\":1,\"provider\":\"p\","
               "\"expires_at_ms\":0,\"weight\":1,\"latency_ms\":0},"
               "7, null, \"str\", []]}");
    cr_assert_eq(load(&b, &info, &err), PF_OK, "%s", err.msg);
    cr_expect_eq(info.count, 1);
    cr_expect_eq(info.nbad, 6);
    cr_expect_not_null(strstr(info.first_bad, "upstreams[1]"), "%s", info.first_bad);
    cr_expect_eq(b.count, 1);
    cr_expect_eq(b.version, 4);
    cr_expect_str_eq(b.items[0].host, "192.0.2.1");
    pool_cache_deinit(&b);
}

Test(snapshot_file, not_a_regular_file)
{
    struct pool_cache b;
    struct pf_err err;
    cr_assert_eq(mkdir(path, 0700), 0);
    cr_expect_eq(load(&b, NULL, &err), PF_EINVAL);
    pool_cache_deinit(&b);
    rmdir(path);
}
