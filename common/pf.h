/* proxyfleet: status codes and attributes shared by every module. */
#ifndef PF_H
#define PF_H

#include <stddef.h>
#include <stdint.h>

/* Status: PF_OK (0) or a negative PF_E* code. */
#define PF_OK         0
#define PF_EINVAL    -1   /* bad input: config, address, body, client bytes */
#define PF_ENOMEM    -2
#define PF_EAGAIN    -3   /* not enough bytes yet; call again with more */
#define PF_ETIMEDOUT -4
#define PF_EIO       -5   /* syscall or peer failure */
#define PF_ENOENT    -6   /* not found */
#define PF_ERANGE    -7   /* a limit was exceeded (size, count) */
#define PF_EDENIED   -8   /* refused by policy */
#define PF_EPROTO    -9   /* peer spoke the protocol wrongly */

#define PF_MUSTCHECK __attribute__((warn_unused_result))
#define PF_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))
#define PF_UNUSED __attribute__((unused))

#define PF_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
/* Not PF_MIN/PF_MAX: <sys/socket.h> owns PF_MAX (highest protocol family). */
#define PF_MIN_OF(a, b) ((a) < (b) ? (a) : (b))
#define PF_MAX_OF(a, b) ((a) > (b) ? (a) : (b))

/* Returns a short constant name for status <code>, e.g. "EINVAL". */
const char *pf_strstatus(int code);

#endif
