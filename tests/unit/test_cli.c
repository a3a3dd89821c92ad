/* Unit tests for common/cli.c. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "version.h"

struct cli_case {
    const char *args[5];
    enum cli_action want;
    const char *want_path;
};

Test(cli, parse_table)
{
    static const struct cli_case cases[] = {
        { { "--config", "a.json" }, CLI_RUN, "a.json" },
        { { "--config", "a.json", "--check-config" }, CLI_CHECK_CONFIG, "a.json" },
        { { "--check-config", "--config", "b.json" }, CLI_CHECK_CONFIG, "b.json" },
        { { "--version" }, CLI_VERSION, NULL },
        { { "--config", "a.json", "--version" }, CLI_VERSION, NULL },
        { { "--help" }, CLI_HELP, NULL },
        { { "-h", "--bogus" }, CLI_HELP, NULL },
        { { NULL }, CLI_USAGE_ERROR, NULL },
        { { "--config" }, CLI_USAGE_ERROR, NULL },
        { { "--check-config" }, CLI_USAGE_ERROR, NULL },
        { { "--config", "a.json", "--bogus" }, CLI_USAGE_ERROR, NULL },
        { { "a.json" }, CLI_USAGE_ERROR, NULL },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *argv[7] = { (char *)"prog" };
        int argc = 1;
        for (int k = 0; k < 5 && cases[i].args[k] != NULL; k++)
            argv[argc++] = (char *)cases[i].args[k];
        struct cli_opts o;
        cr_expect_eq(cli_parse(argc, argv, &o), cases[i].want, "case %zu", i);
        if (cases[i].want_path != NULL)
            cr_expect_str_eq(o.config_path, cases[i].want_path, "case %zu", i);
        else
            cr_expect_null(o.config_path, "case %zu", i);
    }
}

Test(cli, version_line_names_version_and_commit)
{
    char buf[256];
    FILE *f = fmemopen(buf, sizeof(buf), "w");
    cr_assert_not_null(f);
    cli_print_version(f, "proxyfleet-node");
    fclose(f);
    cr_expect(strncmp(buf, "proxyfleet-node ", 16) == 0);
    cr_expect(strstr(buf, version_string()) != NULL);
    if (version_commit()[0] != '\0')
        cr_expect(strstr(buf, version_commit()) != NULL);
    cr_expect_eq(buf[strlen(buf) - 1], '\n');
}

Test(cli, usage_lists_every_option)
{
    char buf[1024];
    FILE *f = fmemopen(buf, sizeof(buf), "w");
    cr_assert_not_null(f);
    cli_print_usage(f, "proxyfleet-controller");
    fclose(f);
    const char *opts[] = { "--config FILE", "--check-config", "--version", "--help" };
    for (size_t i = 0; i < 4; i++)
        cr_expect(strstr(buf, opts[i]) != NULL, "%s", opts[i]);
}
