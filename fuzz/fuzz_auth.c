/* libFuzzer target: node/auth.c, the parsers of client credentials.
 * Input: one selector byte (modulo 3), then the bytes:
 *   0  a Proxy-Authorization value      -> auth_check_basic()
 *   1  a user name                      -> auth_user_parse()
 *   2  "user" NUL "password"            -> auth_check_user()
 * Invariants: a verdict is 0 or 1, and 1 only for a configured user and
 * password (or no users at all); a parsed name's base is a prefix of the
 * input; a session key is "<base>\n<id>" with an id of 1..64 of
 * [A-Za-z0-9_.] and a lifetime of 0..1440 minutes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct conf_user users[] = { { .user = "alice", .pass = "wonder" },
                                    { .user = "bob", .pass = "b0b:pass" } };

static void check_user(const struct auth_user *u)
{
    if (!u->is_sticky) {
        if (u->key[0] != '\0' || u->lifetime_min != 0)
            abort();
        return;
    }
    size_t blen = strlen(u->base_user);
    if (blen == 0 || strncmp(u->key, u->base_user, blen) != 0 || u->key[blen] != '\n')
        abort();
    const char *id = u->key + blen + 1;
    size_t n = strspn(id, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.");
    if (n == 0 || n > 64 || id[n] != '\0')
        abort();
    if (u->lifetime_min < 0 || u->lifetime_min > 1440)
        abort();
}

static int is_configured(const char *user, const char *pass, size_t pass_len)
{
    for (size_t i = 0; i < sizeof(users) / sizeof(users[0]); i++)
        if (strcmp(user, users[i].user) == 0 && pass_len == strlen(users[i].pass) &&
            memcmp(pass, users[i].pass, pass_len) == 0)
            return 1;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    int which = data[0] % 3;
    size_t len = size - 1;
    char *s = malloc(len + 1);   /* exactly the input plus a NUL: overreads are caught */
    if (s == NULL)
        return 0;
    memcpy(s, data + 1, len);
    s[len] = '\0';
    struct conf_node cn;
    memset(&cn, 0, sizeof(cn));
    cn.users = users;
    cn.nusers = (int)(sizeof(users) / sizeof(users[0]));
    memcpy(cn.session_tag, "-session-", 10);
    memcpy(cn.session_time_tag, "-sesstime-", 11);
    struct auth_user u;
    if (which == 0) {
        int ok = auth_check_basic(&cn, s, &u);
        if (ok != 0 && ok != 1)
            abort();
        check_user(&u);
        cn.nusers = 0;      /* without users everything passes */
        if (auth_check_basic(&cn, s, &u) != 1)
            abort();
        check_user(&u);
    } else if (which == 1) {
        int rc = auth_user_parse(s, cn.session_tag, cn.session_time_tag, &u);
        if (rc != PF_OK && rc != PF_EINVAL)
            abort();
        if (rc == PF_OK) {
            size_t blen = strlen(u.base_user);
            if (blen > len || memcmp(u.base_user, s, blen) != 0)
                abort();
            check_user(&u);
        }
    } else {
        size_t ulen = strlen(s);
        const char *pass = ulen < len ? s + ulen + 1 : s + len;
        size_t pass_len = ulen < len ? len - ulen - 1 : 0;
        int ok = auth_check_user(&cn, s, pass, pass_len, &u);
        if (ok != 0 && ok != 1)
            abort();
        if (ok && !is_configured(u.base_user, pass, pass_len))
            abort();
        check_user(&u);
    }
    free(s);
    return 0;
}
