/* Configuration: one JSON file with "redis", "log", "controller" and "node"
 * sections; each binary reads the sections it needs. Env overrides:
 * PF_REDIS_URL, PF_LOG_LEVEL, PF_NODE_ID, PF_CONTROLLER_ID.
 * The schema is documented in docs/configuration.md. */
#ifndef PF_CONF_H
#define PF_CONF_H

#include <stdint.h>

#include "err.h"
#include "upstream-t.h"

#define CONF_ADDR_MAX     128    /* "host:port" of a listener */
#define CONF_URL_MAX      2048
#define CONF_CIDRS_MAX    64
#define CONF_USERS_MAX    256

struct conf_redis {
    char     url[CONF_URL_MAX];       /* redis://[:pass@]host:port[/db]; default redis://127.0.0.1:6379/0 */
    char     host[UPSTREAM_HOST_MAX]; /* parsed from url */
    uint16_t port;
    int      db;
    char     password[UPSTREAM_CRED_MAX]; /* from url; never logged */
    char     prefix[40];              /* key prefix, default "pf" */
    int      connect_timeout_ms;      /* default 2000 */
    int      command_timeout_ms;      /* default 2000 */
};

enum conf_provider_type {
    CONF_PROVIDER_STATIC = 0,   /* fixed list in "upstreams" */
    CONF_PROVIDER_API,          /* HTTP GET of "url", body in "format" */
};

enum conf_body_format {
    CONF_FORMAT_LINES = 0,      /* one address per line */
};

struct conf_provider {
    char     name[UPSTREAM_NAME_MAX];   /* keys_valid_name() */
    enum conf_provider_type type;
    enum conf_body_format   format;     /* api only */
    char     url[CONF_URL_MAX];         /* api only; may hold a key: never logged whole */
    int      interval_ms;               /* poll interval, default controller.poll_interval_ms */
    int      timeout_ms;                /* total request timeout, default 10000 */
    int      connect_timeout_ms;        /* default 3000 */
    int64_t  max_body_bytes;            /* default 1 MiB */
    enum upstream_scheme default_scheme;/* for bare ip:port lines, default http */
    int      ttl_s;                     /* lifetime of upstreams without expiry, default controller.default_ttl_s */
    int      priority;                  /* higher is preferred, default 0 */
    int      is_private_allowed;        /* "allow_private": accept loopback/private upstreams (demos, tests) */
    char   **static_upstreams;          /* owned; static only: address strings */
    int      nstatic;
};

struct conf_controller {
    char     id[64];                    /* default "<hostname>-<pid>" */
    char     admin_listen[CONF_ADDR_MAX];/* "" = no admin port */
    int      poll_interval_ms;          /* default 10000 */
    int      default_ttl_s;             /* default 300 */
    int      heartbeat_interval_ms;     /* default 2000 */
    struct conf_provider *providers;    /* owned */
    int      nproviders;
};

enum conf_node_mode {
    CONF_NODE_POOL = 0,         /* forward through upstreams from Redis */
    CONF_NODE_DIRECT,           /* connect to destinations itself; no Redis needed */
};

enum conf_strategy {
    CONF_STRATEGY_ROUND_ROBIN = 0,
};

struct conf_cidr {
    int     family;            /* AF_INET or AF_INET6 */
    uint8_t addr[16];          /* network order, masked */
    int     prefix_len;
};

struct conf_user {
    char user[UPSTREAM_CRED_MAX];
    char pass[UPSTREAM_CRED_MAX];   /* never logged */
};

struct conf_node {
    char     id[64];                    /* default "<hostname>-<pid>" */
    char     listen[CONF_ADDR_MAX];     /* default "127.0.0.1:3128" */
    char     admin_listen[CONF_ADDR_MAX];/* default "127.0.0.1:9100"; "" = none */
    enum conf_node_mode mode;
    enum conf_strategy  strategy;
    int      max_clients;               /* default 4096 */
    int      connect_timeout_ms;        /* upstream/destination connect, default 5000 */
    int      header_timeout_ms;         /* whole request head, default 10000 */
    int      idle_timeout_ms;           /* default 300000 */
    int      max_header_bytes;          /* default 32768 */
    int      retries;                   /* extra upstream attempts, default 2 */
    int      report_interval_ms;        /* Redis heartbeat, default 2000 */
    int      is_private_dest_allowed;   /* "allow_private_destinations", default false */
    struct conf_cidr dest_allow[CONF_CIDRS_MAX]; /* "destination_allow": CIDRs allowed despite policy */
    int      ndest_allow;
    struct conf_user *users;            /* owned; "users": empty = no auth */
    int      nusers;
};

struct conf {
    struct conf_redis      redis;
    char                   log_level[16];   /* default "info" */
    struct conf_controller controller;
    struct conf_node       node;
};

/* Fills <c> with defaults (then conf_deinit() is safe). */
void conf_init_defaults(struct conf *c);

/* Parses JSON <text> of <len> bytes into <c> (after conf_init_defaults).
 * Unknown keys are errors. On error returns PF_EINVAL with a path and
 * reason in <err>, e.g. "controller.providers[1].url: missing". */
int conf_parse(struct conf *c, const char *text, size_t len, struct pf_err *err) PF_MUSTCHECK;

/* Reads <path>, conf_init_defaults + conf_parse + conf_apply_env. */
int conf_load_file(struct conf *c, const char *path, struct pf_err *err) PF_MUSTCHECK;

/* Applies PF_REDIS_URL, PF_LOG_LEVEL, PF_NODE_ID, PF_CONTROLLER_ID from <getenv_fn>
 * (pass getenv; tests pass a fake). */
int conf_apply_env(struct conf *c, char *(*getenv_fn)(const char *), struct pf_err *err) PF_MUSTCHECK;

/* Frees what <c> owns (accepts NULL). */
void conf_deinit(struct conf *c);

#endif
