/* proxyfleet-node: the command line (cli.h), then the context's create,
 * start, run and destroy (node_ctx.h). Exit 0 after a clean stop, 2 on a
 * bad config or command line, 1 on a fatal runtime error. */
#include <stdio.h>

#include "cli.h"
#include "log.h"
#include "node_ctx.h"

#define EXIT_BAD_CONFIG 2
#define EXIT_RUNTIME    1

int main(int argc, char **argv)
{
    struct cli_opts opts;
    int is_check_only = 0;
    switch (cli_parse(argc, argv, &opts)) {
    case CLI_VERSION:
        cli_print_version(stdout, "proxyfleet-node");
        return 0;
    case CLI_HELP:
        cli_print_usage(stdout, "proxyfleet-node");
        return 0;
    case CLI_USAGE_ERROR:
        cli_print_usage(stderr, "proxyfleet-node");
        return EXIT_BAD_CONFIG;
    case CLI_CHECK_CONFIG:
        is_check_only = 1;
        break;
    case CLI_RUN:
        break;
    }
    log_set_ident("node");

    struct pf_err err;
    pf_err_clear(&err);
    struct node_ctx *ctx;
    int rc = node_ctx_create(opts.config_path, &ctx, &err);
    if (rc == PF_ENOMEM) {
        log_error("out of memory");
        return EXIT_RUNTIME;
    }
    if (rc != PF_OK) {
        fprintf(stderr, "config: %s\n", err.msg);
        return EXIT_BAD_CONFIG;
    }
    int status = 0;
    if (!is_check_only) {
        status = EXIT_RUNTIME;
        if (node_ctx_start(ctx, &err) != PF_OK)
            log_error("%s", err.msg);
        else if (node_ctx_run(ctx) != PF_OK)
            log_error("%s", "event loop failed");
        else
            status = 0;
    }
    node_ctx_destroy(ctx);
    if (status == 0 && !is_check_only)
        log_info("%s", "stopped");
    return status;
}
