/* The node's one context, passed to every module (STYLE rule 17). */
#ifndef PF_NODE_NODE_H
#define PF_NODE_NODE_H

#include <stdint.h>

#include "conf.h"
#include "keys.h"
#include "pool_cache.h"
#include "rng.h"
#include "stats.h"
#include "upstream_sid.h"

struct event;
struct seal_key;
struct event_base;
struct evdns_base;
struct redis_link;
struct pool_sync;
struct ban_sync;
struct listener;
struct admin_http;
struct report;
struct conn;
struct tunnel_pool;
struct upstream_tls;
struct drain;
struct reload;
struct conf_gen;
struct access_log;
struct user_store;
struct user_meter;

struct node_ctx {
    struct event_base *base;            /* owned */
    struct evdns_base *dns;             /* owned; /etc/hosts + resolv.conf */
    const char        *config_path;     /* borrowed (the command line): re-read on SIGHUP */
    struct conf        conf;            /* owned (conf_deinit): the running config. Restart-only
                                           keys as at start; the others from the last good
                                           file (reload.h). Read by the modules outside a conn */
    struct conf_gen   *gen;             /* one reference: the current generation of the node
                                           section, which new exchanges take (conf_gen.h) */
    struct keys        keys;            /* pool mode */
    struct pool_cache  pool;            /* pool mode; filled by pool_sync */
    struct seal_key   *cred_key;        /* owned (seal_key_destroy); redis.credential_key_file,
                                           NULL = none */
    struct upstream_sid_key sid_key;    /* upstreams' short ids (upstream_sid.h): derived
                                           from cred_key, all zeros without one */
    struct redis_link *redis;           /* owned; NULL in direct mode */
    struct pool_sync  *sync;            /* owned; NULL in direct mode */
    struct ban_sync   *bans;            /* owned; NULL in direct mode (ban_sync.h) */
    struct listener   *listener;        /* owned */
    struct listener   *socks5_listener; /* owned; NULL when socks5_listen is "" */
    struct admin_http *admin;           /* owned; NULL when admin_listen is "" */
    struct report     *report;          /* owned; NULL in direct mode */
    struct node_stats  stats;
    struct conn       *conns;           /* list of live client conns (owned by conn.c) */
    struct conn       *closing;         /* closed conns waiting for the reaper */
    struct event      *reaper;          /* owned: frees closing conns at the loop tail */
    struct tunnel_pool *tunnels;        /* owned by conn.c: tunnel relay scratch buffer and pipes */
    struct upstream_tls *upstream_tls;  /* owned: the TLS client context for https upstreams;
                                           NULL in direct mode */
    uint64_t           next_conn_id;
    int64_t            started_at_ms;   /* wall clock */
    uint64_t           nrejecting;      /* over-limit conns still sending their 503 */
    int                is_stopping;
    struct rng         rng;             /* random/weighted strategies */
    int                is_draining;     /* SIGTERM/SIGINT: no new conns, finishing in-flight */
    struct drain      *drain;           /* owned: the signal handlers and the grace timer */
    struct reload     *reload;          /* owned: SIGHUP (config) and SIGUSR1 (access log) */
    struct access_log *access_log;      /* owned; NULL when node.access_log is "" */
    struct user_store *users;           /* owned; the users in Redis, NULL unless
                                           node.redis_users (pool mode) */
    struct user_meter *meter;           /* owned: per-user limits and usage */
    const char        *notify_socket;   /* borrowed ($NOTIFY_SOCKET); NULL = no service manager */
    int                is_notify_failed;/* a notify failed: logged once */
    int                max_clients;     /* node.max_clients within the descriptor budget
                                           (fd_budget.h): what the listeners admit */
    int                rejecting_max;   /* over-limit conns answered 503 at once */
};

#endif
