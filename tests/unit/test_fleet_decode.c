/* Unit tests for fleet/fleet_decode.c: the decoders of the fleet status's
 * Redis values (untrusted), and a replay of the fuzz corpus
 * tests/corpus/fleet_decode through fuzz/fuzz_fleet_decode.c's function. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <string.h>

#include "../../fuzz/fuzz_fleet_decode.c"

#define PAIR(f, v) { f, sizeof(f) - 1, v, sizeof(v) - 1 }

Test(fleet_decode, numbers)
{
    cr_expect_eq(fleet_parse_int("42", 2), 42);
    cr_expect_eq(fleet_parse_int("-1", 2), -1);
    cr_expect_eq(fleet_parse_int("1795306801123", 13), 1795306801123LL);
    cr_expect_eq(fleet_parse_int("1.7e+12", 7), 1700000000000LL);
    static const char *const bad[] = { "", "1.5", "0x10", " 3", "3 ", "inf", "nan", "1e400",
                                       "99999999999999999999", "-" };
    for (size_t i = 0; i < PF_ARRAY_LEN(bad); i++)
        cr_expect_eq(fleet_parse_int(bad[i], strlen(bad[i])), FLEET_UNKNOWN, "%s", bad[i]);
    cr_expect_eq(fleet_parse_int("4\0" "2", 3), FLEET_UNKNOWN);
    cr_expect_eq(fleet_parse_seconds_ms("1795306000.25", 13), 1795306000250LL);
    cr_expect_eq(fleet_parse_seconds_ms("-1", 2), FLEET_UNKNOWN);
}

Test(fleet_decode, labelled_counter)
{
    int64_t t, o;
    const char *j = "{\"1xx\":0,\"2xx\":40,\"4xx\":1,\"5xx\":2}";
    cr_assert_eq(fleet_parse_labelled(j, strlen(j), "5xx", &t, &o), PF_OK);
    cr_expect_eq(t, 43);
    cr_expect_eq(o, 2);
    j = "{\"2xx\":4}";
    cr_assert_eq(fleet_parse_labelled(j, strlen(j), "5xx", &t, &o), PF_OK);
    cr_expect_eq(o, 0, "absent member is 0");
    static const char *const bad[] = { "[]", "{\"2xx\":-1}", "{\"2xx\":1.5}", "{\"a\":{}}", "{" };
    for (size_t i = 0; i < PF_ARRAY_LEN(bad); i++) {
        cr_expect_eq(fleet_parse_labelled(bad[i], strlen(bad[i]), "5xx", &t, &o), PF_EINVAL, "%s",
                     bad[i]);
        cr_expect_eq(t, FLEET_UNKNOWN);
    }
}

Test(fleet_decode, lease_token_keeps_only_the_id)
{
    struct fleet_leader l;
    fleet_leader_init(&l);
    fleet_leader_token(&l, "ctl-a:3f9a0c1d2e", 16);
    cr_expect(l.is_held);
    cr_expect_str_eq(l.id, "ctl-a");
    fleet_leader_init(&l);
    fleet_leader_token(&l, "secrettoken", 11);
    cr_expect(l.is_held);
    cr_expect_str_eq(l.id, "", "no ':' : nothing of the value is shown");
    fleet_leader_token(&l, "a\x1b[2J:x", 7);
    cr_expect_str_eq(l.id, "a?[2J");
}

Test(fleet_decode, provider_hash)
{
    struct fleet_provider p;
    static const struct snapshot_pair pairs[] = {
        PAIR("state", "failing"), PAIR("breaker", "open"), PAIR("upstreams", "3"),
        PAIR("polls", "12"), PAIR("last_error", "HTTP 500\nnext"), PAIR("failures", "oops"),
        PAIR("next_poll_at_ms", "1795306802000"), PAIR("unknown_field", "x"),
    };
    fleet_provider_init(&p, "plain", 5);
    fleet_provider_from_pairs(&p, pairs, PF_ARRAY_LEN(pairs));
    cr_expect(p.has_hash);
    cr_expect_str_eq(p.state, "failing");
    cr_expect_str_eq(p.breaker, "open");
    cr_expect_eq(p.upstreams, 3);
    cr_expect_eq(p.polls, 12);
    cr_expect_eq(p.failures, FLEET_UNKNOWN);
    cr_expect_eq(p.next_poll_at_ms, 1795306802000LL);
    cr_expect_str_eq(p.last_error, "HTTP 500 next");
    fleet_provider_init(&p, "x", 1);
    fleet_provider_from_pairs(&p, NULL, 0);
    cr_expect(!p.has_hash);
}

Test(fleet_decode, node_hash)
{
    struct fleet_node n;
    static const struct snapshot_pair pairs[] = {
        PAIR("listen", "127.0.0.1:3128"), PAIR("pool_version", "6"),
        PAIR("pool_epoch", "9f1c2a7be0d4431a"), PAIR("requests_total", "42"),
        PAIR("responses_total", "{\"2xx\":40,\"5xx\":2}"), PAIR("conns_active", "3"),
        PAIR("process_start_time_seconds", "1795306000.25"), PAIR("updated_at_ms", "17953068009"),
    };
    fleet_node_init(&n, "node-a", 6, 1);
    fleet_node_from_pairs(&n, pairs, PF_ARRAY_LEN(pairs));
    cr_expect(n.has_hash);
    cr_expect_str_eq(n.listen, "127.0.0.1:3128");
    cr_expect_eq(n.pool_version, 6);
    cr_expect_eq(n.requests_total, 42);
    cr_expect_eq(n.responses_total, 42);
    cr_expect_eq(n.responses_5xx, 2);
    cr_expect_eq(n.conns_active, 3);
    cr_expect_eq(n.started_at_ms, 1795306000250LL);
    cr_expect_eq(n.ready, FLEET_UNKNOWN);
}

Test(fleet_decode, record_and_health)
{
    struct fleet_upstream u;
    struct pf_err err;
    const char *rec = "{\"scheme\":\"http\",\"host\":\"203.0.113.10\",\"port\":8080,\"user\":\"u\","
                      "\"pass\":\"s3cret\",\"provider\":\"plain\",\"tier\":1,\"latency_ms\":9,"
                      "\"labels\":{\"country\":\"DE\"}}";
    cr_assert_eq(fleet_upstream_init(&u, "http://203.0.113.10:8080#0a0b0c0d", 33), PF_OK);
    cr_assert_eq(fleet_record_decode(&u, rec, strlen(rec), &err), PF_OK, "%s", err.msg);
    cr_expect(u.in_pool && !u.is_bad);
    cr_expect_str_eq(u.provider, "plain");
    cr_expect_eq(u.tier, 1);
    cr_expect_str_eq(u.labels.country, "DE");
    cr_expect_eq(u.latency_ms, 9);
    const char *h = "{\"state\":\"unhealthy\",\"latency_ms\":41,\"ejected_until_ms\":0,"
                    "\"reason\":\"refused\\u0007\"}";
    cr_expect_eq(fleet_health_decode(&u, h, strlen(h), 1000), PF_OK);
    cr_expect_eq(u.health, FLEET_HEALTH_UNHEALTHY);
    cr_expect_eq(u.latency_ms, 41);
    cr_expect_str_eq(u.reason, "refused?");
    h = "{\"state\":\"healthy\",\"ejected_until_ms\":5000}";
    cr_expect_eq(fleet_health_decode(&u, h, strlen(h), 1000), PF_OK);
    cr_expect_eq(u.health, FLEET_HEALTH_EJECTED);
    cr_expect_eq(fleet_health_decode(&u, h, strlen(h), 6000), PF_OK);
    cr_expect_eq(u.health, FLEET_HEALTH_HEALTHY, "ejection over");
    cr_expect_eq(fleet_health_decode(&u, "{\"state\":7}", 11, 0), PF_EINVAL);
    cr_expect_eq(u.health, FLEET_HEALTH_UNKNOWN);
    cr_expect_eq(fleet_record_decode(&u, "{\"scheme\":\"gopher\"}", 19, &err), PF_EINVAL);
    cr_expect(u.is_bad);
    fleet_upstream_deinit(&u);
    fleet_upstream_deinit(NULL);
}

Test(fleet_decode, names)
{
    enum fleet_health h;
    for (int i = 0; i < FLEET_HEALTH_N; i++) {
        cr_assert_eq(fleet_health_parse(fleet_health_name((enum fleet_health)i), &h), PF_OK);
        cr_expect_eq((int)h, i);
    }
    cr_expect_eq(fleet_health_parse("sick", &h), PF_EINVAL);
    cr_expect_str_eq(fleet_node_state_name(FLEET_NODE_GONE), "gone");
}

Test(fleet_decode, corpus_replay)
{
    char dir[512];
    snprintf(dir, sizeof(dir), "%s/fleet_decode", PF_CORPUS_DIR);
    DIR *d = opendir(dir);
    cr_assert_not_null(d, "opendir %s", dir);
    int count = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        char path[1024];
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        FILE *f = fopen(path, "rb");
        cr_assert_not_null(f, "open %s", path);
        static char buf[65536];
        size_t n = fread(buf, 1, sizeof(buf), f);
        fclose(f);
        cr_expect_eq(LLVMFuzzerTestOneInput((const uint8_t *)buf, n), 0, "%s", e->d_name);
        count++;
    }
    closedir(d);
    cr_expect_geq(count, 10, "the seed corpus is there");
}

#define BAN_REC(id, created, expires)                                                          \
    "{\"id\":\"" id "\",\"upstream\":\"3f9a0c12d4e5\",\"domain\":\"example.com\","           \
    "\"created_at_ms\":" #created ",\"expires_at_ms\":" #expires ",\"reason\":\"captcha\"}"

Test(fleet_decode, bans_active_newest_first_expired_and_bad_counted)
{
    const struct snapshot_pair p[] = {
        PAIR("00000000000000a1", BAN_REC("00000000000000a1", 1000, 9000)),
        PAIR("00000000000000a2", BAN_REC("00000000000000a2", 3000, 9000)),
        PAIR("00000000000000a3", BAN_REC("00000000000000a3", 2000, 4000)),   /* expired at 5000 */
        PAIR("00000000000000a4", "{\"id\":\"nope\"}"),
        PAIR("00000000000000a5", BAN_REC("00000000000000a5", 3000, 9500)),
    };
    struct fleet f;
    fleet_init(&f, 5000);
    cr_assert_eq(fleet_bans_from_pairs(&f.bans, p, PF_ARRAY_LEN(p), 5000), PF_OK);
    cr_assert_eq(f.bans.n, 3);
    cr_expect_eq(f.bans.expired, 1);
    cr_expect_eq(f.bans.bad, 1);
    cr_expect_str_eq(f.bans.v[0].id, "00000000000000a2");   /* same time: by id */
    cr_expect_str_eq(f.bans.v[1].id, "00000000000000a5");
    cr_expect_str_eq(f.bans.v[2].id, "00000000000000a1");

    cJSON *o = fleet_json_bans(&f, "recent", 2);
    cr_assert_not_null(o);
    cr_expect_eq(cJSON_GetObjectItem(o, "count")->valuedouble, 3);
    cr_expect_eq(cJSON_GetObjectItem(o, "expired")->valuedouble, 1);
    cr_expect_eq(cJSON_GetObjectItem(o, "bad_records")->valuedouble, 1);
    const cJSON *r = cJSON_GetObjectItem(o, "recent");
    cr_assert_eq(cJSON_GetArraySize(r), 2);
    const cJSON *b0 = cJSON_GetArrayItem(r, 0);
    cr_expect_str_eq(cJSON_GetObjectItem(b0, "id")->valuestring, "00000000000000a2");
    cr_expect_eq(cJSON_GetObjectItem(b0, "expires_in_ms")->valuedouble, 4000);
    cJSON_Delete(o);

    cr_assert_eq(fleet_bans_from_pairs(&f.bans, NULL, 0, 5000), PF_OK);   /* emptied */
    cr_expect_eq(f.bans.n, 0);
    cr_expect_eq(f.bans.bad, 0);
    fleet_deinit(&f);
}
