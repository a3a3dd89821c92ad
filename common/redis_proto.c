/* Redis and Sentinel replies read from bytes; see redis_proto.h. */
#include "redis_proto.h"

#include <stdio.h>
#include <string.h>

#include "addr.h"
#include "upstream-t.h"

/* 1 when <len> bytes at <s> start with <word> followed by the end or a
 * space (Redis error codes are the first word of the text). */
static int redis_proto_starts_word(const char *s, size_t len, const char *word)
{
    size_t n = strlen(word);
    return len >= n && memcmp(s, word, n) == 0 && (len == n || s[n] == ' ');
}

/* 1 when <len> bytes at <s> start with <prefix>. */
static int redis_proto_starts(const char *s, size_t len, const char *prefix)
{
    size_t n = strlen(prefix);
    return len >= n && memcmp(s, prefix, n) == 0;
}

enum redis_proto_error redis_proto_error_class(const char *s, size_t len)
{
    if (s == NULL)
        return REDIS_PROTO_ERR_OTHER;
    if (redis_proto_starts_word(s, len, "WRONGPASS") || redis_proto_starts_word(s, len, "NOAUTH") ||
        /* Redis < 6 */
        redis_proto_starts(s, len, "ERR invalid password") ||
        /* AUTH sent to a server without requirepass (or a user given to
         * one without ACLs) */
        redis_proto_starts(s, len, "ERR AUTH ") ||
        redis_proto_starts(s, len, "ERR Client sent AUTH"))
        return REDIS_PROTO_ERR_AUTH;
    if (redis_proto_starts_word(s, len, "READONLY"))
        return REDIS_PROTO_ERR_READONLY;
    return REDIS_PROTO_ERR_OTHER;
}

static int redis_proto_eq(const char *s, size_t len, const char *word)
{
    return len == strlen(word) && memcmp(s, word, len) == 0;
}

enum redis_proto_role redis_proto_role(const char *s, size_t len)
{
    if (s == NULL)
        return REDIS_PROTO_ROLE_UNKNOWN;
    if (redis_proto_eq(s, len, "master"))
        return REDIS_PROTO_ROLE_MASTER;
    if (redis_proto_eq(s, len, "slave") || redis_proto_eq(s, len, "replica"))
        return REDIS_PROTO_ROLE_REPLICA;
    if (redis_proto_eq(s, len, "sentinel"))
        return REDIS_PROTO_ROLE_SENTINEL;
    return REDIS_PROTO_ROLE_UNKNOWN;
}

const char *redis_proto_role_name(enum redis_proto_role role)
{
    switch (role) {
    case REDIS_PROTO_ROLE_MASTER:   return "master";
    case REDIS_PROTO_ROLE_REPLICA:  return "replica";
    case REDIS_PROTO_ROLE_SENTINEL: return "sentinel";
    case REDIS_PROTO_ROLE_UNKNOWN:  break;
    }
    return "unknown";
}

int redis_proto_master_addr(const char *host, size_t hlen, const char *port, size_t plen,
                            char *out_host, size_t out_len, uint16_t *out_port,
                            struct pf_err *err)
{
    char hostport[UPSTREAM_HOST_MAX + 16];
    struct pf_err aerr;
    int is_v6 = 0;

    if (out_len > 0)
        out_host[0] = '\0';
    if (host == NULL || hlen == 0)
        return pf_err_set(err, PF_EINVAL, "empty master host");
    if (hlen >= UPSTREAM_HOST_MAX || hlen >= out_len)
        return pf_err_set(err, PF_EINVAL, "master host too long");
    if (port == NULL || plen == 0 || plen > 5)
        return pf_err_set(err, PF_EINVAL, "master port must be 1..65535");
    for (size_t i = 0; i < plen; i++)
        if (port[i] < '0' || port[i] > '9')
            return pf_err_set(err, PF_EINVAL, "master port must be 1..65535");
    for (size_t i = 0; i < hlen; i++) {
        if (host[i] == ':')
            is_v6 = 1;
        if (host[i] == '[' || host[i] == ']' || host[i] == '\0')
            return pf_err_set(err, PF_EINVAL, "invalid master host");
    }
    snprintf(hostport, sizeof(hostport), "%s%.*s%s:%.*s", is_v6 ? "[" : "", (int)hlen, host,
             is_v6 ? "]" : "", (int)plen, port);
    if (addr_parse_hostport(hostport, out_host, out_len, out_port, &aerr) != PF_OK)
        return pf_err_set(err, PF_EINVAL, "master address: %s", aerr.msg);
    return PF_OK;
}

/* Splits <len> bytes at <s> into at most <max> words separated by single
 * spaces; returns the count, or -1 when there are more or one is empty. */
static int redis_proto_words(const char *s, size_t len, const char **w, size_t *wl, int max)
{
    int n = 0;
    size_t start = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i < len && s[i] != ' ')
            continue;
        if (i == start || n == max)
            return -1;
        w[n] = s + start;
        wl[n] = i - start;
        n++;
        start = i + 1;
    }
    return n;
}

int redis_proto_switch_master(const char *payload, size_t len, const char *master_name,
                              char *host, size_t host_len, uint16_t *port, struct pf_err *err)
{
    const char *w[5];
    size_t wl[5];

    if (host_len > 0)
        host[0] = '\0';
    if (payload == NULL || len == 0)
        return pf_err_set(err, PF_EINVAL, "empty switch-master message");
    if (redis_proto_words(payload, len, w, wl, 5) != 5)
        return pf_err_set(err, PF_EINVAL, "switch-master message is not "
                          "\"<name> <old-ip> <old-port> <new-ip> <new-port>\"");
    if (!redis_proto_eq(w[0], wl[0], master_name))
        return PF_ENOENT;
    if (redis_proto_master_addr(w[3], wl[3], w[4], wl[4], host, host_len, port, err) != PF_OK) {
        pf_err_prefix(err, "switch-master: ");
        return PF_EINVAL;
    }
    return PF_OK;
}
