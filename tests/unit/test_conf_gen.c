/* Unit tests for node/conf_gen.c: generations shared by reference, and
 * which keys a SIGHUP reload may change (restart-only ones named, never
 * their values, and kept at their running values). */
#include <criterion/criterion.h>
#include <string.h>

#include "conf.h"
#include "conf_gen.h"

static void load(struct conf *c, const char *json)
{
    struct pf_err err = { 0 };
    conf_init_defaults(c);
    cr_assert_eq(conf_parse(c, json, strlen(json), &err), PF_OK, "%s: %s", json, err.msg);
}

static const char base[] =
    "{\"redis\":{\"url\":\"redis://:pw-0123456@127.0.0.1:6379/0\",\"prefix\":\"pf\"},"
    "\"log\":{\"level\":\"info\"},"
    "\"node\":{\"id\":\"n1\",\"listen\":\"127.0.0.1:3128\",\"mode\":\"pool\","
    "\"users\":[{\"user\":\"alice\",\"pass\":\"pa-alice\"},{\"user\":\"bob\",\"pass\":\"pa-bob\"}],"
    "\"client_allow\":[\"10.0.0.0/8\"],\"destination_allow\":[\"127.0.0.1/32\"],"
    "\"connect_ports\":[443],\"retries\":2,\"idle_timeout_ms\":60000}}";

Test(conf_gen, refcount_and_deep_copy)
{
    struct conf c;
    load(&c, base);
    struct conf_gen *g = conf_gen_create(&c.node, 1);
    cr_assert_not_null(g);
    cr_expect_eq(g->refs, 1u);
    cr_expect_eq(g->id, 1u);
    cr_assert_eq(g->node.nusers, 2);
    cr_expect_neq(g->node.users, c.node.users, "its own copy");
    cr_expect_str_eq(g->node.users[1].user, "bob");
    conf_deinit(&c);                       /* the generation outlives the config */
    cr_expect_str_eq(g->node.users[0].pass, "pa-alice");
    cr_expect_eq(conf_gen_get(g), g);
    cr_expect_eq(g->refs, 2u);
    conf_gen_put(g);
    cr_expect_eq(g->refs, 1u);
    conf_gen_put(g);                       /* freed: ASan/valgrind check */
    conf_gen_put(NULL);
}

Test(conf_gen, no_users)
{
    struct conf c;
    load(&c, "{}");
    struct conf_gen *g = conf_gen_create(&c.node, 3);
    cr_assert_not_null(g);
    cr_expect_null(g->node.users);
    cr_expect_eq(g->node.nusers, 0);
    conf_gen_put(g);
    conf_deinit(&c);
}

/* The same file twice: nothing changed, nothing needs a restart. */
Test(conf_gen, same_file_no_change)
{
    struct conf a, b;
    char buf[256];
    load(&a, base);
    load(&b, base);
    cr_expect_eq(conf_gen_restart_keys(&a, &b, buf, sizeof(buf)), 0);
    cr_expect_str_eq(buf, "");
    cr_expect_eq(conf_gen_changed_keys(&a, &b, buf, sizeof(buf)), 0, "%s", buf);
    conf_deinit(&a);
    conf_deinit(&b);
}

struct key_case {
    char json[640];
    char restart[200];     /* restart-only keys named */
    char changed[200];     /* reloadable keys named */
};

static const struct key_case key_cases[] = {
    { "{\"redis\":{\"url\":\"redis://:pw-0123456@127.0.0.1:6379/0\",\"prefix\":\"pf\"},"
      "\"log\":{\"level\":\"debug\",\"format\":\"json\"},"
      "\"node\":{\"id\":\"n1\",\"listen\":\"127.0.0.1:3128\",\"mode\":\"pool\","
      "\"users\":[{\"user\":\"alice\",\"pass\":\"pa-alice\"},{\"user\":\"bob\",\"pass\":\"pa-bob\"}],"
      "\"client_allow\":[\"10.0.0.0/8\"],\"destination_allow\":[\"127.0.0.1/32\"],"
      "\"connect_ports\":[443],\"retries\":2,\"idle_timeout_ms\":60000}}",
      "", "log.level, log.format" },
    { "{\"redis\":{\"url\":\"redis://:pw-0123456@127.0.0.1:6379/0\",\"prefix\":\"pf\"},"
      "\"log\":{\"level\":\"info\"},"
      "\"node\":{\"id\":\"n1\",\"listen\":\"127.0.0.1:3128\",\"mode\":\"pool\","
      "\"users\":[{\"user\":\"carol\",\"pass\":\"pa-carol\"},{\"user\":\"bob\",\"pass\":\"pa-bob\"}],"
      "\"client_allow\":[\"10.0.0.0/16\"],\"destination_allow\":[\"127.0.0.1/32\"],"
      "\"connect_ports\":[443, 8443],\"retries\":0,\"idle_timeout_ms\":60000,"
      "\"access_log\":\"stderr\"}}",
      "", "node.users, node.retries, node.client_allow, node.connect_ports, node.access_log" },
    { "{\"redis\":{\"url\":\"redis://:pw-other@127.0.0.1:6380/0\",\"prefix\":\"pf2\"},"
      "\"log\":{\"level\":\"info\"},"
      "\"node\":{\"id\":\"n2\",\"listen\":\"127.0.0.1:3129\",\"mode\":\"direct\","
      "\"admin_listen\":\"\",\"socks5_listen\":\"127.0.0.1:1080\",\"snapshot_file\":\"/tmp/s\","
      "\"report_interval_ms\":100,\"upstream_allow_private\":true,"
      "\"users\":[{\"user\":\"alice\",\"pass\":\"pa-alice\"},{\"user\":\"bob\",\"pass\":\"pa-bob\"}],"
      "\"client_allow\":[\"10.0.0.0/8\"],\"destination_allow\":[\"127.0.0.1/32\"],"
      "\"connect_ports\":[443],\"retries\":2,\"idle_timeout_ms\":1000}}",
      "node.id, node.listen, node.admin_listen, node.socks5_listen, node.mode, "
      "node.report_interval_ms, node.snapshot_file, node.upstream_allow_private, redis.url, "
      "redis.prefix", "node.idle_timeout_ms" },
    /* a password only: named as a change of its key, never shown */
    { "{\"redis\":{\"url\":\"redis://:pw-0123456@127.0.0.1:6379/0\",\"prefix\":\"pf\"},"
      "\"log\":{\"level\":\"info\"},"
      "\"node\":{\"id\":\"n1\",\"listen\":\"127.0.0.1:3128\",\"mode\":\"pool\","
      "\"users\":[{\"user\":\"alice\",\"pass\":\"pa-alice2\"},{\"user\":\"bob\",\"pass\":\"pa-bob\"}],"
      "\"client_allow\":[\"10.0.0.0/8\"],\"destination_allow\":[\"127.0.0.1/32\"],"
      "\"connect_ports\":[443],\"retries\":2,\"idle_timeout_ms\":60000}}",
      "", "node.users" },
};

Test(conf_gen, keys_named)
{
    for (size_t i = 0; i < PF_ARRAY_LEN(key_cases); i++) {
        struct conf run, next;
        char buf[512];
        load(&run, base);
        load(&next, key_cases[i].json);
        conf_gen_restart_keys(&run, &next, buf, sizeof(buf));
        cr_expect_str_eq(buf, key_cases[i].restart, "case %zu", i);
        cr_expect(strstr(buf, "pw-") == NULL && strstr(buf, "pa-") == NULL, "no values");
        conf_gen_keep_restart(&next, &run);
        conf_gen_changed_keys(&run, &next, buf, sizeof(buf));
        cr_expect_str_eq(buf, key_cases[i].changed, "case %zu", i);
        cr_expect(strstr(buf, "pa-") == NULL, "no values");
        /* after keeping, nothing restart-only differs any more */
        cr_expect_eq(conf_gen_restart_keys(&run, &next, buf, sizeof(buf)), 0, "case %zu: %s", i, buf);
        conf_deinit(&run);
        conf_deinit(&next);
    }
}

/* keep_restart leaves the running config alone and gives <next> its values. */
Test(conf_gen, keep_restart_values)
{
    struct conf run, next;
    load(&run, base);
    load(&next, key_cases[2].json);
    conf_gen_keep_restart(&next, &run);
    cr_expect_str_eq(next.node.listen, "127.0.0.1:3128");
    cr_expect_str_eq(next.node.id, "n1");
    cr_expect_eq(next.node.mode, CONF_NODE_POOL);
    cr_expect_str_eq(next.redis.prefix, "pf");
    cr_expect_str_eq(next.redis.password, "pw-0123456");
    cr_expect_eq(next.redis.port, 6379);
    cr_expect_eq(next.node.idle_timeout_ms, 1000, "reloadable keys stay new");
    cr_expect_str_eq(run.redis.prefix, "pf");
    cr_expect_str_eq(run.node.listen, "127.0.0.1:3128");
    conf_deinit(&next);                    /* dropping next leaves run whole */
    cr_expect_str_eq(run.redis.password, "pw-0123456");
    conf_deinit(&run);
}

/* A list cut short is still valid and not an overflow. */
Test(conf_gen, short_buffer)
{
    struct conf run, next;
    char buf[12];
    load(&run, base);
    load(&next, key_cases[2].json);
    cr_expect_eq(conf_gen_restart_keys(&run, &next, buf, sizeof(buf)), 10);
    cr_expect_eq(strlen(buf), sizeof(buf) - 1);
    conf_deinit(&run);
    conf_deinit(&next);
}
