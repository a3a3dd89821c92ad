/* TLS to https upstream proxies (an HTTP proxy spoken over TLS): the
 * node's one client SSL_CTX, shared by every upstream connection, and per
 * connection one SSL inside a libevent OpenSSL bufferevent on the socket.
 *
 * The proxy's certificate is verified against node.upstream_ca_file, or
 * the system CAs when it is "", and must name the upstream's host: SNI and
 * a DNS name check for a host name, an IP SAN check for an IP literal.
 * node.upstream_tls_verify false turns both checks off; the node says so
 * loudly at start (node_ctx.c), never silently.
 *
 * A plain connection costs nothing here: only https upstreams get an SSL,
 * made when their TCP connect succeeds (dial.c), freed with the
 * bufferevent. Idle connections give their record buffers back
 * (SSL_MODE_RELEASE_BUFFERS).
 *
 * The last session of each upstream (host and port; a bounded
 * direct-mapped table) is offered again when the next connection to it is
 * made, so that a new tunnel resumes instead of a full handshake with its
 * certificate checks (HAProxy and Envoy do the same towards their
 * servers). A session is only ever offered to the host and port it was
 * verified for, and never after TLS_SESSION_MAX_S or its own lifetime. */
#ifndef PF_NODE_UPSTREAM_TLS_H
#define PF_NODE_UPSTREAM_TLS_H

#include <stdint.h>

#include "conf.h"
#include "err.h"

struct bufferevent;
struct event_base;
struct upstream_tls;

/* Builds the client context from <cn>: TLS 1.2 or newer, the CAs of
 * upstream_ca_file (or the system's), peer verification unless
 * upstream_tls_verify is false. Returns NULL with the reason in <err>,
 * naming the key: "node.upstream_ca_file: cannot read /x: No such file or
 * directory", "... no PEM certificate in /x". */
struct upstream_tls *upstream_tls_create(const struct conf_node *cn, struct pf_err *err);

/* Frees the context. Accepts NULL. Every bufferevent made from it may
 * outlive it (each SSL holds a reference). */
void upstream_tls_destroy(struct upstream_tls *t);

/* 1 when certificates and names are checked (upstream_tls_verify). */
int upstream_tls_is_verified(const struct upstream_tls *t);

/* Replaces the connected socket bufferevent <*bev> (freed, its socket
 * kept) with a TLS client bufferevent on the same socket that starts the
 * handshake with <host>:<port> at once (resuming that upstream's last
 * session when there is one): SNI for a name, and the certificate must
 * match <host> (a DNS name, or for an IP literal an IP address SAN). The
 * new one reports BEV_EVENT_CONNECTED when the handshake is done, an error
 * or EOF event when it failed (upstream_tls_failure() says why); it closes
 * the socket and frees the SSL when freed. Returns PF_OK, or PF_ENOMEM
 * (then <*bev> is NULL and the socket closed). */
int upstream_tls_wrap(struct upstream_tls *t, struct event_base *base, struct bufferevent **bev,
                      const char *host, uint16_t port) PF_MUSTCHECK;

/* 1 when the handshake on <bev> resumed an earlier session. */
int upstream_tls_is_resumed(struct bufferevent *bev);

/* 1 when <bev> speaks TLS (made by upstream_tls_wrap()). */
int upstream_tls_is_tls(struct bufferevent *bev);

/* Why the handshake on TLS bufferevent <bev> failed, for logs: the
 * certificate check's verdict ("hostname mismatch", "self-signed
 * certificate", "certificate has expired", ...), else OpenSSL's reason
 * ("wrong version number", ...), else "closed during the handshake".
 * Static text; takes <bev>'s queued OpenSSL errors. */
const char *upstream_tls_failure(struct bufferevent *bev);

/* Sends TLS close_notify on <bev> (its output must be empty): the TLS way
 * to say "no more bytes from me", after which <bev> may still read.
 * Returns 1 when sent, 0 when the socket could not take it yet (call again
 * once it is writable), -1 when the connection is already broken. */
int upstream_tls_close_notify(struct bufferevent *bev);

#endif
