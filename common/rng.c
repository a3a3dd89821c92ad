#include "rng.h"

#include <sys/random.h>
#include <time.h>
#include <unistd.h>

void rng_seed(struct rng *r, uint64_t seed)
{
    r->state = seed;
}

uint64_t rng_os_u64(void)
{
    uint64_t v = 0;
    if (getrandom(&v, sizeof(v), GRND_NONBLOCK) != (ssize_t)sizeof(v) || v == 0) {
        /* No entropy yet (early boot, seccomp): still distinct per process. */
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        v = ((uint64_t)ts.tv_sec * 1000000007ULL) ^ (uint64_t)ts.tv_nsec ^
            ((uint64_t)getpid() << 32);
    }
    return v != 0 ? v : 0x9e3779b97f4a7c15ULL;
}

void rng_seed_os(struct rng *r)
{
    r->state = rng_os_u64();
}

uint64_t rng_next(struct rng *r)
{
    /* splitmix64 (Steele, Lea, Flood 2014): one add and a finaliser, good
     * enough for jitter and selection, and every 64-bit state is valid. */
    uint64_t z = (r->state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}
