/* Unit tests for common/conf_schema.c, the typed table engine, on a toy
 * schema with one key of every type: defaults, values, the error of each
 * type with its path, secrets from env and files through a fake conf_io,
 * env-style setting by path, the walk of key paths, and deinit. */
#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf_schema.h"

enum toy_color { TOY_RED = 0, TOY_GREEN, TOY_BLUE };

struct toy_item {
    char     name[16];
    char     pass[32];                  /* secret */
    int      weight;
};

struct toy_sub {
    int      a;
    int      is_given;
};

struct toy {
    char     name[64];
    char     label[8];
    char     lower[8];
    char     secret[32];
    char     path[64];
    char     listen[64];
    int      count;
    int64_t  big;
    int      flag;
    double   ratio;
    enum toy_color color;
    struct conf_cidr cidrs[4];
    int      ncidrs;
    struct conf_upstream_policy policy;
    uint16_t ports[4];
    int      nports;
    char     words[3][8];
    int      nwords;
    char     scalars[2][16];
    int      nscalars;
    char   **strv;                      /* owned */
    int      nstrv;
    struct toy_sub sub;
    struct toy_sub lazy;
    int      has_lazy;
    struct toy_item *items;             /* owned */
    int      nitems;
    int      hook_value;
    int      init_ran;
    int      finish_ran;
};

static const struct conf_choice toy_colors[] = {
    { "red", TOY_RED }, { "green", TOY_GREEN }, { "blue", TOY_BLUE }, { NULL, 0 },
};

static const uint16_t toy_default_ports[] = { 443, 80, 0 };

/* Lower-cases in place; refuses "bad". */
static int toy_check_lower(void *base, char *value, struct pf_err *err)
{
    (void)base;
    if (strcmp(value, "bad") == 0)
        return pf_err_set(err, PF_EINVAL, "is bad");
    for (char *p = value; *p != '\0'; p++)
        if (*p >= 'A' && *p <= 'Z')
            *p = (char)(*p - 'A' + 'a');
    return PF_OK;
}

static int toy_hook(void *base, const cJSON *item, const char *path, struct pf_err *err)
{
    struct toy *t = base;
    int64_t v;
    if (cJSON_IsString(item) && strcmp(item->valuestring, "seven") == 0) {
        t->hook_value = 7;
        return PF_OK;
    }
    if (conf_schema_int(item, 0, 9, &v, err) != PF_OK) {
        pf_err_prefix(err, "%s: ", path);
        return PF_EINVAL;
    }
    t->hook_value = (int)v;
    return PF_OK;
}

static int toy_item_finish(void *base, const struct conf_obj *obj, struct pf_err *err)
{
    const struct toy_item *it = base;
    cr_assert_not_null(obj->array_path);
    for (int j = 1; j <= obj->index; j++) {
        if (strcmp(it[-j].name, it->name) == 0)
            return pf_err_set(err, PF_EINVAL, "%s: duplicate name '%s' (in %s)", obj->path,
                              it->name, obj->array_path);
    }
    if (!conf_obj_has(obj, "weight") && it->weight != 1)
        return pf_err_set(err, PF_EINVAL, "%s: default weight lost", obj->path);
    return PF_OK;
}

static const struct conf_key toy_item_keys[] = {
    CONF_STR(struct toy_item, "name", name, CONF_F_NONEMPTY | CONF_F_REQUIRED, NULL, NULL),
    CONF_SECRET(struct toy_item, "pass", pass, CONF_F_REQUIRED, NULL),
    CONF_INT(struct toy_item, "weight", weight, 1, 100, 1),
};
static const struct conf_table toy_item_table =
    CONF_TABLE(toy_item_keys, struct toy_item, NULL, toy_item_finish);

static const struct conf_key toy_sub_keys[] = {
    CONF_INT(struct toy_sub, "a", a, 0, 10, 5),
};
static const struct conf_table toy_sub_table = CONF_TABLE(toy_sub_keys, struct toy_sub, NULL, NULL);

static void toy_init(void *base)
{
    ((struct toy *)base)->init_ran = 1;
}

static int toy_finish(void *base, const struct conf_obj *obj, struct pf_err *err)
{
    struct toy *t = base;
    t->finish_ran = 1;
    if (t->count == 13)
        return pf_err_set(err, PF_EINVAL, "%s%scount: unlucky", obj->path,
                          obj->path[0] != '\0' ? "." : "");
    return PF_OK;
}

static const struct conf_key toy_keys[] = {
    CONF_NAME(struct toy, "name", name, 0),
    CONF_STR(struct toy, "label", label, 0, "def", NULL),
    CONF_STR_READ(struct toy, "lower", lower, CONF_F_NONEMPTY, "LOW", toy_check_lower, 64),
    CONF_SECRET(struct toy, "secret", secret, CONF_F_NONEMPTY, conf_check_printable),
    CONF_PATH(struct toy, "path", path, 0),
    CONF_LISTEN(struct toy, "listen", listen, 0, "127.0.0.1:80"),
    CONF_INT(struct toy, "count", count, -5, 50, 3),
    CONF_INT(struct toy, "big", big, 1, 10000000000LL, 5000000000LL),
    CONF_BOOL(struct toy, "flag", flag, 1),
    CONF_NUM(struct toy, "ratio", ratio, CONF_F_MIN_OPEN, 0, 1, 0.5),
    CONF_CHOICE(struct toy, "color", color, 0, toy_colors, TOY_GREEN),
    CONF_CIDRS(struct toy, "cidrs", cidrs, ncidrs),
    CONF_POLICY(struct toy, "policy", policy),
    CONF_PORTS(struct toy, "ports", ports, nports, toy_default_ports),
    CONF_STRS(struct toy, "words", words, nwords),
    CONF_SCALARS(struct toy, "scalars", scalars, nscalars),
    CONF_STRV(struct toy, "strv", strv, nstrv, 3, 16),
    CONF_OBJECT(struct toy, "sub", sub, 0, &toy_sub_table),
    CONF_OBJECT_MARK(struct toy, "lazy", lazy, CONF_F_LAZY, &toy_sub_table, has_lazy),
    CONF_ARRAY(struct toy, "items", items, nitems, 3, "items", &toy_item_table),
    CONF_HOOK("hook", 0, toy_hook),
};
static const struct conf_table toy_table = CONF_TABLE(toy_keys, struct toy, toy_init, toy_finish);

/* ---- a fake environment and file system ------------------------------------ */

static char *fake_getenv(const char *name)
{
    static char secret[] = "env-secret";
    static char empty[] = "";
    static char long_value[64];
    static char bad[] = "tab\there SECRETVALUE";
    if (strcmp(name, "TOY_SECRET") == 0)
        return secret;
    if (strcmp(name, "TOY_EMPTY") == 0)
        return empty;
    if (strcmp(name, "TOY_LONG") == 0) {
        memset(long_value, 'x', sizeof(long_value) - 1);
        long_value[sizeof(long_value) - 1] = '\0';
        return long_value;
    }
    if (strcmp(name, "TOY_BAD") == 0)
        return bad;
    return NULL;
}

static int reads;

static int fake_read_file(void *arg, const char *path, char *buf, size_t cap, size_t *len,
                          int *is_loose, struct pf_err *err)
{
    static const struct {
        const char *path;
        const char *data;
        size_t      len;
        int         is_loose;
    } files[] = {
        { "/s/ok", "file-secret\n", 12, 0 },
        { "/s/crlf", "file-secret\r\n", 13, 0 },
        { "/s/loose", "loose-secret", 12, 1 },
        { "/s/nul", "a\0b", 3, 0 },
        { "/s/empty", "\n", 1, 0 },
        { "/s/bad", "SECRETVALUE\x01", 12, 0 },
    };
    cr_assert_eq(arg, &reads);
    reads++;
    if (strcmp(path, "/s/big") == 0)
        return pf_err_set(err, PF_ERANGE, "larger than %zu bytes", cap);
    for (size_t i = 0; i < PF_ARRAY_LEN(files); i++) {
        if (strcmp(files[i].path, path) == 0) {
            cr_assert_leq(files[i].len, cap);
            memcpy(buf, files[i].data, files[i].len);
            *len = files[i].len;
            *is_loose = files[i].is_loose;
            return PF_OK;
        }
    }
    return pf_err_set(err, PF_EIO, "No such file or directory");
}

static const struct conf_io fake_io = { fake_getenv, fake_read_file, &reads };

static int parse_with(struct toy *t, const char *json, const struct conf_io *io,
                      struct conf_warnings *w, struct pf_err *err)
{
    memset(t, 0, sizeof(*t));
    conf_schema_defaults(&toy_table, t);
    cJSON *root = cJSON_Parse(json);
    cr_assert_not_null(root, "bad test JSON: %s", json);
    int rc = conf_schema_parse(&toy_table, t, root, "", io, w, err);
    cJSON_Delete(root);
    return rc;
}

static int parse(struct toy *t, const char *json, struct pf_err *err)
{
    return parse_with(t, json, &fake_io, NULL, err);
}

Test(conf_schema, defaults)
{
    struct toy t;
    memset(&t, 0, sizeof(t));
    conf_schema_defaults(&toy_table, &t);
    cr_expect_str_eq(t.name, "");
    cr_expect_str_eq(t.label, "def");
    cr_expect_str_eq(t.lower, "low", "defaults pass through the check");
    cr_expect_str_eq(t.listen, "127.0.0.1:80");
    cr_expect_eq(t.count, 3);
    cr_expect_eq(t.big, 5000000000LL);
    cr_expect_eq(t.flag, 1);
    cr_expect_float_eq(t.ratio, 0.5, 1e-12);
    cr_expect_eq(t.color, TOY_GREEN);
    cr_assert_eq(t.nports, 2);
    cr_expect_eq(t.ports[0], 443);
    cr_expect_eq(t.ports[1], 80);
    cr_expect_eq(t.sub.a, 5, "nested object defaults");
    cr_expect_eq(t.lazy.a, 0, "a lazy object stays zero");
    cr_expect_eq(t.has_lazy, 0);
    cr_expect_null(t.items);
    cr_expect_eq(t.init_ran, 1);
    conf_schema_deinit(&toy_table, &t);
}

Test(conf_schema, every_type)
{
    struct toy t;
    struct pf_err err = { 0 };
    const char *j =
        "{\"name\":\"n-1\",\"label\":\"\",\"lower\":\"MiXeD\",\"secret\":\"s3\",\"path\":\"/p\","
        "\"listen\":\"[::1]:8080\",\"count\":-5,\"big\":10000000000,\"flag\":false,\"ratio\":1,"
        "\"color\":\"blue\",\"cidrs\":[\"10.0.0.0/8\",\"::1\"],\"policy\":[\"192.168.0.0/16\"],"
        "\"ports\":[1,65535,22],\"words\":[\"a\",\"bb\"],\"scalars\":[0,true],"
        "\"strv\":[\"x\",\"y\"],\"sub\":{\"a\":7},\"lazy\":{},"
        "\"items\":[{\"name\":\"i\",\"pass\":\"p\"},{\"name\":\"j\",\"pass\":\"q\",\"weight\":9}],"
        "\"hook\":\"seven\"}";
    cr_assert_eq(parse(&t, j, &err), PF_OK, "%s", err.msg);
    cr_expect_str_eq(t.name, "n-1");
    cr_expect_str_eq(t.label, "", "an empty string replaces the default");
    cr_expect_str_eq(t.lower, "mixed");
    cr_expect_str_eq(t.secret, "s3");
    cr_expect_str_eq(t.path, "/p");
    cr_expect_str_eq(t.listen, "[::1]:8080");
    cr_expect_eq(t.count, -5);
    cr_expect_eq(t.big, 10000000000LL);
    cr_expect_eq(t.flag, 0);
    cr_expect_float_eq(t.ratio, 1.0, 1e-12);
    cr_expect_eq(t.color, TOY_BLUE);
    cr_assert_eq(t.ncidrs, 2);
    cr_expect_eq(t.cidrs[0].family, AF_INET);
    cr_expect_eq(t.cidrs[0].prefix_len, 8);
    cr_expect_eq(t.cidrs[1].family, AF_INET6);
    cr_expect_eq(t.cidrs[1].prefix_len, 128);
    cr_expect_eq(t.policy.is_private_allowed, 0);
    cr_expect_eq(t.policy.nallow, 1);
    cr_assert_eq(t.nports, 3);
    cr_expect_eq(t.ports[1], 65535);
    cr_assert_eq(t.nwords, 2);
    cr_expect_str_eq(t.words[1], "bb");
    cr_assert_eq(t.nscalars, 2);
    cr_expect_str_eq(t.scalars[0], "0");
    cr_expect_str_eq(t.scalars[1], "true");
    cr_assert_eq(t.nstrv, 2);
    cr_expect_str_eq(t.strv[1], "y");
    cr_expect_eq(t.sub.a, 7);
    cr_expect_eq(t.has_lazy, 1);
    cr_expect_eq(t.lazy.a, 5, "a lazy object given gets its defaults");
    cr_assert_eq(t.nitems, 2);
    cr_expect_str_eq(t.items[0].name, "i");
    cr_expect_eq(t.items[0].weight, 1);
    cr_expect_eq(t.items[1].weight, 9);
    cr_expect_str_eq(t.items[1].pass, "q");
    cr_expect_eq(t.hook_value, 7);
    cr_expect_eq(t.finish_ran, 1);
    conf_schema_deinit(&toy_table, &t);
    cr_expect_null(t.items);
    cr_expect_eq(t.nitems, 0);
    cr_expect_null(t.strv);
    cr_expect_eq(t.nstrv, 0);
    cr_expect_str_eq(t.secret, "", "secrets are wiped");
    conf_schema_deinit(&toy_table, &t);     /* twice is safe */
}

Test(conf_schema, policy_bool_and_empty_ports)
{
    struct toy t;
    struct pf_err err = { 0 };
    cr_assert_eq(parse(&t, "{\"policy\":true,\"ports\":[]}", &err), PF_OK, "%s", err.msg);
    cr_expect_eq(t.policy.is_private_allowed, 1);
    cr_expect_eq(t.nports, 0);
    conf_schema_deinit(&toy_table, &t);
}

struct err_case {
    char json[200];
    char msg[160];
};

static const struct err_case err_cases[] = {
    { "[]", "config: must be an object" },
    { "{\"nope\":1}", "nope: unknown key" },
    { "{\"count\":1,\"count\":2}", "count: duplicate key" },
    { "{\"name\":5}", "name: must be a string" },
    { "{\"name\":\"\"}", "name: must not be empty" },
    { "{\"name\":\"a b\"}", "name: must be 1..63 chars of [A-Za-z0-9_.-]" },
    { "{\"name\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"}",
      "name: must be 1..63 chars of [A-Za-z0-9_.-]" },
    { "{\"label\":\"12345678\"}", "label: longer than 7 bytes" },
    { "{\"lower\":\"bad\"}", "lower: is bad" },
    { "{\"lower\":\"ABCDEFGHIJ\"}", "lower: longer than 7 bytes" },
    { "{\"secret\":7}", "secret: must be a string, {\"env\": NAME} or {\"file\": PATH}" },
    { "{\"secret\":\"a\\tb\"}", "secret: invalid character" },
    { "{\"listen\":\"127.0.0.1\"}", "listen: missing port" },
    { "{\"count\":51}", "count: must be -5..50" },
    { "{\"count\":1.5}", "count: must be an integer" },
    { "{\"count\":\"1\"}", "count: must be an integer" },
    { "{\"big\":0}", "big: must be 1..10000000000" },
    { "{\"flag\":1}", "flag: must be true or false" },
    { "{\"ratio\":0}", "ratio: must be a number in (0, 1]" },
    { "{\"ratio\":1.01}", "ratio: must be a number in (0, 1]" },
    { "{\"ratio\":\"x\"}", "ratio: must be a number in (0, 1]" },
    { "{\"color\":\"pink\"}", "color: must be red, green or blue" },
    { "{\"color\":\"\"}", "color: must not be empty" },
    { "{\"color\":1}", "color: must be a string" },
    { "{\"cidrs\":\"10.0.0.0/8\"}", "cidrs: must be an array of strings" },
    { "{\"cidrs\":[\"1.1.1.1\",\"1.1.1.2\",\"1.1.1.3\",\"1.1.1.4\",\"1.1.1.5\"]}",
      "cidrs: more than 4 entries" },
    { "{\"cidrs\":[\"10.0.0.0/33\"]}", "cidrs[0]: CIDR prefix length 33 out of range" },
    { "{\"cidrs\":[1]}", "cidrs[0]: must be a string" },
    { "{\"policy\":\"yes\"}", "policy: must be true, false or an array of CIDRs" },
    { "{\"policy\":[\"x\"]}", "policy[0]: invalid CIDR address" },
    { "{\"ports\":{}}", "ports: must be an array of ports" },
    { "{\"ports\":[1,2,3,4,5]}", "ports: more than 4 entries" },
    { "{\"ports\":[80,0]}", "ports[1]: must be 1..65535" },
    { "{\"words\":[\"a\",\"b\",\"c\",\"d\"]}", "words: must be an array of at most 3 strings" },
    { "{\"words\":[\"\"]}", "words[0]: must not be empty" },
    { "{\"words\":[\"12345678\"]}", "words[0]: longer than 7 bytes" },
    { "{\"scalars\":[]}", "scalars: must be an array of 1..2 scalars" },
    { "{\"scalars\":[null]}", "scalars[0]: must be a number, string or boolean" },
    { "{\"scalars\":[{}]}", "scalars[0]: must be a number, string or boolean" },
    { "{\"strv\":[\"a\",\"b\",\"c\",\"d\"]}", "strv: more than 3 entries" },
    { "{\"strv\":[\"a\",2]}", "strv[1]: must be a string" },
    { "{\"strv\":[\"aaaaaaaaaaaaaaaa\"]}", "strv[0]: longer than 15 bytes" },
    { "{\"sub\":[]}", "sub: must be an object" },
    { "{\"sub\":{\"b\":1}}", "sub.b: unknown key" },
    { "{\"lazy\":{\"a\":11}}", "lazy.a: must be 0..10" },
    { "{\"items\":{}}", "items: must be an array" },
    { "{\"items\":[{},{},{},{}]}", "items: more than 3 items" },
    { "{\"items\":[1]}", "items[0]: must be an object" },
    { "{\"items\":[{\"pass\":\"p\"}]}", "items[0].name: missing" },
    { "{\"items\":[{\"name\":\"a\"}]}", "items[0].pass: missing" },
    { "{\"items\":[{\"name\":\"a\",\"pass\":\"1\"},{\"name\":\"a\",\"pass\":\"2\"}]}",
      "items[1]: duplicate name 'a' (in items)" },
    { "{\"hook\":10}", "hook: must be 0..9" },
    { "{\"count\":13}", "count: unlucky" },
    { "{\"\\u0001\":1}", "?: unknown key" },
};

Test(conf_schema, errors_name_the_path)
{
    for (size_t i = 0; i < PF_ARRAY_LEN(err_cases); i++) {
        struct toy t;
        struct pf_err err = { 0 };
        cr_expect_eq(parse(&t, err_cases[i].json, &err), PF_EINVAL, "case %zu", i);
        cr_expect_str_eq(err.msg, err_cases[i].msg, "case %zu: %s", i, err_cases[i].json);
        conf_schema_deinit(&toy_table, &t);
    }
}

Test(conf_schema, nested_path_prefix)
{
    struct toy t;
    struct pf_err err = { 0 };
    memset(&t, 0, sizeof(t));
    conf_schema_defaults(&toy_table, &t);
    cJSON *root = cJSON_Parse("{\"items\":[{\"name\":\"a\",\"pass\":\"p\",\"weight\":0}]}");
    cr_assert_eq(conf_schema_parse(&toy_table, &t, root, "top.level", NULL, NULL, &err),
                 PF_EINVAL);
    cr_expect_str_eq(err.msg, "top.level.items[0].weight: must be 1..100");
    cJSON_Delete(root);
    conf_schema_deinit(&toy_table, &t);
}

/* ---- secrets ------------------------------------------------------------------ */

Test(conf_schema, secret_forms)
{
    static const struct {
        char json[96];
        char value[32];
    } ok[] = {
        { "{\"secret\":\"literal\"}", "literal" },
        { "{\"secret\":{\"env\":\"TOY_SECRET\"}}", "env-secret" },
        { "{\"secret\":{\"file\":\"/s/ok\"}}", "file-secret" },
        { "{\"secret\":{\"file\":\"/s/crlf\"}}", "file-secret" },
        { "{\"items\":[{\"name\":\"a\",\"pass\":{\"env\":\"TOY_SECRET\"}}]}", "" },
    };
    for (size_t i = 0; i < PF_ARRAY_LEN(ok); i++) {
        struct toy t;
        struct pf_err err = { 0 };
        struct conf_warnings w = { 0 };
        cr_assert_eq(parse_with(&t, ok[i].json, &fake_io, &w, &err), PF_OK, "case %zu: %s", i,
                     err.msg);
        cr_expect_str_eq(t.secret, ok[i].value, "case %zu", i);
        cr_expect_eq(w.n, 0, "case %zu", i);
        conf_schema_deinit(&toy_table, &t);
    }
    struct toy t;
    struct pf_err err = { 0 };
    cr_assert_eq(parse(&t, ok[4].json, &err), PF_OK, "%s", err.msg);
    cr_expect_str_eq(t.items[0].pass, "env-secret", "secrets inside arrays of objects");
    conf_schema_deinit(&toy_table, &t);
}

Test(conf_schema, secret_file_others_may_read_warns)
{
    struct toy t;
    struct pf_err err = { 0 };
    struct conf_warnings w = { 0 };
    cr_assert_eq(parse_with(&t, "{\"secret\":{\"file\":\"/s/loose\"}}", &fake_io, &w, &err),
                 PF_OK, "%s", err.msg);
    cr_expect_str_eq(t.secret, "loose-secret");
    cr_assert_eq(w.n, 1);
    cr_expect_str_eq(w.msg[0], "secret: file /s/loose is accessible to group or others; "
                               "chmod 600 it");
    conf_schema_deinit(&toy_table, &t);
}

Test(conf_schema, secret_errors_never_show_the_value)
{
    static const struct err_case cases[] = {
        { "{\"secret\":{\"env\":\"TOY_UNSET\"}}", "secret: env TOY_UNSET is not set" },
        { "{\"secret\":{\"env\":\"TOY_EMPTY\"}}", "secret: env TOY_EMPTY is empty" },
        { "{\"secret\":{\"env\":\"TOY_LONG\"}}", "secret: env TOY_LONG: longer than 31 bytes" },
        { "{\"secret\":{\"env\":\"TOY_BAD\"}}", "secret: env TOY_BAD: invalid character" },
        { "{\"secret\":{\"env\":\"1X\"}}",
          "secret.env: must be a variable name ([A-Za-z_][A-Za-z0-9_]*, at most 128)" },
        { "{\"secret\":{\"env\":5}}",
          "secret.env: must be a variable name ([A-Za-z_][A-Za-z0-9_]*, at most 128)" },
        { "{\"secret\":{\"file\":\"/s/missing\"}}",
          "secret: file /s/missing: No such file or directory" },
        { "{\"secret\":{\"file\":\"/s/big\"}}", "secret: file /s/big: larger than 4096 bytes" },
        { "{\"secret\":{\"file\":\"/s/nul\"}}", "secret: file /s/nul: holds a NUL byte" },
        { "{\"secret\":{\"file\":\"/s/empty\"}}", "secret: file /s/empty is empty" },
        { "{\"secret\":{\"file\":\"/s/bad\"}}", "secret: file /s/bad: invalid character" },
        { "{\"secret\":{\"file\":\"\"}}",
          "secret.file: must be a file name (1..1023 bytes, no control characters)" },
        { "{\"secret\":{\"file\":\"/a\\nb\"}}",
          "secret.file: must be a file name (1..1023 bytes, no control characters)" },
        { "{\"secret\":{\"env\":\"A\",\"file\":\"/b\"}}", "secret: give env or file, not both" },
        { "{\"secret\":{}}", "secret: needs env or file" },
        { "{\"secret\":{\"vault\":\"x\"}}", "secret.vault: unknown key" },
        { "{\"secret\":{\"env\":\"A\",\"env\":\"B\"}}", "secret.env: duplicate key" },
        { "{\"items\":[{\"name\":\"a\",\"pass\":{\"env\":\"TOY_UNSET\"}}]}",
          "items[0].pass: env TOY_UNSET is not set" },
        { "{\"label\":{\"env\":\"TOY_SECRET\"}}", "label: must be a string" },
    };
    for (size_t i = 0; i < PF_ARRAY_LEN(cases); i++) {
        struct toy t;
        struct pf_err err = { 0 };
        cr_expect_eq(parse(&t, cases[i].json, &err), PF_EINVAL, "case %zu", i);
        cr_expect_str_eq(err.msg, cases[i].msg, "case %zu", i);
        cr_expect(strstr(err.msg, "SECRET") == NULL && strstr(err.msg, "-secret") == NULL &&
                  strstr(err.msg, "xxxx") == NULL, "case %zu leaks: %s", i, err.msg);
        conf_schema_deinit(&toy_table, &t);
    }
}

Test(conf_schema, secret_without_io)
{
    struct toy t;
    struct pf_err err = { 0 };
    cr_expect_eq(parse_with(&t, "{\"secret\":{\"env\":\"TOY_SECRET\"}}", NULL, NULL, &err),
                 PF_EINVAL);
    cr_expect_str_eq(err.msg, "secret: env TOY_SECRET is not set");
    conf_schema_deinit(&toy_table, &t);
    cr_expect_eq(parse_with(&t, "{\"secret\":{\"file\":\"/s/ok\"}}", NULL, NULL, &err),
                 PF_EINVAL);
    cr_expect_str_eq(err.msg, "secret: file /s/ok: no file can be read here");
    conf_schema_deinit(&toy_table, &t);
}

/* ---- set, walk ------------------------------------------------------------------ */

Test(conf_schema, set_by_path)
{
    struct toy t;
    struct pf_err err = { 0 };
    memset(&t, 0, sizeof(t));
    conf_schema_defaults(&toy_table, &t);
    cr_expect_eq(conf_schema_set(&toy_table, &t, "lower", "UP", &err), PF_OK, "%s", err.msg);
    cr_expect_str_eq(t.lower, "up");
    cr_expect_eq(conf_schema_set(&toy_table, &t, "color", "red", &err), PF_OK);
    cr_expect_eq(t.color, TOY_RED);
    cr_expect_eq(conf_schema_set(&toy_table, &t, "secret", "s", &err), PF_OK);
    cr_expect_str_eq(t.secret, "s");
    cr_expect_eq(conf_schema_set(&toy_table, &t, "name", "a b", &err), PF_EINVAL);
    cr_expect_str_eq(err.msg, "must be 1..63 chars of [A-Za-z0-9_.-]");
    cr_expect_eq(conf_schema_set(&toy_table, &t, "color", "pink", &err), PF_EINVAL);
    cr_expect_str_eq(err.msg, "must be red, green or blue");
    cr_expect_eq(conf_schema_set(&toy_table, &t, "nope", "x", &err), PF_EINVAL);
    cr_expect_str_eq(err.msg, "no such key");
    cr_expect_eq(conf_schema_set(&toy_table, &t, "sub.b", "x", &err), PF_EINVAL);
    cr_expect_eq(conf_schema_set(&toy_table, &t, "count", "1", &err), PF_EINVAL);
    cr_expect_str_eq(err.msg, "cannot be set from a string");
    conf_schema_deinit(&toy_table, &t);
}

static void collect(void *arg, const char *path, const struct conf_key *key)
{
    char *out = arg;
    (void)key;
    strcat(out, path);
    strcat(out, " ");
}

Test(conf_schema, walk_paths)
{
    char out[1024] = "";
    conf_schema_walk(&toy_table, "", collect, out);
    cr_expect_str_eq(out, "name label lower secret path listen count big flag ratio color cidrs "
                          "policy ports words scalars strv sub sub.a lazy lazy.a items "
                          "items[].name items[].pass items[].weight hook ");
    out[0] = '\0';
    conf_schema_walk(&toy_sub_table, "root", collect, out);
    cr_expect_str_eq(out, "root.a ");
}

Test(conf_schema, parse_twice_replaces_lists)
{
    struct toy t;
    struct pf_err err = { 0 };
    const char *j = "{\"strv\":[\"a\",\"b\"],\"items\":[{\"name\":\"a\",\"pass\":\"p\"}]}";
    cr_assert_eq(parse(&t, j, &err), PF_OK, "%s", err.msg);
    cJSON *root = cJSON_Parse("{\"strv\":[\"c\"],\"items\":[]}");
    cr_assert_eq(conf_schema_parse(&toy_table, &t, root, "", NULL, NULL, &err), PF_OK);
    cJSON_Delete(root);
    cr_expect_eq(t.nstrv, 1);
    cr_expect_str_eq(t.strv[0], "c");
    cr_expect_eq(t.nitems, 0);
    cr_expect_null(t.items);
    conf_schema_deinit(&toy_table, &t);
}

/* An error halfway through an array leaves what was parsed owned. */
Test(conf_schema, error_inside_array_frees_cleanly)
{
    struct toy t;
    struct pf_err err = { 0 };
    cr_expect_eq(parse(&t, "{\"strv\":[\"a\",\"\"],\"items\":[{\"name\":\"a\",\"pass\":\"p\"},"
                           "{\"name\":\"b\"}]}", &err), PF_EINVAL);
    conf_schema_deinit(&toy_table, &t);
    cr_expect_eq(parse(&t, "{\"items\":[{\"name\":\"a\",\"pass\":\"p\"},{\"name\":\"b\"}]}",
                       &err), PF_EINVAL);
    cr_expect_str_eq(err.msg, "items[1].pass: missing");
    cr_expect_eq(t.nitems, 2);
    conf_schema_deinit(&toy_table, &t);
}

/* Past CONF_WARNINGS_MAX - 1 warnings, the last slot counts the rest. */
struct many {
    struct toy_item *items;             /* owned */
    int      nitems;
};

static const struct conf_key many_keys[] = {
    CONF_ARRAY(struct many, "items", items, nitems, 20, "items", &toy_item_table),
};
static const struct conf_table many_table = CONF_TABLE(many_keys, struct many, NULL, NULL);

Test(conf_schema, warnings_are_bounded)
{
    char json[2048] = "{\"items\":[";
    for (int i = 0; i < 10; i++) {
        char one[96];
        snprintf(one, sizeof(one), "%s{\"name\":\"n%d\",\"pass\":{\"file\":\"/s/loose\"}}",
                 i > 0 ? "," : "", i);
        strcat(json, one);
    }
    strcat(json, "]}");
    struct many m;
    struct conf_warnings w = { 0 };
    struct pf_err err = { 0 };
    memset(&m, 0, sizeof(m));
    cJSON *root = cJSON_Parse(json);
    cr_assert_not_null(root);
    cr_assert_eq(conf_schema_parse(&many_table, &m, root, "", &fake_io, &w, &err), PF_OK, "%s",
                 err.msg);
    cJSON_Delete(root);
    cr_expect_eq(w.n, 10);
    cr_expect_str_eq(w.msg[6], "items[6].pass: file /s/loose is accessible to group or others; "
                               "chmod 600 it");
    cr_expect_str_eq(w.msg[CONF_WARNINGS_MAX - 1], "3 more warnings like these");
    conf_schema_deinit(&many_table, &m);
}
