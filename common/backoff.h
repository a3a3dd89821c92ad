/* Exponential backoff with full jitter (AWS Architecture Blog, 2015):
 * delay = random_between(0, min(cap, base * 2^attempt)). Pure: the caller
 * supplies the random value, so tests are deterministic. */
#ifndef PF_BACKOFF_H
#define PF_BACKOFF_H

#include <stdint.h>

struct backoff {
    int64_t base_ms;     /* first ceiling, > 0 */
    int64_t cap_ms;      /* ceiling never exceeds this, >= base_ms */
};

/* Ceiling for <attempt> (0-based): min(cap, base * 2^attempt), overflow-safe. */
int64_t backoff_ceiling_ms(const struct backoff *b, unsigned attempt);

/* Full-jitter delay for <attempt>: <rnd> % (ceiling + 1). */
int64_t backoff_delay_ms(const struct backoff *b, unsigned attempt, uint64_t rnd);

#endif
