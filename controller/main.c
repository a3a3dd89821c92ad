/* proxyfleet-controller: polls providers, publishes the pool to Redis.
 *   proxyfleet-controller --config FILE [--check-config]
 * Exit: 0 after a clean shutdown (SIGINT/SIGTERM; the leader releases its
 * lease), 2 bad config or command line, 1 fatal runtime error. SIGHUP
 * reloads the config file. Only the lease holder polls and writes. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <event2/event.h>

#include "cli.h"
#include "context.h"
#include "controller.h"
#include "log.h"
#include "redis.h"
#include "seal.h"

#define CTL_EXIT_OK     0
#define CTL_EXIT_FATAL  1
#define CTL_EXIT_CONFIG 2

int main(int argc, char **argv)
{
    const char *path = NULL;
    int is_check = 0;
    int status = CTL_EXIT_FATAL;
    struct ctl_ctx ctx;
    struct pf_err err;

    struct cli_opts opts;
    switch (cli_parse(argc, argv, &opts)) {
    case CLI_VERSION:
        cli_print_version(stdout, "proxyfleet-controller");
        return 0;
    case CLI_HELP:
        cli_print_usage(stdout, "proxyfleet-controller");
        return 0;
    case CLI_USAGE_ERROR:
        cli_print_usage(stderr, "proxyfleet-controller");
        return CTL_EXIT_CONFIG;
    case CLI_CHECK_CONFIG:
        is_check = 1;
        break;
    case CLI_RUN:
        break;
    }
    path = opts.config_path;

    memset(&ctx, 0, sizeof(ctx));
    ctx.config_path = path;
    pf_err_clear(&err);
    log_set_ident("controller");
    if (conf_load_file(&ctx.conf, path, &err) != PF_OK || context_check(&ctx, &err) != PF_OK) {
        fprintf(stderr, "config: %s: %s\n", path, err.msg);
        conf_deinit(&ctx.conf);
        return CTL_EXIT_CONFIG;
    }
    enum pf_log_level level = PF_LOG_INFO;
    enum pf_log_format format = PF_LOG_TEXT;
    if (log_parse_level(ctx.conf.log_level, &level) != PF_OK ||
        log_parse_format(ctx.conf.log_format, &format) != PF_OK) {
        fprintf(stderr, "config: %s: log: unknown level or format\n", path);
        conf_deinit(&ctx.conf);
        return CTL_EXIT_CONFIG;
    }
    if (ctx.conf.redis.credential_key_file[0] != '\0') {
        ctx.cred_key = seal_key_load(ctx.conf.redis.credential_key_file, &err);
        if (ctx.cred_key == NULL) {
            fprintf(stderr, "config: %s: redis.credential_key_file: %s\n", path, err.msg);
            conf_deinit(&ctx.conf);
            return CTL_EXIT_CONFIG;
        }
    }
    if (is_check) {
        seal_key_destroy(ctx.cred_key);
        conf_deinit(&ctx.conf);
        return CTL_EXIT_OK;
    }
    log_set_level(level);
    log_set_format(format);
    if (ctx.cred_key == NULL)
        log_warn("redis.credential_key_file is not set: upstream passwords are stored in Redis "
                 "in clear; to seal them, write 64 hex chars (openssl rand -hex 32) to a file "
                 "with mode 0600 and set redis.credential_key_file to it on the controller and "
                 "every node");
    else if (ctx.cred_key->is_mode_loose)
        log_warn("credential key file %s is accessible to group or others; chmod 600 it",
                 ctx.conf.redis.credential_key_file);

    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        log_error("curl_global_init failed");
        seal_key_destroy(ctx.cred_key);
        conf_deinit(&ctx.conf);
        return CTL_EXIT_FATAL;
    }
    /* A Redis peer closing mid-write must be an error, not a signal. */
    signal(SIGPIPE, SIG_IGN);

    if (context_create(&ctx) != PF_OK) {
        log_error("controller setup failed");
        goto out;
    }
    log_info("controller %s started: %zu providers, redis %s%s prefix %s", ctx.conf.controller.id,
             ctx.nproviders, redis_target(ctx.redis),
             ctx.conf.redis.nsentinels > 0 ? " (via redis.sentinels)" : "", ctx.keys.base);
    if (event_base_dispatch(ctx.base) < 0) {
        log_error("event loop failed");
        goto out;
    }
    status = CTL_EXIT_OK;
    log_info("controller stopped");

out:
    context_destroy(&ctx);
    curl_global_cleanup();
    libevent_global_shutdown();
    return status;
}
