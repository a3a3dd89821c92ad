/* Unit tests for node/auth.c: session user names, the node.users check
 * (HTTP Basic and the SOCKS5 user/password form) with sessions, and a
 * replay of the fuzz corpus tests/corpus/auth (fuzz/fuzz_auth.c). */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "str.h"

struct sess_case {
    char user[64];
    int  rc;
    char base[32];
    int  is_sticky;
    char key[48];
    int  lifetime;
};

static struct sess_case sess_cases[] = {
    { "alice", PF_OK, "alice", 0, "", 0 },
    { "alice-session-42", PF_OK, "alice", 1, "alice\n42", 0 },
    { "alice-session-a_b.c-sesstime-10", PF_OK, "alice", 1, "alice\na_b.c", 10 },
    { "alice-session-x-sesstime-1440", PF_OK, "alice", 1, "alice\nx", 1440 },
    { "bob-x-session-1", PF_OK, "bob-x", 1, "bob-x\n1", 0 },
    { "alice-session-", PF_EINVAL, "", 0, "", 0 },
    { "-session-42", PF_EINVAL, "", 0, "", 0 },
    { "alice-session-42-sesstime-", PF_EINVAL, "", 0, "", 0 },
    { "alice-session-42-sesstime-0", PF_EINVAL, "", 0, "", 0 },
    { "alice-session-42-sesstime-1441", PF_EINVAL, "", 0, "", 0 },
    { "alice-session-42-sesstime-10x", PF_EINVAL, "", 0, "", 0 },
    { "alice-session-42-other", PF_EINVAL, "", 0, "", 0 },
    { "alice-session-4$2", PF_EINVAL, "", 0, "", 0 },
};

ParameterizedTestParameters(auth, user_parse)
{
    return cr_make_param_array(struct sess_case, sess_cases, PF_ARRAY_LEN(sess_cases));
}

ParameterizedTest(struct sess_case *tc, auth, user_parse)
{
    struct auth_user u;
    int rc = auth_user_parse(tc->user, "-session-", "-sesstime-", &u);
    cr_expect_eq(rc, tc->rc, "%s", tc->user);
    if (rc != PF_OK)
        return;
    cr_expect_str_eq(u.base_user, tc->base);
    cr_expect_eq(u.is_sticky, tc->is_sticky);
    cr_expect_str_eq(u.key, tc->key);
    cr_expect_eq(u.lifetime_min, tc->lifetime);
}

Test(auth, user_parse_tag_off)
{
    struct auth_user u;
    cr_assert_eq(auth_user_parse("alice-session-42", "", "-sesstime-", &u), PF_OK);
    cr_expect_str_eq(u.base_user, "alice-session-42");
    cr_expect_not(u.is_sticky);
}

Test(auth, user_parse_long_session_id)
{
    struct auth_user u;
    char name[128];
    snprintf(name, sizeof(name), "a-session-%064d", 7);     /* 64 characters: the limit */
    cr_expect_eq(auth_user_parse(name, "-session-", "-sesstime-", &u), PF_OK);
    snprintf(name, sizeof(name), "a-session-%065d", 7);
    cr_expect_eq(auth_user_parse(name, "-session-", "-sesstime-", &u), PF_EINVAL);
}

static struct conf_user users[] = { { .user = "alice", .pass = "wonder" },
                                    { .user = "bob", .pass = "b0b:pass" } };
static struct conf_node cn;

static void setup(void)
{
    memset(&cn, 0, sizeof(cn));
    cn.users = users;
    cn.nusers = (int)PF_ARRAY_LEN(users);
    snprintf(cn.session_tag, sizeof(cn.session_tag), "-session-");
    snprintf(cn.session_time_tag, sizeof(cn.session_time_tag), "-sesstime-");
}

TestSuite(auth, .init = setup);

Test(auth, check_user)
{
    struct auth_user u;
    cr_expect(auth_check_user(&cn, "alice", "wonder", 6, &u));
    cr_expect_not(u.is_sticky);
    cr_expect(auth_check_user(&cn, "bob", "b0b:pass", 8, &u));
    cr_expect_not(auth_check_user(&cn, "alice", "wonde", 5, &u));
    cr_expect_not(auth_check_user(&cn, "alice", "wonderland", 10, &u));
    cr_expect_not(auth_check_user(&cn, "alice", "b0b:pass", 8, &u));   /* another user's password */
    cr_expect_not(auth_check_user(&cn, "carol", "wonder", 6, &u));
    cr_expect_not(auth_check_user(&cn, "Alice", "wonder", 6, &u));     /* names are case-sensitive */
    cr_expect_not(auth_check_user(&cn, "", "", 0, &u));
    cr_expect_not(auth_check_user(&cn, "alice", "wonder\0", 7, &u));   /* length counts */
}

Test(auth, check_user_session)
{
    struct auth_user u;
    cr_expect(auth_check_user(&cn, "alice-session-s1-sesstime-5", "wonder", 6, &u));
    cr_expect(u.is_sticky);
    cr_expect_str_eq(u.key, "alice\ns1");
    cr_expect_eq(u.lifetime_min, 5);
    /* the session is known even when the password is wrong */
    cr_expect_not(auth_check_user(&cn, "alice-session-s2", "nope", 4, &u));
    cr_expect(u.is_sticky);
    cr_expect_str_eq(u.key, "alice\ns2");
    /* a malformed suffix fails and names no session */
    cr_expect_not(auth_check_user(&cn, "alice-session-", "wonder", 6, &u));
    cr_expect_not(u.is_sticky);
    /* the base name is what is checked */
    cr_expect_not(auth_check_user(&cn, "carol-session-1", "wonder", 6, &u));
}

Test(auth, check_user_no_users)
{
    struct auth_user u;
    cn.nusers = 0;
    cr_expect_not(auth_check_user(&cn, "alice", "wonder", 6, &u));
}

static const char *basic(const char *userpass)
{
    static char v[600];
    char enc[512];
    cr_assert_eq(str_base64_encode(userpass, strlen(userpass), enc, sizeof(enc)), PF_OK);
    snprintf(v, sizeof(v), "Basic %s", enc);
    return v;
}

Test(auth, basic)
{
    struct auth_user u;
    cr_expect(auth_check_basic(&cn, basic("alice:wonder"), &u));
    cr_expect(auth_check_basic(&cn, basic("bob:b0b:pass"), &u));   /* the first colon splits */
    cr_expect_not(auth_check_basic(&cn, basic("alice:wrong"), &u));
    cr_expect_not(auth_check_basic(&cn, basic("alicewonder"), &u));
    cr_expect_not(auth_check_basic(&cn, NULL, &u));
    cr_expect_not(auth_check_basic(&cn, "Bearer abc", &u));
    cr_expect_not(auth_check_basic(&cn, "Basic !!!!", &u));
    cr_expect_not(auth_check_basic(&cn, "Basic YWxpY2U6d29uZGVy=", &u));   /* bad padding */
    /* scheme is case-insensitive, blanks after it are skipped */
    cr_expect(auth_check_basic(&cn, "bAsIc    YWxpY2U6d29uZGVy", &u));
}

Test(auth, basic_nul_refused)
{
    struct auth_user u;
    char enc[64], v[80];
    static const char raw[] = "alice\0x:wonder";
    cr_assert_eq(str_base64_encode(raw, sizeof(raw) - 1, enc, sizeof(enc)), PF_OK);
    snprintf(v, sizeof(v), "Basic %s", enc);
    cr_expect_not(auth_check_basic(&cn, v, &u));
}

/* Credentials longer than a user and a password can be are not decoded at
 * all: no session is read from them. */
Test(auth, basic_too_long_ignored)
{
    struct auth_user u;
    static char plain[1200], enc[1700], v[1800];
    memset(plain, 'a', sizeof(plain) - 1);
    memcpy(plain, "x-session-1:", 12);
    cr_assert_eq(str_base64_encode(plain, strlen(plain), enc, sizeof(enc)), PF_OK);
    snprintf(v, sizeof(v), "Basic %s", enc);
    cn.nusers = 0;
    cr_expect(auth_check_basic(&cn, v, &u));
    cr_expect_not(u.is_sticky);
    plain[100] = '\0';
    cr_assert_eq(str_base64_encode(plain, strlen(plain), enc, sizeof(enc)), PF_OK);
    snprintf(v, sizeof(v), "Basic %s", enc);
    cr_expect(auth_check_basic(&cn, v, &u));
    cr_expect(u.is_sticky);
}

Test(auth, basic_session)
{
    struct auth_user u;
    cr_expect(auth_check_basic(&cn, basic("alice-session-9:wonder"), &u));
    cr_expect(u.is_sticky);
    cr_expect_str_eq(u.key, "alice\n9");
    cr_expect(auth_check_basic(&cn, basic("alice:wonder"), &u));
    cr_expect_not(u.is_sticky);
}

/* Without node.users every request passes, and a Basic user name still
 * names a session (an anonymous proxy with sticky sessions). */
Test(auth, basic_no_users)
{
    struct auth_user u;
    cn.nusers = 0;
    cr_expect(auth_check_basic(&cn, NULL, &u));
    cr_expect_not(u.is_sticky);
    cr_expect(auth_check_basic(&cn, "Basic !!!", &u));
    cr_expect(auth_check_basic(&cn, basic("anyone-session-7:x"), &u));
    cr_expect(u.is_sticky);
    cr_expect_str_eq(u.key, "anyone\n7");
}

/* --- corpus replay (the input format of fuzz/fuzz_auth.c) --- */

static void check_parsed(const struct auth_user *u)
{
    if (!u->is_sticky) {
        cr_expect_str_eq(u->key, "");
        return;
    }
    size_t blen = strlen(u->base_user);
    cr_expect_gt(blen, 0);
    cr_expect_eq(strncmp(u->key, u->base_user, blen), 0);
    cr_expect_eq(u->key[blen], '\n');
    cr_expect(u->lifetime_min >= 0 && u->lifetime_min <= 1440);
}

static void replay(const char *name, const char *data, size_t len)
{
    char *s = malloc(len);
    cr_assert_not_null(s);
    memcpy(s, data + 1, len - 1);
    s[len - 1] = '\0';
    struct auth_user u;
    switch (data[0] % 3) {
    case 0: {
        int ok = auth_check_basic(&cn, s, &u);
        cr_expect(ok == 0 || ok == 1, "%s", name);
        check_parsed(&u);
        break;
    }
    case 1: {
        int rc = auth_user_parse(s, "-session-", "-sesstime-", &u);
        cr_expect(rc == PF_OK || rc == PF_EINVAL, "%s", name);
        if (rc == PF_OK) {
            cr_expect_eq(strncmp(u.base_user, s, strlen(u.base_user)), 0, "%s", name);
            check_parsed(&u);
        }
        break;
    }
    default: {
        size_t ulen = strlen(s);
        const char *pass = ulen < len - 1 ? s + ulen + 1 : s + ulen;
        size_t pass_len = ulen < len - 1 ? len - 1 - ulen - 1 : 0;
        int ok = auth_check_user(&cn, s, pass, pass_len, &u);
        cr_expect(ok == 0 || ok == 1, "%s", name);
        check_parsed(&u);
        break;
    }
    }
    free(s);
}

Test(auth, corpus_replay)
{
    char dir[512];
    snprintf(dir, sizeof(dir), "%s/auth", PF_CORPUS_DIR);
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
        char buf[4096];
        size_t n = fread(buf, 1, sizeof(buf), f);
        fclose(f);
        if (n > 0)
            replay(e->d_name, buf, n);
        count++;
    }
    closedir(d);
    cr_expect_geq(count, 10, "corpus has %d files", count);
}

/* The seeds mean what their names say. */
Test(auth, corpus_seeds_verdicts)
{
    struct auth_user u;
    cr_expect(auth_check_basic(&cn, "Basic YWxpY2Utc2Vzc2lvbi00Mi1zZXNzdGltZS0xMDp3b25kZXI=", &u));
    cr_expect(u.is_sticky);
    cr_expect_str_eq(u.key, "alice\n42");
    cr_expect_eq(u.lifetime_min, 10);
}

/* A second source of users (the users in Redis): asked only for names
 * node.users does not have, and it turns authentication on by itself. */
struct fake_source {
    int  calls;
    char last_user[64];
};

static int fake_check(void *arg, const char *user, const char *pass, size_t pass_len)
{
    struct fake_source *f = arg;
    f->calls++;
    snprintf(f->last_user, sizeof(f->last_user), "%s", user);
    return strcmp(user, "carol") == 0 && pass_len == 3 && memcmp(pass, "c4r", 3) == 0;
}

Test(auth, source_users_after_config_users)
{
    struct fake_source f = { 0 };
    struct auth_source src = { fake_check, &f, 1 };
    struct auth_user u;
    cr_expect(auth_check_user_from(&cn, &src, "carol-session-7", "c4r", 3, &u));
    cr_expect(u.is_source_user);
    cr_expect_str_eq(f.last_user, "carol", "the base name is passed on");
    cr_expect(u.is_sticky);
    cr_expect_not(auth_check_user_from(&cn, &src, "carol", "c4R", 3, &u));
    cr_expect_not(u.is_source_user);
    /* a config user is decided by node.users, never passed on */
    f.calls = 0;
    cr_expect(auth_check_user_from(&cn, &src, "alice", "wonder", 6, &u));
    cr_expect_not(u.is_source_user);
    cr_expect_not(auth_check_user_from(&cn, &src, "alice", "c4r", 3, &u));
    cr_expect_eq(f.calls, 0);
    /* a source that is off is never asked */
    src.is_on = 0;
    cr_expect_not(auth_check_user_from(&cn, &src, "carol", "c4r", 3, &u));
    cr_expect_eq(f.calls, 0);
}

Test(auth, source_on_requires_authentication)
{
    struct fake_source f = { 0 };
    struct auth_source src = { fake_check, &f, 1 };
    struct auth_user u;
    cn.nusers = 0;
    cr_expect(auth_is_required(&cn, &src));
    cr_expect_not(auth_check_basic_from(&cn, &src, NULL, &u), "no credentials: refused");
    cr_expect(auth_check_basic_from(&cn, &src, basic("carol:c4r"), &u));
    cr_expect_not(auth_check_basic_from(&cn, &src, basic("carol:nope"), &u));
    src.is_on = 0;
    cr_expect_not(auth_is_required(&cn, &src));
    cr_expect(auth_check_basic_from(&cn, &src, NULL, &u), "nobody configured: open as before");
}
