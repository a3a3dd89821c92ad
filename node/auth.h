/* Client authentication, one place for HTTP (Proxy-Authorization: Basic)
 * and SOCKS5 (RFC 1929): the node.users check with one constant-time
 * compare, and the parameters a client may put in its user name
 * (common/user_params.h): the sticky session
 * ("alice-session-42-sesstime-10") and labels ("alice-country-us"). Pure: no clock, no logging, no
 * allocation (tests/unit/test_auth.c). */
#ifndef PF_NODE_AUTH_H
#define PF_NODE_AUTH_H

#include <stddef.h>
#include <stdint.h>

#include "conf.h"
#include "pf.h"
#include "user_params.h"

#define AUTH_USER_MAX 256           /* user name bytes kept (SOCKS5 allows 255) */
#define AUTH_KEY_MAX  256           /* session key bytes kept */

/* A client user name split into its base and parameters. */
struct auth_user {
    char base_user[AUTH_USER_MAX];  /* what is checked against node.users */
    char key[AUTH_KEY_MAX];         /* "<base_user>\n<session id>" when is_sticky */
    int  is_sticky;
    int  lifetime_min;              /* -sesstime-<minutes>; 0 = no lifetime */
    struct user_params params;      /* labels (and the session as given) */
    char reason[PF_ERR_MSG_LEN];    /* why the parameters were refused; "" = they were not */
    int  is_source_user;            /* matched through the auth_source, not node.users */
};

/* A source of users besides node.users (node/user_store.h: the users in
 * Redis). node.users comes first: a base user name found there is decided
 * there and never passed on. */
struct auth_source {
    /* 1 when base user name <user> with <pass> of <pass_len> bytes matches */
    int  (*check)(void *arg, const char *user, const char *pass, size_t pass_len);
    void  *arg;
    int    is_on;                  /* authentication is required even without node.users */
};

/* Parses user name <user> with session marker <tag> (e.g. "-session-"; ""
 * turns sessions off) and lifetime marker <time_tag> ("-sesstime-") in the
 * grammar of user_params.h:
 *   alice                          -> base "alice", not sticky
 *   alice-session-42               -> base "alice", key "alice\n42"
 *   alice-session-42-sesstime-10   -> same key, lifetime 10 minutes
 *   alice-country-us-session-42    -> same key, label country=us
 * Session ids are 1..64 of [A-Za-z0-9_.]; a lifetime 1..1440. Returns PF_OK,
 * or PF_EINVAL with out->reason when the parameters are malformed or
 * unknown (then only out->base_user and out->reason are kept). A tag that
 * is not "-<word>-" turns its parameter off (the node refuses such a
 * config at start: user_params_words_from_tags()). */
int auth_user_parse(const char *user, const char *tag, const char *time_tag,
                    struct auth_user *out) PF_MUSTCHECK;

/* The checks of <cn> beyond the schema: node.session_tag and
 * node.session_time_tag must be "" or "-<word>-" (user_params.h). Returns
 * PF_OK or PF_EINVAL with the key in <err>. */
int auth_check_conf(const struct conf_node *cn, struct pf_err *err) PF_MUSTCHECK;

/* Checks user name <user> (NUL-terminated; parsed with node.session_tag
 * and node.session_time_tag into <u>) and password <pass> of <pass_len>
 * bytes against every entry of node.users, with the same work whatever
 * matches (no early exit, constant-time compares). <u> is filled whenever
 * the name parses, so a sticky session is known even when the password is
 * wrong. Returns 1 when one user matches, 0 otherwise (also for
 * malformed parameters, with u->reason, or no users configured). */
int auth_check_user(const struct conf_node *cn, const char *user, const char *pass,
                    size_t pass_len, struct auth_user *u);

/* As auth_check_user(), then, when node.users has no such base user name,
 * through <src> (NULL = none). */
int auth_check_user_from(const struct conf_node *cn, const struct auth_source *src,
                         const char *user, const char *pass, size_t pass_len, struct auth_user *u);

/* 1 when authentication is required: node.users is not empty or <src> is on. */
int auth_is_required(const struct conf_node *cn, const struct auth_source *src);

/* HTTP: checks Proxy-Authorization header value <value> (NULL when the
 * request has none). Without node.users every request is authorized, but
 * a "Basic" user name still names its session and labels (check
 * u->reason: malformed parameters are refused by the caller). Credentials are decoded on
 * the stack and wiped. Fills <u> as auth_check_user() does (is_sticky 0
 * when there is no usable user name). Returns 1 when authorized. */
int auth_check_basic(const struct conf_node *cn, const char *value, struct auth_user *u);

/* As auth_check_basic(), with the users of <src> too (NULL = none). */
int auth_check_basic_from(const struct conf_node *cn, const struct auth_source *src,
                          const char *value, struct auth_user *u);

#endif
