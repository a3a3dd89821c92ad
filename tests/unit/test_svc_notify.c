/* Unit tests for common/svc_notify.c: a real AF_UNIX datagram socket. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "svc_notify.h"

/* Binds a datagram socket at <path> ('@' = abstract); returns its fd. */
static int bind_dgram(const char *path)
{
    struct sockaddr_un sa;
    size_t n = strlen(path);
    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    memcpy(sa.sun_path, path, n);
    if (path[0] == '@')
        sa.sun_path[0] = '\0';
    int fd = socket(AF_UNIX, SOCK_DGRAM, 0);
    cr_assert(fd >= 0);
    socklen_t len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + (path[0] == '@' ? 0 : 1));
    cr_assert_eq(bind(fd, (struct sockaddr *)&sa, len), 0);
    return fd;
}

static void expect_received(int fd, const char *want)
{
    char buf[256];
    ssize_t r = recv(fd, buf, sizeof(buf) - 1, MSG_DONTWAIT);
    cr_assert_gt(r, 0);
    buf[r] = '\0';
    cr_expect_str_eq(buf, want);
}

Test(svc_notify, path_socket)
{
    char path[64];
    snprintf(path, sizeof(path), "/tmp/pf-notify-%d.sock", (int)getpid());
    unlink(path);
    int fd = bind_dgram(path);
    struct pf_err err;
    cr_expect_eq(svc_notify(path, "READY=1\nSTATUS=serving", &err), PF_OK);
    expect_received(fd, "READY=1\nSTATUS=serving");
    close(fd);
    unlink(path);
}

Test(svc_notify, abstract_socket)
{
    char path[64];
    snprintf(path, sizeof(path), "@pf-notify-test-%d", (int)getpid());
    int fd = bind_dgram(path);
    struct pf_err err;
    cr_expect_eq(svc_notify(path, "STOPPING=1", &err), PF_OK);
    expect_received(fd, "STOPPING=1");
    close(fd);
}

Test(svc_notify, unset_is_a_no_op)
{
    struct pf_err err;
    cr_expect_eq(svc_notify(NULL, "READY=1", &err), PF_OK);
    cr_expect_eq(svc_notify("", "READY=1", &err), PF_OK);
}

Test(svc_notify, bad_paths)
{
    struct pf_err err;
    char long_path[200];
    memset(long_path, 'a', sizeof(long_path) - 1);
    long_path[0] = '/';
    long_path[sizeof(long_path) - 1] = '\0';
    cr_expect_eq(svc_notify("relative.sock", "READY=1", &err), PF_EINVAL);
    cr_expect_eq(svc_notify("@", "READY=1", &err), PF_EINVAL);
    cr_expect_eq(svc_notify(long_path, "READY=1", &err), PF_EINVAL);
    /* nobody listens there: the send fails with a reason, not the state */
    pf_err_clear(&err);
    cr_expect_eq(svc_notify("/tmp/pf-notify-nobody-listens.sock", "READY=1", &err), PF_EIO);
    cr_expect(strstr(err.msg, "READY") == NULL);
    cr_expect(strstr(err.msg, "send") != NULL);
}
