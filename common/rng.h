/* Pseudo-random numbers for jitter, upstream selection and non-secret
 * tokens (epochs, lease tokens). Not for secrets. Explicit state, so tests
 * seed a fixed value and get a fixed sequence. */
#ifndef PF_RNG_H
#define PF_RNG_H

#include <stdint.h>

struct rng {
    uint64_t state;   /* splitmix64 state: any value is valid */
};

/* Seeds <r> with <seed>: the same seed gives the same sequence. */
void rng_seed(struct rng *r, uint64_t seed);

/* Seeds <r> from the OS (getrandom), falling back to time and pid, so two
 * processes started together still differ. */
void rng_seed_os(struct rng *r);

/* Returns the next 64 random bits (splitmix64). */
uint64_t rng_next(struct rng *r);

/* Returns 64 bits from the OS for one-off values (an epoch, a lease token),
 * with the same fallback as rng_seed_os(). Never 0. */
uint64_t rng_os_u64(void);

#endif
