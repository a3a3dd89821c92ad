/* Unit tests of controller/fetch_error.c: libcurl codes to fetch errors,
 * and each kind's name. */
#include <criterion/criterion.h>
#include <string.h>

#include <curl/curl.h>

#include "fetch_error.h"

struct curl_case {
    int  code;
    int  want;
    char name[16];
};

Test(fetch_error, curl_codes_map_to_kinds)
{
    static const struct curl_case cases[] = {
        { CURLE_OK, FETCH_OK, "ok" },
        { CURLE_OPERATION_TIMEDOUT, FETCH_ERR_TIMEOUT, "timeout" },
        { CURLE_COULDNT_CONNECT, FETCH_ERR_CONNECT, "connect" },
        { CURLE_COULDNT_RESOLVE_PROXY, FETCH_ERR_CONNECT, "connect" },
        { CURLE_COULDNT_RESOLVE_HOST, FETCH_ERR_RESOLVE, "resolve" },
        { CURLE_FILESIZE_EXCEEDED, FETCH_ERR_TOO_BIG, "too_big" },
        { CURLE_WRITE_ERROR, FETCH_ERR_OTHER, "other" },
        { CURLE_SSL_CONNECT_ERROR, FETCH_ERR_OTHER, "other" },
        { CURLE_PEER_FAILED_VERIFICATION, FETCH_ERR_OTHER, "other" },
        { CURLE_RECV_ERROR, FETCH_ERR_OTHER, "other" },
        { CURLE_GOT_NOTHING, FETCH_ERR_OTHER, "other" },
        { CURLE_PROXY, FETCH_ERR_OTHER, "other" },
        { CURLE_UNSUPPORTED_PROTOCOL, FETCH_ERR_OTHER, "other" },
        { 9999, FETCH_ERR_OTHER, "other" },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        enum fetch_error e = fetch_error_from_curl(cases[i].code);
        cr_expect_eq(e, cases[i].want, "curl code %d: %d", cases[i].code, e);
        cr_expect_str_eq(fetch_error_name(e), cases[i].name, "curl code %d", cases[i].code);
    }
}

Test(fetch_error, every_kind_has_its_own_name)
{
    for (int a = 0; a < FETCH_ERR__COUNT; a++) {
        cr_expect_neq(fetch_error_name((enum fetch_error)a)[0], '\0');
        for (int b = a + 1; b < FETCH_ERR__COUNT; b++)
            cr_expect_str_neq(fetch_error_name((enum fetch_error)a),
                              fetch_error_name((enum fetch_error)b));
    }
    cr_expect_str_eq(fetch_error_name(FETCH_ERR__COUNT), "other");
}
