/* The descriptor budget; see fd_budget.h. */
#include "fd_budget.h"

#include <errno.h>
#include <string.h>
#include <sys/resource.h>

uint64_t fd_budget_need(int max_clients, int rejecting_max)
{
    return 2 * (uint64_t)PF_MAX_OF(max_clients, 0) + FD_BUDGET_PIPES +
           (uint64_t)PF_MAX_OF(rejecting_max, 0) + FD_BUDGET_RESERVE;
}

void fd_budget_fit(uint64_t limit, int max_clients, struct fd_budget *b)
{
    uint64_t want = (uint64_t)PF_MAX_OF(max_clients, 0);
    b->limit = limit;
    b->rejecting_max = FD_BUDGET_REJECTING_MAX;
    if (limit < fd_budget_need(max_clients, FD_BUDGET_REJECTING_MAX))
        b->rejecting_max = (int)PF_MIN_OF(PF_MAX_OF(limit / 16, (uint64_t)FD_BUDGET_REJECTING_MIN),
                                          (uint64_t)FD_BUDGET_REJECTING_MAX);
    b->need = fd_budget_need(max_clients, b->rejecting_max);
    uint64_t fixed = FD_BUDGET_PIPES + FD_BUDGET_RESERVE + (uint64_t)b->rejecting_max;
    uint64_t clients = limit > fixed ? (limit - fixed) / 2 : 0;
    b->is_short = clients < want;
    b->max_clients = (int)PF_MIN_OF(clients, want);
}

int fd_budget_plan(int max_clients, struct fd_budget *b)
{
    struct rlimit rl;
    memset(b, 0, sizeof(*b));
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return PF_EIO;
    b->hard = rl.rlim_max == RLIM_INFINITY ? UINT64_MAX : (uint64_t)rl.rlim_max;
    uint64_t soft = rl.rlim_cur == RLIM_INFINITY ? UINT64_MAX : (uint64_t)rl.rlim_cur;
    uint64_t need = fd_budget_need(max_clients, FD_BUDGET_REJECTING_MAX);
    if (soft < need && soft < b->hard) {
        struct rlimit want = { (rlim_t)PF_MIN_OF(need, b->hard), rl.rlim_max };
        if (setrlimit(RLIMIT_NOFILE, &want) == 0) {
            soft = (uint64_t)want.rlim_cur;
            b->is_raised = 1;
        } else {
            b->raise_errno = errno;    /* e.g. above fs.nr_open: keep what we have */
        }
    }
    int raise_errno = b->raise_errno, is_raised = b->is_raised;
    uint64_t hard = b->hard;
    fd_budget_fit(soft, max_clients, b);
    b->hard = hard;
    b->is_raised = is_raised;
    b->raise_errno = raise_errno;
    return PF_OK;
}
