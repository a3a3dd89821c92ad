/* libFuzzer target: common/line_format.c. The first line of the input is a
 * template for line_format_compile(), the rest an entry for
 * line_format_match() (when the template compiles). Seeds:
 * tests/corpus/line_format/. Every part a match returns lies inside the
 * entry, and what the template's literals spell around them is there. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "line_format.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_part(const char *s, size_t len, const char *p, size_t n)
{
    if (n == 0)
        return;
    if (p < s || p + n > s + len)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char tmpl[128];
    const char *nl = memchr(data, '\n', size);
    size_t tn = nl != NULL ? (size_t)(nl - (const char *)data) : size;
    struct line_format f;
    struct addr_parts p;
    struct pf_err err;

    if (tn >= sizeof(tmpl))
        return 0;
    memcpy(tmpl, data, tn);
    tmpl[tn] = '\0';
    pf_err_clear(&err);
    int rc = line_format_compile(tmpl, &f, &err);
    if (rc != PF_OK) {
        if (rc != PF_EINVAL || err.msg[0] == '\0')
            abort();
        return 0;
    }
    if (f.nfields < 2 || f.nfields > LINE_F__COUNT)
        abort();
    const char *s = nl != NULL ? nl + 1 : "";
    size_t len = nl != NULL ? size - tn - 1 : 0;
    rc = line_format_match(&f, s, len, &p);
    if (rc != PF_OK && rc != PF_EINVAL)
        abort();
    if (rc == PF_OK) {
        if (p.host_len == 0 || p.port_len == 0)
            abort();
        check_part(s, len, p.host, p.host_len);
        check_part(s, len, p.port, p.port_len);
        check_part(s, len, p.user, p.user_len);
        check_part(s, len, p.pass, p.pass_len);
        if (len < strlen(f.prefix) || memcmp(s, f.prefix, strlen(f.prefix)) != 0)
            abort();
        struct upstream u;
        (void)addr_upstream_from_parts(UPSTREAM_HTTP, &p, &u, &err);
    }
    return 0;
}
