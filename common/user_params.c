/* The user-name parameter grammar; see user_params.h. */
#include "user_params.h"

#include <stdio.h>
#include <string.h>

static const char *const label_names[USER_LABEL_COUNT] = {
    "country", "region", "city", "isp", "asn", "provider", "tier",
};

const char *user_label_name(enum user_label l)
{
    return (unsigned)l < USER_LABEL_COUNT ? label_names[l] : "?";
}

static int is_value_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '_' || c == '.';
}

static int is_word_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
}

static int is_digits(const char *s, size_t n)
{
    if (n == 0)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return 0;
    return 1;
}

/* The value of <n> (<= 4) decimal digits at <s>. */
static int atoi_n(const char *s, size_t n)
{
    int v = 0;
    for (size_t i = 0; i < n; i++)
        v = v * 10 + (s[i] - '0');
    return v;
}

/* Reads "-<word>-" <tag> into <out>; "" stays off. */
static int word_from_tag(const char *tag, const char *key, char *out, struct pf_err *err)
{
    out[0] = '\0';
    size_t n = strlen(tag);
    if (n == 0)
        return PF_OK;
    if (n < 3 || tag[0] != '-' || tag[n - 1] != '-' || n - 2 >= USER_PARAMS_WORD_MAX)
        return pf_err_set(err, PF_EINVAL, "%s: must be \"\" or -<word>- (e.g. -session-)", key);
    for (size_t i = 1; i + 1 < n; i++)
        if (!is_word_char(tag[i]))
            return pf_err_set(err, PF_EINVAL, "%s: the word between the dashes must be "
                              "lowercase letters, digits or _", key);
    memcpy(out, tag + 1, n - 2);
    out[n - 2] = '\0';
    for (int l = 0; l < USER_LABEL_COUNT; l++)
        if (strcmp(out, label_names[l]) == 0)
            return pf_err_set(err, PF_EINVAL, "%s: %s is a label parameter", key, out);
    return PF_OK;
}

int user_params_words_from_tags(const char *tag, const char *time_tag,
                                struct user_params_words *out, struct pf_err *err)
{
    memset(out, 0, sizeof(*out));
    int rc = word_from_tag(tag, "node.session_tag", out->session, err);
    if (rc == PF_OK)
        rc = word_from_tag(time_tag, "node.session_time_tag", out->sesstime, err);
    if (rc == PF_OK && out->session[0] != '\0' && strcmp(out->session, out->sesstime) == 0)
        rc = pf_err_set(err, PF_EINVAL, "node.session_time_tag: same word as node.session_tag");
    if (rc != PF_OK)
        memset(out, 0, sizeof(*out));
    return rc;
}

/* Which key <s> of <n> bytes is: a label (0..), the session (-2), the
 * lifetime (-3), or -1 when unknown. */
static int key_of(const char *s, size_t n, const struct user_params_words *w)
{
    for (int l = 0; l < USER_LABEL_COUNT; l++)
        if (strlen(label_names[l]) == n && memcmp(s, label_names[l], n) == 0)
            return l;
    if (w->session[0] != '\0' && strlen(w->session) == n && memcmp(s, w->session, n) == 0)
        return -2;
    if (w->sesstime[0] != '\0' && strlen(w->sesstime) == n && memcmp(s, w->sesstime, n) == 0)
        return -3;
    return -1;
}

/* 1 when "-<known key>-" starts at <p>. */
static int is_known_pair_at(const char *p, const struct user_params_words *w)
{
    if (p[0] != '-')
        return 0;
    const char *k = p + 1;
    const char *dash = strchr(k, '-');
    return dash != NULL && dash > k && key_of(k, (size_t)(dash - k), w) != -1;
}

size_t user_params_norm(enum user_label l, const char *in, size_t len, char *out, size_t out_len)
{
    if (out_len == 0)
        return 0;
    if (l == USER_LABEL_ASN && len >= 2 && (in[0] == 'a' || in[0] == 'A') &&
        (in[1] == 's' || in[1] == 'S')) {
        in += 2;
        len -= 2;
    }
    size_t o = 0;
    for (size_t i = 0; i < len && o + 1 < out_len; i++) {
        char c = in[i];
        if (c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        else if (c == ' ' || c == '-')
            c = '_';
        out[o++] = c;
    }
    out[o] = '\0';
    return o;
}

/* Checks and stores value <v> of <n> bytes for key <key> (key_of()). */
static int set_value(struct user_params *out, int key, const char *v, size_t n,
                     const struct user_params_words *w, struct pf_err *err)
{
    const char *name = key >= 0 ? label_names[key] : key == -2 ? w->session : w->sesstime;
    if (n == 0)
        return pf_err_set(err, PF_EINVAL, "%s: empty value", name);
    if (n > USER_PARAMS_VALUE_LEN)
        return pf_err_set(err, PF_EINVAL, "%s: value longer than %d characters", name,
                          USER_PARAMS_VALUE_LEN);
    for (size_t i = 0; i < n; i++)
        if (!is_value_char(v[i]))
            return pf_err_set(err, PF_EINVAL, "%s: value may hold only A-Z a-z 0-9 _ .", name);
    if (key == -2) {
        if (out->session[0] != '\0')
            return pf_err_set(err, PF_EINVAL, "%s given twice", name);
        memcpy(out->session, v, n);
        out->session[n] = '\0';
        return PF_OK;
    }
    if (key == -3) {
        if (out->sesstime_min != 0)
            return pf_err_set(err, PF_EINVAL, "%s given twice", name);
        int minutes = 0;
        if (!is_digits(v, n) || n > 4 || (minutes = atoi_n(v, n)) < 1 || minutes > 1440)
            return pf_err_set(err, PF_EINVAL, "%s: minutes 1..1440", name);
        out->sesstime_min = minutes;
        return PF_OK;
    }
    if (out->label_mask & (1u << key))
        return pf_err_set(err, PF_EINVAL, "%s given twice", name);
    if (key == USER_LABEL_TIER && (!is_digits(v, n) || n > 2 || atoi_n(v, n) > 15))
        return pf_err_set(err, PF_EINVAL, "tier: 0..15");
    if (key == USER_LABEL_ASN) {
        size_t skip = n > 2 && (v[0] == 'a' || v[0] == 'A') && (v[1] == 's' || v[1] == 'S') ? 2 : 0;
        if (!is_digits(v + skip, n - skip) || n - skip > 10)
            return pf_err_set(err, PF_EINVAL, "asn: digits, optionally after AS");
    }
    if (key == USER_LABEL_TIER)     /* "01" is tier 1, as the pool spells it */
        snprintf(out->label[key], sizeof(out->label[key]), "%d", atoi_n(v, n));
    else
        user_params_norm((enum user_label)key, v, n, out->label[key], sizeof(out->label[key]));
    out->label_mask |= 1u << key;
    return PF_OK;
}

/* Quotes unknown key <k> of <n> bytes in the reason when it is short and
 * plain, else leaves it out: never echo arbitrary client bytes. */
static int unknown_key(const char *k, size_t n, struct pf_err *err)
{
    int is_plain = n > 0 && n <= 16;
    for (size_t i = 0; is_plain && i < n; i++)
        is_plain = is_word_char(k[i]);
    if (is_plain)
        return pf_err_set(err, PF_EINVAL, "unknown parameter %.*s", (int)n, k);
    return pf_err_set(err, PF_EINVAL, "unknown parameter");
}

int user_params_parse(const char *user, const struct user_params_words *w,
                      struct user_params *out, struct pf_err *err)
{
    memset(out, 0, sizeof(*out));
    /* the base ends at the first "-<known key>-" */
    const char *p = user;
    while (*p != '\0' && !is_known_pair_at(p, w))
        p++;
    size_t base_len = (size_t)(p - user);
    if (base_len >= sizeof(out->base_user))
        return pf_err_set(err, PF_EINVAL, "user name too long");
    if (base_len == 0 && *p != '\0')
        return pf_err_set(err, PF_EINVAL, "parameters without a user name");
    memcpy(out->base_user, user, base_len);
    out->base_user[base_len] = '\0';
    int rc = PF_OK;
    while (rc == PF_OK && *p != '\0') {
        /* here *p == '-': either the base's end or the previous value's */
        const char *k = p + 1;
        size_t kn = strcspn(k, "-");
        int key = k[kn] == '-' ? key_of(k, kn, w) : -1;
        if (key == -1) {
            rc = unknown_key(k, kn, err);
            break;
        }
        const char *v = k + kn + 1;
        size_t vn = strcspn(v, "-");
        rc = set_value(out, key, v, vn, w, err);
        p = v + vn;
    }
    if (rc == PF_OK && out->sesstime_min != 0 && out->session[0] == '\0')
        rc = pf_err_set(err, PF_EINVAL, "%s without %s", w->sesstime, w->session);
    if (rc != PF_OK) {
        /* keep nothing half-parsed, but the base (the access log names the user) */
        char base[USER_PARAMS_USER_MAX];
        memcpy(base, out->base_user, sizeof(base));
        memset(out, 0, sizeof(*out));
        memcpy(out->base_user, base, sizeof(base));
    }
    return rc;
}

void user_params_format_filter(const struct user_params *p, char *buf, size_t len)
{
    size_t o = 0;
    if (len == 0)
        return;
    buf[0] = '\0';
    for (int l = 0; l < USER_LABEL_COUNT; l++) {
        if (!(p->label_mask & (1u << l)))
            continue;
        int n = snprintf(buf + o, len - o, "%s%s=%s", o > 0 ? " " : "", label_names[l],
                         p->label[l]);
        if (n < 0 || (size_t)n >= len - o)
            return;
        o += (size_t)n;
    }
}
