/* The "node" section of the config; see conf_node.h. */
#include "conf_node.h"

#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>

#include "addr.h"

/* ---- node.users[] ------------------------------------------------------- */

/* Basic auth splits "user:pass" at the first colon. */
static int check_user_name(void *base, char *value, struct pf_err *err)
{
    (void)base;
    if (strchr(value, ':') != NULL)
        return pf_err_set(err, PF_EINVAL, "must not contain ':'");
    return PF_OK;
}

static int user_finish(void *base, const struct conf_obj *obj, struct pf_err *err)
{
    const struct conf_user *u = base;
    for (int j = 1; j <= obj->index; j++) {
        if (strcmp(u[-j].user, u->user) == 0)
            return pf_err_set(err, PF_EINVAL, "%s: duplicate user", obj->path);
    }
    return PF_OK;
}

static const struct conf_key user_keys[] = {
    CONF_STR(struct conf_user, "user", user, CONF_F_NONEMPTY | CONF_F_REQUIRED, NULL,
             check_user_name),
    CONF_SECRET(struct conf_user, "pass", pass, CONF_F_REQUIRED, NULL),
    /* the bounds of user_record.h: the same limits as a Redis user's */
    CONF_INT(struct conf_user, "max_conns", max_conns, 0, 1000000, 0),
    CONF_INT(struct conf_user, "max_rps", max_rps, 0, 1000000, 0),
    CONF_INT(struct conf_user, "bytes_per_day", bytes_per_day, 0, INT64_C(1) << 53, 0),
    CONF_INT(struct conf_user, "bytes_per_month", bytes_per_month, 0, INT64_C(1) << 53, 0),
};
static const struct conf_table user_table =
    CONF_TABLE(user_keys, struct conf_user, NULL, user_finish);

/* ---- node.ban_rules[] ---------------------------------------------------- */

/* "status": one status (403) or a list of 1..16 ([403, 429]), each
 * 100..599. */
static int rule_status(void *base, const cJSON *item, const char *path, struct pf_err *err)
{
    struct conf_ban_rule *r = base;
    int64_t v = 0;
    r->nstatus = 0;
    if (cJSON_IsNumber(item)) {
        if (conf_schema_int(item, 100, 599, &v, err) != PF_OK) {
            pf_err_prefix(err, "%s: ", path);
            return PF_EINVAL;
        }
        r->status[r->nstatus++] = (int)v;
        return PF_OK;
    }
    if (!cJSON_IsArray(item) || cJSON_GetArraySize(item) == 0)
        return pf_err_set(err, PF_EINVAL, "%s: must be a status or a list of statuses (100..599)",
                          path);
    if (cJSON_GetArraySize(item) > CONF_BAN_RULE_STATUS_MAX)
        return pf_err_set(err, PF_EINVAL, "%s: more than %d statuses", path,
                          CONF_BAN_RULE_STATUS_MAX);
    const cJSON *e;
    cJSON_ArrayForEach(e, item) {
        if (conf_schema_int(e, 100, 599, &v, err) != PF_OK) {
            pf_err_prefix(err, "%s[%d]: ", path, r->nstatus);
            r->nstatus = 0;
            return PF_EINVAL;
        }
        r->status[r->nstatus++] = (int)v;
    }
    return PF_OK;
}

/* "body_contains": printable ASCII or UTF-8, no control characters; kept
 * lowercased (matched ignoring ASCII case). */
static int check_rule_text(void *base, char *value, struct pf_err *err)
{
    (void)base;
    for (char *p = value; *p != '\0'; p++) {
        unsigned char ch = (unsigned char)*p;
        if (ch < 0x20 || ch == 0x7f)
            return pf_err_set(err, PF_EINVAL, "must not contain control characters");
        if (ch >= 'A' && ch <= 'Z')
            *p = (char)(ch - 'A' + 'a');
    }
    return PF_OK;
}

static int rule_finish(void *base, const struct conf_obj *obj, struct pf_err *err)
{
    const struct conf_ban_rule *r = base;
    if (r->nstatus == 0 && r->body_contains[0] == '\0')
        return pf_err_set(err, PF_EINVAL, "%s: needs \"status\" or \"body_contains\" "
                          "(a rule matching every response would ban every upstream)", obj->path);
    return PF_OK;
}

static const struct conf_key rule_keys[] = {
    CONF_HOOK("status", 0, rule_status),
    CONF_STR(struct conf_ban_rule, "body_contains", body_contains, 0, NULL, check_rule_text),
    CONF_INT(struct conf_ban_rule, "ttl_s", ttl_s, 1, 30 * 86400, 3600),
    CONF_STR(struct conf_ban_rule, "reason", reason, 0, NULL, conf_check_printable),
};
static const struct conf_table rule_table =
    CONF_TABLE(rule_keys, struct conf_ban_rule, NULL, rule_finish);

/* ---- node ----------------------------------------------------------------- */

static const struct conf_choice node_modes[] = {
    { "pool", CONF_NODE_POOL },
    { "direct", CONF_NODE_DIRECT },
    { NULL, 0 },
};

static const struct conf_choice node_strategies[] = {
    { "round_robin", CONF_STRATEGY_ROUND_ROBIN },
    { "random", CONF_STRATEGY_RANDOM },
    { "least_conn", CONF_STRATEGY_LEAST_CONN },
    { "weighted", CONF_STRATEGY_WEIGHTED },
    { "rotate", CONF_STRATEGY_ROTATE },
    { NULL, 0 },
};

/* CONNECT only to the web's ports unless configured. */
static const uint16_t node_connect_ports[] = { 443, 80, 8080, 8443, 0 };

/* An HTTP field name (RFC 9110 token): node.sticky_header and
 * node.upstream_header. The node strips or writes this header, so a name that frames the message or that the proxy itself
 * interprets is refused: stripping Content-Length while framing the body
 * by it would desynchronise the upstream (request smuggling). */
static int check_header_name(void *base, char *value, struct pf_err *err)
{
    static const char *const reserved[] = {
        "content-length", "transfer-encoding", "host", "connection", "proxy-connection",
        "keep-alive", "te", "trailer", "upgrade", "proxy-authorization", "proxy-authenticate",
        "expect",
    };
    (void)base;
    for (const char *p = value; *p != '\0'; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '-' || *p == '_' || *p == '.'))
            return pf_err_set(err, PF_EINVAL, "not a header name");
    for (size_t i = 0; i < PF_ARRAY_LEN(reserved); i++)
        if (strcasecmp(value, reserved[i]) == 0)
            return pf_err_set(err, PF_EINVAL, "%s frames or controls the request; "
                              "pick a header of your own (e.g. X-Session)", value);
    return PF_OK;
}

static int check_ip_address(void *base, char *value, struct pf_err *err)
{
    struct conf_cidr c;
    (void)base;
    if (strchr(value, '/') != NULL || addr_cidr_parse(value, &c, NULL) != PF_OK)
        return pf_err_set(err, PF_EINVAL, "must be an IP address");
    return PF_OK;
}

/* "access_log": "stderr" or an absolute file path ("" = off). */
static int check_access_log(void *base, char *value, struct pf_err *err)
{
    (void)base;
    if (strcmp(value, "stderr") != 0 && value[0] != '/')
        return pf_err_set(err, PF_EINVAL, "must be \"stderr\" or an absolute path");
    return PF_OK;
}

static void node_init(void *base)
{
    struct conf_node *n = base;
    conf_default_id(n->id, sizeof(n->id));
}

static int node_finish(void *base, const struct conf_obj *obj, struct pf_err *err)
{
    const struct conf_node *n = base;
    if (n->eject_max_ms < n->eject_base_ms)
        return pf_err_set(err, PF_EINVAL, "%s.eject_max_ms: must be >= eject_base_ms (%d)",
                          obj->path, n->eject_base_ms);
    for (int i = 0; i < n->nban_rules; i++)
        if (strlen(n->ban_rules[i].body_contains) > (size_t)n->body_peek_bytes)
            return pf_err_set(err, PF_EINVAL, "%s.ban_rules[%d].body_contains: longer than "
                              "body_peek_bytes (%d): it could never match", obj->path, i,
                              n->body_peek_bytes);
    return PF_OK;
}

/* node.admin_token: a Bearer token, 16..127 printable characters without
 * spaces, or "" (the ban API is off). The reason never quotes it. */
static int check_admin_token(void *base, char *value, struct pf_err *err)
{
    (void)base;
    size_t len = strlen(value);
    int ok = len == 0 || len >= 16;
    for (size_t i = 0; i < len && ok; i++)
        ok = value[i] > 0x20 && value[i] < 0x7f;
    return ok ? PF_OK : pf_err_set(err, PF_EINVAL, "must be \"\" (off) or 16..127 printable "
                                   "characters without spaces");
}

#define N struct conf_node
static const struct conf_key node_keys[] = {
    CONF_NAME(N, "id", id, 0),
    CONF_LISTEN(N, "listen", listen, CONF_F_NONEMPTY, "127.0.0.1:3128"),
    CONF_LISTEN(N, "admin_listen", admin_listen, 0, "127.0.0.1:3180"),
    CONF_SECRET(N, "admin_token", admin_token, 0, check_admin_token),
    CONF_LISTEN(N, "socks5_listen", socks5_listen, 0, NULL),
    CONF_CHOICE(N, "mode", mode, 0, node_modes, CONF_NODE_POOL),
    CONF_CHOICE(N, "strategy", strategy, 0, node_strategies, CONF_STRATEGY_ROUND_ROBIN),
    CONF_INT(N, "max_clients", max_clients, 1, 1000000, 4096),
    CONF_INT(N, "connect_timeout_ms", connect_timeout_ms, 1, 600000, 5000),
    CONF_INT(N, "header_timeout_ms", header_timeout_ms, 1, 600000, 10000),
    CONF_INT(N, "idle_timeout_ms", idle_timeout_ms, 1, 86400000, 300000),
    CONF_INT(N, "response_timeout_ms", response_timeout_ms, 0, 86400000, 30000),
    CONF_INT(N, "max_header_bytes", max_header_bytes, 1024, 1048576, 32768),
    CONF_INT(N, "retries", retries, 0, 10, 2),
    CONF_INT(N, "report_interval_ms", report_interval_ms, 10, 600000, 2000),
    CONF_INT(N, "resync_spread_ms", resync_spread_ms, 0, 600000, 2000),
    CONF_BOOL(N, "allow_private_destinations", is_private_dest_allowed, 0),
    CONF_CIDRS(N, "destination_allow", dest_allow, ndest_allow),
    CONF_POLICY(N, "upstream_allow_private", upstream_policy),
    CONF_ARRAY(N, "users", users, nusers, CONF_USERS_MAX, "users", &user_table),
    CONF_BOOL(N, "allow_anonymous", is_anonymous_allowed, 0),
    CONF_BOOL(N, "redis_users", is_redis_users, 0),
    CONF_INT(N, "rotate_interval_s", rotate_interval_s, 0, 86400, 60),
    CONF_STR(N, "sticky_header", sticky_header, 0, NULL, check_header_name),
    CONF_STR(N, "session_tag", session_tag, 0, "-session-", NULL),
    CONF_STR(N, "session_time_tag", session_time_tag, CONF_F_NONEMPTY, "-sesstime-", NULL),
    CONF_INT(N, "eject_consecutive_failures", eject_consecutive_failures, 0, 1000, 5),
    CONF_INT(N, "eject_base_ms", eject_base_ms, 1, 3600000, 10000),
    CONF_INT(N, "eject_max_ms", eject_max_ms, 1, 86400000, 300000),
    CONF_BOOL(N, "eject_panic", is_eject_panic, 0),
    CONF_BOOL(N, "label_fallback", is_label_fallback, 0),
    CONF_STR(N, "upstream_header", upstream_header, 0, NULL, check_header_name),
    CONF_ARRAY(N, "ban_rules", ban_rules, nban_rules, CONF_BAN_RULES_MAX, "rules", &rule_table),
    CONF_INT(N, "body_peek_bytes", body_peek_bytes, 1, 65536, 8192),
    CONF_CIDRS(N, "client_allow", client_allow, nclient_allow),
    CONF_PORTS(N, "connect_ports", connect_ports, nconnect_ports, node_connect_ports),
    CONF_INT(N, "drain_grace_ms", drain_grace_ms, 0, 3600000, 10000),
    CONF_STR(N, "source_address", source_address, 0, NULL, check_ip_address),
    CONF_PATH(N, "snapshot_file", snapshot_file, 0),
    CONF_STR(N, "access_log", access_log, 0, NULL, check_access_log),
    CONF_PATH(N, "upstream_ca_file", upstream_ca_file, 0),
    CONF_BOOL(N, "upstream_tls_verify", is_upstream_tls_verified, 1),
    CONF_INT(N, "reuse_max_idle_ms", reuse_max_idle_ms, 1, 3600000, 10000),
    CONF_INT(N, "reuse_max_idle_per_upstream", reuse_max_idle_per_upstream, 0, 1024, 8),
    CONF_INT(N, "reuse_max_idle_total", reuse_max_idle_total, 0, 100000, 256),
    CONF_NUM(N, "preconnect_ratio", preconnect_ratio, 0, 0, 64, 0),
    CONF_INT(N, "preconnect_max", preconnect_max, 0, 100000, 64),
    CONF_INT(N, "preconnect_max_idle_ms", preconnect_max_idle_ms, 100, 3600000, 15000),
};
#undef N

const struct conf_table conf_node_table =
    CONF_TABLE(node_keys, struct conf_node, node_init, node_finish);
