/* proxyfleet-ctl's command line, parsed (pure):
 *   proxyfleet-ctl --config FILE [--json] [--color auto|always|never] COMMAND [options]
 *     status [--check] [--max-lag-versions N] [--max-lag-s S] [--sample-ms MS]
 *     nodes [--sample-ms MS]
 *     providers
 *     upstreams [--provider P] [--label k=v] [--state S]
 *     bans list | bans add --upstream U --domain D [--session S] [--ttl-s N] [--reason R]
 *          | bans del ID
 *     users list | users add NAME [--max-conns N] [--max-rps N] [--bytes-per-day N]
 *          [--bytes-per-month N] | users del NAME   (the password: a TTY prompt or stdin)
 *   proxyfleet-ctl --version | --help */
#ifndef PF_CTL_ARGS_H
#define PF_CTL_ARGS_H

#include <stdint.h>
#include <stdio.h>

#include "fleet-t.h"

enum ctl_command {
    CTL_CMD_NONE = 0,
    CTL_CMD_STATUS,
    CTL_CMD_NODES,
    CTL_CMD_PROVIDERS,
    CTL_CMD_UPSTREAMS,
    CTL_CMD_BANS,
    CTL_CMD_USERS,
    CTL_CMD_VERSION,
    CTL_CMD_HELP,
};

/* The verb of bans and users. */
enum ctl_op { CTL_OP_NONE = 0, CTL_OP_LIST, CTL_OP_ADD, CTL_OP_DEL };

enum ctl_color { CTL_COLOR_AUTO = 0, CTL_COLOR_ALWAYS, CTL_COLOR_NEVER };

struct ctl_args {
    enum ctl_command command;
    const char *config_path;       /* borrowed from argv */
    int         is_json;
    enum ctl_color color;
    int         is_check;          /* status --check */
    int64_t     max_lag_versions;  /* default 3 */
    int64_t     max_lag_ms;        /* default 30 s */
    int64_t     sample_ms;         /* -1 = from the nodes' report interval; 0 = no rates */
    const char *provider;          /* upstreams --provider, borrowed; NULL = any */
    const char *label_key;         /* upstreams --label k=v: "country", "city" or "isp" */
    const char *label_value;       /* borrowed (points into argv) */
    int         has_state;
    enum fleet_health state;       /* upstreams --state */
    enum ctl_op op;                /* bans, users: list, add, del */
    const char *target;            /* bans del ID, users add|del NAME; borrowed */
    const char *ban_upstream;      /* bans add --upstream: short id or upstream id */
    const char *ban_domain;        /* bans add --domain */
    const char *ban_session;       /* bans add --session, NULL = fleet ban */
    int64_t     ban_ttl_s;         /* bans add --ttl-s, 0 = the default */
    const char *ban_reason;        /* bans add --reason, NULL = none */
    int64_t     max_conns;         /* users add limits, 0 = none */
    int64_t     max_rps;
    int64_t     bytes_per_day;
    int64_t     bytes_per_month;
};

/* Parses <argc>/<argv> into <a>. Returns 0, or -1 with a one-line reason
 * in <why> (<len> bytes) naming the argument at fault (never echoing a
 * value longer than a word). */
int ctl_args_parse(int argc, char **argv, struct ctl_args *a, char *why, size_t len);

/* The usage text on <f>. */
void ctl_args_usage(FILE *f);

#endif
