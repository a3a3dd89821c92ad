/* One request's way to its destination, shared by HTTP (plain and CONNECT)
 * and SOCKS5: policy -> pick -> dial -> retry on another upstream ->
 * passive-health outcome.
 *
 *   attempt_begin()   destination policy (CONNECT ports for a tunnel, the
 *                     destination as far as it is known before resolution),
 *                     then the first try;
 *   a try             the kept-alive upstream connection when it may be
 *                     reused, else pick (pool mode: sticky session or the
 *                     strategy, skipping upstreams this request already
 *                     failed on) and dial (conn's embedded struct dial);
 *   ready             c->ops->on_upstream_ready(c): the protocol sends the
 *                     request or its tunnel reply;
 *   failure           a dial failure here, a failure after ready through
 *                     attempt_fail(): counted against the upstream when the
 *                     failure kind says it is its fault (conn_err.h),
 *                     retried on another upstream within node.retries when
 *                     the request can be replayed, else answered with
 *                     conn_reply_error().
 *
 * The attempt carries the chosen upstream's copy, pool index and id, so
 * counts (least_conn) and passive health never recompute the id.
 *
 * It lives in its protocol's per-conn state (c->proto) and is reset by the
 * protocol at the end of each exchange. The decisions that need no loop
 * (attempt_dial_verdict() ... attempt_tried_add()) are pure and unit-tested
 * in tests/unit/test_attempt.c. */
#ifndef PF_NODE_ATTEMPT_H
#define PF_NODE_ATTEMPT_H

#include <stddef.h>
#include <stdint.h>

#include "auth.h"
#include "ban.h"
#include "conn.h"
#include "conn_err.h"
#include "dial.h"
#include "http_head.h"
#include "select.h"
#include "upstream-t.h"
#include "upstream_sid.h"

#define ATTEMPT_TRIED_MAX 16
#define ATTEMPT_DEST_MAX  300           /* "host:port", IPv6 bracketed */

/* Pool indexes this request already failed on; they mean other upstreams
 * once the pool is swapped, so they carry the pool generation. */
struct attempt_tried {
    long     idx[ATTEMPT_TRIED_MAX];
    size_t   n;
    uint64_t generation;                /* pool_cache generation idx[] refers to */
};

struct attempt {
    struct conn        *c;              /* borrowed: the owner */
    /* where to */
    struct http_target  tgt;            /* destination; path only for a plain HTTP request */
    char                dest[ATTEMPT_DEST_MAX]; /* "host:port" for logs and the reuse key; never userinfo */
    const char         *verb;           /* for log lines ("GET", "CONNECT", "SOCKS5 CONNECT");
                                         * borrowed: valid while the attempt runs */
    int                 is_tunnel;      /* ask the upstream for a tunnel (CONNECT, SOCKS5) */
    int                 is_reusable;    /* may go on the kept-alive upstream connection
                                         * (an idempotent plain request) */
    int                 has_session;    /* sticky: rendezvous on session_hash */
    uint64_t            session_hash;
    struct select_filter filter;        /* labels of the user name; mask 0 = whole pool */
    char                filter_text[160]; /* "country=us city=boston", for the 503 and logs */
    char                note[PF_ERR_MSG_LEN]; /* said in the body of the node's own error
                                         * answer ("no upstream matches country=us"); "" = none */
    char                session_name[BAN_SESSION_MAX]; /* "<user>-session-<key>" of a user
                                         * name's session, which session bans name; "" = none */
    char                user[AUTH_USER_MAX]; /* the client's base user name ("" = none) */
    /* the chosen upstream (pool mode) */
    struct upstream     up;             /* copy: the pool may be swapped meanwhile */
    int                 has_up;
    long                up_idx;         /* its pool index, in tried.generation */
    char                up_id[UPSTREAM_ID_MAX]; /* its id, for counts and passive health */
    char                up_sid[UPSTREAM_SID_LEN]; /* its short id (upstream_sid.h): what
                                         * clients and the access log see */
    int                 is_up_counted;  /* counted in pool_cache active conns of up_id */
    int                 is_outcome_open;/* a plain request dialed up: its passive-health outcome
                                         * waits for the response head (attempt_settle()) */
    /* retries */
    struct attempt_tried tried;
    int                 nattempts;      /* tries of this request */
    enum conn_err       last_reason;    /* last failed try, for the final answer */
    int                 retry_after_s;  /* Retry-After of a 503 (all ejected); 0 = the default 1 s */
    int64_t             dial_start_us;  /* current try's dial start */
    /* what c->ubev is connected to, for keep-alive reuse */
    char                ukey[UPSTREAM_ID_MAX + ATTEMPT_DEST_MAX]; /* "<id or direct>|<dest>" */
    int64_t             ubev_pool_version; /* pool version when c->ubev was dialed */
    int                 is_reused;      /* this try went on a kept-alive connection */
};

/* Sets <a> up in <c> (zeroed memory) and the conn's dial, which reports
 * to it. Returns PF_OK or PF_ENOMEM. */
int attempt_init(struct attempt *a, struct conn *c) PF_MUSTCHECK;

/* attempt_reset(), then tears the conn's dial down (it may be set up
 * again for another protocol; conn_free() tears it down too, which is
 * then a no-op). Accepts an attempt never set up (zeroed). */
void attempt_deinit(struct attempt *a);

/* End of an exchange: an outcome still open is settled as a success,
 * the upstream's active count released, the target and session dropped,
 * the tries forgotten. The kept-alive connection (c->ubev, ukey) stays. */
void attempt_reset(struct attempt *a);

/* The sticky session, label filter and base user name named by client
 * user <u> (auth.h), if any; wipes <u>. */
void attempt_set_session_user(struct attempt *a, struct auth_user *u);

/* The sticky session keyed by <key> (node.sticky_header), unless one is
 * set already. */
void attempt_set_session_key(struct attempt *a, const char *key);

/* The short id of the upstream that session <session_name>
 * ("<user>-session-<key>", without a lifetime) gets for host <host> now:
 * the first in its rendezvous order not banned for that host, as pick()
 * chooses. Writes it into <sid>. Returns PF_OK, PF_ENOENT when no upstream
 * is usable, PF_EINVAL for a malformed name. */
int attempt_session_upstream(struct node_ctx *ctx, const char *session_name, const char *host,
                             char sid[UPSTREAM_SID_LEN]) PF_MUSTCHECK;

/* Formats a->dest from a->tgt (fill a->tgt first). */
void attempt_set_dest(struct attempt *a);

/* Admits a->tgt (CONNECT ports when a->is_tunnel, then the destination
 * policy on what is known before resolution; a denial is answered 403 /
 * SOCKS5 "not allowed") and starts the first try. */
void attempt_begin(struct attempt *a);

/* A failure of kind <reason> after ready, before the client got anything
 * of an answer: settles the open outcome (a failure when the kind is the
 * upstream's fault), counts it, drops the upstream side, and retries on
 * another upstream when <is_retryable> and the budget allows, else answers
 * <reason>. The protocol says whether the request can be replayed. */
void attempt_fail(struct attempt *a, enum conn_err reason, int is_retryable);

/* The open outcome (see is_outcome_open), now known; nothing when none. */
void attempt_settle(struct attempt *a, int is_failure);

/* Records a try through a->up and its outcome (passive health, local
 * ejection), whether or not an outcome was open. Pool mode only. */
void attempt_record(struct attempt *a, int is_failure);

/* DIALING: the connect deadline passed. */
void attempt_on_timeout(struct attempt *a);

/* --- pure decisions (tests/unit/test_attempt.c) --- */

/* What a dial error means for the request. */
struct attempt_verdict {
    enum conn_err reason;               /* the failure kind answered or retried */
    int           is_retryable;         /* another upstream may be tried */
    int           is_upstream_fault;    /* count it against the upstream */
};

/* The verdict on dial error <err> with the upstream's <reply_status> (HTTP
 * status or SOCKS5 REP, 0 when none). The fault is the kind's (conn_err.h),
 * except that an upstream refusing the tunnel relays the destination's
 * answer: not its fault. */
struct attempt_verdict attempt_dial_verdict(enum dial_err err, int reply_status);

/* 1 when a failed try may be followed by another: <is_retryable>, and
 * either it went on a kept-alive connection (<is_reused>: a fresh one is
 * owed) or an upstream was used (<has_up>) and <nattempts> tries so far
 * are within 1 + <retries>. */
int attempt_may_retry(int is_retryable, int is_reused, int has_up, int nattempts, int retries);

/* 1 when kept-alive connection <ukey> may carry a request to <dest>: it
 * leads there, and in pool mode (<is_pool>) it was dialed under the pool
 * version now served (<ubev_version> == <pool_version>). */
int attempt_may_reuse(const char *ukey, const char *dest, int is_pool, int64_t ubev_version,
                      int64_t pool_version);

/* The failure kind when no upstream can be picked: the last try's when
 * there was one (<nattempts> > 0), else all ejected or none at all. */
enum conn_err attempt_pick_failure(int nattempts, enum conn_err last_reason, int is_all_ejected);

/* Retry-After seconds for <retry_after_ms> until an ejection ends:
 * rounded up, at most a day. */
int attempt_retry_after_s(int64_t retry_after_ms);

/* Forgets <t>'s indexes when the pool was swapped since (<generation>
 * differs); then <t> refers to <generation>. */
void attempt_tried_sync(struct attempt_tried *t, uint64_t generation);

/* Adds pool index <idx> to <t>, unless <t> is full (the oldest stay). */
void attempt_tried_add(struct attempt_tried *t, long idx);

#endif
