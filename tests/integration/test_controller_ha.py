"""Controller high availability: one leader among standbys through the lease
{pf}:v1:controller:lease, fenced writes, failover on SIGKILL and SIGSTOP,
lease release on SIGTERM. Real redis-server, real controller binaries, fake
provider API. Leases are short (1500 ms) to keep the suite fast."""

import json
import signal
import time
import unittest

from pf_harness import Fleet, wait_until

PUBLIC_A = "203.0.113.10:8080"
PUBLIC_B = "198.51.100.7:3128"
LEASE_MS = 1500


class TestControllerHA(unittest.TestCase):
    def setUp(self):
        self.fleet = Fleet(self)
        self.k = self.fleet.keys

    def meta(self):
        return self.fleet.redis.hgetall(self.k.pool_meta)

    def lease_holder(self):
        v = self.fleet.redis.cmd("GET", self.k.controller_lease)
        return v.rsplit(":", 1)[0] if v else None

    def status(self, ctl):
        return json.loads(ctl.admin("/status")[1])

    def start_pair(self):
        f = self.fleet
        f.start_redis()
        prov = f.start_fake_provider()
        prov.set("/list", scenario="good_text", upstreams=[PUBLIC_A, PUBLIC_B])
        prov_cfg = {"name": "plain", "type": "api", "format": "lines",
                    "url": prov.url("/list?key=" + f.secret("k-HA-SECRET-31")),
                    "interval_ms": 200, "timeout_ms": 1000, "ttl_s": 300}
        cfg = {"controller": {"lease_ms": LEASE_MS, "providers": [prov_cfg]}}
        a = f.start_controller(cfg, name="ctl-a")
        wait_until(lambda: self.lease_holder() == "ctl-a", 5, "ctl-a leads")
        b = f.start_controller(cfg, name="ctl-b")
        m = wait_until(lambda: (lambda m: m if m.get("count") == "2" else None)(self.meta()),
                       10, "pool published")
        return prov, a, b, m

    def test_one_leader_standby_idle(self):
        prov, a, b, m = self.start_pair()
        time.sleep(1.0)
        self.assertEqual(self.lease_holder(), "ctl-a")
        self.assertEqual(0 < self.fleet.redis.cmd("PTTL", self.k.controller_lease) <= LEASE_MS,
                         True)
        sa, sb = self.status(a), self.status(b)
        self.assertEqual((sa["leader"], sb["leader"]), (True, False))
        self.assertEqual(sa["epoch"], m["epoch"])
        self.assertEqual(sa["providers"][0]["state"], "ok")
        self.assertEqual((a.metric("pf_controller_leader"), b.metric("pf_controller_leader")),
                         (1, 0))
        self.assertEqual(b.metric("pf_controller_polls_total"), 0)
        self.assertGreater(a.metric("pf_controller_polls_total"), 2)
        hb = self.fleet.redis.hgetall(self.k.controller)
        self.assertEqual((hb["id"], hb["leader"], hb["epoch"]), ("ctl-a", "ctl-a", m["epoch"]))
        self.assertEqual(self.meta()["controller_id"], "ctl-a")

    def test_sigkill_leader_standby_takes_over(self):
        prov, a, b, m = self.start_pair()
        a.signal(signal.SIGKILL)
        a.wait(5)
        t0 = time.monotonic()
        m2 = wait_until(lambda: (lambda x: x if x.get("controller_id") == "ctl-b" else None)(
            self.meta()), 10, "ctl-b publishes")
        took = time.monotonic() - t0
        # The lease ends at most LEASE_MS after the kill; the standby tries
        # again right when it ends; then one poll and a publish.
        self.assertLess(took, LEASE_MS / 1000.0 + 1.0, took)
        self.assertNotEqual(m2["epoch"], m["epoch"])
        self.assertEqual(m2["count"], "2")
        self.assertGreater(int(m2["version"]), int(m["version"]))
        self.assertEqual(self.lease_holder(), "ctl-b")
        self.assertTrue(self.status(b)["leader"])
        wait_until(lambda: self.fleet.redis.hgetall(self.k.controller).get("id") == "ctl-b", 3,
                   "controller hash of the new leader")

    def test_sigstopped_leader_is_fenced_after_resume(self):
        prov, a, b, m = self.start_pair()
        a.signal(signal.SIGSTOP)
        try:
            m2 = wait_until(lambda: (lambda x: x if x.get("controller_id") == "ctl-b" else None)(
                self.meta()), 10, "ctl-b publishes while ctl-a is stopped")
            self.assertNotEqual(m2["epoch"], m["epoch"])
            # Make the old leader's view differ, so a stale write would show.
            prov.set("/list", scenario="good_text", upstreams=[PUBLIC_A])
            m3 = wait_until(lambda: (lambda x: x if x.get("count") == "1" else None)(self.meta()),
                            10, "ctl-b publishes the changed pool")
        finally:
            a.signal(signal.SIGCONT)
        wait_until(lambda: "no longer leader" in a.log_text(), 5, "ctl-a steps down")
        time.sleep(1.0)
        m4 = self.meta()
        self.assertEqual((m4["epoch"], m4["controller_id"]), (m3["epoch"], "ctl-b"))
        self.assertEqual(m4["version"], m3["version"])
        self.assertEqual(self.lease_holder(), "ctl-b")
        self.assertEqual(self.fleet.redis.hgetall(self.k.controller)["id"], "ctl-b")
        self.assertFalse(self.status(a)["leader"])
        self.assertEqual(a.metric("pf_controller_leader"), 0)
        # ctl-a stopped polling: its poll count no longer grows.
        n = a.metric("pf_controller_polls_total")
        time.sleep(0.8)
        self.assertEqual(a.metric("pf_controller_polls_total"), n)

    def test_sigterm_releases_the_lease(self):
        prov, a, b, m = self.start_pair()
        t0 = time.monotonic()
        self.assertEqual(a.stop(), 0)
        wait_until(lambda: self.lease_holder() == "ctl-b", 5, "ctl-b leads")
        # Released, not expired: the standby took over within one renew
        # interval (its retry), well before the lease time.
        self.assertLess(time.monotonic() - t0, LEASE_MS / 1000.0)
        self.assertIn("released on shutdown", a.log_text())


if __name__ == "__main__":
    unittest.main()
