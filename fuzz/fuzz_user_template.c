/* libFuzzer target: common/user_template.c, the gateway user-name template
 * of a provider or static upstream (config and pool records: untrusted).
 * Input: the template, then optionally a NUL and the values of the
 * placeholders separated by NULs (country, region, city, isp, asn,
 * session, sesstime).
 * Invariants: check gives PF_OK or PF_EINVAL with a reason; render agrees
 * with check on the template; a rendering is NUL-terminated, at most 255
 * bytes, holds no ':' and no bracket or brace, and is "" on failure. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "user_template.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);   /* exactly the input plus a NUL: overreads are caught */
    if (s == NULL)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    size_t tl = strlen(s);
    struct user_template_vars v;
    memset(&v, 0, sizeof(v));
    size_t off = tl + 1;
    for (int i = 0; i < USER_TEMPLATE__COUNT && off <= size; i++) {
        size_t n = strlen(s + off);
        if (n >= sizeof(v.v[i]))
            n = sizeof(v.v[i]) - 1;
        memcpy(v.v[i], s + off, n);
        off += strlen(s + off) + 1;
    }
    struct pf_err err;
    pf_err_clear(&err);
    int rc = user_template_check(s, &err);
    if (rc != PF_OK && (rc != PF_EINVAL || err.msg[0] == '\0'))
        abort();
    char out[USER_TEMPLATE_OUT_MAX];
    struct pf_err rerr;
    pf_err_clear(&rerr);
    int rr = user_template_render(s, &v, out, sizeof(out), &rerr);
    if (rc != PF_OK && rr != PF_EINVAL)
        abort();
    if (rr == PF_OK) {
        size_t n = strlen(out);
        if (n == 0 || n >= USER_TEMPLATE_OUT_MAX || strpbrk(out, ":[]{}") != NULL)
            abort();
    } else if (out[0] != '\0' || rerr.msg[0] == '\0') {
        abort();
    }
    free(s);
    return 0;
}
