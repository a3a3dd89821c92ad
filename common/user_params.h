/* The parameters a client puts in its proxy user name, in the grammar
 * scrapers already use with commercial gateways:
 *
 *   alice-country-us-city-new_york-session-42-sesstime-10
 *   \___/ \________________________________________________/
 *   base   pairs "-<key>-<value>", any order, each key at most once
 *
 * Keys: the labels country, region, city, isp, asn, provider, tier (which
 * select a subset of the pool), and the session words (node.session_tag,
 * node.session_time_tag: "session" and "sesstime" by default).
 *
 * The base user name ends where the first "-<known key>-" starts, so a base
 * name may itself hold dashes ("john-doe-country-us" is user "john-doe");
 * from there on every key must be known ("unknown parameter colour"). A
 * value is 1..USER_PARAMS_VALUE_LEN of [A-Za-z0-9_.]; tier is 0..15, asn
 * digits with an optional "AS", sesstime 1..1440 minutes.
 *
 * Label values are kept normalised (user_params_norm()): ASCII lowercase,
 * and ' ' and '-' read as '_', so "new_york" matches a provider's
 * "New York"; pool labels go through the same function before they are
 * compared.
 *
 * Pure, no allocation; parses untrusted bytes (fuzz/fuzz_user_params.c,
 * tests/corpus/user_params/). Reasons quote only what was validated (a
 * known key, or an unknown one of at most 16 of [a-z0-9_]). */
#ifndef PF_USER_PARAMS_H
#define PF_USER_PARAMS_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "pf.h"

#define USER_PARAMS_USER_MAX  256   /* base user name bytes kept, NUL included */
#define USER_PARAMS_VALUE_LEN 64    /* longest value */
#define USER_PARAMS_WORD_MAX  32    /* longest session word, NUL included */

/* The label keys, in this order everywhere (pool label index, docs). */
enum user_label {
    USER_LABEL_COUNTRY = 0,
    USER_LABEL_REGION,
    USER_LABEL_CITY,
    USER_LABEL_ISP,
    USER_LABEL_ASN,
    USER_LABEL_PROVIDER,
    USER_LABEL_TIER,
    USER_LABEL_COUNT
};

/* The session words of the grammar ("session", "sesstime"); "" = off. */
struct user_params_words {
    char session[USER_PARAMS_WORD_MAX];
    char sesstime[USER_PARAMS_WORD_MAX];
};

struct user_params {
    char     base_user[USER_PARAMS_USER_MAX];
    char     label[USER_LABEL_COUNT][USER_PARAMS_VALUE_LEN + 1]; /* normalised; "" = not given */
    unsigned label_mask;                /* bit (1u << enum user_label) per label given */
    char     session[USER_PARAMS_VALUE_LEN + 1]; /* as given; "" = none */
    int      sesstime_min;              /* 0 = none (only with a session) */
};

/* The name of label <l> ("country" ...). */
const char *user_label_name(enum user_label l);

/* Derives the session words from node.session_tag <tag> and
 * node.session_time_tag <time_tag> ("-session-" -> "session") into <out>.
 * A tag must be "" (off) or "-<word>-" with a word of 1..31 of [a-z0-9_]
 * that is not a label name. Returns PF_OK or PF_EINVAL (<err> names it). */
int user_params_words_from_tags(const char *tag, const char *time_tag,
                                struct user_params_words *out, struct pf_err *err) PF_MUSTCHECK;

/* Parses the NUL-terminated user name <user> with words <w> into <out>
 * (always zeroed first). Returns PF_OK, or PF_EINVAL with the reason in
 * <err> ("unknown parameter colour", "country: bad value", "country given
 * twice", "sesstime without session", "user name too long"). */
int user_params_parse(const char *user, const struct user_params_words *w,
                      struct user_params *out, struct pf_err *err) PF_MUSTCHECK;

/* Normalises label value <in> (<len> bytes) for comparison into <out> of
 * <out_len> bytes: ASCII letters lowercased, ' ' and '-' to '_', an "as"
 * prefix dropped when <l> is USER_LABEL_ASN; other bytes kept; truncated
 * to fit. Returns the length written. */
size_t user_params_norm(enum user_label l, const char *in, size_t len, char *out, size_t out_len);

/* Formats the filter of <p> as "country=us city=new_york" into <buf> of
 * <len> bytes (the 503 body, logs); "" when no label is given. */
void user_params_format_filter(const struct user_params *p, char *buf, size_t len);

#endif
