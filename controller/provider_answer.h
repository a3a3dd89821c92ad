/* A provider's whole answer (HTTP status, body, Retry-After) turned into
 * upstreams or one classified failure: the single entry point provider.c
 * calls. It picks the body parser by format (provider_parse.c for lines,
 * provider_json.c for json) and reads failed answers itself, so the two
 * parsers never include each other. Pure: no I/O, no logging, no clock. */
#ifndef PF_PROVIDER_ANSWER_H
#define PF_PROVIDER_ANSWER_H

#include <stddef.h>

#include "err.h"
#include "provider_intake.h"

/* One provider answer: an HTTP response, or a file's contents (status 200). */
struct provider_response {
    long         http_status;              /* 200 for a file */
    const char  *body;                     /* untrusted, not NUL-terminated */
    size_t       body_len;
    const char  *retry_after;              /* Retry-After header value; "" or NULL = none */
};

/* Turns answer <r> into upstreams or one classified failure. HTTP 401/403/
 * 407 are fatal; 429 and 503 are transient with res->retry_after_s from
 * Retry-After (delta seconds); other 4xx are fatal when their body's code
 * or wording says so; other statuses, empty, HTML or invalid/truncated
 * JSON bodies are transient unless the error code table or the wording says
 * fatal (provider_classify_text()). 200 bodies are parsed by opts->format;
 * a lines provider answering a JSON object gets it read as an error with
 * code and message ("provider error code 10001: IP not whitelisted").
 * Every piece of the body a reason shows goes through provider_quote().
 * <res> is initialised here; release it with provider_parse_result_deinit().
 * Returns PF_OK (res->err_class NONE) with at least one upstream, PF_EINVAL
 * with the reason in <err> and res->err_class set, or PF_ENOMEM. */
int provider_answer_parse(const struct provider_response *r,
                          const struct provider_parse_opts *opts,
                          struct provider_parse_result *res, struct pf_err *err) PF_MUSTCHECK;

#endif
