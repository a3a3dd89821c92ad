"""The recipes of docs/providers.md, each end to end: the fake provider
serves that provider's real body shape (tests/fake_provider.py scenarios
provider_shape and provider_error), the controller polls it with the
recipe's config, and a pool-mode node sends `curl -x` requests to the origin
through every upstream the provider listed. The upstreams are real proxies
(direct-mode nodes, with credentials where the provider hands some out),
each binding its outgoing connections to its own loopback address
(node.source_address), so the origin's request log says which one served."""

import json
import time
import unittest

from pf_harness import Fleet, curl, wait_until

UP_USER = "pf-up-user"
UP_PASS = "up-s3cr3t-9f2c"          # the upstream proxies' password
API_SECRET = "sig-RECIPE-5b7e91"    # the API key / signature in provider URLs
WS_TOKEN = "ws-TOKEN-3c8d0a17"      # Webshare's "Authorization: Token ..."
ZH = "\u8bf7\u6dfb\u52a0\u767d\u540d\u5355"      # 请添加白名单


class Recipes(unittest.TestCase):
    def setUp(self):
        self.fleet = Fleet(self)
        f = self.fleet
        f.secret(API_SECRET)
        f.secret(UP_PASS)
        f.secret(WS_TOKEN)
        self.redis = f.start_redis()
        self.origin = f.start_origin()
        self.prov = f.start_fake_provider()
        self.k = f.keys

    # -- building blocks ------------------------------------------------------

    def upstreams(self, n, users=True, first=21):
        """<n> real upstream proxies, each with its own source address."""
        ups = []
        for i in range(n):
            src = "127.0.0.%d" % (first + i)
            u = self.fleet.direct_upstream_node(
                name="up%d" % (first + i), source_address=src,
                users=[(UP_USER, UP_PASS)] if users else None)
            u.src = src
            ups.append(u)
        return ups

    @staticmethod
    def entry(u, users=True, **extra):
        d = {"host": "127.0.0.1", "port": u.port}
        if users:
            d.update(user=UP_USER, **{"pass": UP_PASS})
        d.update(extra)
        return d

    def api(self, name, path, **over):
        """A recipe's provider object with the test's timings: polls every
        300 ms, loopback upstreams allowed, the breaker out of the way."""
        p = {"name": name, "type": "api", "url": self.prov.url(path), "interval_ms": 300,
             "timeout_ms": 3000, "connect_timeout_ms": 1000, "retry_base_ms": 50,
             "breaker_failures": 1000, "fatal_recheck_s": 1, "allow_private": ["127.0.0.0/8"]}
        p.update(over)
        return p

    def start(self, *providers):
        self.ctl = self.fleet.start_controller({"controller": {"providers": list(providers)}})
        self.node = self.fleet.start_node({"node": {
            "mode": "pool", "destination_allow": ["127.0.0.0/8"], "connect_timeout_ms": 2000,
            "strategy": "round_robin"}}, name="pool")

    def ph(self, name):
        return self.redis.hgetall(self.k.provider(name))

    def records(self):
        return {k: json.loads(v) for k, v in self.redis.hgetall(self.k.pool_upstreams).items()}

    def wait_served(self, n):
        wait_until(lambda: len(self.records()) == n and
                   self.node.metric("pf_node_pool_size") == n, 15,
                   "%d upstreams published and loaded by the node" % n)

    def via(self):
        """One request through the pool node; the source address the origin saw."""
        before = len(self.origin.requests())
        r = curl("-x", self.node.proxy_url, self.origin.url("/recipe"))
        self.assertEqual(r.status, 200, "%s %s" % (r.stderr, r.body[:200]))
        reqs = wait_until(lambda: self.origin.requests()[before:] or None, 5, "origin log")
        return reqs[-1]["client"].rsplit(":", 1)[0]

    def assert_each_serves(self, ups):
        seen = [self.via() for _ in range(2 * len(ups))]
        self.assertEqual(sorted(set(seen)), sorted(u.src for u in ups), seen)

    def wait_error(self, name, text, state):
        wait_until(lambda: text in self.ph(name).get("last_error", ""), 10,
                   "provider %s last_error %r" % (name, text))
        self.assertEqual(self.ph(name)["state"], state)
        return self.ph(name)["last_error"]

    # -- recipes ------------------------------------------------------------------

    def test_kuaidaili_text(self):
        ups = self.upstreams(2, users=False)
        self.prov.set("/api/getdps/", scenario="provider_shape", shape="kdl_text",
                      upstreams=[self.entry(u, users=False) for u in ups])
        self.start(self.api("kdl", "/api/getdps/?secret_id=o1fjh1re9o28876h7c08&signature=" +
                            API_SECRET + "&num=10&pt=1&format=text&sep=1"))
        self.wait_served(2)
        self.assert_each_serves(ups)
        # 调用频率限制，请稍后再试 as text: transient, quoted in Chinese
        self.prov.set("/api/getdps/", scenario="provider_error", shape="kdl_text_rate")
        err = self.wait_error("kdl", "ERROR(-51)\uff1a\u8c03\u7528\u9891\u7387\u9650\u5236",
                              "failing")
        self.assertEqual(err, "no valid address in 1 line (first: 'ERROR(-51)\uff1a\u8c03\u7528"
                              "\u9891\u7387\u9650\u5236\uff0c\u8bf7\u7a0d\u540e\u518d\u8bd5')")
        self.assertEqual(len(self.records()), 2, "a failed poll keeps the pool")

    def test_kuaidaili_text_with_auth(self):
        ups = self.upstreams(3)
        self.prov.set("/api/getdps/", scenario="provider_shape", shape="kdl_text_auth",
                      upstreams=[self.entry(u) for u in ups])
        self.start(self.api("kdl", "/api/getdps/?secret_id=o1fjh1re9o28876h7c08&signature=" +
                            API_SECRET + "&num=10&format=text&sep=1&f_auth=1"))
        self.wait_served(3)
        recs = self.records()
        self.assertEqual({r["user"] for r in recs.values()}, {UP_USER})
        self.assertTrue(all("pass_sealed" in r and "pass" not in r for r in recs.values()), recs)
        self.assert_each_serves(ups)

    def test_kuaidaili_json(self):
        ups = self.upstreams(2)
        self.prov.set("/api/getdps/", scenario="provider_shape", shape="kdl_json",
                      upstreams=[self.entry(u) for u in ups])
        self.start(self.api(
            "kdl", "/api/getdps/?secret_id=o1fjh1re9o28876h7c08&signature=" + API_SECRET +
            "&num=10&format=json&f_auth=1", format="json",
            json={"list": "data.proxy_list", "success": {"field": "code", "equals": [0]}},
            errors={"codes": {"-15": "fatal", "-16": "fatal", "-14": "fatal", "-51": "transient"}}))
        self.wait_served(2)
        self.assert_each_serves(ups)
        self.prov.set("/api/getdps/", scenario="provider_error", shape="kdl_expired")
        self.wait_error("kdl", "provider error code -15: \u8ba2\u5355\u5df2\u8fc7\u671f", "failed")
        # what an operator sees with redis-cli: the message, readable
        raw = self.redis.cli("HGET", self.k.provider("kdl"), "last_error").strip()
        self.assertEqual(raw, "provider error code -15: \u8ba2\u5355\u5df2\u8fc7\u671f")
        self.prov.set("/api/getdps/", scenario="provider_error", shape="kdl_rate")
        self.wait_error("kdl", "code -51", "failing")

    def test_zhima(self):
        ups = self.upstreams(2, users=False)
        self.prov.set("/getip", scenario="provider_shape", shape="zhima", ttl_s=600,
                      upstreams=[self.entry(u, users=False, city="\u5f90\u5dde\u5e02", isp="\u7535\u4fe1")
                                 for u in ups])
        self.start(self.api(
            "zhima", "/getip?num=2&type=2&pro=0&city=0&yys=0&port=1&time=1&ts=1&ys=1&cs=1&lb=1"
            "&pb=4&mr=1&key=" + API_SECRET, format="json",
            json={"list": "data", "host": "ip", "port": "port", "expire": "expire_time",
                  "expire_kind": "timestamp", "expire_tz_offset_min": 480,
                  "success": {"field": "success", "equals": [True]},
                  "labels": {"city": "city", "isp": "isp"}},
            errors={"codes": {"111": "transient", "113": "fatal", "114": "fatal",
                              "115": "transient", "116": "transient", "121": "fatal"}}))
        t0 = time.time() * 1000
        self.wait_served(2)
        for rec in self.records().values():
            # the provider's UTC+8 expiry, read as such: about 600 s from now
            self.assertTrue(t0 + 590e3 < rec["expires_at_ms"] < t0 + 610e3, rec)
            self.assertEqual(rec["labels"], {"city": "\u5f90\u5dde\u5e02", "isp": "\u7535\u4fe1"})
        self.assert_each_serves(ups)
        self.prov.set("/getip", scenario="provider_error", shape="zhima_whitelist",
                      ip="203.0.113.99")
        self.wait_error("zhima", ZH, "failed")
        raw = self.redis.cli("HGET", self.k.provider("zhima"), "last_error").strip()
        self.assertEqual(raw, "provider error code 113: " + ZH + "203.0.113.99")
        self.prov.set("/getip", scenario="provider_error", shape="zhima_rate")
        self.wait_error("zhima", "code 111", "failing")

    def test_xiequ(self):
        ups = self.upstreams(2, users=False)
        self.prov.set("/VAD/GetIp.aspx", scenario="provider_shape", shape="xiequ",
                      upstreams=[self.entry(u, users=False) for u in ups])
        self.start(self.api(
            "xiequ", "/VAD/GetIp.aspx?act=get&uid=49226&vkey=" + API_SECRET +
            "&num=2&time=30&plat=0&re=0&type=1&so=1&ow=1&spl=1&addr=&db=1", format="json",
            json={"list": "data", "host": "IP", "port": "Port",
                  "success": {"field": "code", "equals": [0]},
                  "labels": {"city": "IpAddress"}}))
        self.wait_served(2)
        self.assert_each_serves(ups)
        self.prov.set("/VAD/GetIp.aspx", scenario="provider_error", shape="xiequ_whitelist")
        err = self.wait_error("xiequ", "\u767d\u540d\u5355", "failed")
        self.assertIn("IP:203.0.113.99", err)

    def webshare(self, **over):
        p = self.api("ws", "/api/v2/proxy/list/?mode=direct&page=1&page_size=2", format="json",
                     auth={"type": "header", "name": "Authorization", "value": "Token " + WS_TOKEN},
                     json={"list": "results", "host": "proxy_address", "port": "port",
                           "user": "username", "pass": "password", "next": "next",
                           "filter": {"field": "valid", "equals": [True]},
                           "labels": {"country": "country_code", "city": "city_name",
                                      "isp": "asn_name"}},
                     max_pages=10)
        p.update(over)
        return p

    def test_webshare_valid_and_pages(self):
        ups = self.upstreams(4)
        dead = self.upstreams(1, first=29)[0]
        entries = [self.entry(ups[0], country="US", city="New York"),
                   self.entry(dead, valid=False),
                   self.entry(ups[1], country="DE", city="Berlin"),
                   self.entry(ups[2]), self.entry(ups[3], country="JP", city="Tokyo")]
        self.prov.set("/api/v2/proxy/list/", scenario="provider_shape", shape="webshare",
                      upstreams=entries, page_size=2)
        self.start(self.webshare())
        self.wait_served(4)
        recs = self.records()
        self.assertNotIn("http://127.0.0.1:%d#" % dead.port, " ".join(recs), "valid:false kept")
        by_port = {r["port"]: r for r in recs.values()}
        self.assertEqual(by_port[ups[1].port]["labels"],
                         {"country": "DE", "city": "Berlin", "isp": "Example ISP"})
        m = self.ctl.metrics()
        self.assertGreaterEqual(
            m.get('pf_controller_rejected_addresses_total{provider="ws",reason="filtered"}', 0), 1)
        # three pages a poll, each with the token, the next link followed
        reqs = self.prov.requests("/api/v2/proxy/list/")
        pages = [r["query"] for r in reqs[:3]]
        self.assertEqual([q.split("page=")[1].split("&")[0] for q in pages], ["1", "2", "3"], pages)
        for r in reqs[:3]:
            self.assertIn(["Authorization", "Token " + WS_TOKEN], r["headers"])
        self.assert_each_serves(ups)
        self.assertNotIn(dead.src, [self.via() for _ in range(4)])
        # the token refused: 401 {"detail": "Invalid token."}, fatal
        self.prov.set("/api/v2/proxy/list/", scenario="provider_error", shape="webshare_401")
        self.wait_error("ws", "HTTP 401 (body: '{\"detail\":\"Invalid token.\"}')", "failed")
        self.assertEqual(len(self.records()), 4)

    def pages_seen(self):
        return [r["query"].split("page=")[1].split("&")[0]
                for r in self.prov.requests("/api/v2/proxy/list/")]

    def wait_full_poll(self, n):
        """Until the provider got pages 1..n in a row (one whole poll)."""
        want = [str(i) for i in range(1, n + 1)]
        wait_until(lambda: any(self.pages_seen()[i:i + n] == want
                               for i in range(len(self.pages_seen()))), 10,
                   "pages %s in a row" % want)

    def test_webshare_next_link_forms_and_limits(self):
        ups = self.upstreams(3)
        entries = [self.entry(u) for u in ups]
        self.prov.set("/api/v2/proxy/list/", scenario="provider_shape", shape="webshare",
                      upstreams=entries, page_size=1)
        self.start(self.webshare())
        self.wait_full_poll(3)
        self.wait_served(3)
        for style in ("relative", "path"):
            with self.subTest(next=style):
                self.prov.reset()
                self.prov.set("/api/v2/proxy/list/", scenario="provider_shape", shape="webshare",
                              upstreams=entries, page_size=1, next=style)
                self.wait_full_poll(3)
                self.assertEqual(len(self.records()), 3)
        self.assert_each_serves(ups)
        # a next link to another origin is never followed: page 1 alone
        self.prov.set("/api/v2/proxy/list/", scenario="provider_shape", shape="webshare",
                      upstreams=entries, page_size=1, next="foreign")
        wait_until(lambda: "leaves the provider's origin" in self.ctl.log_text(), 10,
                   "foreign next link refused")
        self.wait_served(1)
        self.assertEqual(self.via(), ups[0].src)

    def test_webshare_max_pages_and_page_errors(self):
        ups = self.upstreams(3)
        entries = [self.entry(u) for u in ups]
        self.prov.set("/api/v2/proxy/list/", scenario="provider_shape", shape="webshare",
                      upstreams=entries, page_size=1)
        self.start(self.webshare(max_pages=2, retry_attempts=1,
                                 url=self.prov.url("/api/v2/proxy/list/?mode=direct&key=" +
                                                   API_SECRET)))
        wait_until(lambda: "max_pages is 2" in self.ctl.log_text(), 10, "max_pages warning")
        self.wait_served(2)
        # page 2 fails: the attempt fails, the pool stays; the page's error
        # echoes the key of its query (the next link repeats it), which
        # never comes out
        page = {"scenario": "provider_shape", "params": {"shape": "webshare", "upstreams": entries,
                                                         "page_size": 1, "next": "relative"}}
        echo = {"scenario": "echo_key", "params": {"status": 500}}
        self.prov.set("/api/v2/proxy/list/", sequence=[page, echo] * 50)
        err = self.wait_error("ws", "page 2: HTTP 500", "failing")
        self.assertNotIn(API_SECRET, err)
        self.assertIn("invalid key (", err)
        self.assertEqual(len(self.records()), 2)

    def test_iproyal_host_port_user_pass(self):
        """The issue's 'done when': a host:port:user:pass list feeds a working
        pool, and curl -x through a node reaches the origin through each of
        its upstreams; no password reaches a log, Redis in clear, or a reason."""
        ups = self.upstreams(3)
        self.prov.set("/proxies.txt", scenario="provider_shape", shape="iproyal",
                      upstreams=[self.entry(u) for u in ups])
        self.start(self.api("iproyal", "/proxies.txt?token=" + API_SECRET, format="lines",
                            default_scheme="http"))
        self.wait_served(3)
        self.assert_each_serves(ups)
        ph = self.ph("iproyal")
        self.assertEqual(ph["state"], "ok")
        self.assertEqual(ph["upstreams"], "3")
        for k, v in self.redis.hgetall(self.k.pool_upstreams).items():
            self.assertNotIn(UP_PASS, k + v)
        # a list line with a password that breaks the format: described, never quoted
        self.prov.set("/proxies.txt", body="127.0.0.1:%d:%s:%s:x\r\n" % (ups[0].port, UP_USER,
                                                                           UP_PASS))
        err = self.wait_error("iproyal", "no valid address in 1 line (first: line 1 (", "failing")
        self.assertNotIn(UP_PASS, err)
        self.assertNotIn(UP_USER, err)

    def test_gateway_as_static_upstream(self):
        """Bright Data / Oxylabs style: one gateway host:port, the account and
        its options in the user name, given as a static upstream."""
        brd_user = "brd-customer-hl_1a2b3c4d-zone-residential"
        oxy_user = "customer-pfdemo-cc-us"
        brd = self.fleet.direct_upstream_node(name="brd", users=[(brd_user, UP_PASS)],
                                              source_address="127.0.0.41")
        oxy = self.fleet.direct_upstream_node(name="oxy", users=[(oxy_user, UP_PASS)],
                                              source_address="127.0.0.42")
        brd.src, oxy.src = "127.0.0.41", "127.0.0.42"
        self.start({"name": "brightdata", "type": "static", "allow_private": ["127.0.0.0/8"],
                    "upstreams": ["http://%s:%s@127.0.0.1:%d" % (brd_user, UP_PASS, brd.port)]},
                   {"name": "oxylabs", "type": "static", "allow_private": ["127.0.0.0/8"],
                    "upstreams": ["http://%s:%s@127.0.0.1:%d" % (oxy_user, UP_PASS, oxy.port)]})
        self.wait_served(2)
        self.assert_each_serves([brd, oxy])


if __name__ == "__main__":
    unittest.main()
