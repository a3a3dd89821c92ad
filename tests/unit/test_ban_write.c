/* Unit tests for common/ban_write.c: the arguments of the one ban write
 * every writer (node, proxyfleet-ctl) sends. */
#include <criterion/criterion.h>
#include <string.h>

#include "ban_write.h"

static struct ban sample(void)
{
    struct ban b;
    memset(&b, 0, sizeof(b));
    memcpy(b.id, "00112233445566aa", BAN_ID_LEN + 1);
    memcpy(b.upstream, "3f9a0c12d4e5", UPSTREAM_SID_LEN);
    memcpy(b.domain, "example.com", 12);
    b.created_at_ms = 1795306800000;
    b.expires_at_ms = 1795307400000;
    memcpy(b.reason, "captcha", 8);
    return b;
}

Test(ban_write, add_builds_record_keys_and_channel)
{
    struct keys k;
    struct ban_write w;
    struct ban b = sample(), back;
    cr_assert_eq(keys_init(&k, "pf", NULL), PF_OK);
    cr_assert_eq(ban_write_add(&w, &k, &b, 1795306800123), PF_OK);
    cr_assert_str_eq(w.args[0], "2");
    cr_assert_str_eq(w.args[1], k.bans);
    cr_assert_str_eq(w.args[2], k.bans_expiry);
    cr_assert_str_eq(w.args[3], "1795306800123");
    cr_assert_str_eq(w.args[4], "add");
    cr_assert_str_eq(w.args[5], "00112233445566aa");
    cr_assert_str_eq(w.args[7], "1795307400000");
    cr_assert_str_eq(w.args[8], k.bans_channel);
    cr_assert_eq(ban_record_parse(w.args[6], strlen(w.args[6]), &back, NULL), PF_OK);
    cr_assert_eq(memcmp(&back, &b, sizeof(b)), 0);
}

Test(ban_write, del_names_the_id_only)
{
    struct keys k;
    struct ban_write w;
    cr_assert_eq(keys_init(&k, "pf", NULL), PF_OK);
    cr_assert_eq(ban_write_del(&w, &k, "00112233445566aa", 5), PF_OK);
    cr_assert_str_eq(w.args[3], "5");
    cr_assert_str_eq(w.args[4], "del");
    cr_assert_str_eq(w.args[5], "00112233445566aa");
    cr_assert_str_eq(w.args[6], "");
}

Test(ban_write, refuses_bad_ids)
{
    struct keys k;
    struct ban_write w;
    struct ban b = sample();
    cr_assert_eq(keys_init(&k, "pf", NULL), PF_OK);
    cr_assert_eq(ban_write_del(&w, &k, "00112233445566AA", 5), PF_EINVAL);
    cr_assert_eq(ban_write_del(&w, &k, "0011", 5), PF_EINVAL);
    cr_assert_eq(ban_write_del(&w, &k, NULL, 5), PF_EINVAL);
    b.id[0] = '\0';
    cr_assert_eq(ban_write_add(&w, &k, &b, 5), PF_ERANGE);
}

Test(ban_write, script_prunes_then_writes_and_announces)
{
    cr_assert_not_null(strstr(ban_write_script, "ZRANGEBYSCORE"));
    cr_assert_not_null(strstr(ban_write_script, "'PUBLISH', ARGV[6], 'add ' .. ARGV[4]"));
    cr_assert_not_null(strstr(ban_write_script, "'PUBLISH', ARGV[6], 'del ' .. ARGV[3]"));
}
