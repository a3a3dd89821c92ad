/* Time sources. Library modules take time as an argument; shells call these. */
#ifndef PF_CLOCK_H
#define PF_CLOCK_H

#include <stdint.h>

/* Milliseconds from CLOCK_MONOTONIC: for deadlines and intervals. */
int64_t clock_mono_ms(void);

/* Microseconds from CLOCK_MONOTONIC: for latency histograms. */
int64_t clock_mono_us(void);

/* Milliseconds since the Unix epoch: for values written to Redis. */
int64_t clock_wall_ms(void);

#endif
