/* Unit tests of common/procstat.c: the /proc texts the process_* metrics
 * come from, and one read of this very process. */
#include <criterion/criterion.h>

#include <string.h>
#include <time.h>
#include <unistd.h>

#include "procstat.h"

Test(procstat, stat_fields_after_the_name)
{
    /* a command name with a space and parentheses, as the kernel writes it */
    const char *s = "4242 (a b) (c)) S 1 4242 4242 0 -1 4194560 151 0 0 0 "
                    "17 5 0 0 20 0 1 0 123456 10485760 300 18446744073709551615 1 1 0 0 0 0 0 "
                    "0 0 0 0 0 17 1 0 0 0 0 0\n";
    struct procstat_stat st;
    cr_assert_eq(procstat_parse_stat(s, strlen(s), &st), PF_OK);
    cr_expect_eq(st.utime_ticks, 17);
    cr_expect_eq(st.stime_ticks, 5);
    cr_expect_eq(st.start_ticks, 123456);
    cr_expect_eq(st.vsize_bytes, 10485760);
    cr_expect_eq(st.rss_pages, 300);
}

Test(procstat, stat_refuses_short_or_odd_text)
{
    struct procstat_stat st;
    const char *cases[] = {
        "",
        "4242 no-parenthesis S 1",
        "4242 (x) S 1 2 3",                                   /* too few fields */
        "4242 (x) S 1 4242 4242 0 -1 4194560 151 0 0 0 1x 5 0 0 20 0 1 0 1 2 3\n",
        "4242 (x) S 1 4242 4242 0 -1 4194560 151 0 0 0 99999999999999999999 5 0 0 20 0 1 0 1 2 3\n",
    };
    for (size_t i = 0; i < PF_ARRAY_LEN(cases); i++)
        cr_expect_eq(procstat_parse_stat(cases[i], strlen(cases[i]), &st), PF_EINVAL, "case %zu", i);
}

Test(procstat, btime_line)
{
    const char *s = "cpu  1 2 3\ncpu0 1 2 3\nintr 5\nbtime 1796644369\nprocesses 9\n";
    int64_t b = 0;
    cr_assert_eq(procstat_parse_btime(s, strlen(s), &b), PF_OK);
    cr_expect_eq(b, 1796644369);
    const char *none = "cpu 1 2 3\nbtimex 5\nbtime \n";
    cr_expect_eq(procstat_parse_btime(none, strlen(none), &b), PF_EINVAL);
}

Test(procstat, reads_this_process)
{
    struct procstat ps;
    procstat_read(&ps);
    cr_expect_geq(ps.cpu_seconds, 0.0);
    cr_expect_gt(ps.resident_bytes, 0);
    cr_expect_geq(ps.virtual_bytes, ps.resident_bytes);
    cr_expect_geq(ps.open_fds, 3);
    cr_expect_geq(ps.max_fds, ps.open_fds);
    double now = (double)time(NULL);
    cr_expect(ps.start_time_seconds > now - 3600 && ps.start_time_seconds <= now + 1,
              "start %f now %f", ps.start_time_seconds, now);
    /* a new descriptor shows */
    int fd = dup(0);
    struct procstat ps2;
    procstat_read(&ps2);
    cr_expect_eq(ps2.open_fds, ps.open_fds + (fd >= 0));
    if (fd >= 0)
        close(fd);
}
