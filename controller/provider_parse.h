/* Provider body parsers. Pure: no I/O, no logging, no clock; the caller
 * decides what a failure means for the provider and logs it. */
#ifndef PF_PROVIDER_PARSE_H
#define PF_PROVIDER_PARSE_H

#include <stddef.h>

#include "err.h"
#include "upstream-t.h"

#define PROVIDER_PARSE_TOKEN_MAX   1024     /* longer entries are rejected unparsed */
#define PROVIDER_PARSE_FIRST_MAX   80       /* first line quoted in a failure reason */

/* Why an entry of a body was rejected. Keep in step with provider_reject_name(). */
enum provider_reject {
    PROVIDER_REJECT_SYNTAX = 0,  /* not an address at all (junk text) */
    PROVIDER_REJECT_HOST,        /* missing or malformed host */
    PROVIDER_REJECT_PORT,        /* missing, 0 or out-of-range port */
    PROVIDER_REJECT_SCHEME,      /* unsupported scheme */
    PROVIDER_REJECT_CREDS,       /* malformed or oversized credentials */
    PROVIDER_REJECT_DENIED,      /* loopback/private/... address not allowed */
    PROVIDER_REJECT_DUPLICATE,   /* same upstream id earlier in the body */
    PROVIDER_REJECT_TOO_LONG,    /* entry over PROVIDER_PARSE_TOKEN_MAX */
    PROVIDER_REJECT_BINARY,      /* control or non-ASCII bytes */
    PROVIDER_REJECT_TOO_MANY,    /* over opts->max_upstreams */
    PROVIDER_REJECT_COUNT
};

struct provider_parse_opts {
    enum upstream_scheme default_scheme;   /* for bare host:port entries */
    int      is_private_allowed;           /* passed to addr_validate_upstream() */
    size_t   max_upstreams;                /* 0 = no limit */
    const char *provider;                  /* borrowed; copied into each upstream, may be NULL */
};

struct provider_parse_result {
    struct upstream *upstreams;            /* owned; accepted, deduped, body order */
    size_t   nupstreams;
    size_t   nlines;                       /* non-blank, non-comment lines */
    size_t   nentries;                     /* entries (tokens) examined */
    size_t   nrejected;                    /* sum of rejected[] */
    size_t   rejected[PROVIDER_REJECT_COUNT];
    char     first_reject[PF_ERR_MSG_LEN]; /* "line 3: port 0 out of range", "" = none */
};

/* Parses a `lines` body of <len> bytes at <body> (not NUL-terminated,
 * untrusted). Entries are separated by newlines (LF or CRLF) and, within a
 * line, by blanks, commas or semicolons; each is `host:port`,
 * `user:pass@host:port` or `scheme://[user:pass@]host:port`. Lines starting
 * with '#' are comments. Each entry goes through addr_parse_upstream() and
 * addr_validate_upstream(); duplicates (same addr_upstream_id()) keep the
 * first. <res> is initialised here and must be released with
 * provider_parse_result_deinit() whatever the return value.
 * Returns PF_OK when at least one address was accepted. Otherwise PF_EINVAL
 * with a reason in <err>: "empty body", "HTML body" or
 * "no valid address in N lines (first: '<line>')" where <line> is the first
 * line cut to 80 chars, reduced to printable ASCII, userinfo masked as ***.
 * PF_ENOMEM on allocation failure. */
int provider_parse_lines(const char *body, size_t len, const struct provider_parse_opts *opts,
                         struct provider_parse_result *res, struct pf_err *err) PF_MUSTCHECK;

/* Frees what <res> owns and zeroes it (accepts NULL). */
void provider_parse_result_deinit(struct provider_parse_result *res);

/* Short metric-friendly name of <r>: "syntax", "host", "port", ... */
const char *provider_reject_name(enum provider_reject r);

/* Writes at most <max> chars of <len> bytes at <s> into <buf> of <buf_len>:
 * bytes outside printable ASCII become '?', the userinfo of any
 * "user:pass@host" part becomes "***". Always NUL-terminates. Use it for any
 * provider text that reaches a log line or Redis. */
void provider_sanitize(const char *s, size_t len, size_t max, char *buf, size_t buf_len);

#endif
