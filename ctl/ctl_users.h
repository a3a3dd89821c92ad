/* proxyfleet-ctl users list|add|del: the users in Redis ({pf}:v1:users,
 * docs/redis-keys.md). `add` reads the password from a TTY prompt (echo
 * off, asked twice) or from stdin's first line, never from the command
 * line; hashes it with scrypt (common/pwhash.h) into the record nodes
 * verify (common/user_record.h), and writes it and bumps users:version in
 * one script, so every node reloads within about 1 s. `del` removes the
 * user and bumps the version the same way. Nothing here prints a password
 * or a hash. */
#ifndef PF_CTL_USERS_H
#define PF_CTL_USERS_H

#include "ctl_args.h"
#include "keys.h"

struct redis;

/* Runs the users command of <a> on <r> under <k>. Returns an exit code
 * (ctl_out.h). */
int ctl_users_run(const struct ctl_args *a, struct redis *r, const struct keys *k);

#endif
