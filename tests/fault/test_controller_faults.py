"""Controller faults as the fleet sees them: real controllers (lease
{pf}:v1:controller:lease, 1500 ms), a fake provider API listing real
loopback upstreams, a pool node carrying client traffic.

  * The leader is SIGKILLed: the standby leads within the lease time, the
    published stream stays clean (versions strictly increase, the epoch
    changes exactly once, no write from the old leader after the new one
    took over), and the node converges on the new epoch without a failed
    request.
  * Every controller is down: the node keeps serving its cached pool (no
    failed request for several lease times), while the controller hash
    expires so operators can see that no controller is alive."""

import signal
import time
import unittest

from fault_util import (FaultTestCase, LEASE_MS, REDIS_TIMEOUT_MS, Subscriber, Traffic, pool_node_config,
                        proxy_get, wait_node_epoch)
from pf_harness import wait_until

HEARTBEAT_MS = 500
SLACK_S = 1.0


class TestControllerFaults(FaultTestCase):
    def meta(self):
        return self.redis.hgetall(self.k.pool_meta)

    def lease_holder(self):
        v = self.redis.cmd("GET", self.k.controller_lease)
        return v.rsplit(":", 1)[0] if v else None

    def world(self):
        f = self.fleet
        self.redis = f.start_redis()
        self.origin = f.start_origin()
        self.ups = [f.direct_upstream_node(name="up%d" % i) for i in range(3)]
        self.prov = f.start_fake_provider()
        self.set_upstreams(self.ups[:2])
        prov_cfg = {"name": "api", "type": "api", "format": "lines", "allow_private": True,
                    "url": self.prov.url("/list?key=" + f.secret("k-FAULT-SECRET-77")),
                    "interval_ms": 200, "timeout_ms": 1000, "ttl_s": 300}
        cfg = {"controller": {"lease_ms": LEASE_MS, "heartbeat_interval_ms": HEARTBEAT_MS,
                              "providers": [prov_cfg]},
               "redis": {"connect_timeout_ms": REDIS_TIMEOUT_MS,
                         "command_timeout_ms": REDIS_TIMEOUT_MS}}
        self.a = f.start_controller(cfg, name="ctl-a")
        wait_until(lambda: self.lease_holder() == "ctl-a", 5, "ctl-a leads")
        self.b = f.start_controller(cfg, name="ctl-b")
        m1 = wait_until(lambda: (lambda m: m if m.get("count") == "2" else None)(self.meta()),
                        10, "pool published")
        self.node = f.start_node(pool_node_config(), name="node-c")
        wait_node_epoch(self.redis, self.k, self.node.id, m1["epoch"], timeout=10)
        return m1

    def set_upstreams(self, nodes):
        self.prov.set("/list", scenario="good_text",
                      upstreams=["127.0.0.1:%d" % u.port for u in nodes])

    def test_leader_sigkill_standby_takes_over_clean_stream(self):
        m1 = self.world()
        sub = Subscriber(self.redis.port, self.k.pool_channel)
        self.addCleanup(sub.stop)
        # A change published by ctl-a before the kill: the stream has content.
        self.set_upstreams(self.ups[1:3])
        wait_until(lambda: self.meta().get("version") != m1["version"] and
                   self.meta().get("epoch") == m1["epoch"], 5, "ctl-a publishes a change")
        traffic = Traffic(self.node.port, self.origin.url("/ha"), interval_s=0.1).start()
        try:
            time.sleep(0.3)
            self.a.signal(signal.SIGKILL)
            self.a.wait(5)
            t0 = time.monotonic()
            wait_until(lambda: self.lease_holder() == "ctl-b", LEASE_MS / 1000 + SLACK_S,
                       "ctl-b takes the lease within the lease time")
            t_lease = time.monotonic() - t0
            m2 = wait_until(lambda: (lambda x: x if x.get("controller_id") == "ctl-b" else None)(
                self.meta()), 5, "ctl-b publishes")
            t_pub = time.monotonic() - t0
            wait_node_epoch(self.redis, self.k, self.node.id, m2["epoch"], timeout=10)
            t_node = time.monotonic() - t0
            # The new leader keeps publishing changes under its one epoch.
            self.set_upstreams(self.ups[0:3:2])
            m3 = wait_until(lambda: (lambda x: x if x.get("version") != m2["version"] else None)(
                self.meta()), 5, "ctl-b publishes a change")
            wait_node_epoch(self.redis, self.k, self.node.id, m3["epoch"], m3["version"], 10)
            time.sleep(0.5)
        finally:
            results = traffic.stop()
            notices = sub.stop()
        self.assertNotEqual(m2["epoch"], m1["epoch"])
        self.assertEqual(m3["epoch"], m2["epoch"])
        # The published stream: "<version> <epoch>", versions strictly
        # increasing (no duplicate, no stale write), exactly one epoch change.
        pairs = [tuple(p.split()) for _, p in notices]
        versions = [int(v) for v, _ in pairs]
        epochs = [e for _, e in pairs]
        self.assertGreaterEqual(len(pairs), 3, pairs)
        self.assertEqual(versions, sorted(set(versions)), "versions strictly increase: %r" % pairs)
        changes = sum(1 for x, y in zip(epochs, epochs[1:]) if x != y)
        self.assertEqual(changes, 1, pairs)
        self.assertEqual(epochs[0], m1["epoch"])
        self.assertEqual(epochs[-1], m2["epoch"])
        self.assertEqual(int(self.meta()["version"]), versions[-1])
        self.assertEqual(self.meta()["controller_id"], "ctl-b")
        self.assertLess(t_lease, LEASE_MS / 1000 + SLACK_S)
        self.assertEqual([r for r in results if r[1] != 200], [])
        self.assertGreater(len(results), 10)
        self.figures.update(lease_taken_s=round(t_lease, 2), republished_s=round(t_pub, 2),
                            node_converged_s=round(t_node, 2), notices=len(pairs),
                            epoch_changes=changes, requests=len(results), failed=0)

    def test_sigstopped_leader_is_fenced_no_stale_write_under_traffic(self):
        """A leader frozen (SIGSTOP) past its lease, while the standby takes
        over and publishes a different pool: on SIGCONT the old leader still
        believes it leads, polls and tries to publish its own (now stale)
        view. The fenced write is refused (docs/redis-keys.md): the notice
        stream stays strictly increasing under the new epoch, pool:meta is
        the standby's, and clients never notice."""
        m1 = self.world()
        sub = Subscriber(self.redis.port, self.k.pool_channel)
        self.addCleanup(sub.stop)
        traffic = Traffic(self.node.port, self.origin.url("/frozen"), interval_s=0.1).start()
        try:
            time.sleep(0.3)
            self.a.signal(signal.SIGSTOP)
            t0 = time.monotonic()
            try:
                wait_until(lambda: self.lease_holder() == "ctl-b", LEASE_MS / 1000 + SLACK_S,
                           "ctl-b takes the lease of the frozen leader")
                t_lease = time.monotonic() - t0
                m2 = wait_until(lambda: (lambda x: x if x.get("controller_id") == "ctl-b" else None)(
                    self.meta()), 5, "ctl-b publishes")
                # the standby publishes a change the frozen leader has not seen
                self.set_upstreams(self.ups[1:3])
                m3 = wait_until(lambda: (lambda x: x if x.get("version") != m2["version"] else None)(
                    self.meta()), 5, "ctl-b publishes the changed pool")
                # and the provider moves on again: the old leader, once
                # resumed, polls this list and would publish it
                self.set_upstreams(self.ups[0:1])
                m4 = wait_until(lambda: (lambda x: x if x.get("count") == "1" else None)(
                    self.meta()), 5, "ctl-b publishes the one-upstream pool")
            finally:
                self.a.signal(signal.SIGCONT)
            wait_until(lambda: "no longer leader" in self.a.log_text(), 5, "ctl-a steps down")
            time.sleep(1.0)            # time for any stale write to land (none may)
            wait_node_epoch(self.redis, self.k, self.node.id, m4["epoch"], m4["version"], 10)
        finally:
            results = traffic.stop()
            notices = sub.stop()
        m5 = self.meta()
        self.assertEqual((m5["epoch"], m5["version"], m5["controller_id"]),
                         (m4["epoch"], m4["version"], "ctl-b"))
        self.assertEqual(self.lease_holder(), "ctl-b")
        self.assertNotEqual(m2["epoch"], m1["epoch"])
        self.assertEqual(m3["epoch"], m2["epoch"])
        pairs = [tuple(p.split()) for _, p in notices]
        versions = [int(v) for v, _ in pairs]
        epochs = [e for _, e in pairs]
        self.assertEqual(versions, sorted(set(versions)), "versions strictly increase: %r" % pairs)
        # once the new leader published, no notice of the old epoch follows:
        # the resumed leader's write never landed
        first_new = epochs.index(m2["epoch"])
        self.assertEqual(set(epochs[first_new:]), {m2["epoch"]}, pairs)
        self.assertTrue(set(epochs[:first_new]) <= {m1["epoch"]}, pairs)
        self.assertEqual(m4["epoch"], m2["epoch"])
        self.assertEqual(self.a.metric("pf_controller_leader"), 0)
        self.assertEqual([r for r in results if r[1] != 200], [])
        self.assertGreater(len(results), 10)
        self.figures.update(lease_taken_s=round(t_lease, 2), notices=len(pairs),
                            requests=len(results), failed=0, stale_writes=0)

    def test_all_controllers_down_nodes_serve_cached_pool(self):
        m1 = self.world()
        size = self.node.metric("pf_node_pool_size")
        self.assertEqual(size, 2)
        traffic = Traffic(self.node.port, self.origin.url("/orphan"), interval_s=0.1).start()
        try:
            self.a.signal(signal.SIGKILL)
            self.b.signal(signal.SIGKILL)
            self.a.wait(5)
            self.b.wait(5)
            t0 = time.monotonic()
            # The controller hash (TTL 3 x heartbeat) and the lease expire:
            # nobody is alive, and it shows.
            wait_until(lambda: self.redis.cmd("EXISTS", self.k.controller) == 0,
                       3 * HEARTBEAT_MS / 1000 + SLACK_S, "controller hash expires")
            wait_until(lambda: self.lease_holder() is None, LEASE_MS / 1000 + SLACK_S,
                       "lease expires")
            # Serve for a good while past both: several lease times.
            while time.monotonic() - t0 < 3 * LEASE_MS / 1000:
                time.sleep(0.1)
            orphan_s = time.monotonic() - t0
        finally:
            results = traffic.stop()
        self.assertGreater(len(results), 20)
        self.assertEqual([r for r in results if r[1] != 200], [])
        mt = self.node.metrics()
        self.assertEqual(mt["pf_node_pool_size"], size)
        self.assertEqual(mt["pf_node_redis_connected"], 1)
        h = self.redis.hgetall(self.k.node(self.node.id))
        self.assertEqual((h.get("pool_epoch"), h.get("pool_version")),
                         (m1["epoch"], self.meta()["version"]))
        self.assertEqual(proxy_get(self.node.port, self.origin.url("/still"))[0], 200)
        self.figures.update(orphan_s=round(orphan_s, 2), requests=len(results), failed=0)


if __name__ == "__main__":
    unittest.main()
