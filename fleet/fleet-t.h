/* The fleet status model: what Redis says about the whole fleet at one
 * moment (the leader, the providers, the nodes, the pool and its health),
 * decoded from the keys of docs/redis-keys.md. Built by fleet_read (I/O)
 * from the pure decoders of fleet_decode, finished by fleet_model
 * (derived figures: node state, lag, the pool summary; rates from two
 * reads; the --check verdict) and rendered by fleet_json and
 * proxyfleet-ctl's text view. Bans ({pf}:v1:bans) are read whole: the
 * active ones, newest first.
 *
 * Every string in the model came from Redis (untrusted) and was sanitized
 * when decoded (str_sanitize_text: no control characters), so renderers
 * may print it to a terminal or into HTML text as it is (HTML still
 * escapes it). A number that was absent or did not parse is FLEET_UNKNOWN. */
#ifndef PF_FLEET_T_H
#define PF_FLEET_T_H

#include <stddef.h>
#include <stdint.h>

#include "ban.h"
#include "snapshot.h"
#include "upstream-t.h"

#define FLEET_UNKNOWN     INT64_MIN   /* a figure Redis did not give (or gave badly) */
#define FLEET_ID_MAX      128         /* node, controller or provider id, sanitized */
#define FLEET_SHORT_MAX   64          /* build version, commit, state words */
#define FLEET_TEXT_MAX    512         /* a provider's last error, a health reason */
#define FLEET_LISTEN_MAX  160         /* a node's listener "host:port" */

/* An upstream's health as the leader sees it ({pf}:v1:health). */
enum fleet_health {
    FLEET_HEALTH_UNCHECKED = 0,   /* not tracked: health checking off, or not probed yet */
    FLEET_HEALTH_UNKNOWN,         /* tracked, no verdict yet (published) */
    FLEET_HEALTH_HEALTHY,
    FLEET_HEALTH_UNHEALTHY,       /* failed active probes: left out of the pool */
    FLEET_HEALTH_EJECTED,         /* passive ejection running: left out of the pool */
    FLEET_HEALTH_N,
};

/* Whether a node still reports. */
enum fleet_node_state {
    FLEET_NODE_UP = 0,            /* its hash is there and its last heartbeat is recent */
    FLEET_NODE_STALE,             /* hash still there, heartbeat older than 2 report intervals */
    FLEET_NODE_GONE,              /* listed in {pf}:v1:nodes, hash expired (stopped or cut off) */
};

/* The lease holder ({pf}:v1:controller:lease) and its heartbeat hash
 * ({pf}:v1:controller, written by the leader). */
struct fleet_leader {
    int      is_held;                   /* the lease key exists */
    char     id[FLEET_ID_MAX];          /* controller id from the lease token (never the token) */
    int64_t  lease_ttl_ms;              /* PTTL of the lease */
    int      has_heartbeat;             /* the controller hash exists */
    char     heartbeat_id[FLEET_ID_MAX];/* "id" of the hash: the controller that wrote it */
    char     epoch[SNAPSHOT_EPOCH_MAX]; /* the leader's term */
    char     version[FLEET_SHORT_MAX];  /* build version */
    char     commit[FLEET_SHORT_MAX];
    int64_t  heartbeat_at_ms;           /* wall clock of the last heartbeat */
    int64_t  pool_version;              /* last published or read */
    int64_t  pool_size;                 /* upstreams in its last merge */
    int64_t  leader_since_ms;           /* wall clock it became leader */
};

/* One provider: a member of {pf}:v1:providers and its hash. */
struct fleet_provider {
    char     name[FLEET_ID_MAX];
    int      has_hash;                  /* {pf}:v1:provider:<name> exists */
    char     state[FLEET_SHORT_MAX];    /* ok, failing, failed ("" = absent) */
    char     breaker[FLEET_SHORT_MAX];  /* closed, open, half_open */
    char     last_error[FLEET_TEXT_MAX];
    char     last_error_class[FLEET_SHORT_MAX]; /* transient, fatal, "" */
    int64_t  upstreams;                 /* upstreams it contributes */
    int64_t  polls;
    int64_t  failures;
    int64_t  consecutive_failures;
    int64_t  breaker_opens;
    int64_t  retries;
    int64_t  last_error_at_ms;          /* wall clock, 0 = never */
    int64_t  last_success_at_ms;        /* wall clock, 0 = never */
    int64_t  next_poll_at_ms;           /* wall clock, 0 = none */
    int64_t  breaker_until_ms;          /* wall clock, 0 unless open */
};

/* What a node reported ({pf}:v1:node:<id>) and what is derived from it. */
struct fleet_node {
    char     id[FLEET_ID_MAX];
    int64_t  seen_at_ms;                /* its score in {pf}:v1:nodes: last report */
    int      has_hash;                  /* its hash still exists */
    int64_t  ttl_ms;                    /* PTTL of the hash (3 x report interval at a write) */
    char     listen[FLEET_LISTEN_MAX];
    char     version[FLEET_SHORT_MAX];
    char     commit[FLEET_SHORT_MAX];
    char     pool_epoch[SNAPSHOT_EPOCH_MAX];
    int64_t  updated_at_ms;             /* wall clock of the heartbeat */
    int64_t  redis_connected;           /* 1 or 0 */
    int64_t  ready;                     /* 1 or 0 */
    int64_t  pool_version;              /* served; 0 = none */
    int64_t  pool_size;
    int64_t  pool_usable;
    int64_t  conns_active;
    int64_t  requests_total;
    int64_t  responses_total;           /* every class summed */
    int64_t  responses_5xx;             /* class 5xx */
    int64_t  started_at_ms;             /* process_start_time_seconds, in ms */
    /* derived by fleet_model_finish() */
    enum fleet_node_state state;
    int64_t  age_ms;                    /* since the last heartbeat (or the zset score) */
    int64_t  interval_ms;               /* report interval, estimated from TTL + age */
    int64_t  lag_versions;              /* pool versions behind Redis (FLEET_UNKNOWN: no pool) */
    int      is_other_epoch;            /* it serves another epoch than Redis holds */
    int64_t  lag_ms;                    /* since the version it has not applied was published */
    /* derived by fleet_rates() from two heartbeats */
    int      has_rates;
    int64_t  rate_from_ms;              /* the heartbeats the rates span */
    int64_t  rate_to_ms;
    double   requests_per_s;
    double   responses_5xx_per_s;
    double   ratio_5xx;                 /* 5xx / responses over the span; -1 = no response */
};

/* One upstream: a record of {pf}:v1:pool:upstreams and/or a field of
 * {pf}:v1:health (an upstream the health filter keeps out of the pool has
 * only the latter). */
struct fleet_upstream {
    char    *id;                        /* owned, sanitized: scheme://host:port[#user hash] */
    int      in_pool;                   /* has a record in the published pool */
    int      is_bad;                    /* its record did not decode (counted, listed) */
    char     provider[UPSTREAM_NAME_MAX];
    uint32_t tier;
    struct upstream_labels labels;
    int64_t  expires_at_ms;             /* 0 = no expiry */
    int64_t  latency_ms;                /* the health EWMA, else the record's; 0 = unknown */
    int      is_tracked;                /* has a health field */
    enum fleet_health health;
    int64_t  ejected_until_ms;          /* 0 = not ejected */
    char     reason[FLEET_TEXT_MAX];    /* the last probe failure, "" = none */
};

/* A count, split by health: one provider, tier or label value of the pool. */
struct fleet_group {
    char     name[FLEET_ID_MAX];        /* provider, tier ("0".."15") or label value ("" = none) */
    int64_t  total;
    int64_t  by_health[FLEET_HEALTH_N];
};

struct fleet_groups {
    struct fleet_group *v;              /* owned; sorted by total, descending, then name */
    size_t   n;
};

/* The pool: pool:meta and what its records and the health hash add up to. */
struct fleet_pool {
    int      has_meta;                  /* a snapshot is in Redis */
    int64_t  version;
    char     epoch[SNAPSHOT_EPOCH_MAX];
    int64_t  count;                     /* as pool:meta says */
    int64_t  updated_at_ms;
    char     controller_id[FLEET_ID_MAX];
    int64_t  records;                   /* records read (in_pool) */
    int64_t  bad_records;               /* records that did not decode */
    int64_t  tracked;                   /* fields of the health hash */
    int64_t  excluded;                  /* tracked but not published (unhealthy, ejected) */
    struct fleet_group  health;         /* every upstream (pool and excluded) by health */
    struct fleet_groups by_provider;    /* published upstreams */
    struct fleet_groups by_tier;
    struct fleet_groups by_country;
    struct fleet_groups by_city;
    struct fleet_groups by_isp;
};

/* The bans in {pf}:v1:bans (ban.h records, parsed strictly: a record that
 * does not parse is counted, never shown). */
struct fleet_bans {
    struct ban *v;                      /* owned; active bans, newest first (then by id) */
    size_t   n;
    int64_t  expired;                   /* records whose expiry passed (not pruned yet) */
    int64_t  bad;                       /* records that did not parse */
};

struct fleet {
    int64_t  now_ms;                    /* wall clock of the read */
    char     prefix[64];                /* the keys' base, "{pf}:v1" */
    char     redis_target[FLEET_LISTEN_MAX];
    struct fleet_leader    leader;
    struct fleet_provider *providers;   /* owned; sorted by name */
    size_t   nproviders;
    struct fleet_node     *nodes;       /* owned; up and stale by id, then gone */
    size_t   nnodes;
    struct fleet_pool      pool;
    struct fleet_upstream *upstreams;   /* owned; sorted by id */
    size_t   nupstreams;
    struct fleet_bans      bans;
};

#endif
