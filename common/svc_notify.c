/* sd_notify(3) protocol; see svc_notify.h. */
#include "svc_notify.h"

#include <errno.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int svc_notify(const char *path, const char *state, struct pf_err *err)
{
    struct sockaddr_un sa;
    size_t n;

    if (path == NULL || path[0] == '\0')
        return PF_OK;
    n = strlen(path);
    if ((path[0] != '/' && path[0] != '@') || n < 2 || n >= sizeof(sa.sun_path))
        return pf_err_set(err, PF_EINVAL, "NOTIFY_SOCKET: not an absolute or abstract socket path");
    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    memcpy(sa.sun_path, path, n);
    if (path[0] == '@')
        sa.sun_path[0] = '\0';          /* abstract namespace: no NUL terminator counted */
    socklen_t sa_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n +
                                   (path[0] == '@' ? 0 : 1));
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return pf_err_set(err, PF_EIO, "NOTIFY_SOCKET: socket: %s", strerror(errno));
    ssize_t w = sendto(fd, state, strlen(state), MSG_NOSIGNAL, (struct sockaddr *)&sa, sa_len);
    int saved = errno;
    close(fd);
    if (w < 0)
        return pf_err_set(err, PF_EIO, "NOTIFY_SOCKET: send: %s", strerror(saved));
    return PF_OK;
}
