/* Generations of the node's settings; see conf_gen.h. */
#include "conf_gen.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct conf_gen *conf_gen_create(const struct conf_node *cn, uint64_t id)
{
    struct conf_gen *g = calloc(1, sizeof(*g));
    if (g == NULL)
        return NULL;
    g->node = *cn;
    g->node.users = NULL;
    g->node.nusers = 0;
    if (cn->nusers > 0) {
        g->node.users = malloc(sizeof(*cn->users) * (size_t)cn->nusers);
        if (g->node.users == NULL) {
            free(g);
            return NULL;
        }
        memcpy(g->node.users, cn->users, sizeof(*cn->users) * (size_t)cn->nusers);
        g->node.nusers = cn->nusers;
    }
    g->node.ban_rules = NULL;
    g->node.nban_rules = 0;
    if (cn->nban_rules > 0) {
        g->node.ban_rules = malloc(sizeof(*cn->ban_rules) * (size_t)cn->nban_rules);
        if (g->node.ban_rules == NULL) {
            free(g->node.users);
            free(g);
            return NULL;
        }
        memcpy(g->node.ban_rules, cn->ban_rules, sizeof(*cn->ban_rules) * (size_t)cn->nban_rules);
        g->node.nban_rules = cn->nban_rules;
    }
    g->refs = 1;
    g->id = id;
    return g;
}

struct conf_gen *conf_gen_get(struct conf_gen *g)
{
    g->refs++;
    return g;
}

void conf_gen_put(struct conf_gen *g)
{
    if (g == NULL || --g->refs > 0)
        return;
    if (g->node.users != NULL)
        memset(g->node.users, 0, sizeof(*g->node.users) * (size_t)g->node.nusers);
    free(g->node.users);
    free(g->node.ban_rules);
    free(g);
}

/* One key of the file: where its value sits in struct conf. A string is
 * compared up to its NUL; other fields byte for byte (numbers, and arrays
 * of padding-free structs whose unused slots both sides leave as
 * conf_init_defaults() or the parse left them: equal JSON, equal bytes). */
struct gen_key {
    const char *name;
    size_t      off;
    size_t      size;
    int         is_string;
};

#define KEY(name, member) \
    { name, offsetof(struct conf, member), sizeof(((struct conf *)0)->member), 0 }
#define KEY_STR(name, member) \
    { name, offsetof(struct conf, member), sizeof(((struct conf *)0)->member), 1 }

/* Restart-only: sockets bound, modules built or state kept at start. */
static const struct gen_key restart_node_keys[] = {
    KEY_STR("node.id", node.id),
    KEY_STR("node.listen", node.listen),
    KEY_STR("node.admin_listen", node.admin_listen),
    KEY_STR("node.socks5_listen", node.socks5_listen),
    KEY("node.mode", node.mode),
    KEY("node.report_interval_ms", node.report_interval_ms),
    KEY("node.resync_spread_ms", node.resync_spread_ms),
    KEY_STR("node.snapshot_file", node.snapshot_file),
    KEY("node.upstream_allow_private", node.upstream_policy),
    KEY_STR("node.upstream_ca_file", node.upstream_ca_file),
    KEY("node.upstream_tls_verify", node.is_upstream_tls_verified),
};

static const struct gen_key restart_redis_keys[] = {
    KEY_STR("redis.url", redis.url),
    KEY_STR("redis.prefix", redis.prefix),
    KEY("redis.connect_timeout_ms", redis.connect_timeout_ms),
    KEY("redis.command_timeout_ms", redis.command_timeout_ms),
    KEY_STR("redis.credential_key_file", redis.credential_key_file),
    KEY("node.redis_users", node.is_redis_users),
    KEY("redis.sentinels", redis.sentinels),
    KEY("redis.sentinels", redis.nsentinels),
    KEY_STR("redis.master_name", redis.master_name),
    KEY_STR("redis.sentinel_user", redis.sentinel_user),
    KEY_STR("redis.sentinel_password", redis.sentinel_password),
};

/* Reloaded (node.users and node.ban_rules are compared apart: owned arrays). */
static const struct gen_key reload_keys[] = {
    KEY_STR("log.level", log_level),
    KEY_STR("log.format", log_format),
    KEY("node.strategy", node.strategy),
    KEY("node.max_clients", node.max_clients),
    KEY("node.connect_timeout_ms", node.connect_timeout_ms),
    KEY("node.header_timeout_ms", node.header_timeout_ms),
    KEY("node.idle_timeout_ms", node.idle_timeout_ms),
    KEY("node.response_timeout_ms", node.response_timeout_ms),
    KEY("node.max_header_bytes", node.max_header_bytes),
    KEY("node.retries", node.retries),
    KEY("node.allow_private_destinations", node.is_private_dest_allowed),
    KEY("node.destination_allow", node.dest_allow),
    KEY("node.destination_allow", node.ndest_allow),
    KEY("node.allow_anonymous", node.is_anonymous_allowed),
    KEY("node.rotate_interval_s", node.rotate_interval_s),
    KEY_STR("node.sticky_header", node.sticky_header),
    KEY_STR("node.session_tag", node.session_tag),
    KEY_STR("node.session_time_tag", node.session_time_tag),
    KEY("node.eject_consecutive_failures", node.eject_consecutive_failures),
    KEY("node.eject_base_ms", node.eject_base_ms),
    KEY("node.eject_max_ms", node.eject_max_ms),
    KEY("node.eject_panic", node.is_eject_panic),
    KEY("node.label_fallback", node.is_label_fallback),
    KEY_STR("node.upstream_header", node.upstream_header),
    KEY("node.body_peek_bytes", node.body_peek_bytes),
    KEY("node.client_allow", node.client_allow),
    KEY("node.client_allow", node.nclient_allow),
    KEY("node.connect_ports", node.connect_ports),
    KEY("node.connect_ports", node.nconnect_ports),
    KEY("node.drain_grace_ms", node.drain_grace_ms),
    KEY_STR("node.source_address", node.source_address),
    KEY_STR("node.access_log", node.access_log),
    KEY("node.reuse_max_idle_ms", node.reuse_max_idle_ms),
    KEY("node.reuse_max_idle_per_upstream", node.reuse_max_idle_per_upstream),
    KEY("node.reuse_max_idle_total", node.reuse_max_idle_total),
    KEY("node.preconnect_ratio", node.preconnect_ratio),
    KEY("node.preconnect_max", node.preconnect_max),
    KEY("node.preconnect_max_idle_ms", node.preconnect_max_idle_ms),
};

static int key_differs(const struct gen_key *k, const struct conf *a, const struct conf *b)
{
    const char *x = (const char *)a + k->off, *y = (const char *)b + k->off;
    return k->is_string ? strncmp(x, y, k->size) != 0 : memcmp(x, y, k->size) != 0;
}

/* Appends <name> to the list in <buf> unless it is the last one added
 * (a key split over two fields). */
static void list_add(char *buf, size_t len, const char *name, int *n, const char **last)
{
    if (*last != NULL && strcmp(*last, name) == 0)
        return;
    size_t used = strlen(buf);
    if (used < len)
        snprintf(buf + used, len - used, "%s%s", *n > 0 ? ", " : "", name);
    *last = name;
    (*n)++;
}

int conf_gen_restart_keys(const struct conf *running, const struct conf *next, char *buf,
                          size_t len)
{
    const char *last = NULL;
    int n = 0;
    if (len > 0)
        buf[0] = '\0';
    for (size_t i = 0; i < PF_ARRAY_LEN(restart_node_keys); i++)
        if (key_differs(&restart_node_keys[i], running, next))
            list_add(buf, len, restart_node_keys[i].name, &n, &last);
    for (size_t i = 0; i < PF_ARRAY_LEN(restart_redis_keys); i++)
        if (key_differs(&restart_redis_keys[i], running, next))
            list_add(buf, len, restart_redis_keys[i].name, &n, &last);
    return n;
}

static int users_differ(const struct conf_node *a, const struct conf_node *b)
{
    if (a->nusers != b->nusers)
        return 1;
    for (int i = 0; i < a->nusers; i++)
        if (strcmp(a->users[i].user, b->users[i].user) != 0 ||
            strcmp(a->users[i].pass, b->users[i].pass) != 0 ||
            a->users[i].max_conns != b->users[i].max_conns ||
            a->users[i].max_rps != b->users[i].max_rps ||
            a->users[i].bytes_per_day != b->users[i].bytes_per_day ||
            a->users[i].bytes_per_month != b->users[i].bytes_per_month)
            return 1;
    return 0;
}

/* Rules are padding-free and zeroed beyond what was parsed: equal JSON,
 * equal bytes. */
static int rules_differ(const struct conf_node *a, const struct conf_node *b)
{
    return a->nban_rules != b->nban_rules ||
           (a->nban_rules > 0 &&
            memcmp(a->ban_rules, b->ban_rules, sizeof(*a->ban_rules) * (size_t)a->nban_rules) != 0);
}

int conf_gen_changed_keys(const struct conf *running, const struct conf *next, char *buf,
                          size_t len)
{
    const char *last = NULL;
    int n = 0;
    if (len > 0)
        buf[0] = '\0';
    if (users_differ(&running->node, &next->node))
        list_add(buf, len, "node.users", &n, &last);
    if (rules_differ(&running->node, &next->node))
        list_add(buf, len, "node.ban_rules", &n, &last);
    for (size_t i = 0; i < PF_ARRAY_LEN(reload_keys); i++)
        if (key_differs(&reload_keys[i], running, next))
            list_add(buf, len, reload_keys[i].name, &n, &last);
    return n;
}

void conf_gen_keep_restart(struct conf *next, const struct conf *running)
{
    next->redis = running->redis;
    for (size_t i = 0; i < PF_ARRAY_LEN(restart_node_keys); i++) {
        const struct gen_key *k = &restart_node_keys[i];
        memcpy((char *)next + k->off, (const char *)running + k->off, k->size);
    }
}
