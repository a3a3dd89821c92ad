/* Configuration: one JSON file with "redis", "log", "controller" and "node"
 * sections (types in conf-t.h); each binary reads the sections it needs.
 * Env overrides: PF_REDIS_URL, PF_REDIS_SENTINELS, PF_REDIS_MASTER_NAME,
 * PF_LOG_LEVEL, PF_NODE_ID, PF_CONTROLLER_ID.
 * The schema is one table per section (conf.c, conf_node.c,
 * conf_controller.c) read by the engine in conf_schema.c; it is documented
 * in docs/configuration.md. */
#ifndef PF_CONF_H
#define PF_CONF_H

#include <stddef.h>

#include "conf-t.h"
#include "err.h"

/* Fills <c> with defaults (then conf_deinit() is safe). */
void conf_init_defaults(struct conf *c);

/* Parses JSON <text> of <len> bytes into <c> (after conf_init_defaults).
 * Unknown keys are errors. On error returns PF_EINVAL with a path and
 * reason in <err>, e.g. "controller.providers[1].url: missing". A secret
 * key (provider url, auth value and pass, request body, user passwords,
 * redis.url, redis.sentinel_password) may also be {"env": NAME} or
 * {"file": PATH}: read through <io> (NULL: no variable is set and no file
 * can be read), a file's
 * trailing line ends stripped; a missing one is reported by its key path
 * and source, never by a value ("node.users[0].pass: env PF_ALICE_PASS is
 * not set"). Warnings (a secret file others may read) go to c->warnings. */
int conf_parse_io(struct conf *c, const char *text, size_t len, const struct conf_io *io,
                  struct pf_err *err) PF_MUSTCHECK;

/* conf_parse_io() without env or files. */
int conf_parse(struct conf *c, const char *text, size_t len, struct pf_err *err) PF_MUSTCHECK;

/* The shells' entry: reads <path>, then conf_init_defaults, conf_parse_io
 * with the process environment (getenv) and the file system (regular
 * files of at most 4096 bytes), and conf_apply_env. */
int conf_load_file(struct conf *c, const char *path, struct pf_err *err) PF_MUSTCHECK;

/* Applies PF_REDIS_URL, PF_REDIS_SENTINELS ("host:port,host:port"),
 * PF_REDIS_MASTER_NAME, PF_LOG_LEVEL, PF_NODE_ID, PF_CONTROLLER_ID from
 * <getenv_fn> (pass getenv; tests pass a fake), then checks the redis
 * settings that go together (sentinels and master_name). */
int conf_apply_env(struct conf *c, char *(*getenv_fn)(const char *), struct pf_err *err) PF_MUSTCHECK;

/* Frees what <c> owns and wipes its secrets (accepts NULL; safe twice). */
void conf_deinit(struct conf *c);

struct conf_table;

/* The schema of the whole file (common/conf_schema.h): conf_schema_walk()
 * on it lists every key path, which test_conf checks against
 * docs/configuration.md. */
const struct conf_table *conf_table(void);

/* The <i>-th PF_* override: returns the variable's name and sets
 * <*key_path> (may be NULL) to the key it overrides; NULL past the last. */
const char *conf_env_override(size_t i, const char **key_path);

#endif
