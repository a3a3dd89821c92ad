/* Pure decoders of the hashes and values the fleet status reads
 * (docs/redis-keys.md), one per key kind: the lease token, the controller
 * hash, a provider hash, a node's heartbeat hash (field names from the
 * node's metrics table, docs/metrics.md), a pool record and a health
 * value. Input is untrusted bytes from Redis: a missing or malformed field
 * leaves the figure FLEET_UNKNOWN (or "") and never fails the whole read;
 * text is sanitized on the way in. No I/O, no clock. */
#ifndef PF_FLEET_DECODE_H
#define PF_FLEET_DECODE_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "fleet-t.h"
#include "pf.h"

/* Copies untrusted <s>/<slen> into <dst> of <len> bytes, sanitized
 * (str_sanitize_text: controls to '?', invalid UTF-8 to U+FFFD), cut to
 * fit on a character boundary. NULL <s> gives "". */
void fleet_copy_text(char *dst, size_t len, const char *s, size_t slen);

/* Parses an integer figure of <len> bytes: a JSON number that is integral
 * ("42", "-1", "1.7e+12"), within int64. Returns FLEET_UNKNOWN otherwise. */
int64_t fleet_parse_int(const char *s, size_t len);

/* Parses a figure in seconds ("1795306801.25") into milliseconds, rounded.
 * Returns FLEET_UNKNOWN when it is not a finite number in range. */
int64_t fleet_parse_seconds_ms(const char *s, size_t len);

/* Sums a labelled counter's JSON object ({"1xx":0,"2xx":40,...}) into
 * <*total>, and the member <label> into <*one> (0 when absent). Returns
 * PF_OK, or PF_EINVAL (both FLEET_UNKNOWN) when it is not an object of
 * integral numbers. */
int fleet_parse_labelled(const char *s, size_t len, const char *label, int64_t *total,
                         int64_t *one) PF_MUSTCHECK;

/* Every figure unknown, strings empty. */
void fleet_leader_init(struct fleet_leader *l);
void fleet_provider_init(struct fleet_provider *p, const char *name, size_t name_len);
void fleet_node_init(struct fleet_node *n, const char *id, size_t id_len, int64_t seen_at_ms);

/* The lease value "<controller id>:<random>" (<len> bytes): sets is_held
 * and the id, the part before the last ':' (the random part, the fencing
 * token, is never kept). */
void fleet_leader_token(struct fleet_leader *l, const char *token, size_t len);

/* Folds the controller hash's <n> <pairs> into <l> (has_heartbeat set when
 * <n> > 0). */
void fleet_leader_from_pairs(struct fleet_leader *l, const struct snapshot_pair *pairs, size_t n);

/* Folds a provider hash's <n> <pairs> into <p> (has_hash when <n> > 0). */
void fleet_provider_from_pairs(struct fleet_provider *p, const struct snapshot_pair *pairs,
                               size_t n);

/* Folds a node's heartbeat hash's <n> <pairs> into <nd> (has_hash when
 * <n> > 0): identity fields and the figures the node's metrics table marks
 * for the report (requests_total, responses_total by class, conns_active,
 * pool_size, pool_usable, pool_version, ready, process_start_time_seconds). */
void fleet_node_from_pairs(struct fleet_node *nd, const struct snapshot_pair *pairs, size_t n);

/* Starts <u> for upstream <id>/<id_len> (a field of pool:upstreams or of
 * the health hash): copies the sanitized id (malloc'd, freed by
 * fleet_upstream_deinit). Returns PF_OK or PF_ENOMEM. */
int fleet_upstream_init(struct fleet_upstream *u, const char *id, size_t id_len) PF_MUSTCHECK;

/* Frees what <u> owns (accepts NULL). */
void fleet_upstream_deinit(struct fleet_upstream *u);

/* Decodes pool record <json>/<len> into <u> (in_pool set): provider, tier,
 * labels, expiry and latency through snapshot_record_decode_public(), so no
 * password is opened or kept. Returns PF_OK, or PF_EINVAL with the reason in
 * <err> (then is_bad is set: the record is counted, not summed). */
int fleet_record_decode(struct fleet_upstream *u, const char *json, size_t len,
                        struct pf_err *err) PF_MUSTCHECK;

/* Decodes a health value <json>/<len> ({"state","latency_ms",
 * "ejected_until_ms","reason",...}) into <u> as of <now_ms>: is_tracked,
 * health (ejected while ejected_until_ms is ahead, else the state),
 * ejected_until_ms, latency (when known) and reason. Returns PF_OK or
 * PF_EINVAL (then the upstream counts as tracked, health unknown). */
int fleet_health_decode(struct fleet_upstream *u, const char *json, size_t len,
                        int64_t now_ms) PF_MUSTCHECK;

/* Names: "unchecked", "unknown", "healthy", "unhealthy", "ejected"; "up",
 * "stale", "gone". */
const char *fleet_health_name(enum fleet_health h);
const char *fleet_node_state_name(enum fleet_node_state s);

/* Parses a health name into <*out>. Returns PF_OK or PF_EINVAL. */
/* Decodes the field/value pairs <pairs> (<n>) of {pf}:v1:bans as of wall
 * clock <now_ms> into <b> (emptied first): each value through
 * ban_record_parse() (a bad one counted in b->bad, an expired one in
 * b->expired), the rest newest first. Returns PF_OK or PF_ENOMEM. */
int fleet_bans_from_pairs(struct fleet_bans *b, const struct snapshot_pair *pairs, size_t n,
                          int64_t now_ms) PF_MUSTCHECK;

/* Frees what <b> owns (accepts NULL); <b> is empty afterwards. */
void fleet_bans_deinit(struct fleet_bans *b);

int fleet_health_parse(const char *name, enum fleet_health *out) PF_MUSTCHECK;

#endif
