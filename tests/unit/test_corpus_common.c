/* Replays every seed and crasher in tests/corpus/{addr,conf,snapshot,snapshot_notice,pool_delta,seal,sanitize,
 * line_format,redis_url,redis_proto,user_params,user_template,ban} through
 * the parsers the fuzzers drive: each must return a valid status and, under
 * the sanitizers, touch no memory it should not. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "ban.h"
#include "conf.h"
#include "line_format.h"
#include "redis_proto.h"
#include "redis_url.h"
#include "seal.h"
#include "snapshot.h"
#include "str.h"
#include "user_params.h"
#include "user_template.h"

#include "../../fuzz/conf_fake_io.h"   /* the fuzzer's own environment and files */
#include "../../fuzz/pool_delta_input.h"   /* the fuzzer's own framing */

typedef void (*replay_fn)(const char *name, const char *data, size_t len);

static char *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "open %s", path);
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    cr_assert_not_null(buf);
    size_t got;
    while ((got = fread(buf + n, 1, cap - n, f)) > 0) {
        n += got;
        if (n == cap) {
            cap *= 2;
            buf = realloc(buf, cap);
            cr_assert_not_null(buf);
        }
    }
    fclose(f);
    *len = n;
    return buf;
}

/* Runs <fn> on each regular file of PF_CORPUS_DIR/<sub>; returns the count. */
static int replay_dir(const char *sub, replay_fn fn)
{
    char dir[512];
    snprintf(dir, sizeof(dir), "%s/%s", PF_CORPUS_DIR, sub);
    DIR *d = opendir(dir);
    cr_assert_not_null(d, "opendir %s", dir);
    struct dirent *e;
    int count = 0;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        char path[1024];
        size_t len;
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        char *data = read_all(path, &len);
        fn(e->d_name, data, len);
        free(data);
        count++;
    }
    closedir(d);
    return count;
}

static void replay_addr(const char *name, const char *data, size_t len)
{
    struct upstream u;
    struct pf_err err = { 0 };
    int rc = addr_parse_upstream(data, len, UPSTREAM_HTTP, &u, &err);
    cr_expect(rc == PF_OK || rc == PF_EINVAL, "%s: rc %d", name, rc);
    if (rc == PF_OK) {
        char buf[UPSTREAM_ID_MAX];
        rc = addr_validate_upstream(&u, NULL, &err);
        cr_expect(rc == PF_OK || rc == PF_EDENIED, "%s: validate rc %d", name, rc);
        addr_upstream_id(&u, buf, sizeof(buf));
        char *json = snapshot_record_encode(&u, NULL);
        cr_assert_not_null(json);
        struct upstream v;
        cr_expect_eq(snapshot_record_decode(json, strlen(json), NULL, &v, &err), PF_OK, "%s", name);
        cr_expect_eq(memcmp(&u, &v, sizeof(u)), 0, "%s: round trip", name);
        free(json);
    } else {
        cr_expect_neq(err.msg[0], '\0', "%s: error without a reason", name);
    }
    char *s = strndup(data, len);
    cr_assert_not_null(s);
    char host[UPSTREAM_HOST_MAX];
    uint16_t port;
    struct conf_cidr c;
    rc = addr_parse_hostport(s, host, sizeof(host), &port, NULL);
    cr_expect(rc == PF_OK || rc == PF_EINVAL, "%s: hostport rc %d", name, rc);
    rc = addr_cidr_parse(s, &c, NULL);
    cr_expect(rc == PF_OK || rc == PF_EINVAL, "%s: cidr rc %d", name, rc);
    free(s);
}

static void replay_conf(const char *name, const char *data, size_t len)
{
    struct conf c;
    struct pf_err err = { 0 };
    conf_init_defaults(&c);
    int rc = conf_parse_io(&c, data, len, &conf_fake_io, &err);
    cr_expect(rc == PF_OK || strstr(err.msg, "FUZZKEY") == NULL ||
              memmem(data, len, "FUZZKEY", 7) != NULL, "%s: leaks: %s", name, err.msg);
    cr_expect(rc == PF_OK || rc == PF_EINVAL, "%s: rc %d", name, rc);
    if (rc != PF_OK)
        cr_expect_neq(err.msg[0], '\0', "%s: error without a reason", name);
    conf_deinit(&c);
}

static void replay_snapshot(const char *name, const char *data, size_t len)
{
    struct upstream u;
    struct pf_err err = { 0 };
    int rc = snapshot_record_decode(data, len, NULL, &u, &err);
    cr_expect(rc == PF_OK || rc == PF_EINVAL, "%s: rc %d", name, rc);
    if (rc == PF_OK) {
        char *json = snapshot_record_encode(&u, NULL);
        cr_assert_not_null(json);
        struct upstream v;
        cr_expect_eq(snapshot_record_decode(json, strlen(json), NULL, &v, &err), PF_OK, "%s", name);
        cr_expect_eq(memcmp(&u, &v, sizeof(u)), 0, "%s: round trip", name);
        free(json);
    }
}

static void replay_ban(const char *name, const char *data, size_t len)
{
    struct ban b, c;
    struct pf_err err = { 0 };
    enum ban_notice_kind kind;
    int rc = ban_record_parse(data, len, &b, &err);
    cr_expect(rc == PF_OK || rc == PF_EINVAL, "%s: record rc %d", name, rc);
    if (rc == PF_OK) {
        char buf[BAN_RECORD_MAX];
        int n = ban_record_format(&b, buf, sizeof(buf));
        cr_assert_gt(n, 0, "%s", name);
        cr_expect_eq(ban_record_parse(buf, (size_t)n, &c, &err), PF_OK, "%s", name);
        cr_expect_eq(memcmp(&b, &c, sizeof(b)), 0, "%s: round trip", name);
    }
    rc = ban_notice_parse(data, len, &kind, &b, &err);
    cr_expect(rc == PF_OK || rc == PF_EINVAL, "%s: notice rc %d", name, rc);
    rc = ban_request_parse(data, len, 1795306800000LL, &b, &err);
    cr_expect(rc == PF_OK || rc == PF_EINVAL, "%s: request rc %d", name, rc);
    rc = ban_query_parse(data, len, "alice", 1795306800000LL, &b, &err);
    cr_expect(rc == PF_OK || rc == PF_EINVAL, "%s: query rc %d", name, rc);
    if (rc != PF_OK)
        cr_expect_neq(err.msg[0], '\0', "%s: error without a reason", name);
}

Test(corpus, ban)
{
    cr_expect_gt(replay_dir("ban", replay_ban), 0);
}

Test(corpus, addr)
{
    cr_expect_gt(replay_dir("addr", replay_addr), 0);
}

Test(corpus, conf)
{
    cr_expect_gt(replay_dir("conf", replay_conf), 0);
}

Test(corpus, snapshot)
{
    cr_expect_gt(replay_dir("snapshot", replay_snapshot), 0);
}

/* fuzz/fuzz_seal.c's fixed key and associated data */
static void replay_seal(const char *name, const char *data, size_t len)
{
    static const char hex[] = "1111111111111111111111111111111111111111111111111111111111111111";
    struct seal_key k;
    char out[SEAL_PLAINTEXT_MAX + 1];
    size_t n = 0;
    cr_assert_eq(seal_key_parse_hex(&k, hex, sizeof(hex) - 1, NULL), PF_OK);
    int rc = seal_decrypt(&k, data, len, "http://127.0.0.1:8080#8c736521", out, sizeof(out), &n,
                          NULL);
    cr_expect(rc == PF_OK || rc == PF_EINVAL || rc == PF_EDENIED || rc == PF_ERANGE, "%s: rc %d",
              name, rc);
    if (rc == PF_OK)
        cr_expect(n > 0 && n <= SEAL_PLAINTEXT_MAX, "%s", name);
}

Test(corpus, seal)
{
    cr_expect_gt(replay_dir("seal", replay_seal), 0);
}

/* fuzz/fuzz_sanitize.c's invariants: clean, fixed point, clean input kept */
static void replay_sanitize(const char *name, const char *data, size_t len)
{
    char out[512], again[512];
    size_t n = str_sanitize_text(data, len, 0, out, sizeof(out));
    cr_expect(str_is_clean_text(out, n), "%s: output not clean", name);
    cr_expect_eq(str_sanitize_text(out, n, 0, again, sizeof(again)), n, "%s", name);
    cr_expect_str_eq(out, again, "%s: not a fixed point", name);
    if (len < sizeof(out) / 4 && str_is_clean_text(data, len))
        cr_expect(n == len && memcmp(out, data, len) == 0, "%s: clean text changed", name);
}

Test(corpus, sanitize)
{
    cr_expect_gt(replay_dir("sanitize", replay_sanitize), 0);
}

/* fuzz/fuzz_line_format.c: first line a template, the rest an entry */
static void replay_line_format(const char *name, const char *data, size_t len)
{
    char tmpl[128];
    const char *nl = memchr(data, '\n', len);
    size_t tn = nl != NULL ? (size_t)(nl - data) : len;
    struct line_format f;
    struct addr_parts p;
    struct pf_err err = { 0 };
    cr_assert_lt(tn, sizeof(tmpl), "%s", name);
    memcpy(tmpl, data, tn);
    tmpl[tn] = '\0';
    int rc = line_format_compile(tmpl, &f, &err);
    cr_expect(rc == PF_OK || (rc == PF_EINVAL && err.msg[0] != '\0'), "%s: rc %d", name, rc);
    if (rc != PF_OK || nl == NULL)
        return;
    rc = line_format_match(&f, nl + 1, len - tn - 1, &p);
    cr_expect(rc == PF_OK || rc == PF_EINVAL, "%s: match rc %d", name, rc);
    if (rc == PF_OK)
        cr_expect(p.host_len > 0 && p.port_len > 0, "%s", name);
}

static void replay_user_params(const char *name, const char *data, size_t len)
{
    char *s = strndup(data, len);
    cr_assert_not_null(s);
    struct user_params_words w;
    struct user_params p;
    struct pf_err err = { 0 };
    cr_assert_eq(user_params_words_from_tags("-session-", "-sesstime-", &w, &err), PF_OK);
    int rc = user_params_parse(s, &w, &p, &err);
    cr_expect(rc == PF_OK || rc == PF_EINVAL, "%s: rc %d", name, rc);
    if (rc != PF_OK)
        cr_expect_neq(err.msg[0], '\0', "%s: error without a reason", name);
    cr_expect_eq(strncmp(p.base_user, s, strlen(p.base_user)), 0, "%s: base is a prefix", name);
    free(s);
}

/* As fuzz/fuzz_user_template.c: the template, then NUL-separated values. */
static void replay_user_template(const char *name, const char *data, size_t len)
{
    char *s = malloc(len + 1);
    cr_assert_not_null(s);
    memcpy(s, data, len);
    s[len] = '\0';
    struct user_template_vars v;
    memset(&v, 0, sizeof(v));
    size_t off = strlen(s) + 1;
    for (int i = 0; i < USER_TEMPLATE__COUNT && off <= len; i++) {
        snprintf(v.v[i], sizeof(v.v[i]), "%s", s + off);
        off += strlen(s + off) + 1;
    }
    struct pf_err err = { 0 };
    int rc = user_template_check(s, &err);
    cr_expect(rc == PF_OK || (rc == PF_EINVAL && err.msg[0] != '\0'), "%s: rc %d", name, rc);
    char out[USER_TEMPLATE_OUT_MAX];
    int rr = user_template_render(s, &v, out, sizeof(out), &err);
    cr_expect(rc == PF_OK || rr == PF_EINVAL, "%s: render rc %d", name, rr);
    if (rr == PF_OK)
        cr_expect(out[0] != '\0' && strpbrk(out, ":[]{}") == NULL, "%s: %s", name, out);
    else
        cr_expect_str_eq(out, "", "%s", name);
    free(s);
}

Test(corpus, user_template)
{
    cr_expect_gt(replay_dir("user_template", replay_user_template), 0);
}

Test(corpus, user_params)
{
    cr_expect_gt(replay_dir("user_params", replay_user_params), 0);
}

Test(corpus, line_format)
{
    cr_expect_gt(replay_dir("line_format", replay_line_format), 0);
}

/* The seed with every secret form parses with the fuzzer's fake io. */
Test(corpus, conf_secret_forms_seed_is_valid)
{
    char path[512];
    size_t len;
    snprintf(path, sizeof(path), "%s/conf/secret-env-file.json", PF_CORPUS_DIR);
    char *data = read_all(path, &len);
    struct conf c;
    struct pf_err err = { 0 };
    conf_init_defaults(&c);
    cr_expect_eq(conf_parse_io(&c, data, len, &conf_fake_io, &err), PF_OK, "%s", err.msg);
    cr_expect_str_eq(c.node.users[0].pass, "alice-pass");
    cr_expect_str_eq(c.controller.providers[1].url, "https://api.example/list?key=FUZZKEY");
    cr_expect_eq(c.warnings.n, 1);
    conf_deinit(&c);
    free(data);
}

Test(corpus, conf_full_example_is_valid)
{
    char path[512];
    size_t len;
    snprintf(path, sizeof(path), "%s/conf/full.json", PF_CORPUS_DIR);
    char *data = read_all(path, &len);
    struct conf c;
    struct pf_err err = { 0 };
    conf_init_defaults(&c);
    cr_expect_eq(conf_parse(&c, data, len, &err), PF_OK, "%s", err.msg);
    conf_deinit(&c);
    free(data);
}

/* fuzz/fuzz_snapshot_notice.c: a notice that parses formats back to itself;
 * the first byte picks the pool:meta field the rest is fed to. */
static void replay_snapshot_notice(const char *name, const char *data, size_t len)
{
    static const char *const fields[] = {
        SNAPSHOT_META_VERSION, SNAPSHOT_META_EPOCH, SNAPSHOT_META_COUNT, "other",
    };
    int64_t version = 0;
    char epoch[SNAPSHOT_EPOCH_MAX];
    char back[SNAPSHOT_NOTICE_MAX];
    int rc = snapshot_notice_parse(data, len, &version, epoch);
    cr_expect(rc == PF_OK || rc == PF_EINVAL, "%s: rc %d", name, rc);
    if (rc == PF_OK) {
        cr_expect_eq(snapshot_notice_format(back, sizeof(back), version, epoch), PF_OK, "%s", name);
        cr_expect(strlen(back) == len && memcmp(back, data, len) == 0, "%s", name);
    }
    if (len == 0)
        return;
    const char *field = fields[(unsigned char)data[0] % 4];
    struct snapshot_meta m;
    struct pf_err err;
    snapshot_meta_init(&m);
    rc = snapshot_meta_field(&m, field, strlen(field), data + 1, len - 1, &err);
    cr_expect(rc == PF_OK || rc == PF_EINVAL, "%s: rc %d", name, rc);
    cr_expect(!m.has_version || m.version >= 1, "%s", name);
    cr_expect(m.count == -1 || m.count >= 1, "%s", name);
}

Test(corpus, snapshot_notice)
{
    cr_expect_gt(replay_dir("snapshot_notice", replay_snapshot_notice), 0);
}

/* fuzz/fuzz_pool_delta.c: a pool:log entry is refused or holds what it
 * claims. */
static void replay_pool_delta(const char *name, const char *data, size_t len)
{
    struct snapshot_pair pairs[POOL_DELTA_INPUT_MAX_PAIRS];
    const char *sid = NULL;
    size_t sid_len = 0;
    size_t np = pool_delta_input_split(data, len, &sid, &sid_len, pairs);
    struct pool_delta_head h;
    struct pf_err err;
    int rc = pool_delta_parse(sid, sid_len, pairs, np, &h, &err);
    cr_expect(rc == PF_OK || rc == PF_EINVAL, "%s: rc %d", name, rc);
    cr_expect(rc != PF_OK || pool_delta_input_check(pairs, np, &h), "%s", name);
    /* the seeds say which they should be */
    if (strncmp(name, "good_", 5) == 0)
        cr_expect_eq(rc, PF_OK, "%s: %s", name, err.msg);
    if (strncmp(name, "bad_", 4) == 0)
        cr_expect_eq(rc, PF_EINVAL, "%s", name);
}

Test(corpus, pool_delta)
{
    cr_expect_gt(replay_dir("pool_delta", replay_pool_delta), 0);
}

/* fuzz/fuzz_redis_url.c: an accepted URL holds what it promises; a refused
 * one keeps no credential and says why. */
static void replay_redis_url(const char *name, const char *data, size_t len)
{
    struct redis_url u;
    struct pf_err err = { 0 };
    int rc = redis_url_parse(data, len, &u, &err);
    cr_expect(rc == PF_OK || rc == PF_EINVAL, "%s: rc %d", name, rc);
    if (rc == PF_OK) {
        cr_expect(u.db >= 0 && u.db <= REDIS_URL_DB_MAX, "%s", name);
        cr_expect(u.user[0] == '\0' || u.pass[0] != '\0', "%s", name);
        cr_expect(u.kind == REDIS_URL_UNIX ? u.path[0] == '/' : u.host[0] != '\0', "%s", name);
    } else {
        cr_expect_neq(err.msg[0], '\0', "%s: error without a reason", name);
        cr_expect(u.pass[0] == '\0' && u.user[0] == '\0', "%s", name);
        /* no reason quotes the input (fuzz_redis_url.c's check) */
        cr_expect(strpbrk(err.msg, "~^|$`{}!*") == NULL, "%s: echoes the input", name);
    }
}

Test(corpus, redis_url)
{
    cr_expect_gt(replay_dir("redis_url", replay_redis_url), 0);
}

/* fuzz/fuzz_redis_proto.c: the first byte picks the parser; for the master
 * address the second splits host and port. */
static void replay_redis_proto(const char *name, const char *data, size_t len)
{
    char host[UPSTREAM_HOST_MAX];
    uint16_t port = 0;
    struct pf_err err = { 0 };
    int rc;

    if (len < 1)
        return;
    const char *s = data + 1;
    size_t n = len - 1;
    switch ((unsigned char)data[0] % 4) {
    case 0:
        (void)redis_proto_error_class(s, n);
        break;
    case 1:
        cr_expect_not_null(redis_proto_role_name(redis_proto_role(s, n)), "%s", name);
        break;
    case 2:
        if (n == 0)
            return;
        {
            size_t split = (unsigned char)s[0] % n;
            rc = redis_proto_master_addr(s + 1, split, s + 1 + split, n - 1 - split, host,
                                         sizeof(host), &port, &err);
            cr_expect(rc == PF_OK || rc == PF_EINVAL, "%s: rc %d", name, rc);
            if (rc == PF_OK)
                cr_expect(host[0] != '\0' && port != 0, "%s", name);
        }
        break;
    default:
        rc = redis_proto_switch_master(s, n, "pfmaster", host, sizeof(host), &port, &err);
        cr_expect(rc == PF_OK || rc == PF_EINVAL || rc == PF_ENOENT, "%s: rc %d", name, rc);
        if (rc == PF_OK)
            cr_expect(host[0] != '\0' && port != 0, "%s", name);
        break;
    }
}

Test(corpus, redis_proto)
{
    cr_expect_gt(replay_dir("redis_proto", replay_redis_proto), 0);
}
