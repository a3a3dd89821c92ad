#include "keys.h"

#include <stdio.h>
#include <string.h>

static int keys_valid_token(const char *s, size_t max)
{
    size_t n = 0;
    if (s == NULL || *s == '\0')
        return 0;
    for (; s[n] != '\0'; n++) {
        char c = s[n];
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                 (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.';
        if (!ok || n >= max)
            return 0;
    }
    return 1;
}

int keys_valid_name(const char *name)
{
    return keys_valid_token(name, 63);
}

static int keys_join(char *buf, size_t len, const char *base, const char *suffix)
{
    int n = snprintf(buf, len, "%s:%s", base, suffix);
    return (n < 0 || (size_t)n >= len) ? PF_ERANGE : PF_OK;
}

int keys_init(struct keys *k, const char *prefix, struct pf_err *err)
{
    memset(k, 0, sizeof(*k));
    if (!keys_valid_token(prefix, KEYS_PREFIX_MAX))
        return pf_err_set(err, PF_EINVAL,
                          "redis prefix must be 1..%d chars of [A-Za-z0-9_.-]", KEYS_PREFIX_MAX);
    snprintf(k->base, sizeof(k->base), "{%s}:v1", prefix);
    /* Fixed suffixes: they always fit, since the base is bounded. */
    (void)!keys_join(k->pool_meta, sizeof(k->pool_meta), k->base, "pool:meta");
    (void)!keys_join(k->pool_upstreams, sizeof(k->pool_upstreams), k->base, "pool:upstreams");
    (void)!keys_join(k->pool_expiry, sizeof(k->pool_expiry), k->base, "pool:expiry");
    (void)!keys_join(k->pool_channel, sizeof(k->pool_channel), k->base, "pool:events");
    (void)!keys_join(k->pool_log, sizeof(k->pool_log), k->base, "pool:log");
    (void)!keys_join(k->providers, sizeof(k->providers), k->base, "providers");
    (void)!keys_join(k->nodes, sizeof(k->nodes), k->base, "nodes");
    (void)!keys_join(k->controller, sizeof(k->controller), k->base, "controller");
    (void)!keys_join(k->controller_lease, sizeof(k->controller_lease), k->base, "controller:lease");
    (void)!keys_join(k->health, sizeof(k->health), k->base, "health");
    (void)!keys_join(k->bans, sizeof(k->bans), k->base, "bans");
    (void)!keys_join(k->bans_expiry, sizeof(k->bans_expiry), k->base, "bans:expiry");
    (void)!keys_join(k->bans_channel, sizeof(k->bans_channel), k->base, "bans:events");
    (void)!keys_join(k->users, sizeof(k->users), k->base, "users");
    (void)!keys_join(k->users_version, sizeof(k->users_version), k->base, "users:version");
    return PF_OK;
}

static int keys_named(const struct keys *k, const char *kind, const char *name,
                      char *buf, size_t len)
{
    if (!keys_valid_name(name))
        return PF_EINVAL;
    int n = snprintf(buf, len, "%s:%s:%s", k->base, kind, name);
    return (n < 0 || (size_t)n >= len) ? PF_ERANGE : PF_OK;
}

int keys_provider(const struct keys *k, const char *name, char *buf, size_t len)
{
    return keys_named(k, "provider", name, buf, len);
}

int keys_node(const struct keys *k, const char *node_id, char *buf, size_t len)
{
    return keys_named(k, "node", node_id, buf, len);
}

int keys_node_upstreams(const struct keys *k, const char *node_id, char *buf, size_t len)
{
    if (!keys_valid_name(node_id))
        return PF_EINVAL;
    int n = snprintf(buf, len, "%s:node:%s:upstreams", k->base, node_id);
    return (n < 0 || (size_t)n >= len) ? PF_ERANGE : PF_OK;
}

int keys_valid_user(const char *user)
{
    size_t n = strlen(user);
    if (n == 0 || n > 64)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = user[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == '@' || c == '-'))
            return 0;
    }
    return 1;
}

/* "{pf}:v1:usage:<user>:<what>[:<period>]" with <period> of <digits> digits. */
static int keys_usage(const struct keys *k, const char *user, const char *what,
                      const char *period, size_t digits, char *buf, size_t len)
{
    if (!keys_valid_user(user))
        return PF_EINVAL;
    if (period != NULL) {
        if (strlen(period) != digits)
            return PF_EINVAL;
        for (size_t i = 0; i < digits; i++)
            if (period[i] < '0' || period[i] > '9')
                return PF_EINVAL;
    }
    int n = period != NULL ? snprintf(buf, len, "%s:usage:%s:%s:%s", k->base, user, what, period)
                           : snprintf(buf, len, "%s:usage:%s:%s", k->base, user, what);
    return (n < 0 || (size_t)n >= len) ? PF_ERANGE : PF_OK;
}

int keys_user_day(const struct keys *k, const char *user, const char *day, char *buf, size_t len)
{
    return keys_usage(k, user, "day", day, 8, buf, len);
}

int keys_user_month(const struct keys *k, const char *user, const char *month, char *buf,
                    size_t len)
{
    return keys_usage(k, user, "month", month, 6, buf, len);
}

int keys_user_live(const struct keys *k, const char *user, char *buf, size_t len)
{
    return keys_usage(k, user, "live", NULL, 0, buf, len);
}
