/* Unit tests for ctl/ctl_args.c: proxyfleet-ctl's command line, the bans
 * and users commands in particular (a password is never an argument, a
 * value is never echoed in an error). */
#include <criterion/criterion.h>
#include <string.h>

#include "ctl_args.h"

#define ARGC(a) ((int)(sizeof(a) / sizeof((a)[0])))

static int parse(int argc, char **argv, struct ctl_args *a, char *why)
{
    return ctl_args_parse(argc, argv, a, why, 256);
}

Test(ctl_args, bans_add_with_every_option)
{
    char *argv[] = { "ctl", "--config", "c.json", "--json", "bans", "add", "--upstream",
                     "3f9a0c12d4e5", "--domain", "example.com", "--session", "alice-session-4",
                     "--ttl-s", "600", "--reason", "captcha" };
    struct ctl_args a;
    char why[256] = "";
    cr_assert_eq(parse(ARGC(argv), argv, &a, why), 0, "%s", why);
    cr_assert_eq(a.command, CTL_CMD_BANS);
    cr_assert_eq(a.op, CTL_OP_ADD);
    cr_assert(a.is_json);
    cr_assert_str_eq(a.ban_upstream, "3f9a0c12d4e5");
    cr_assert_str_eq(a.ban_domain, "example.com");
    cr_assert_str_eq(a.ban_session, "alice-session-4");
    cr_assert_eq(a.ban_ttl_s, 600);
    cr_assert_str_eq(a.ban_reason, "captcha");
}

Test(ctl_args, bans_list_and_del)
{
    char *l[] = { "ctl", "-c", "c.json", "bans", "list" };
    char *d[] = { "ctl", "-c", "c.json", "bans", "del", "00112233445566aa" };
    struct ctl_args a;
    char why[256];
    cr_assert_eq(parse(ARGC(l), l, &a, why), 0);
    cr_assert_eq(a.op, CTL_OP_LIST);
    cr_assert_eq(parse(ARGC(d), d, &a, why), 0);
    cr_assert_eq(a.op, CTL_OP_DEL);
    cr_assert_str_eq(a.target, "00112233445566aa");
}

Test(ctl_args, users_add_limits)
{
    char *argv[] = { "ctl", "-c", "c.json", "users", "add", "carol", "--max-conns", "5",
                     "--max-rps", "7", "--bytes-per-day", "1048576", "--bytes-per-month",
                     "9007199254740992" };
    struct ctl_args a;
    char why[256] = "";
    cr_assert_eq(parse(ARGC(argv), argv, &a, why), 0, "%s", why);
    cr_assert_eq(a.command, CTL_CMD_USERS);
    cr_assert_eq(a.op, CTL_OP_ADD);
    cr_assert_str_eq(a.target, "carol");
    cr_assert_eq(a.max_conns, 5);
    cr_assert_eq(a.max_rps, 7);
    cr_assert_eq(a.bytes_per_day, 1048576);
    cr_assert_eq(a.bytes_per_month, INT64_C(9007199254740992));
}

Test(ctl_args, a_password_argument_is_refused_and_not_echoed)
{
    char *argv[] = { "ctl", "-c", "c.json", "users", "add", "carol", "hunter2-secret" };
    struct ctl_args a;
    char why[256] = "";
    cr_assert_eq(parse(ARGC(argv), argv, &a, why), -1);
    cr_assert_null(strstr(why, "hunter2"));
    cr_assert_not_null(strstr(why, "too many"));
}

Test(ctl_args, missing_parts_and_bad_values)
{
    struct ctl_args a;
    char why[256];
    char *noop[] = { "ctl", "-c", "c.json", "bans" };
    char *badop[] = { "ctl", "-c", "c.json", "users", "frob" };
    char *nouser[] = { "ctl", "-c", "c.json", "users", "add" };
    char *nodel[] = { "ctl", "-c", "c.json", "bans", "del" };
    char *nodomain[] = { "ctl", "-c", "c.json", "bans", "add", "--upstream", "3f9a0c12d4e5" };
    char *ttl0[] = { "ctl", "-c", "c.json", "bans", "add", "--upstream", "u", "--domain", "d",
                     "--ttl-s", "0" };
    char *ttlbig[] = { "ctl", "-c", "c.json", "bans", "add", "--upstream", "u", "--domain", "d",
                       "--ttl-s", "2592001" };
    char *conns[] = { "ctl", "-c", "c.json", "users", "add", "x", "--max-conns", "1000001" };
    char *wrongcmd[] = { "ctl", "-c", "c.json", "bans", "list", "--max-conns", "1" };
    char *listarg[] = { "ctl", "-c", "c.json", "bans", "list", "extra" };
    cr_assert_eq(parse(ARGC(noop), noop, &a, why), -1);
    cr_assert_eq(parse(ARGC(badop), badop, &a, why), -1);
    cr_assert_eq(parse(ARGC(nouser), nouser, &a, why), -1);
    cr_assert_not_null(strstr(why, "never the command line"));
    cr_assert_eq(parse(ARGC(nodel), nodel, &a, why), -1);
    cr_assert_eq(parse(ARGC(nodomain), nodomain, &a, why), -1);
    cr_assert_eq(parse(ARGC(ttl0), ttl0, &a, why), -1);
    cr_assert_eq(parse(ARGC(ttlbig), ttlbig, &a, why), -1);
    cr_assert_eq(parse(ARGC(conns), conns, &a, why), -1);
    cr_assert_eq(parse(ARGC(wrongcmd), wrongcmd, &a, why), -1);
    cr_assert_eq(parse(ARGC(listarg), listarg, &a, why), -1);
}
