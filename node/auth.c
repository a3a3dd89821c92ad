/* Client authentication; see auth.h. */
#include "auth.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "str.h"

int auth_user_parse(const char *user, const char *tag, const char *time_tag,
                    struct auth_user *out)
{
    memset(out, 0, sizeof(*out));
    struct user_params_words w;
    struct pf_err err;
    pf_err_clear(&err);
    if (user_params_words_from_tags(tag != NULL ? tag : "", time_tag != NULL ? time_tag : "",
                                    &w, &err) != PF_OK)
        memset(&w, 0, sizeof(w));
    pf_err_clear(&err);
    int rc = user_params_parse(user, &w, &out->params, &err);
    snprintf(out->base_user, sizeof(out->base_user), "%s", out->params.base_user);
    if (rc != PF_OK) {
        snprintf(out->reason, sizeof(out->reason), "%s", err.msg);
        return PF_EINVAL;
    }
    if (out->params.session[0] == '\0')
        return PF_OK;
    int n = snprintf(out->key, sizeof(out->key), "%s\n%s", out->base_user, out->params.session);
    if (n < 0 || (size_t)n >= sizeof(out->key)) {
        out->key[0] = '\0';
        snprintf(out->reason, sizeof(out->reason), "user name too long");
        return PF_EINVAL;
    }
    out->is_sticky = 1;
    out->lifetime_min = out->params.sesstime_min;
    return PF_OK;
}

int auth_check_conf(const struct conf_node *cn, struct pf_err *err)
{
    struct user_params_words w;
    return user_params_words_from_tags(cn->session_tag, cn->session_time_tag, &w, err);
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
        char reason[sizeof(u->reason)];
        memcpy(reason, u->reason, sizeof(reason));
        memset(u, 0, sizeof(*u));
        memcpy(u->reason, reason, sizeof(reason));
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
