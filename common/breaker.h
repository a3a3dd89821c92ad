/* Circuit breaker of one provider (Nygard, "Release It!"; the half-open
 * single probe of Hystrix): closed -> open after <failures> failed polls in
 * a row; open for an open time that doubles at every re-open (from
 * <open_ms> up to <open_max_ms>); then half-open, where exactly one probe
 * poll is allowed: its success closes the breaker (and resets the open
 * time), its failure re-opens it for longer. Pure: time is passed in
 * (monotonic ms), no clock, no logging. */
#ifndef PF_BREAKER_H
#define PF_BREAKER_H

#include <stdint.h>

enum breaker_state {
    BREAKER_CLOSED = 0,      /* polls allowed */
    BREAKER_OPEN,            /* no poll until <open_until_ms> */
    BREAKER_HALF_OPEN,       /* one probe poll allowed */
};

struct breaker_conf {
    unsigned failures;       /* failed polls in a row that open it, >= 1 */
    int64_t  open_ms;        /* first open time, > 0 */
    int64_t  open_max_ms;    /* open time cap, >= open_ms */
};

struct breaker {
    struct breaker_conf conf;
    enum breaker_state state;
    unsigned consecutive_failures; /* failed polls since the last success */
    unsigned reopens;              /* opens since the breaker last closed: grows the open time */
    uint64_t opens;                /* opens in total */
    int64_t  open_until_ms;        /* while open: monotonic end of the open time, else 0 */
    int      is_probing;           /* half-open: the probe was handed out */
};

/* Initialises <b> closed with <conf> (copied; zero fields get 5 failures,
 * 30000 ms, 600000 ms). */
void breaker_init(struct breaker *b, const struct breaker_conf *conf);

/* Asks whether a poll may start at <now_ms>. Closed: 1. Open: 0 before
 * open_until_ms; after it the breaker turns half-open and hands out the
 * probe (1). Half-open: 1 once for the probe, then 0 until its outcome is
 * reported. */
int breaker_allow(struct breaker *b, int64_t now_ms);

/* Reports a good poll: closes the breaker, clears the failure run and the
 * re-open count. */
void breaker_success(struct breaker *b);

/* Reports a failed poll at <now_ms>. Returns 1 when this opened (or
 * re-opened) the breaker, else 0. */
int breaker_failure(struct breaker *b, int64_t now_ms);

/* Open time the next open would use: min(open_max_ms, open_ms * 2^reopens). */
int64_t breaker_next_open_ms(const struct breaker *b);

/* Milliseconds from <now_ms> until a poll may be allowed (0 when allowed now
 * or half-open). */
int64_t breaker_wait_ms(const struct breaker *b, int64_t now_ms);

/* "closed", "open" or "half_open". */
const char *breaker_state_name(enum breaker_state s);

#endif
