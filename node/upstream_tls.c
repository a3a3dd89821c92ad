/* TLS to https upstream proxies; see upstream_tls.h. */
#include "upstream_tls.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/util.h>

#include "addr.h"

struct upstream_tls {
    SSL_CTX *ctx;           /* owned: shared by every upstream connection */
    int      is_verified;   /* node.upstream_tls_verify */
};

/* Loads the CAs the node trusts into <ctx>: node.upstream_ca_file, else
 * the system's (SSL_CERT_FILE / SSL_CERT_DIR, else OpenSSL's defaults). */
static int load_cas(SSL_CTX *ctx, const char *file, struct pf_err *err)
{
    if (file[0] == '\0') {
        if (SSL_CTX_set_default_verify_paths(ctx) != 1)
            return pf_err_set(err, PF_EINVAL, "node.upstream_tls: loading the system CAs failed");
        return PF_OK;
    }
    FILE *f = fopen(file, "r");   /* for a clear errno: OpenSSL's own error is vaguer */
    if (f == NULL)
        return pf_err_set(err, PF_EINVAL, "node.upstream_ca_file: cannot read %s: %s", file,
                          strerror(errno));
    fclose(f);
    ERR_clear_error();
    if (SSL_CTX_load_verify_locations(ctx, file, NULL) != 1) {
        ERR_clear_error();
        return pf_err_set(err, PF_EINVAL, "node.upstream_ca_file: no PEM certificate in %s", file);
    }
    return PF_OK;
}

struct upstream_tls *upstream_tls_create(const struct conf_node *cn, struct pf_err *err)
{
    struct upstream_tls *t = calloc(1, sizeof(*t));
    if (t == NULL) {
        pf_err_set(err, PF_ENOMEM, "node.upstream_tls: out of memory");
        return NULL;
    }
    t->is_verified = cn->is_upstream_tls_verified;
    t->ctx = SSL_CTX_new(TLS_client_method());
    if (t->ctx == NULL) {
        pf_err_set(err, PF_ENOMEM, "node.upstream_tls: SSL_CTX_new failed");
        goto fail;
    }
    SSL_CTX_set_min_proto_version(t->ctx, TLS1_2_VERSION);
    /* IGNORE_UNEXPECTED_EOF: a proxy closing without close_notify is an
     * EOF, as before OpenSSL 3, so that libevent reports it as one and
     * the other direction of a tunnel may still finish (nginx does the
     * same); a truncated response is still caught by its framing. */
    SSL_CTX_set_options(t->ctx, SSL_OP_IGNORE_UNEXPECTED_EOF | SSL_OP_NO_RENEGOTIATION |
                                SSL_OP_NO_COMPRESSION);
    /* idle connections (kept-alive, quiet tunnels) hold no record buffers */
    SSL_CTX_set_mode(t->ctx, SSL_MODE_RELEASE_BUFFERS);
    SSL_CTX_set_verify(t->ctx, t->is_verified ? SSL_VERIFY_PEER : SSL_VERIFY_NONE, NULL);
    if (load_cas(t->ctx, cn->upstream_ca_file, err) != PF_OK)
        goto fail;
    return t;
fail:
    upstream_tls_destroy(t);
    return NULL;
}

void upstream_tls_destroy(struct upstream_tls *t)
{
    if (t == NULL)
        return;
    SSL_CTX_free(t->ctx);
    free(t);
}

int upstream_tls_is_verified(const struct upstream_tls *t)
{
    return t->is_verified;
}

/* A client SSL for <host>: SNI for a name, and unless verification is off
 * the name or IP address the certificate must carry. NULL when out of
 * memory or <host> cannot be set. */
static SSL *new_ssl(struct upstream_tls *t, const char *host)
{
    SSL *ssl = SSL_new(t->ctx);
    if (ssl == NULL)
        return NULL;
    struct sockaddr_storage ss;
    int is_ip = addr_ip_to_sockaddr(host, 0, &ss, NULL) == PF_OK;
    int ok = 1;
    if (!is_ip)   /* RFC 6066: SNI carries host names only, never an address */
        ok = SSL_set_tlsext_host_name(ssl, host) == 1;
    if (ok && t->is_verified) {
        if (is_ip) {
            ok = X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host) == 1;
        } else {
            SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
            ok = SSL_set1_host(ssl, host) == 1;
        }
    }
    if (!ok) {
        SSL_free(ssl);
        ERR_clear_error();
        return NULL;
    }
    return ssl;
}

int upstream_tls_wrap(struct upstream_tls *t, struct event_base *base, struct bufferevent **bev,
                      const char *host)
{
    evutil_socket_t fd = bufferevent_getfd(*bev);
    /* the plain bufferevent goes, its socket stays */
    bufferevent_setcb(*bev, NULL, NULL, NULL, NULL);
    bufferevent_disable(*bev, EV_READ | EV_WRITE);
    bufferevent_setfd(*bev, -1);
    bufferevent_free(*bev);
    *bev = NULL;
    SSL *ssl = new_ssl(t, host);
    if (ssl == NULL) {
        evutil_closesocket(fd);
        return PF_ENOMEM;
    }
    /* Takes the SSL (freed with it, or here on failure) and, through
     * BEV_OPT_CLOSE_ON_FREE, the socket once created.
     * BEV_OPT_DEFER_CALLBACKS: libevent 2.1's TLS bufferevent reports a
     * close_notify or an error from inside its read, before it stores the
     * records decrypted by that same read; its callbacks deferred to the
     * end of the loop turn run read first, then the event, so that no
     * byte that came before an EOF is missed (the last records of a
     * response, of a tunnel). */
    struct bufferevent *tb = bufferevent_openssl_socket_new(base, fd, ssl,
                                                            BUFFEREVENT_SSL_CONNECTING,
                                                            BEV_OPT_CLOSE_ON_FREE |
                                                            BEV_OPT_DEFER_CALLBACKS);
    if (tb == NULL) {
        evutil_closesocket(fd);
        return PF_ENOMEM;
    }
    bufferevent_openssl_set_allow_dirty_shutdown(tb, 1);
    *bev = tb;
    return PF_OK;
}

int upstream_tls_is_tls(struct bufferevent *bev)
{
    return bev != NULL && bufferevent_openssl_get_ssl(bev) != NULL;
}

const char *upstream_tls_failure(struct bufferevent *bev)
{
    SSL *ssl = bufferevent_openssl_get_ssl(bev);
    const char *why = NULL;
    unsigned long e;
    /* libevent queues SSL_get_error() codes (no library) beside OpenSSL's
     * own errors; it hands them back newest first, so the last kept is
     * the first that happened */
    while ((e = bufferevent_get_openssl_error(bev)) != 0) {
        const char *r = ERR_GET_LIB(e) != 0 ? ERR_reason_error_string(e) : NULL;
        if (r != NULL)
            why = r;
    }
    /* without SSL_VERIFY_PEER the verdict is computed but did not fail anything */
    long v = ssl != NULL && (SSL_get_verify_mode(ssl) & SSL_VERIFY_PEER) ? SSL_get_verify_result(ssl)
                                                                         : X509_V_OK;
    if (v != X509_V_OK)
        return X509_verify_cert_error_string(v);
    return why != NULL ? why : "closed during the handshake";
}

int upstream_tls_close_notify(struct bufferevent *bev)
{
    SSL *ssl = bufferevent_openssl_get_ssl(bev);
    if (ssl == NULL)
        return -1;
    ERR_clear_error();
    int r = SSL_shutdown(ssl);
    if (r >= 0)
        return 1;           /* 0: ours sent, the peer's not in yet (nor needed) */
    int e = SSL_get_error(ssl, r);
    ERR_clear_error();
    return e == SSL_ERROR_WANT_WRITE ? 0 : -1;
}
