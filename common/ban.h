/* Bans (issue 12 item 2): one record, its wire forms and the parsers of
 * what clients and Redis send. Pure: time comes in as arguments.
 *
 * A ban says "do not use upstream U for domain D until T":
 *   - a fleet ban names the upstream by its short id (upstream_sid.h);
 *   - a session ban also names a sticky session, "<user>-session-<key>",
 *     and applies to that session only: the session moves to its next
 *     upstream in rendezvous order for D, its other domains keep theirs.
 * D is a host name (it covers its subdomains), an IP literal, or "*".
 *
 * Wire forms (docs/redis-keys.md, "Bans"):
 *   record  {"id":"<16 hex>","upstream":"<sid>","session":"alice-session-42",
 *            "domain":"example.com","created_at_ms":N,"expires_at_ms":N,
 *            "reason":"captcha"}        (session omitted for a fleet ban)
 *   notice  "add <record>" or "del <id>" on the ban channel
 *   request {"upstream":"<sid>"} or {"session":"alice-session-42"} (and an
 *            optional "upstream"), "domain", "ttl_s", "reason": POST /v1/bans
 *   query   session=42&domain=example.com&ttl_s=600[&reason=...]: the
 *            in-band form, for the authenticated user's own sessions
 * Every parser takes untrusted bytes (fuzz/fuzz_ban.c); a reason never
 * quotes the input. */
#ifndef PF_BAN_H
#define PF_BAN_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "pf.h"
#include "upstream_sid.h"

#define BAN_ID_LEN       16                /* hex digits */
#define BAN_DOMAIN_MAX   254               /* 253 chars + NUL */
#define BAN_SESSION_MAX  192               /* "<user>-session-<key>" + NUL */
#define BAN_REASON_MAX   128               /* clean UTF-8 + NUL */
#define BAN_TTL_MAX_S    (30 * 86400)      /* 30 days */
#define BAN_TTL_DEFAULT_S 3600
#define BAN_RECORD_MAX   1024              /* longest record text, with NUL */
#define BAN_SESSION_SEP  "-session-"

struct ban {
    char    id[BAN_ID_LEN + 1];            /* random hex, chosen by the writer */
    char    upstream[UPSTREAM_SID_LEN];   /* short id; "" only in a request to be filled */
    char    session[BAN_SESSION_MAX];      /* "" = every session (fleet ban) */
    char    domain[BAN_DOMAIN_MAX];        /* lowercase, no trailing dot; "*" = all */
    int64_t created_at_ms;                 /* wall clock */
    int64_t expires_at_ms;                 /* wall clock */
    char    reason[BAN_REASON_MAX];        /* clean UTF-8 ("" = none) */
};

/* The reserved host of in-band ban requests on the proxy port: answered
 * by the node, never forwarded (node/ban_control.h). */
#define BAN_CONTROL_HOST "proxyfleet.control"

/* Returns 1 when <host> is BAN_CONTROL_HOST (any case, one trailing dot). */
int ban_is_control_host(const char *host);

/* Normalises domain <s> (<len> bytes) into <out> of BAN_DOMAIN_MAX: "*", or
 * 1..253 chars of letters, digits, '-', '.', '_' (a name or an IPv4
 * literal) or ':' (IPv6, no brackets), lowercased, one trailing dot
 * dropped, no empty label. Returns PF_OK or PF_EINVAL (reason in <err>). */
int ban_domain_norm(const char *s, size_t len, char *out, struct pf_err *err) PF_MUSTCHECK;

/* Returns 1 when ban domain <domain> covers host <host> (<len> bytes, any
 * case, a trailing dot ignored): "*", the same name, or a subdomain of it
 * (label boundary: "example.com" covers "a.example.com", not "badexample.com"). */
int ban_domain_covers(const char *domain, const char *host, size_t len);

/* Checks session name <s> (<len> bytes): "<user>-session-<key>", user and
 * key non-empty, printable ASCII without spaces, under BAN_SESSION_MAX.
 * Returns 1 when valid. */
int ban_session_is_valid(const char *s, size_t len);

/* Writes the session name of base user <user> and session <key> into <out>
 * of <len> ("<user>-session-<key>"). Returns PF_OK or PF_ERANGE. */
int ban_session_name(const char *user, size_t user_len, const char *key, size_t key_len,
                     char *out, size_t len) PF_MUSTCHECK;

/* Writes BAN_ID_LEN hex digits of <rnd> into <id>. */
void ban_id_format(uint64_t rnd, char id[BAN_ID_LEN + 1]);

/* Parses record <s> (<len> bytes, untrusted: Redis or the channel) into
 * <out>. Every field is checked (id, upstream, domain, session when
 * present, expires_at_ms > 0; reason sanitised). Returns PF_OK or
 * PF_EINVAL with a reason in <err>. */
int ban_record_parse(const char *s, size_t len, struct ban *out, struct pf_err *err) PF_MUSTCHECK;

/* Writes the record text of <b> into <buf> of <len> (BAN_RECORD_MAX is
 * enough). Returns the length, or -1 when it does not fit. */
int ban_record_format(const struct ban *b, char *buf, size_t len);

/* Kinds of channel notice. */
enum ban_notice_kind {
    BAN_NOTICE_ADD = 1,        /* <out> holds the record */
    BAN_NOTICE_DEL,            /* <out>->id holds the id */
};

/* Parses notice <s> (<len> bytes, untrusted). Returns PF_OK and sets
 * <*kind> and <out>, or PF_EINVAL with a reason in <err>. */
int ban_notice_parse(const char *s, size_t len, enum ban_notice_kind *kind, struct ban *out,
                     struct pf_err *err) PF_MUSTCHECK;

/* Parses the JSON body of POST /v1/bans (<s>, <len> bytes, untrusted) at
 * wall clock <now_ms> into <out>: upstream and/or session (one at least),
 * domain (required, or "*"), ttl_s (1..BAN_TTL_MAX_S, default
 * BAN_TTL_DEFAULT_S), reason (optional, sanitised, cut to fit).
 * <out>->upstream is "" for a session ban without one (the caller fills in
 * the session's current upstream); <out>->id is left "". Returns PF_OK or
 * PF_EINVAL with a reason in <err>. */
int ban_request_parse(const char *s, size_t len, int64_t now_ms, struct ban *out,
                      struct pf_err *err) PF_MUSTCHECK;

/* Parses the in-band query <q> (<len> bytes after '?', untrusted) of user
 * <user> at <now_ms>: session=<key> (required: the user's own session),
 * domain, ttl_s, reason and upstream as in ban_request_parse(), values
 * percent-decoded. <out>->session becomes "<user>-session-<key>". Unknown
 * parameters are refused. Returns PF_OK or PF_EINVAL with a reason in <err>. */
int ban_query_parse(const char *q, size_t len, const char *user, int64_t now_ms,
                    struct ban *out, struct pf_err *err) PF_MUSTCHECK;

#endif
