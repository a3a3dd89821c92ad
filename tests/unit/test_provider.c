/* Unit tests of controller/provider.c: how a successful answer becomes the
 * provider's last-known-good set (dedup, expiry). */
#include <criterion/criterion.h>
#include <event2/event.h>
#include <stdio.h>
#include <string.h>

#include "conf.h"
#include "provider.h"

static struct upstream upstream_at(int port, int64_t expires_at_ms)
{
    struct upstream u;
    memset(&u, 0, sizeof(u));
    u.scheme = UPSTREAM_HTTP;
    u.host_kind = UPSTREAM_HOST_IPV4;
    snprintf(u.host, sizeof(u.host), "203.0.113.7");
    u.port = (uint16_t)port;
    u.weight = 1;
    u.expires_at_ms = expires_at_ms;
    return u;
}

struct fixture {
    struct event_base *base;
    struct conf_provider conf;
    struct provider *p;
};

static void fixture_open(struct fixture *fx, int ttl_s)
{
    memset(fx, 0, sizeof(*fx));
    fx->base = event_base_new();
    cr_assert_not_null(fx->base);
    snprintf(fx->conf.name, sizeof(fx->conf.name), "a");
    fx->conf.type = CONF_PROVIDER_API;
    fx->conf.ttl_s = ttl_s;
    fx->p = provider_create(fx->base, NULL, &fx->conf, 0, NULL, NULL);
    cr_assert_not_null(fx->p);
}

static void fixture_close(struct fixture *fx)
{
    provider_destroy(fx->p);
    event_base_free(fx->base);
}

/* "now + 600 s" from the provider on every poll must not move the published
 * expiry each time (each move is a new pool version on every node). */
Test(provider, sliding_provider_expiry_is_published_lazily)
{
    struct fixture fx;
    fixture_open(&fx, 300);
    int64_t now = 1000000;
    struct upstream u = upstream_at(8080, now + 600000);
    cr_assert_eq(provider_apply_success(fx.p, &u, 1, now), PF_OK);
    cr_expect_eq(fx.p->entries[0].u.expires_at_ms, now + 600000);
    /* 10 s later: the provider says now + 600 s again; the known expiry has
     * 590 s left, more than half the new lifetime: kept */
    u = upstream_at(8080, now + 10000 + 600000);
    cr_assert_eq(provider_apply_success(fx.p, &u, 1, now + 10000), PF_OK);
    cr_expect_eq(fx.p->entries[0].u.expires_at_ms, now + 600000);
    /* 320 s later: 280 s left, less than half: the extension is taken */
    u = upstream_at(8080, now + 320000 + 600000);
    cr_assert_eq(provider_apply_success(fx.p, &u, 1, now + 320000), PF_OK);
    cr_expect_eq(fx.p->entries[0].u.expires_at_ms, now + 320000 + 600000);
    /* a shorter expiry is taken at once */
    u = upstream_at(8080, now + 330000 + 5000);
    cr_assert_eq(provider_apply_success(fx.p, &u, 1, now + 330000), PF_OK);
    cr_expect_eq(fx.p->entries[0].u.expires_at_ms, now + 330000 + 5000);
    fixture_close(&fx);
}

Test(provider, ttl_expiry_slides_lazily_and_duplicates_collapse)
{
    struct fixture fx;
    fixture_open(&fx, 100);
    int64_t now = 5000000;
    struct upstream two[2] = { upstream_at(3128, 0), upstream_at(3128, 0) };
    cr_assert_eq(provider_apply_success(fx.p, two, 2, now), PF_OK);
    cr_expect_eq(fx.p->nentries, 1);
    cr_expect_eq(fx.p->entries[0].u.expires_at_ms, now + 100000);
    cr_assert_eq(provider_apply_success(fx.p, two, 1, now + 40000), PF_OK);
    cr_expect_eq(fx.p->entries[0].u.expires_at_ms, now + 100000);
    cr_assert_eq(provider_apply_success(fx.p, two, 1, now + 60000), PF_OK);
    cr_expect_eq(fx.p->entries[0].u.expires_at_ms, now + 60000 + 100000);
    fixture_close(&fx);
}

Test(provider, static_upstreams_never_expire)
{
    struct fixture fx;
    fixture_open(&fx, 100);
    fx.conf.type = CONF_PROVIDER_STATIC;
    struct upstream u = upstream_at(3128, 123456);
    cr_assert_eq(provider_apply_success(fx.p, &u, 1, 1000), PF_OK);
    cr_expect_eq(fx.p->entries[0].u.expires_at_ms, 0);
    fixture_close(&fx);
}

/* The request's secrets are collected from the config (query values raw
 * and decoded, long path segments, URL password, auth header value and
 * password) and redacted from any text before it is logged or stored. */
Test(provider, secrets_are_collected_and_redacted)
{
    struct fixture fx;
    memset(&fx, 0, sizeof(fx));
    fx.base = event_base_new();
    cr_assert_not_null(fx.base);
    snprintf(fx.conf.name, sizeof(fx.conf.name), "s");
    fx.conf.type = CONF_PROVIDER_API;
    snprintf(fx.conf.url, sizeof(fx.conf.url), "https://u:pw-URL-1@api.example.com/v1/"
             "PATHKEY-0123456789/list?key=k-APIKEY-2718&num=5&sig=s%%2FSECRET%%3D31");
    snprintf(fx.conf.request_body, sizeof(fx.conf.request_body),
             "{\"api_key\":\"BODYKEY-0123456789\",\"count\":10}");
    fx.conf.auth.kind = CONF_AUTH_HEADER;
    snprintf(fx.conf.auth.name, sizeof(fx.conf.auth.name), "Authorization");
    snprintf(fx.conf.auth.value, sizeof(fx.conf.auth.value), "Token tok-SECRET-99");
    fx.p = provider_create(fx.base, NULL, &fx.conf, 0, NULL, NULL);
    cr_assert_not_null(fx.p);
    char buf[PF_ERR_MSG_LEN];
    provider_redact(fx.p, "HTTP 401 (body: 'bad key k-APIKEY-2718, sig s/SECRET=31, "
                    "Token tok-SECRET-99, pw-URL-1, PATHKEY-0123456789')", buf, sizeof(buf));
    cr_expect(strstr(buf, "APIKEY") == NULL, "%s", buf);
    cr_expect(strstr(buf, "SECRET") == NULL, "%s", buf);
    cr_expect(strstr(buf, "pw-URL-1") == NULL, "%s", buf);
    cr_expect(strstr(buf, "PATHKEY") == NULL, "%s", buf);
    cr_expect(strstr(buf, "HTTP 401 (body: 'bad key (13 bytes)") != NULL, "%s", buf);
    provider_redact(fx.p, "no such key BODYKEY-0123456789 for count", buf, sizeof(buf));
    cr_expect_str_eq(buf, "no such key (18 bytes) for count");
    /* "num=5" is too short to be a key and stays */
    provider_redact(fx.p, "num 5 of 5", buf, sizeof(buf));
    cr_expect_str_eq(buf, "num 5 of 5");
    /* the failure reason stored for Redis goes through it too */
    provider_apply_failure(fx.p, "invalid key k-APIKEY-2718", PROVIDER_ERR_FATAL, 1000);
    cr_expect_str_eq(fx.p->last_error, "invalid key (13 bytes)");
    fixture_close(&fx);
}
