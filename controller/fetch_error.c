/* libcurl codes to fetch errors; see fetch_error.h. */
#include "fetch_error.h"

#include <curl/curl.h>

enum fetch_error fetch_error_from_curl(int curl_code)
{
    switch ((CURLcode)curl_code) {
    case CURLE_OK:
        return FETCH_OK;
    case CURLE_OPERATION_TIMEDOUT:
        return FETCH_ERR_TIMEOUT;
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_PROXY:
        /* A proxy that does not resolve is as unreachable as one that
         * refuses: for a probe through an upstream, both mean "connect". */
        return FETCH_ERR_CONNECT;
    case CURLE_COULDNT_RESOLVE_HOST:
        return FETCH_ERR_RESOLVE;
    case CURLE_FILESIZE_EXCEEDED:
        return FETCH_ERR_TOO_BIG;
    default:
        return FETCH_ERR_OTHER;
    }
}

const char *fetch_error_name(enum fetch_error e)
{
    static const char *const names[FETCH_ERR__COUNT] = {
        "ok", "timeout", "connect", "resolve", "too_big", "other",
    };
    return (unsigned)e < FETCH_ERR__COUNT ? names[e] : "other";
}
