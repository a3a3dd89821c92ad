/* Configuration types: the "redis", "log", "controller" and "node" sections
 * of the JSON file, as the binaries read them. Types only; parsing is in
 * conf.h, the schema in conf.c, conf_node.c and conf_controller.c. */
#ifndef PF_CONF_T_H
#define PF_CONF_T_H

#include <stddef.h>
#include <stdint.h>

#include "addr-t.h"
#include "redis_proto.h"
#include "redis_url.h"
#include "upstream-t.h"

struct pf_err;

#define CONF_ADDR_MAX     128    /* "host:port" of a listener */
#define CONF_URL_MAX      2048
#define CONF_USERS_MAX    256
#define CONF_FILE_PATH_MAX 1024   /* a file name in the config */

#define CONF_SENTINELS_MAX 16

/* One sentinel of redis.sentinels. */
struct conf_sentinel {
    char     host[UPSTREAM_HOST_MAX];   /* IPv6 without brackets */
    uint16_t port;
};

struct conf_redis {
    char     url[CONF_URL_MAX];       /* redis://[[user]:pass@]host[:port][/db] or
                                         unix://[[user]:pass@]/path[?db=N] (common/redis_url.h);
                                         default redis://127.0.0.1:6379/0 */
    char     host[UPSTREAM_HOST_MAX]; /* parsed from url; "" for unix:// */
    uint16_t port;
    int      db;
    char     password[UPSTREAM_CRED_MAX]; /* from url; never logged */
    char     user[UPSTREAM_CRED_MAX]; /* ACL user from url: AUTH user password; "" = AUTH password */
    char     unix_path[REDIS_URL_PATH_MAX]; /* unix:// socket path; "" = TCP host:port */
    char     prefix[40];              /* key prefix, default "pf" */
    int      connect_timeout_ms;      /* default 2000 */
    int      command_timeout_ms;      /* default 2000 */
    char     credential_key_file[CONF_FILE_PATH_MAX]; /* seals upstream passwords in records
                                         (common/seal.h); "" = stored in clear (default) */
    /* Sentinel: with sentinels set, the master's address is asked from them
     * (url then gives only the credentials and the database). */
    struct conf_sentinel sentinels[CONF_SENTINELS_MAX];
    int      nsentinels;              /* 0 = plain url (default) */
    char     master_name[REDIS_PROTO_MASTER_NAME_MAX]; /* the name the sentinels monitor */
    char     sentinel_user[UPSTREAM_CRED_MAX];     /* ACL user on the sentinels; "" = none */
    char     sentinel_password[UPSTREAM_CRED_MAX]; /* "" = no AUTH to sentinels; never logged */
};

enum conf_provider_type {
    CONF_PROVIDER_STATIC = 0,   /* fixed list in "upstreams" */
    CONF_PROVIDER_API,          /* HTTP GET/POST of "url", body in "format" */
    CONF_PROVIDER_FILE,         /* local file "path" in "format", re-read when it changes */
};

enum conf_body_format {
    CONF_FORMAT_LINES = 0,      /* one address per line */
    CONF_FORMAT_JSON,           /* JSON document, paths in "json" */
};

#define CONF_FIELD_MAX    64     /* JSON path, code or word of a provider format */
#define CONF_MATCH_MAX    8      /* values of json.success.equals */
#define CONF_CODES_MAX    32     /* entries of errors.codes */
#define CONF_WORDS_MAX    16     /* entries of errors.fatal_words / transient_words */
#define CONF_REQ_BODY_MAX 2048   /* POST body */

/* How an entry's expiry field is read (json.expire_kind). */
enum conf_expire_kind {
    CONF_EXPIRE_TIMESTAMP = 0,  /* "YYYY-MM-DD HH:MM:SS" in provider time (expire_tz_offset_min) */
    CONF_EXPIRE_EPOCH_S,        /* seconds since 1970 (number or numeric string) */
    CONF_EXPIRE_EPOCH_MS,       /* milliseconds since 1970 */
    CONF_EXPIRE_LIFETIME_S,     /* seconds from the poll */
};

/* Field names of a JSON provider ("json" key). A path is dotted ("data.list");
 * "" means the root (list) or "not provided" (the others). */
struct conf_provider_json {
    char     list[CONF_FIELD_MAX];      /* the array of entries, default "data" */
    char     host[CONF_FIELD_MAX];      /* default "ip" */
    char     port[CONF_FIELD_MAX];      /* default "port" */
    char     user[CONF_FIELD_MAX];      /* default "" */
    char     pass[CONF_FIELD_MAX];      /* default "" */
    char     scheme[CONF_FIELD_MAX];    /* default "" (default_scheme) */
    char     expire[CONF_FIELD_MAX];    /* default "" (ttl_s) */
    enum conf_expire_kind expire_kind;  /* default timestamp */
    int      expire_tz_offset_min;      /* provider's UTC offset for timestamps, default 0 */
    char     success_field[CONF_FIELD_MAX];            /* "" = no success predicate */
    char     success_equals[CONF_MATCH_MAX][CONF_FIELD_MAX]; /* canonical text: 0, "0", true */
    int      nsuccess_equals;
    char     filter_field[CONF_FIELD_MAX];              /* entry filter ("valid"), "" = none */
    char     filter_equals[CONF_MATCH_MAX][CONF_FIELD_MAX]; /* kept when the field is one of these */
    int      nfilter_equals;
    char     label_country[CONF_FIELD_MAX]; /* "labels": entry fields kept in the record, "" = none */
    char     label_city[CONF_FIELD_MAX];
    char     label_isp[CONF_FIELD_MAX];
    char     label_region[CONF_FIELD_MAX];
    char     label_asn[CONF_FIELD_MAX];
    char     next[CONF_FIELD_MAX];      /* path of the next page's URL ("next"), "" = one page */
};

/* Error classification of a provider ("errors" key), for json and lines. */
struct conf_provider_code {
    char     code[CONF_FIELD_MAX];      /* canonical text of the code value */
    int      is_fatal;                  /* else transient */
};

struct conf_provider_errors {
    char     code_field[CONF_FIELD_MAX];    /* default "code" */
    char     message_field[CONF_FIELD_MAX]; /* default "msg" */
    struct conf_provider_code codes[CONF_CODES_MAX];
    int      ncodes;
    char     fatal_words[CONF_WORDS_MAX][CONF_FIELD_MAX];     /* added to the built-in ones */
    int      nfatal_words;
    char     transient_words[CONF_WORDS_MAX][CONF_FIELD_MAX]; /* beat fatal words */
    int      ntransient_words;
};

enum conf_auth_kind {
    CONF_AUTH_NONE = 0,
    CONF_AUTH_HEADER,           /* "<name>: <value>" request header */
    CONF_AUTH_BASIC,            /* HTTP basic user/pass */
};

/* Credentials of an api provider ("auth" key). Never logged. */
struct conf_provider_auth {
    enum conf_auth_kind kind;
    char     name[CONF_FIELD_MAX];      /* header name, e.g. "X-Api-Key" */
    char     value[UPSTREAM_CRED_MAX];  /* header value; secret */
    char     user[UPSTREAM_CRED_MAX];
    char     pass[UPSTREAM_CRED_MAX];   /* secret */
};

struct conf_provider {
    char     name[UPSTREAM_NAME_MAX];   /* keys_valid_name() */
    enum conf_provider_type type;
    enum conf_body_format   format;     /* api only */
    char     url[CONF_URL_MAX];         /* api only; may hold a key: never logged whole */
    int      is_post;                   /* api: "method" POST (else GET) */
    char     request_body[CONF_REQ_BODY_MAX]; /* api: "body" sent with POST */
    char     content_type[CONF_FIELD_MAX * 2]; /* api: "content_type" of the POST body */
    struct conf_provider_auth auth;     /* api: "auth" */
    char     path[CONF_FILE_PATH_MAX];  /* file only */
    char     separators[16];            /* lines: extra entry separators ("separator") */
    struct conf_provider_json json;     /* json format: "json" */
    struct conf_provider_errors errors; /* "errors" */
    int      interval_ms;               /* poll interval, default controller.poll_interval_ms */
    int      timeout_ms;                /* total request timeout, default 10000 */
    int      connect_timeout_ms;        /* default 3000 */
    int64_t  max_body_bytes;            /* default 1 MiB */
    enum upstream_scheme default_scheme;/* for bare ip:port lines, default http */
    int      ttl_s;                     /* lifetime of upstreams without expiry, default controller.default_ttl_s */
    int      priority;                  /* higher is preferred, default 0 */
    struct conf_upstream_policy allow_private; /* "allow_private": false (default), true or CIDRs */
    int      tier;                      /* 0 = primary; nodes use tier n+1 only when no
                                           upstream of tier <= n is usable, default 0 */
    char     line_format[CONF_FIELD_MAX];/* lines: entry template ("{host}:{port}:{user}:{pass}"),
                                           "" = auto (host:port, URLs, host:port:user:pass) */
    int      max_pages;                 /* json with "next": pages per poll, default 10 */
    struct upstream_labels labels;      /* "labels": static values for every upstream of the
                                           provider; an entry's json.labels field wins */
    char     user_template[UPSTREAM_TEMPLATE_MAX]; /* gateway user name per request
                                           (common/user_template.h); "" = none */
    char   **static_upstreams;          /* owned; static only: address strings */
    int      nstatic;
    int      retry_base_ms;             /* first retry ceiling within a poll, default 500 */
    int      retry_cap_ms;              /* retry delay ceiling (also caps Retry-After), default 30000 */
    int      retry_attempts;            /* attempts per poll, first included, default 3 */
    int      breaker_failures;          /* failed polls in a row that open the breaker, default 5 */
    int      breaker_open_ms;           /* first open time, doubled per re-open, default 30000 */
    int      breaker_open_max_ms;       /* open time cap, default 600000 */
    int      fatal_recheck_s;           /* a fatal failure is re-polled after this, default 3600 */
};

/* Passive health ("controller.health.passive"): node outcome counters. */
struct conf_health_passive {
    int      is_enabled;                /* the "passive" object is present */
    int      interval_ms;               /* node hashes read every, default 5000 */
    int      window_ms;                 /* sliding window of summed deltas, default 30000 */
    double   failure_ratio;             /* eject at failures/attempts >= this, default 0.5 */
    int      min_requests;              /* attempts in the window needed, default 10 */
    int      ejection_ms;               /* base ejection time x ejections so far, default 30000 */
    int      ejection_max_ms;           /* cap of the ejection time, default 300000 */
    int      node_max_age_ms;           /* nodes reported within it are live, default 30000 */
    int      bans_eject_domains;        /* eject an upstream with fleet bans on more distinct
                                           domains than this (controller/ban_eject.h); 0 = off */
};

/* Upstream health ("controller.health"); absent = no health checking. */
struct conf_health {
    int      is_enabled;                /* the "health" object is present */
    char     url[CONF_URL_MAX];         /* active probe target, "" = no active probes */
    int      interval_ms;               /* default 10000 */
    int      timeout_ms;                /* whole probe, default 5000 */
    int      rise;                      /* successes to turn healthy again, default 2 */
    int      fall;                      /* failures to turn unhealthy, default 3 */
    int      concurrency;               /* probes in flight at most, default 64 */
    int      expect_status_min;         /* "expect_status" "200..399" */
    int      expect_status_max;
    int      max_ejection_percent;      /* share of the pool health may exclude, default 50 */
    int      latency_publish_interval_ms;/* latency-only changes republished at most this
                                           often, default 60000; 0 = every round */
    char     proxy_ca_file[CONF_FILE_PATH_MAX];/* CA bundle trusted for https upstreams'
                                           certificates, "" = system CAs */
    struct conf_health_passive passive;
};

struct conf_controller {
    struct conf_health health;          /* "health" section */
    char     id[64];                    /* default "<hostname>-<pid>" */
    char     admin_listen[CONF_ADDR_MAX];/* "" = no admin port */
    char     admin_token[UPSTREAM_CRED_MAX]; /* Bearer token of the status page's data
                                           (GET /fleet.json); "" = none; never logged */
    int      poll_interval_ms;          /* default 10000 */
    int      default_ttl_s;             /* default 300 */
    int      heartbeat_interval_ms;     /* default 2000 */
    int      lease_ms;                  /* leader lease, renewed every lease_ms/3, default 6000 */
    struct conf_provider *providers;    /* owned */
    int      nproviders;
};

enum conf_node_mode {
    CONF_NODE_POOL = 0,         /* forward through upstreams from Redis */
    CONF_NODE_DIRECT,           /* connect to destinations itself; no Redis needed */
};

enum conf_strategy {
    CONF_STRATEGY_ROUND_ROBIN = 0,
    CONF_STRATEGY_RANDOM,       /* uniform among usable upstreams */
    CONF_STRATEGY_LEAST_CONN,   /* fewest active connections on this node */
    CONF_STRATEGY_WEIGHTED,     /* random, weight x latency x local health */
    CONF_STRATEGY_ROTATE,       /* one upstream for rotate_interval_s, then the next */
};

#define CONF_PORTS_MAX    64
#define CONF_TAG_MAX      32

struct conf_user {
    char     user[UPSTREAM_CRED_MAX];
    char     pass[UPSTREAM_CRED_MAX];   /* never logged */
    int      max_conns;                 /* fleet-wide limits (node/user_meter.h); 0 = none */
    int      max_rps;
    int64_t  bytes_per_day;
    int64_t  bytes_per_month;
};

/* One response rule of node.ban_rules (node/ban_rule.h): a plain-HTTP
 * response whose status is one of status[] (none = any status) and whose
 * first node.body_peek_bytes of body contain body_contains ("" = no body
 * test; matched ignoring ASCII case, stored lowercased) bans its upstream
 * for the request's host for ttl_s. */
#define CONF_BAN_RULES_MAX       32
#define CONF_BAN_RULE_STATUS_MAX 16
#define CONF_BAN_RULE_TEXT_MAX   128     /* body_contains, NUL included */
#define CONF_BAN_RULE_REASON_MAX 48      /* reason, NUL included */
struct conf_ban_rule {
    int      status[CONF_BAN_RULE_STATUS_MAX]; /* 100..599 */
    int      nstatus;                   /* 0 = any status */
    char     body_contains[CONF_BAN_RULE_TEXT_MAX]; /* lowercase; "" = status only */
    int      ttl_s;                     /* the ban's lifetime, default 3600 */
    char     reason[CONF_BAN_RULE_REASON_MAX]; /* the ban's reason; "" = "rule <index>" */
};

struct conf_node {
    char     id[64];                    /* default "<hostname>-<pid>" */
    char     listen[CONF_ADDR_MAX];     /* default "127.0.0.1:3128" */
    char     admin_listen[CONF_ADDR_MAX];/* default "127.0.0.1:3180"; "" = none */
    char     admin_token[128];          /* Bearer token of the admin ban API; "" = API off
                                           (default). A secret: never logged */
    char     socks5_listen[CONF_ADDR_MAX];/* SOCKS5-only listener; default "" = none */
    enum conf_node_mode mode;
    enum conf_strategy  strategy;
    int      max_clients;               /* default 4096 */
    int      connect_timeout_ms;        /* upstream/destination connect, default 5000 */
    int      header_timeout_ms;         /* whole request head, default 10000 */
    int      idle_timeout_ms;           /* default 300000 */
    int      response_timeout_ms;       /* request sent -> response head, 0 = off; default 30000 */
    int      max_header_bytes;          /* default 32768 */
    int      retries;                   /* extra upstream attempts, default 2 */
    int      report_interval_ms;        /* Redis heartbeat, default 2000 */
    int      resync_spread_ms;          /* whole pool reads jittered over 0..this, default 2000 */
    int      is_private_dest_allowed;   /* "allow_private_destinations", default false */
    struct conf_upstream_policy upstream_policy; /* "upstream_allow_private": which pool
                                           records may be dialed, default false (public only) */
    struct conf_cidr dest_allow[CONF_CIDRS_MAX]; /* "destination_allow": CIDRs allowed despite policy */
    int      ndest_allow;
    struct conf_user *users;            /* owned; "users": empty = no auth */
    int      nusers;
    int      is_anonymous_allowed;      /* "allow_anonymous": no users on a non-loopback listener */
    int      is_redis_users;            /* "redis_users": users from {pf}:v1:users too (pool mode;
                                           node/user_store.h), default false; restart-only */
    int      rotate_interval_s;         /* rotate strategy: seconds per upstream, 0 = every conn; default 60 */
    char     sticky_header[64];         /* session key header, stripped; "" = none (default) */
    char     session_tag[CONF_TAG_MAX]; /* user name session marker, default "-session-"; "" = off */
    char     session_time_tag[CONF_TAG_MAX]; /* lifetime marker, default "-sesstime-" */
    int      eject_consecutive_failures;/* local passive ejection threshold, default 5; 0 = off */
    int      eject_base_ms;             /* ejection time x n-th ejection, default 10000 */
    int      eject_max_ms;              /* ejection time cap, default 300000 */
    int      is_eject_panic;            /* every usable upstream ejected: 0 = 503 (default), 1 = use them anyway */
    int      is_label_fallback;         /* "label_fallback": user-name labels match nothing:
                                           0 = 503 naming the filter (default), 1 = whole pool */
    char     upstream_header[64];       /* response header naming "<provider>/<short id>";
                                           "" = none (default) */
    struct conf_ban_rule *ban_rules;    /* owned; "ban_rules": plain-HTTP response rules */
    int      nban_rules;
    int      body_peek_bytes;           /* body bytes a rule reads at most, default 8192 */
    struct conf_cidr client_allow[CONF_CIDRS_MAX]; /* "client_allow": empty = any client */
    int      nclient_allow;
    uint16_t connect_ports[CONF_PORTS_MAX]; /* CONNECT destination ports, default 443 80 8080 8443 */
    int      nconnect_ports;            /* 0 = any port */
    int      drain_grace_ms;            /* SIGTERM/SIGINT drain time, default 10000 */
    char     source_address[64];        /* outgoing bind address (IP literal); "" = kernel's choice */
    char     snapshot_file[CONF_FILE_PATH_MAX]; /* local pool snapshot (saved, loaded at start); "" = off */
    char     access_log[CONF_FILE_PATH_MAX]; /* one line per request or tunnel: "" = off (default),
                                           "stderr", or an absolute file path */
    char     upstream_ca_file[CONF_FILE_PATH_MAX]; /* PEM CAs trusted for https upstreams'
                                           certificates; "" = the system CAs (default) */
    int      is_upstream_tls_verified;  /* "upstream_tls_verify": check https upstreams'
                                           certificates and names, default true */
    int      reuse_max_idle_ms;         /* an idle upstream connection shared across clients
                                           is closed after it, default 10000 */
    int      reuse_max_idle_per_upstream;/* idle connections kept per upstream, default 8;
                                           0 = no reuse across clients */
    int      reuse_max_idle_total;      /* ... and in all, default 256 */
    double   preconnect_ratio;          /* warm connections per upstream = ratio x its new
                                           connections per second, rounded up; 0 = off (default) */
    int      preconnect_max;            /* warm connections in all, default 64 */
    int      preconnect_max_idle_ms;    /* a warm connection is replaced after it, default 15000 */
};

#define CONF_WARNINGS_MAX 8      /* warnings kept; more are counted */
#define CONF_WARNING_LEN  256

/* What loading found acceptable but worth a line in the log (e.g. a secret
 * file readable by others): the shells log them at start. Never holds a
 * secret. */
struct conf_warnings {
    int      n;                         /* warnings found; msg[0 .. min(n, MAX) - 1] are set */
    char     msg[CONF_WARNINGS_MAX][CONF_WARNING_LEN]; /* the last one counts the rest
                                           when there are more */
};

/* Reads the whole file <path> into <buf> (<cap> bytes), its length in
 * <*len>; sets <*is_loose> when group or others may access it. Returns
 * PF_OK, or an error with a reason that does not repeat <path>
 * ("No such file or directory", "larger than 4096 bytes"). <arg> is
 * conf_io.arg. */
typedef int (*conf_read_file_fn)(void *arg, const char *path, char *buf, size_t cap,
                                 size_t *len, int *is_loose, struct pf_err *err);

/* Where secrets given as {"env": NAME} or {"file": PATH} come from. The
 * conf module never calls getenv() or reads a file on its own: the shells'
 * conf_load_file() passes the real ones, tests pass fakes. */
struct conf_io {
    char *(*getenv_fn)(const char *name); /* NULL: no variable is set */
    conf_read_file_fn read_file_fn;       /* NULL: no file can be read */
    void     *arg;                        /* passed to read_file_fn */
};

struct conf {
    struct conf_redis      redis;
    char                   log_level[16];   /* default "info" */
    char                   log_format[8];   /* "text" (default) or "json" (log.h) */
    struct conf_controller controller;
    struct conf_node       node;
    struct conf_warnings   warnings;        /* found while loading; the shells log them */
};

#endif
