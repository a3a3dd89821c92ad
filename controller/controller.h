/* The controller's one context: built by context.c (wired from main.c),
 * passed to every module. */
#ifndef PF_CONTROLLER_H
#define PF_CONTROLLER_H

#include <stddef.h>
#include <stdint.h>

#include "conf.h"
#include "keys.h"
#include "lease.h"

struct admin_http;
struct event;
struct event_base;
struct fetch;
struct health_check;
struct provider;
struct publish;
struct redis;
struct seal_key;
struct sentinel;

struct ctl_ctx {
    struct conf         conf;           /* owned: loaded config */
    struct keys         keys;           /* Redis names for conf.redis.prefix */
    struct event_base  *base;           /* owned */
    struct fetch       *fetch;          /* owned: provider HTTP requests */
    struct health_check *health;        /* owned; NULL without controller.health */
    struct redis       *redis;          /* owned: the Redis connection */
    struct sentinel    *sentinel;       /* owned; NULL without redis.sentinels */
    struct publish     *pub;            /* owned: Redis writer */
    struct seal_key    *cred_key;       /* owned: redis.credential_key_file, NULL = none */
    struct provider   **providers;      /* owned array of owned providers */
    size_t              nproviders;
    struct admin_http  *admin;          /* owned; NULL without admin_listen */
    struct event       *sync_ev;        /* owned (sync.c): coalesced Redis sync, one per loop turn */
    struct event       *heartbeat_ev;   /* owned (sync.c): persistent heartbeat timer */
    struct event       *sigint_ev;      /* owned */
    struct event       *sigterm_ev;     /* owned */
    struct event       *sighup_ev;      /* owned: config reload */
    struct event       *lease_ev;       /* owned (sync.c): lease acquire/renew timer */
    struct lease        lease;          /* leadership: only the leader polls and writes */
    const char         *config_path;    /* borrowed from argv: re-read on SIGHUP */
    uint64_t            reloads;        /* good SIGHUP reloads */
    uint64_t            reload_errors;  /* rejected SIGHUP reloads (old config kept) */
    const char         *notify_socket;  /* borrowed ($NOTIFY_SOCKET); NULL = no service manager */
    int                 is_notify_failed;/* a notify failed: logged once */
    int                 is_sync_wanted; /* a poll finished since the last good pool sync */
    int                 is_prune_wanted;/* providers set may hold providers no longer configured */
    size_t              pool_size;      /* upstreams in the last merge */
};

#endif
