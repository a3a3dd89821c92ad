/* The `lines` body parser: one or more entries a line. Pure: no I/O, no
 * logging, no clock; the caller decides what a failure means for the
 * provider and logs it. Shares its types and entry handling with the json
 * parser through provider_intake.h; provider_answer.c picks the parser. */
#ifndef PF_PROVIDER_PARSE_H
#define PF_PROVIDER_PARSE_H

#include <stddef.h>

#include "err.h"
#include "provider_intake.h"

/* Parses a `lines` body of <len> bytes at <body> (not NUL-terminated,
 * untrusted). Entries are separated by newlines (LF or CRLF) and, within a
 * line, by blanks, commas, semicolons and opts->separators, except the
 * characters opts->line_format uses itself; each entry is read as
 * provider_entry_add() says (host:port, user:pass@host:port,
 * scheme://[user:pass@]host:port, host:port:user:pass, or the template).
 * Lines starting with '#' are comments. Duplicates (same addr_upstream_id())
 * keep the first. <res> is initialised here and must be released with
 * provider_parse_result_deinit() whatever the return value.
 * Returns PF_OK when at least one address was accepted. Otherwise PF_EINVAL
 * with a reason in <err>: "empty body", "HTML body", or "no valid address in
 * N lines (first: ...)": the first line quoted by provider_quote() when it
 * reads as a message ("'ERROR(-3): IP not in whitelist'"), else the first
 * reject described from its parsed parts ("line 1 (24 bytes): missing port").
 * res->err_class then comes from the wording of the first line. PF_ENOMEM
 * on allocation failure. */
int provider_parse_lines(const char *body, size_t len, const struct provider_parse_opts *opts,
                         struct provider_parse_result *res, struct pf_err *err) PF_MUSTCHECK;

#endif
