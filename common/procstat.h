/* This process's own figures, the standard Prometheus process_* metrics
 * that both binaries export: CPU time, resident and virtual memory, open
 * and maximum descriptors, start time. Read from /proc/self (Linux) and
 * getrlimit() at each render; the parsers of the /proc texts are pure and
 * unit-tested. Also the table rows that expose them (PROCSTAT_ROWS). */
#ifndef PF_PROCSTAT_H
#define PF_PROCSTAT_H

#include <stddef.h>
#include <stdint.h>

#include "metrics.h"
#include "pf.h"

struct procstat {
    double  cpu_seconds;         /* user + system */
    double  start_time_seconds;  /* since the Unix epoch */
    int64_t resident_bytes;
    int64_t virtual_bytes;
    int64_t open_fds;
    int64_t max_fds;             /* soft RLIMIT_NOFILE */
};

/* The fields of /proc/<pid>/stat the figures come from. */
struct procstat_stat {
    uint64_t utime_ticks;        /* field 14 */
    uint64_t stime_ticks;        /* field 15 */
    uint64_t start_ticks;        /* field 22: start after boot */
    uint64_t vsize_bytes;        /* field 23 */
    int64_t  rss_pages;          /* field 24 */
};

/* Parses <len> bytes of /proc/<pid>/stat <text> into <out>. The command
 * name may hold spaces and parentheses: fields are counted after its last
 * ')'. Returns PF_OK or PF_EINVAL. */
int procstat_parse_stat(const char *text, size_t len, struct procstat_stat *out) PF_MUSTCHECK;

/* The boot time ("btime <seconds>" line) from <len> bytes of /proc/stat.
 * Returns PF_OK or PF_EINVAL. */
int procstat_parse_btime(const char *text, size_t len, int64_t *btime) PF_MUSTCHECK;

/* Fills <ps> from /proc/self/stat, /proc/stat, /proc/self/fd and
 * getrlimit(). A figure that cannot be read is -1. */
void procstat_read(struct procstat *ps);

/* The process_* rows of a metrics table (metrics.h). They read the struct
 * procstat that starts the table's source struct: a binary's source puts
 * one first and fills it with procstat_read() before each render. */
#define PROCSTAT_ROWS                                                                         \
    { "process_cpu_seconds_total", METRICS_COUNTER, METRICS_UNIT_SECONDS,                     \
      "Total user and system CPU time spent in seconds.", { NULL, NULL },                     \
      metrics_field_f64, offsetof(struct procstat, cpu_seconds), 0 },                         \
    { "process_start_time_seconds", METRICS_GAUGE, METRICS_UNIT_SECONDS,                      \
      "Start time of the process since unix epoch in seconds.", { NULL, NULL },               \
      metrics_field_f64, offsetof(struct procstat, start_time_seconds), METRICS_IN_REPORT },  \
    { "process_resident_memory_bytes", METRICS_GAUGE, METRICS_UNIT_BYTES,                     \
      "Resident memory size in bytes.", { NULL, NULL },                                       \
      metrics_field_i64, offsetof(struct procstat, resident_bytes), 0 },                      \
    { "process_virtual_memory_bytes", METRICS_GAUGE, METRICS_UNIT_BYTES,                      \
      "Virtual memory size in bytes.", { NULL, NULL },                                        \
      metrics_field_i64, offsetof(struct procstat, virtual_bytes), 0 },                       \
    { "process_open_fds", METRICS_GAUGE, METRICS_UNIT_NONE,                                   \
      "Number of open file descriptors.", { NULL, NULL },                                     \
      metrics_field_i64, offsetof(struct procstat, open_fds), 0 },                            \
    { "process_max_fds", METRICS_GAUGE, METRICS_UNIT_NONE,                                    \
      "Maximum number of open file descriptors.", { NULL, NULL },                             \
      metrics_field_i64, offsetof(struct procstat, max_fds), 0 }

#endif
