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
