"""Fault injection between nodes and Redis (node/redis_link.c).

Scenarios (figures in docs/reliability.md):
  * Redis restarted with its data lost while a controller and a node run:
    the node reconnects, resubscribes and converges on the epoch the
    controller re-publishes; client traffic never fails meanwhile.
  * Redis black-holed at node start (tests/chaos_proxy.py accepts and never
    answers): the node's own connect deadline fires again and again, its
    loop keeps answering /healthz, /metrics and proxy requests (503, empty
    pool) promptly; once the path heals it loads the pool.
  * Silent partition mid-session (chaos proxy freezes the open connections):
    detected by the command deadline within a bound, the cache keeps
    serving, and after healing the node converges on a version published
    during the partition (whose notice it never saw).
  * The node's subscriber dropped by Redis' pubsub output-buffer limit
    during a flood of large garbage notices: the node survives them,
    reconnects and resyncs to the current version.

Every bound below is derived from the configured deadlines (500 ms), the
report interval (500 ms) and redis_link.c's reconnect backoff cap (5 s)."""

import socket
import time
import unittest

from fault_util import (FaultTestCase, BACKOFF_CAP_MS, CHECK_MS, LEASE_MS, REDIS_TIMEOUT_MS, REPORT_MS, ChaosProxy,
                        Traffic, node_hash, pool_node_config, proxy_get, seed,
                        wait_node_epoch)
from pf_harness import wait_until

EPOCH_A = "aaaaaaaaaaaaaaaa"
SLACK_S = 1.5          # scheduling slack under ASan on 2 cores


def elapsed_since(t0):
    return time.monotonic() - t0


class TestRedisFaults(FaultTestCase):
    def world(self, nupstreams=2):
        f = self.fleet
        self.redis = f.start_redis()
        self.origin = f.start_origin()
        self.ups = [f.direct_upstream_node(name="up%d" % i) for i in range(nupstreams)]
        return self.redis

    def chaos(self, mode="pass"):
        cp = ChaosProxy(("127.0.0.1", self.redis.port), mode=mode).start()
        self.addCleanup(cp.close)
        return cp

    def node(self, redis_url=None, **node_keys):
        return self.fleet.start_node(pool_node_config(redis_url, **node_keys), name="node-f")

    def wait_log(self, node, needle, count=1, timeout=10.0):
        return wait_until(lambda: node.log_text().count(needle) >= count, timeout,
                          "%d x %r in %s's log" % (count, needle, node.name))

    def wait_version(self, node, version, timeout):
        return wait_until(lambda: node.metric("pf_node_pool_version") == version, timeout,
                          "%s to serve pool version %d" % (node.name, version))

    def get(self, node, path="/f", timeout=10.0):
        return proxy_get(node.port, self.origin.url(path), timeout)

    # -- scenarios ----------------------------------------------------------

    def test_restart_with_data_lost_converges_on_new_epoch(self):
        f, r = self.fleet, self.world()
        ups = ["http://127.0.0.1:%d" % u.port for u in self.ups]
        ctl = f.start_controller({"controller": {"lease_ms": LEASE_MS, "providers": [
            {"name": "static", "type": "static", "allow_private": True, "upstreams": ups}]},
            "redis": {"connect_timeout_ms": REDIS_TIMEOUT_MS,
                      "command_timeout_ms": REDIS_TIMEOUT_MS}}, name="ctl-a")
        meta1 = wait_until(lambda: (lambda m: m if m.get("count") == "2" else None)(
            r.hgetall(self.k.pool_meta)), 10, "controller publishes the pool")
        node = self.node()
        wait_node_epoch(r, self.k, node.id, meta1["epoch"], meta1["version"], timeout=10)
        self.assertEqual(self.get(node)[0], 200)

        traffic = Traffic(node.port, self.origin.url("/during"), interval_s=0.1).start()
        try:
            time.sleep(0.3)
            t0 = time.monotonic()
            r.stop()                      # all data gone: no persistence
            r.start()
            t_up = elapsed_since(t0)
            meta2 = wait_until(lambda: (lambda m: m if m.get("epoch") not in (None, meta1["epoch"])
                                        and m.get("count") == "2" else None)(
                r.hgetall(self.k.pool_meta)), 15, "controller re-publishes into the empty Redis")
            t_pub = elapsed_since(t0)
            h = wait_node_epoch(r, self.k, node.id, meta2["epoch"], timeout=15)
            t_conv = elapsed_since(t0)
            time.sleep(0.5)
        finally:
            results = traffic.stop()
        # Converged exactly on what the controller re-published.
        self.assertEqual(h["pool_epoch"], meta2["epoch"])
        self.assertEqual(h["pool_version"], r.hgetall(self.k.pool_meta)["version"])
        self.assertEqual(h["pool_size"], "2")
        # The first report after a reconnect says 0 (docs/redis-keys.md); the
        # next one, a report interval later, says 1.
        wait_until(lambda: node_hash(r, self.k, node.id).get("redis_connected") == "1",
                   2 * REPORT_MS / 1000 + SLACK_S, "heartbeat redis_connected back to 1")
        # Bound: Redis back -> controller reconnects and republishes (lease
        # retaken) -> node's backoff (<= cap) -> reconnect + read.
        self.assertLess(t_conv - t_up, BACKOFF_CAP_MS / 1000 + LEASE_MS / 1000 + 2 * SLACK_S,
                        (t_up, t_pub, t_conv))
        self.assertGreaterEqual(node.metric("pf_node_redis_disconnects_total"), 1)
        self.assertGreaterEqual(node.metric("pf_node_redis_connects_total"), 2)
        # Traffic kept succeeding from the cache the whole time, including
        # while Redis was empty and the node not yet converged. (How many
        # requests fit depends on how fast it converges, so count only those
        # inside the outage window, and require some.)
        during = [x for x in results if t0 <= x[0] <= t0 + t_conv]
        self.assertGreaterEqual(len(during), 2, (t_conv, len(results)))
        self.assertEqual([x for x in results if x[1] != 200], [])
        self.assertEqual(self.get(node, "/after")[0], 200)
        self.assertTrue(ctl.running())
        # Resubscribed, not merely re-read: the node is a subscriber of the
        # notice channel of the new Redis, and a version published by hand
        # now reaches it as a notice (the periodic check is 5 s away).
        numsub = r.cmd("PUBSUB", "NUMSUB", self.k.pool_channel)
        self.assertGreaterEqual(int(numsub[1]), 1, numsub)
        n0 = node.metric("pf_node_redis_notices_total")
        t_pub2 = time.monotonic()
        receivers = r.cmd("PUBLISH", self.k.pool_channel, "%s %s" % (
            r.hgetall(self.k.pool_meta)["version"], meta2["epoch"]))
        self.assertGreaterEqual(receivers, 1)
        wait_until(lambda: node.metric("pf_node_redis_notices_total") > n0, 2,
                   "the node receives a notice on the new connection")
        self.assertLess(time.monotonic() - t_pub2, CHECK_MS / 1000)
        self.figures.update(redis_back_s=round(t_up, 2), republished_s=round(t_pub, 2),
                            node_converged_s=round(t_conv, 2), requests=len(results),
                            failed=0, max_latency_s=round(max(x[2] for x in results), 3))

    def test_blackholed_at_start_connect_deadline_and_loop_stays_live(self):
        r = self.world(nupstreams=1)
        seed(r, self.k, 1, EPOCH_A, [self.ups[0].port], publish=False)
        cp = self.chaos("blackhole")
        t0 = time.monotonic()
        node = self.node("redis://127.0.0.1:%d/0" % cp.port)
        needle = "connect timeout after %d ms" % REDIS_TIMEOUT_MS
        self.wait_log(node, needle, 1, timeout=REDIS_TIMEOUT_MS / 1000 + 2 * SLACK_S)
        t_first = elapsed_since(t0)
        # It keeps trying, each attempt under its own deadline (never stuck).
        self.wait_log(node, needle, 3, timeout=3 * (REDIS_TIMEOUT_MS / 1000) + 2 + 2 * SLACK_S)
        self.assertGreaterEqual(cp.stats()["blackholed"], 4)   # 2 connections per attempt

        # The event loop is not blocked: admin and proxy answer at once.
        worst_admin = worst_proxy = 0.0
        for i in range(8):
            a0 = time.monotonic()
            st, body, _ = node.admin("/healthz", timeout=2)
            worst_admin = max(worst_admin, elapsed_since(a0))
            self.assertEqual(st, 200)
            mt = node.metrics()
            self.assertEqual(mt["pf_node_redis_connected"], 0)
            self.assertEqual(mt["pf_node_pool_size"], 0)
            status, el, _ = self.get(node, "/empty%d" % i, timeout=5)
            worst_proxy = max(worst_proxy, el)
            self.assertEqual(status, 503, "empty pool must give 503, got %d" % status)
            time.sleep(0.1)
        self.assertLess(worst_admin, 0.5)
        self.assertLess(worst_proxy, 0.5)
        self.assertEqual(node.admin("/readyz")[0], 503)
        timeouts = node.log_text().count(needle)

        # Heal: the next attempt connects and loads the pool.
        cp.set_mode("pass")
        t_heal = time.monotonic()
        self.wait_version(node, 1, timeout=REDIS_TIMEOUT_MS / 1000 + BACKOFF_CAP_MS / 1000
                          + 2 * SLACK_S)
        t_load = elapsed_since(t_heal)
        self.assertEqual(node.metric("pf_node_redis_connected"), 1)
        self.assertEqual(self.get(node, "/healed")[0], 200)
        self.figures.update(first_connect_timeout_s=round(t_first, 2),
                            connect_timeouts_before_heal=timeouts,
                            worst_healthz_s=round(worst_admin, 3),
                            worst_503_s=round(worst_proxy, 3), load_after_heal_s=round(t_load, 2))

    def test_silent_partition_detected_cache_serves_then_converges(self):
        r = self.world()
        seed(r, self.k, 1, EPOCH_A, [self.ups[0].port], publish=False)
        cp = self.chaos("pass")
        node = self.node("redis://127.0.0.1:%d/0" % cp.port)
        self.wait_version(node, 1, 10)
        wait_node_epoch(r, self.k, node.id, EPOCH_A, 1, timeout=5)
        disc0 = node.metric("pf_node_redis_disconnects_total")
        cto0 = node.metric("pf_node_redis_command_timeouts_total")

        traffic = Traffic(node.port, self.origin.url("/partition"), interval_s=0.1).start()
        try:
            time.sleep(0.3)
            t0 = time.monotonic()
            cp.set_mode("blackhole")              # no FIN, no RST: silence
            wait_until(lambda: node.metric("pf_node_redis_connected") == 0,
                       REDIS_TIMEOUT_MS / 1000 + REPORT_MS / 1000 + 2 * SLACK_S,
                       "partition detected (redis_connected 0)")
            t_detect = elapsed_since(t0)
            # A new snapshot is published during the partition: its notice is lost.
            seed(r, self.k, 2, EPOCH_A, [self.ups[1].port], publish=True)
            time.sleep(1.5)
            self.assertEqual(node.metric("pf_node_pool_version"), 1, "cache kept while cut off")
            self.assertTrue(node.running())
            t_heal = time.monotonic()
            cp.set_mode("pass")
            self.wait_version(node, 2, REDIS_TIMEOUT_MS / 1000 + BACKOFF_CAP_MS / 1000
                              + 2 * SLACK_S)
            t_conv = elapsed_since(t_heal)
            wait_node_epoch(r, self.k, node.id, EPOCH_A, 2, timeout=5)
            time.sleep(0.3)
        finally:
            results = traffic.stop()
        self.assertGreaterEqual(node.metric("pf_node_redis_disconnects_total"), disc0 + 1)
        self.assertGreaterEqual(node.metric("pf_node_redis_command_timeouts_total"), cto0 + 1)
        self.assertLess(t_detect, REDIS_TIMEOUT_MS / 1000 + REPORT_MS / 1000 + SLACK_S, t_detect)
        self.assertGreater(len(results), 10)
        self.assertEqual([x for x in results if x[1] != 200], [])
        # The v2 pool (upstream 2 only) is what serves now.
        self.assertEqual(self.get(node, "/v2")[0], 200)
        self.assertGreater(self.ups[1].metric("pf_node_requests_total"), 0)
        self.figures.update(detect_s=round(t_detect, 2), converge_after_heal_s=round(t_conv, 2),
                            requests=len(results), failed=0,
                            max_latency_s=round(max(x[2] for x in results), 3))

    def test_slow_redis_link_delay_then_one_byte_per_second(self):
        """Latency on the Redis link below the command deadline (200 ms per
        chunk each way, deadline 500 ms): the link stays up and a published
        version arrives. Then 1 byte/s: every reply outlives the deadline,
        the node drops the link, serves its cache, and converges once the
        path is healthy again."""
        r = self.world()
        seed(r, self.k, 1, EPOCH_A, [self.ups[0].port], publish=False)
        cp = self.chaos("pass")
        node = self.node("redis://127.0.0.1:%d/0" % cp.port)
        self.wait_version(node, 1, 10)
        disc0 = node.metric("pf_node_redis_disconnects_total")
        traffic = Traffic(node.port, self.origin.url("/slow-redis"), interval_s=0.1).start()
        try:
            cp.set_mode("delay", delay_ms=200)
            seed(r, self.k, 2, EPOCH_A, [self.ups[0].port, self.ups[1].port], publish=True)
            t0 = time.monotonic()
            self.wait_version(node, 2, 5)
            t_delay = elapsed_since(t0)
            self.assertEqual(node.metric("pf_node_redis_disconnects_total"), disc0,
                             "200 ms of latency under a 500 ms deadline dropped the link")
            cto0 = node.metric("pf_node_redis_command_timeouts_total")
            cp.set_mode("slow", slow_bps=1)
            t1 = time.monotonic()
            wait_until(lambda: node.metric("pf_node_redis_connected") == 0,
                       REDIS_TIMEOUT_MS / 1000 + CHECK_MS / 1000 + REPORT_MS / 1000 + 2 * SLACK_S,
                       "a 1 byte/s link detected")
            t_detect = elapsed_since(t1)
            seed(r, self.k, 3, EPOCH_A, [self.ups[1].port], publish=True)
            time.sleep(1.0)
            self.assertEqual(node.metric("pf_node_pool_version"), 2, "cache kept while crawling")
            cp.set_mode("pass")
            cp.cut()                      # the trickling connections go; new ones are clean
            t2 = time.monotonic()
            self.wait_version(node, 3, REDIS_TIMEOUT_MS / 1000 + BACKOFF_CAP_MS / 1000 + 2 * SLACK_S)
            t_conv = elapsed_since(t2)
        finally:
            results = traffic.stop()
        self.assertGreater(node.metric("pf_node_redis_command_timeouts_total"), cto0)
        self.assertGreater(len(results), 10)
        self.assertEqual([x for x in results if x[1] != 200], [])
        self.figures.update(delay_converged_s=round(t_delay, 2), slow_detect_s=round(t_detect, 2),
                            converge_after_heal_s=round(t_conv, 2), requests=len(results),
                            failed=0, max_latency_s=round(max(x[2] for x in results), 3))

    def test_flapping_redis_no_reconnect_storm(self):
        # Every connection to Redis is accepted and closed at once for a
        # while: the node must back off (no hot reconnect loop), keep
        # serving its cache, and reconnect once the path is good again.
        r = self.world(nupstreams=1)
        seed(r, self.k, 1, EPOCH_A, [self.ups[0].port], publish=False)
        cp = self.chaos("pass")
        node = self.node("redis://127.0.0.1:%d/0" % cp.port)
        self.wait_version(node, 1, 10)
        window_s = 4.0
        cp.set_mode("drop")
        accepted0 = cp.stats()["accepted"]
        cp.cut()
        traffic = Traffic(node.port, self.origin.url("/flap"), interval_s=0.1).start()
        try:
            time.sleep(window_s)
            attempts = (cp.stats()["accepted"] - accepted0) / 2.0   # 2 connections per attempt
            seed(r, self.k, 2, EPOCH_A, [self.ups[0].port], publish=True)
            cp.set_mode("pass")
            t_heal = time.monotonic()
            self.wait_version(node, 2, BACKOFF_CAP_MS / 1000 + 2 * SLACK_S)
            t_conv = elapsed_since(t_heal)
        finally:
            results = traffic.stop()
        # Full-jitter backoff from 100 ms doubling to a 5 s cap: a handful of
        # attempts in 4 s; a hot loop would make thousands.
        self.assertGreaterEqual(attempts, 2)
        self.assertLessEqual(attempts, 20, "reconnect storm: %.0f attempts in %.0fs"
                             % (attempts, window_s))
        self.assertEqual([x for x in results if x[1] != 200], [])
        self.assertTrue(node.running())
        self.figures.update(window_s=window_s, reconnect_attempts=attempts,
                            converge_after_heal_s=round(t_conv, 2), requests=len(results),
                            failed=0)

    def test_pubsub_output_buffer_limit_drop_then_resync(self):
        r = self.world(nupstreams=2)
        seed(r, self.k, 1, EPOCH_A, [self.ups[0].port], publish=False)
        node = self.node()
        self.wait_version(node, 1, 10)
        # Garbage notices, small and large, reach the node first (no limit
        # yet): each is logged as malformed and only triggers a meta check.
        for g in ("garbage", "9 not-an-epoch!", "G" * (64 * 1024)):
            self.assertEqual(r.cmd("PUBLISH", self.k.pool_channel, g), 1)
        self.wait_log(node, "malformed pool notice", 3, timeout=5)
        self.assertEqual(node.metric("pf_node_pool_version"), 1)
        conn0 = node.metric("pf_node_redis_connects_total")
        disc0 = node.metric("pf_node_redis_disconnects_total")
        self.assertEqual(disc0, 0, "garbage notices alone must not drop the link")
        self.assertEqual(r.cmd("CONFIG", "SET", "client-output-buffer-limit", "pubsub 1kb 512 1"),
                         "OK")
        # The current version moves on without a notice of its own ...
        seed(r, self.k, 2, EPOCH_A, [self.ups[1].port], publish=False)
        # ... while a bounded flood of large garbage notices overflows the
        # node's subscriber buffer (hard limit 1 kB).
        payload = b"X" * (256 * 1024)
        nflood = 32
        msg = b"*3\r\n$7\r\nPUBLISH\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n" % (
            len(self.k.pool_channel), self.k.pool_channel.encode(), len(payload), payload)
        t0 = time.monotonic()
        receivers = []
        with socket.create_connection(("127.0.0.1", r.port), timeout=10) as s:
            with s.makefile("rb") as rf:
                for _ in range(nflood):
                    s.sendall(msg)
                    line = rf.readline()
                    self.assertTrue(line.startswith(b":"), line)
                    receivers.append(int(line[1:]))
        self.assertEqual(receivers[0], 1, "the node was subscribed when the flood began")
        self.assertEqual(receivers[-1], 0, "redis dropped the subscriber: %r" % receivers)
        wait_until(lambda: node.metric("pf_node_redis_disconnects_total") > disc0, 5,
                   "the node noticed the drop")
        t_detect = elapsed_since(t0)
        self.wait_version(node, 2, BACKOFF_CAP_MS / 1000 + 2 * SLACK_S)
        t_resync = elapsed_since(t0)
        self.assertGreater(node.metric("pf_node_redis_connects_total"), conn0)
        self.assertEqual(node.metric("pf_node_redis_connected"), 1)
        info = r.cmd("INFO", "stats")
        drops = [int(l.split(":")[1]) for l in info.splitlines()
                 if l.startswith("client_output_buffer_limit_disconnections:")]
        if drops:                    # Redis >= 7.0 counts them
            self.assertGreaterEqual(drops[0], 1)
        self.assertTrue(node.running())
        self.assertEqual(self.get(node, "/after-flood")[0], 200)
        wait_node_epoch(r, self.k, node.id, EPOCH_A, 2, timeout=5)
        self.figures.update(flood_msgs=nflood, flood_bytes=nflood * len(payload),
                            delivered_before_drop=sum(receivers), detect_s=round(t_detect, 2),
                            resync_s=round(t_resync, 2))


if __name__ == "__main__":
    unittest.main()
