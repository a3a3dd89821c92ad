/* Command line of both binaries; see cli.h. */
#include "cli.h"

#include <string.h>

#include "version.h"

enum cli_action cli_parse(int argc, char **argv, struct cli_opts *o)
{
    int is_check = 0, is_bad = 0;

    o->config_path = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--version") == 0)
            return CLI_VERSION;
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
            return CLI_HELP;
    }
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
            o->config_path = argv[++i];
        else if (strcmp(argv[i], "--check-config") == 0)
            is_check = 1;
        else
            is_bad = 1;
    }
    if (is_bad || o->config_path == NULL) {
        o->config_path = NULL;
        return CLI_USAGE_ERROR;
    }
    return is_check ? CLI_CHECK_CONFIG : CLI_RUN;
}

void cli_print_usage(FILE *f, const char *program)
{
    fprintf(f,
            "usage: %s --config FILE [--check-config]\n"
            "       %s --version | --help\n"
            "  --config FILE    the JSON configuration (docs/configuration.md)\n"
            "  --check-config   validate FILE and exit: 0 good, 2 bad (reason on stderr)\n"
            "  --version        print the version and git commit, exit 0\n"
            "  --help           print this text, exit 0\n",
            program, program);
}

void cli_print_version(FILE *f, const char *program)
{
    char line[160];
    version_format(program, line, sizeof(line));
    fprintf(f, "%s\n", line);
}
