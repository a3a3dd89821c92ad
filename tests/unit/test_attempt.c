/* Unit tests for node/attempt.c: its pure decisions (dial errors read as
 * failure kinds, the retry budget, keep-alive reuse, the answer when no
 * upstream is left, Retry-After, the tried list across pool swaps). */
#include <criterion/criterion.h>
#include <string.h>

#include "attempt.h"

/* Every dial error, read for the client and for the upstream's health. */
Test(attempt, dial_verdict)
{
    static const struct {
        enum dial_err err;
        int           status;
        enum conn_err reason;
        int           is_retryable;
        int           is_fault;
    } v[] = {
        { DIAL_ERR_DNS,             0,   CONN_ERR_DNS,                1, 1 },
        { DIAL_ERR_POLICY,          0,   CONN_ERR_POLICY,             0, 0 },
        { DIAL_ERR_REFUSED,         0,   CONN_ERR_UPSTREAM_REFUSED,   1, 1 },
        { DIAL_ERR_RESET,           0,   CONN_ERR_UPSTREAM_RESET,     1, 1 },
        { DIAL_ERR_TIMEOUT,         0,   CONN_ERR_UPSTREAM_TIMEOUT,   1, 1 },
        { DIAL_ERR_BAD_REPLY,       0,   CONN_ERR_UPSTREAM_BAD_REPLY, 1, 1 },
        { DIAL_ERR_UPSTREAM_AUTH,   407, CONN_ERR_UPSTREAM_AUTH,      1, 1 },
        { DIAL_ERR_TLS,             0,   CONN_ERR_UPSTREAM_TLS,       1, 1 },
        /* the upstream refused the tunnel: the destination's answer, relayed */
        { DIAL_ERR_UPSTREAM_STATUS, 403, CONN_ERR_UPSTREAM_BAD_REPLY, 1, 0 },
        { DIAL_ERR_UPSTREAM_STATUS, 502, CONN_ERR_UPSTREAM_BAD_REPLY, 1, 0 },
        { DIAL_ERR_UPSTREAM_STATUS, 504, CONN_ERR_UPSTREAM_TIMEOUT,   1, 0 },
        { DIAL_ERR_UPSTREAM_STATUS, 5,   CONN_ERR_UPSTREAM_BAD_REPLY, 1, 0 },   /* SOCKS5 REP */
        { DIAL_ERR_UNSUPPORTED,     0,   CONN_ERR_UPSTREAM_BAD_REPLY, 1, 1 },
        { DIAL_ERR_INTERNAL,        0,   CONN_ERR_INTERNAL,           0, 0 },
        { (enum dial_err)99,        0,   CONN_ERR_INTERNAL,           0, 0 },
    };
    for (size_t i = 0; i < PF_ARRAY_LEN(v); i++) {
        struct attempt_verdict r = attempt_dial_verdict(v[i].err, v[i].status);
        cr_expect_eq(r.reason, v[i].reason, "case %zu: %s", i, conn_err_name(r.reason));
        cr_expect_eq(r.is_retryable, v[i].is_retryable, "case %zu", i);
        cr_expect_eq(r.is_upstream_fault, v[i].is_fault, "case %zu", i);
    }
}

/* A failure the kind table calls the upstream's fault is one in the
 * verdict too, unless the upstream only relayed a refusal. */
Test(attempt, dial_verdict_follows_the_table)
{
    for (int e = DIAL_OK + 1; e <= DIAL_ERR_INTERNAL; e++) {
        struct attempt_verdict r = attempt_dial_verdict((enum dial_err)e, 0);
        int want = conn_err_kind(r.reason)->is_upstream_fault && e != DIAL_ERR_UPSTREAM_STATUS;
        cr_expect_eq(r.is_upstream_fault, want, "%s", dial_err_name((enum dial_err)e));
    }
}

Test(attempt, retry_budget)
{
    /* node.retries 2: three tries in all */
    cr_expect(attempt_may_retry(1, 0, 1, 1, 2));
    cr_expect(attempt_may_retry(1, 0, 1, 2, 2));
    cr_expect_not(attempt_may_retry(1, 0, 1, 3, 2));
    /* not retryable: never */
    cr_expect_not(attempt_may_retry(0, 0, 1, 1, 2));
    cr_expect_not(attempt_may_retry(0, 1, 1, 1, 2));
    /* direct mode has no other upstream */
    cr_expect_not(attempt_may_retry(1, 0, 0, 1, 2));
    /* a kept-alive connection that failed is owed a fresh one, budget or not */
    cr_expect(attempt_may_retry(1, 1, 0, 1, 0));
    cr_expect(attempt_may_retry(1, 1, 1, 9, 0));
    /* retries 0 */
    cr_expect_not(attempt_may_retry(1, 0, 1, 1, 0));
}

Test(attempt, reuse)
{
    cr_expect(attempt_may_reuse("http://10.0.0.1:3128|example.com:80", "example.com:80", 1, 7, 7));
    cr_expect(attempt_may_reuse("direct|example.com:80", "example.com:80", 0, 1, 9));
    /* another destination */
    cr_expect_not(attempt_may_reuse("direct|example.com:80", "example.com:8080", 0, 1, 1));
    cr_expect_not(attempt_may_reuse("direct|example.com:80", "example.org:80", 0, 1, 1));
    /* pool changed since it was dialed */
    cr_expect_not(attempt_may_reuse("http://10.0.0.1:3128|example.com:80", "example.com:80", 1, 7, 8));
    /* nothing recorded */
    cr_expect_not(attempt_may_reuse("", "example.com:80", 0, 0, 0));
    /* an IPv6 destination after an id with a user hash: the last bar splits */
    cr_expect(attempt_may_reuse("http://h:1#0badf00d|[2001:db8::1]:443", "[2001:db8::1]:443", 1, 3, 3));
}

Test(attempt, pick_failure)
{
    cr_expect_eq(attempt_pick_failure(0, CONN_ERR_NONE, 0), CONN_ERR_NO_UPSTREAM);
    cr_expect_eq(attempt_pick_failure(0, CONN_ERR_NONE, 1), CONN_ERR_ALL_EJECTED);
    /* after tries, the last one's failure is the answer */
    cr_expect_eq(attempt_pick_failure(2, CONN_ERR_UPSTREAM_REFUSED, 0), CONN_ERR_UPSTREAM_REFUSED);
    cr_expect_eq(attempt_pick_failure(1, CONN_ERR_UPSTREAM_TIMEOUT, 1), CONN_ERR_UPSTREAM_TIMEOUT);
}

Test(attempt, retry_after)
{
    cr_expect_eq(attempt_retry_after_s(0), 0);
    cr_expect_eq(attempt_retry_after_s(1), 1);
    cr_expect_eq(attempt_retry_after_s(1000), 1);
    cr_expect_eq(attempt_retry_after_s(1001), 2);
    cr_expect_eq(attempt_retry_after_s(86400LL * 1000), 86400);
    cr_expect_eq(attempt_retry_after_s(86400LL * 1000 * 30), 86400);
}

Test(attempt, tried_across_pool_swaps)
{
    struct attempt_tried t;
    memset(&t, 0, sizeof(t));
    attempt_tried_sync(&t, 5);
    attempt_tried_add(&t, 3);
    attempt_tried_add(&t, 1);
    attempt_tried_sync(&t, 5);          /* same pool: kept */
    cr_assert_eq(t.n, 2);
    cr_expect_eq(t.idx[0], 3);
    cr_expect_eq(t.idx[1], 1);
    attempt_tried_sync(&t, 6);          /* swapped: the indexes mean other upstreams */
    cr_expect_eq(t.n, 0);
    cr_expect_eq(t.generation, 6);
    for (long i = 0; i < ATTEMPT_TRIED_MAX + 4; i++)
        attempt_tried_add(&t, i);
    cr_expect_eq(t.n, ATTEMPT_TRIED_MAX);   /* full: the oldest stay */
    cr_expect_eq(t.idx[ATTEMPT_TRIED_MAX - 1], ATTEMPT_TRIED_MAX - 1);
}

/* The session a gateway's user_template gets: a keyed hash of the session
 * key, stable for a key, different per session, user and fleet key, and
 * not the short id's hash of the same bytes (domain-separated). */
Test(attempt, gateway_session_hash)
{
    struct upstream_sid_key k1, k2;
    static const uint8_t secret[32] = { 1, 2, 3 };
    upstream_sid_key_derive(NULL, 0, &k1);
    upstream_sid_key_derive(secret, sizeof(secret), &k2);
    const char a42[] = "alice\n42", a43[] = "alice\n43", b42[] = "bob\n42";
    uint64_t h = attempt_gateway_session_hash(&k2, a42, strlen(a42));
    cr_expect_eq(h, attempt_gateway_session_hash(&k2, a42, strlen(a42)), "stable");
    cr_expect_neq(h, attempt_gateway_session_hash(&k2, a43, strlen(a43)), "per session");
    cr_expect_neq(h, attempt_gateway_session_hash(&k2, b42, strlen(b42)), "per user");
    cr_expect_neq(h, attempt_gateway_session_hash(&k1, a42, strlen(a42)), "per fleet key");
    cr_expect_neq(h, upstream_sid_siphash(&k2, a42, strlen(a42)), "not the short id's hash");
}
