/* The service manager's readiness protocol (systemd's sd_notify(3), without
 * libsystemd): one datagram of "KEY=VALUE\n" lines to the AF_UNIX socket
 * named by $NOTIFY_SOCKET. A shell reads the variable and passes it in, so
 * this module stays free of globals and of the environment. */
#ifndef PF_SVC_NOTIFY_H
#define PF_SVC_NOTIFY_H

#include "err.h"

/* Sends <state> (e.g. "READY=1\nSTATUS=serving") to the socket at <path>, the
 * value of $NOTIFY_SOCKET: a file path, or an abstract socket when it starts
 * with '@'. <path> NULL or "" means no service manager asked: PF_OK and
 * nothing sent. Returns PF_OK, PF_EINVAL for a path that is not absolute,
 * not abstract or too long, or PF_EIO when the socket or the send failed
 * (reason and errno text in <err>, never <state>). */
int svc_notify(const char *path, const char *state, struct pf_err *err) PF_MUSTCHECK;

#endif
