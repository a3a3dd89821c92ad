/* Provider body parsers. Pure: no I/O, no logging, no clock; the caller
 * decides what a failure means for the provider and logs it. */
#ifndef PF_PROVIDER_PARSE_H
#define PF_PROVIDER_PARSE_H

#include <stddef.h>

#include "conf.h"
#include "err.h"
#include "upstream-t.h"

#define PROVIDER_PARSE_TOKEN_MAX   1024     /* longer entries are rejected unparsed */
#define PROVIDER_PARSE_FIRST_MAX   80       /* first line quoted in a failure reason */

/* How a failed poll should be treated; consumed by the retry/breaker logic
 * of provider.c. FATAL means retrying cannot help before someone acts
 * (IP not whitelisted, balance exhausted, bad key, HTTP 401/403). */
enum provider_err_class {
    PROVIDER_ERR_NONE = 0,       /* success */
    PROVIDER_ERR_TRANSIENT,      /* 5xx, 429, timeout, empty/HTML/truncated body, ... */
    PROVIDER_ERR_FATAL,          /* credentials, whitelist, balance: needs an operator */
};

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
    PROVIDER_REJECT_EXPIRY,      /* expiry field missing, malformed or already past */
    PROVIDER_REJECT_COUNT
};

struct provider_parse_opts {
    enum upstream_scheme default_scheme;   /* for bare host:port entries */
    int      is_private_allowed;           /* passed to addr_validate_upstream() */
    size_t   max_upstreams;                /* 0 = no limit */
    const char *provider;                  /* borrowed; copied into each upstream, may be NULL */
    const char *separators;                /* borrowed; extra lines separators, may be NULL */
    enum conf_body_format format;          /* for provider_parse_response() */
    const struct conf_provider_json *json; /* borrowed; json format paths, NULL = defaults */
    const struct conf_provider_errors *errors; /* borrowed; codes and words, may be NULL */
    int64_t  now_wall_ms;                  /* the poll's clock: lifetime_s and past expiries */
};

/* One provider answer: an HTTP response, or a file's contents (status 200). */
struct provider_response {
    long         http_status;              /* 200 for a file */
    const char  *body;                     /* untrusted, not NUL-terminated */
    size_t       body_len;
    const char  *retry_after;              /* Retry-After header value; "" or NULL = none */
};

struct provider_parse_result {
    struct upstream *upstreams;            /* owned; accepted, deduped, body order */
    size_t   nupstreams;
    size_t   nlines;                       /* non-blank, non-comment lines */
    size_t   nentries;                     /* entries (tokens) examined */
    size_t   nrejected;                    /* sum of rejected[] */
    size_t   rejected[PROVIDER_REJECT_COUNT];
    char     first_reject[PF_ERR_MSG_LEN]; /* "line 3: port 0 out of range", "" = none */
    enum provider_err_class err_class;     /* NONE on PF_OK, else TRANSIENT or FATAL */
    int      retry_after_s;                /* from HTTP 429/503 Retry-After, -1 = none */
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

/* Turns a whole provider answer <r> into upstreams or one classified
 * failure: the single entry point of provider.c. HTTP 401/403 are fatal;
 * 429 is transient with res->retry_after_s from Retry-After (delta
 * seconds); other statuses, empty, HTML or invalid/truncated JSON bodies are
 * transient unless the error code table or the wording says fatal (see
 * provider_classify_text()). 200 bodies are parsed by opts->format; a lines
 * provider answering a JSON object gets it read as an error with code and
 * message ("provider error code 10001: IP not whitelisted").
 * <res> is initialised here; release it with provider_parse_result_deinit().
 * Returns PF_OK (res->err_class NONE) with at least one upstream, PF_EINVAL
 * with the reason in <err> and res->err_class set, or PF_ENOMEM. */
int provider_parse_response(const struct provider_response *r,
                            const struct provider_parse_opts *opts,
                            struct provider_parse_result *res, struct pf_err *err) PF_MUSTCHECK;

/* Classifies the provider error text <s> of <len> bytes: a configured
 * transient word wins, then configured fatal words, then the built-in fatal
 * wording (whitelist, white list, balance, insufficient, expired key,
 * invalid key, unauthorized, forbidden, ...), all case-insensitive.
 * <errors> may be NULL. Returns PROVIDER_ERR_FATAL or PROVIDER_ERR_TRANSIENT. */
enum provider_err_class provider_classify_text(const char *s, size_t len,
                                               const struct conf_provider_errors *errors);

/* Class of error code text <code> (canonical: 10001, "x", true) from the
 * table of <errors>; TRANSIENT when absent from it or <errors> is NULL.
 * Sets <*is_known> (may be NULL) to whether the table has it. */
enum provider_err_class provider_classify_code(const char *code,
                                               const struct conf_provider_errors *errors,
                                               int *is_known);

/* Delta-seconds value of a Retry-After header <v> (NULL ok): 0..86400, or
 * -1 when absent or not a number (HTTP dates are not read). */
int provider_retry_after_s(const char *v);

/* "none", "transient" or "fatal". */
const char *provider_err_class_name(enum provider_err_class c);

/* Frees what <res> owns and zeroes it (accepts NULL). */
void provider_parse_result_deinit(struct provider_parse_result *res);

/* Short metric-friendly name of <r>: "syntax", "host", "port", ... */
const char *provider_reject_name(enum provider_reject r);

/* Writes at most <max> chars of <len> bytes at <s> into <buf> of <buf_len>:
 * bytes outside printable ASCII become '?', the userinfo of any
 * "user:pass@host" part becomes "***". Always NUL-terminates. Use it for any
 * provider text that reaches a log line or Redis. */
void provider_sanitize(const char *s, size_t len, size_t max, char *buf, size_t buf_len);

/* ---- shared by the parsers (provider_json.c); not for other modules ---- */

/* Parses, validates and appends entry <s> of <len> bytes found at <unit>
 * <where> ("line 3", "entry 2"): rejects are counted in <res>. <*cap> is the
 * capacity of res->upstreams. Returns PF_OK when appended (the new upstream
 * is res->upstreams[res->nupstreams - 1]), PF_EINVAL when rejected, PF_ENOMEM. */
int provider_parse_add(const char *s, size_t len, const char *unit, size_t where,
                       const struct provider_parse_opts *opts,
                       struct provider_parse_result *res, size_t *cap) PF_MUSTCHECK;

/* Counts a reject of reason <r> at <unit> <where>; the first one's reason
 * (sanitised) is kept in res->first_reject. */
void provider_parse_reject(struct provider_parse_result *res, enum provider_reject r,
                           const char *unit, size_t where, const char *reason);

/* Drops later duplicates of res->upstreams. Returns PF_OK or PF_ENOMEM. */
int provider_parse_dedupe(struct provider_parse_result *res) PF_MUSTCHECK;

#endif
