/* What both provider body parsers share, below both of them: the options
 * and result of one parse, the reject reasons and their counting,
 * appending a validated entry, de-duplication, and how a failure and a
 * provider's own words are classified and quoted. provider_parse.c
 * (`lines`) and provider_json.c (`json`) include this header and never
 * each other's; provider_answer.c sits above both.
 *
 * Secrets by construction: nothing here copies raw provider bytes into a
 * reason. A rejected entry is described by its parsed host and port, or by
 * where it was and its size ("line 3 (41 bytes)"); a provider's message is
 * quoted through provider_quote(), which drops every word that could hold
 * credentials and every secret of the request. Pure: no I/O, no logging,
 * no clock (it comes in opts->now_wall_ms). */
#ifndef PF_PROVIDER_INTAKE_H
#define PF_PROVIDER_INTAKE_H

#include <stddef.h>
#include <stdint.h>

#include "conf.h"
#include "err.h"
#include "line_format.h"
#include "upstream-t.h"

#define PROVIDER_PARSE_TOKEN_MAX   1024     /* longer entries are rejected unparsed */
#define PROVIDER_QUOTE_MAX         80       /* characters of provider text quoted in a reason */
#define PROVIDER_EXAMPLES_MAX      3        /* rejected entries a result keeps as examples */
#define PROVIDER_EXAMPLE_LEN       (UPSTREAM_HOST_MAX + 16)
#define PROVIDER_SECRET_MIN        4        /* shorter "secrets" are not redacted (too common) */

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
    PROVIDER_REJECT_DENIED,      /* loopback/private/metadata address not allowed */
    PROVIDER_REJECT_DUPLICATE,   /* same upstream id earlier in the body */
    PROVIDER_REJECT_TOO_LONG,    /* entry over PROVIDER_PARSE_TOKEN_MAX */
    PROVIDER_REJECT_BINARY,      /* control or non-ASCII bytes */
    PROVIDER_REJECT_TOO_MANY,    /* over opts->max_upstreams */
    PROVIDER_REJECT_EXPIRY,      /* expiry field missing, malformed or already past */
    PROVIDER_REJECT_FILTERED,    /* json.filter said no ("valid": false) */
    PROVIDER_REJECT_COUNT
};

struct provider_parse_opts {
    enum upstream_scheme default_scheme;   /* for entries without a scheme */
    const struct conf_upstream_policy *policy; /* borrowed; addr_validate_upstream(), NULL =
                                              public addresses only */
    size_t   max_upstreams;                /* 0 = no limit */
    const char *provider;                  /* borrowed; copied into each upstream, may be NULL */
    uint32_t tier;                         /* copied into each upstream */
    const char *separators;                /* borrowed; extra lines separators, may be NULL */
    const struct line_format *line_format; /* borrowed; lines entry template, NULL = auto */
    enum conf_body_format format;          /* for provider_answer_parse() */
    const struct conf_provider_json *json; /* borrowed; json format paths, NULL = defaults */
    const struct conf_provider_errors *errors; /* borrowed; codes and words, may be NULL */
    const char *const *secrets;            /* borrowed; values of the request (API key, auth
                                              password, query values) never quoted */
    size_t   nsecrets;
    int64_t  now_wall_ms;                  /* the poll's clock: lifetime_s and past expiries */
};

struct provider_parse_result {
    struct upstream *upstreams;            /* owned; accepted, deduped, body order */
    size_t   nupstreams;
    size_t   cap;                          /* slots of upstreams */
    size_t   nlines;                       /* non-blank, non-comment lines (json: list items) */
    size_t   nentries;                     /* entries (tokens) examined */
    size_t   nrejected;                    /* sum of rejected[] */
    size_t   rejected[PROVIDER_REJECT_COUNT];
    char     first_reject[PF_ERR_MSG_LEN]; /* "line 3 (41 bytes): port 0 out of range", "" = none */
    char     examples[PROVIDER_EXAMPLES_MAX][PROVIDER_EXAMPLE_LEN]; /* rejected entries:
                                              "host:port", else "line 3 (41 bytes)" */
    size_t   nexamples;
    enum provider_err_class err_class;     /* NONE on PF_OK, else TRANSIENT or FATAL */
    int      retry_after_s;                /* from HTTP 429/503 Retry-After, -1 = none */
    int      is_page;                      /* json: a well-formed page (success met, list an
                                              array), usable entries or not */
    char     next[CONF_URL_MAX];           /* json.next: the next page's URL, untrusted
                                              printable ASCII; "" = last page */
};

/* Initialises <res> for a parse: empty, class TRANSIENT until it succeeds,
 * no Retry-After. */
void provider_result_init(struct provider_parse_result *res);

/* Frees what <res> owns and zeroes it (accepts NULL). */
void provider_parse_result_deinit(struct provider_parse_result *res);

/* Parses, validates and appends entry <s> of <len> bytes (untrusted) found
 * at <unit> <where> ("line 3", "entry 2"). The entry is read with
 * opts->line_format when set, else as host:port:user:pass when it has
 * exactly four ':' fields and the second is a port, else by
 * addr_parse_upstream() (host:port, user:pass@host:port, scheme://...);
 * opts->default_scheme applies to all. Rejects are counted in <res>.
 * Returns PF_OK when appended (the new upstream is
 * res->upstreams[res->nupstreams - 1]), PF_EINVAL when rejected, PF_ENOMEM. */
int provider_entry_add(const char *s, size_t len, const char *unit, size_t where,
                       const struct provider_parse_opts *opts,
                       struct provider_parse_result *res) PF_MUSTCHECK;

/* Counts a reject of reason <r> of an entry of <len> bytes (0: not bytes,
 * a JSON object) at <unit> <where>; <u> is what was parsed of it (NULL
 * when nothing was). The first
 * reject's description ("line 3: loopback address 127.0.0.1 not allowed",
 * "entry 2 (41 bytes): missing port") is kept in res->first_reject, and up
 * to PROVIDER_EXAMPLES_MAX examples. <reason> is a fixed text or one built
 * from parsed parts, never the entry's bytes. */
void provider_entry_reject(struct provider_parse_result *res, enum provider_reject r,
                           const char *unit, size_t where, size_t len, const struct upstream *u,
                           const char *reason);

/* Drops later duplicates of res->upstreams (same addr_upstream_id()),
 * keeping body order; each counts as a "duplicate" reject. Returns PF_OK or
 * PF_ENOMEM. */
int provider_entry_dedupe(struct provider_parse_result *res) PF_MUSTCHECK;

#define PROVIDER_QUOTE_REPLACED 1   /* provider_quote(): some word was replaced */
#define PROVIDER_QUOTE_ALL      2   /* ... and every word was */

/* Quotes provider text <s> of <len> bytes (a message, an error page's first
 * line) into <buf> of <buf_len> for a reason: each word holding a secret of
 * <opts> (may be NULL) and each word that could carry credentials (holding
 * '@', "://" or two or more ':') becomes "(N bytes)"; the rest is made
 * clean UTF-8 (str_sanitize_text) and cut to PROVIDER_QUOTE_MAX characters.
 * Returns PROVIDER_QUOTE_* flags (0 when nothing was replaced). */
int provider_quote(const char *s, size_t len, const struct provider_parse_opts *opts, char *buf,
                   size_t buf_len);

/* Classifies the provider error text <s> of <len> bytes: a configured
 * transient word wins, then configured fatal words, then the built-in
 * transient wording (频率, 稍后再试, 繁忙, "too many requests", "try again
 * later"), then the built-in fatal wording (whitelist, balance, expired or
 * invalid key, unauthorized, KEY_ERROR, 白名单, 余额不足, 已过期, 套餐过期,
 * 密钥/秘钥, 未授权, 账号/账户 problems, ...), all case-insensitive. <errors>
 * may be NULL. Returns PROVIDER_ERR_FATAL or PROVIDER_ERR_TRANSIENT. */
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

/* Short metric-friendly name of <r>: "syntax", "host", "port", ... */
const char *provider_reject_name(enum provider_reject r);

/* Offset of the first byte of <body> after a UTF-8 BOM and blanks (== <len>
 * when there is none). */
size_t provider_skip_blank(const char *body, size_t len);

#endif
