/* JSON provider bodies: a configurable list of string or object entries,
 * a success predicate, an entry filter, labels, a next-page link and an
 * error-code table (conf_provider_json, conf_provider_errors). Shares its
 * types and entry handling with the lines parser through
 * provider_intake.h, never including it. Pure: no I/O, no logging, the
 * clock comes in opts->now_wall_ms. See docs/providers.md. */
#ifndef PF_PROVIDER_JSON_H
#define PF_PROVIDER_JSON_H

#include <stddef.h>
#include <stdint.h>

#include "conf.h"
#include "err.h"
#include "provider_intake.h"

/* Parses a `json` body of <len> bytes at <body> (untrusted) with the paths of
 * opts->json (NULL = defaults: list "data", host "ip", port "port").
 * Entries are strings (read by provider_entry_add(), host:port:user:pass
 * included) or objects; an object json.filter leaves out is counted as a
 * "filtered" reject, and json.labels fields are copied into
 * upstream.labels. Once the answer is a well-formed page res->is_page is
 * set and res->next holds the json.next link (a string, "" when null or
 * absent), even when no entry of the page is usable.
 * The answer is a provider error when it is not valid JSON ("invalid JSON
 * at byte N", transient), when the success predicate fails, or when the list
 * is missing or not an array (data became "" or {} on error): then the
 * reason is "provider error code <c>: <msg>" or "no list at '<path>' (<type>)"
 * and res->err_class comes from provider_classify_code() / _text().
 * <res> is initialised here; release with provider_parse_result_deinit().
 * Returns PF_OK with at least one upstream, PF_EINVAL or PF_ENOMEM. */
int provider_parse_json(const char *body, size_t len, const struct provider_parse_opts *opts,
                        struct provider_parse_result *res, struct pf_err *err) PF_MUSTCHECK;

/* Reads a body that should have been text as a JSON error object
 * ({"code":10001,"msg":"..."}), with the fields of opts->errors (NULL:
 * "code", "msg"). Returns PF_EINVAL with "provider error code <c>: <msg>"
 * (both quoted by provider_quote()) in <err> and the class in <*cls> when
 * <body> is a JSON object; PF_ENOENT (nothing set) when it is not. */
int provider_json_error(const char *body, size_t len, const struct provider_parse_opts *opts,
                        enum provider_err_class *cls, struct pf_err *err) PF_MUSTCHECK;

/* Expiry in wall-clock ms of timestamp text <s> ("YYYY-MM-DD HH:MM:SS", 'T'
 * accepted for the blank, a fraction ignored, a trailing 'Z' means UTC) in
 * provider time <tz_offset_min> east of UTC. Returns PF_OK or PF_EINVAL. */
int provider_json_timestamp_ms(const char *s, int tz_offset_min, int64_t *out) PF_MUSTCHECK;

#endif
