/* libcurl multi on libevent: the pattern of curl's docs/examples/hiperfifo.c,
 * with one event per socket curl asks us to watch and one timer for curl's
 * timeouts. */
#include "fetch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <event2/event.h>

#include "log.h"
#include "str.h"

/* One socket curl wants watched. Listed so that fetch_destroy() frees what
 * curl_multi_cleanup() does not report back. */
struct fetch_sock {
    curl_socket_t      fd;
    struct event      *ev;           /* owned */
    struct fetch      *f;            /* borrowed: the owner */
    struct fetch_sock *prev, *next;
};

struct fetch_req {
    struct fetch     *f;             /* borrowed: the owner */
    CURL             *easy;          /* owned */
    fetch_done_cb     cb;
    void             *arg;
    char             *body;          /* owned, NUL-terminated */
    size_t            body_len;
    size_t            body_cap;
    int64_t           max_body_bytes;
    int               is_over_cap;
    struct curl_slist *headers;      /* owned: extra request headers, may hold a secret */
    struct fetch_req *prev, *next;
};

struct fetch {
    struct event_base *base;         /* borrowed from ctl_ctx */
    CURLM             *multi;        /* owned */
    struct event      *timer;        /* owned: curl's timeout */
    struct fetch_sock *socks;        /* owned list */
    struct fetch_req  *reqs;         /* owned list of requests in flight */
};

static void fetch_check_done(struct fetch *f);

/* The origin of <h> ("scheme://host:port", lower-case scheme and host,
 * default port filled in) into <buf>. Returns PF_OK or PF_EINVAL. */
static int fetch_origin(CURLU *h, char *buf, size_t len)
{
    char *scheme = NULL, *host = NULL, *port = NULL;
    int rc = PF_EINVAL;

    if (curl_url_get(h, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
        curl_url_get(h, CURLUPART_HOST, &host, 0) == CURLUE_OK &&
        curl_url_get(h, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) == CURLUE_OK) {
        for (char *c = host; *c != '\0'; c++)
            *c = (*c >= 'A' && *c <= 'Z') ? (char)(*c - 'A' + 'a') : *c;
        int n = snprintf(buf, len, "%s://%s:%s", scheme, host, port);
        rc = n > 0 && (size_t)n < len ? PF_OK : PF_EINVAL;
    }
    curl_free(scheme);
    curl_free(host);
    curl_free(port);
    return rc;
}

void fetch_url_safe(const char *url, char *buf, size_t len)
{
    CURLU *h = curl_url();

    if (len == 0)
        return;
    snprintf(buf, len, "<bad url>");
    if (h == NULL)
        return;
    if (curl_url_set(h, CURLUPART_URL, url, 0) != CURLUE_OK || fetch_origin(h, buf, len) != PF_OK)
        snprintf(buf, len, "<bad url>");
    curl_url_cleanup(h);
}

int fetch_url_next(const char *base, const char *ref, char *out, size_t len)
{
    char origin[600], next_origin[600];       /* scheme, a 253-byte name, a port */
    CURLU *h = curl_url();
    char *url = NULL;
    int rc = PF_EINVAL;

    if (len > 0)
        out[0] = '\0';
    if (h == NULL)
        return PF_ENOMEM;
    /* Setting a relative URL on a handle holding <base> resolves it (RFC 3986). */
    if (curl_url_set(h, CURLUPART_URL, base, 0) != CURLUE_OK ||
        fetch_origin(h, origin, sizeof(origin)) != PF_OK ||
        curl_url_set(h, CURLUPART_URL, ref, 0) != CURLUE_OK ||
        fetch_origin(h, next_origin, sizeof(next_origin)) != PF_OK ||
        curl_url_get(h, CURLUPART_URL, &url, 0) != CURLUE_OK)
        goto done;
    if (strcmp(origin, next_origin) != 0) {
        rc = PF_EDENIED;
        goto done;
    }
    if (strlen(url) >= len) {
        rc = PF_ERANGE;
        goto done;
    }
    memcpy(out, url, strlen(url) + 1);
    rc = PF_OK;
done:
    curl_free(url);
    curl_url_cleanup(h);
    return rc;
}

static void fetch_sock_free(struct fetch *f, struct fetch_sock *s)
{
    if (s->prev != NULL)
        s->prev->next = s->next;
    else
        f->socks = s->next;
    if (s->next != NULL)
        s->next->prev = s->prev;
    if (s->ev != NULL)
        event_free(s->ev);
    free(s);
}

static void fetch_event_cb(evutil_socket_t fd, short what, void *arg)
{
    struct fetch_sock *s = arg;
    struct fetch *f = s->f;
    int running = 0;
    int action = ((what & EV_READ) ? CURL_CSELECT_IN : 0) |
                 ((what & EV_WRITE) ? CURL_CSELECT_OUT : 0);

    /* <s> may be freed by the socket callback inside this call. */
    curl_multi_socket_action(f->multi, fd, action, &running);
    fetch_check_done(f);
}

static void fetch_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    struct fetch *f = arg;
    int running = 0;

    (void)fd;
    (void)what;
    curl_multi_socket_action(f->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    fetch_check_done(f);
}

static int fetch_socket_cb(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
    struct fetch *f = userp;
    struct fetch_sock *s = socketp;

    (void)easy;
    if (what == CURL_POLL_REMOVE) {
        if (s != NULL) {
            curl_multi_assign(f->multi, fd, NULL);
            fetch_sock_free(f, s);
        }
        return 0;
    }
    if (s == NULL) {
        s = calloc(1, sizeof(*s));
        if (s == NULL)
            return -1;
        s->fd = fd;
        s->f = f;
        s->next = f->socks;
        if (f->socks != NULL)
            f->socks->prev = s;
        f->socks = s;
        curl_multi_assign(f->multi, fd, s);
    } else if (s->ev != NULL) {
        event_free(s->ev);
        s->ev = NULL;
    }
    short kind = EV_PERSIST | ((what & CURL_POLL_IN) ? EV_READ : 0) |
                 ((what & CURL_POLL_OUT) ? EV_WRITE : 0);
    s->ev = event_new(f->base, fd, kind, fetch_event_cb, s);
    if (s->ev == NULL || event_add(s->ev, NULL) != 0) {
        log_error("fetch: cannot watch fd %d", (int)fd);
        return -1;
    }
    return 0;
}

static int fetch_timer_set_cb(CURLM *multi, long timeout_ms, void *userp)
{
    struct fetch *f = userp;

    (void)multi;
    if (timeout_ms < 0) {
        evtimer_del(f->timer);
        return 0;
    }
    /* Never call curl_multi_socket_action() from here: a 0 timeout runs
     * from the loop on its next turn. */
    struct timeval tv = { timeout_ms / 1000, (timeout_ms % 1000) * 1000 };
    return evtimer_add(f->timer, &tv) == 0 ? 0 : -1;
}

static size_t fetch_write_cb(char *data, size_t size, size_t nmemb, void *userp)
{
    struct fetch_req *r = userp;
    size_t n = size * nmemb;

    if ((int64_t)(r->body_len + n) > r->max_body_bytes) {
        r->is_over_cap = 1;
        return 0;   /* aborts the transfer with CURLE_WRITE_ERROR */
    }
    if (r->body_len + n + 1 > r->body_cap) {
        size_t cap = r->body_cap ? r->body_cap : 4096;
        while (cap < r->body_len + n + 1)
            cap *= 2;
        char *p = realloc(r->body, cap);
        if (p == NULL)
            return 0;
        r->body = p;
        r->body_cap = cap;
    }
    memcpy(r->body + r->body_len, data, n);
    r->body_len += n;
    r->body[r->body_len] = '\0';
    return n;
}

static void fetch_req_free(struct fetch *f, struct fetch_req *r)
{
    if (r == NULL)
        return;
    if (r->prev != NULL)
        r->prev->next = r->next;
    else
        f->reqs = r->next;
    if (r->next != NULL)
        r->next->prev = r->prev;
    if (r->easy != NULL) {
        curl_multi_remove_handle(f->multi, r->easy);
        curl_easy_cleanup(r->easy);
    }
    curl_slist_free_all(r->headers);
    free(r->body);
    free(r);
}

/* Describes failed transfer <code> of <easy> from what we know, never from
 * curl's error buffer (which may quote the URL, its userinfo and query):
 * curl's fixed text for the code, the address dialed, the time taken and a
 * proxy's CONNECT status. E.g. "Timeout was reached after 2001 ms (127.0.0.1:9)". */
static void fetch_error_text(CURL *easy, CURLcode code, char *buf, size_t len)
{
    char *ip = NULL;
    long port = 0, connect_status = 0;
    curl_off_t total_us = 0;
    int n = snprintf(buf, len, "%s", curl_easy_strerror(code));
    size_t o = n > 0 ? PF_MIN_OF((size_t)n, len - 1) : 0;

    if (code == CURLE_OPERATION_TIMEDOUT &&
        curl_easy_getinfo(easy, CURLINFO_TOTAL_TIME_T, &total_us) == CURLE_OK && o < len) {
        n = snprintf(buf + o, len - o, " after %lld ms", (long long)(total_us / 1000));
        o = n > 0 ? PF_MIN_OF(o + (size_t)n, len - 1) : o;
    }
    if (curl_easy_getinfo(easy, CURLINFO_PRIMARY_IP, &ip) == CURLE_OK && ip != NULL &&
        ip[0] != '\0' && curl_easy_getinfo(easy, CURLINFO_PRIMARY_PORT, &port) == CURLE_OK &&
        o < len) {
        n = snprintf(buf + o, len - o, strchr(ip, ':') != NULL ? " ([%s]:%ld)" : " (%s:%ld)",
                     ip, port);
        o = n > 0 ? PF_MIN_OF(o + (size_t)n, len - 1) : o;
    }
    if (curl_easy_getinfo(easy, CURLINFO_HTTP_CONNECTCODE, &connect_status) == CURLE_OK &&
        connect_status != 0 && o < len)
        snprintf(buf + o, len - o, ", proxy CONNECT answered %ld", connect_status);
}

static void fetch_finish(struct fetch *f, struct fetch_req *r, CURLcode code)
{
    struct fetch_result res;
    char error[FETCH_ERROR_MAX] = "";
    char retry_after[FETCH_HEADER_MAX] = "";
    struct curl_header *h = NULL;
    long status = 0;

    curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &status);
    if (curl_easy_header(r->easy, "Retry-After", 0, CURLH_HEADER, -1, &h) == CURLHE_OK &&
        h != NULL && h->value != NULL) {
        str_sanitize_text(h->value, strlen(h->value), 0, retry_after, sizeof(retry_after));
    }
    if (r->is_over_cap || code == CURLE_FILESIZE_EXCEEDED) {
        r->is_over_cap = 1;
        snprintf(error, sizeof(error), "body over %lld bytes", (long long)r->max_body_bytes);
    } else if (code != CURLE_OK) {
        fetch_error_text(r->easy, code, error, sizeof(error));
    }
    res.err = fetch_error_from_curl(r->is_over_cap ? (int)CURLE_FILESIZE_EXCEEDED : (int)code);
    res.http_status = status;
    res.body = r->body != NULL ? r->body : "";
    res.body_len = r->body_len;
    res.retry_after = retry_after;
    res.error = error;
    r->cb(r, &res, r->arg);
    fetch_req_free(f, r);
}

static void fetch_check_done(struct fetch *f)
{
    CURLMsg *msg;
    int left = 0;

    while ((msg = curl_multi_info_read(f->multi, &left)) != NULL) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        char *priv = NULL;
        CURLcode code = msg->data.result;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &priv);
        if (priv != NULL)
            fetch_finish(f, (struct fetch_req *)(void *)priv, code);
    }
}

struct fetch *fetch_create(struct event_base *base)
{
    struct fetch *f = calloc(1, sizeof(*f));

    if (f == NULL)
        goto fail;
    f->base = base;
    f->multi = curl_multi_init();
    if (f->multi == NULL)
        goto fail;
    f->timer = evtimer_new(base, fetch_timer_cb, f);
    if (f->timer == NULL)
        goto fail;
    curl_multi_setopt(f->multi, CURLMOPT_SOCKETFUNCTION, fetch_socket_cb);
    curl_multi_setopt(f->multi, CURLMOPT_SOCKETDATA, f);
    curl_multi_setopt(f->multi, CURLMOPT_TIMERFUNCTION, fetch_timer_set_cb);
    curl_multi_setopt(f->multi, CURLMOPT_TIMERDATA, f);
    return f;

fail:
    fetch_destroy(f);
    return NULL;
}

void fetch_destroy(struct fetch *f)
{
    if (f == NULL)
        return;
    while (f->reqs != NULL)
        fetch_req_free(f, f->reqs);
    if (f->multi != NULL)
        curl_multi_cleanup(f->multi);
    while (f->socks != NULL)
        fetch_sock_free(f, f->socks);
    if (f->timer != NULL)
        event_free(f->timer);
    free(f);
}

/* Appends "<name>: <value>" to r->headers; the temporary copy is wiped as
 * the value may be an API key. Returns PF_OK or PF_ENOMEM. */
static int fetch_add_header(struct fetch_req *r, const char *name, const char *value)
{
    size_t n = strlen(name) + strlen(value) + 3;
    char *line = malloc(n);
    struct curl_slist *l;

    if (line == NULL)
        return PF_ENOMEM;
    snprintf(line, n, "%s: %s", name, value);
    l = curl_slist_append(r->headers, line);
    memset(line, 0, n);
    free(line);
    if (l == NULL)
        return PF_ENOMEM;
    r->headers = l;
    return PF_OK;
}

/* Links <r> into <f>'s list and hands it to the multi handle, unless setting
 * its options failed (<rc>). Returns <r>, or NULL after freeing it. */
static struct fetch_req *fetch_submit(struct fetch *f, struct fetch_req *r, CURLcode rc)
{
    r->next = f->reqs;
    if (f->reqs != NULL)
        f->reqs->prev = r;
    f->reqs = r;
    if (rc != CURLE_OK) {
        log_error("fetch: curl option failed: %s", curl_easy_strerror(rc));
        fetch_req_free(f, r);
        return NULL;
    }
    if (curl_multi_add_handle(f->multi, r->easy) != CURLM_OK) {
        curl_easy_cleanup(r->easy);
        r->easy = NULL;
        fetch_req_free(f, r);
        return NULL;
    }
    return r;
}

/* Allocates a request for <url> with the options every request shares:
 * timeouts from <opts>, no redirects, http(s) only, no signals, our User-Agent;
 * the body goes to <write_cb>. <*rc> carries the first option failure (the
 * caller adds its own options, then fetch_submit() checks it). Returns NULL
 * only when allocation fails. */
static struct fetch_req *fetch_req_new(struct fetch *f, const char *url,
                                       const struct fetch_opts *opts, curl_write_callback write_cb,
                                       int64_t max_body_bytes, fetch_done_cb cb, void *arg,
                                       CURLcode *rc)
{
    struct fetch_req *r = calloc(1, sizeof(*r));

    if (r == NULL)
        return NULL;
    r->f = f;
    r->cb = cb;
    r->arg = arg;
    r->max_body_bytes = max_body_bytes;
    r->easy = curl_easy_init();
    if (r->easy == NULL) {
        free(r);
        return NULL;
    }
#define FETCH_SETOPT(opt, val) do { if (*rc == CURLE_OK) *rc = curl_easy_setopt(r->easy, opt, val); } while (0)
    FETCH_SETOPT(CURLOPT_URL, url);
    FETCH_SETOPT(CURLOPT_PRIVATE, (void *)r);
    FETCH_SETOPT(CURLOPT_WRITEFUNCTION, write_cb);
    FETCH_SETOPT(CURLOPT_WRITEDATA, (void *)r);
    FETCH_SETOPT(CURLOPT_TIMEOUT_MS, (long)opts->timeout_ms);
    FETCH_SETOPT(CURLOPT_CONNECTTIMEOUT_MS, (long)opts->connect_timeout_ms);
    FETCH_SETOPT(CURLOPT_FOLLOWLOCATION, 0L);
    FETCH_SETOPT(CURLOPT_PROTOCOLS_STR, "http,https");
    FETCH_SETOPT(CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    FETCH_SETOPT(CURLOPT_NOSIGNAL, 1L);
    FETCH_SETOPT(CURLOPT_USERAGENT, FETCH_USER_AGENT);
#undef FETCH_SETOPT
    return r;
}

struct fetch_req *fetch_start(struct fetch *f, const char *url, const struct fetch_opts *opts,
                              fetch_done_cb cb, void *arg)
{
    CURLcode rc = CURLE_OK;
    struct fetch_req *r = fetch_req_new(f, url, opts, fetch_write_cb,
                                        opts->max_body_bytes > 0 ? opts->max_body_bytes : 1048576,
                                        cb, arg, &rc);
    if (r == NULL)
        return NULL;
#define FETCH_SETOPT(opt, val) do { if (rc == CURLE_OK) rc = curl_easy_setopt(r->easy, opt, val); } while (0)
    FETCH_SETOPT(CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)r->max_body_bytes);
    if (opts->is_post) {
        FETCH_SETOPT(CURLOPT_POST, 1L);
        FETCH_SETOPT(CURLOPT_POSTFIELDSIZE, (long)(opts->post_body ? strlen(opts->post_body) : 0));
        FETCH_SETOPT(CURLOPT_COPYPOSTFIELDS, opts->post_body != NULL ? opts->post_body : "");
        if (opts->content_type != NULL && opts->content_type[0] != '\0' &&
            fetch_add_header(r, "Content-Type", opts->content_type) != PF_OK)
            rc = CURLE_OUT_OF_MEMORY;
    }
    if (opts->header_name != NULL && opts->header_name[0] != '\0' &&
        fetch_add_header(r, opts->header_name,
                         opts->header_value != NULL ? opts->header_value : "") != PF_OK)
        rc = CURLE_OUT_OF_MEMORY;
    if (r->headers != NULL)
        FETCH_SETOPT(CURLOPT_HTTPHEADER, r->headers);
    if (opts->basic_user != NULL) {
        FETCH_SETOPT(CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
        FETCH_SETOPT(CURLOPT_USERNAME, opts->basic_user);
        FETCH_SETOPT(CURLOPT_PASSWORD, opts->basic_pass != NULL ? opts->basic_pass : "");
    }
#undef FETCH_SETOPT
    return fetch_submit(f, r, rc);
}

void fetch_cancel(struct fetch *f, struct fetch_req *req)
{
    if (f == NULL || req == NULL)
        return;
    fetch_req_free(f, req);
}

static size_t fetch_discard_cb(char *data, size_t size, size_t nmemb, void *userp)
{
    (void)data;
    (void)userp;
    return size * nmemb;
}

struct fetch_req *fetch_start_via(struct fetch *f, const char *url, const struct fetch_opts *opts,
                                  const struct fetch_proxy *proxy, fetch_done_cb cb, void *arg)
{
    CURLcode rc = CURLE_OK;
    struct fetch_req *r = fetch_req_new(f, url, opts, fetch_discard_cb, INT64_MAX, cb, arg, &rc);
    if (r == NULL)
        return NULL;
#define FETCH_SETOPT(opt, val) do { if (rc == CURLE_OK) rc = curl_easy_setopt(r->easy, opt, val); } while (0)
    FETCH_SETOPT(CURLOPT_PROXY, proxy->url);
    /* "" = the proxy for every host, whatever no_proxy says. */
    FETCH_SETOPT(CURLOPT_NOPROXY, "");
    if (proxy->user != NULL && proxy->user[0] != '\0') {
        FETCH_SETOPT(CURLOPT_PROXYUSERNAME, proxy->user);
        FETCH_SETOPT(CURLOPT_PROXYPASSWORD, proxy->pass != NULL ? proxy->pass : "");
    }
    /* Only replaces the trust store: the proxy's certificate and name are
     * still verified (CURLOPT_PROXY_SSL_VERIFYPEER/HOST stay on). */
    if (proxy->ca_file != NULL && proxy->ca_file[0] != '\0')
        FETCH_SETOPT(CURLOPT_PROXY_CAINFO, proxy->ca_file);
    /* Fresh connections: a probe must measure this upstream now, not reuse
     * a tunnel opened by an earlier one. */
    FETCH_SETOPT(CURLOPT_FORBID_REUSE, 1L);
    FETCH_SETOPT(CURLOPT_FRESH_CONNECT, 1L);
#undef FETCH_SETOPT
    return fetch_submit(f, r, rc);
}

int64_t fetch_req_total_us(const struct fetch_req *req)
{
    curl_off_t us = 0;

    if (req == NULL || req->easy == NULL ||
        curl_easy_getinfo(req->easy, CURLINFO_TOTAL_TIME_T, &us) != CURLE_OK)
        return 0;
    return (int64_t)us;
}
