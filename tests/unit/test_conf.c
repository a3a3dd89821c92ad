/* Unit tests for common/conf.c: defaults, the full documented config, each
 * class of error with its JSON path, env overrides, file loading. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
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

Test(conf, admin_token)
{
    struct conf c;
    struct pf_err err = { 0 };
    cr_assert_eq(parse(&c, "{\"node\":{\"admin_token\":\"t0k3n-0123456789abcdef\"}}", &err), PF_OK,
                 "%s", err.msg);
    cr_expect_str_eq(c.node.admin_token, "t0k3n-0123456789abcdef");
    conf_deinit(&c);
    cr_assert_eq(parse(&c, "{}", &err), PF_OK);
    cr_expect_str_eq(c.node.admin_token, "", "off by default");
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
    { "{\"node\":{\"users\":[{\"user\":\"a\",\"pass\":\"x\",\"max_conns\":-1}]}}",
      "node.users[0].max_conns: must be 0..1000000" },
    { "{\"node\":{\"users\":[{\"user\":\"a\",\"pass\":\"x\",\"bytes_per_day\":1e300}]}}",
      "node.users[0].bytes_per_day: must be 0..9007199254740992" },
    { "{\"node\":{\"redis_users\":1}}", "node.redis_users: must be true or false" },
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
    { "{\"node\":{\"admin_token\":\"short-SECRET\"}}",
      "node.admin_token: must be \"\" (off) or 16..127 printable characters without spaces" },
    { "{\"node\":{\"admin_token\":\"has a space SECRET-xxxxxx\"}}",
      "node.admin_token: must be \"\" (off) or 16..127 printable characters without spaces" },
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

/* ---- secrets given as {"env": NAME} or {"file": PATH} ------------------------ */

static char *secret_getenv(const char *name)
{
    static char url[] = "https://api.example/list?key=KEYFROMENV";
    static char pass[] = "pass-from-env";
    static char redis[] = "redis://:redispw-env@10.1.1.1:6390/3";
    static char bad_url[] = "ftp://example/?key=KEYFROMENV";
    static char sentinel_pw[] = "sentinel-FROMENV";
    if (strcmp(name, "PF_TEST_URL") == 0)
        return url;
    if (strcmp(name, "PF_TEST_PASS") == 0)
        return pass;
    if (strcmp(name, "PF_TEST_REDIS") == 0)
        return redis;
    if (strcmp(name, "PF_TEST_BAD_URL") == 0)
        return bad_url;
    if (strcmp(name, "PF_TEST_SENTINEL_PW") == 0)
        return sentinel_pw;
    return NULL;
}

static int secret_reads;

static int secret_read_file(void *arg, const char *path, char *buf, size_t cap, size_t *len,
                            int *is_loose, struct pf_err *err)
{
    static const struct {
        char path[32];
        char data[96];
        int  is_loose;
    } files[] = {
        { "/run/secrets/url", "https://api.example/list?key=KEYFROMFILE\n", 0 },
        { "/run/secrets/value", "Bearer TOKENFROMFILE\n", 0 },
        { "/run/secrets/pass", "pass-from-file\n", 1 },
        { "/run/secrets/body", "{\"key\":\"BODYKEYFROMFILE\"}\n", 0 },
        { "/run/secrets/bad_url", "http:///nohost?key=KEYFROMFILE\n", 0 },
        { "/run/secrets/redis", "redis://:REDISPWFROMFILE@cache:6379/1\n", 0 },
        { "/run/secrets/redis_acl", "unix://pfuser:REDISPWFROMFILE@/run/r.sock?db=2\n", 0 },
        { "/run/secrets/sentinel", "sentinel-FROMFILE\n", 1 },
    };
    (void)arg;
    secret_reads++;
    for (size_t i = 0; i < PF_ARRAY_LEN(files); i++) {
        if (strcmp(files[i].path, path) == 0) {
            size_t n = strlen(files[i].data);
            cr_assert_leq(n, cap);
            memcpy(buf, files[i].data, n);
            *len = n;
            *is_loose = files[i].is_loose;
            return PF_OK;
        }
    }
    return pf_err_set(err, PF_EIO, "No such file or directory");
}

static const struct conf_io secret_io = { secret_getenv, secret_read_file, NULL };

static int parse_io(struct conf *c, const char *text, struct pf_err *err)
{
    conf_init_defaults(c);
    return conf_parse_io(c, text, strlen(text), &secret_io, err);
}

/* Every secret key, in each form. */
Test(conf, secrets_from_env_and_files)
{
    const char *j =
        "{\"redis\":{\"url\":{\"file\":\"/run/secrets/redis\"}},"
        "\"controller\":{\"providers\":["
        "{\"name\":\"a\",\"type\":\"api\",\"url\":{\"file\":\"/run/secrets/url\"},"
        "\"auth\":{\"type\":\"header\",\"name\":\"Authorization\","
        "\"value\":{\"file\":\"/run/secrets/value\"}}},"
        "{\"name\":\"b\",\"type\":\"api\",\"url\":{\"env\":\"PF_TEST_URL\"},\"method\":\"POST\","
        "\"body\":{\"file\":\"/run/secrets/body\"},"
        "\"auth\":{\"type\":\"basic\",\"user\":\"u\",\"pass\":{\"env\":\"PF_TEST_PASS\"}}}]},"
        "\"node\":{\"users\":[{\"user\":\"alice\",\"pass\":{\"file\":\"/run/secrets/pass\"}},"
        "{\"user\":\"bob\",\"pass\":{\"env\":\"PF_TEST_PASS\"}},"
        "{\"user\":\"carol\",\"pass\":\"inline\"}]}}";
    struct conf c;
    struct pf_err err = { 0 };
    cr_assert_eq(parse_io(&c, j, &err), PF_OK, "%s", err.msg);
    cr_expect_str_eq(c.redis.url, "redis://:REDISPWFROMFILE@cache:6379/1");
    cr_expect_str_eq(c.redis.password, "REDISPWFROMFILE");
    cr_expect_str_eq(c.redis.host, "cache");
    cr_expect_eq(c.redis.db, 1);
    const struct conf_provider *a = &c.controller.providers[0];
    const struct conf_provider *b = &c.controller.providers[1];
    cr_expect_str_eq(a->url, "https://api.example/list?key=KEYFROMFILE", "trailing newline stripped");
    cr_expect_str_eq(a->auth.value, "Bearer TOKENFROMFILE");
    cr_expect_str_eq(b->url, "https://api.example/list?key=KEYFROMENV");
    cr_expect_str_eq(b->request_body, "{\"key\":\"BODYKEYFROMFILE\"}");
    cr_expect_str_eq(b->auth.pass, "pass-from-env");
    cr_assert_eq(c.node.nusers, 3);
    cr_expect_str_eq(c.node.users[0].pass, "pass-from-file");
    cr_expect_str_eq(c.node.users[1].pass, "pass-from-env");
    cr_expect_str_eq(c.node.users[2].pass, "inline");
    /* /run/secrets/pass is readable by others: one warning naming key and file */
    cr_assert_eq(c.warnings.n, 1);
    cr_expect_str_eq(c.warnings.msg[0], "node.users[0].pass: file /run/secrets/pass is "
                                        "accessible to group or others; chmod 600 it");
    conf_deinit(&c);
    cr_expect_str_eq(c.redis.password, "", "wiped");
    cr_expect_str_eq(c.redis.url, "", "wiped");
}

Test(conf, secret_failures_name_the_key_never_the_value)
{
    static const struct err_case cases[] = {
        { "{\"node\":{\"users\":[{\"user\":\"alice\",\"pass\":{\"env\":\"PF_ALICE_PASS\"}}]}}",
          "node.users[0].pass: env PF_ALICE_PASS is not set" },
        { "{\"controller\":{\"providers\":[{\"name\":\"k\",\"type\":\"api\","
          "\"url\":{\"file\":\"/run/secrets/kdl\"}}]}}",
          "controller.providers[0].url: file /run/secrets/kdl: No such file or directory" },
        { "{\"controller\":{\"providers\":[{\"name\":\"k\",\"type\":\"api\","
          "\"url\":{\"file\":\"/run/secrets/bad_url\"}}]}}",
          "controller.providers[0].url: file /run/secrets/bad_url: missing host" },
        { "{\"controller\":{\"providers\":[{\"name\":\"k\",\"type\":\"api\","
          "\"url\":{\"env\":\"PF_TEST_BAD_URL\"}}]}}",
          "controller.providers[0].url: env PF_TEST_BAD_URL: must start with http:// or https://" },
        { "{\"redis\":{\"url\":{\"env\":\"PF_TEST_URL\"}}}",
          "redis.url: env PF_TEST_URL: must start with redis:// or unix://" },
        { "{\"controller\":{\"providers\":[{\"name\":\"k\",\"type\":\"api\",\"url\":\"http://x\","
          "\"auth\":{\"type\":\"header\",\"name\":\"X-Key\",\"value\":{\"env\":\"NOPE\"}}}]}}",
          "controller.providers[0].auth.value: env NOPE is not set" },
        { "{\"node\":{\"users\":[{\"user\":\"a\",\"pass\":{\"file\":\"/x\",\"env\":\"Y\"}}]}}",
          "node.users[0].pass: give env or file, not both" },
        { "{\"node\":{\"users\":[{\"user\":\"a\",\"pass\":{\"path\":\"/x\"}}]}}",
          "node.users[0].pass.path: unknown key" },
        { "{\"node\":{\"users\":[{\"user\":\"a\",\"pass\":{\"env\":\"has space\"}}]}}",
          "node.users[0].pass.env: must be a variable name ([A-Za-z_][A-Za-z0-9_]*, at most 128)" },
        /* secrets that resolve, then a mistake elsewhere: the error is that
         * mistake's, never the secret's value */
        { "{\"controller\":{\"providers\":[{\"name\":\"k\",\"type\":\"api\","
          "\"url\":{\"file\":\"/run/secrets/url\"},\"auth\":{\"type\":\"header\",\"name\":\"K\","
          "\"value\":{\"file\":\"/run/secrets/value\"}},\"retries\":1}]}}",
          "controller.providers[0].retries: unknown key" },
        { "{\"controller\":{\"providers\":[{\"name\":\"k\",\"type\":\"api\","
          "\"url\":{\"env\":\"PF_TEST_URL\"},\"auth\":{\"type\":\"header\","
          "\"value\":{\"file\":\"/run/secrets/value\"}}}]}}",
          "controller.providers[0].auth: type header needs name and value only" },
        { "{\"node\":{\"users\":[{\"user\":\"a\",\"pass\":{\"env\":\"PF_TEST_PASS\"}},"
          "{\"user\":\"a\",\"pass\":{\"file\":\"/run/secrets/pass\"}}]}}",
          "node.users[1]: duplicate user" },
        { "{\"redis\":{\"url\":{\"file\":\"/run/secrets/redis\"},\"prefix\":\"a b\"}}",
          "redis.prefix: must be 1..32 chars of [A-Za-z0-9_.-]" },
        /* keys that are no secrets take strings only */
        { "{\"node\":{\"users\":[{\"user\":{\"env\":\"PF_TEST_PASS\"},\"pass\":\"x\"}]}}",
          "node.users[0].user: must be a string" },
    };
    for (size_t i = 0; i < PF_ARRAY_LEN(cases); i++) {
        struct conf c;
        struct pf_err err = { 0 };
        cr_expect_eq(parse_io(&c, cases[i].json, &err), PF_EINVAL, "case %zu", i);
        cr_expect_str_eq(err.msg, cases[i].msg, "case %zu", i);
        static const char *const values[] = { "FROMFILE", "FROMENV", "KEYFROM", "TOKEN",
                                              "BODYKEY", "pass-from", "REDISPW" };
        for (size_t v = 0; v < PF_ARRAY_LEN(values); v++)
            cr_expect(strstr(err.msg, values[v]) == NULL, "case %zu leaks: %s", i, err.msg);
        conf_deinit(&c);
    }
}

/* redis.sentinel_password and an ACL-user or unix:// redis.url are secrets
 * too: from a file (trailing newline stripped, a loose file warned about)
 * or from the environment; errors name the key and the source. */
Test(conf, redis_secrets_from_file_and_env)
{
    struct conf c;
    struct pf_err err = { 0 };
    const char *j = "{\"redis\":{\"url\":{\"file\":\"/run/secrets/redis_acl\"}}}";
    cr_assert_eq(parse_io(&c, j, &err), PF_OK, "%s", err.msg);
    cr_expect_str_eq(c.redis.user, "pfuser");
    cr_expect_str_eq(c.redis.password, "REDISPWFROMFILE");
    cr_expect_str_eq(c.redis.unix_path, "/run/r.sock");
    cr_expect_eq(c.redis.db, 2);
    conf_deinit(&c);
    cr_expect_str_eq(c.redis.password, "", "wiped");

    j = "{\"redis\":{\"sentinels\":[\"10.0.0.1:26379\"],\"master_name\":\"m\","
        "\"sentinel_password\":{\"file\":\"/run/secrets/sentinel\"}}}";
    cr_assert_eq(parse_io(&c, j, &err), PF_OK, "%s", err.msg);
    cr_expect_str_eq(c.redis.sentinel_password, "sentinel-FROMFILE");
    cr_assert_eq(c.warnings.n, 1);
    cr_expect_str_eq(c.warnings.msg[0], "redis.sentinel_password: file /run/secrets/sentinel is "
                     "accessible to group or others; chmod 600 it");
    conf_deinit(&c);
    cr_expect_str_eq(c.redis.sentinel_password, "", "wiped");

    j = "{\"redis\":{\"sentinels\":[\"10.0.0.1:26379\"],\"master_name\":\"m\","
        "\"sentinel_user\":\"sen\",\"sentinel_password\":{\"env\":\"PF_TEST_SENTINEL_PW\"}}}";
    cr_assert_eq(parse_io(&c, j, &err), PF_OK, "%s", err.msg);
    cr_expect_str_eq(c.redis.sentinel_password, "sentinel-FROMENV");
    cr_expect_eq(c.warnings.n, 0);
    conf_deinit(&c);

    static const struct err_case cases[] = {
        { "{\"redis\":{\"sentinels\":[\"h:1\"],\"master_name\":\"m\","
          "\"sentinel_password\":{\"env\":\"PF_NOT_SET\"}}}",
          "redis.sentinel_password: env PF_NOT_SET is not set" },
        { "{\"redis\":{\"sentinels\":[\"h:1\"],\"master_name\":\"m\","
          "\"sentinel_password\":{\"file\":\"/run/secrets/none\"}}}",
          "redis.sentinel_password: file /run/secrets/none: No such file or directory" },
        /* resolved, then refused by the cross-key check: no value in it */
        { "{\"redis\":{\"sentinel_password\":{\"file\":\"/run/secrets/sentinel\"}}}",
          "redis.sentinel_password: set without redis.sentinels" },
        { "{\"redis\":{\"url\":{\"env\":\"PF_TEST_SENTINEL_PW\"}}}",
          "redis.url: env PF_TEST_SENTINEL_PW: must start with redis:// or unix://" },
    };
    for (size_t i = 0; i < PF_ARRAY_LEN(cases); i++) {
        cr_expect_eq(parse_io(&c, cases[i].json, &err), PF_EINVAL, "case %zu", i);
        cr_expect_str_eq(err.msg, cases[i].msg, "case %zu", i);
        cr_expect(strstr(err.msg, "FROM") == NULL, "case %zu leaks: %s", i, err.msg);
        conf_deinit(&c);
    }
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

Test(conf, secrets_without_io_are_not_set)
{
    struct conf c;
    struct pf_err err = { 0 };
    const char *j = "{\"node\":{\"users\":[{\"user\":\"a\",\"pass\":{\"env\":\"PF_TEST_PASS\"}}]}}";
    cr_expect_eq(parse(&c, j, &err), PF_EINVAL);
    cr_expect_str_eq(err.msg, "node.users[0].pass: env PF_TEST_PASS is not set");
    conf_deinit(&c);
}

/* conf_load_file wires the real environment and file system. */
Test(conf, load_file_reads_secret_files_and_env)
{
    char *pass = write_temp("s3cret-from-file\n", 17);
    char *loose = write_temp("loose-pass\r\n", 12);
    cr_assert_eq(chmod(pass, 0600), 0);
    cr_assert_eq(chmod(loose, 0644), 0);
    cr_assert_eq(setenv("PF_TEST_CONF_BOB", "bob-from-env", 1), 0);
    char json[1024];
    snprintf(json, sizeof(json),
             "{\"node\":{\"users\":[{\"user\":\"alice\",\"pass\":{\"file\":\"%s\"}},"
             "{\"user\":\"bob\",\"pass\":{\"env\":\"PF_TEST_CONF_BOB\"}},"
             "{\"user\":\"carol\",\"pass\":{\"file\":\"%s\"}}]}}", pass, loose);
    char *path = write_temp(json, strlen(json));
    struct conf c;
    struct pf_err err = { 0 };
    cr_assert_eq(conf_load_file(&c, path, &err), PF_OK, "%s", err.msg);
    cr_expect_str_eq(c.node.users[0].pass, "s3cret-from-file");
    cr_expect_str_eq(c.node.users[1].pass, "bob-from-env");
    cr_expect_str_eq(c.node.users[2].pass, "loose-pass");
    cr_assert_eq(c.warnings.n, 1, "only the 0644 file warns");
    cr_expect(strstr(c.warnings.msg[0], "node.users[2].pass: file ") == c.warnings.msg[0],
              "%s", c.warnings.msg[0]);
    cr_expect(strstr(c.warnings.msg[0], "accessible to group or others") != NULL);
    conf_deinit(&c);

    /* missing file, directory, unset variable, oversized file */
    unlink(pass);
    cr_expect_eq(conf_load_file(&c, path, &err), PF_EINVAL);
    char want[512];
    snprintf(want, sizeof(want), "node.users[0].pass: file %s: No such file or directory", pass);
    cr_expect_str_eq(err.msg, want);
    conf_deinit(&c);
    unlink(path);
    free(path);

    snprintf(json, sizeof(json),
             "{\"node\":{\"users\":[{\"user\":\"a\",\"pass\":{\"file\":\"/tmp\"}}]}}");
    path = write_temp(json, strlen(json));
    cr_expect_eq(conf_load_file(&c, path, &err), PF_EINVAL);
    cr_expect_str_eq(err.msg, "node.users[0].pass: file /tmp: not a regular file");
    conf_deinit(&c);
    unlink(path);
    free(path);

    unsetenv("PF_TEST_CONF_BOB");
    snprintf(json, sizeof(json),
             "{\"node\":{\"users\":[{\"user\":\"b\",\"pass\":{\"env\":\"PF_TEST_CONF_BOB\"}}]}}");
    path = write_temp(json, strlen(json));
    cr_expect_eq(conf_load_file(&c, path, &err), PF_EINVAL);
    cr_expect_str_eq(err.msg, "node.users[0].pass: env PF_TEST_CONF_BOB is not set");
    conf_deinit(&c);
    unlink(path);
    free(path);

    char big[5000];
    memset(big, 'k', sizeof(big));
    char *bigf = write_temp(big, sizeof(big));
    snprintf(json, sizeof(json),
             "{\"node\":{\"users\":[{\"user\":\"b\",\"pass\":{\"file\":\"%s\"}}]}}", bigf);
    path = write_temp(json, strlen(json));
    cr_expect_eq(conf_load_file(&c, path, &err), PF_EINVAL);
    snprintf(want, sizeof(want), "node.users[0].pass: file %s: larger than 4096 bytes", bigf);
    cr_expect_str_eq(err.msg, want);
    cr_expect(strstr(err.msg, "kkkk") == NULL);
    conf_deinit(&c);
    unlink(path);
    unlink(bigf);
    unlink(loose);
    free(path);
    free(bigf);
    free(pass);
    free(loose);
}

/* A file that is exactly the limit is read whole; one byte more is refused. */
Test(conf, load_file_secret_file_limit)
{
    static char data[4097];
    memset(data, 'p', sizeof(data));
    char *edge = write_temp(data, 4096);
    char json[512];
    snprintf(json, sizeof(json),
             "{\"controller\":{\"providers\":[{\"name\":\"a\",\"type\":\"api\",\"url\":\"http://x\","
             "\"method\":\"POST\",\"body\":{\"file\":\"%s\"}}]}}", edge);
    char *path = write_temp(json, strlen(json));
    struct conf c;
    struct pf_err err = { 0 };
    /* body holds at most 2047 bytes: read whole, then refused by its own limit */
    cr_expect_eq(conf_load_file(&c, path, &err), PF_EINVAL);
    char want[512];
    snprintf(want, sizeof(want), "controller.providers[0].body: file %s: longer than 2047 bytes",
             edge);
    cr_expect_str_eq(err.msg, want);
    conf_deinit(&c);
    unlink(path);
    unlink(edge);
    free(path);
    free(edge);
}

/* ---- docs/configuration.md and the schema say the same ------------------------ */

#include "conf_schema.h"

#define DOC_KEYS_MAX 512
#define DOC_CELL_MAX 160

struct doc_key {
    char path[CONF_PATH_MAX];
    char type[DOC_CELL_MAX];
    char def[DOC_CELL_MAX];
};

struct doc {
    struct doc_key keys[DOC_KEYS_MAX];             /* rows of the reference tables */
    int  nkeys;
    char headings[64][CONF_PATH_MAX];              /* "### `controller.health`" */
    int  nheadings;
    char secrets[32][CONF_PATH_MAX];               /* the "Secrets outside the JSON" table */
    int  nsecrets;
    char env[16][2][CONF_PATH_MAX];                /* variable, key */
    int  nenv;
};

/* Copies cell <i> of table row <line> (trimmed) into <out>; "" when absent. */
static void doc_cell(const char *line, int i, char *out, size_t len)
{
    const char *p = line;
    out[0] = '\0';
    for (int k = 0; k <= i; k++) {
        p = strchr(p, '|');
        if (p == NULL)
            return;
        p++;
    }
    const char *end = strchr(p, '|');
    if (end == NULL)
        return;
    while (p < end && *p == ' ')
        p++;
    while (end > p && end[-1] == ' ')
        end--;
    snprintf(out, len, "%.*s", (int)(end - p), p);
}

/* "`x`" -> "x"; returns 0 when <cell> is not one backticked word. */
static int doc_unquote(const char *cell, char *out, size_t len)
{
    size_t n = strlen(cell);
    if (n < 3 || cell[0] != '`' || cell[n - 1] != '`' || memchr(cell + 1, '`', n - 2) != NULL)
        return 0;
    snprintf(out, len, "%.*s", (int)(n - 2), cell + 1);
    return 1;
}

static void doc_read(struct doc *d)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/../../docs/configuration.md", PF_CORPUS_DIR);
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f, "open %s", path);
    char line[4096];
    char section[CONF_PATH_MAX / 2] = "";
    enum { DOC_NONE, DOC_KEYS, DOC_SECRETS } mode = DOC_NONE;
    int type_col = -1, def_col = -1;
    int is_env_table = 0;
    memset(d, 0, sizeof(*d));
    while (fgets(line, sizeof(line), f) != NULL) {
        line[strcspn(line, "\n")] = '\0';
        char cell[DOC_CELL_MAX], word[CONF_PATH_MAX / 2];
        if (line[0] == '#') {
            mode = DOC_NONE;
            const char *h = line + strspn(line, "#");
            while (*h == ' ')
                h++;
            if (doc_unquote(h, word, sizeof(word))) {
                snprintf(section, sizeof(section), "%s", word);
                snprintf(d->headings[d->nheadings++], CONF_PATH_MAX, "%s", word);
                mode = DOC_KEYS;
            } else if (strcmp(h, "Secrets outside the JSON") == 0) {
                mode = DOC_SECRETS;
            }
            continue;
        }
        if (line[0] != '|')
            continue;
        doc_cell(line, 0, cell, sizeof(cell));
        if (strcmp(cell, "key") == 0 || strcmp(cell, "variable") == 0) {  /* a header row */
            is_env_table = strcmp(cell, "variable") == 0;
            type_col = def_col = -1;
            for (int i = 1; i < 8; i++) {
                char h[DOC_CELL_MAX];
                doc_cell(line, i, h, sizeof(h));
                if (strcmp(h, "type") == 0)
                    type_col = i;
                if (strcmp(h, "default") == 0)
                    def_col = i;
            }
            continue;
        }
        if (!doc_unquote(cell, word, sizeof(word)))
            continue;                                      /* "|---|" and prose rows */
        if (is_env_table) {
            char key[DOC_CELL_MAX];
            doc_cell(line, 1, cell, sizeof(cell));
            cr_assert(doc_unquote(cell, key, sizeof(key)), "env row %s: %s", word, cell);
            snprintf(d->env[d->nenv][0], CONF_PATH_MAX, "%s", word);
            snprintf(d->env[d->nenv][1], CONF_PATH_MAX, "%s", key);
            d->nenv++;
        } else if (mode == DOC_SECRETS) {
            snprintf(d->secrets[d->nsecrets++], CONF_PATH_MAX, "%s", word);
        } else if (mode == DOC_KEYS) {
            struct doc_key *k = &d->keys[d->nkeys++];
            cr_assert_lt(d->nkeys, DOC_KEYS_MAX);
            int w = snprintf(k->path, sizeof(k->path), "%s.%s", section, word);
            cr_assert(w > 0 && (size_t)w < sizeof(k->path), "path too long: %s", word);
            if (type_col > 0)
                doc_cell(line, type_col, k->type, sizeof(k->type));
            if (def_col > 0)
                doc_cell(line, def_col, k->def, sizeof(k->def));
        }
    }
    fclose(f);
}

static const struct doc_key *doc_find(const struct doc *d, const char *path)
{
    for (int i = 0; i < d->nkeys; i++)
        if (strcmp(d->keys[i].path, path) == 0)
            return &d->keys[i];
    return NULL;
}

static int doc_has_heading(const struct doc *d, const char *path)
{
    for (int i = 0; i < d->nheadings; i++)
        if (strcmp(d->headings[i], path) == 0)
            return 1;
    return 0;
}

struct schema_key {
    char path[CONF_PATH_MAX];
    const struct conf_key *key;
};

struct schema {
    struct schema_key keys[DOC_KEYS_MAX];
    int n;
};

static void schema_collect(void *arg, const char *path, const struct conf_key *key)
{
    struct schema *s = arg;
    cr_assert_lt(s->n, DOC_KEYS_MAX);
    snprintf(s->keys[s->n].path, CONF_PATH_MAX, "%s", path);
    s->keys[s->n].key = key;
    s->n++;
}

static const struct conf_key *schema_find(const struct schema *s, const char *path)
{
    for (int i = 0; i < s->n; i++)
        if (strcmp(s->keys[i].path, path) == 0)
            return s->keys[i].key;
    return NULL;
}

/* The documented default of <k> (a row's "default" cell) must be the
 * table's, for the keys whose default is one value. */
static void check_default(const char *path, const struct conf_key *k, const char *cell)
{
    char want[DOC_CELL_MAX];
    if (k->flags & CONF_F_REQUIRED) {
        cr_expect_str_eq(cell, "required", "%s: default column", path);
        return;
    }
    switch (k->type) {
    case CONF_T_INT:
        snprintf(want, sizeof(want), "%lld", (long long)k->def_int);
        /* 0 may stand for a default taken from elsewhere, written out */
        if (k->def_int != 0 || (cell[0] >= '0' && cell[0] <= '9') || cell[0] == '-')
            cr_expect_str_eq(cell, want, "%s: documented default", path);
        break;
    case CONF_T_BOOL:
        cr_expect_str_eq(cell, k->def_int ? "true" : "false", "%s: documented default", path);
        break;
    case CONF_T_NUM:
        snprintf(want, sizeof(want), "%g", k->def_num);
        cr_expect_str_eq(cell, want, "%s: documented default", path);
        break;
    case CONF_T_CHOICE: {
        const struct conf_choice *c = k->aux;
        while (c->name != NULL && c->value != k->def_int)
            c++;
        cr_assert_not_null(c->name, "%s: default is no choice", path);
        snprintf(want, sizeof(want), "`%s`", c->name);
        cr_expect_str_eq(cell, want, "%s: documented default", path);
        break;
    }
    case CONF_T_STR:
    case CONF_T_SECRET:
    case CONF_T_PATH:
    case CONF_T_LISTEN:
        if (k->def_str != NULL) {
            snprintf(want, sizeof(want), "`%s`", k->def_str);
            cr_expect_str_eq(cell, want, "%s: documented default", path);
        } else {
            cr_expect(cell[0] == '\0' || strcmp(cell, "`\"\"`") == 0 ||
                      strncmp(cell, "`<", 2) == 0,
                      "%s: documented default %s, the schema has none", path, cell);
        }
        break;
    default:
        break;
    }
}

Test(conf, docs_match_schema)
{
    static struct doc d;
    static struct schema s;
    doc_read(&d);
    memset(&s, 0, sizeof(s));
    conf_schema_walk(conf_table(), "", schema_collect, &s);
    cr_assert_gt(s.n, 100, "the walk found %d keys", s.n);
    cr_assert_gt(d.nkeys, 100, "the docs list %d keys", d.nkeys);

    /* every key of the schema is documented: a row, or a heading of its own */
    int nsecret = 0;
    for (int i = 0; i < s.n; i++) {
        const char *path = s.keys[i].path;
        const struct conf_key *k = s.keys[i].key;
        const struct doc_key *dk = doc_find(&d, path);
        cr_expect(dk != NULL || doc_has_heading(&d, path),
                  "%s is in the schema but not in docs/configuration.md", path);
        if (k->type == CONF_T_SECRET) {
            nsecret++;
            int listed = 0;
            for (int j = 0; j < d.nsecrets; j++)
                listed |= strcmp(d.secrets[j], path) == 0;
            cr_expect(listed, "%s is a secret but not in the docs' list of secrets", path);
        }
        if (dk == NULL)
            continue;
        cr_expect_eq(strcmp(dk->type, "secret") == 0, k->type == CONF_T_SECRET,
                     "%s: documented type '%s'", path, dk->type);
        check_default(path, k, dk->def);
    }
    /* ... and nothing else is */
    for (int i = 0; i < d.nkeys; i++)
        cr_expect_not_null(schema_find(&s, d.keys[i].path),
                           "%s is in docs/configuration.md but not in the schema", d.keys[i].path);
    for (int i = 0; i < d.nheadings; i++) {
        /* "controller.providers[]" heads the keys of an array's elements */
        char h[CONF_PATH_MAX];
        snprintf(h, sizeof(h), "%s", d.headings[i]);
        size_t n = strlen(h);
        int is_elem = n > 2 && strcmp(h + n - 2, "[]") == 0;
        if (is_elem)
            h[n - 2] = '\0';
        const struct conf_key *k = schema_find(&s, h);
        cr_expect(k != NULL && (!is_elem || k->type == CONF_T_ARRAY),
                  "heading %s names no key of the schema", d.headings[i]);
    }
    for (int i = 0; i < d.nsecrets; i++) {
        const struct conf_key *k = schema_find(&s, d.secrets[i]);
        cr_expect(k != NULL && k->type == CONF_T_SECRET, "%s is listed as a secret",
                  d.secrets[i]);
    }
    cr_expect_eq(d.nsecrets, nsecret);

    /* the PF_* overrides, both ways */
    int nenv = 0;
    for (const char *var, *key; (var = conf_env_override((size_t)nenv, &key)) != NULL; nenv++) {
        int found = 0;
        for (int j = 0; j < d.nenv; j++)
            found |= strcmp(d.env[j][0], var) == 0 && strcmp(d.env[j][1], key) == 0;
        cr_expect(found, "%s -> %s is not in the docs' table of overrides", var, key);
        cr_expect_not_null(schema_find(&s, key), "%s overrides unknown key %s", var, key);
    }
    cr_expect_eq(d.nenv, nenv, "the docs list %d overrides, the code has %d", d.nenv, nenv);
}

/* Every table of the schema fits the engine's limits and its defaults pass
 * their own checks. */
static void check_key(void *arg, const char *path, const struct conf_key *key)
{
    (void)arg;
    if (key->type == CONF_T_OBJECT || key->type == CONF_T_ARRAY) {
        const struct conf_table *t = key->aux;
        cr_expect_leq(t->nkeys, CONF_KEYS_MAX, "%s: %zu keys", path, t->nkeys);
    }
    if (key->type == CONF_T_STR || key->type == CONF_T_SECRET || key->type == CONF_T_PATH ||
        key->type == CONF_T_LISTEN) {
        cr_expect_gt(key->size, 1, "%s", path);
        cr_expect_leq(key->max > 0 ? (size_t)key->max : key->size, CONF_STR_READ_MAX, "%s",
                      path);
    }
}

Test(conf, schema_tables_are_sound)
{
    conf_schema_walk(conf_table(), "", check_key, NULL);
    cr_expect_leq(((const struct conf_table *)conf_table())->nkeys, CONF_KEYS_MAX);
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

/* controller.admin_token: the status page's Bearer token; its errors never
 * quote it. */
Test(conf, controller_admin_token)
{
    struct conf c;
    struct pf_err err = { 0 };
    cr_assert_eq(parse(&c, "{\"controller\":{\"admin_token\":\"0123456789abcdef-._~+/=\"}}", &err),
                 PF_OK, "%s", err.msg);
    cr_expect_str_eq(c.controller.admin_token, "0123456789abcdef-._~+/=");
    conf_deinit(&c);
    cr_assert_eq(parse(&c, "{}", &err), PF_OK, "%s", err.msg);
    cr_expect_str_eq(c.controller.admin_token, "");
    conf_deinit(&c);
    static const char *const bad[] = {
        "{\"controller\":{\"admin_token\":\"short-Secret\"}}",
        "{\"controller\":{\"admin_token\":\"0123456789abcdef Secret\"}}",
        "{\"controller\":{\"admin_token\":42}}",
    };
    for (size_t i = 0; i < PF_ARRAY_LEN(bad); i++) {
        pf_err_clear(&err);
        cr_expect_eq(parse(&c, bad[i], &err), PF_EINVAL, "%s", bad[i]);
        cr_expect_not_null(strstr(err.msg, "controller.admin_token"), "%s", err.msg);
        cr_expect_null(strstr(err.msg, "Secret"), "%s", err.msg);
        conf_deinit(&c);
    }
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

Test(conf, user_limits_and_redis_users)
{
    struct conf c;
    struct pf_err err = { 0 };
    const char *text =
        "{\"node\":{\"redis_users\":true,\"users\":["
        "{\"user\":\"alice\",\"pass\":\"pw-alice\",\"max_conns\":10,\"max_rps\":5,"
        "\"bytes_per_day\":1073741824,\"bytes_per_month\":9007199254740992},"
        "{\"user\":\"bob\",\"pass\":\"pw-bob\"}]}}";
    cr_assert_eq(parse(&c, text, &err), PF_OK, "%s", err.msg);
    cr_expect_eq(c.node.is_redis_users, 1);
    cr_assert_eq(c.node.nusers, 2);
    cr_expect_eq(c.node.users[0].max_conns, 10);
    cr_expect_eq(c.node.users[0].max_rps, 5);
    cr_expect_eq(c.node.users[0].bytes_per_day, INT64_C(1073741824));
    cr_expect_eq(c.node.users[0].bytes_per_month, INT64_C(9007199254740992));
    cr_expect_eq(c.node.users[1].max_conns, 0, "no limit by default");
    cr_expect_eq(c.node.users[1].bytes_per_day, 0);
    conf_deinit(&c);
    conf_init_defaults(&c);
    cr_expect_eq(c.node.is_redis_users, 0, "off by default");
    conf_deinit(&c);
}
