#include "breaker.h"

#include <string.h>

#include "backoff.h"

const char *breaker_state_name(enum breaker_state s)
{
    switch (s) {
    case BREAKER_CLOSED:    return "closed";
    case BREAKER_OPEN:      return "open";
    case BREAKER_HALF_OPEN: return "half_open";
    }
    return "unknown";
}

void breaker_init(struct breaker *b, const struct breaker_conf *conf)
{
    memset(b, 0, sizeof(*b));
    b->conf = *conf;
    if (b->conf.failures == 0)
        b->conf.failures = 5;
    if (b->conf.open_ms <= 0)
        b->conf.open_ms = 30000;
    if (b->conf.open_max_ms < b->conf.open_ms)
        b->conf.open_max_ms = b->conf.open_ms > 600000 ? b->conf.open_ms : 600000;
    b->state = BREAKER_CLOSED;
}

int64_t breaker_next_open_ms(const struct breaker *b)
{
    /* The same doubling with a cap as retry backoff, without the jitter. */
    struct backoff bo = { b->conf.open_ms, b->conf.open_max_ms };
    return backoff_ceiling_ms(&bo, b->reopens);
}

int breaker_allow(struct breaker *b, int64_t now_ms)
{
    switch (b->state) {
    case BREAKER_CLOSED:
        return 1;
    case BREAKER_OPEN:
        if (now_ms < b->open_until_ms)
            return 0;
        b->state = BREAKER_HALF_OPEN;
        b->open_until_ms = 0;
        b->is_probing = 1;
        return 1;
    case BREAKER_HALF_OPEN:
        if (b->is_probing)
            return 0;
        b->is_probing = 1;
        return 1;
    }
    return 0;
}

void breaker_success(struct breaker *b)
{
    b->state = BREAKER_CLOSED;
    b->consecutive_failures = 0;
    b->reopens = 0;
    b->open_until_ms = 0;
    b->is_probing = 0;
}

int breaker_failure(struct breaker *b, int64_t now_ms)
{
    if (b->consecutive_failures < UINT32_MAX)
        b->consecutive_failures++;
    if (b->state == BREAKER_OPEN)
        return 0;   /* a poll that started before the open: already counted */
    if (b->state == BREAKER_CLOSED && b->consecutive_failures < b->conf.failures)
        return 0;
    b->open_until_ms = now_ms + breaker_next_open_ms(b);
    b->state = BREAKER_OPEN;
    b->is_probing = 0;
    if (b->reopens < 64)
        b->reopens++;
    b->opens++;
    return 1;
}

int64_t breaker_wait_ms(const struct breaker *b, int64_t now_ms)
{
    if (b->state != BREAKER_OPEN || now_ms >= b->open_until_ms)
        return 0;
    return b->open_until_ms - now_ms;
}
