/* Client authentication; see auth.h. */
#include "auth.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "str.h"

static int is_session_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '_' || c == '.';
}

int auth_user_parse(const char *user, const char *tag, const char *time_tag,
                    struct auth_user *out)
{
    memset(out, 0, sizeof(*out));
    const char *mark = (tag != NULL && tag[0] != '\0') ? strstr(user, tag) : NULL;
    size_t base_len = mark != NULL ? (size_t)(mark - user) : strlen(user);
    if (base_len >= sizeof(out->base_user))
        return PF_EINVAL;
    memcpy(out->base_user, user, base_len);
    out->base_user[base_len] = '\0';
    if (mark == NULL)
        return PF_OK;
    if (base_len == 0)
        return PF_EINVAL;
    const char *sid = mark + strlen(tag);
    size_t sid_len = 0;
    while (is_session_char(sid[sid_len]))
        sid_len++;
    if (sid_len == 0 || sid_len > 64)
        return PF_EINVAL;
    const char *rest = sid + sid_len;
    if (*rest != '\0') {
        size_t tl = time_tag != NULL ? strlen(time_tag) : 0;
        if (tl == 0 || strncmp(rest, time_tag, tl) != 0)
            return PF_EINVAL;
        const char *num = rest + tl;
        int minutes = 0;
        size_t nd = 0;
        while (num[nd] >= '0' && num[nd] <= '9' && nd < 5)
            minutes = minutes * 10 + (num[nd++] - '0');
        if (nd == 0 || num[nd] != '\0' || minutes < 1 || minutes > 1440)
            return PF_EINVAL;
        out->lifetime_min = minutes;
    }
    int n = snprintf(out->key, sizeof(out->key), "%s\n%.*s", out->base_user, (int)sid_len, sid);
    if (n < 0 || (size_t)n >= sizeof(out->key))
        return PF_EINVAL;
    out->is_sticky = 1;
    return PF_OK;
}

int auth_is_required(const struct conf_node *cn, const struct auth_source *src)
{
    return cn->nusers > 0 || (src != NULL && src->is_on);
}

int auth_check_user(const struct conf_node *cn, const char *user, const char *pass,
                    size_t pass_len, struct auth_user *u)
{
    return auth_check_user_from(cn, NULL, user, pass, pass_len, u);
}

int auth_check_user_from(const struct conf_node *cn, const struct auth_source *src,
                         const char *user, const char *pass, size_t pass_len, struct auth_user *u)
{
    if (auth_user_parse(user, cn->session_tag, cn->session_time_tag, u) != PF_OK) {
        memset(u, 0, sizeof(*u));
        return 0;
    }
    size_t blen = strlen(u->base_user);
    int ok = 0, is_known = 0;
    /* no early exit: the same work for every user, matching or not */
    for (int i = 0; i < cn->nusers; i++) {
        const struct conf_user *e = &cn->users[i];
        int same = str_consttime_eq(u->base_user, blen, e->user, strlen(e->user));
        is_known |= same;
        ok |= same & str_consttime_eq(pass, pass_len, e->pass, strlen(e->pass));
    }
    if (is_known || src == NULL || !src->is_on || src->check == NULL)
        return ok;
    ok = src->check(src->arg, u->base_user, pass, pass_len) == 1;
    u->is_source_user = ok;
    return ok;
}

int auth_check_basic(const struct conf_node *cn, const char *value, struct auth_user *u)
{
    return auth_check_basic_from(cn, NULL, value, u);
}

int auth_check_basic_from(const struct conf_node *cn, const struct auth_source *src,
                          const char *value, struct auth_user *u)
{
    int is_required = auth_is_required(cn, src);
    memset(u, 0, sizeof(*u));
    if (value == NULL || strncasecmp(value, "basic ", 6) != 0)
        return !is_required;
    value += 6;
    while (*value == ' ')
        value++;
    size_t len = strlen(value);
    char plain[2 * UPSTREAM_CRED_MAX + 2];
    size_t plen = 0;
    int ok = 0;
    if (len < STR_BASE64_ENC_LEN(sizeof(plain) - 1) &&
        str_base64_decode(value, len, plain, sizeof(plain), &plen) == PF_OK &&
        !str_has_nul(plain, plen)) {
        char *colon = memchr(plain, ':', plen);
        if (colon != NULL) {
            *colon = '\0';
            const char *pass = colon + 1;
            ok = auth_check_user_from(cn, src, plain, pass, strlen(pass), u);
        }
    }
    memset(plain, 0, sizeof(plain));
    return is_required ? ok : 1;
}
