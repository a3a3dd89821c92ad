/* See ctl_out.h. */
#include "ctl_out.h"

#include <stdio.h>
#include <stdlib.h>

int ctl_out_json(cJSON *o)
{
    char *s = o != NULL ? cJSON_PrintUnformatted(o) : NULL;
    cJSON_Delete(o);
    if (s == NULL) {
        fprintf(stderr, "proxyfleet-ctl: out of memory\n");
        return CTL_EXIT_FAIL;
    }
    puts(s);
    free(s);
    return CTL_EXIT_OK;
}
