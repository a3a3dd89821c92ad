/* What every proxyfleet-ctl command ends with: its exit code, and the one
 * way a --json answer is printed. */
#ifndef PF_CTL_OUT_H
#define PF_CTL_OUT_H

#include <cjson/cJSON.h>

#define CTL_EXIT_OK      0
#define CTL_EXIT_FAIL    1
#define CTL_EXIT_USAGE   2

/* Prints <o> (taken and freed; NULL means out of memory) as one line of
 * JSON on stdout. Returns CTL_EXIT_OK, or CTL_EXIT_FAIL when out of
 * memory (said on stderr). */
int ctl_out_json(cJSON *o);

#endif
