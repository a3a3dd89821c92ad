/* The `lines` body parser; see provider_parse.h. */
#include "provider_parse.h"

#include <string.h>

static int parse_is_blank(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

/* Whether <c> separates entries inside one line: blanks, ',' ';' and the
 * configured separators, unless the entry template uses it itself. */
static int parse_is_sep(unsigned char c, const struct provider_parse_opts *opts)
{
    int is_sep = parse_is_blank(c) || c == ',' || c == ';' ||
                 (c != '\0' && opts->separators != NULL && strchr(opts->separators, c) != NULL);
    if (is_sep && opts->line_format != NULL && line_format_uses(opts->line_format, (char)c))
        return 0;
    return is_sep;
}

int provider_parse_lines(const char *body, size_t len, const struct provider_parse_opts *opts,
                         struct provider_parse_result *res, struct pf_err *err)
{
    size_t pos;
    size_t lineno = 0;
    const char *first = NULL;
    size_t first_len = 0;
    int oom = 0;

    provider_result_init(res);
    if (body == NULL)
        len = 0;

    /* Look at what the body is past a BOM and leading blanks. */
    size_t start = provider_skip_blank(body, len);
    if (start == len)
        return pf_err_set(err, PF_EINVAL, "empty body");
    if (body[start] == '<')
        return pf_err_set(err, PF_EINVAL, "HTML body");

    pos = (len >= 3 && memcmp(body, "\xEF\xBB\xBF", 3) == 0) ? 3 : 0;
    while (pos < len && !oom) {
        const char *nl = memchr(body + pos, '\n', len - pos);
        size_t end = nl ? (size_t)(nl - body) : len;
        const char *line = body + pos;
        size_t line_len = end - pos;

        lineno++;
        pos = end + 1;
        while (line_len > 0 && parse_is_blank((unsigned char)line[0])) {
            line++;
            line_len--;
        }
        while (line_len > 0 && parse_is_blank((unsigned char)line[line_len - 1]))
            line_len--;
        if (line_len == 0 || line[0] == '#')
            continue;
        res->nlines++;
        if (first == NULL) {
            first = line;
            first_len = line_len;
        }
        for (size_t i = 0; i < line_len && !oom;) {
            if (parse_is_sep((unsigned char)line[i], opts)) {
                i++;
                continue;
            }
            size_t j = i;
            while (j < line_len && !parse_is_sep((unsigned char)line[j], opts))
                j++;
            if (provider_entry_add(line + i, j - i, "line", lineno, opts, res) == PF_ENOMEM)
                oom = 1;
            i = j;
        }
    }
    if (oom || provider_entry_dedupe(res) != PF_OK)
        return pf_err_set(err, PF_ENOMEM, "out of memory parsing body");
    if (res->nupstreams > 0) {
        res->err_class = PROVIDER_ERR_NONE;
        return PF_OK;
    }
    if (first == NULL)
        return pf_err_set(err, PF_EINVAL, "empty body");

    /* Text that is no address list is the provider talking: "ERROR(-3):
     * ...", "请添加白名单1.2.3.4". Its wording says whether retrying can
     * help. A first line made only of words that could hold credentials
     * reads as entries instead: described, never quoted. */
    char quoted[PROVIDER_QUOTE_MAX * 4 + 1];
    res->err_class = provider_classify_text(first, first_len, opts->errors);
    if ((provider_quote(first, first_len, opts, quoted, sizeof(quoted)) & PROVIDER_QUOTE_ALL) &&
        res->first_reject[0] != '\0')
        return pf_err_set(err, PF_EINVAL, "no valid address in %zu line%s (first: %s)",
                          res->nlines, res->nlines == 1 ? "" : "s", res->first_reject);
    return pf_err_set(err, PF_EINVAL, "no valid address in %zu line%s (first: '%s')",
                      res->nlines, res->nlines == 1 ? "" : "s", quoted);
}
