/* The node's access policy, in one place: which clients may connect, which
 * destinations and CONNECT ports they may reach, and the start-up guard
 * against running an open proxy. Pure: config and addresses in, a verdict
 * out; no sockets, no DNS, no logging (tests/unit/test_policy.c). */
#ifndef PF_NODE_POLICY_H
#define PF_NODE_POLICY_H

#include <stdint.h>
#include <sys/socket.h>

#include "conf.h"
#include "err.h"

/* Returns 1 when client address <sa> may connect: node.client_allow is
 * empty or one of its CIDRs holds <sa>. */
int policy_client_allowed(const struct conf_node *cn, const struct sockaddr *sa);

/* Returns 1 when destination address <sa> may be reached: a public
 * address, or node.allow_private_destinations, or inside a
 * node.destination_allow CIDR. Loopback, private, link-local, metadata,
 * multicast, unspecified and reserved addresses are denied otherwise. */
int policy_dest_allowed(const struct conf_node *cn, const struct sockaddr *sa);

/* Returns 1 when a tunnel (CONNECT, SOCKS5) to <port> is allowed:
 * node.connect_ports is empty (any port) or lists it. Kept apart from the
 * destination policy: allowing a host never opens every port on it. */
int policy_connect_port_allowed(const struct conf_node *cn, uint16_t port);

/* The destination policy on what is known before any resolution: an IP
 * literal <host> is checked as policy_dest_allowed() does, "localhost" and
 * names under ".localhost" (a trailing dot included) as 127.0.0.1. Returns
 * 1 when <host> is denied. Other names return 0: they are checked after
 * resolution (direct mode, dial.c) or resolved by the upstream (pool mode). */
int policy_host_denied(const struct conf_node *cn, const char *host);

/* The open-proxy guard: a listener (node.listen, node.socks5_listen) off
 * loopback needs node.users or node.redis_users, unless node.allow_anonymous. Returns PF_OK or
 * PF_EDENIED with the reason in <err>. */
int policy_check_open_proxy(const struct conf_node *cn, struct pf_err *err) PF_MUSTCHECK;

#endif
