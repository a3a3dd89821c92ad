/* libFuzzer target: common/user_params.c, the parameters of a client's
 * proxy user name. Input: the user name bytes (cut at a NUL).
 * Invariants: PF_OK or PF_EINVAL with a reason; the base is a prefix of
 * the input; on PF_OK every label given is 1..64 normalised bytes (no
 * uppercase, no space or dash), the session 1..64 of [A-Za-z0-9_.], a
 * lifetime 0..1440 and only with a session; on PF_EINVAL nothing but the
 * base is kept; the filter text always fits and is NUL-terminated. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "user_params.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);   /* exactly the input plus a NUL: overreads are caught */
    if (s == NULL)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    struct user_params_words w;
    struct pf_err err;
    if (user_params_words_from_tags("-session-", "-sesstime-", &w, &err) != PF_OK)
        abort();
    struct user_params p;
    pf_err_clear(&err);
    int rc = user_params_parse(s, &w, &p, &err);
    size_t blen = strlen(p.base_user);
    if (blen > strlen(s) || memcmp(p.base_user, s, blen) != 0)
        abort();
    if (rc == PF_OK) {
        for (int l = 0; l < USER_LABEL_COUNT; l++) {
            size_t n = strlen(p.label[l]);
            if ((n > 0) != ((p.label_mask >> l) & 1u) || n > USER_PARAMS_VALUE_LEN)
                abort();
            if (strpbrk(p.label[l], "ABCDEFGHIJKLMNOPQRSTUVWXYZ -") != NULL)
                abort();
        }
        size_t sn = strlen(p.session);
        if (sn > USER_PARAMS_VALUE_LEN ||
            strspn(p.session, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.") != sn)
            abort();
        if (p.sesstime_min < 0 || p.sesstime_min > 1440 || (p.sesstime_min > 0 && sn == 0))
            abort();
        char f[64];
        user_params_format_filter(&p, f, sizeof(f));
        if (strlen(f) >= sizeof(f))
            abort();
    } else {
        if (rc != PF_EINVAL || err.msg[0] == '\0' || p.label_mask != 0 || p.session[0] != '\0')
            abort();
    }
    free(s);
    return 0;
}
