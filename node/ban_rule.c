/* Response rules; see ban_rule.h. */
#include "ban_rule.h"

#include <stdio.h>
#include <string.h>

static int has_status(const struct conf_ban_rule *r, int status)
{
    if (r->nstatus == 0)
        return 1;
    for (int i = 0; i < r->nstatus; i++)
        if (r->status[i] == status)
            return 1;
    return 0;
}

unsigned ban_rule_wants(const struct conf_node *cn, int status)
{
    unsigned w = 0;
    for (int i = 0; i < cn->nban_rules; i++) {
        const struct conf_ban_rule *r = &cn->ban_rules[i];
        if (has_status(r, status))
            w |= r->body_contains[0] != '\0' ? BAN_RULE_BODY : BAN_RULE_STATUS;
    }
    return w;
}

static unsigned char lower(unsigned char ch)
{
    return ch >= 'A' && ch <= 'Z' ? (unsigned char)(ch - 'A' + 'a') : ch;
}

/* 1 when <hay> (<len> bytes) contains <needle> (lowercase, NUL-terminated)
 * ignoring ASCII case. A plain scan: the needle is short and the body
 * bounded by body_peek_bytes (64 KiB at most), on responses a rule holds. */
static int contains_nocase(const char *hay, size_t len, const char *needle)
{
    size_t n = strlen(needle);
    if (n == 0)
        return 1;
    if (n > len)
        return 0;
    unsigned char first = (unsigned char)needle[0];
    for (size_t i = 0; i + n <= len; i++) {
        if (lower((unsigned char)hay[i]) != first)
            continue;
        size_t j = 1;
        while (j < n && lower((unsigned char)hay[i + j]) == (unsigned char)needle[j])
            j++;
        if (j == n)
            return 1;
    }
    return 0;
}

int ban_rule_match(const struct conf_node *cn, int status, const char *body, size_t len)
{
    for (int i = 0; i < cn->nban_rules; i++) {
        const struct conf_ban_rule *r = &cn->ban_rules[i];
        if (has_status(r, status) && contains_nocase(body, len, r->body_contains))
            return i;
    }
    return -1;
}

int ban_rule_ban(const struct conf_node *cn, int index, const char *sid, const char *host,
                 int64_t now_ms, struct ban *out, struct pf_err *err)
{
    const struct conf_ban_rule *r = &cn->ban_rules[index];
    memset(out, 0, sizeof(*out));
    if (ban_domain_norm(host, strlen(host), out->domain, err) != PF_OK)
        return PF_EINVAL;
    snprintf(out->upstream, sizeof(out->upstream), "%s", sid);
    out->created_at_ms = now_ms;
    out->expires_at_ms = now_ms + (int64_t)r->ttl_s * 1000;
    if (r->reason[0] != '\0')
        snprintf(out->reason, sizeof(out->reason), "%s", r->reason);
    else
        snprintf(out->reason, sizeof(out->reason), "rule %d", index);
    return PF_OK;
}
