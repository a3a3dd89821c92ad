/* HTTP proxying on a conn: request admission (auth, target, destination
 * policy), upstream choice with retries, request/response head rewriting
 * (hop-by-hop removal, credentials), body relaying with framing, keep-alive,
 * and CONNECT tunnels setup. conn.c owns the sockets and the state machine
 * and calls in here from its dispatchers. */
#ifndef PF_NODE_HTTP_PROXY_H
#define PF_NODE_HTTP_PROXY_H

#include "auth.h"
#include "conn.h"
#include "dial.h"
#include "node.h"

/* Upper bound of bytes queued towards one side before reading the other
 * side stops (backpressure); reading resumes below half of it. */
#define HTTP_PROXY_HIGH_WATER (256 * 1024)

/* Takes the sticky session client user <u> names (auth.h), if any, as
 * <c>'s session key, and wipes <u>. Also for the SOCKS5 user name. */
void http_proxy_set_session(struct conn *c, struct auth_user *u);

/* Releases <c>'s count on its upstream's active connections (least_conn). */
void http_proxy_release_upstream(struct conn *c);

/* A complete request head is in <c>->req (state READ_HEAD): admit it and
 * start forwarding, or answer an error. */
void http_proxy_on_request(struct conn *c);

/* A SOCKS5 CONNECT was accepted (socks5_server.c): <c>->tgt holds the
 * destination. Applies the destination policy and starts the same dial path
 * as CONNECT; success and failure answers go through the SOCKS5 hooks. */
void http_proxy_start_tunnel(struct conn *c);

/* dial_done_fn for <c>->dial (arg is the conn). */
void http_proxy_on_dial_done(void *arg, enum dial_err err, struct bufferevent *bev);

/* FORWARD: client bytes (request body) are readable. */
void http_proxy_on_client_data(struct conn *c);

/* FORWARD: upstream bytes (response) are readable. */
void http_proxy_on_upstream_data(struct conn *c);

/* FORWARD: the upstream closed (<is_error> for a socket error). */
void http_proxy_on_upstream_close(struct conn *c, int is_error);

/* DIALING or FORWARD deadline passed. */
void http_proxy_on_timeout(struct conn *c);

/* Frees the per-request parts of <c> (heads, target). */
void http_proxy_reset_exchange(struct conn *c);

/* Frees only the request and response heads of <c> (a tunnel starts: it
 * never parses again). */
void http_proxy_reset_exchange_heads(struct conn *c);

#endif
