/* What went wrong with a fetch (fetch.h), in the controller's own words:
 * libcurl's codes stay inside fetch.c and this mapping. Callers decide what
 * each kind means to them (a provider poll counts every one as transient;
 * a health probe tells timeouts and refused connects apart). */
#ifndef PF_FETCH_ERROR_H
#define PF_FETCH_ERROR_H

enum fetch_error {
    FETCH_OK = 0,               /* the transfer completed (whatever the HTTP status) */
    FETCH_ERR_TIMEOUT,          /* the request or connect deadline passed */
    FETCH_ERR_CONNECT,          /* the server or proxy refused or was unreachable */
    FETCH_ERR_RESOLVE,          /* the host name did not resolve */
    FETCH_ERR_TOO_BIG,          /* the body went over max_body_bytes */
    FETCH_ERR_OTHER,            /* anything else: TLS, proxy handshake, reset, protocol */
    FETCH_ERR__COUNT
};

/* The fetch_error of libcurl result <curl_code> (a CURLcode). */
enum fetch_error fetch_error_from_curl(int curl_code);

/* "ok", "timeout", "connect", "resolve", "too_big" or "other". */
const char *fetch_error_name(enum fetch_error e);

#endif
