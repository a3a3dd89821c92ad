/* Secrets outside the config's JSON: a secret key's value given as
 * {"env": NAME} (a variable of the environment) or {"file": PATH} (a
 * file's contents, trailing line ends stripped). Read through the caller's
 * struct conf_io, never by this module itself; the engine (conf_schema)
 * then checks the value as it checks a string. Reasons name the key path
 * and the source, never the value. */
#ifndef PF_CONF_SECRET_H
#define PF_CONF_SECRET_H

#include <stddef.h>

#include "conf-t.h"
#include "err.h"

struct cJSON;

#define CONF_SECRET_FILE_MAX 4096   /* largest secret file */
#define CONF_ENV_NAME_MAX    128    /* longest variable name */
#define CONF_SECRET_SRC_MAX  (CONF_FILE_PATH_MAX + 8) /* "file <path>", "env <name>" */

/* Where a secret was read from and what it held. */
struct conf_secret {
    const char *value;          /* the environment's string, or <buf>; NUL-terminated */
    char        buf[CONF_SECRET_FILE_MAX + 1]; /* a file's contents; wipe with conf_secret_wipe */
    char        src[CONF_SECRET_SRC_MAX];      /* "env NAME" or "file PATH", for messages */
    int         is_loose;       /* a file group or others may access (the caller warns) */
};

/* Reads the secret that JSON object <item> at key path <path> refers to:
 * exactly one of "env" (a variable name, [A-Za-z_][A-Za-z0-9_]*) or
 * "file" (a file name without control characters), through <io> (NULL: no
 * variable is set, no file can be read) into <s>. A variable that is not
 * set or is empty, a file that cannot be read, is larger than
 * CONF_SECRET_FILE_MAX bytes, empty or holds a NUL byte are errors.
 * Returns PF_OK, or PF_EINVAL with "<path>...: <reason>" in <err>
 * ("node.users[0].pass: env PF_ALICE_PASS is not set"). */
int conf_secret_read(const struct cJSON *item, const char *path, const struct conf_io *io,
                     struct conf_secret *s, struct pf_err *err) PF_MUSTCHECK;

/* Clears what <s> read. */
void conf_secret_wipe(struct conf_secret *s);

#endif
