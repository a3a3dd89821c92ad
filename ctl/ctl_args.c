/* proxyfleet-ctl's command line; see ctl_args.h. */
#include "ctl_args.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ban.h"
#include "fleet_decode.h"
#include "user_record.h"

void ctl_args_usage(FILE *f)
{
    fputs("usage: proxyfleet-ctl --config FILE [--json] [--color auto|always|never] COMMAND\n"
          "commands:\n"
          "  status [--check] [--max-lag-versions N] [--max-lag-s S] [--sample-ms MS]\n"
          "                      leader, providers, nodes and the pool on one screen;\n"
          "                      --check: exit 1 with a one-line reason when unhealthy\n"
          "  nodes [--sample-ms MS]\n"
          "  providers\n"
          "  upstreams [--provider P] [--label country|city|isp=V] [--state S]\n"
          "                      S: healthy, unknown, unhealthy, ejected, unchecked\n"
          "  bans list           the active bans, newest first\n"
          "  bans add --upstream SID|UPSTREAM-ID --domain D|* [--session USER-session-KEY]\n"
          "           [--ttl-s N] [--reason TEXT]\n"
          "  bans del ID\n"
          "  users list          user names and limits (never a hash)\n"
          "  users add NAME [--max-conns N] [--max-rps N] [--bytes-per-day N]\n"
          "           [--bytes-per-month N]   password from a TTY prompt or stdin's first line\n"
          "  users del NAME\n"
          "  proxyfleet-ctl --version | --help\n"
          "Reads Redis with the config's redis.* settings (URL, ACL user, Sentinel).\n",
          f);
}

/* Parses a non-negative integer argument. 0 or -1. */
static int ctl_num(const char *s, int64_t max, int64_t *out)
{
    char *end = NULL;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < 0 || v > max)
        return -1;
    *out = v;
    return 0;
}

/* Writes "<arg><what>" into <why>: <arg> only when it is a short option
 * or command word, so a value is never echoed. Returns -1. */
static int ctl_fail(char *why, size_t len, const char *what, const char *arg)
{
    /* the argument is named only when it is a short option word */
    char word[40];
    snprintf(word, sizeof(word), "%s", arg != NULL ? arg : "");
    if (strspn(word, "-abcdefghijklmnopqrstuvwxyz_") != strlen(word) || strlen(arg) >= sizeof(word))
        snprintf(word, sizeof(word), "(argument)");
    snprintf(why, len, "%s%s", word, what);
    return -1;
}

int ctl_args_parse(int argc, char **argv, struct ctl_args *a, char *why, size_t len)
{
    memset(a, 0, sizeof(*a));
    a->max_lag_versions = 3;
    a->max_lag_ms = 30000;
    a->sample_ms = -1;
    for (int i = 1; i < argc; i++) {
        const char *s = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        int64_t n;
        if (strcmp(s, "--version") == 0) {
            a->command = CTL_CMD_VERSION;
            return 0;
        }
        if (strcmp(s, "--help") == 0 || strcmp(s, "-h") == 0) {
            a->command = CTL_CMD_HELP;
            return 0;
        }
        if (a->command == CTL_CMD_NONE && s[0] != '-') {
            if (strcmp(s, "status") == 0)
                a->command = CTL_CMD_STATUS;
            else if (strcmp(s, "nodes") == 0)
                a->command = CTL_CMD_NODES;
            else if (strcmp(s, "providers") == 0)
                a->command = CTL_CMD_PROVIDERS;
            else if (strcmp(s, "upstreams") == 0)
                a->command = CTL_CMD_UPSTREAMS;
            else if (strcmp(s, "bans") == 0)
                a->command = CTL_CMD_BANS;
            else if (strcmp(s, "users") == 0)
                a->command = CTL_CMD_USERS;
            else
                return ctl_fail(why, len, ": unknown command", s);
            continue;
        }
        if ((a->command == CTL_CMD_BANS || a->command == CTL_CMD_USERS) && s[0] != '-') {
            if (a->op == CTL_OP_NONE) {
                if (strcmp(s, "list") == 0)
                    a->op = CTL_OP_LIST;
                else if (strcmp(s, "add") == 0)
                    a->op = CTL_OP_ADD;
                else if (strcmp(s, "del") == 0)
                    a->op = CTL_OP_DEL;
                else
                    return ctl_fail(why, len, ": list, add or del", s);
                continue;
            }
            if (a->target == NULL && (a->op == CTL_OP_DEL ||
                                      (a->op == CTL_OP_ADD && a->command == CTL_CMD_USERS))) {
                a->target = s;
                continue;
            }
            return ctl_fail(why, len, "one argument too many", "");
        }
        if (strcmp(s, "--json") == 0) {
            a->is_json = 1;
            continue;
        }
        if (strcmp(s, "--check") == 0 && a->command == CTL_CMD_STATUS) {
            a->is_check = 1;
            continue;
        }
        if (v == NULL)
            return ctl_fail(why, len, ": unknown option or missing value", s);
        i++;
        if (strcmp(s, "--config") == 0 || strcmp(s, "-c") == 0) {
            a->config_path = v;
        } else if (strcmp(s, "--color") == 0) {
            if (strcmp(v, "auto") == 0)
                a->color = CTL_COLOR_AUTO;
            else if (strcmp(v, "always") == 0)
                a->color = CTL_COLOR_ALWAYS;
            else if (strcmp(v, "never") == 0)
                a->color = CTL_COLOR_NEVER;
            else
                return ctl_fail(why, len, ": auto, always or never", s);
        } else if (strcmp(s, "--max-lag-versions") == 0 && a->command == CTL_CMD_STATUS) {
            if (ctl_num(v, 1000000000, &a->max_lag_versions) != 0)
                return ctl_fail(why, len, ": a number of versions", s);
        } else if (strcmp(s, "--max-lag-s") == 0 && a->command == CTL_CMD_STATUS) {
            if (ctl_num(v, 86400 * 365, &n) != 0)
                return ctl_fail(why, len, ": a number of seconds", s);
            a->max_lag_ms = n * 1000;
        } else if (strcmp(s, "--sample-ms") == 0 &&
                   (a->command == CTL_CMD_STATUS || a->command == CTL_CMD_NODES)) {
            if (ctl_num(v, 60000, &a->sample_ms) != 0)
                return ctl_fail(why, len, ": 0..60000 milliseconds", s);
        } else if (strcmp(s, "--provider") == 0 && a->command == CTL_CMD_UPSTREAMS) {
            a->provider = v;
        } else if (strcmp(s, "--label") == 0 && a->command == CTL_CMD_UPSTREAMS) {
            const char *eq = strchr(v, '=');
            if (eq == NULL)
                return ctl_fail(why, len, ": country=V, city=V or isp=V", s);
            size_t kl = (size_t)(eq - v);
            if (kl == 7 && strncmp(v, "country", kl) == 0)
                a->label_key = "country";
            else if (kl == 4 && strncmp(v, "city", kl) == 0)
                a->label_key = "city";
            else if (kl == 3 && strncmp(v, "isp", kl) == 0)
                a->label_key = "isp";
            else
                return ctl_fail(why, len, ": the label is country, city or isp", s);
            a->label_value = eq + 1;
        } else if (a->command == CTL_CMD_BANS && a->op == CTL_OP_ADD &&
                   strcmp(s, "--upstream") == 0) {
            a->ban_upstream = v;
        } else if (a->command == CTL_CMD_BANS && a->op == CTL_OP_ADD && strcmp(s, "--domain") == 0) {
            a->ban_domain = v;
        } else if (a->command == CTL_CMD_BANS && a->op == CTL_OP_ADD &&
                   strcmp(s, "--session") == 0) {
            a->ban_session = v;
        } else if (a->command == CTL_CMD_BANS && a->op == CTL_OP_ADD && strcmp(s, "--reason") == 0) {
            a->ban_reason = v;
        } else if (a->command == CTL_CMD_BANS && a->op == CTL_OP_ADD && strcmp(s, "--ttl-s") == 0) {
            if (ctl_num(v, BAN_TTL_MAX_S, &a->ban_ttl_s) != 0 || a->ban_ttl_s == 0)
                return ctl_fail(why, len, ": 1..2592000 seconds", s);
        } else if (a->command == CTL_CMD_USERS && a->op == CTL_OP_ADD &&
                   strcmp(s, "--max-conns") == 0) {
            if (ctl_num(v, USER_CONNS_MAX, &a->max_conns) != 0)
                return ctl_fail(why, len, ": 0..1000000", s);
        } else if (a->command == CTL_CMD_USERS && a->op == CTL_OP_ADD &&
                   strcmp(s, "--max-rps") == 0) {
            if (ctl_num(v, USER_RPS_MAX, &a->max_rps) != 0)
                return ctl_fail(why, len, ": 0..1000000", s);
        } else if (a->command == CTL_CMD_USERS && a->op == CTL_OP_ADD &&
                   strcmp(s, "--bytes-per-day") == 0) {
            if (ctl_num(v, (int64_t)USER_BYTES_MAX, &a->bytes_per_day) != 0)
                return ctl_fail(why, len, ": 0..2^53 bytes", s);
        } else if (a->command == CTL_CMD_USERS && a->op == CTL_OP_ADD &&
                   strcmp(s, "--bytes-per-month") == 0) {
            if (ctl_num(v, (int64_t)USER_BYTES_MAX, &a->bytes_per_month) != 0)
                return ctl_fail(why, len, ": 0..2^53 bytes", s);
        } else if (strcmp(s, "--state") == 0 && a->command == CTL_CMD_UPSTREAMS) {
            if (fleet_health_parse(v, &a->state) != PF_OK)
                return ctl_fail(why, len, ": healthy, unknown, unhealthy, ejected or unchecked", s);
            a->has_state = 1;
        } else {
            return ctl_fail(why, len, ": unknown option", s);
        }
    }
    if (a->command == CTL_CMD_NONE)
        return ctl_fail(why, len, "no command", "");
    if (a->command == CTL_CMD_BANS || a->command == CTL_CMD_USERS) {
        if (a->op == CTL_OP_NONE)
            return ctl_fail(why, len, "list, add or del is required", "");
        if (a->op == CTL_OP_DEL && a->target == NULL)
            return ctl_fail(why, len, a->command == CTL_CMD_BANS ? "del needs the ban id"
                                                                 : "del needs the user name", "");
        if (a->command == CTL_CMD_USERS && a->op == CTL_OP_ADD && a->target == NULL)
            return ctl_fail(why, len, "add needs the user name (the password is read from "
                                      "a prompt or stdin, never the command line)", "");
        if (a->command == CTL_CMD_BANS && a->op == CTL_OP_ADD &&
            (a->ban_upstream == NULL || a->ban_domain == NULL))
            return ctl_fail(why, len, "add needs --upstream and --domain", "");
    }
    if (a->config_path == NULL)
        return ctl_fail(why, len, "--config FILE is required", "");
    return 0;
}
