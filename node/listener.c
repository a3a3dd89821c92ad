/* Proxy listener; see listener.h. */
#include "listener.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/listener.h>
#include <event2/util.h>

#include "addr.h"
#include "clock.h"
#include "http_proxy.h"
#include "log.h"
#include "policy.h"
#include "socks5_server.h"

#define LISTENER_BACKLOG   1024
#define LISTENER_PAUSE_MS  100     /* after an accept error such as EMFILE */
#define LISTENER_LOG_MS    1000    /* accept errors: at most one line per second */

struct listener {
    struct node_ctx       *ctx;     /* borrowed */
    struct evconnlistener *evl;     /* owned */
    struct event          *resume;  /* owned: re-enables accepting after an error */
    int                    is_socks5; /* node.socks5_listen: clients speak SOCKS5 only */
    int64_t                error_logged_ms; /* monotonic time of the last accept error line */
    uint64_t               nerrors_quiet;   /* accept errors since that line */
    char                   addr[CONF_ADDR_MAX + 8];
};

static void accept_cb(struct evconnlistener *evl, evutil_socket_t fd, struct sockaddr *sa,
                      int salen, void *arg)
{
    (void)evl; (void)salen;
    struct listener *l = arg;
    struct node_ctx *ctx = l->ctx;
    if (ctx->is_stopping || ctx->is_draining) {
        close(fd);
        return;
    }
    if (!policy_client_allowed(&ctx->conf.node, sa)) {
        ctx->stats.clients_denied++;
        close(fd);              /* node.client_allow: not even a 403 for strangers */
        return;
    }
    /* TCP_NODELAY comes from the listening socket: Linux copies it into
     * every accepted one, which saves a setsockopt() per connection */
    if (l->is_socks5) {
        socks5_server_accept(ctx, fd, sa, ctx->stats.conns_active >= (uint64_t)ctx->max_clients);
        return;
    }
    if (ctx->stats.conns_active >= (uint64_t)ctx->max_clients) {
        if (ctx->nrejecting >= (uint64_t)ctx->rejecting_max) {
            ctx->stats.rejected_over_limit++;
            close(fd);          /* flood: even the 503 costs too much */
            return;
        }
        http_proxy_accept(ctx, fd, sa, 1);
        return;
    }
    http_proxy_accept(ctx, fd, sa, 0);
}

static void resume_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd; (void)what;
    struct listener *l = arg;
    evconnlistener_enable(l->evl);
}

/* An accept error (EMFILE, ENFILE, ENOBUFS, ...): counted, logged at most
 * once a second (a full descriptor table fails every accept), and the
 * listener pauses so that the loop does not spin on the pending ones. */
static void error_cb(struct evconnlistener *evl, void *arg)
{
    struct listener *l = arg;
    int e = EVUTIL_SOCKET_ERROR();
    int64_t now = clock_mono_ms();
    l->ctx->stats.accept_errors++;
    if (l->error_logged_ms == 0 || now - l->error_logged_ms >= LISTENER_LOG_MS) {
        if (l->nerrors_quiet == 0)
            log_warn("accept on %s failed, pausing %d ms: %s", l->addr, LISTENER_PAUSE_MS,
                     evutil_socket_error_to_string(e));
        else
            log_warn("accept on %s failed, pausing %d ms: %s (%llu more since the last line)",
                     l->addr, LISTENER_PAUSE_MS, evutil_socket_error_to_string(e),
                     (unsigned long long)l->nerrors_quiet);
        l->error_logged_ms = now;
        l->nerrors_quiet = 0;
    } else {
        l->nerrors_quiet++;
    }
    evconnlistener_disable(evl);
    struct timeval tv = { 0, LISTENER_PAUSE_MS * 1000 };
    evtimer_add(l->resume, &tv);
}

static struct listener *listener_new(struct node_ctx *ctx, const char *addr, const char *key,
                                     int is_socks5, struct pf_err *err);

struct listener *listener_create(struct node_ctx *ctx, struct pf_err *err)
{
    return listener_new(ctx, ctx->conf.node.listen, "node.listen", 0, err);
}

struct listener *listener_create_socks5(struct node_ctx *ctx, struct pf_err *err)
{
    return listener_new(ctx, ctx->conf.node.socks5_listen, "node.socks5_listen", 1, err);
}

/* Binds <addr> (config key <key>, for errors). */
static struct listener *listener_new(struct node_ctx *ctx, const char *addr, const char *key,
                                     int is_socks5, struct pf_err *err)
{
    char host[UPSTREAM_HOST_MAX];
    uint16_t port;
    if (addr_parse_hostport(addr, host, sizeof(host), &port, err) != PF_OK) {
        pf_err_prefix(err, "%s: ", key);
        return NULL;
    }
    struct sockaddr_storage ss;
    socklen_t sslen;
    if (addr_ip_to_sockaddr(host, port, &ss, &sslen) != PF_OK) {
        pf_err_set(err, PF_EINVAL, "%s: host must be an IP address", key);
        return NULL;
    }
    struct listener *l = calloc(1, sizeof(*l));
    if (l == NULL) {
        pf_err_set(err, PF_ENOMEM, "listener: out of memory");
        return NULL;
    }
    l->ctx = ctx;
    l->is_socks5 = is_socks5;
    snprintf(l->addr, sizeof(l->addr), "%s", addr);
    l->resume = evtimer_new(ctx->base, resume_cb, l);
    if (l->resume == NULL) {
        pf_err_set(err, PF_ENOMEM, "listener: out of memory");
        goto fail;
    }
    l->evl = evconnlistener_new_bind(ctx->base, accept_cb, l,
                                     LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_EXEC,
                                     LISTENER_BACKLOG, (struct sockaddr *)&ss, (int)sslen);
    if (l->evl == NULL) {
        pf_err_set(err, PF_EIO, "listen on %s failed: %s", l->addr, strerror(errno));
        goto fail;
    }
    evconnlistener_set_error_cb(l->evl, error_cb);
    int one = 1;
    if (setsockopt(evconnlistener_get_fd(l->evl), IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) != 0)
        log_warn("set nodelay on listener %s failed, ignored: %s", l->addr, strerror(errno));
    return l;
fail:
    listener_destroy(l);
    return NULL;
}

void listener_destroy(struct listener *l)
{
    if (l == NULL)
        return;
    if (l->evl != NULL)
        evconnlistener_free(l->evl);
    if (l->resume != NULL)
        event_free(l->resume);
    free(l);
}
