/* TLS to https upstream proxies; see upstream_tls.h. */
#include "upstream_tls.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/util.h>

#include "addr.h"

/* Resumable sessions kept, one per upstream at most (direct-mapped by the
 * hash of "host port": two upstreams on one slot take turns). A slot is
 * 24 bytes, a session with the proxy's certificate 1-3 KiB. */
#define TLS_SESSION_SLOTS  1024
#define TLS_SESSION_MAX_S  300     /* a session older than this is not offered */

struct tls_session_slot {
    char        *key;       /* owned: "host port" of the upstream it came from */
    uint64_t     hash;      /* of key */
    SSL_SESSION *sess;      /* owned (one reference) */
};

struct upstream_tls {
    SSL_CTX *ctx;           /* owned: shared by every upstream connection */
    int      is_verified;   /* node.upstream_tls_verify */
    int      key_idx;       /* SSL ex_data index of the connection's session key */
    struct tls_session_slot slots[TLS_SESSION_SLOTS];
};

/* FNV-1a: spreads "host port" keys over the slots. */
static uint64_t key_hash(const char *k)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *k != '\0'; k++)
        h = (h ^ (uint8_t)*k) * 1099511628211ULL;
    return h;
}

static struct tls_session_slot *slot_of(struct upstream_tls *t, uint64_t h)
{
    return &t->slots[h % TLS_SESSION_SLOTS];
}

/* ex_data free callback: the connection's key goes with its SSL. */
static void key_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl, void *argp)
{
    (void)parent; (void)ad; (void)idx; (void)argl; (void)argp;
    free(ptr);
}

/* OpenSSL hands over a new resumable session of <ssl> (after the
 * handshake, or a TLS 1.3 ticket later): it replaces what the slot of the
 * connection's upstream held. Returns 1: the reference is kept. */
static int session_new_cb(SSL *ssl, SSL_SESSION *sess)
{
    struct upstream_tls *t = SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl));
    const char *key = SSL_get_ex_data(ssl, t->key_idx);
    if (key == NULL || !SSL_SESSION_is_resumable(sess))
        return 0;
    uint64_t h = key_hash(key);
    struct tls_session_slot *sl = slot_of(t, h);
    if (sl->key == NULL || sl->hash != h || strcmp(sl->key, key) != 0) {
        char *k = strdup(key);
        if (k == NULL)
            return 0;
        free(sl->key);
        sl->key = k;
        sl->hash = h;
    }
    if (sl->sess != NULL)
        SSL_SESSION_free(sl->sess);
    sl->sess = sess;
    return 1;
}

/* The session to offer <key>'s upstream, or NULL (none, or too old). */
static SSL_SESSION *session_find(struct upstream_tls *t, const char *key)
{
    uint64_t h = key_hash(key);
    struct tls_session_slot *sl = slot_of(t, h);
    if (sl->sess == NULL || sl->hash != h || strcmp(sl->key, key) != 0)
        return NULL;
    time_t age = time(NULL) - (time_t)SSL_SESSION_get_time(sl->sess);
    if (age < 0 || age > TLS_SESSION_MAX_S || age > (time_t)SSL_SESSION_get_timeout(sl->sess) ||
        !SSL_SESSION_is_resumable(sl->sess)) {
        SSL_SESSION_free(sl->sess);
        sl->sess = NULL;
        return NULL;
    }
    return sl->sess;
}

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
    /* session resumption, as HAProxy and Envoy do towards their servers:
     * OpenSSL hands each new session to session_new_cb, never to its own
     * store (a client never looks a session up there) */
    t->key_idx = SSL_get_ex_new_index(0, NULL, NULL, NULL, key_free);
    if (t->key_idx < 0) {
        pf_err_set(err, PF_ENOMEM, "node.upstream_tls: SSL_get_ex_new_index failed");
        goto fail;
    }
    SSL_CTX_set_app_data(t->ctx, t);
    SSL_CTX_set_session_cache_mode(t->ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
    SSL_CTX_sess_set_new_cb(t->ctx, session_new_cb);
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
    for (size_t i = 0; i < TLS_SESSION_SLOTS; i++) {
        if (t->slots[i].sess != NULL)
            SSL_SESSION_free(t->slots[i].sess);
        free(t->slots[i].key);
    }
    SSL_CTX_free(t->ctx);
    free(t);
}

int upstream_tls_is_verified(const struct upstream_tls *t)
{
    return t->is_verified;
}

/* A client SSL for <host>:<port>: SNI for a name, unless verification is
 * off the name or IP address the certificate must carry, and the last
 * session of that upstream to resume. NULL when out of memory or <host>
 * cannot be set. */
static SSL *new_ssl(struct upstream_tls *t, const char *host, uint16_t port)
{
    SSL *ssl = SSL_new(t->ctx);
    if (ssl == NULL)
        return NULL;
    struct sockaddr_storage ss;
    int is_ip = addr_ip_to_sockaddr(host, 0, &ss, NULL) == PF_OK;
    char key[UPSTREAM_HOST_MAX + 8];
    snprintf(key, sizeof(key), "%s %u", host, (unsigned)port);
    char *k = strdup(key);
    int ok = k != NULL && SSL_set_ex_data(ssl, t->key_idx, k) == 1;
    if (!ok)
        free(k);
    if (ok) {
        SSL_SESSION *sess = session_find(t, key);
        if (sess != NULL && SSL_set_session(ssl, sess) != 1)
            ERR_clear_error();      /* not resumable here: a full handshake */
    }
    if (ok && !is_ip)   /* RFC 6066: SNI carries host names only, never an address */
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
                      const char *host, uint16_t port)
{
    evutil_socket_t fd = bufferevent_getfd(*bev);
    /* the plain bufferevent goes, its socket stays */
    bufferevent_setcb(*bev, NULL, NULL, NULL, NULL);
    bufferevent_disable(*bev, EV_READ | EV_WRITE);
    bufferevent_setfd(*bev, -1);
    bufferevent_free(*bev);
    *bev = NULL;
    SSL *ssl = new_ssl(t, host, port);
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

int upstream_tls_is_resumed(struct bufferevent *bev)
{
    SSL *ssl = bufferevent_openssl_get_ssl(bev);
    return ssl != NULL && SSL_session_reused(ssl) == 1;
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
