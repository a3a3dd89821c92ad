/* Unit tests of controller/provider_intake.c: quoting provider text
 * (secrets and credential-shaped words never pass, UTF-8 kept clean), the
 * built-in wording in English and Chinese, entry parsing and how rejects
 * are described. */
#include <criterion/criterion.h>
#include <string.h>

#include "provider_intake.h"
#include "str.h"

struct quote_case {
    const char *in;
    const char *out;
    int         flags;
};

Test(provider_intake, quote_table)
{
    static const char *const secrets[] = { "k-APIKEY-2718", "Token tok-SECRET-99" };
    struct provider_parse_opts opts = { .secrets = secrets, .nsecrets = 2 };
    static const struct quote_case cases[] = {
        { "ERROR(-3): IP not in whitelist", "ERROR(-3): IP not in whitelist", 0 },
        { "\xe8\xaf\xb7\xe6\xb7\xbb\xe5\x8a\xa0\xe7\x99\xbd\xe5\x90\x8d\xe5\x8d\x95" "127.0.0.1",
          "\xe8\xaf\xb7\xe6\xb7\xbb\xe5\x8a\xa0\xe7\x99\xbd\xe5\x90\x8d\xe5\x8d\x95" "127.0.0.1", 0 },
        { "IP:1.2.3.4 not allowed", "IP:1.2.3.4 not allowed", 0 },
        { "203.0.113.1:8080", "203.0.113.1:8080", 0 },
        { "bad 203.0.113.1:8080:u1:pw-1 here", "bad (24 bytes) here", PROVIDER_QUOTE_REPLACED },
        { "u1:pw-1@203.0.113.1:8080", "(24 bytes)", PROVIDER_QUOTE_REPLACED | PROVIDER_QUOTE_ALL },
        { "see https://x.example/a?key=1", "see (25 bytes)", PROVIDER_QUOTE_REPLACED },
        { "invalid key k-APIKEY-2718", "invalid key (13 bytes)", PROVIDER_QUOTE_REPLACED },
        { "key=k-APIKEY-2718&x=1 wrong", "(21 bytes) wrong", PROVIDER_QUOTE_REPLACED },
        { "Token tok-SECRET-99 expired", "Token (13 bytes) expired", PROVIDER_QUOTE_REPLACED },
        { "a\tb\r\n\x01", "a b  ?", 0 },
        { "bad \xff byte", "bad \xef\xbf\xbd byte", 0 },
        { "trailing   ", "trailing", 0 },
        { "", "", 0 },
    };
    for (size_t i = 0; i < PF_ARRAY_LEN(cases); i++) {
        char buf[PROVIDER_QUOTE_MAX * 4 + 1];
        int r = provider_quote(cases[i].in, strlen(cases[i].in), &opts, buf, sizeof(buf));
        cr_expect_str_eq(buf, cases[i].out, "case %zu", i);
        cr_expect_eq(r, cases[i].flags, "case %zu", i);
        cr_expect(str_is_clean_text(buf, strlen(buf)), "case %zu", i);
    }
}

/* Quoting judges whole words, however long, and cuts at 80 characters. */
Test(provider_intake, quote_long_words_and_cut)
{
    char in[3000], buf[PROVIDER_QUOTE_MAX * 4 + 1];
    static const char *const secrets[] = { "k-APIKEY-2718" };
    struct provider_parse_opts opts = { .secrets = secrets, .nsecrets = 1 };
    /* a 2000-byte word ending in the secret: masked, not cut to a prefix */
    memset(in, 'x', 2000);
    memcpy(in + 2000 - 13, "k-APIKEY-2718", 13);
    cr_expect_eq(provider_quote(in, 2000, &opts, buf, sizeof(buf)),
                 PROVIDER_QUOTE_REPLACED | PROVIDER_QUOTE_ALL);
    cr_expect_str_eq(buf, "(2000 bytes)");
    /* 100 Chinese characters: 80 kept, whole */
    size_t n = 0;
    for (int i = 0; i < 100; i++) {
        memcpy(in + n, "\xe7\x99\xbd", 3);
        n += 3;
    }
    provider_quote(in, n, NULL, buf, sizeof(buf));
    cr_expect_eq(strlen(buf), 80 * 3);
    cr_expect(str_is_clean_text(buf, strlen(buf)));
}

struct word_case {
    const char *s;
    enum provider_err_class cls;
};

/* The built-in wording, as real providers write it. */
Test(provider_intake, classify_builtin_wording)
{
    static const struct word_case cases[] = {
        { "\xe8\xaf\xb7\xe6\xb7\xbb\xe5\x8a\xa0\xe7\x99\xbd\xe5\x90\x8d\xe5\x8d\x95" "183.1.2.3",
          PROVIDER_ERR_FATAL },                                       /* 请添加白名单 */
        { "\xe8\xb4\xa6\xe6\x88\xb7\xe4\xbd\x99\xe9\xa2\x9d\xe4\xb8\x8d\xe8\xb6\xb3",
          PROVIDER_ERR_FATAL },                                       /* 账户余额不足 */
        { "\xe8\xae\xa2\xe5\x8d\x95\xe5\xb7\xb2\xe8\xbf\x87\xe6\x9c\x9f", PROVIDER_ERR_FATAL }, /* 订单已过期 */
        { "\xe6\x82\xa8\xe7\x9a\x84\xe8\xaf\xa5\xe5\xa5\x97\xe9\xa4\x90\xe5\xb7\xb2\xe7\xbb\x8f"
          "\xe8\xbf\x87\xe6\x9c\x9f\xe4\xba\x86", PROVIDER_ERR_FATAL },  /* 您的该套餐已经过期了 */
        { "\xe5\xa5\x97\xe9\xa4\x90\xe8\xbf\x87\xe6\x9c\x9f", PROVIDER_ERR_FATAL },   /* 套餐过期 */
        { "\xe5\xaf\x86\xe9\x92\xa5\xe9\x94\x99\xe8\xaf\xaf", PROVIDER_ERR_FATAL },   /* 密钥错误 */
        { "\xe7\xa7\x98\xe9\x92\xa5\xe4\xb8\x8d\xe6\xad\xa3\xe7\xa1\xae", PROVIDER_ERR_FATAL }, /* 秘钥不正确 */
        { "\xe6\x9c\xaa\xe6\x8e\x88\xe6\x9d\x83", PROVIDER_ERR_FATAL },              /* 未授权 */
        { "\xe8\xb4\xa6\xe5\x8f\xb7\xe4\xb8\x8d\xe5\xad\x98\xe5\x9c\xa8", PROVIDER_ERR_FATAL }, /* 账号不存在 */
        { "\xe8\xb4\xa6\xe5\x8f\xb7\xe5\xb0\x9a\xe6\x9c\xaa\xe9\x80\x9a\xe8\xbf\x87\xe5\xae\x9e"
          "\xe5\x90\x8d\xe8\xae\xa4\xe8\xaf\x81", PROVIDER_ERR_FATAL },  /* 账号尚未通过实名认证 */
        { "KEY_ERROR", PROVIDER_ERR_FATAL },
        { "ERROR_KEY", PROVIDER_ERR_FATAL },
        { "NO_BALANCE", PROVIDER_ERR_FATAL },
        { "Invalid token.", PROVIDER_ERR_FATAL },
        /* transient wording wins, even over "账号" */
        { "\xe6\x8f\x90\xe5\x8f\x96\xe9\xa2\x91\xe7\x8e\x87\xe8\xbf\x87\xe5\xbf\xab\xef\xbc\x8c"
          "\xe8\xaf\xb7\xe7\xa8\x8d\xe5\x90\x8e\xe5\x86\x8d\xe8\xaf\x95", PROVIDER_ERR_TRANSIENT }, /* 提取频率过快，请稍后再试 */
        { "\xe8\xb4\xa6\xe5\x8f\xb7\xe6\x8f\x90\xe5\x8f\x96\xe9\xa2\x91\xe7\xb9\x81",
          PROVIDER_ERR_TRANSIENT },                                   /* 账号提取频繁 */
        { "\xe6\x9c\x8d\xe5\x8a\xa1\xe5\x99\xa8\xe7\xb9\x81\xe5\xbf\x99", PROVIDER_ERR_TRANSIENT }, /* 服务器繁忙 */
        { "\xe8\xb0\x83\xe7\x94\xa8\xe9\xa2\x91\xe7\x8e\x87\xe9\x99\x90\xe5\x88\xb6", PROVIDER_ERR_TRANSIENT }, /* 调用频率限制 */
        { "Too Many Requests", PROVIDER_ERR_TRANSIENT },
        { "\xe6\x9a\x82\xe6\x97\xa0\xe5\x8f\xaf\xe7\x94\xa8\xe4\xbb\xa3\xe7\x90\x86", PROVIDER_ERR_TRANSIENT }, /* 暂无可用代理 */
        { "timeout", PROVIDER_ERR_TRANSIENT },
    };
    for (size_t i = 0; i < PF_ARRAY_LEN(cases); i++)
        cr_expect_eq(provider_classify_text(cases[i].s, strlen(cases[i].s), NULL), cases[i].cls,
                     "case %zu (%s)", i, cases[i].s);
}

Test(provider_intake, entry_add_forms_and_rejects)
{
    struct provider_parse_opts opts = { .default_scheme = UPSTREAM_HTTP, .provider = "p", .tier = 1 };
    struct provider_parse_result res;
    provider_result_init(&res);
    static const char *const ok[] = {
        "203.0.113.1:80", "socks5://u:p@203.0.113.2:1080", "u:p%40x@203.0.113.3:81",
        "203.0.113.4:8080:user:pass", "proxy.example.com:3128:user:pa:ss", "[2001:db8::1]:80",
    };
    for (size_t i = 0; i < PF_ARRAY_LEN(ok); i++)
        cr_expect_eq(provider_entry_add(ok[i], strlen(ok[i]), "line", i + 1, &opts, &res),
                     i == 4 ? PF_EINVAL : PF_OK, "%s: %s", ok[i], res.first_reject);
    cr_expect_eq(res.nupstreams, 5, "'pa:ss' makes five fields: not host:port:user:pass");
    cr_expect_str_eq(res.upstreams[3].pass, "pass");
    cr_expect_eq(res.upstreams[3].tier, 1);
    cr_expect_str_eq(res.upstreams[3].provider, "p");
    cr_expect_str_eq(res.first_reject, "line 5 (33 bytes): IPv6 address must be in brackets");
    cr_expect_str_eq(res.examples[0], "line 5 (33 bytes)");
    provider_parse_result_deinit(&res);

    /* a rejected parsed entry is shown by host:port */
    provider_result_init(&res);
    cr_expect_eq(provider_entry_add("10.0.0.1:80:u:secretpw", 22, "entry", 2, &opts, &res), PF_EINVAL);
    cr_expect_str_eq(res.first_reject, "entry 2 (10.0.0.1:80): private address 10.0.0.1 not allowed");
    cr_expect_str_eq(res.examples[0], "10.0.0.1:80");
    cr_expect_eq(res.rejected[PROVIDER_REJECT_DENIED], 1);
    provider_parse_result_deinit(&res);
}
