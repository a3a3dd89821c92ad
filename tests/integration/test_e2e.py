"""End to end: fake provider -> controller -> Redis -> pool node -> upstream
(a direct-mode node) -> origin, with the Redis contract of docs/redis-keys.md
checked on the way, and the failure mapping (502, 503, Redis outage)."""

import json
import re
import time
import unittest

from pf_harness import Fleet, HarnessError, curl, wait_until

PROVIDER = "plain"
API_KEY = "k-e2e-7f3a9c51"      # must never reach a log
REPORT_MS = 500


def requests_counter(proc):
    """The node's accepted-requests counter (HTTP requests + CONNECT tunnels)."""
    m = proc.metrics()
    if "pf_node_requests_total" not in m:
        raise HarnessError("%s /metrics has no pf_node_requests_total:\n%s"
                           % (proc.name, "\n".join(sorted(m))[:2000]))
    return m["pf_node_requests_total"]


class E2E(unittest.TestCase):
    def setUp(self):
        self.fleet = Fleet(self)
        self.keys = self.fleet.keys

    # -- building blocks ------------------------------------------------------

    def start_world(self, provider_body_upstreams=None, pool_node=True, upstream_users=None):
        f = self.fleet
        self.redis = f.start_redis()
        self.origin = f.start_origin()
        self.upstream = f.direct_upstream_node(name="upstream", users=upstream_users)
        self.provider = f.start_fake_provider()
        ups = provider_body_upstreams
        if ups is None and upstream_users:
            user, pw = upstream_users[0]
            ups = ["http://%s:%s@127.0.0.1:%d" % (user, f.secret(pw), self.upstream.port)]
        elif ups is None:
            ups = ["127.0.0.1:%d" % self.upstream.port]
        self.provider.set("/list", scenario="good_text", upstreams=ups)
        url = self.provider.url("/list?key=" + f.secret(API_KEY))
        self.ctl = f.start_controller({"controller": {"providers": [{
            "name": PROVIDER, "type": "api", "format": "lines", "url": url,
            "interval_ms": 500, "timeout_ms": 3000, "connect_timeout_ms": 1000,
            "ttl_s": 300, "allow_private": provider_body_upstreams is None,
        }]}}, name="ctl-e2e")
        if pool_node:
            self.node = f.start_node({"node": {
                "mode": "pool", "destination_allow": ["127.0.0.0/8"],
                "connect_timeout_ms": 2000, "report_interval_ms": REPORT_MS,
            }}, name="node-e2e")

    def upstream_id(self):
        return "http://127.0.0.1:%d" % self.upstream.port

    def wait_pool_loaded(self, timeout=20):
        """Waits until the controller published the upstream and the node's
        heartbeat says it serves that snapshot. Returns the meta hash."""
        r = self.redis
        meta = wait_until(lambda: (lambda m: m if m.get("count") == "1" else None)(
            r.hgetall(self.keys.pool_meta)), timeout, "pool:meta count 1")

        def node_serves():
            h = r.hgetall(self.keys.node(self.node.id))
            cur = r.hgetall(self.keys.pool_meta)
            return (h.get("pool_size") == "1" and h.get("pool_version") == cur.get("version")
                    and h.get("pool_epoch") == cur.get("epoch"))
        wait_until(node_serves, timeout, "node heartbeat to report the published snapshot")
        return r.hgetall(self.keys.pool_meta)

    def get_via_node(self, path, connect=False, max_time=10):
        args = ["-x", self.node.proxy_url]
        if connect:
            args.append("-p")
        return curl(*(args + [self.origin.url(path)]), max_time=max_time)

    def assert_reached_origin_via_upstream(self, path, connect):
        before_up = requests_counter(self.upstream)
        before_origin = len(self.origin.requests())
        r = self.get_via_node(path, connect=connect)
        self.assertEqual(r.status, 200, "via node (%s): %r stderr=%r"
                         % ("CONNECT" if connect else "absolute-form", r.body[:300], r.stderr))
        doc = json.loads(r.body)
        self.assertEqual(doc["origin"], self.origin.name)
        self.assertEqual(doc["path"], path)
        seen = [q for q in self.origin.requests()[before_origin:] if q["path"] == path]
        self.assertEqual(len(seen), 1, "origin must see the request exactly once")
        # The upstream accepted it: its counter grew (absolute-form request or
        # CONNECT tunnel), so the pool node did not connect to the origin itself.
        wait_until(lambda: requests_counter(self.upstream) == before_up + 1, 5,
                   "upstream node's requests counter to grow by exactly 1")
        if connect:
            self.assertGreaterEqual(self.upstream.metric("pf_node_tunnels_total"), 1)
        return r

    # -- tests ----------------------------------------------------------------

    def test_full_path_and_redis_contract(self):
        self.start_world()
        meta = self.wait_pool_loaded()
        self.assert_reached_origin_via_upstream("/e2e-get?x=1", connect=False)
        self.assert_reached_origin_via_upstream("/e2e-connect", connect=True)

        r, k = self.redis, self.keys
        now_ms = time.time() * 1000
        # pool:meta
        self.assertGreaterEqual(int(meta["version"]), 1)
        self.assertRegex(meta["epoch"], r"^[0-9a-f]{16}$")
        self.assertEqual(meta["count"], "1")
        self.assertLess(abs(int(meta["updated_at_ms"]) - now_ms), 120000)
        self.assertEqual(meta["controller_id"], self.ctl.id)
        # pool:upstreams
        ups = r.hgetall(k.pool_upstreams)
        self.assertEqual(list(ups), [self.upstream_id()])
        rec = json.loads(ups[self.upstream_id()])
        self.assertEqual(rec["scheme"], "http")
        self.assertEqual(rec["host"], "127.0.0.1")
        self.assertEqual(rec["port"], self.upstream.port)
        self.assertEqual(rec["provider"], PROVIDER)
        self.assertNotIn("user", rec)
        self.assertNotIn("pass", rec)
        self.assertIsInstance(rec["expires_at_ms"], int)
        self.assertGreater(rec["expires_at_ms"], now_ms)
        self.assertLess(rec["expires_at_ms"], now_ms + 301000)
        self.assertGreaterEqual(rec["weight"], 1)
        self.assertGreaterEqual(rec["latency_ms"], 0)
        # pool:expiry
        self.assertEqual(r.zrange_withscores(k.pool_expiry),
                         {self.upstream_id(): float(rec["expires_at_ms"])})
        # providers
        self.assertEqual(r.cmd("SMEMBERS", k.providers), [PROVIDER])
        prov = r.hgetall(k.provider(PROVIDER))
        self.assertEqual(prov.get("state"), "ok", prov)
        self.assertEqual(prov.get("upstreams"), "1", prov)
        self.assertGreaterEqual(int(prov.get("polls", "0")), 1, prov)
        self.assertGreater(int(prov.get("last_success_at_ms", "0")), 0, prov)
        self.assertNotIn(API_KEY, json.dumps(prov))
        self.assertGreaterEqual(self.provider.hits("/list"), 1)
        self.assertEqual(self.provider.requests("/list")[0]["query"], "key=" + API_KEY)
        # controller heartbeat
        ch = wait_until(lambda: r.hgetall(k.controller), 5, "controller hash")
        self.assertEqual(ch.get("id"), self.ctl.id, ch)
        self.assertEqual(ch.get("epoch"), meta["epoch"], ch)
        self.assertGreater(r.cmd("PTTL", k.controller), 0)
        # the node's heartbeat
        nk = k.node(self.node.id)
        h = wait_until(lambda: (lambda x: x if int(x.get("requests_total", "0")) >= 2 else None)(
            r.hgetall(nk)), 5, "node heartbeat requests_total >= 2")
        self.assertEqual(h["id"], self.node.id)
        self.assertEqual(h["listen"], self.node.listen)
        self.assertEqual(h["redis_connected"], "1")
        self.assertEqual(h["pool_size"], "1")
        # figures by label are JSON objects keyed by the label value
        responses = json.loads(h["responses_total"])
        self.assertGreaterEqual(responses["2xx"], 1, h)
        self.assertEqual(sorted(responses), ["1xx", "2xx", "3xx", "4xx", "5xx"])
        self.assertEqual(sorted(json.loads(h["errors_total"])), ["502", "503", "504"])
        for field in ("updated_at_ms", "conns_active", "bytes_in_total", "bytes_out_total",
                      "tunnels_total", "pool_version", "pool_usable"):
            self.assertRegex(h.get(field, ""), r"^\d+$", "node hash field %s: %r" % (field, h))
        self.assertEqual(h["ready"], "1")
        self.assertLess(abs(float(h["process_start_time_seconds"]) - time.time()), 600)
        pttl = r.cmd("PTTL", nk)
        self.assertGreater(pttl, 0)
        self.assertLessEqual(pttl, 3 * REPORT_MS)
        nodes = r.zrange_withscores(k.nodes)
        self.assertIn(self.node.id, nodes)
        self.assertLess(abs(nodes[self.node.id] - time.time() * 1000), 10000)
        # a direct-mode node needs no Redis and writes nothing there
        self.assertNotIn(self.upstream.id, nodes)

    def test_authenticated_upstream(self):
        # Credentials come from the provider body, travel in the snapshot
        # record (the only place they are stored), sealed with the fleet's
        # credential key, and never reach a log (the fleet checks every
        # binary log for the registered password).
        self.start_world(upstream_users=[("pfuser", "up-pass-91c2e7")])
        self.wait_pool_loaded()
        self.assert_reached_origin_via_upstream("/auth-get", connect=False)
        self.assert_reached_origin_via_upstream("/auth-connect", connect=True)
        ups = self.redis.hgetall(self.keys.pool_upstreams)
        self.assertEqual(len(ups), 1)
        (uid, raw), = ups.items()
        self.assertRegex(uid, r"^http://127\.0\.0\.1:%d#[0-9a-f]{8}$" % self.upstream.port)
        self.assertNotIn("up-pass-91c2e7", uid)
        rec = json.loads(raw)
        self.assertEqual(rec["user"], "pfuser")
        self.assertNotIn("pass", rec)
        self.assertTrue(rec["pass_sealed"].startswith("v1."), rec)
        self.assertNotIn("up-pass-91c2e7", raw)
        self.assertEqual(self.upstream.metric("pf_node_auth_failures_total"), 0)

    def test_upstream_down_gives_502(self):
        self.start_world()
        self.wait_pool_loaded()
        self.assert_reached_origin_via_upstream("/before", connect=False)
        self.upstream.stop()
        r = self.get_via_node("/after")
        self.assertEqual(r.status, 502, "absolute-form with the only upstream down: %r %r"
                         % (r.body[:200], r.stderr))
        r = self.get_via_node("/after-connect", connect=True)
        self.assertEqual(r.status, 502, "CONNECT with the only upstream down: %r" % r.stderr)
        self.assertNotEqual(r.exit_code, 0)
        for q in self.origin.requests():
            self.assertNotIn(q["path"], ("/after", "/after-connect"))
        wait_until(lambda: json.loads(self.redis.hgetall(self.keys.node(self.node.id))
                                      .get("errors_total", "{}")).get("502", 0) >= 2, 5,
                   "errors_total 502 >= 2 in heartbeat")

    def test_empty_pool_gives_503(self):
        # Only addresses the controller must reject (allow_private false):
        # loopback, link-local metadata, unspecified. The pool never fills.
        self.start_world(provider_body_upstreams=[
            "127.0.0.1:9", "127.0.0.2:8080", "169.254.169.254:80", "0.0.0.0:80", "[::1]:8080"])
        wait_until(lambda: self.provider.hits("/list") >= 2, 10, "controller to poll twice")
        time.sleep(0.5)
        r = self.get_via_node("/empty")
        self.assertEqual(r.status, 503, "empty pool: %r %r" % (r.body[:200], r.stderr))
        self.assertRegex(r.headers, r"(?im)^Retry-After:\s*\d+\s*$")
        r = self.get_via_node("/empty-connect", connect=True)
        self.assertEqual(r.status, 503, "empty pool CONNECT: %r" % r.stderr)
        self.assertEqual(self.origin.requests(), [])
        self.assertEqual(self.redis.cmd("HLEN", self.keys.pool_upstreams), 0)
        self.assertIn(self.redis.hgetall(self.keys.pool_meta).get("count", "0"), ("0",))

    def test_redis_outage_serves_from_cache_and_recovers(self):
        self.start_world()
        meta = self.wait_pool_loaded()
        self.assert_reached_origin_via_upstream("/r1", connect=False)
        self.redis.kill()
        time.sleep(0.5)
        for i in range(3):
            self.assert_reached_origin_via_upstream("/during-outage-%d" % i, connect=(i == 1))
        self.assertIn(self.node.admin("/healthz")[0], (200, 503))
        self.redis.start()   # same port, empty
        nk = self.keys.node(self.node.id)
        wait_until(lambda: self.redis.hgetall(nk).get("id") == self.node.id, 30,
                   "node heartbeat to return after the Redis restart")
        new_meta = wait_until(lambda: (lambda m: m if m.get("count") == "1" else None)(
            self.redis.hgetall(self.keys.pool_meta)), 30, "controller to republish")
        self.assertNotEqual(new_meta["epoch"], meta["epoch"],
                            "an empty Redis must get a new epoch")
        wait_until(lambda: self.redis.hgetall(nk).get("redis_connected") == "1", 10,
                   "redis_connected 1 again")
        self.assertGreater(self.redis.cmd("PTTL", nk), 0)
        self.assert_reached_origin_via_upstream("/after-restart", connect=False)


if __name__ == "__main__":
    unittest.main()
