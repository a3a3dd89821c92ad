/* Unit tests of controller/fetch.c's pure URL helpers: the origin a log
 * line may show, and the next-page link resolution with its same-origin
 * rule (the credentials of a provider go to that provider only). */
#include <criterion/criterion.h>
#include <string.h>

#include "fetch.h"

Test(fetch, url_safe_is_the_origin_only)
{
    static const struct { const char *url, *out; } cases[] = {
        { "https://api.example.com/get?key=K-123&num=5", "https://api.example.com:443" },
        { "http://u:pw-SECRET@api.example.com:8080/k/SECRETPATH123456/list", "http://api.example.com:8080" },
        { "HTTP://API.Example.COM/x#frag", "http://api.example.com:80" },
        { "not a url", "<bad url>" },
    };
    for (size_t i = 0; i < PF_ARRAY_LEN(cases); i++) {
        char buf[256];
        fetch_url_safe(cases[i].url, buf, sizeof(buf));
        cr_expect_str_eq(buf, cases[i].out, "case %zu", i);
    }
}

struct next_case {
    const char *base;
    const char *ref;
    int         rc;
    const char *out;
};

Test(fetch, url_next_table)
{
    static const struct next_case cases[] = {
        { "https://proxy.webshare.io/api/v2/proxy/list/?mode=direct&page=1&page_size=25",
          "https://proxy.webshare.io/api/v2/proxy/list/?mode=direct&page=2&page_size=25", PF_OK,
          "https://proxy.webshare.io/api/v2/proxy/list/?mode=direct&page=2&page_size=25" },
        { "http://127.0.0.1:8000/list?page=1", "?page=2", PF_OK, "http://127.0.0.1:8000/list?page=2" },
        { "http://127.0.0.1:8000/a/list?page=1", "/b/list?page=2", PF_OK, "http://127.0.0.1:8000/b/list?page=2" },
        { "http://127.0.0.1:8000/a/list?page=1", "next?page=2", PF_OK, "http://127.0.0.1:8000/a/next?page=2" },
        { "http://127.0.0.1:8000/list", "HTTP://127.0.0.1:8000/list?p=2", PF_OK, "http://127.0.0.1:8000/list?p=2" },
        { "https://api.example.com/l", "https://api.example.com:443/l?p=2", PF_OK, "https://api.example.com:443/l?p=2" },
        /* another origin: never followed */
        { "http://127.0.0.1:8000/list", "http://127.0.0.1:8001/list?page=2", PF_EDENIED, "" },
        { "http://127.0.0.1:8000/list", "http://evil.example/list?page=2", PF_EDENIED, "" },
        { "http://127.0.0.1:8000/list", "//evil.example/list", PF_EDENIED, "" },
        { "https://api.example.com/l", "http://api.example.com/l?p=2", PF_EDENIED, "" },
        { "http://127.0.0.1:8000/list", "ftp://127.0.0.1:8000/list", PF_EDENIED, "" },
        { "http://127.0.0.1:8000/list", "http://[::1", PF_EINVAL, "" },
    };
    for (size_t i = 0; i < PF_ARRAY_LEN(cases); i++) {
        char out[256];
        int rc = fetch_url_next(cases[i].base, cases[i].ref, out, sizeof(out));
        cr_expect_eq(rc, cases[i].rc, "case %zu: rc %d", i, rc);
        if (rc == PF_OK)
            cr_expect_str_eq(out, cases[i].out, "case %zu", i);
        else
            cr_expect_str_eq(out, "", "case %zu: nothing written", i);
    }
    char tiny[16];
    cr_expect_eq(fetch_url_next("http://127.0.0.1:8000/list", "?page=2", tiny, sizeof(tiny)),
                 PF_ERANGE);
}
