/* A provider answer to upstreams or a classified failure; see provider_answer.h. */
#include "provider_answer.h"

#include <string.h>

#include "provider_json.h"
#include "provider_parse.h"

/* A non-2xx answer: always a failure, its class from the status first. */
static int answer_http_error(const struct provider_response *r,
                             const struct provider_parse_opts *opts,
                             struct provider_parse_result *res, struct pf_err *err)
{
    char first[PROVIDER_QUOTE_MAX * 4 + 1];
    char ra_safe[64];
    struct pf_err jerr;
    enum provider_err_class cls = PROVIDER_ERR_TRANSIENT;
    size_t start = provider_skip_blank(r->body, r->body_len);
    size_t len = start;
    const char *ra = r->retry_after != NULL ? r->retry_after : "";

    while (len < r->body_len && r->body[len] != '\n' && r->body[len] != '\r')
        len++;
    provider_quote(r->body + start, len - start, opts, first, sizeof(first));
    provider_quote(ra, strlen(ra), opts, ra_safe, sizeof(ra_safe));
    if (r->http_status == 429 || r->http_status == 503)
        res->retry_after_s = provider_retry_after_s(ra);
    pf_err_clear(&jerr);
    if (r->http_status == 401 || r->http_status == 403 || r->http_status == 407) {
        cls = PROVIDER_ERR_FATAL;
    } else if (r->http_status >= 400 && r->http_status < 500 && r->http_status != 429 &&
               r->http_status != 408) {
        /* 400/404/...: the body may say why ("invalid key"). */
        if (provider_json_error(r->body, r->body_len, opts, &cls, &jerr) != PF_EINVAL)
            cls = provider_classify_text(r->body + start, len - start, opts->errors);
    }
    res->err_class = cls;
    return pf_err_set(err, PF_EINVAL, "HTTP %ld%s%s%s%s%s", r->http_status,
                      ra_safe[0] ? " retry-after " : "", ra_safe,
                      first[0] ? " (body: '" : "", first, first[0] ? "')" : "");
}

int provider_answer_parse(const struct provider_response *r,
                          const struct provider_parse_opts *opts,
                          struct provider_parse_result *res, struct pf_err *err)
{
    const char *body = r->body != NULL ? r->body : "";
    size_t len = r->body != NULL ? r->body_len : 0;
    size_t start = provider_skip_blank(body, len);
    enum provider_err_class cls = PROVIDER_ERR_TRANSIENT;
    int rc;

    provider_result_init(res);
    if (r->http_status < 200 || r->http_status > 299) {
        struct provider_response rr = *r;
        rr.body = body;
        rr.body_len = len;
        return answer_http_error(&rr, opts, res, err);
    }
    if (start == len)
        return pf_err_set(err, PF_EINVAL, "empty body");
    if (body[start] == '<')
        return pf_err_set(err, PF_EINVAL, "HTML body");
    if (opts->format == CONF_FORMAT_JSON)
        return provider_parse_json(body, len, opts, res, err);
    /* A lines provider answering a JSON object is reporting an error. */
    if (body[start] == '{') {
        rc = provider_json_error(body, len, opts, &cls, err);
        if (rc == PF_EINVAL) {
            res->err_class = cls;
            return rc;
        }
    }
    return provider_parse_lines(body, len, opts, res, err);
}
