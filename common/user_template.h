/* The user name a node sends to a gateway upstream (a provider's or static
 * upstream's "user_template"), rendered per request from the client's
 * user-name parameters (common/user_params.h):
 *
 *   customer-acme[-cc-{country}][-sessid-{session}][-sesstime-{sesstime}]
 *   \___________/\_______________/
 *   fixed part    optional segment: dropped when a placeholder in it is empty
 *
 * Grammar: literal characters are printable ASCII except ':' (it ends the
 * user name in Basic credentials), '[', ']', '{' and '}'. "[...]" is a
 * segment (not nested) holding at least one placeholder; "{name}" is a
 * placeholder and must stand inside a segment (a client may leave any
 * parameter out). Names: country, region, city, isp, asn (the labels the
 * client asked for, normalised as user_params_norm() does), session (a
 * stable keyed hash of the client's session key, never the key itself:
 * the node fills it) and sesstime (the session's lifetime in minutes).
 * The fixed part outside the segments is 1 character at least. A rendering
 * longer than USER_TEMPLATE_OUT_MAX - 1 bytes (SOCKS5 user names are 255
 * bytes at most) is refused per request (PF_ERANGE): a template with many
 * label placeholders fits unless a client sends very long values.
 *
 * Templates come from config (untrusted: fuzz/fuzz_user_template.c,
 * tests/corpus/user_template/) and from pool records in Redis; both are
 * checked with user_template_check(). Reasons quote only what was
 * validated (a placeholder name of [a-z_] known or not, byte offsets).
 * Pure: no allocation, no globals (tests/unit/test_user_template.c). */
#ifndef PF_USER_TEMPLATE_H
#define PF_USER_TEMPLATE_H

#include <stddef.h>

#include "err.h"
#include "pf.h"
#include "upstream-t.h"
#include "user_params.h"

#define USER_TEMPLATE_MAX     UPSTREAM_TEMPLATE_MAX /* template text, NUL included */
#define USER_TEMPLATE_OUT_MAX 256   /* rendered user name, NUL included */
#define USER_TEMPLATE_SESSION_LEN 16 /* hex characters of the session value */

enum user_template_var {
    USER_TEMPLATE_COUNTRY = 0,
    USER_TEMPLATE_REGION,
    USER_TEMPLATE_CITY,
    USER_TEMPLATE_ISP,
    USER_TEMPLATE_ASN,
    USER_TEMPLATE_SESSION,
    USER_TEMPLATE_SESSTIME,
    USER_TEMPLATE__COUNT
};

/* The values of one request; "" = not given (its segments are dropped).
 * Values are 0..USER_PARAMS_VALUE_LEN of [A-Za-z0-9_.]. */
struct user_template_vars {
    char v[USER_TEMPLATE__COUNT][USER_PARAMS_VALUE_LEN + 1];
};

/* The placeholder name of <v> ("country" ...). */
const char *user_template_var_name(enum user_template_var v);

/* Checks template <tmpl> (NUL-terminated) against the grammar above.
 * Returns PF_OK, or PF_EINVAL with the reason in <err> ("byte 12: ':' is
 * not allowed", "unknown placeholder {colour}", "{country} must stand
 * inside [...]"). */
int user_template_check(const char *tmpl, struct pf_err *err) PF_MUSTCHECK;

/* Renders checked template <tmpl> with <vars> into <out> of <out_len>
 * bytes (USER_TEMPLATE_OUT_MAX is enough). Returns PF_OK, or PF_EINVAL
 * when <tmpl> fails user_template_check() or a value holds a byte outside
 * [A-Za-z0-9_.] or is too long, PF_ERANGE when the rendering does not fit
 * <out_len> or USER_TEMPLATE_OUT_MAX bytes; <out> is then "". */
int user_template_render(const char *tmpl, const struct user_template_vars *vars, char *out,
                         size_t out_len, struct pf_err *err) PF_MUSTCHECK;

/* Fills <vars> from parsed user-name parameters <p>: the labels country,
 * region, city, isp and asn, and sesstime (decimal) when a session is
 * given. The session value is left "" for the caller, who alone holds the
 * key that hashes it (user_template_session_format()). */
void user_template_vars_from_params(const struct user_params *p, struct user_template_vars *vars);

/* Formats session hash <h> as USER_TEMPLATE_SESSION_LEN lowercase hex
 * characters into <vars>' session value. */
void user_template_session_format(unsigned long long h, struct user_template_vars *vars);

#endif
