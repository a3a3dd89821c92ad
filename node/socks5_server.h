/* SOCKS5 (RFC 1928, RFC 1929) on the client side of a conn (conn.h ops):
 * greeting, username/password against node.users (auth.h), the request,
 * and the reply; the tunnel itself goes through the same attempt as an
 * HTTP CONNECT (attempt.h: policy, pick, dial, retries) and the same raw
 * relay. A conn gets here from the node.socks5_listen listener, or from
 * the HTTP listener when the first byte is 0x05 (http_proxy.c hands it
 * over). The whole handshake must finish within header_timeout_ms of the
 * accept. */
#ifndef PF_NODE_SOCKS5_SERVER_H
#define PF_NODE_SOCKS5_SERVER_H

#include <stddef.h>
#include <sys/socket.h>

#include "node.h"

struct conn;

/* Bytes of SOCKS5 per-conn state (c->proto), for a protocol that may hand
 * its conn over. */
size_t socks5_server_state_size(void);

/* Accepts client socket <fd> from <sa> on node.socks5_listen. Over
 * max_clients (<is_reject>) the socket is just closed, as SOCKS5 has no
 * answer before the greeting. Takes ownership of <fd>. */
void socks5_server_accept(struct node_ctx *ctx, int fd, const struct sockaddr *sa, int is_reject);

/* Takes over <c>, whose previous protocol released its state (c->proto
 * holds socks5_server_state_size() bytes): switches it to CONN_ST_SOCKS5
 * and parses what already arrived. */
void socks5_server_take_over(struct conn *c);

#endif
