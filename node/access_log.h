/* The access log (node.access_log): one line per HTTP request, CONNECT
 * tunnel or SOCKS5 tunnel, in log.format (text: key=value pairs; json: one
 * object), written to stderr or appended to a file that SIGUSR1 reopens
 * (logrotate). Off by default.
 *
 * Fields: time (the end), conn, client, user (the authenticated base user
 * name, without a session suffix; never a password), method, target
 * (host:port), status (the HTTP status answered; for SOCKS5 200 when the
 * tunnel was set up, else the failure kind's HTTP status), upstream (a
 * short id, common/upstream_sid.h, as the attempt carries it; never the upstream's address
 * or credentials), provider, attempts, bytes_in and bytes_out of the
 * exchange, ttfb_ms (to the answer's head), duration_ms and reason (the
 * failure kind, conn_err.h; "done" for a completed exchange).
 *
 * A protocol keeps a struct access_mark per exchange: begun when the
 * request is known, answered when its status goes out, ended (the line)
 * when the exchange finishes or its conn closes. With the log off, a mark
 * costs a few stores per request and no line is built. */
#ifndef PF_NODE_ACCESS_LOG_H
#define PF_NODE_ACCESS_LOG_H

#include <stddef.h>
#include <stdint.h>

#include "attempt.h"
#include "auth.h"
#include "conn.h"
#include "conn_err.h"
#include "err.h"
#include "log.h"

#define ACCESS_LOG_LINE_MAX 4096

struct access_log;

/* One exchange's bookkeeping, embedded in a protocol's per-conn state. */
struct access_mark {
    int64_t  start_us;          /* monotonic; 0 = no exchange open */
    int64_t  answer_us;         /* monotonic time the answer's head went out; 0 = none */
    uint64_t bytes_in0;         /* c->bytes_in and bytes_out when it began */
    uint64_t bytes_out0;
    int      status;            /* answered status; 0 = none */
    char     method[16];        /* "GET", "CONNECT", "SOCKS5"; cut at 15 bytes */
    char     user[AUTH_USER_MAX]; /* authenticated base user name; "" = none */
};

/* One line's fields (see above); strings are never NULL ("" = none). */
struct access_rec {
    int64_t     time_ms;        /* wall clock */
    uint64_t    conn_id;
    const char *client;
    const char *user;
    const char *method;
    const char *target;
    int         status;         /* 0 = none */
    const char *upstream;
    const char *provider;
    int         attempts;
    uint64_t    bytes_in;
    uint64_t    bytes_out;
    int64_t     ttfb_ms;        /* -1 = no answer */
    int64_t     duration_ms;
    const char *reason;
};

/* Opens destination <dest>: "stderr" (fd 2, not owned) or an absolute
 * file path, created 0640 and appended to. Returns NULL with the reason
 * in <err>. */
struct access_log *access_log_open(const char *dest, struct pf_err *err);

/* SIGUSR1: opens the file again under its name (logrotate moved it) and
 * closes the old one; the old stays in use when the open fails. Nothing
 * for stderr. Returns PF_OK or PF_EIO with the reason in <err>. */
int access_log_reopen(struct access_log *al, struct pf_err *err) PF_MUSTCHECK;

/* The destination <al> was opened with. */
const char *access_log_dest(const struct access_log *al);

/* Closes the file (not stderr) and frees <al>; accepts NULL. */
void access_log_destroy(struct access_log *al);

/* Starts exchange <m> of <c> for <method>; <head_bytes> of the request
 * are already counted in c->bytes_in. */
void access_mark_begin(struct access_mark *m, const struct conn *c, const char *method,
                       uint64_t head_bytes);

/* 1 while <m> is begun and not ended. */
static inline int access_mark_is_open(const struct access_mark *m)
{
    return m->start_us != 0;
}

/* The exchange's user is <user> (authenticated; kept only when the access
 * log is on). */
void access_mark_user(struct access_mark *m, const struct conn *c, const char *user);

/* The answer with <status> went out (the first call sets the ttfb). */
void access_mark_answer(struct access_mark *m, int status);

/* Ends <m> with <reason>: writes its line when the access log is on and
 * <m> is open (upstream, provider and attempts from <a>), then closes
 * <m>. A failed write is counted (stats.access_log_errors), never logged
 * per line. */
void access_mark_end(struct access_mark *m, struct conn *c, const struct attempt *a,
                     enum conn_err reason);

/* --- pure (tests/unit/test_access_log.c) --- */

/* Formats <r> as one line in <format>, '\n' included, into <buf> of <len>
 * bytes (NUL-terminated); every string is sanitized, a JSON line is
 * always valid. Returns the bytes written, NUL excluded. */
size_t access_log_format(enum pf_log_format format, const struct access_rec *r, char *buf,
                         size_t len);

#endif
