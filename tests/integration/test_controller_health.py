"""Controller health checks: real redis-server, the real controller, three
direct-mode nodes as upstream proxies (static provider, allow_private) and a
probe URL on the harness origin. Active probes (rise/fall, latency EWMA,
{pf}:v1:health) and passive fleet health from node outcome hashes written
with redis-cli (ejection, return, max_ejection_percent)."""

import json
import time
import unittest

from pf_harness import Fleet, wait_until

FALL = 3
RISE = 2


class TestControllerHealth(unittest.TestCase):
    def setUp(self):
        self.fleet = Fleet(self)
        self.k = self.fleet.keys
        self.health_key = self.k.base + ":health"

    # -- helpers ---------------------------------------------------------------

    def start(self, health):
        """<health>: the controller.health section, or a function of the origin giving it."""
        f = self.fleet
        self.redis = f.start_redis()
        self.origin = f.start_origin()
        if callable(health):
            health = health(self.origin)
        self.ups = [f.direct_upstream_node() for _ in range(3)]
        self.ids = ["http://127.0.0.1:%d" % u.port for u in self.ups]
        # A field left by an earlier controller for an upstream long gone.
        self.redis.cmd("HSET", self.health_key, "http://10.9.9.9:1", "{}")
        self.ctl = f.start_controller({"controller": {
            "providers": [{"name": "static", "type": "static", "allow_private": True,
                           "upstreams": self.ids}],
            "health": health,
        }})

    def pool(self):
        return {k: json.loads(v) for k, v in self.redis.hgetall(self.k.pool_upstreams).items()}

    def health(self, uid):
        v = self.redis.cmd("HGET", self.health_key, uid)
        return json.loads(v) if v else None

    def wait_pool(self, pred, what, timeout=15):
        return wait_until(lambda: (lambda p: p if pred(p) else None)(self.pool()), timeout, what)

    def node_outcomes(self, node_id, outcomes):
        """Writes a fake node's outcome hash and marks the node live."""
        key = self.k.node(node_id) + ":upstreams"
        args = []
        for uid, (attempts, failures) in outcomes.items():
            args += [uid, "%d %d" % (attempts, failures)]
        self.redis.cli("HSET", key, *args)
        self.redis.cli("ZADD", self.k.nodes, int(time.time() * 1000), node_id)

    def wait_passive_round(self):
        wait_until(lambda: self.ctl.metric("pf_controller_health_passive_rounds_total") >= 1,
                   10, "a first passive round (the baseline)")

    # -- active ----------------------------------------------------------------

    def test_active_probes_fall_and_rise(self):
        self.start(lambda origin: {
            "url": origin.url("/probe"), "interval_ms": 300, "timeout_ms": 1000,
            "rise": RISE, "fall": FALL, "concurrency": 2, "expect_status": "200..399"})
        # All healthy: all published, each with a measured latency.
        self.wait_pool(lambda p: set(p) == set(self.ids) and
                       all(r["latency_ms"] > 0 for r in p.values()),
                       "three upstreams published with latency_ms > 0")
        for uid in self.ids:
            h = wait_until(lambda: (lambda h: h if h and h["healthy"] and h["state"] == "healthy"
                                    else None)(self.health(uid)), 10, "healthy entry")
            self.assertGreater(h["latency_ms"], 0)
            self.assertGreater(h["checked_at_ms"], 0)
        wait_until(lambda: self.health("http://10.9.9.9:1") is None, 10,
                   "stale health entry removed")
        self.assertTrue(any(r["path"] == "/probe" for r in self.origin.requests()),
                        "probes went through the upstreams to the origin")

        # Kill one: it leaves the pool after FALL failed probes.
        victim, vid = self.ups[1], self.ids[1]
        victim.stop()
        self.wait_pool(lambda p: set(p) == set(self.ids) - {vid}, "the dead upstream unpublished")
        # {pf}:v1:health is written at the end of the probe round
        # (docs/redis-keys.md), so it may trail the pool change a little.
        h = wait_until(lambda: (lambda h: h if h and h["state"] != "healthy" else None)(
            self.health(vid)), 5, "the dead upstream's health entry updated")
        self.assertFalse(h["healthy"])
        self.assertEqual(h["state"], "unhealthy")
        self.assertGreaterEqual(h["failures"], FALL)
        self.assertNotEqual(h["reason"], "")
        # Still known and re-probed: its failure count keeps growing.
        wait_until(lambda: self.health(vid)["failures"] > h["failures"], 10,
                   "the unhealthy upstream re-probed")
        m = self.ctl.metrics()
        self.assertGreaterEqual(m.get('pf_controller_health_probes_total{result="connect"}', 0),
                                FALL)
        self.assertGreater(m.get('pf_controller_health_probes_total{result="ok"}', 0), 0)
        self.assertEqual(m.get('pf_controller_health_upstreams{state="unhealthy"}'), 1)
        self.assertEqual(m.get('pf_controller_health_upstreams{state="healthy"}'), 2)
        self.assertGreater(m.get("pf_controller_health_probe_latency_seconds_count", 0), 0)

        # Back on the same port: it returns after RISE good probes.
        victim.start()
        self.wait_pool(lambda p: set(p) == set(self.ids), "the upstream published again")
        h = self.health(vid)
        self.assertTrue(h["healthy"])
        self.assertGreaterEqual(h["successes"], RISE)

    # -- passive ---------------------------------------------------------------

    def passive_health(self, **over):
        passive = {"interval_ms": 200, "window_ms": 3000, "failure_ratio": 0.5,
                   "min_requests": 10, "ejection_ms": 1500, "ejection_max_ms": 10000}
        passive.update(over)
        return {"url": "", "max_ejection_percent": 50, "passive": passive}

    def test_passive_ejects_and_returns(self):
        self.start(self.passive_health())
        self.wait_pool(lambda p: set(p) == set(self.ids), "three upstreams published")
        self.wait_passive_round()
        bad = self.ids[0]
        self.node_outcomes("n1", {bad: (100, 80), self.ids[1]: (100, 1)})
        self.wait_pool(lambda p: set(p) == set(self.ids) - {bad}, "the failing upstream ejected",
                       timeout=10)
        h = self.health(bad)
        self.assertEqual(h["ejections"], 1)
        self.assertGreater(h["ejected_until_ms"], 0)
        self.assertEqual(self.ctl.metric("pf_controller_health_ejected"), 1)
        # Back after the ejection time; the counters did not move since.
        t0 = time.monotonic()
        self.wait_pool(lambda p: set(p) == set(self.ids), "the ejected upstream back",
                       timeout=10)
        self.assertLess(time.monotonic() - t0, 5)
        wait_until(lambda: self.health(bad)["ejected_until_ms"] == 0, 5, "ejection lifted")
        time.sleep(1.0)
        self.assertEqual(set(self.pool()), set(self.ids), "not ejected again by old counts")

        # More failures through a second node: a second, longer ejection.
        self.node_outcomes("n2", {bad: (50, 50)})
        self.wait_pool(lambda p: bad not in p, "ejected again", timeout=10)
        h = self.health(bad)
        self.assertEqual(h["ejections"], 2)
        self.assertEqual(self.ctl.metric("pf_controller_health_ejections_total"), 2)

    def test_passive_max_ejection_percent(self):
        self.start(self.passive_health(ejection_ms=60000, ejection_max_ms=60000))
        self.wait_pool(lambda p: set(p) == set(self.ids), "three upstreams published")
        self.wait_passive_round()
        self.node_outcomes("n1", {uid: (100, 100) for uid in self.ids})
        self.wait_pool(lambda p: len(p) == 2, "one upstream ejected", timeout=10)
        # Rounds go on, everyone still fails, yet 50% of 3 allows one ejection only.
        time.sleep(1.5)
        self.assertEqual(len(self.pool()), 2)
        self.assertEqual(self.ctl.metric("pf_controller_health_ejected"), 1)
        ejected = [uid for uid in self.ids if self.health(uid)["ejected_until_ms"] > 0]
        self.assertEqual(len(ejected), 1)


if __name__ == "__main__":
    unittest.main()
