#include "backoff.h"

int64_t backoff_ceiling_ms(const struct backoff *b, unsigned attempt)
{
    int64_t base = b->base_ms > 0 ? b->base_ms : 1;
    int64_t cap = b->cap_ms >= base ? b->cap_ms : base;
    int64_t ceiling = base;
    /* Double until the cap; checking before each doubling avoids overflow,
     * and the loop ends after at most 63 steps whatever <attempt> is. */
    for (unsigned i = 0; i < attempt; i++) {
        if (ceiling >= cap || ceiling > cap / 2) {
            ceiling = cap;
            break;
        }
        ceiling *= 2;
    }
    return ceiling < cap ? ceiling : cap;
}

int64_t backoff_delay_ms(const struct backoff *b, unsigned attempt, uint64_t rnd)
{
    int64_t ceiling = backoff_ceiling_ms(b, attempt);
    return (int64_t)(rnd % ((uint64_t)ceiling + 1));
}
