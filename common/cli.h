/* The command line both binaries share:
 *   <program> --config FILE [--check-config]
 *   <program> --version | --help
 * Parsing only: each main.c decides what to run and exits with its code. */
#ifndef PF_CLI_H
#define PF_CLI_H

#include <stdio.h>

enum cli_action {
    CLI_RUN = 0,            /* --config FILE */
    CLI_CHECK_CONFIG,       /* --config FILE --check-config */
    CLI_VERSION,            /* --version (exit 0) */
    CLI_HELP,               /* --help / -h (usage on stdout, exit 0) */
    CLI_USAGE_ERROR,        /* anything else (usage on stderr, exit 2) */
};

struct cli_opts {
    const char *config_path;   /* borrowed from argv; NULL unless RUN or CHECK_CONFIG */
};

/* Parses <argc>/<argv> into <o>. --version and --help win over the rest
 * wherever they stand; an unknown argument, a missing FILE or no --config
 * is CLI_USAGE_ERROR. */
enum cli_action cli_parse(int argc, char **argv, struct cli_opts *o);

/* Prints the usage of <program> ("proxyfleet-node") on <f>. */
void cli_print_usage(FILE *f, const char *program);

/* Prints "<program> <version> (commit <sha>)" and a newline on <f>. */
void cli_print_version(FILE *f, const char *program);

#endif
