/* Unit tests for common/ban.c: domains, sessions, records, notices,
 * requests and the in-band query. */
#include <criterion/criterion.h>
#include <string.h>

#include "ban.h"

#define NOW 1795306800000LL

Test(ban, domain_norm)
{
    char d[BAN_DOMAIN_MAX];
    struct pf_err err = { 0 };
    cr_assert_eq(ban_domain_norm("Example.COM.", 12, d, &err), PF_OK);
    cr_expect_str_eq(d, "example.com");
    cr_assert_eq(ban_domain_norm("*", 1, d, &err), PF_OK);
    cr_expect_str_eq(d, "*");
    cr_expect_eq(ban_domain_norm("", 0, d, &err), PF_EINVAL);
    cr_expect_eq(ban_domain_norm("a..b", 4, d, &err), PF_EINVAL);
    cr_expect_eq(ban_domain_norm(".a", 2, d, &err), PF_EINVAL);
    cr_expect_eq(ban_domain_norm("a b", 3, d, &err), PF_EINVAL);
    cr_expect_eq(ban_domain_norm("*.a", 3, d, &err), PF_EINVAL);
    cr_expect_null(strstr(err.msg, "*.a"));
    char big[300];
    memset(big, 'a', sizeof(big));
    cr_expect_eq(ban_domain_norm(big, 254, d, &err), PF_EINVAL);
    cr_expect_eq(ban_domain_norm(big, 253, d, &err), PF_OK);
}

Test(ban, control_host)
{
    cr_expect(ban_is_control_host("proxyfleet.control"));
    cr_expect(ban_is_control_host("ProxyFleet.Control."));
    cr_expect_not(ban_is_control_host("proxyfleet.control.com"));
    cr_expect_not(ban_is_control_host("xproxyfleet.control"));
    cr_expect_not(ban_is_control_host(""));
}

Test(ban, domain_covers)
{
    cr_expect(ban_domain_covers("example.com", "example.com", 11));
    cr_expect(ban_domain_covers("example.com", "WWW.Example.com.", 16));
    cr_expect(ban_domain_covers("example.com", "a.b.example.com", 15));
    cr_expect_not(ban_domain_covers("example.com", "badexample.com", 14));
    cr_expect_not(ban_domain_covers("example.com", "example.org", 11));
    cr_expect_not(ban_domain_covers("www.example.com", "example.com", 11));
    cr_expect(ban_domain_covers("*", "anything", 8));
}

Test(ban, session_names)
{
    char s[BAN_SESSION_MAX];
    cr_assert_eq(ban_session_name("alice", 5, "42", 2, s, sizeof(s)), PF_OK);
    cr_expect_str_eq(s, "alice-session-42");
    cr_expect(ban_session_is_valid(s, strlen(s)));
    cr_expect_not(ban_session_is_valid("alice", 5));
    cr_expect_not(ban_session_is_valid("-session-42", 11));
    cr_expect_not(ban_session_is_valid("alice-session-", 14));
    cr_expect_not(ban_session_is_valid("al ice-session-4", 16));
    cr_expect_eq(ban_session_name("alice", 5, "42", 2, s, 10), PF_ERANGE);
    cr_expect_str_eq(s, "");
}

Test(ban, record_round_trip)
{
    struct ban b = { 0 }, c;
    struct pf_err err = { 0 };
    ban_id_format(0x0123456789abcdefULL, b.id);
    cr_expect_str_eq(b.id, "0123456789abcdef");
    memcpy(b.upstream, "9b59643fe740", 13);
    strcpy(b.session, "alice-session-42");
    strcpy(b.domain, "example.com");
    b.created_at_ms = NOW;
    b.expires_at_ms = NOW + 600000;
    strcpy(b.reason, "captcha \"quoted\"");
    char buf[BAN_RECORD_MAX];
    int n = ban_record_format(&b, buf, sizeof(buf));
    cr_assert_gt(n, 0);
    cr_assert_eq(ban_record_parse(buf, (size_t)n, &c, &err), PF_OK, "%s", err.msg);
    cr_expect_str_eq(c.id, b.id);
    cr_expect_str_eq(c.upstream, b.upstream);
    cr_expect_str_eq(c.session, b.session);
    cr_expect_str_eq(c.domain, b.domain);
    cr_expect_str_eq(c.reason, b.reason);
    cr_expect_eq(c.expires_at_ms, b.expires_at_ms);
    cr_expect_eq(c.created_at_ms, b.created_at_ms);
    cr_expect_eq(ban_record_format(&b, buf, 20), -1);
}

Test(ban, record_rejects)
{
    struct ban b;
    struct pf_err err = { 0 };
    static const char *const bad[] = {
        "", "[]", "{", "{\"id\":\"0123456789abcdef\"}",
        "{\"id\":\"0123\",\"upstream\":\"9b59643fe740\",\"domain\":\"a.b\",\"expires_at_ms\":5}",
        "{\"id\":\"0123456789abcdef\",\"upstream\":\"9B59643FE740\",\"domain\":\"a.b\",\"expires_at_ms\":5}",
        "{\"id\":\"0123456789abcdef\",\"upstream\":\"9b59643fe740\",\"domain\":\"a b\",\"expires_at_ms\":5}",
        "{\"id\":\"0123456789abcdef\",\"upstream\":\"9b59643fe740\",\"domain\":\"a.b\"}",
        "{\"id\":\"0123456789abcdef\",\"upstream\":\"9b59643fe740\",\"domain\":\"a.b\",\"expires_at_ms\":0}",
        "{\"id\":\"0123456789abcdef\",\"upstream\":\"9b59643fe740\",\"domain\":\"a.b\",\"expires_at_ms\":1.5}",
        "{\"id\":\"0123456789abcdef\",\"upstream\":\"9b59643fe740\",\"domain\":\"a.b\",\"expires_at_ms\":5,\"session\":\"x\"}",
        "{\"id\":\"0123456789abcdef\",\"upstream\":7,\"domain\":\"a.b\",\"expires_at_ms\":5}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err.msg[0] = '\0';
        cr_expect_eq(ban_record_parse(bad[i], strlen(bad[i]), &b, &err), PF_EINVAL, "case %zu", i);
        cr_expect_neq(err.msg[0], '\0', "case %zu", i);
        cr_expect_str_eq(b.id, "", "case %zu: nothing kept", i);
    }
}

Test(ban, record_reason_is_sanitised)
{
    struct ban b;
    struct pf_err err = { 0 };
    const char *s = "{\"id\":\"0123456789abcdef\",\"upstream\":\"9b59643fe740\",\"domain\":\"a.b\","
                    "\"expires_at_ms\":5,\"reason\":\"x\\u0001y\"}";
    cr_assert_eq(ban_record_parse(s, strlen(s), &b, &err), PF_OK, "%s", err.msg);
    cr_expect_str_eq(b.reason, "x?y");
}

Test(ban, notices)
{
    struct ban b;
    enum ban_notice_kind k = 0;
    struct pf_err err = { 0 };
    cr_assert_eq(ban_notice_parse("del 0123456789abcdef", 20, &k, &b, &err), PF_OK);
    cr_expect_eq(k, BAN_NOTICE_DEL);
    cr_expect_str_eq(b.id, "0123456789abcdef");
    const char *add = "add {\"id\":\"0123456789abcdef\",\"upstream\":\"9b59643fe740\","
                      "\"domain\":\"*\",\"expires_at_ms\":5}";
    cr_assert_eq(ban_notice_parse(add, strlen(add), &k, &b, &err), PF_OK, "%s", err.msg);
    cr_expect_eq(k, BAN_NOTICE_ADD);
    cr_expect_str_eq(b.domain, "*");
    cr_expect_eq(ban_notice_parse("del 0123", 8, &k, &b, &err), PF_EINVAL);
    cr_expect_eq(ban_notice_parse("put x", 5, &k, &b, &err), PF_EINVAL);
    cr_expect_eq(ban_notice_parse("", 0, &k, &b, &err), PF_EINVAL);
}

Test(ban, request)
{
    struct ban b;
    struct pf_err err = { 0 };
    const char *s = "{\"upstream\":\"9b59643fe740\",\"domain\":\"Example.com\",\"ttl_s\":600,"
                    "\"reason\":\"captcha\"}";
    cr_assert_eq(ban_request_parse(s, strlen(s), NOW, &b, &err), PF_OK, "%s", err.msg);
    cr_expect_str_eq(b.upstream, "9b59643fe740");
    cr_expect_str_eq(b.session, "");
    cr_expect_str_eq(b.domain, "example.com");
    cr_expect_eq(b.created_at_ms, NOW);
    cr_expect_eq(b.expires_at_ms, NOW + 600000);
    cr_expect_str_eq(b.reason, "captcha");
    cr_expect_str_eq(b.id, "");

    s = "{\"session\":\"alice-session-42\",\"domain\":\"*\"}";
    cr_assert_eq(ban_request_parse(s, strlen(s), NOW, &b, &err), PF_OK, "%s", err.msg);
    cr_expect_str_eq(b.session, "alice-session-42");
    cr_expect_str_eq(b.upstream, "");
    cr_expect_eq(b.expires_at_ms, NOW + BAN_TTL_DEFAULT_S * 1000LL);
}

Test(ban, request_rejects)
{
    struct ban b;
    struct pf_err err = { 0 };
    static const char *const bad[] = {
        "{\"domain\":\"a.b\"}",
        "{\"upstream\":\"9b59643fe740\"}",
        "{\"upstream\":\"9b59643fe740\",\"domain\":\"a.b\",\"ttl_s\":0}",
        "{\"upstream\":\"9b59643fe740\",\"domain\":\"a.b\",\"ttl_s\":2592001}",
        "{\"upstream\":\"9b59643fe740\",\"domain\":\"a.b\",\"ttl_s\":\"600\"}",
        "{\"upstream\":\"9b59643fe740\",\"domain\":\"a.b\",\"ttl\":600}",
        "{\"upstream\":\"http://10.0.0.1:80\",\"domain\":\"a.b\"}",
        "not json",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err.msg[0] = '\0';
        cr_expect_eq(ban_request_parse(bad[i], strlen(bad[i]), NOW, &b, &err), PF_EINVAL,
                     "case %zu", i);
        cr_expect_neq(err.msg[0], '\0', "case %zu", i);
        cr_expect_null(strstr(err.msg, "10.0.0.1"), "case %zu: input echoed", i);
    }
}

Test(ban, query)
{
    struct ban b;
    struct pf_err err = { 0 };
    const char *q = "session=42&domain=Example.com&ttl_s=600&reason=got%20captcha";
    cr_assert_eq(ban_query_parse(q, strlen(q), "alice", NOW, &b, &err), PF_OK, "%s", err.msg);
    cr_expect_str_eq(b.session, "alice-session-42");
    cr_expect_str_eq(b.domain, "example.com");
    cr_expect_eq(b.expires_at_ms, NOW + 600000);
    cr_expect_str_eq(b.reason, "got captcha");
    cr_expect_str_eq(b.upstream, "");
}

Test(ban, query_rejects)
{
    struct ban b;
    struct pf_err err = { 0 };
    static const char *const bad[] = {
        "domain=a.b", "session=42", "session=42&domain=a.b&ttl_s=x",
        "session=42&domain=a.b&ttl_s=-1", "session=42&domain=a.b&ttl_s=99999999",
        "session=42&domain=a.b&user=bob", "session=4%202&domain=a.b",
        "session=42&domain=a%00b", "session=42&domain=a.b&upstream=zz",
        "session=%zz&domain=a.b",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err.msg[0] = '\0';
        cr_expect_eq(ban_query_parse(bad[i], strlen(bad[i]), "alice", NOW, &b, &err), PF_EINVAL,
                     "case %zu", i);
        cr_expect_neq(err.msg[0], '\0', "case %zu", i);
    }
}
