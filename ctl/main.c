/* proxyfleet-ctl: the operator's view of the fleet, read from Redis with
 * the fleet's own redis.* settings. Wiring only; see ctl_run.h. */
#include "ctl_run.h"

int main(int argc, char **argv)
{
    return ctl_run(argc, argv);
}
