"""Upstream selection in pool-mode nodes (node/select.c, node/pool_cache.c)
against a real redis-server, real proxyfleet-node binaries and real
upstreams: direct-mode nodes, each binding its outgoing connections to its
own loopback source address (node.source_address 127.0.0.1x), so the
origin's request log (client address) says which upstream carried a request.
The snapshot is written by hand as docs/redis-keys.md describes."""

import json
import re
import socket
import time
import unittest

from pf_harness import Fleet, curl, parse_metrics, wait_until

EPOCH = "abababababababab"
USER, PASS = "alice", "s3cr3t-alice"


def record(port, expires_at_ms=0, weight=1):
    return json.dumps({"scheme": "http", "host": "127.0.0.1", "port": port, "provider": "hand",
                       "expires_at_ms": expires_at_ms, "weight": weight, "latency_ms": 0})


class NodeSelection(unittest.TestCase):
    def setUp(self):
        self.fleet = Fleet(self)
        f = self.fleet
        self.redis = f.start_redis()
        self.origin = f.start_origin()
        self.version = 0

    def upstreams(self, n):
        ups = []
        for i in range(n):
            src = "127.0.0.%d" % (11 + i)
            u = self.fleet.direct_upstream_node(name="up%d" % i, source_address=src)
            u.src = src
            ups.append(u)
        return ups

    def seed(self, ups, dead_ports=(), expires_at_ms=0, weights=None):
        r, k = self.redis, self.fleet.keys
        self.version += 1
        r.cmd("DEL", k.pool_upstreams)
        ports = [u.port for u in ups] + list(dead_ports)
        for i, p in enumerate(ports):
            w = weights[i] if weights and i < len(weights) else 1
            r.cmd("HSET", k.pool_upstreams, "http://127.0.0.1:%d" % p, record(p, expires_at_ms, w))
        r.cmd("HSET", k.pool_meta, "version", str(self.version), "epoch", EPOCH,
              "count", str(len(ports)), "updated_at_ms", str(int(time.time() * 1000)),
              "controller_id", "by-hand")
        r.cmd("PUBLISH", k.pool_events, "%d %s" % (self.version, EPOCH))

    def pool_node(self, name, wait_size=None, **node):
        cfg = {"mode": "pool", "destination_allow": ["127.0.0.0/8"], "connect_timeout_ms": 2000}
        cfg.update(node)
        n = self.fleet.start_node({"node": cfg}, name=name)
        if wait_size is not None:
            self.wait_pool(n, wait_size)
        return n

    def wait_pool(self, node, size):
        wait_until(lambda: node.metric("pf_node_pool_version") == self.version and
                   node.metric("pf_node_pool_size") == size, 10, "%s pool v%d" % (node.name, self.version))

    def via(self, node, *extra, path="/x"):
        """One request through <node>; returns the source address the origin saw."""
        before = len(self.origin.requests())
        r = curl("-x", node.proxy_url, *extra, self.origin.url(path))
        self.assertEqual(r.status, 200, "%s %s" % (r.stderr, r.body[:200]))
        reqs = wait_until(lambda: self.origin.requests()[before:] or None, 5, "origin log")
        return reqs[-1]["client"].rsplit(":", 1)[0]

    def session(self, node, sid):
        return self.via(node, "--proxy-user", "%s-session-%s:%s" % (USER, sid, PASS))

    # ------------------------------------------------------------------------

    def test_round_robin_spreads(self):
        ups = self.upstreams(3)
        node = self.pool_node("rr", strategy="round_robin")
        self.seed(ups)
        self.wait_pool(node, 3)
        seen = [self.via(node) for _ in range(6)]
        self.assertEqual(sorted(set(seen)), sorted(u.src for u in ups), seen)
        for u in ups:
            self.assertEqual(seen.count(u.src), 2, seen)

    def test_least_conn_avoids_the_busy_upstream(self):
        ups = self.upstreams(2)
        node = self.pool_node("lc", strategy="least_conn")
        self.seed(ups)
        self.wait_pool(node, 2)
        # a long-lived tunnel holds one upstream busy
        t = socket.create_connection(("127.0.0.1", node.port), timeout=5)
        self.addCleanup(t.close)
        t.sendall(b"CONNECT 127.0.0.1:%d HTTP/1.1\r\nHost: x\r\n\r\n" % self.origin.port)
        self.assertTrue(t.recv(4096).startswith(b"HTTP/1.1 200"))
        before = len(self.origin.requests())
        t.sendall(b"GET /in-tunnel HTTP/1.1\r\nHost: x\r\n\r\n")
        self.assertTrue(t.recv(65536).startswith(b"HTTP/1.1 200"))
        busy = wait_until(lambda: self.origin.requests()[before:] or None, 5, "origin log")[-1]
        busy_src = busy["client"].rsplit(":", 1)[0]
        # every new request, one at a time, goes to the idle one
        seen = [self.via(node) for _ in range(6)]
        self.assertEqual(set(seen), {u.src for u in ups} - {busy_src}, seen)

    def test_weighted_follows_pool_weights_and_random_uses_all(self):
        ups = self.upstreams(2)
        w = self.pool_node("weighted", strategy="weighted")
        rnd = self.pool_node("random", strategy="random")
        self.seed(ups, weights=[9, 1])      # same latency: shares 0.9 / 0.1
        self.wait_pool(w, 2)
        self.wait_pool(rnd, 2)
        n = 100
        seen = [self.via(w) for _ in range(n)]
        heavy = seen.count(ups[0].src)
        # binomial(100, 0.9): mean 90, sd 3; 75 is 5 sd below, 99 would be
        # a light upstream never picked (0.9^100 < 3e-5)
        self.assertGreaterEqual(heavy, 75, seen)
        self.assertLessEqual(heavy, 99, seen)
        seen = [self.via(rnd) for _ in range(40)]
        for u in ups:                        # binomial(40, 0.5): 8 is 3.8 sd below 20
            self.assertGreaterEqual(seen.count(u.src), 8, seen)

    def test_rotate_keeps_then_switches(self):
        ups = self.upstreams(3)
        slow = self.pool_node("rot2", strategy="rotate", rotate_interval_s=2)
        fast = self.pool_node("rot0", strategy="rotate", rotate_interval_s=0)
        self.seed(ups)
        self.wait_pool(slow, 3)
        self.wait_pool(fast, 3)
        first = [self.via(slow) for _ in range(4)]
        self.assertEqual(len(set(first)), 1, first)
        time.sleep(2.3)
        after = self.via(slow)
        self.assertNotEqual(after, first[0])
        self.assertEqual(self.via(slow), after)
        seq = [self.via(fast) for _ in range(4)]
        for a, b in zip(seq, seq[1:]):
            self.assertNotEqual(a, b, seq)

    def test_sticky_sessions_across_nodes_and_removal(self):
        ups = self.upstreams(4)
        users = [{"user": USER, "pass": PASS}]
        a = self.pool_node("sticky-a", users=users, sticky_header="X-PF-Session")
        b = self.pool_node("sticky-b", users=users, sticky_header="X-PF-Session")
        self.seed(ups)
        self.wait_pool(a, 4)
        self.wait_pool(b, 4)
        sids = ["s%d" % i for i in range(16)]
        where = {}
        for sid in sids:
            wa = self.session(a, sid)
            self.assertEqual(self.session(b, sid), wa, "session %s differs between nodes" % sid)
            self.assertEqual(self.session(a, sid), wa, "session %s not sticky" % sid)
            where[sid] = wa
        self.assertGreaterEqual(len(set(where.values())), 3, where)
        # the sticky header: same on both nodes, and never forwarded
        h = ["--proxy-user", "%s:%s" % (USER, PASS), "-H", "X-PF-Session: cart-7"]
        self.assertEqual(self.via(a, *h), self.via(b, *h))
        last = self.origin.requests()[-1]
        self.assertIsNone(self.origin.header(last, "X-PF-Session"))
        self.assertIsNone(self.origin.header(last, "Proxy-Authorization"))
        # remove the upstream carrying the most sessions: only its sessions move
        victim_src = max(set(where.values()), key=list(where.values()).count)
        remaining = [u for u in ups if u.src != victim_src]
        self.seed(remaining)
        self.wait_pool(a, 3)
        self.wait_pool(b, 3)
        for sid in sids:
            now = self.session(a, sid)
            self.assertEqual(self.session(b, sid), now)
            if where[sid] == victim_src:
                self.assertNotEqual(now, victim_src)
            else:
                self.assertEqual(now, where[sid], "session %s moved though its upstream stayed" % sid)
        # a bad password with a session suffix is still refused
        r = curl("-x", a.proxy_url, "--proxy-user", "%s-session-1:wrong" % USER, self.origin.url("/"))
        self.assertEqual(r.status, 407)

    def test_local_ejection_skips_dead_upstream(self):
        ups = self.upstreams(1)
        from pf_harness import free_port
        dead = free_port()
        node = self.pool_node("eject", strategy="round_robin", retries=2,
                              eject_consecutive_failures=3, eject_base_ms=30000)
        self.seed(ups, dead_ports=[dead])
        self.wait_pool(node, 2)
        for _ in range(8):
            self.assertEqual(self.via(node), ups[0].src)
        wait_until(lambda: node.metric("pf_node_ejections_total") >= 1, 5, "an ejection")
        retries = node.metric("pf_node_retries_total")
        self.assertEqual(retries, 3)     # one retry per failure until ejected
        for _ in range(6):
            self.assertEqual(self.via(node), ups[0].src)
        self.assertEqual(node.metric("pf_node_retries_total"), retries, "dead upstream tried again")
        key = self.fleet.keys.node("eject") + ":upstreams"

        def counters():
            h = self.redis.hgetall(key)
            d = h.get("http://127.0.0.1:%d" % dead)
            live = h.get("http://127.0.0.1:%d" % ups[0].port)
            return (d, live) if d and live and int(live.split()[0]) >= 14 else None
        d, live = wait_until(counters, 5, "upstream counters in %s" % key)
        self.assertEqual(d, "3 3")
        att, fail = map(int, live.split())
        self.assertGreaterEqual(att, 14)
        self.assertEqual(fail, 0)
        self.assertGreater(self.redis.cmd("PTTL", key), 0)

    def test_readyz_stats_metrics(self):
        ups = self.upstreams(2)
        node = self.pool_node("ready")
        st, body, _ = node.admin("/readyz")
        self.assertEqual(st, 503, body)
        self.seed(ups)
        self.wait_pool(node, 2)
        wait_until(lambda: node.admin("/readyz")[0] == 200, 5, "/readyz 200")
        for _ in range(3):
            self.via(node)
        r = curl("-x", node.proxy_url, "-p", "http://127.0.0.1:%d/" % self.origin.port)
        self.assertEqual(r.status, 200)
        st, body, hdrs = node.admin("/stats")
        self.assertEqual(st, 200)
        s = json.loads(body)
        self.assertEqual(s["outcomes_total"]["request"]["ok"], 3)
        self.assertEqual(s["outcomes_total"]["tunnel"]["ok"], 1)
        self.assertEqual((s["pool_size"], s["pool_usable"]), (2, 2))
        self.assertEqual(s["pool_version"], self.version)
        self.assertEqual((s["ready"], s["id"]), (1, node.id))
        for h in ("ttfb_seconds", "connect_seconds"):
            self.assertGreaterEqual(s[h]["count"], 1)
            self.assertLessEqual(s[h]["p50"], s[h]["p99"])
        st, text, _ = node.admin("/metrics")
        for line in ('pf_node_ttfb_seconds_bucket{le="+Inf"} 3', "pf_node_ttfb_seconds_count 3",
                     "# TYPE pf_node_connect_seconds histogram",
                     "pf_node_pool_apply_max_slice_seconds",
                     'pf_node_outcomes_total{kind="tunnel",outcome="ok"} 1',
                     "pf_node_pool_usable 2", "pf_node_ready 1"):
            self.assertIn(line, text)
        # /stats carries every figure of /metrics under the same name
        # without the prefix: each plain sample, each labelled one as an
        # object keyed by label value, histograms by count and sum
        m = parse_metrics(text)
        s = json.loads(node.admin("/stats")[1])
        checked = 0
        for key, value in m.items():
            name, _, labels = key.partition("{")
            if name.endswith("_bucket") or "build_info" in name or name.startswith("process_"):
                continue
            if name.endswith(("_sum", "_count")) and name.rsplit("_", 1)[0][len("pf_node_"):] in s:
                base, part = name.rsplit("_", 1)
                self.assertAlmostEqual(s[base[len("pf_node_"):]][part], value, 6, key)
                checked += 1
                continue
            js = s[name[len("pf_node_"):]]
            for lv in re.findall(r'="([^"]*)"', labels):
                js = js[lv]
            if name in ("pf_node_pool_age_seconds",):
                self.assertAlmostEqual(js, value, delta=1.0)
            else:
                self.assertEqual(js, value, key)
            checked += 1
        self.assertGreater(checked, 80)
        self.assertEqual(s["responses_total"]["2xx"], m['pf_node_responses_total{class="2xx"}'])
        self.assertEqual(s["conn_closed_total"]["done"], m['pf_node_conn_closed_total{reason="done"}'])
        self.assertEqual(s["redis_reloads_total"], m["pf_node_redis_reloads_total"])
        self.assertLessEqual(s["ttfb_seconds"]["p95"], s["ttfb_seconds"]["p99"])

    def test_readyz_not_ready_when_every_upstream_expired(self):
        """A pool whose entries all expired serves nothing (503), so the
        node leaves the load balancer even though the pool is not empty."""
        ups = self.upstreams(1)
        node = self.pool_node("expired")
        self.seed(ups, expires_at_ms=int(time.time() * 1000) + 1500)
        self.wait_pool(node, 1)
        wait_until(lambda: node.admin("/readyz")[0] == 200, 5, "/readyz 200")
        st, body, _ = wait_until(lambda: (lambda r: r if r[0] == 503 else None)(node.admin("/readyz")),
                                 10, "/readyz 503 once the upstream expired")
        self.assertIn("expired", body)
        r = curl("-x", node.proxy_url, "http://127.0.0.1:%d/" % self.origin.port)
        self.assertEqual(r.status, 503)
        s = json.loads(node.admin("/stats")[1])
        self.assertEqual((s["pool_size"], s["pool_usable"], s["ready"]), (1, 0, 0))
        self.assertIn("1 expired", s["ready_reason"])


if __name__ == "__main__":
    unittest.main()
