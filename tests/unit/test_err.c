/* Unit tests for common/err.c. */
#include <criterion/criterion.h>
#include <string.h>

#include "err.h"
#include "str.h"

Test(err, set_and_prefix)
{
    struct pf_err e;
    pf_err_clear(&e);
    cr_expect_eq(pf_err_set(&e, PF_EINVAL, "port %d out of range", 0), PF_EINVAL);
    cr_expect_str_eq(e.msg, "port 0 out of range");
    pf_err_prefix(&e, "line %d: ", 3);
    cr_expect_str_eq(e.msg, "line 3: port 0 out of range");
    cr_expect_eq(e.code, PF_EINVAL);
    cr_expect_eq(pf_err_set(NULL, PF_ENOMEM, "x"), PF_ENOMEM);
}

/* A long UTF-8 message is cut at a character boundary, never inside one. */
Test(err, cut_keeps_utf8_whole)
{
    char text[PF_ERR_MSG_LEN * 2];
    size_t n = 0;
    text[n++] = 'x';                        /* shifts the 3-byte characters off the boundary */
    while (n + 3 < sizeof(text)) {
        memcpy(text + n, "\xe7\x99\xbd", 3);   /* 白 */
        n += 3;
    }
    text[n] = '\0';
    struct pf_err e;
    pf_err_set(&e, PF_EINVAL, "%s", text);
    size_t len = strlen(e.msg);
    cr_expect(len < PF_ERR_MSG_LEN);
    cr_expect(len >= PF_ERR_MSG_LEN - 4);
    cr_expect(str_is_clean_text(e.msg, len), "message ends inside a character");
    pf_err_prefix(&e, "%s", "ab");
    cr_expect(str_is_clean_text(e.msg, strlen(e.msg)), "prefixed message ends inside a character");
}
