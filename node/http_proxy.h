/* HTTP/1.x proxying on a conn (conn.h ops): the request head, client
 * authentication (auth.h), the target, the request and response relayed
 * with their framing and hop-by-hop headers rewritten, keep-alive on both
 * sides, CONNECT tunnels, and the node's own error answers (408, 4xx, 5xx
 * from conn_err.h). Where a request goes, and its retries, is the
 * attempt's (attempt.h). A client whose first byte is 0x05 speaks SOCKS5:
 * the conn is handed to socks5_server.h in place.
 *
 * Per-exchange state (struct http_exchange in http_proxy.c) is owned here
 * and reset at the end of every exchange; the response side is one phase
 * (none, interim, body, tunnel, error) rather than a set of flags. */
#ifndef PF_NODE_HTTP_PROXY_H
#define PF_NODE_HTTP_PROXY_H

#include <sys/socket.h>

#include "node.h"

/* Accepts client socket <fd> from <sa> on node.listen: a conn that speaks
 * HTTP (or SOCKS5, sniffed). With <is_reject> (max_clients reached) it only
 * answers 503. Takes ownership of <fd>. */
void http_proxy_accept(struct node_ctx *ctx, int fd, const struct sockaddr *sa, int is_reject);

#endif
