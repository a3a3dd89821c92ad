/* SOCKS5 (RFC 1928, RFC 1929) on the client side of a conn: greeting,
 * username/password against node.users (constant-time), the request, and
 * the reply; the tunnel itself is set up by http_proxy (same policy, dial
 * path, retries and splice as CONNECT). A conn gets here from the
 * node.socks5_listen listener, or from the HTTP listener when the first byte
 * is 0x05. The whole handshake must finish within header_timeout_ms of the
 * accept. conn.c calls in from its dispatchers in CONN_ST_SOCKS5. */
#ifndef PF_NODE_SOCKS5_SERVER_H
#define PF_NODE_SOCKS5_SERVER_H

#include "conn.h"

struct bufferevent;

/* Switches <c> to CONN_ST_SOCKS5 and parses what already arrived. */
void socks5_server_start(struct conn *c);

/* CONN_ST_SOCKS5: client bytes arrived. */
void socks5_server_on_read(struct conn *c);

/* CONN_ST_SOCKS5: the handshake deadline passed; closes <c>. */
void socks5_server_on_timeout(struct conn *c);

/* The SOCKS5 form of conn_reply_error(): sends the reply code of <reason>
 * (conn_err.h; refined by the dial outcome in <c>->dial), counts it, and
 * flushes then closes with <reason>. */
void socks5_server_reply_error(struct conn *c, enum conn_err reason);

/* The tunnel is up on <ubev>: queues the success reply (BND = the local
 * address of <ubev>). Returns PF_OK or PF_ENOMEM. */
int socks5_server_reply_success(struct conn *c, struct bufferevent *ubev) PF_MUSTCHECK;

#endif
