/* Entry templates of a `lines` provider ("line_format"): the fields {host},
 * {port}, {user} and {pass} in the provider's order, with the literal text
 * it puts between them:
 *
 *   {host}:{port}:{user}:{pass}     IPRoyal, Proxy-Seller, Webshare lists
 *   {user}:{pass}:{host}:{port}
 *   {user}:{pass}@{host}:{port}
 *   {host}|{port}|{user}|{pass}
 *
 * Matching is deterministic and lets the password hold the separators:
 * fields before {pass} end at the first occurrence of their separator,
 * fields after it start after the last occurrence of theirs, and {pass}
 * takes what is left in between. A host in brackets ([2001:db8::1]) is
 * read to its closing bracket first. Pure: no allocation, no globals. */
#ifndef PF_LINE_FORMAT_H
#define PF_LINE_FORMAT_H

#include <stddef.h>

#include "addr.h"
#include "err.h"

#define LINE_FORMAT_LIT_MAX 16   /* bytes of one literal (separator, prefix, suffix) */

enum line_field {
    LINE_F_HOST = 0,
    LINE_F_PORT,
    LINE_F_USER,
    LINE_F_PASS,
    LINE_F__COUNT
};

struct line_format {
    char             prefix[LINE_FORMAT_LIT_MAX + 1];    /* literal before the first field */
    int              nfields;                            /* 2..4 */
    enum line_field  fields[LINE_F__COUNT];              /* in template order */
    char             seps[LINE_F__COUNT][LINE_FORMAT_LIT_MAX + 1]; /* seps[i] follows fields[i];
                                                            the last one is the suffix */
    int              pass_at;                            /* index of {pass} in fields, -1 = none */
};

/* Compiles template <tmpl>. It holds {host} and {port} once each, {user}
 * and {pass} at most once ({pass} only with {user}), a non-empty separator
 * between any two fields (printable ASCII but letters, digits, '.', '-',
 * '_' and braces: host names are made of those), and optionally literal
 * text before the first and after the last field. Returns PF_OK or
 * PF_EINVAL with the reason in <err> ("unknown field {ip}", "{host} and
 * {port} need a separator"). */
int line_format_compile(const char *tmpl, struct line_format *out, struct pf_err *err) PF_MUSTCHECK;

/* Splits the <len> bytes at <s> by <f> into <out> (pointers into <s>; the
 * fields the template lacks get length 0). Returns PF_OK, or PF_EINVAL when
 * a literal is missing or a field is empty; the caller describes the entry,
 * never its bytes. */
int line_format_match(const struct line_format *f, const char *s, size_t len,
                      struct addr_parts *out) PF_MUSTCHECK;

/* Returns 1 when character <c> occurs in a literal of <f>: such a character
 * cannot also separate the entries of a line. */
int line_format_uses(const struct line_format *f, char c);

#endif
