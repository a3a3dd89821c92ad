/* node/ban_rule: which responses match node.ban_rules, and the ban a
 * match makes; http_body_feed_payload(), the peek's decoder. */
#include <criterion/criterion.h>
#include <string.h>

#include "ban_rule.h"
#include "conf.h"
#include "http_head.h"

static struct conf conf_of(const char *json)
{
    struct conf c;
    struct pf_err err = { 0 };
    conf_init_defaults(&c);
    cr_assert_eq(conf_parse(&c, json, strlen(json), &err), PF_OK, "%s", err.msg);
    return c;
}

#define RULES "{\"node\":{\"ban_rules\":[" \
    "{\"status\":[403,429],\"body_contains\":\"captcha\",\"ttl_s\":600}," \
    "{\"status\":503}," \
    "{\"body_contains\":\"Access Denied\",\"reason\":\"denied page\"}]}}"

Test(ban_rule, wants)
{
    struct conf c = conf_of(RULES);
    cr_expect_eq(ban_rule_wants(&c.node, 403), BAN_RULE_BODY);
    cr_expect_eq(ban_rule_wants(&c.node, 503), BAN_RULE_STATUS | BAN_RULE_BODY,
                 "rule 2 has no status: it reads every body");
    conf_deinit(&c);
    c = conf_of("{\"node\":{\"ban_rules\":[{\"status\":[403,429],\"body_contains\":\"x\"},"
                "{\"status\":503}]}}");
    cr_expect_eq(ban_rule_wants(&c.node, 200), 0, "no rule for 200: relayed at once");
    cr_expect_eq(ban_rule_wants(&c.node, 429), BAN_RULE_BODY);
    cr_expect_eq(ban_rule_wants(&c.node, 503), BAN_RULE_STATUS);
    conf_deinit(&c);
    c = conf_of("{}");
    cr_expect_eq(ban_rule_wants(&c.node, 403), 0, "no rules");
    conf_deinit(&c);
}

Test(ban_rule, match)
{
    struct conf c = conf_of(RULES);
    const char *b1 = "<html>Please solve the CaPtChA</html>";
    cr_expect_eq(ban_rule_match(&c.node, 403, b1, strlen(b1)), 0, "any case");
    cr_expect_eq(ban_rule_match(&c.node, 429, b1, strlen(b1)), 0);
    cr_expect_eq(ban_rule_match(&c.node, 404, b1, strlen(b1)), -1, "status not listed");
    cr_expect_eq(ban_rule_match(&c.node, 403, "captch", 6), -1, "cut short by the peek");
    cr_expect_eq(ban_rule_match(&c.node, 403, "ok", 2), -1);
    cr_expect_eq(ban_rule_match(&c.node, 503, NULL, 0), 1, "status alone");
    cr_expect_eq(ban_rule_match(&c.node, 200, "x access denied", 15), 2, "any status");
    cr_expect_eq(ban_rule_match(&c.node, 403, "access denied captcha", 21), 0, "the first wins");
    char nul[] = "a\0captcha";
    cr_expect_eq(ban_rule_match(&c.node, 403, nul, sizeof(nul) - 1), 0, "binary bodies too");
    conf_deinit(&c);
}

Test(ban_rule, ban)
{
    struct conf c = conf_of(RULES);
    struct ban b;
    struct pf_err err = { 0 };
    cr_assert_eq(ban_rule_ban(&c.node, 0, "0123456789ab", "WWW.Example.COM.", 1000000, &b, &err),
                 PF_OK, "%s", err.msg);
    cr_expect_str_eq(b.upstream, "0123456789ab");
    cr_expect_str_eq(b.domain, "www.example.com");
    cr_expect_str_eq(b.session, "", "a fleet ban");
    cr_expect_str_eq(b.id, "");
    cr_expect_eq(b.created_at_ms, 1000000);
    cr_expect_eq(b.expires_at_ms, 1000000 + 600 * 1000);
    cr_expect_str_eq(b.reason, "rule 0");
    cr_assert_eq(ban_rule_ban(&c.node, 2, "0123456789ab", "10.1.2.3", 5, &b, &err), PF_OK);
    cr_expect_str_eq(b.reason, "denied page");
    cr_expect_eq(b.expires_at_ms, 5 + 3600 * 1000);
    cr_expect_neq(ban_rule_ban(&c.node, 1, "0123456789ab", "bad host!", 5, &b, &err), PF_OK);
    conf_deinit(&c);
}

/* The payload of a chunked body, fed in pieces of every size: sizes,
 * extensions and trailers are not payload. */
Test(ban_rule, payload_of_chunked_body)
{
    const char raw[] = "5\r\nhello\r\n3;ext=1\r\n wo\r\n2\r\nrl\r\n0\r\nX-T: 1\r\n\r\nNEXT";
    size_t rawlen = sizeof(raw) - 1;
    for (size_t step = 1; step <= rawlen; step++) {
        struct http_body b;
        http_body_init(&b, HTTP_FRAMING_CHUNKED, 0);
        char out[64];
        size_t out_len = 0, off = 0;
        int rc = PF_EAGAIN;
        while (off < rawlen && rc == PF_EAGAIN) {
            size_t used = 0, n = PF_MIN_OF(step, rawlen - off);
            rc = http_body_feed_payload(&b, raw + off, n, &used, out, sizeof(out), &out_len);
            off += used;
        }
        cr_expect_eq(rc, PF_OK, "step %zu", step);
        cr_expect_eq(off, rawlen - 4, "NEXT belongs to the next message (step %zu)", step);
        cr_expect_eq(out_len, 10, "step %zu", step);
        cr_expect(memcmp(out, "hello worl", 10) == 0, "step %zu", step);
    }
}

Test(ban_rule, payload_capped_and_length_framed)
{
    struct http_body b;
    char out[4];
    size_t out_len = 0, used = 0;
    http_body_init(&b, HTTP_FRAMING_LENGTH, 6);
    cr_expect_eq(http_body_feed_payload(&b, "abcdefGH", 8, &used, out, sizeof(out), &out_len), PF_OK);
    cr_expect_eq(used, 6);
    cr_expect_eq(out_len, 4, "at most the cap");
    cr_expect(memcmp(out, "abcd", 4) == 0);
    http_body_init(&b, HTTP_FRAMING_CHUNKED, 0);
    out_len = 0;
    cr_expect_eq(http_body_feed_payload(&b, "zz\r\n", 4, &used, out, sizeof(out), &out_len),
                 PF_EPROTO, "a malformed chunk size");
    cr_expect_eq(out_len, 0);
}
