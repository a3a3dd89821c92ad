/* Outgoing connections with resolution, policy and handshakes; see dial.h. */
#include "dial.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <event2/util.h>

#include "addr.h"
#include "log.h"
#include "policy.h"
#include "socks5.h"
#include "str.h"
#include "upstream_tls.h"

/* One entry per upstream scheme: how to finish a connection once TCP is up.
 * NULL means the scheme is not usable and selection skips it. */
struct dial_scheme {
    /* 1: TLS first (upstream_tls.h), then the handshake below through it */
    int is_tls;
    /* Starts the handshake on the connected bev. Returns 1 when the
     * connection is already usable, 0 when replies must be read, <0 on error. */
    int (*start)(struct dial *d);
    /* Consumes handshake bytes. Returns 1 done, 0 need more, or a DIAL_ERR as negative. */
    int (*on_read)(struct dial *d);
    /* dial_resume(): the rest of the handshake on a warm connection, as start. */
    int (*resume)(struct dial *d);
};

static int http_start(struct dial *d);
static int http_on_read(struct dial *d);
static int socks5_start(struct dial *d);
static int socks5_on_read(struct dial *d);
static int socks5_send_request(struct dial *d);

static const struct dial_scheme schemes[] = {
    [UPSTREAM_HTTP]    = { 0, http_start, http_on_read, http_start },
    [UPSTREAM_HTTPS]   = { 1, http_start, http_on_read, http_start },
    [UPSTREAM_SOCKS5]  = { 0, socks5_start, socks5_on_read, socks5_send_request },
    [UPSTREAM_SOCKS5H] = { 0, socks5_start, socks5_on_read, socks5_send_request },
};

int dial_scheme_is_supported(enum upstream_scheme scheme)
{
    return (size_t)scheme < PF_ARRAY_LEN(schemes) && schemes[scheme].start != NULL;
}

int dial_scheme_is_socks(enum upstream_scheme scheme)
{
    return scheme == UPSTREAM_SOCKS5 || scheme == UPSTREAM_SOCKS5H;
}

const char *dial_err_name(enum dial_err err)
{
    static const char *const names[] = {
        "ok", "dns", "policy", "refused", "reset", "timeout", "bad_reply",
        "upstream_auth", "upstream_status", "tls", "unsupported", "internal",
    };
    return (size_t)err < PF_ARRAY_LEN(names) ? names[err] : "?";
}

int dial_append_upstream_auth(struct evbuffer *out, const struct upstream *up)
{
    if (up == NULL || up->user[0] == '\0')
        return PF_OK;
    char plain[2 * UPSTREAM_CRED_MAX + 2];
    char enc[STR_BASE64_ENC_LEN(sizeof(plain))];
    int n = snprintf(plain, sizeof(plain), "%s:%s", up->user, up->pass);
    int rc = PF_OK;
    if (n < 0 || (size_t)n >= sizeof(plain) ||
        str_base64_encode(plain, (size_t)n, enc, sizeof(enc)) != PF_OK)
        rc = PF_EINVAL;
    else if (evbuffer_add_printf(out, "Proxy-Authorization: Basic %s\r\n", enc) < 0)
        rc = PF_ENOMEM;
    memset(plain, 0, sizeof(plain));
    memset(enc, 0, sizeof(enc));
    return rc;
}

static void done_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd; (void)what;
    struct dial *d = arg;
    struct bufferevent *bev = d->bev;
    enum dial_err err = d->err;
    d->bev = NULL;
    d->is_active = 0;
    d->is_finishing = 0;
    if (d->warm_bev != NULL) {      /* failed before taking its warm connection up */
        bufferevent_free(d->warm_bev);
        d->warm_bev = NULL;
    }
    if (err != DIAL_OK && bev != NULL) {
        bufferevent_free(bev);
        bev = NULL;
    }
    if (bev != NULL) {
        bufferevent_setcb(bev, NULL, NULL, NULL, NULL);
        bufferevent_disable(bev, EV_READ);
    }
    d->cb(d->arg, err, bev);
}

/* Records the outcome and schedules the callback on the loop. */
static void finish(struct dial *d, enum dial_err err)
{
    if (!d->is_active || d->is_finishing)
        return;
    d->is_finishing = 1;
    d->err = err;
    if (d->bev != NULL)
        bufferevent_setcb(d->bev, NULL, NULL, NULL, NULL);
    event_active(d->done_ev, EV_TIMEOUT, 1);
}

int dial_init(struct dial *d, struct node_ctx *ctx, dial_done_fn cb, void *arg)
{
    memset(d, 0, sizeof(*d));
    d->ctx = ctx;
    d->cb = cb;
    d->arg = arg;
    d->done_ev = evtimer_new(ctx->base, done_cb, d);
    return d->done_ev != NULL ? PF_OK : PF_ENOMEM;
}

void dial_cancel(struct dial *d)
{
    if (d->done_ev != NULL)
        event_del(d->done_ev);
    if (d->dns_req != NULL) {
        struct evdns_getaddrinfo_request *req = d->dns_req;
        d->dns_req = NULL;
        d->is_active = 0;          /* the cancel callback must do nothing */
        evdns_getaddrinfo_cancel(req);
    }
    if (d->bev != NULL) {
        bufferevent_free(d->bev);
        d->bev = NULL;
    }
    if (d->warm_bev != NULL) {
        bufferevent_free(d->warm_bev);
        d->warm_bev = NULL;
    }
    http_head_destroy(d->reply);
    d->reply = NULL;
    d->is_active = 0;
    d->is_finishing = 0;
}

void dial_deinit(struct dial *d)
{
    if (d == NULL)
        return;
    dial_cancel(d);
    if (d->done_ev != NULL)
        event_free(d->done_ev);
    d->done_ev = NULL;
}

void dial_fail_timeout(struct dial *d)
{
    if (d->dns_req != NULL) {
        struct evdns_getaddrinfo_request *req = d->dns_req;
        d->dns_req = NULL;
        int was_active = d->is_active;
        d->is_active = 0;
        evdns_getaddrinfo_cancel(req);
        d->is_active = was_active;
    }
    finish(d, DIAL_ERR_TIMEOUT);
}

static void dial_read_cb(struct bufferevent *bev, void *arg)
{
    (void)bev;
    struct dial *d = arg;
    if (d->up == NULL)
        return;
    int r = schemes[d->up->scheme].on_read(d);
    if (r == 1)
        finish(d, DIAL_OK);
    else if (r < 0)
        finish(d, (enum dial_err)-r);
}

/* The connection to the upstream is up (TCP, and TLS for https): its
 * handshake starts. */
static void upstream_handshake(struct dial *d)
{
    int r = schemes[d->up->scheme].start(d);
    if (r == 1)
        finish(d, DIAL_OK);
    else if (r < 0)
        finish(d, (enum dial_err)-r);
    else
        bufferevent_enable(d->bev, EV_READ);
}

/* https upstream, TLS bufferevent: the TLS handshake's end, then the
 * proxy handshake's reads and failures. */
static void dial_tls_event_cb(struct bufferevent *bev, short what, void *arg)
{
    struct dial *d = arg;
    if (what & BEV_EVENT_CONNECTED) {
        d->is_tls_up = 1;
        d->ctx->stats.upstream_tls_handshakes++;
        if (upstream_tls_is_resumed(bev))
            d->ctx->stats.upstream_tls_resumed++;
        upstream_handshake(d);
        return;
    }
    if (!d->is_tls_up) {
        d->detail = upstream_tls_failure(bev);
        finish(d, DIAL_ERR_TLS);
        return;
    }
    finish(d, (what & BEV_EVENT_EOF) ? DIAL_ERR_BAD_REPLY : DIAL_ERR_RESET);
}

/* https upstream, TCP up: the socket goes over to a TLS bufferevent that
 * starts the handshake with the upstream's host. */
static void start_tls(struct dial *d)
{
    if (d->ctx->upstream_tls == NULL ||
        upstream_tls_wrap(d->ctx->upstream_tls, d->ctx->base, &d->bev, d->host, d->port) != PF_OK) {
        finish(d, DIAL_ERR_INTERNAL);
        return;
    }
    bufferevent_setcb(d->bev, dial_read_cb, NULL, dial_tls_event_cb, d);
}

static void dial_event_cb(struct bufferevent *bev, short what, void *arg)
{
    struct dial *d = arg;
    if (what & BEV_EVENT_CONNECTED) {
        d->is_connected = 1;
        int one = 1;
        evutil_socket_t fd = bufferevent_getfd(bev);
        if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) != 0)
            log_debug("set nodelay on fd %d failed, ignored: %s", (int)fd, strerror(errno));
        if (!d->is_via_upstream)
            finish(d, DIAL_OK);
        else if (schemes[d->up->scheme].is_tls)
            start_tls(d);
        else
            upstream_handshake(d);
        return;
    }
    int e = EVUTIL_SOCKET_ERROR();
    if (!d->is_connected) {
        d->sys_errno = e;
        finish(d, e == ETIMEDOUT ? DIAL_ERR_TIMEOUT : DIAL_ERR_REFUSED);
    }
    else
        finish(d, (what & BEV_EVENT_EOF) ? DIAL_ERR_BAD_REPLY : DIAL_ERR_RESET);
}

/* A non-blocking socket of <family> bound to node.source_address <src>.
 * Returns the fd, -2 when <src> is of another family (left unbound), or -1. */
static evutil_socket_t dial_bound_socket(const char *src, int family)
{
    struct sockaddr_storage ss;
    socklen_t len;
    if (addr_ip_to_sockaddr(src, 0, &ss, &len) != PF_OK || ss.ss_family != family)
        return -2;
    evutil_socket_t fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        log_warn("socket for source address %s failed: %s", src, strerror(errno));
        return -1;
    }
    if (bind(fd, (struct sockaddr *)&ss, len) != 0) {
        log_warn("bind to source address %s failed: %s", src, strerror(errno));
        evutil_closesocket(fd);
        return -1;
    }
    return fd;
}

static void connect_to(struct dial *d, struct sockaddr *sa, socklen_t salen)
{
    if (d->is_policy_checked && !policy_dest_allowed(d->cn, sa)) {
        finish(d, DIAL_ERR_POLICY);
        return;
    }
    /* An upstream given by name is checked once resolved, as records are
     * when laid out (pool_cache.h): a name must not lead to loopback or
     * metadata. It fails as a name that does not resolve would: the
     * upstream's fault, retried on another one and counted against it. */
    if (d->is_via_upstream && !addr_policy_allows(&d->ctx->conf.node.upstream_policy, sa)) {
        log_debug("upstream %s resolves to an address node.upstream_allow_private refuses",
                  d->host);
        finish(d, DIAL_ERR_DNS);
        return;
    }
    d->ctx->stats.upstream_dials++;
    evutil_socket_t fd = -1;
    if (d->cn->source_address[0] != '\0' &&
        (fd = dial_bound_socket(d->cn->source_address, sa->sa_family)) < 0 &&
        fd != -2) {
        finish(d, DIAL_ERR_INTERNAL);
        return;
    }
    d->bev = bufferevent_socket_new(d->ctx->base, fd < 0 ? -1 : fd, BEV_OPT_CLOSE_ON_FREE);
    if (d->bev == NULL) {
        if (fd >= 0)
            evutil_closesocket(fd);
        finish(d, DIAL_ERR_INTERNAL);
        return;
    }
    bufferevent_setcb(d->bev, dial_read_cb, NULL, dial_event_cb, d);
    if (bufferevent_socket_connect(d->bev, sa, (int)salen) != 0) {
        d->sys_errno = errno;
        finish(d, DIAL_ERR_REFUSED);
    }
}

/* Common start of an evdns answer for <d> about <name>: returns 1 when
 * <res> is usable (the caller frees it), else frees it, finishes <d> with
 * DIAL_ERR_DNS on a failed lookup (not on a cancel), and returns 0. */
static int take_resolved(struct dial *d, int result, struct evutil_addrinfo *res,
                         const char *name)
{
    d->dns_req = NULL;
    if (result == 0 && res != NULL && d->is_active)
        return 1;
    if (res != NULL)
        evutil_freeaddrinfo(res);
    if (result != EVUTIL_EAI_CANCEL && d->is_active) {
        log_debug("resolve %s failed: %s", name, evutil_gai_strerror(result));
        finish(d, DIAL_ERR_DNS);
    }
    return 0;
}

static void resolved_cb(int result, struct evutil_addrinfo *res, void *arg)
{
    struct dial *d = arg;
    if (!take_resolved(d, result, res, d->host))
        return;
    struct sockaddr_storage ss;
    socklen_t len = (socklen_t)PF_MIN_OF(res->ai_addrlen, sizeof(ss));
    memcpy(&ss, res->ai_addr, len);
    evutil_freeaddrinfo(res);
    if (ss.ss_family == AF_INET)
        ((struct sockaddr_in *)&ss)->sin_port = htons(d->port);
    else
        ((struct sockaddr_in6 *)&ss)->sin6_port = htons(d->port);
    connect_to(d, (struct sockaddr *)&ss, len);
}

static int is_ip_literal(const char *host)
{
    struct sockaddr_storage ss;
    return addr_ip_to_sockaddr(host, 0, &ss, NULL) == PF_OK;
}

static void connect_host(struct dial *d);

/* socks5 upstream: the destination name resolved on the node's evdns; the
 * result replaces dest_host and must pass the destination policy. */
static void dest_resolved_cb(int result, struct evutil_addrinfo *res, void *arg)
{
    struct dial *d = arg;
    if (!take_resolved(d, result, res, d->dest_host))
        return;
    char ip[INET6_ADDRSTRLEN] = "";
    int is_allowed = policy_dest_allowed(d->cn, res->ai_addr);
    if (res->ai_family == AF_INET)
        evutil_inet_ntop(AF_INET, &((struct sockaddr_in *)res->ai_addr)->sin_addr, ip, sizeof(ip));
    else if (res->ai_family == AF_INET6)
        evutil_inet_ntop(AF_INET6, &((struct sockaddr_in6 *)res->ai_addr)->sin6_addr, ip, sizeof(ip));
    evutil_freeaddrinfo(res);
    if (ip[0] == '\0') {
        finish(d, DIAL_ERR_DNS);
        return;
    }
    if (!is_allowed) {
        finish(d, DIAL_ERR_POLICY);
        return;
    }
    snprintf(d->dest_host, sizeof(d->dest_host), "%s", ip);
    d->is_dest_resolved = 1;
    connect_host(d);
}

/* Starts an evdns lookup of <name> for <d>, answered through <cb>. */
static void resolve(struct dial *d, const char *name, evdns_getaddrinfo_cb cb)
{
    struct evutil_addrinfo hints;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_protocol = IPPROTO_TCP;
    /* <cb> may run before evdns_getaddrinfo() returns (hosts file, or a
     * cached answer) and may itself start the next lookup; then the call
     * returns NULL and d->dns_req must be left alone. */
    struct evdns_getaddrinfo_request *req =
        evdns_getaddrinfo(d->ctx->dns, name, NULL, &hints, cb, d);
    if (req != NULL)
        d->dns_req = req;
}

static void resolve_dest(struct dial *d)
{
    resolve(d, d->dest_host, dest_resolved_cb);
}

/* dial_start() without the cancel: <is_warm> for dial_start_warm(), a
 * warm bev already in d->warm_bev for dial_resume(). */
static void dial_setup(struct dial *d, const char *host, uint16_t port, const struct upstream *up,
                       int is_tunnel, int is_warm)
{
    d->is_active = 1;
    d->is_connected = 0;
    d->is_tls_up = 0;
    d->detail = NULL;
    d->err = DIAL_OK;
    d->reply_status = 0;
    d->is_via_upstream = up != NULL;
    d->is_tunnel = is_tunnel;
    d->is_policy_checked = up == NULL;
    snprintf(d->dest_host, sizeof(d->dest_host), "%s", host);
    d->dest_port = port;
    d->sys_errno = 0;
    d->socks5_step = 0;
    d->is_dest_resolved = 0;
    d->is_warm = is_warm;
    if (up != NULL) {
        d->up = up;
        if (!dial_scheme_is_supported(up->scheme)) {
            finish(d, DIAL_ERR_UNSUPPORTED);
            return;
        }
        snprintf(d->host, sizeof(d->host), "%s", up->host);
        d->port = up->port;
    } else {
        d->up = NULL;
        snprintf(d->host, sizeof(d->host), "%s", host);
        d->port = port;
    }
    if (up != NULL && up->scheme == UPSTREAM_SOCKS5 && !is_warm && !is_ip_literal(d->dest_host)) {
        resolve_dest(d);    /* socks5 (not socks5h): the name is resolved here */
        return;
    }
    connect_host(d);
}

void dial_start(struct dial *d, const char *host, uint16_t port, const struct upstream *up,
                int is_tunnel)
{
    dial_cancel(d);
    dial_setup(d, host, port, up, is_tunnel, 0);
}

/* dial_resume(): the warm connection becomes the dial's, and the rest of
 * the handshake runs on it. */
static void adopt_warm(struct dial *d)
{
    const struct dial_scheme *sc = &schemes[d->up->scheme];
    d->bev = d->warm_bev;
    d->warm_bev = NULL;
    d->is_connected = 1;
    d->is_tls_up = sc->is_tls;
    bufferevent_setcb(d->bev, dial_read_cb, NULL, sc->is_tls ? dial_tls_event_cb : dial_event_cb, d);
    bufferevent_enable(d->bev, EV_WRITE);   /* a taken warm connection comes disabled */
    int r = sc->resume(d);
    if (r == 1)
        finish(d, DIAL_OK);
    else if (r < 0)
        finish(d, (enum dial_err)-r);
    else
        bufferevent_enable(d->bev, EV_READ);
}

void dial_start_warm(struct dial *d, const struct upstream *up)
{
    dial_cancel(d);
    dial_setup(d, "", 0, up, 0, 1);
}

void dial_resume(struct dial *d, const char *host, uint16_t port, const struct upstream *up,
                 int is_tunnel, struct bufferevent *warm)
{
    dial_cancel(d);
    d->warm_bev = warm;     /* connect_host() takes it up instead of connecting */
    bufferevent_setcb(warm, NULL, NULL, NULL, NULL);
    dial_setup(d, host, port, up, is_tunnel, 0);
}

/* Connects to d->host:d->port: an IP literal at once, a name after resolution. */
static void connect_host(struct dial *d)
{
    struct sockaddr_storage ss;
    socklen_t len;
    if (d->warm_bev != NULL) {
        adopt_warm(d);
        return;
    }
    if (addr_ip_to_sockaddr(d->host, d->port, &ss, &len) == PF_OK) {
        connect_to(d, (struct sockaddr *)&ss, len);
        return;
    }
    resolve(d, d->host, resolved_cb);
}

/* --- http upstream: plain CONNECT handshake --- */

static int http_start(struct dial *d)
{
    if (!d->is_tunnel)
        return 1;           /* absolute-form requests go straight to the proxy */
    struct evbuffer *out = bufferevent_get_output(d->bev);
    const char *lb = strchr(d->dest_host, ':') != NULL ? "[" : "";
    const char *rb = *lb != '\0' ? "]" : "";
    if (evbuffer_add_printf(out, "CONNECT %s%s%s:%u HTTP/1.1\r\nHost: %s%s%s:%u\r\n",
                            lb, d->dest_host, rb, d->dest_port,
                            lb, d->dest_host, rb, d->dest_port) < 0 ||
        dial_append_upstream_auth(out, d->up) != PF_OK ||
        evbuffer_add(out, "\r\n", 2) != 0)
        return -DIAL_ERR_INTERNAL;
    http_head_destroy(d->reply);
    d->reply = http_head_create(HTTP_HEAD_RESPONSE, (size_t)d->cn->max_header_bytes);
    if (d->reply == NULL)
        return -DIAL_ERR_INTERNAL;
    return 0;
}

static int http_on_read(struct dial *d)
{
    struct evbuffer *in = bufferevent_get_input(d->bev);
    if (d->reply == NULL)
        return -DIAL_ERR_INTERNAL;
    size_t len = PF_MIN_OF(evbuffer_get_length(in), d->reply->max_bytes);
    const char *p = (const char *)evbuffer_pullup(in, (ev_ssize_t)len);
    int rc = http_head_parse(d->reply, p, len);
    if (rc == PF_EAGAIN)
        return 0;
    if (rc != PF_OK)
        return -DIAL_ERR_BAD_REPLY;
    evbuffer_drain(in, d->reply->head_len);
    d->reply_status = d->reply->status;
    int status = d->reply->status;
    http_head_destroy(d->reply);
    d->reply = NULL;
    if (status == 407)
        return -DIAL_ERR_UPSTREAM_AUTH;
    if (status < 200 || status > 299)
        return -DIAL_ERR_UPSTREAM_STATUS;
    return 1;
}

/* --- socks5 / socks5h upstream: RFC 1928 CONNECT, RFC 1929 credentials --- */

enum {
    SOCKS5_STEP_METHOD = 1,     /* greeting sent, waiting for the method choice */
    SOCKS5_STEP_AUTH,           /* credentials sent, waiting for the status */
    SOCKS5_STEP_REPLY,          /* request sent, waiting for the reply */
};

static int socks5_send(struct dial *d, const uint8_t *buf, int n)
{
    if (n < 0)
        return -DIAL_ERR_INTERNAL;
    if (evbuffer_add(bufferevent_get_output(d->bev), buf, (size_t)n) != 0)
        return -DIAL_ERR_INTERNAL;
    return 0;
}

static int socks5_send_request(struct dial *d)
{
    uint8_t buf[SOCKS5_REQUEST_MAX];
    d->socks5_step = SOCKS5_STEP_REPLY;
    int n = socks5_encode_request(SOCKS5_CMD_CONNECT, d->dest_host, d->dest_port, buf, sizeof(buf));
    if (n == PF_EINVAL)
        return -DIAL_ERR_DNS;       /* a name the wire format cannot carry */
    return socks5_send(d, buf, n);
}

static int socks5_start(struct dial *d)
{
    uint8_t buf[4];
    d->socks5_step = SOCKS5_STEP_METHOD;
    return socks5_send(d, buf, socks5_encode_greeting(d->up->user[0] != '\0', buf, sizeof(buf)));
}

/* Maps a failure REP of the upstream: TTL expired is a timeout (504), the
 * rest are a failed tunnel (502). */
static int socks5_rep_err(uint8_t rep)
{
    return rep == SOCKS5_REP_TTL_EXPIRED ? -DIAL_ERR_TIMEOUT : -DIAL_ERR_UPSTREAM_STATUS;
}

static int socks5_on_read(struct dial *d)
{
    struct evbuffer *in = bufferevent_get_input(d->bev);
    for (;;) {
        size_t len = PF_MIN_OF(evbuffer_get_length(in), (size_t)SOCKS5_REQUEST_MAX);
        if (len == 0)
            return 0;
        const uint8_t *p = evbuffer_pullup(in, (ev_ssize_t)len);
        size_t used = 0;
        uint8_t v = 0;
        int rc, r;
        switch (d->socks5_step) {
        case SOCKS5_STEP_METHOD:
            rc = socks5_parse_method(p, len, &v, &used);
            if (rc == PF_EAGAIN)
                return 0;
            if (rc != PF_OK)
                return -DIAL_ERR_BAD_REPLY;
            evbuffer_drain(in, used);
            if (v == SOCKS5_METHOD_NONE) {
                if (d->is_warm)
                    return 1;           /* ready: the request is sent at use */
                r = socks5_send_request(d);
            } else if (v == SOCKS5_METHOD_USERPASS && d->up->user[0] != '\0') {
                uint8_t buf[SOCKS5_USERPASS_MAX];
                int n = socks5_encode_userpass(d->up->user, d->up->pass, buf, sizeof(buf));
                d->socks5_step = SOCKS5_STEP_AUTH;
                r = n == PF_EINVAL ? -DIAL_ERR_UPSTREAM_AUTH : socks5_send(d, buf, n);
                memset(buf, 0, sizeof(buf));
            } else if (v == SOCKS5_METHOD_NO_ACCEPTABLE) {
                r = -DIAL_ERR_UPSTREAM_AUTH;   /* it wants credentials we do not have */
            } else {
                r = -DIAL_ERR_BAD_REPLY;       /* chose a method we did not offer */
            }
            if (r < 0)
                return r;
            break;
        case SOCKS5_STEP_AUTH:
            rc = socks5_parse_auth_status(p, len, &v, &used);
            if (rc == PF_EAGAIN)
                return 0;
            if (rc != PF_OK)
                return -DIAL_ERR_BAD_REPLY;
            evbuffer_drain(in, used);
            if (v != 0x00)
                return -DIAL_ERR_UPSTREAM_AUTH;
            if (d->is_warm)
                return 1;               /* authenticated: the request is sent at use */
            r = socks5_send_request(d);
            if (r < 0)
                return r;
            break;
        case SOCKS5_STEP_REPLY:
            rc = socks5_parse_reply(p, len, &v, &used);
            if (rc == PF_EAGAIN)
                return 0;
            if (rc != PF_OK)
                return -DIAL_ERR_BAD_REPLY;
            evbuffer_drain(in, used);
            d->reply_status = v;
            if (v != SOCKS5_REP_SUCCEEDED) {
                log_debug("socks5 upstream refused %s:%u: %s", d->dest_host, d->dest_port,
                          socks5_rep_name(v));
                return socks5_rep_err(v);
            }
            d->socks5_step = 0;
            return 1;               /* what follows the reply stays in the input */
        default:
            return -DIAL_ERR_BAD_REPLY;   /* bytes before we asked anything */
        }
    }
}
