/* Configuration: one JSON file with "redis", "log", "controller" and "node"
 * sections; each binary reads the sections it needs. Env overrides:
 * PF_REDIS_URL, PF_LOG_LEVEL, PF_NODE_ID, PF_CONTROLLER_ID.
 * The schema is documented in docs/configuration.md. */
#ifndef PF_CONF_H
#define PF_CONF_H

#include <stddef.h>

#include "conf-t.h"
#include "err.h"

/* Fills <c> with defaults (then conf_deinit() is safe). */
void conf_init_defaults(struct conf *c);

/* Parses JSON <text> of <len> bytes into <c> (after conf_init_defaults).
 * Unknown keys are errors. On error returns PF_EINVAL with a path and
 * reason in <err>, e.g. "controller.providers[1].url: missing". */
int conf_parse(struct conf *c, const char *text, size_t len, struct pf_err *err) PF_MUSTCHECK;

/* Reads <path>, conf_init_defaults + conf_parse + conf_apply_env. */
int conf_load_file(struct conf *c, const char *path, struct pf_err *err) PF_MUSTCHECK;

/* Applies PF_REDIS_URL, PF_LOG_LEVEL, PF_NODE_ID, PF_CONTROLLER_ID from <getenv_fn>
 * (pass getenv; tests pass a fake). */
int conf_apply_env(struct conf *c, char *(*getenv_fn)(const char *), struct pf_err *err) PF_MUSTCHECK;

/* Frees what <c> owns (accepts NULL). */
void conf_deinit(struct conf *c);

#endif
