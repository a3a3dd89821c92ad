/* Error reports filled by library functions; callers decide whether to log. */
#ifndef PF_ERR_H
#define PF_ERR_H

#include "pf.h"

#define PF_ERR_MSG_LEN 256

struct pf_err {
    int  code;                  /* PF_E* code, PF_OK when clear */
    char msg[PF_ERR_MSG_LEN];   /* human-readable reason, never credentials */
};

/* Clears <err> (accepts NULL). */
void pf_err_clear(struct pf_err *err);

/* Sets <err> (may be NULL) to <code> and a formatted message; returns <code>
 * so callers can write `return pf_err_set(err, PF_EINVAL, "...")`. */
int pf_err_set(struct pf_err *err, int code, const char *fmt, ...) PF_PRINTF(3, 4);

/* Prefixes the existing message of <err> with formatted context, e.g.
 * "providers[2]: " + "port 0 out of range". Keeps the code. */
void pf_err_prefix(struct pf_err *err, const char *fmt, ...) PF_PRINTF(2, 3);

#endif
