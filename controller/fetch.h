/* HTTP GET of provider APIs: libcurl's multi interface driven by the
 * controller's libevent loop (CURLMOPT_SOCKETFUNCTION/TIMERFUNCTION +
 * curl_multi_socket_action). No threads of ours, nothing blocks the loop.
 * This file is the only libcurl/libevent glue of the controller; results
 * carry a fetch_error (fetch_error.h), never a libcurl code. */
#ifndef PF_FETCH_H
#define PF_FETCH_H

#include <stddef.h>
#include <stdint.h>

#include "fetch_error.h"
#include "pf.h"

struct event_base;
struct fetch;
struct fetch_req;

#define FETCH_USER_AGENT  "proxyfleet-controller/0.1"
#define FETCH_ERROR_MAX   256
#define FETCH_HEADER_MAX  64

struct fetch_opts {
    int      timeout_ms;          /* whole request, CURLOPT_TIMEOUT_MS */
    int      connect_timeout_ms;  /* CURLOPT_CONNECTTIMEOUT_MS */
    int64_t  max_body_bytes;      /* the transfer is aborted past this */
    int      is_post;             /* POST <post_body> instead of GET */
    const char *post_body;        /* POST only, may be NULL; copied */
    const char *content_type;     /* POST only, NULL or "" = none; copied */
    const char *header_name;      /* NULL = no extra header, e.g. "X-Api-Key" */
    const char *header_value;     /* secret: never logged; copied */
    const char *basic_user;       /* NULL = no basic auth */
    const char *basic_pass;       /* secret: never logged; copied */
};

/* What a finished request reports. Everything is borrowed for the duration
 * of the callback only. */
struct fetch_result {
    enum fetch_error err;                      /* FETCH_OK = transfer completed */
    long         http_status;                  /* 0 when no response */
    const char  *body;                         /* NUL-terminated, may hold NULs */
    size_t       body_len;
    const char  *retry_after;                  /* Retry-After header value, "" if none */
    const char  *error;                        /* "" on success, else a reason built from the
                                                  CURLcode and the address dialed, never from
                                                  the URL: "body over 1048576 bytes",
                                                  "Couldn't connect to server (127.0.0.1:9)" */
};

/* Called once per request that completes (never for a cancelled one). The
 * request is freed by fetch right after: do not keep <req>. */
typedef void (*fetch_done_cb)(struct fetch_req *req, const struct fetch_result *res, void *arg);

/* Creates a fetcher on <base> (borrowed). curl_global_init() must have run.
 * Returns NULL on failure. */
struct fetch *fetch_create(struct event_base *base);

/* Cancels every request in flight (no callbacks) and frees <f> (accepts NULL). */
void fetch_destroy(struct fetch *f);

/* Starts a GET (or POST, opts->is_post) of <url> with <opts>; <cb>(<arg>)
 * runs on completion from the event loop, never from inside this call. Redirects are not followed, only
 * http and https are allowed. Returns the request (owned by <f>; valid until
 * its callback returns or fetch_cancel()) or NULL on failure. */
struct fetch_req *fetch_start(struct fetch *f, const char *url, const struct fetch_opts *opts,
                              fetch_done_cb cb, void *arg);

/* Aborts <req> without calling its callback and frees it (accepts NULL). */
void fetch_cancel(struct fetch *f, struct fetch_req *req);

/* Writes the origin "scheme://host:port" of <url> into <buf> of <len>: no
 * userinfo, path, query or fragment, so an API key cannot reach a log line
 * whichever part of the URL carries it. Writes "<bad url>" when <url> does
 * not parse. Always NUL-terminates. */
void fetch_url_safe(const char *url, char *buf, size_t len);

/* Resolves the next-page link <ref> (absolute, or relative to <base> as
 * RFC 3986 says: "?page=2", "/list?page=2") into <out> of <len>. The result
 * must have the origin (scheme, host, port) of <base>: the request that
 * follows carries the provider's credentials, which must not go anywhere
 * else. Returns PF_OK, PF_EDENIED for another origin, PF_EINVAL when
 * either does not parse, PF_ERANGE when it does not fit, PF_ENOMEM. Never
 * writes the URL anywhere else. */
int fetch_url_next(const char *base, const char *ref, char *out, size_t len) PF_MUSTCHECK;

/* The upstream proxy of a request made through it (health probes). */
struct fetch_proxy {
    const char *url;              /* "scheme://host:port": http, https, socks5, socks5h */
    const char *user;             /* "" = none; never logged */
    const char *pass;             /* "" = none; never logged */
    const char *ca_file;          /* https proxies: CA bundle for the proxy's certificate,
                                     NULL or "" = system CAs; always verified */
};

/* Like fetch_start(), through <proxy> (borrowed for the call only), and the
 * response body is discarded (the result's body is "", body_len 0). Redirects
 * are not followed. Returns the request or NULL on failure. */
struct fetch_req *fetch_start_via(struct fetch *f, const char *url, const struct fetch_opts *opts,
                                  const struct fetch_proxy *proxy, fetch_done_cb cb, void *arg);

/* Whole transfer time of <req> in microseconds (CURLINFO_TOTAL_TIME_T);
 * meaningful inside its done callback. 0 when unknown. */
int64_t fetch_req_total_us(const struct fetch_req *req);

#endif
