/* Response rules for plain HTTP (node.ban_rules, issue 12 item 2): which
 * final responses show that a site banned the upstream that carried them.
 * Pure: no loop, clock or logging (tests/unit/test_ban_rule.c).
 *
 * A rule matches a response when its status is one of the rule's (any,
 * when the rule names none) and the first node.body_peek_bytes of the
 * body, as the origin sent it (de-chunked, not decompressed), contain the
 * rule's text ignoring ASCII case (always, when it has none). The first
 * rule that matches wins; http_proxy bans the upstream for the request's
 * host with it (ban_rule_ban(), then ban_sync_add()) and retries an
 * idempotent request elsewhere. */
#ifndef PF_NODE_BAN_RULE_H
#define PF_NODE_BAN_RULE_H

#include <stddef.h>
#include <stdint.h>

#include "ban.h"
#include "conf-t.h"
#include "err.h"
#include "pf.h"

/* What the rules of <cn> want of a response with <status>: 0 = none can
 * match (relay it at once), BAN_RULE_STATUS (one matches on the status
 * alone), BAN_RULE_BODY (one may match once the body is read: hold it). */
#define BAN_RULE_STATUS 1u
#define BAN_RULE_BODY   2u
unsigned ban_rule_wants(const struct conf_node *cn, int status);

/* The index of the first rule of <cn> that matches <status> and body
 * prefix <body> (<len> bytes, not NUL-terminated; NULL when <len> is 0),
 * or -1. */
int ban_rule_match(const struct conf_node *cn, int status, const char *body, size_t len);

/* Fills <out> with the fleet ban rule <index> of <cn> makes: upstream
 * <sid>, domain <host> normalised (ban.h), created at wall clock <now_ms>,
 * the rule's ttl_s and reason ("rule <index>" when it has none); id "".
 * Returns PF_OK or PF_EINVAL (a host a ban cannot name; reason in <err>). */
int ban_rule_ban(const struct conf_node *cn, int index, const char *sid, const char *host,
                 int64_t now_ms, struct ban *out, struct pf_err *err) PF_MUSTCHECK;

#endif
