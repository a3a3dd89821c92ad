/* Unit tests for common/conf_secret.c: reading {"env": NAME} and
 * {"file": PATH} through a fake conf_io; the source named in <src>; line
 * ends stripped; every refusal names the path and never the value. */
#include <cjson/cJSON.h>
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "conf_secret.h"

static char *fake_getenv(const char *name)
{
    static char value[] = "v4lue-FROM-env";
    static char empty[] = "";
    if (strcmp(name, "SET") == 0)
        return value;
    if (strcmp(name, "EMPTY") == 0)
        return empty;
    return NULL;
}

static char last_path[64];

static int fake_read(void *arg, const char *path, char *buf, size_t cap, size_t *len,
                     int *is_loose, struct pf_err *err)
{
    static const char lf[] = "v4lue-FROM-file\r\n\n";
    cr_assert_eq(cap, CONF_SECRET_FILE_MAX);
    cr_assert_str_eq(arg, "arg");
    snprintf(last_path, sizeof(last_path), "%s", path);
    if (strcmp(path, "/ok") == 0 || strcmp(path, "/loose") == 0) {
        memcpy(buf, lf, sizeof(lf) - 1);
        *len = sizeof(lf) - 1;
        *is_loose = strcmp(path, "/loose") == 0;
        return PF_OK;
    }
    if (strcmp(path, "/newlines") == 0) {
        memcpy(buf, "\n\n", 2);
        *len = 2;
        return PF_OK;
    }
    if (strcmp(path, "/nul") == 0) {
        memcpy(buf, "ab\0cd", 5);
        *len = 5;
        return PF_OK;
    }
    if (strcmp(path, "/liar") == 0) {   /* a reader that claims more than it may */
        *len = cap + 1;
        return PF_OK;
    }
    return pf_err_set(err, PF_EIO, "Permission denied");
}

static char fake_arg[] = "arg";
static const struct conf_io io = { fake_getenv, fake_read, fake_arg };

static int read_ref(const char *json, const struct conf_io *with, struct conf_secret *s,
                    struct pf_err *err)
{
    cJSON *item = cJSON_Parse(json);
    cr_assert_not_null(item, "%s", json);
    int rc = conf_secret_read(item, "a.b[0].pass", with, s, err);
    cJSON_Delete(item);
    return rc;
}

Test(conf_secret, env)
{
    struct conf_secret s;
    struct pf_err err = { 0 };
    cr_assert_eq(read_ref("{\"env\":\"SET\"}", &io, &s, &err), PF_OK, "%s", err.msg);
    cr_expect_str_eq(s.value, "v4lue-FROM-env");
    cr_expect_str_eq(s.src, "env SET");
    cr_expect_eq(s.is_loose, 0);
    conf_secret_wipe(&s);
    cr_expect_null(s.value);
}

Test(conf_secret, file_line_ends_stripped)
{
    struct conf_secret s;
    struct pf_err err = { 0 };
    cr_assert_eq(read_ref("{\"file\":\"/ok\"}", &io, &s, &err), PF_OK, "%s", err.msg);
    cr_expect_str_eq(last_path, "/ok");
    cr_expect_str_eq(s.value, "v4lue-FROM-file");
    cr_expect_eq(s.value, s.buf);
    cr_expect_str_eq(s.src, "file /ok");
    cr_expect_eq(s.is_loose, 0);
    conf_secret_wipe(&s);
    cr_expect_eq(s.buf[0], '\0', "wiped");
    cr_assert_eq(read_ref("{\"file\":\"/loose\"}", &io, &s, &err), PF_OK);
    cr_expect_eq(s.is_loose, 1);
    conf_secret_wipe(&s);
}

Test(conf_secret, refusals)
{
    static const struct {
        char json[64];
        char msg[128];
    } cases[] = {
        { "{\"env\":\"UNSET\"}", "a.b[0].pass: env UNSET is not set" },
        { "{\"env\":\"EMPTY\"}", "a.b[0].pass: env EMPTY is empty" },
        { "{\"env\":\"A-B\"}",
          "a.b[0].pass.env: must be a variable name ([A-Za-z_][A-Za-z0-9_]*, at most 128)" },
        { "{\"env\":\"\"}",
          "a.b[0].pass.env: must be a variable name ([A-Za-z_][A-Za-z0-9_]*, at most 128)" },
        { "{\"env\":[]}",
          "a.b[0].pass.env: must be a variable name ([A-Za-z_][A-Za-z0-9_]*, at most 128)" },
        { "{\"file\":\"/denied\"}", "a.b[0].pass: file /denied: Permission denied" },
        { "{\"file\":\"/newlines\"}", "a.b[0].pass: file /newlines is empty" },
        { "{\"file\":\"/nul\"}", "a.b[0].pass: file /nul: holds a NUL byte" },
        { "{\"file\":\"/liar\"}", "a.b[0].pass: file /liar: larger than 4096 bytes" },
        { "{\"file\":\"a\\u001bb\"}",
          "a.b[0].pass.file: must be a file name (1..1023 bytes, no control characters)" },
        { "{\"file\":1}",
          "a.b[0].pass.file: must be a file name (1..1023 bytes, no control characters)" },
        { "{\"file\":\"/ok\",\"env\":\"SET\"}", "a.b[0].pass: give env or file, not both" },
        { "{\"env\":\"SET\",\"env\":\"SET\"}", "a.b[0].pass.env: duplicate key" },
        { "{\"vault\":\"x\"}", "a.b[0].pass.vault: unknown key" },
        { "{}", "a.b[0].pass: needs env or file" },
    };
    for (size_t i = 0; i < PF_ARRAY_LEN(cases); i++) {
        struct conf_secret s;
        struct pf_err err = { 0 };
        cr_expect_eq(read_ref(cases[i].json, &io, &s, &err), PF_EINVAL, "case %zu", i);
        cr_expect_str_eq(err.msg, cases[i].msg, "case %zu", i);
        cr_expect(strstr(err.msg, "v4lue") == NULL, "case %zu leaks", i);
        conf_secret_wipe(&s);
    }
}

Test(conf_secret, no_io)
{
    struct conf_secret s;
    struct pf_err err = { 0 };
    cr_expect_eq(read_ref("{\"env\":\"SET\"}", NULL, &s, &err), PF_EINVAL);
    cr_expect_str_eq(err.msg, "a.b[0].pass: env SET is not set");
    cr_expect_eq(read_ref("{\"file\":\"/ok\"}", NULL, &s, &err), PF_EINVAL);
    cr_expect_str_eq(err.msg, "a.b[0].pass: file /ok: no file can be read here");
    conf_secret_wipe(&s);
}
