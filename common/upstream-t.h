/* Upstream proxy types: shared by the controller (which builds the pool)
 * and the node (which dials through it). */
#ifndef PF_UPSTREAM_T_H
#define PF_UPSTREAM_T_H

#include <stdint.h>

#define UPSTREAM_HOST_MAX  256   /* RFC 1035 name (253) or IPv6 literal, plus NUL */
#define UPSTREAM_CRED_MAX  256   /* percent-decoded user or password, plus NUL */
#define UPSTREAM_NAME_MAX  64    /* provider name, plus NUL */
#define UPSTREAM_ID_MAX    (16 + UPSTREAM_CRED_MAX + UPSTREAM_HOST_MAX + 8)
#define UPSTREAM_LABEL_MAX 64    /* one label value (UTF-8), plus NUL */
#define UPSTREAM_TIER_MAX  15    /* tiers 0 (primary) .. 15 */
#define UPSTREAM_TEMPLATE_MAX 256 /* user_template text, plus NUL (common/user_template.h) */

enum upstream_scheme {
    UPSTREAM_HTTP = 0,     /* HTTP proxy: CONNECT or absolute-form */
    UPSTREAM_HTTPS,        /* HTTP proxy spoken over TLS */
    UPSTREAM_SOCKS5,       /* SOCKS5, destination resolved locally */
    UPSTREAM_SOCKS5H,      /* SOCKS5, destination name resolved by the proxy */
};

enum upstream_host_kind {
    UPSTREAM_HOST_IPV4 = 0,
    UPSTREAM_HOST_IPV6,
    UPSTREAM_HOST_NAME,
};

/* Descriptive labels a provider gives an upstream, kept in the pool record
 * for targeting. Valid UTF-8 without control characters; "" = unknown. */
struct upstream_labels {
    char     country[UPSTREAM_LABEL_MAX];  /* as the provider spells it ("US", "DE") */
    char     city[UPSTREAM_LABEL_MAX];
    char     isp[UPSTREAM_LABEL_MAX];
    char     region[UPSTREAM_LABEL_MAX];
    char     asn[UPSTREAM_LABEL_MAX];      /* "4134" or "AS4134" */
};

struct upstream {
    enum upstream_scheme    scheme;
    enum upstream_host_kind host_kind;
    char     host[UPSTREAM_HOST_MAX];   /* IPv6 without brackets */
    uint16_t port;                      /* 1..65535 */
    char     user[UPSTREAM_CRED_MAX];   /* decoded; "" when none */
    char     pass[UPSTREAM_CRED_MAX];   /* decoded; "" when none; never logged */
    char     provider[UPSTREAM_NAME_MAX];
    int64_t  expires_at_ms;             /* wall clock; 0 = no expiry */
    uint32_t weight;                    /* selection weight, >= 1 */
    uint32_t latency_ms;                /* health-check EWMA; 0 = unknown */
    uint32_t tier;                      /* provider tier, 0 = primary .. UPSTREAM_TIER_MAX */
    struct upstream_labels labels;
    char     user_template[UPSTREAM_TEMPLATE_MAX]; /* gateway user name rendered per request
                                           (common/user_template.h); "" = send user as is */
    uint64_t digest;                    /* pool_digest_entry() as the node's pool keeps
                                         * it (pool_digest.h); not part of the record */
};

#endif
