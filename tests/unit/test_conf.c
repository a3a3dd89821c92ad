/* Unit tests for common/conf.c: defaults, the full documented config, each
 * class of error with its JSON path, env overrides, file loading. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf.h"

/* The example from docs/configuration.md. */
static const char full_config[] =
    "{\n"
    "  \"redis\": {\n"
    "    \"url\": \"redis://:s3cret@10.0.0.5:6380/2\",\n"
    "    \"prefix\": \"pf\",\n"
    "    \"connect_timeout_ms\": 2500,\n"
    "    \"command_timeout_ms\": 1500\n"
    "  },\n"
    "  \"log\": { \"level\": \"debug\" },\n"
    "  \"controller\": {\n"
    "    \"id\": \"ctl-a\",\n"
    "    \"admin_listen\": \"127.0.0.1:3190\",\n"
    "    \"poll_interval_ms\": 10000,\n"
    "    \"default_ttl_s\": 300,\n"
    "    \"heartbeat_interval_ms\": 2000,\n"
    "    \"providers\": [\n"
    "      { \"name\": \"demo\", \"type\": \"static\", \"allow_private\": true,\n"
    "        \"upstreams\": [\"http://127.0.0.1:3301\", \"http://user:pass@127.0.0.1:3302\"] },\n"
    "      { \"name\": \"plain\", \"type\": \"api\", \"format\": \"lines\",\n"
    "        \"url\": \"http://127.0.0.1:8000/list?key=SECRET\",\n"
    "        \"interval_ms\": 5000, \"timeout_ms\": 5000, \"connect_timeout_ms\": 2000,\n"
    "        \"max_body_bytes\": 1048576, \"default_scheme\": \"socks5\", \"ttl_s\": 120,\n"
    "        \"priority\": 10, \"allow_private\": false }\n"
    "    ]\n"
    "  },\n"
    "  \"node\": {\n"
    "    \"id\": \"node-a\",\n"
    "    \"listen\": \"127.0.0.1:3128\",\n"
    "    \"admin_listen\": \"127.0.0.1:3180\",\n"
    "    \"mode\": \"direct\",\n"
    "    \"strategy\": \"round_robin\",\n"
    "    \"max_clients\": 100,\n"
    "    \"connect_timeout_ms\": 5000,\n"
    "    \"header_timeout_ms\": 10000,\n"
    "    \"idle_timeout_ms\": 300000,\n"
    "    \"response_timeout_ms\": 0,\n"
    "    \"max_header_bytes\": 32768,\n"
    "    \"retries\": 3,\n"
    "    \"report_interval_ms\": 2000,\n"
    "    \"allow_private_destinations\": true,\n"
    "    \"destination_allow\": [\"127.0.0.1/32\", \"fd00::/8\"],\n"
    "    \"users\": [ { \"user\": \"alice\", \"pass\": \"secret\" } ]\n"
    "  }\n"
    "}\n";

static int parse(struct conf *c, const char *text, struct pf_err *err)
{
    conf_init_defaults(c);
    return conf_parse(c, text, strlen(text), err);
}

Test(conf, full_config)
{
    struct conf c;
    struct pf_err err = { 0 };
    cr_assert_eq(parse(&c, full_config, &err), PF_OK, "%s", err.msg);
    cr_expect_str_eq(c.redis.host, "10.0.0.5");
    cr_expect_eq(c.redis.port, 6380);
    cr_expect_eq(c.redis.db, 2);
    cr_expect_str_eq(c.redis.password, "s3cret");
    cr_expect_eq(c.redis.connect_timeout_ms, 2500);
    cr_expect_eq(c.redis.command_timeout_ms, 1500);
    cr_expect_str_eq(c.log_level, "debug");
    cr_expect_str_eq(c.controller.id, "ctl-a");
    cr_expect_str_eq(c.controller.admin_listen, "127.0.0.1:3190");
    cr_assert_eq(c.controller.nproviders, 2);
    const struct conf_provider *p0 = &c.controller.providers[0];
    const struct conf_provider *p1 = &c.controller.providers[1];
    cr_expect_str_eq(p0->name, "demo");
    cr_expect_eq(p0->type, CONF_PROVIDER_STATIC);
    cr_expect_eq(p0->allow_private.is_private_allowed, 1);
    cr_assert_eq(p0->nstatic, 2);
    cr_expect_str_eq(p0->static_upstreams[1], "http://user:pass@127.0.0.1:3302");
    cr_expect_eq(p0->interval_ms, 10000);          /* inherited */
    cr_expect_eq(p0->ttl_s, 300);                  /* inherited */
    cr_expect_str_eq(p1->name, "plain");
    cr_expect_eq(p1->type, CONF_PROVIDER_API);
    cr_expect_str_eq(p1->url, "http://127.0.0.1:8000/list?key=SECRET");
    cr_expect_eq(p1->interval_ms, 5000);
    cr_expect_eq(p1->timeout_ms, 5000);
    cr_expect_eq(p1->connect_timeout_ms, 2000);
    cr_expect_eq(p1->max_body_bytes, 1048576);
    cr_expect_eq(p1->default_scheme, UPSTREAM_SOCKS5);
    cr_expect_eq(p1->ttl_s, 120);
    cr_expect_eq(p1->priority, 10);
    cr_expect_eq(p1->allow_private.is_private_allowed, 0);
    cr_expect_str_eq(c.node.id, "node-a");
    cr_expect_eq(c.node.mode, CONF_NODE_DIRECT);
    cr_expect_eq(c.node.max_clients, 100);
    cr_expect_eq(c.node.retries, 3);
    cr_expect_eq(c.node.response_timeout_ms, 0);       /* 0 = disabled is valid */
    cr_expect_eq(c.node.is_private_dest_allowed, 1);
    cr_assert_eq(c.node.ndest_allow, 2);
    cr_expect_eq(c.node.dest_allow[0].family, AF_INET);
    cr_expect_eq(c.node.dest_allow[0].prefix_len, 32);
    cr_expect_eq(c.node.dest_allow[1].family, AF_INET6);
    cr_assert_eq(c.node.nusers, 1);
    cr_expect_str_eq(c.node.users[0].user, "alice");
    cr_expect_str_eq(c.node.users[0].pass, "secret");
    conf_deinit(&c);
}

/* TLS to https upstreams: the CA file and the explicit opt-out. */
Test(conf, upstream_tls_keys)
{
    struct conf c;
    struct pf_err err = { 0 };
    cr_assert_eq(parse(&c, "{\"node\":{\"upstream_ca_file\":\"/etc/pf/ca.pem\","
                           "\"upstream_tls_verify\":false}}", &err), PF_OK, "%s", err.msg);
    cr_expect_str_eq(c.node.upstream_ca_file, "/etc/pf/ca.pem");
    cr_expect_eq(c.node.is_upstream_tls_verified, 0);
    conf_deinit(&c);
    cr_assert_eq(parse(&c, "{\"node\":{\"upstream_tls_verify\":true}}", &err), PF_OK);
    cr_expect_eq(c.node.is_upstream_tls_verified, 1);
    conf_deinit(&c);
}

Test(conf, defaults)
{
    struct conf c;
    struct pf_err err = { 0 };
    cr_assert_eq(parse(&c, "{}", &err), PF_OK, "%s", err.msg);
    cr_expect_str_eq(c.redis.url, "redis://127.0.0.1:6379/0");
    cr_expect_str_eq(c.redis.host, "127.0.0.1");
    cr_expect_eq(c.redis.port, 6379);
    cr_expect_str_eq(c.node.upstream_ca_file, "");          /* the system CAs */
    cr_expect_eq(c.node.is_upstream_tls_verified, 1);       /* verification is on */
    cr_expect_eq(c.redis.db, 0);
    cr_expect_str_eq(c.redis.password, "");
    cr_expect_str_eq(c.redis.prefix, "pf");
    cr_expect_eq(c.redis.connect_timeout_ms, 2000);
    cr_expect_eq(c.redis.command_timeout_ms, 2000);
    cr_expect_str_eq(c.log_level, "info");
    cr_expect_eq(c.controller.poll_interval_ms, 10000);
    cr_expect_eq(c.controller.default_ttl_s, 300);
    cr_expect_eq(c.controller.heartbeat_interval_ms, 2000);
    cr_expect_str_eq(c.controller.admin_listen, "");
    cr_expect_eq(c.controller.nproviders, 0);
    cr_expect_null(c.controller.providers);
    cr_expect_str_eq(c.node.listen, "127.0.0.1:3128");
    cr_expect_str_eq(c.node.admin_listen, "127.0.0.1:3180");
    cr_expect_eq(c.node.mode, CONF_NODE_POOL);
    cr_expect_eq(c.node.strategy, CONF_STRATEGY_ROUND_ROBIN);
    cr_expect_eq(c.node.max_clients, 4096);
    cr_expect_eq(c.node.connect_timeout_ms, 5000);
    cr_expect_eq(c.node.header_timeout_ms, 10000);
    cr_expect_eq(c.node.idle_timeout_ms, 300000);
    cr_expect_eq(c.node.response_timeout_ms, 30000);
    cr_expect_eq(c.node.max_header_bytes, 32768);
    cr_expect_eq(c.node.retries, 2);
    cr_expect_eq(c.node.report_interval_ms, 2000);
    cr_expect_eq(c.node.is_private_dest_allowed, 0);
    cr_expect_eq(c.node.ndest_allow, 0);
    cr_expect_eq(c.node.nusers, 0);
    cr_expect_eq(c.node.is_eject_panic, 0);
    /* CONNECT only to the web's ports unless configured */
    cr_assert_eq(c.node.nconnect_ports, 4);
    cr_expect_eq(c.node.connect_ports[0], 443);
    cr_expect_eq(c.node.connect_ports[1], 80);
    cr_expect_eq(c.node.connect_ports[2], 8080);
    cr_expect_eq(c.node.connect_ports[3], 8443);
    conf_deinit(&c);
}

Test(conf, default_ids)
{
    struct conf c;
    conf_init_defaults(&c);
    char suffix[32];
    snprintf(suffix, sizeof(suffix), "-%ld", (long)getpid());
    size_t n = strlen(c.node.id);
    cr_expect(n > strlen(suffix) && n <= 63, "id '%s'", c.node.id);
    cr_expect_str_eq(c.node.id + n - strlen(suffix), suffix);
    cr_expect_str_eq(c.controller.id, c.node.id);
    for (size_t i = 0; i < n; i++) {
        char ch = c.node.id[i];
        cr_expect(strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-", ch) != NULL);
    }
    conf_deinit(&c);
}

Test(conf, provider_defaults)
{
    struct conf c;
    struct pf_err err = { 0 };
    const char *j = "{\"controller\":{\"default_ttl_s\":60,\"providers\":["
                    "{\"name\":\"a\",\"type\":\"api\",\"url\":\"https://x.example/l\"}],"
                    "\"poll_interval_ms\":7000}}";
    cr_assert_eq(parse(&c, j, &err), PF_OK, "%s", err.msg);
    const struct conf_provider *p = &c.controller.providers[0];
    cr_expect_eq(p->interval_ms, 7000);      /* even when set after providers */
    cr_expect_eq(p->ttl_s, 60);
    cr_expect_eq(p->timeout_ms, 10000);
    cr_expect_eq(p->connect_timeout_ms, 3000);
    cr_expect_eq(p->max_body_bytes, 1048576);
    cr_expect_eq(p->default_scheme, UPSTREAM_HTTP);
    cr_expect_eq(p->format, CONF_FORMAT_LINES);
    cr_expect_eq(p->priority, 0);
    cr_expect_eq(p->allow_private.is_private_allowed, 0);
    conf_deinit(&c);
}

struct err_case {
    const char *json;
    const char *msg;       /* the exact error message */
};

static const struct err_case err_cases[] = {
    /* log.format, node.access_log */
    { "{\"log\":{\"format\":\"xml\"}}", "log.format: must be text or json" },
    { "{\"log\":{\"format\":1}}", "log.format: must be a string" },
    { "{\"node\":{\"access_log\":\"access.log\"}}",
      "node.access_log: must be \"stderr\" or an absolute path" },
    /* unknown keys */
    { "{\"nodes\":{}}", "nodes: unknown key" },
    { "{\"node\":{\"max_header\":1}}", "node.max_header: unknown key" },
    { "{\"redis\":{\"url\":\"redis://h:1\",\"pasword\":\"x\"}}", "redis.pasword: unknown key" },
    { "{\"controller\":{\"providers\":[{\"name\":\"a\",\"type\":\"api\",\"url\":\"http://x\",\"intervall_ms\":1}]}}",
      "controller.providers[0].intervall_ms: unknown key" },
    { "{\"node\":{\"users\":[{\"user\":\"a\",\"pass\":\"b\",\"role\":\"x\"}]}}",
      "node.users[0].role: unknown key" },
    { "{\"node\":{\"retries\":1,\"retries\":2}}", "node.retries: duplicate key" },
    /* wrong types */
    { "[]", "config: must be an object" },
    { "{\"node\":[]}", "node: must be an object" },
    { "{\"node\":{\"max_clients\":\"10\"}}", "node.max_clients: must be an integer" },
    { "{\"node\":{\"max_clients\":1.5}}", "node.max_clients: must be an integer" },
    { "{\"node\":{\"max_clients\":true}}", "node.max_clients: must be an integer" },
    { "{\"node\":{\"allow_private_destinations\":1}}",
      "node.allow_private_destinations: must be true or false" },
    { "{\"node\":{\"listen\":3128}}", "node.listen: must be a string" },
    { "{\"node\":{\"upstream_tls_verify\":\"no\"}}",
      "node.upstream_tls_verify: must be true or false" },
    { "{\"node\":{\"upstream_tls_verify\":0}}", "node.upstream_tls_verify: must be true or false" },
    { "{\"node\":{\"upstream_ca_file\":1}}", "node.upstream_ca_file: must be a string" },
    { "{\"log\":{\"level\":null}}", "log.level: must be a string" },
    { "{\"controller\":{\"providers\":{}}}", "controller.providers: must be an array" },
    { "{\"controller\":{\"providers\":[1]}}", "controller.providers[0]: must be an object" },
    { "{\"node\":{\"destination_allow\":[\"10.0.0.0/8\",5]}}",
      "node.destination_allow[1]: must be a string" },
    /* out of range */
    { "{\"node\":{\"max_header_bytes\":1023}}", "node.max_header_bytes: must be 1024..1048576" },
    { "{\"node\":{\"max_header_bytes\":1048577}}", "node.max_header_bytes: must be 1024..1048576" },
    { "{\"node\":{\"retries\":11}}", "node.retries: must be 0..10" },
    { "{\"node\":{\"response_timeout_ms\":-1}}", "node.response_timeout_ms: must be 0..86400000" },
    { "{\"node\":{\"response_timeout_ms\":86400001}}",
      "node.response_timeout_ms: must be 0..86400000" },
    { "{\"node\":{\"response_timeout_ms\":\"30s\"}}", "node.response_timeout_ms: must be an integer" },
    { "{\"node\":{\"max_clients\":1e300}}", "node.max_clients: must be 1..1000000" },
    { "{\"redis\":{\"connect_timeout_ms\":0}}", "redis.connect_timeout_ms: must be 1..600000" },
    /* bad values */
    { "{\"log\":{\"level\":\"verbose\"}}", "log.level: must be error, warn, info or debug" },
    { "{\"node\":{\"mode\":\"mesh\"}}", "node.mode: must be pool or direct" },
    { "{\"node\":{\"strategy\":\"fastest\"}}",
      "node.strategy: must be round_robin, random, least_conn, weighted or rotate" },
    { "{\"node\":{\"id\":\"bad id\"}}", "node.id: must be 1..63 chars of [A-Za-z0-9_.-]" },
    { "{\"node\":{\"listen\":\"127.0.0.1\"}}", "node.listen: missing port" },
    { "{\"node\":{\"listen\":\"\"}}", "node.listen: must not be empty" },
    { "{\"node\":{\"destination_allow\":[\"10.0.0.0/33\"]}}",
      "node.destination_allow[0]: CIDR prefix length 33 out of range" },
    { "{\"node\":{\"users\":[{\"user\":\"a:b\",\"pass\":\"x\"}]}}",
      "node.users[0].user: must not contain ':'" },
    { "{\"node\":{\"users\":[{\"user\":\"a\"}]}}", "node.users[0].pass: missing" },
    { "{\"node\":{\"users\":[{\"user\":\"a\",\"pass\":\"1\"},{\"user\":\"a\",\"pass\":\"2\"}]}}",
      "node.users[1]: duplicate user" },
    { "{\"redis\":{\"prefix\":\"p f\"}}", "redis.prefix: must be 1..32 chars of [A-Za-z0-9_.-]" },
    /* bad URLs */
    { "{\"redis\":{\"url\":\"http://127.0.0.1:6379\"}}", "redis.url: must start with redis:// or unix://" },
    { "{\"redis\":{\"url\":\"redis://127.0.0.1:0\"}}", "redis.url: port 0 out of range" },
    { "{\"redis\":{\"url\":\"redis://127.0.0.1:6379/x\"}}", "redis.url: database must be 0..65535" },
    { "{\"redis\":{\"url\":\"redis://:pw@\"}}", "redis.url: missing host" },
    { "{\"redis\":{\"url\":\"redis://::1:6379\"}}", "redis.url: IPv6 address must be in brackets" },
    { "{\"controller\":{\"providers\":[{\"name\":\"a\",\"type\":\"api\",\"url\":\"ftp://x/y\"}]}}",
      "controller.providers[0].url: must start with http:// or https://" },
    { "{\"controller\":{\"providers\":[{\"name\":\"a\",\"type\":\"api\",\"url\":\"http:///y\"}]}}",
      "controller.providers[0].url: missing host" },
    { "{\"controller\":{\"providers\":[{\"name\":\"a\",\"type\":\"api\",\"url\":\"http://x/a b\"}]}}",
      "controller.providers[0].url: invalid character in URL" },
    /* providers: missing, duplicate, mismatched, bad static */
    { "{\"controller\":{\"providers\":[{\"name\":\"a\",\"type\":\"api\",\"url\":\"http://x\"},"
      "{\"name\":\"b\",\"type\":\"api\"}]}}", "controller.providers[1].url: missing" },
    { "{\"controller\":{\"providers\":[{\"type\":\"api\",\"url\":\"http://x\"}]}}",
      "controller.providers[0].name: missing" },
    { "{\"controller\":{\"providers\":[{\"name\":\"a\"}]}}", "controller.providers[0].type: missing" },
    { "{\"controller\":{\"providers\":[{\"name\":\"a\",\"type\":\"rss\"}]}}",
      "controller.providers[0].type: must be static, api or file" },
    { "{\"controller\":{\"providers\":[{\"name\":\"x\",\"type\":\"api\",\"url\":\"http://a\"},"
      "{\"name\":\"x\",\"type\":\"api\",\"url\":\"http://b\"}]}}",
      "controller.providers: duplicate name 'x'" },
    { "{\"controller\":{\"providers\":[{\"name\":\"a\",\"type\":\"static\"}]}}",
      "controller.providers[0].upstreams: missing" },
    { "{\"controller\":{\"providers\":[{\"name\":\"a\",\"type\":\"static\",\"upstreams\":[],\"url\":\"http://x\"}]}}",
      "controller.providers[0].url: only valid for type api" },
    { "{\"controller\":{\"providers\":[{\"name\":\"a\",\"type\":\"api\",\"url\":\"http://x\",\"upstreams\":[]}]}}",
      "controller.providers[0].upstreams: only valid for type static" },
    { "{\"controller\":{\"providers\":[{\"name\":\"a\",\"type\":\"static\",\"allow_private\":true,"
      "\"upstreams\":[\"1.2.3.4:80\",\"1.2.3.4:70000\"]}]}}",
      "controller.providers[0].upstreams[1]: port 70000 out of range" },
    { "{\"controller\":{\"providers\":[{\"name\":\"a\",\"type\":\"static\","
      "\"upstreams\":[\"http://u:SECRET@127.0.0.1:3301\"]}]}}",
      "controller.providers[0].upstreams[0]: loopback address 127.0.0.1 not allowed" },
    { "{\"controller\":{\"providers\":[{\"name\":\"a\",\"type\":\"static\",\"upstreams\":[\"\"]}]}}",
      "controller.providers[0].upstreams[0]: must not be empty" },
    { "{\"controller\":{\"providers\":[{\"name\":\"a\",\"type\":\"api\",\"url\":\"http://x\","
      "\"default_scheme\":\"ftp\"}]}}",
      "controller.providers[0].default_scheme: must be http, https, socks5 or socks5h" },
    { "{\"node\":{\"sticky_header\":\"Content-Length\"}}",
      "node.sticky_header: Content-Length frames or controls the request; pick a header of your own (e.g. X-Session)" },
    { "{\"node\":{\"sticky_header\":\"transfer-encoding\"}}",
      "node.sticky_header: transfer-encoding frames or controls the request; pick a header of your own (e.g. X-Session)" },
    { "{\"node\":{\"eject_panic\":1}}", "node.eject_panic: must be true or false" },
    /* upstream policies, tiers, formats */
    { "{\"node\":{\"upstream_allow_private\":1}}",
      "node.upstream_allow_private: must be true, false or an array of CIDRs" },
    { "{\"node\":{\"upstream_allow_private\":[\"10.0.0.0/33\"]}}",
      "node.upstream_allow_private[0]: CIDR prefix length 33 out of range" },
    { "{\"controller\":{\"providers\":[{\"name\":\"a\",\"type\":\"static\",\"allow_private\":\"yes\","
      "\"upstreams\":[]}]}}",
      "controller.providers[0].allow_private: must be true, false or an array of CIDRs" },
    { "{\"controller\":{\"providers\":[{\"name\":\"a\",\"type\":\"static\",\"allow_private\":true,"
      "\"upstreams\":[\"169.254.169.254:80\"]}]}}",
      "controller.providers[0].upstreams[0]: metadata address 169.254.169.254 not allowed" },
    { "{\"controller\":{\"providers\":[{\"name\":\"a\",\"type\":\"static\",\"allow_private\":[\"10.0.0.0/8\"],"
      "\"upstreams\":[\"127.0.0.1:80\"]}]}}",
      "controller.providers[0].upstreams[0]: loopback address 127.0.0.1 not allowed" },
    { "{\"controller\":{\"providers\":[{\"name\":\"a\",\"type\":\"static\",\"tier\":16,"
      "\"upstreams\":[]}]}}", "controller.providers[0].tier: must be 0..15" },
    { "{\"controller\":{\"providers\":[{\"name\":\"a\",\"type\":\"api\",\"url\":\"http://x\","
      "\"line_format\":\"{host}{port}\"}]}}",
      "controller.providers[0].line_format: {host} and the next field need a separator" },
    { "{\"controller\":{\"providers\":[{\"name\":\"a\",\"type\":\"api\",\"url\":\"http://x\","
      "\"line_format\":\"{host}:{port}:{pass}\"}]}}",
      "controller.providers[0].line_format: {pass} needs {user}" },
    { "{\"controller\":{\"providers\":[{\"name\":\"a\",\"type\":\"api\",\"url\":\"http://x\","
      "\"format\":\"json\",\"line_format\":\"{host}:{port}\"}]}}",
      "controller.providers[0].line_format: only valid for format lines" },
    { "{\"controller\":{\"providers\":[{\"name\":\"a\",\"type\":\"api\",\"url\":\"http://x\","
      "\"format\":\"json\",\"max_pages\":3}]}}",
      "controller.providers[0].max_pages: only valid for type api with json.next" },
    { "{\"controller\":{\"providers\":[{\"name\":\"a\",\"type\":\"api\",\"url\":\"http://x\","
      "\"format\":\"json\",\"json\":{\"filter\":{\"field\":\"valid\"}}}]}}",
      "controller.providers[0].json.filter: needs field and equals" },
    { "{\"controller\":{\"providers\":[{\"name\":\"a\",\"type\":\"api\",\"url\":\"http://x\","
      "\"format\":\"json\",\"json\":{\"labels\":{\"asn\":\"asn\"}}}]}}",
      "controller.providers[0].json.labels.asn: unknown key" },
    { "{\"controller\":{\"providers\":[{\"name\":\"a\",\"type\":\"file\",\"path\":\"/x\","
      "\"format\":\"json\",\"json\":{\"next\":\"next\"}}]}}",
      "controller.providers[0].json.next: only valid for type api" },
    /* syntax */
    { "{\"node\":", "config: invalid JSON near line 1" },
    { "{}\n{}", "config: trailing bytes after JSON value" },
    { "", "config: empty" },
};

Test(conf, error_table)
{
    for (size_t i = 0; i < PF_ARRAY_LEN(err_cases); i++) {
        struct conf c;
        struct pf_err err = { 0 };
        int rc = parse(&c, err_cases[i].json, &err);
        cr_expect_eq(rc, PF_EINVAL, "case %zu: rc %d", i, rc);
        cr_expect_str_eq(err.msg, err_cases[i].msg, "case %zu", i);
        cr_expect(strstr(err.msg, "SECRET") == NULL, "case %zu leaks", i);
        conf_deinit(&c);
        conf_deinit(&c);    /* safe twice */
    }
}

/* The new provider and node keys of issue 9: policies, tiers, formats, pages. */
Test(conf, provider_formats_policies_tiers)
{
    struct conf c;
    struct pf_err err = { 0 };
    const char *j =
        "{\"node\":{\"upstream_allow_private\":[\"127.0.0.0/8\",\"169.254.169.254/32\"]},"
        "\"controller\":{\"providers\":["
        "{\"name\":\"ipr\",\"type\":\"api\",\"url\":\"http://x/l\",\"tier\":1,"
        "\"line_format\":\"{user}:{pass}@{host}:{port}\",\"allow_private\":true},"
        "{\"name\":\"ws\",\"type\":\"api\",\"url\":\"https://x/l\",\"format\":\"json\","
        "\"max_pages\":4,\"allow_private\":[\"10.0.0.0/8\"],\"json\":{\"list\":\"results\","
        "\"host\":\"proxy_address\",\"next\":\"next\",\"filter\":{\"field\":\"valid\",\"equals\":[true]},"
        "\"labels\":{\"country\":\"country_code\",\"city\":\"city_name\",\"isp\":\"asn_name\"}}},"
        "{\"name\":\"st\",\"type\":\"static\",\"upstreams\":[\"203.0.113.1:80\"]}]}}";
    cr_assert_eq(parse(&c, j, &err), PF_OK, "%s", err.msg);
    const struct conf_upstream_policy *np = &c.node.upstream_policy;
    cr_expect_eq(np->is_private_allowed, 0);
    cr_expect_eq(np->nallow, 2);
    cr_expect_eq(np->allow[1].prefix_len, 32);
    const struct conf_provider *a = &c.controller.providers[0];
    cr_expect_eq(a->tier, 1);
    cr_expect_str_eq(a->line_format, "{user}:{pass}@{host}:{port}");
    cr_expect_eq(a->allow_private.is_private_allowed, 1);
    cr_expect_eq(a->max_pages, 10, "default");
    const struct conf_provider *w = &c.controller.providers[1];
    cr_expect_eq(w->max_pages, 4);
    cr_expect_eq(w->allow_private.nallow, 1);
    cr_expect_eq(w->allow_private.is_private_allowed, 0);
    cr_expect_str_eq(w->json.next, "next");
    cr_expect_str_eq(w->json.filter_field, "valid");
    cr_expect_eq(w->json.nfilter_equals, 1);
    cr_expect_str_eq(w->json.filter_equals[0], "true");
    cr_expect_str_eq(w->json.label_country, "country_code");
    cr_expect_str_eq(w->json.label_city, "city_name");
    cr_expect_str_eq(w->json.label_isp, "asn_name");
    cr_expect_eq(c.controller.providers[2].tier, 0, "default tier");
    conf_deinit(&c);

    /* node default: public upstreams only */
    cr_assert_eq(parse(&c, "{}", &err), PF_OK);
    cr_expect_eq(c.node.upstream_policy.is_private_allowed, 0);
    cr_expect_eq(c.node.upstream_policy.nallow, 0);
    conf_deinit(&c);
    cr_assert_eq(parse(&c, "{\"node\":{\"upstream_allow_private\":true}}", &err), PF_OK);
    cr_expect_eq(c.node.upstream_policy.is_private_allowed, 1);
    conf_deinit(&c);
}

struct url_case {
    const char *url;
    const char *host;
    unsigned port;
    int db;
    const char *password;
};

static const struct url_case url_cases[] = {
    { "redis://127.0.0.1:6379/0", "127.0.0.1", 6379, 0, "" },
    { "redis://:pw@10.0.0.1:7000/3", "10.0.0.1", 7000, 3, "pw" },
    { "redis://user:p%40ss@redis.example:6380", "redis.example", 6380, 0, "p@ss" },
    { "redis://[::1]:6379/1", "::1", 6379, 1, "" },
    { "redis://[::1]", "::1", 6379, 0, "" },
    { "redis://cache", "cache", 6379, 0, "" },
    { "REDIS://cache:1/", "cache", 1, 0, "" },
};

Test(conf, redis_url_table)
{
    for (size_t i = 0; i < PF_ARRAY_LEN(url_cases); i++) {
        char json[256];
        struct conf c;
        struct pf_err err = { 0 };
        snprintf(json, sizeof(json), "{\"redis\":{\"url\":\"%s\"}}", url_cases[i].url);
        cr_expect_eq(parse(&c, json, &err), PF_OK, "case %zu: %s", i, err.msg);
        cr_expect_str_eq(c.redis.url, url_cases[i].url, "case %zu", i);
        cr_expect_str_eq(c.redis.host, url_cases[i].host, "case %zu", i);
        cr_expect_eq(c.redis.port, url_cases[i].port, "case %zu", i);
        cr_expect_eq(c.redis.db, url_cases[i].db, "case %zu", i);
        cr_expect_str_eq(c.redis.password, url_cases[i].password, "case %zu", i);
        conf_deinit(&c);
    }
}

/* Fake environment for conf_apply_env. */
static const char *const *fake_env;

static char *fake_getenv(const char *name)
{
    for (size_t i = 0; fake_env != NULL && fake_env[i] != NULL; i += 2) {
        if (strcmp(fake_env[i], name) == 0)
            return (char *)fake_env[i + 1];
    }
    return NULL;
}

Test(conf, env_overrides)
{
    static const char *const env[] = {
        "PF_REDIS_URL", "redis://:envpw@10.9.8.7:6390/4",
        "PF_LOG_LEVEL", "WARN",
        "PF_NODE_ID", "node-env",
        "PF_CONTROLLER_ID", "ctl-env",
        NULL,
    };
    struct conf c;
    struct pf_err err = { 0 };
    cr_assert_eq(parse(&c, full_config, &err), PF_OK);
    fake_env = env;
    cr_assert_eq(conf_apply_env(&c, fake_getenv, &err), PF_OK, "%s", err.msg);
    cr_expect_str_eq(c.redis.url, "redis://:envpw@10.9.8.7:6390/4");
    cr_expect_str_eq(c.redis.host, "10.9.8.7");
    cr_expect_eq(c.redis.port, 6390);
    cr_expect_eq(c.redis.db, 4);
    cr_expect_str_eq(c.redis.password, "envpw");
    cr_expect_str_eq(c.log_level, "warn");
    cr_expect_str_eq(c.node.id, "node-env");
    cr_expect_str_eq(c.controller.id, "ctl-env");
    conf_deinit(&c);
}

Test(conf, env_absent_or_empty_keeps_file_values)
{
    static const char *const env[] = { "PF_NODE_ID", "", NULL };
    struct conf c;
    cr_assert_eq(parse(&c, full_config, NULL), PF_OK);
    fake_env = env;
    cr_expect_eq(conf_apply_env(&c, fake_getenv, NULL), PF_OK);
    cr_expect_str_eq(c.node.id, "node-a");
    cr_expect_str_eq(c.log_level, "debug");
    cr_expect_str_eq(c.redis.host, "10.0.0.5");
    conf_deinit(&c);
}

Test(conf, env_errors)
{
    static const struct {
        const char *name;
        const char *value;
        const char *msg;
    } cases[] = {
        { "PF_REDIS_URL", "http://x:1", "PF_REDIS_URL: must start with redis:// or unix://" },
        { "PF_LOG_LEVEL", "loud", "PF_LOG_LEVEL: must be error, warn, info or debug" },
        { "PF_NODE_ID", "bad id", "PF_NODE_ID: must be 1..63 chars of [A-Za-z0-9_.-]" },
        { "PF_CONTROLLER_ID", "a:b", "PF_CONTROLLER_ID: must be 1..63 chars of [A-Za-z0-9_.-]" },
    };
    for (size_t i = 0; i < PF_ARRAY_LEN(cases); i++) {
        const char *env[] = { cases[i].name, cases[i].value, NULL };
        struct conf c;
        struct pf_err err = { 0 };
        conf_init_defaults(&c);
        fake_env = env;
        cr_expect_eq(conf_apply_env(&c, fake_getenv, &err), PF_EINVAL, "case %zu", i);
        cr_expect_str_eq(err.msg, cases[i].msg, "case %zu", i);
        conf_deinit(&c);
    }
}

static char *write_temp(const char *content, size_t len)
{
    char *path = strdup("/tmp/pf_test_conf_XXXXXX");
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    cr_assert_eq(write(fd, content, len), (ssize_t)len);
    close(fd);
    return path;
}

Test(conf, load_file_ok)
{
    char *path = write_temp(full_config, strlen(full_config));
    struct conf c;
    struct pf_err err = { 0 };
    cr_expect_eq(conf_load_file(&c, path, &err), PF_OK, "%s", err.msg);
    cr_expect_eq(c.controller.nproviders, 2);
    conf_deinit(&c);
    unlink(path);
    free(path);
}

Test(conf, load_file_missing)
{
    struct conf c;
    struct pf_err err = { 0 };
    cr_expect_eq(conf_load_file(&c, "/nonexistent/pf.json", &err), PF_EIO);
    cr_expect_str_eq(err.msg, "cannot read /nonexistent/pf.json: No such file or directory");
    conf_deinit(&c);
}

Test(conf, load_file_too_large)
{
    size_t n = 1024 * 1024 + 1;
    char *big = malloc(n);
    cr_assert_not_null(big);
    memset(big, ' ', n);
    big[0] = '{';
    big[n - 1] = '}';
    char *path = write_temp(big, n);
    struct conf c;
    struct pf_err err = { 0 };
    cr_expect_eq(conf_load_file(&c, path, &err), PF_ERANGE);
    cr_expect(strstr(err.msg, "larger than 1048576 bytes") != NULL, "%s", err.msg);
    conf_deinit(&c);
    unlink(path);
    free(path);
    free(big);
}

Test(conf, load_file_parse_error_has_path)
{
    const char *j = "{\"node\":{\"max_header_bytes\":5}}";
    char *path = write_temp(j, strlen(j));
    struct conf c;
    struct pf_err err = { 0 };
    cr_expect_eq(conf_load_file(&c, path, &err), PF_EINVAL);
    cr_expect_str_eq(err.msg, "node.max_header_bytes: must be 1024..1048576");
    conf_deinit(&c);
    unlink(path);
    free(path);
}

Test(conf, deinit_null_and_twice)
{
    struct conf c;
    conf_deinit(NULL);
    cr_assert_eq(parse(&c, full_config, NULL), PF_OK);
    conf_deinit(&c);
    conf_deinit(&c);
    cr_expect_null(c.controller.providers);
    cr_expect_null(c.node.users);
}

Test(conf, parse_twice_replaces_lists)
{
    struct conf c;
    cr_assert_eq(parse(&c, full_config, NULL), PF_OK);
    cr_assert_eq(conf_parse(&c, full_config, strlen(full_config), NULL), PF_OK);
    cr_expect_eq(c.controller.nproviders, 2);
    cr_expect_eq(c.node.nusers, 1);
    conf_deinit(&c);
}

Test(conf, redis_credential_key_file)
{
    struct conf c;
    struct pf_err err = { 0 };
    conf_init_defaults(&c);
    cr_expect_str_eq(c.redis.credential_key_file, "");
    cr_assert_eq(parse(&c, "{\"redis\":{\"credential_key_file\":\"/etc/pf/key\"}}", &err), PF_OK,
                 "%s", err.msg);
    cr_expect_str_eq(c.redis.credential_key_file, "/etc/pf/key");
    conf_deinit(&c);
    conf_init_defaults(&c);
    cr_expect_eq(parse(&c, "{\"redis\":{\"credential_key_file\":7}}", &err), PF_EINVAL);
    cr_expect(strstr(err.msg, "redis.credential_key_file") != NULL, "%s", err.msg);
    conf_deinit(&c);
    conf_init_defaults(&c);
    cr_expect_eq(parse(&c, "{\"redis\":{\"credential_key\":\"x\"}}", &err), PF_EINVAL);
    conf_deinit(&c);
}

/* ---- redis: ACL user, unix socket, Sentinel (common/redis_url.c glue) ---- */

Test(conf, redis_acl_user_and_unix_socket)
{
    struct conf c;
    struct pf_err err = { 0 };
    cr_assert_eq(parse(&c, "{\"redis\":{\"url\":\"redis://pfuser:pfpass@10.0.0.5:6380/2\"}}",
                       &err), PF_OK, "%s", err.msg);
    cr_expect_str_eq(c.redis.user, "pfuser");
    cr_expect_str_eq(c.redis.password, "pfpass");
    cr_expect_str_eq(c.redis.host, "10.0.0.5");
    cr_expect_str_eq(c.redis.unix_path, "");
    conf_deinit(&c);

    cr_assert_eq(parse(&c, "{\"redis\":{\"url\":\"unix://:pw@/run/redis/redis.sock?db=3\"}}",
                       &err), PF_OK, "%s", err.msg);
    cr_expect_str_eq(c.redis.unix_path, "/run/redis/redis.sock");
    cr_expect_str_eq(c.redis.host, "");
    cr_expect_eq(c.redis.db, 3);
    cr_expect_str_eq(c.redis.user, "");
    cr_expect_str_eq(c.redis.password, "pw");
    conf_deinit(&c);
}

Test(conf, redis_sentinels)
{
    struct conf c;
    struct pf_err err = { 0 };
    cr_assert_eq(parse(&c, "{\"redis\":{\"url\":\"redis://:pw@ignored/4\","
                           "\"sentinels\":[\"10.0.0.1:26379\",\"[::1]:26380\",\"s3:26381\"],"
                           "\"master_name\":\"pfmaster\",\"sentinel_user\":\"sen\","
                           "\"sentinel_password\":\"senpw\"}}", &err), PF_OK, "%s", err.msg);
    cr_expect_eq(c.redis.nsentinels, 3);
    cr_expect_str_eq(c.redis.sentinels[0].host, "10.0.0.1");
    cr_expect_eq(c.redis.sentinels[0].port, 26379);
    cr_expect_str_eq(c.redis.sentinels[1].host, "::1");
    cr_expect_eq(c.redis.sentinels[1].port, 26380);
    cr_expect_str_eq(c.redis.sentinels[2].host, "s3");
    cr_expect_str_eq(c.redis.master_name, "pfmaster");
    cr_expect_str_eq(c.redis.sentinel_user, "sen");
    cr_expect_str_eq(c.redis.sentinel_password, "senpw");
    cr_expect_eq(c.redis.db, 4);
    cr_expect_str_eq(c.redis.password, "pw");
    conf_deinit(&c);
    cr_expect_str_eq(c.redis.sentinel_password, "");
}

static const struct err_case redis_err_cases[] = {
    { "{\"redis\":{\"sentinels\":[\"h:1\"]}}", "redis.master_name: required with redis.sentinels" },
    { "{\"redis\":{\"master_name\":\"m\"}}", "redis.sentinels: required with redis.master_name" },
    { "{\"redis\":{\"url\":\"unix:///r.sock\",\"sentinels\":[\"h:1\"],\"master_name\":\"m\"}}",
      "redis.url: unix:// cannot be used with redis.sentinels (the sentinels name the master's "
      "TCP address)" },
    { "{\"redis\":{\"sentinel_password\":\"SECRET\"}}",
      "redis.sentinel_password: set without redis.sentinels" },
    { "{\"redis\":{\"sentinels\":[\"h:1\"],\"master_name\":\"m\",\"sentinel_user\":\"u\"}}",
      "redis.sentinel_user: needs redis.sentinel_password" },
    { "{\"redis\":{\"sentinels\":\"h:1\"}}", "redis.sentinels: must be an array of \"host:port\"" },
    { "{\"redis\":{\"sentinels\":[\"h\"]}}", "redis.sentinels[0]: must be host:port: missing port" },
    { "{\"redis\":{\"sentinels\":[\"h:1\",\"h:1\"]}}", "redis.sentinels[1]: sentinel listed twice" },
    { "{\"redis\":{\"sentinels\":[1]}}", "redis.sentinels[0]: must be a string" },
    { "{\"redis\":{\"master_name\":\"a b\"}}", "redis.master_name: must be 1..63 chars of [A-Za-z0-9_.-]" },
    { "{\"redis\":{\"url\":\"rediss://:SECRET@h\"}}",
      "redis.url: rediss:// (TLS) is not supported: hiredis 0.14 has no TLS; run a local TLS "
      "tunnel (stunnel4) and point redis.url at it (docs/configuration.md, \"TLS to Redis\")" },
    { "{\"redis\":{\"url\":\"redis://SECRET@h\"}}",
      "redis.url: user without a password: write redis://user:password@host for an ACL user, "
      "redis://:password@host for the default user" },
};

Test(conf, redis_error_table)
{
    for (size_t i = 0; i < PF_ARRAY_LEN(redis_err_cases); i++) {
        struct conf c;
        struct pf_err err = { 0 };
        int rc = parse(&c, redis_err_cases[i].json, &err);
        cr_expect_eq(rc, PF_EINVAL, "case %zu: rc %d", i, rc);
        cr_expect_str_eq(err.msg, redis_err_cases[i].msg, "case %zu", i);
        cr_expect(strstr(err.msg, "SECRET") == NULL, "case %zu leaks", i);
        conf_deinit(&c);
    }
}

Test(conf, redis_sentinel_env)
{
    static const char *const env[] = {
        "PF_REDIS_SENTINELS", "10.0.0.1:26379,sentinel-2:26379",
        "PF_REDIS_MASTER_NAME", "pfmaster",
        NULL,
    };
    static const char *const bad_env[] = { "PF_REDIS_SENTINELS", "h:1,,h:2", NULL };
    static const char *const unix_env[] = { "PF_REDIS_URL", "unix:///r.sock", NULL };
    struct conf c;
    struct pf_err err = { 0 };
    cr_assert_eq(parse(&c, "{}", &err), PF_OK);
    fake_env = env;
    cr_assert_eq(conf_apply_env(&c, fake_getenv, &err), PF_OK, "%s", err.msg);
    cr_expect_eq(c.redis.nsentinels, 2);
    cr_expect_str_eq(c.redis.sentinels[1].host, "sentinel-2");
    cr_expect_str_eq(c.redis.master_name, "pfmaster");
    /* unix:// with sentinels, both from the environment: refused */
    fake_env = unix_env;
    cr_expect_eq(conf_apply_env(&c, fake_getenv, &err), PF_EINVAL);
    cr_expect_str_eq(err.msg, "redis.url: unix:// cannot be used with redis.sentinels (the "
                     "sentinels name the master's TCP address)");
    conf_deinit(&c);

    cr_assert_eq(parse(&c, "{\"redis\":{\"sentinels\":[\"h:9\"],\"master_name\":\"m\"}}", &err),
                 PF_OK);
    fake_env = bad_env;
    cr_expect_eq(conf_apply_env(&c, fake_getenv, &err), PF_EINVAL);
    cr_expect_str_eq(err.msg, "PF_REDIS_SENTINELS: entry 2: must be host:port");
    conf_deinit(&c);
}

/* log.format and node.access_log (issue 11 item 8): off and text by default. */
Test(conf, log_format_and_access_log)
{
    struct conf c;
    struct pf_err err = { 0 };
    cr_assert_eq(parse(&c, "{}", &err), PF_OK, "%s", err.msg);
    cr_expect_str_eq(c.log_format, "text");
    cr_expect_str_eq(c.node.access_log, "");
    conf_deinit(&c);
    cr_assert_eq(parse(&c, "{\"log\":{\"format\":\"JSON\"},"
                           "\"node\":{\"access_log\":\"stderr\"}}", &err), PF_OK, "%s", err.msg);
    cr_expect_str_eq(c.log_format, "json", "canonical name");
    cr_expect_str_eq(c.node.access_log, "stderr");
    conf_deinit(&c);
    cr_assert_eq(parse(&c, "{\"node\":{\"access_log\":\"/var/log/proxyfleet/access.log\"}}",
                       &err), PF_OK, "%s", err.msg);
    cr_expect_str_eq(c.node.access_log, "/var/log/proxyfleet/access.log");
    conf_deinit(&c);
}
