/* The typed table engine behind the config: a schema is a table of keys,
 * one row per key (name, type, offset in the target struct, limits,
 * default), and the engine
 *   - applies the defaults of a table (conf_schema_defaults),
 *   - parses a JSON object by it (conf_schema_parse): unknown and repeated
 *     keys are errors, and every error is "<path>: <reason>", e.g.
 *     "controller.providers[1].url: missing",
 *   - sets one string key by its path (conf_schema_set, for env overrides),
 *   - frees what it allocated and wipes secrets (conf_schema_deinit),
 *   - walks every key path (conf_schema_walk, for the docs check).
 * Types: bounded strings with a validation hook, secret strings (which may
 * also be {"env": NAME} or {"file": PATH}), file paths, listen addresses,
 * ints and int64s with ranges, numbers, booleans, choices (enums by name),
 * CIDR lists, upstream policies, port lists, string lists, scalar lists,
 * nested objects and arrays of objects. A key no type fits keeps a hook.
 *
 * Pure: no getenv, no file reads of its own; secrets are read through the
 * caller's struct conf_io. Reasons never quote a secret's value. */
#ifndef PF_CONF_SCHEMA_H
#define PF_CONF_SCHEMA_H

#include <stddef.h>
#include <stdint.h>

#include "conf-t.h"
#include "err.h"

struct cJSON;

#define CONF_PATH_MAX        160    /* "controller.providers[12].json.filter.equals[3]" */
#define CONF_STR_READ_MAX    4096   /* longest string any key reads, NUL included */
#define CONF_KEYS_MAX        64     /* keys of one table */

enum conf_type {
    CONF_T_STR = 0,  /* char[size], bounded; <check> validates */
    CONF_T_SECRET,   /* CONF_T_STR that may also be {"env": NAME} or {"file": PATH};
                        wiped by conf_schema_deinit */
    CONF_T_PATH,     /* CONF_T_STR holding a file name */
    CONF_T_LISTEN,   /* CONF_T_STR holding "host:port" or "[v6]:port" */
    CONF_T_INT,      /* an integer type of <size> bytes in min..max */
    CONF_T_BOOL,     /* int: true or false */
    CONF_T_NUM,      /* double in min..max (min excluded with CONF_F_MIN_OPEN) */
    CONF_T_CHOICE,   /* an integer type (an enum) named by one of <aux> (conf_choice[]) */
    CONF_T_CIDRS,    /* struct conf_cidr[max] + int count: array of CIDR strings */
    CONF_T_POLICY,   /* struct conf_upstream_policy: true, false or CIDR strings */
    CONF_T_PORTS,    /* uint16_t[max] + int count; default: <aux> (0-terminated) */
    CONF_T_STRS,     /* char[max][size] + int count: array of non-empty strings */
    CONF_T_STRV,     /* char ** + int count, malloc'd: array of non-empty strings */
    CONF_T_SCALARS,  /* char[max][size] + int count: 1..max JSON scalars as canonical text */
    CONF_T_OBJECT,   /* nested object by table <aux> at off */
    CONF_T_ARRAY,    /* array of objects by table <aux>: pointer at off (owned) + int count */
    CONF_T_HOOK,     /* anything else: <hook> parses it */
};

#define CONF_F_NONEMPTY  0x01u  /* strings: "" is refused */
#define CONF_F_REQUIRED  0x02u  /* the object is incomplete without it: "<path>: missing" */
#define CONF_F_LAZY      0x04u  /* objects: left zero unless given; its defaults apply when given */
#define CONF_F_MARK      0x08u  /* the int at mark_off becomes 1 when the key is given */
#define CONF_F_MIN_OPEN  0x10u  /* numbers: min itself is out of range */

/* One accepted spelling of a CONF_T_CHOICE key; a table ends with { NULL, 0 }. */
struct conf_choice {
    const char *name;
    int         value;
};

struct conf_key;
struct conf_obj;

/* String validation: checks (and may normalise in place) <value>, a
 * non-empty copy, for the struct at <base>, which it may also fill from it
 * (redis.url fills host and port). Returns PF_OK or an error whose reason
 * has no path (the engine adds it) and never quotes a secret. */
typedef int (*conf_check_fn)(void *base, char *value, struct pf_err *err);

/* Parses <item>, the value of key path <path>, into the struct at <base>.
 * The message names its own path ("<path>: <reason>", "<path>[2]: ..."). */
typedef int (*conf_hook_fn)(void *base, const struct cJSON *item, const char *path,
                            struct pf_err *err);

/* Checks across the keys of the object just parsed into <base>: what <obj>
 * says was given, cross-key limits, uniqueness among array elements. The
 * message names its own path (obj->path). */
typedef int (*conf_finish_fn)(void *base, const struct conf_obj *obj, struct pf_err *err);

/* Defaults no row can give (computed ones, e.g. "<hostname>-<pid>"). */
typedef void (*conf_init_fn)(void *base);

struct conf_table {
    const struct conf_key *keys;
    size_t          nkeys;              /* <= CONF_KEYS_MAX */
    size_t          size;               /* sizeof the struct (array elements) */
    conf_init_fn    init;               /* NULL = none */
    conf_finish_fn  finish;             /* NULL = none */
};

#define CONF_TABLE(keys, type, init, finish) \
    { keys, sizeof(keys) / sizeof((keys)[0]), sizeof(type), init, finish }

struct conf_key {
    const char     *name;
    enum conf_type  type;
    unsigned        flags;              /* CONF_F_* */
    size_t          off;                /* the value in the struct */
    size_t          size;               /* bytes of the value; lists: of one entry */
    size_t          count_off;          /* lists, arrays: the int count */
    size_t          mark_off;           /* CONF_F_MARK: the int set to 1 */
    int64_t         min;                /* ints, numbers: range */
    int64_t         max;                /* ints, numbers: range; lists, arrays: entries at most;
                                           strings: read limit incl. NUL (0 = size) */
    int64_t         def_int;            /* ints, bools, choices */
    double          def_num;            /* numbers */
    const char     *def_str;            /* strings (checked like a value); NULL = "" */
    const void     *aux;                /* choices, default ports, a sub-table */
    const char     *noun;               /* lists, arrays: "more than <max> <noun>" */
    conf_check_fn   check;              /* strings: NULL = any string */
    conf_hook_fn    hook;               /* CONF_T_HOOK */
};

#define CONF_SIZEOF(T, f) sizeof(((T *)0)->f)
#define CONF_NENTRIES(T, f) ((int64_t)(sizeof(((T *)0)->f) / sizeof(((T *)0)->f[0])))

/* Rows. <T> is the struct type, <f> its field, <key> the JSON name. */
#define CONF_STR(T, key, f, flags_, def, check_) \
    { .name = key, .type = CONF_T_STR, .flags = flags_, .off = offsetof(T, f), \
      .size = CONF_SIZEOF(T, f), .def_str = def, .check = check_ }
/* A string read up to <limit> bytes (NUL included) before <check_> sees it. */
#define CONF_STR_READ(T, key, f, flags_, def, check_, limit) \
    { .name = key, .type = CONF_T_STR, .flags = flags_, .off = offsetof(T, f), \
      .size = CONF_SIZEOF(T, f), .max = limit, .def_str = def, .check = check_ }
#define CONF_SECRET(T, key, f, flags_, check_) \
    { .name = key, .type = CONF_T_SECRET, .flags = flags_, .off = offsetof(T, f), \
      .size = CONF_SIZEOF(T, f), .check = check_ }
#define CONF_SECRET_DEF(T, key, f, flags_, def, check_) \
    { .name = key, .type = CONF_T_SECRET, .flags = flags_, .off = offsetof(T, f), \
      .size = CONF_SIZEOF(T, f), .def_str = def, .check = check_ }
#define CONF_PATH(T, key, f, flags_) \
    { .name = key, .type = CONF_T_PATH, .flags = flags_, .off = offsetof(T, f), \
      .size = CONF_SIZEOF(T, f) }
#define CONF_LISTEN(T, key, f, flags_, def) \
    { .name = key, .type = CONF_T_LISTEN, .flags = flags_, .off = offsetof(T, f), \
      .size = CONF_SIZEOF(T, f), .def_str = def }
/* 1..63 chars of [A-Za-z0-9_.-] (keys_valid_name). */
#define CONF_NAME(T, key, f, flags_) \
    CONF_STR_READ(T, key, f, (flags_) | CONF_F_NONEMPTY, NULL, conf_check_name, 1024)
#define CONF_INT(T, key, f, lo, hi, def) \
    { .name = key, .type = CONF_T_INT, .off = offsetof(T, f), .size = CONF_SIZEOF(T, f), \
      .min = lo, .max = hi, .def_int = def }
#define CONF_BOOL(T, key, f, def) \
    { .name = key, .type = CONF_T_BOOL, .off = offsetof(T, f), .size = CONF_SIZEOF(T, f), \
      .min = 0, .max = 1, .def_int = def }
#define CONF_NUM(T, key, f, flags_, lo, hi, def) \
    { .name = key, .type = CONF_T_NUM, .flags = flags_, .off = offsetof(T, f), \
      .size = CONF_SIZEOF(T, f), .min = lo, .max = hi, .def_num = def }
#define CONF_CHOICE(T, key, f, flags_, choices, def) \
    { .name = key, .type = CONF_T_CHOICE, .flags = flags_, .off = offsetof(T, f), \
      .size = CONF_SIZEOF(T, f), .max = 64, .def_int = def, .aux = choices }
#define CONF_CIDRS(T, key, f, nf) \
    { .name = key, .type = CONF_T_CIDRS, .off = offsetof(T, f), .size = CONF_SIZEOF(T, f[0]), \
      .count_off = offsetof(T, nf), .max = CONF_NENTRIES(T, f), .noun = "entries" }
#define CONF_POLICY(T, key, f) \
    { .name = key, .type = CONF_T_POLICY, .off = offsetof(T, f), .size = CONF_SIZEOF(T, f) }
#define CONF_PORTS(T, key, f, nf, defaults) \
    { .name = key, .type = CONF_T_PORTS, .off = offsetof(T, f), .size = CONF_SIZEOF(T, f[0]), \
      .count_off = offsetof(T, nf), .max = CONF_NENTRIES(T, f), .aux = defaults, \
      .noun = "entries" }
#define CONF_STRS(T, key, f, nf) \
    { .name = key, .type = CONF_T_STRS, .off = offsetof(T, f), .size = CONF_SIZEOF(T, f[0]), \
      .count_off = offsetof(T, nf), .max = CONF_NENTRIES(T, f) }
#define CONF_STRV(T, key, f, nf, max_entries, limit) \
    { .name = key, .type = CONF_T_STRV, .off = offsetof(T, f), .size = limit, \
      .count_off = offsetof(T, nf), .max = max_entries, .noun = "entries" }
#define CONF_SCALARS(T, key, f, nf) \
    { .name = key, .type = CONF_T_SCALARS, .off = offsetof(T, f), \
      .size = CONF_SIZEOF(T, f[0]), .count_off = offsetof(T, nf), .max = CONF_NENTRIES(T, f) }
/* A nested object; <f> may be a struct member, or the first member of <T>
 * for an object whose keys fill <T> itself (use CONF_OBJECT_HERE). */
#define CONF_OBJECT(T, key, f, flags_, table) \
    { .name = key, .type = CONF_T_OBJECT, .flags = flags_, .off = offsetof(T, f), \
      .size = CONF_SIZEOF(T, f), .aux = table }
#define CONF_OBJECT_MARK(T, key, f, flags_, table, mark) \
    { .name = key, .type = CONF_T_OBJECT, .flags = (flags_) | CONF_F_MARK, \
      .off = offsetof(T, f), .size = CONF_SIZEOF(T, f), .mark_off = offsetof(T, mark), \
      .aux = table }
#define CONF_OBJECT_HERE(T, key, table) \
    { .name = key, .type = CONF_T_OBJECT, .off = 0, .size = sizeof(T), .aux = table }
#define CONF_ARRAY(T, key, f, nf, max_entries, noun_, table) \
    { .name = key, .type = CONF_T_ARRAY, .off = offsetof(T, f), .size = sizeof(void *), \
      .count_off = offsetof(T, nf), .max = max_entries, .noun = noun_, .aux = table }
#define CONF_HOOK(key, flags_, hook_) \
    { .name = key, .type = CONF_T_HOOK, .flags = flags_, .hook = hook_ }

/* What the object being finished was given: conf_finish_fn's view. */
struct conf_obj {
    const struct conf_table *table;
    const char *path;                   /* "controller.providers[1]" ("" = the root) */
    const char *array_path;             /* an array's element: "controller.providers", else NULL */
    int         index;                  /* an array's element: its index, else -1 */
    uint64_t    seen;                   /* bit i: keys[i] was given */
};

/* Returns 1 when key <name> of obj->table was given in the object. */
int conf_obj_has(const struct conf_obj *obj, const char *name);

/* Applies the defaults of <t> to <base> (zeroed by the caller): each row's
 * default (strings through their check, so redis.url fills its parts),
 * nested objects but lazy ones, then t->init. */
void conf_schema_defaults(const struct conf_table *t, void *base);

/* Parses JSON object <obj> at <path> ("" for the root) into <base> by <t>.
 * Secrets given as {"env"} or {"file"} are read through <io> (NULL: none
 * can be); warnings (a secret file others may read) go to <warnings> (may
 * be NULL). On error returns PF_EINVAL (or PF_ENOMEM) with "<path>:
 * <reason>" in <err>; <base> keeps what was parsed, for conf_schema_deinit. */
int conf_schema_parse(const struct conf_table *t, void *base, const struct cJSON *obj,
                      const char *path, const struct conf_io *io,
                      struct conf_warnings *warnings, struct pf_err *err) PF_MUSTCHECK;

/* Sets the string, path, listen, secret or choice key at dotted <key_path>
 * (through objects, not arrays) of <t> in <base> to <value>, checked as in
 * a file. Returns PF_OK, or PF_EINVAL with a reason without path. */
int conf_schema_set(const struct conf_table *t, void *base, const char *key_path,
                    const char *value, struct pf_err *err) PF_MUSTCHECK;

/* Frees what conf_schema_parse() allocated in <base> and wipes its secret
 * strings; lists and arrays are left empty. Safe to call twice. */
void conf_schema_deinit(const struct conf_table *t, void *base);

/* Calls <fn> for every key of <t> and of its nested tables, depth first in
 * table order, with its path under <prefix> ("" = none): "node.listen",
 * "controller.health", "controller.health.passive.window_ms",
 * "controller.providers", "controller.providers[].json.list". */
typedef void (*conf_walk_fn)(void *arg, const char *path, const struct conf_key *key);
void conf_schema_walk(const struct conf_table *t, const char *prefix, conf_walk_fn fn,
                      void *arg);

/* Reads JSON integer <item> in <min>..<max> into <*out> (for hooks).
 * Returns PF_OK or PF_EINVAL with a reason without path. */
int conf_schema_int(const struct cJSON *item, int64_t min, int64_t max, int64_t *out,
                    struct pf_err *err) PF_MUSTCHECK;

/* Writes the default id: "<hostname>-<pid>" reduced to [A-Za-z0-9_.-], at
 * most 63 chars ("pf-<pid>" without a usable host name). */
void conf_default_id(char *dst, size_t dst_len);

/* Standard string checks (conf_check_fn). */
/* 1..63 chars of [A-Za-z0-9_.-]. */
int conf_check_name(void *base, char *value, struct pf_err *err);
/* http:// or https:// with a host, printable ASCII without blanks. */
int conf_check_http_url(void *base, char *value, struct pf_err *err);
/* printable ASCII (blanks allowed): header values, secrets. */
int conf_check_printable(void *base, char *value, struct pf_err *err);

#endif
