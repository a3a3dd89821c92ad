/* Latency histogram with fixed log-scale buckets (1-2-5 per decade, from
 * 100 us to 60 s, plus +Inf). Pure: callers pass durations in microseconds.
 * Quantiles are estimated from the buckets, as Prometheus'
 * histogram_quantile() does, so /metrics and /stats agree. */
#ifndef PF_HIST_H
#define PF_HIST_H

#include <stdint.h>

#define HIST_NBUCKETS 20   /* finite upper bounds; counts[HIST_NBUCKETS] is +Inf */

struct hist {
    uint64_t counts[HIST_NBUCKETS + 1];   /* per bucket, not cumulative */
    uint64_t count;                       /* observations */
    uint64_t sum_us;                      /* total of observations */
};

/* Zeroes <h>. */
void hist_init(struct hist *h);

/* Records one observation of <us> microseconds (negative counts as 0). */
void hist_add(struct hist *h, int64_t us);

/* Upper bound of finite bucket <i> (0..HIST_NBUCKETS-1) in microseconds. */
int64_t hist_bucket_le_us(int i);

/* Estimates quantile <q> (0..1) in microseconds by linear interpolation
 * inside the bucket holding it; 0 when empty. Observations above the last
 * finite bound are reported as that bound. */
double hist_quantile_us(const struct hist *h, double q);

#endif
