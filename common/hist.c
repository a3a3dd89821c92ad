/* Fixed-bucket latency histogram; see hist.h. */
#include "hist.h"

#include <string.h>

static const int64_t hist_bounds_us[HIST_NBUCKETS] = {
    100, 200, 500,
    1000, 2000, 5000,
    10000, 20000, 50000,
    100000, 200000, 500000,
    1000000, 2000000, 5000000,
    10000000, 20000000, 30000000, 45000000, 60000000,
};

void hist_init(struct hist *h)
{
    memset(h, 0, sizeof(*h));
}

int64_t hist_bucket_le_us(int i)
{
    if (i < 0)
        return 0;
    if (i >= HIST_NBUCKETS)
        return hist_bounds_us[HIST_NBUCKETS - 1];
    return hist_bounds_us[i];
}

void hist_add(struct hist *h, int64_t us)
{
    if (us < 0)
        us = 0;
    int i = 0;
    while (i < HIST_NBUCKETS && us > hist_bounds_us[i])
        i++;
    h->counts[i]++;
    h->count++;
    h->sum_us += (uint64_t)us;
}

double hist_quantile_us(const struct hist *h, double q)
{
    if (h->count == 0)
        return 0.0;
    if (q < 0.0)
        q = 0.0;
    if (q > 1.0)
        q = 1.0;
    double rank = q * (double)h->count;
    uint64_t below = 0;
    for (int i = 0; i <= HIST_NBUCKETS; i++) {
        uint64_t n = h->counts[i];
        if (n > 0 && (double)(below + n) >= rank) {
            if (i == HIST_NBUCKETS)
                return (double)hist_bounds_us[HIST_NBUCKETS - 1];
            double lo = i == 0 ? 0.0 : (double)hist_bounds_us[i - 1];
            double hi = (double)hist_bounds_us[i];
            double frac = (rank - (double)below) / (double)n;
            if (frac < 0.0)
                frac = 0.0;
            return lo + (hi - lo) * frac;
        }
        below += n;
    }
    return (double)hist_bounds_us[HIST_NBUCKETS - 1];
}
