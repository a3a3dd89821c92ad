/* proxyfleet-ctl's commands: load the config, connect to Redis as the
 * fleet does (redis_client: URL, ACL user, Sentinel), read the fleet
 * (fleet_read), print it as text or JSON, and for `status --check` decide
 * the exit code. */
#ifndef PF_CTL_RUN_H
#define PF_CTL_RUN_H

/* Exit codes: 0 ok; 1 --check failed, or Redis could not be read; 2 a bad
 * command line or config. */
#include "ctl_out.h"   /* CTL_EXIT_*: what ctl_run() returns */

/* Runs the command line <argc>/<argv>. Returns the exit code. */
int ctl_run(int argc, char **argv);

#endif
