/* Build identity; see version.h. pf_build_version.h is generated into the
 * build tree at every build (cmake/version.cmake). */
#include "version.h"

#include <stdio.h>

#include "pf_build_version.h"

const char *version_string(void)
{
    return PF_BUILD_VERSION;
}

const char *version_commit(void)
{
    return PF_BUILD_COMMIT;
}

void version_format(const char *program, char *buf, unsigned long len)
{
    if (PF_BUILD_COMMIT[0] != '\0')
        snprintf(buf, len, "%s %s (commit %s)", program, PF_BUILD_VERSION, PF_BUILD_COMMIT);
    else
        snprintf(buf, len, "%s %s", program, PF_BUILD_VERSION);
}
