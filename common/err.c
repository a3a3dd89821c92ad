#include "err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "str.h"

const char *pf_strstatus(int code)
{
    switch (code) {
    case PF_OK:        return "OK";
    case PF_EINVAL:    return "EINVAL";
    case PF_ENOMEM:    return "ENOMEM";
    case PF_EAGAIN:    return "EAGAIN";
    case PF_ETIMEDOUT: return "ETIMEDOUT";
    case PF_EIO:       return "EIO";
    case PF_ENOENT:    return "ENOENT";
    case PF_ERANGE:    return "ERANGE";
    case PF_EDENIED:   return "EDENIED";
    case PF_EPROTO:    return "EPROTO";
    default:           return "EUNKNOWN";
    }
}

void pf_err_clear(struct pf_err *err)
{
    if (err == NULL)
        return;
    err->code = PF_OK;
    err->msg[0] = '\0';
}

int pf_err_set(struct pf_err *err, int code, const char *fmt, ...)
{
    if (err == NULL)
        return code;
    va_list ap;
    va_start(ap, fmt);
    err->code = code;
    int n = vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
    va_end(ap);
    /* A message cut short must not end inside a UTF-8 character. */
    if (n >= (int)sizeof(err->msg))
        err->msg[str_utf8_cut(err->msg, strlen(err->msg))] = '\0';
    return code;
}

void pf_err_prefix(struct pf_err *err, const char *fmt, ...)
{
    if (err == NULL)
        return;
    char prefix[PF_ERR_MSG_LEN];
    char old[PF_ERR_MSG_LEN];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof(prefix), fmt, ap);
    va_end(ap);
    memcpy(old, err->msg, sizeof(old));
    /* Truncation is fine here; using the result keeps gcc's
     * -Wformat-truncation quiet at -O2. */
    int n = snprintf(err->msg, sizeof(err->msg), "%s%s", prefix, old);
    if (n < 0)
        err->msg[0] = '\0';
    else if (n >= (int)sizeof(err->msg))
        err->msg[str_utf8_cut(err->msg, strlen(err->msg))] = '\0';
}
