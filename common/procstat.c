/* This process's figures; see procstat.h. */
#include "procstat.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

/* Reads the next unsigned decimal at <*p> (< <end>) after blanks into <*v>.
 * Returns 0, or -1 when there is none. */
static int next_u64(const char **p, const char *end, uint64_t *v)
{
    const char *s = *p;
    while (s < end && *s == ' ')
        s++;
    int neg = s < end && *s == '-';
    if (neg)
        s++;
    if (s >= end || *s < '0' || *s > '9')
        return -1;
    uint64_t x = 0;
    while (s < end && *s >= '0' && *s <= '9') {
        unsigned d = (unsigned)(*s - '0');
        if (x > (UINT64_MAX - d) / 10)
            return -1;
        x = x * 10 + d;
        s++;
    }
    if (s < end && *s != ' ' && *s != '\n')
        return -1;
    *v = neg ? (uint64_t)(-(int64_t)x) : x;
    *p = s;
    return 0;
}

/* Skips one blank-separated field at <*p>. Returns 0, or -1 at the end. */
static int skip_field(const char **p, const char *end)
{
    const char *s = *p;
    while (s < end && *s == ' ')
        s++;
    if (s >= end || *s == '\n')
        return -1;
    while (s < end && *s != ' ' && *s != '\n')
        s++;
    *p = s;
    return 0;
}

int procstat_parse_stat(const char *text, size_t len, struct procstat_stat *out)
{
    const char *end = text + len;
    const char *rp = NULL;
    for (const char *s = text; s < end; s++)
        if (*s == ')')
            rp = s;
    if (rp == NULL)
        return PF_EINVAL;
    const char *p = rp + 1;
    /* field 3 (state) is the first after the name; utime is field 14 */
    uint64_t v[25];
    memset(v, 0, sizeof(v));
    for (int f = 3; f <= 24; f++) {
        if (f == 3) {
            if (skip_field(&p, end) != 0)
                return PF_EINVAL;
            continue;
        }
        if (next_u64(&p, end, &v[f]) != 0)
            return PF_EINVAL;
    }
    out->utime_ticks = v[14];
    out->stime_ticks = v[15];
    out->start_ticks = v[22];
    out->vsize_bytes = v[23];
    out->rss_pages = (int64_t)v[24];
    return PF_OK;
}

int procstat_parse_btime(const char *text, size_t len, int64_t *btime)
{
    const char *end = text + len;
    for (const char *line = text; line < end;) {
        const char *nl = memchr(line, '\n', (size_t)(end - line));
        const char *eol = nl != NULL ? nl : end;
        if ((size_t)(eol - line) > 6 && memcmp(line, "btime ", 6) == 0) {
            const char *p = line + 5;
            uint64_t v;
            if (next_u64(&p, eol, &v) != 0 || p != eol || v > INT64_MAX)
                return PF_EINVAL;
            *btime = (int64_t)v;
            return PF_OK;
        }
        line = eol + 1;
    }
    return PF_EINVAL;
}

/* Reads up to <len> - 1 bytes of <path> into <buf>. Returns the count, or
 * -1. */
static ssize_t read_small(const char *path, char *buf, size_t len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    size_t got = 0;
    while (got < len - 1) {
        ssize_t n = read(fd, buf + got, len - 1 - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    close(fd);
    buf[got] = '\0';
    return (ssize_t)got;
}

/* Open descriptors: the entries of /proc/self/fd but the one reading it. */
static int64_t count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (d == NULL)
        return -1;
    int64_t n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL)
        n += de->d_name[0] != '.';
    closedir(d);
    return n > 0 ? n - 1 : 0;
}

void procstat_read(struct procstat *ps)
{
    ps->cpu_seconds = -1.0;
    ps->start_time_seconds = -1.0;
    ps->resident_bytes = -1;
    ps->virtual_bytes = -1;
    ps->open_fds = count_fds();
    ps->max_fds = -1;
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0)
        ps->max_fds = rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > (rlim_t)INT64_MAX
                      ? INT64_MAX : (int64_t)rl.rlim_cur;
    long ticks = sysconf(_SC_CLK_TCK);
    long page = sysconf(_SC_PAGESIZE);
    char buf[4096];
    struct procstat_stat st;
    ssize_t n = read_small("/proc/self/stat", buf, sizeof(buf));
    if (n <= 0 || ticks <= 0 || procstat_parse_stat(buf, (size_t)n, &st) != PF_OK)
        return;
    ps->cpu_seconds = (double)(st.utime_ticks + st.stime_ticks) / (double)ticks;
    ps->virtual_bytes = (int64_t)st.vsize_bytes;
    if (page > 0)
        ps->resident_bytes = st.rss_pages * page;
    /* /proc/stat is larger than a page on many-core hosts: btime sits
     * after the per-CPU lines, so read it whole */
    char *all = malloc(65536);
    int64_t btime;
    if (all != NULL && (n = read_small("/proc/stat", all, 65536)) > 0 &&
        procstat_parse_btime(all, (size_t)n, &btime) == PF_OK)
        ps->start_time_seconds = (double)btime + (double)st.start_ticks / (double)ticks;
    free(all);
}
