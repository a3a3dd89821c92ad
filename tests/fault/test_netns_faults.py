"""Kernel-level network faults: iptables/nft rules inside a network
namespace the test creates (tests/fault/netns_util.py), no proxy in the
path. Unlike tests/chaos_proxy.py, the kernel drops even the SYNs, so a
reconnect attempt sees nothing at all (no accept, no RST).

  * firewall backends: DROP makes a connect from the host time out and
    REJECT (tcp-reset) refuses it at once, with every installed tool
    (iptables, nft); removing the rule restores the path; namespace and
    veth are gone after cleanup.
  * silent node<->Redis partition: redis-server runs inside the namespace,
    the node on the host reaches it over the veth; DROP rules on the Redis
    port (both directions) cut the open connections silently. The node
    detects it within command timeout + report interval, its reconnects hit
    the SYN drop (connect timeouts), its cache serves every client request
    (0 failures), and once the rules go it converges on the version
    published during the partition (its notice was dropped).
  * an upstream black-holed by DROP vs refused by REJECT: a direct-mode
    upstream node runs inside the namespace. With a good upstream beside
    it, every client request gets 200 (a retry after connect_timeout_ms
    for DROP, at once for REJECT); alone, DROP gives 504 within
    connect_timeout_ms plus a margin and REJECT a fast 502, never 200.

Missing tools (ip, iptables/nft) or no root make these tests FAIL with a
message naming the package, never skip. Every namespace and veth is removed
in a finally block, also on failure."""

import errno
import json
import socket
import time
import unittest

from fault_util import (BACKOFF_CAP_MS, REDIS_TIMEOUT_MS, REPORT_MS, Traffic, pool_node_config,
                        proxy_get, record, seed, wait_node_epoch)
from netns_util import (NetNs, NsRedis, exists, installed_backends, link_exists,
                        require_tools, start_node_in)
from pf_harness import Fleet, wait_until

EPOCH = "7e7e7e7e7e7e7e7e"
SLACK_S = 1.5                  # scheduling slack under ASan on 2 shared cores
CONNECT_TIMEOUT_MS = 1000      # pool node connect_timeout_ms (connect + handshake)
RETRIES = 2


def elapsed_since(t0):
    return time.monotonic() - t0


def seed_hosts(fleet, redis, keys, version, epoch, hostports):
    """seed() for upstreams at any host: <hostports> [(host, port, extra
    record fields), ...]; passwords sealed with the fleet's key."""
    redis.cmd("DEL", keys.pool_upstreams)
    for h, p, extra in hostports:
        redis.cmd("HSET", keys.pool_upstreams, "http://%s:%d" % (h, p),
                  fleet.seal_record(record(p, host=h, **extra)))
    redis.cmd("HSET", keys.pool_meta, "version", str(version), "epoch", epoch,
              "count", str(len(hostports)), "updated_at_ms", str(int(time.time() * 1000)),
              "controller_id", "netns-test")
    redis.cmd("PUBLISH", keys.pool_channel, "%d %s" % (version, epoch))


def try_connect(host, port, timeout):
    """(outcome, elapsed_s): "ok", "refused" or "timeout"."""
    t0 = time.monotonic()
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return "ok", elapsed_since(t0)
    except socket.timeout:
        return "timeout", elapsed_since(t0)
    except OSError as e:
        if e.errno == errno.ECONNREFUSED:
            return "refused", elapsed_since(t0)
        return "error %s" % e, elapsed_since(t0)


class TestNetnsFaults(unittest.TestCase):
    def setUp(self):
        # Fails (never skips) when root, ip or iptables/nft are missing.
        self.backend = require_tools()
        self.fleet = Fleet(self)
        self.k = self.fleet.keys
        self.figures = {"firewall": self.backend}

    def tearDown(self):
        if len(self.figures) > 1:
            print("\nFIGURES %s %s" % (self.id().split(".")[-1], json.dumps(self.figures,
                                                                             sort_keys=True)))

    def run_in_ns(self, body, backend=None):
        """Creates a namespace, runs body(ns), and removes the namespace and
        its veth in a finally block; cleanup problems fail the test."""
        ns = NetNs.create(backend or self.backend)
        try:
            body(ns)
        finally:
            problems = ns.destroy()
        self.assertEqual(problems, [])
        self.assertFalse(exists(ns.name), "namespace %s left behind" % ns.name)
        self.assertFalse(link_exists(ns.host_dev), "veth %s left behind" % ns.host_dev)
        return ns

    def wait_version(self, node, version, timeout):
        return wait_until(lambda: node.metric("pf_node_pool_version") == version, timeout,
                          "%s to serve pool version %d" % (node.name, version))

    # -- the helpers themselves ----------------------------------------------

    def test_firewall_drop_vs_reject_every_backend(self):
        backends = installed_backends()
        self.assertTrue(backends)
        seen = {}
        for be in backends:
            def body(ns, be=be):
                lsock = ns.listen()
                self.addCleanup(lsock.close)
                port = lsock.getsockname()[1]
                self.assertEqual(try_connect(ns.ns_ip, port, 2)[0], "ok", "no rule: open")
                rule = ns.fw.add("drop", "input", dport=port)
                out, el = try_connect(ns.ns_ip, port, 1.0)
                self.assertEqual(out, "timeout", "%s DROP: %s after %.2fs" % (be, out, el))
                self.assertGreater(ns.fw.packets(rule), 0, "%s DROP rule matched nothing" % be)
                ns.fw.remove(rule)
                self.assertEqual(try_connect(ns.ns_ip, port, 2)[0], "ok", "DROP removed")
                rule = ns.fw.add("reject", "input", dport=port)
                out, el = try_connect(ns.ns_ip, port, 2.0)
                self.assertEqual(out, "refused", "%s REJECT: %s" % (be, out))
                self.assertLess(el, 0.5, "%s REJECT must refuse at once" % be)
                self.assertGreater(ns.fw.packets(rule), 0)
                ns.fw.remove(rule)
                self.assertEqual(try_connect(ns.ns_ip, port, 2)[0], "ok", "REJECT removed")
                # the namespace's loopback is never filtered by veth rules
                ns.fw.add("drop", "input", dport=port)
                ns.connect(ns.ns_ip, port, 2).close()
                seen[be] = round(el, 4)
            self.run_in_ns(body, backend=be)
        self.figures.update(backends=sorted(seen), reject_refused_s=seen)

    # -- scenario a: silent partition node <-> Redis ---------------------------

    def test_silent_partition_by_drop_detected_cache_serves_then_converges(self):
        self.run_in_ns(self._partition)

    def _partition(self, ns):
        f = self.fleet
        redis = NsRedis.start_in(f, ns, port=6390)
        origin = f.start_origin()
        ups = [f.direct_upstream_node(name="up%d" % i) for i in range(2)]
        seed(redis, self.k, 1, EPOCH, [ups[0].port], publish=False)
        node = f.start_node(pool_node_config(redis.url), name="node-p")
        self.wait_version(node, 1, 10)
        wait_node_epoch(redis, self.k, node.id, EPOCH, 1, timeout=5)
        self.assertEqual(node.metric("pf_node_redis_connected"), 1)
        disc0 = node.metric("pf_node_redis_disconnects_total")
        cto0 = node.metric("pf_node_redis_command_timeouts_total")
        needle = "connect timeout after %d ms" % REDIS_TIMEOUT_MS
        ct0 = node.log_text().count(needle)

        traffic = Traffic(node.port, origin.url("/netns-partition"), interval_s=0.1).start()
        try:
            time.sleep(0.3)
            t0 = time.monotonic()
            r_in = ns.fw.add("drop", "input", dport=redis.port)     # node -> redis
            r_out = ns.fw.add("drop", "output", sport=redis.port)   # redis -> node
            wait_until(lambda: node.metric("pf_node_redis_connected") == 0,
                       REDIS_TIMEOUT_MS / 1000 + REPORT_MS / 1000 + 2 * SLACK_S,
                       "partition detected (redis_connected 0)")
            t_detect = elapsed_since(t0)
            # Published during the partition; Redis still counts the node's
            # (dead) subscriber and sends it the notice, which the rule drops.
            seed(redis, self.k, 2, EPOCH, [ups[1].port], publish=False)
            receivers = redis.cmd("PUBLISH", self.k.pool_channel, "2 %s" % EPOCH)
            # Its reconnects meet the SYN drop: connect deadlines fire.
            wait_until(lambda: node.log_text().count(needle) > ct0,
                       BACKOFF_CAP_MS / 1000 + REDIS_TIMEOUT_MS / 1000 + 2 * SLACK_S,
                       "a reconnect to hit its connect deadline")
            t_ct = elapsed_since(t0)
            time.sleep(max(0.0, 3.0 - elapsed_since(t0)))     # >= 3 s cut off
            self.assertEqual(node.metric("pf_node_pool_version"), 1, "cache kept while cut off")
            self.assertEqual(node.metric("pf_node_redis_connected"), 0)
            self.assertTrue(node.running())
            dropped_in, dropped_out = ns.fw.packets(r_in), ns.fw.packets(r_out)
            t_part = elapsed_since(t0)
            t_heal = time.monotonic()
            ns.fw.remove(r_in)
            ns.fw.remove(r_out)
            self.wait_version(node, 2, REDIS_TIMEOUT_MS / 1000 + BACKOFF_CAP_MS / 1000
                              + 2 * SLACK_S)
            t_conv = elapsed_since(t_heal)
            wait_node_epoch(redis, self.k, node.id, EPOCH, 2, timeout=5)
            time.sleep(0.3)
        finally:
            results = traffic.stop()
        self.assertGreater(dropped_in, 0, "the input DROP rule never matched")
        self.assertGreater(dropped_out + dropped_in, 1)
        self.assertGreaterEqual(node.metric("pf_node_redis_disconnects_total"), disc0 + 1)
        self.assertGreaterEqual(node.metric("pf_node_redis_command_timeouts_total"), cto0 + 1)
        self.assertLess(t_detect, REDIS_TIMEOUT_MS / 1000 + REPORT_MS / 1000 + SLACK_S, t_detect)
        during = [x for x in results if t0 <= x[0] <= t_heal]
        self.assertGreaterEqual(len(during), 10, (len(during), len(results)))
        self.assertEqual([x for x in results if x[1] != 200], [])
        # v2 (upstream 1 only) serves now.
        before = ups[1].metric("pf_node_requests_total")
        self.assertEqual(proxy_get(node.port, origin.url("/after-heal"))[0], 200)
        self.assertGreater(ups[1].metric("pf_node_requests_total"), before)
        self.assertEqual(node.metric("pf_node_redis_connected"), 1)
        self.figures.update(detect_s=round(t_detect, 2), first_connect_timeout_s=round(t_ct, 2),
                            partition_s=round(t_part, 2), converge_after_heal_s=round(t_conv, 2),
                            notice_receivers_during=receivers, dropped_packets_in=dropped_in,
                            dropped_packets_out=dropped_out, requests=len(results),
                            requests_during=len(during), failed=0,
                            max_latency_s=round(max(x[2] for x in results), 3),
                            connect_timeouts=node.log_text().count(needle) - ct0)

    # -- scenario b: upstream black-holed (DROP) vs refused (REJECT) -----------

    def test_upstream_drop_vs_reject_retry_elsewhere_and_504_alone(self):
        self.run_in_ns(self._upstreams)

    def _upstreams(self, ns):
        f = self.fleet
        redis = f.start_redis()
        origin = f.start_origin()
        good = f.direct_upstream_node(name="up-good")
        allow = ["127.0.0.0/8", ns.ns_ip + "/32"]
        # Not on loopback, so the open-proxy guard wants users.
        ns_pass = f.secret("ns-up-pass-4f1a9c")
        up_ns = start_node_in(f, ns, {"node": {
            "mode": "direct", "destination_allow": allow,
            "users": [{"user": "nsuser", "pass": ns_pass}],
            "listen": "%s:%d" % (ns.ns_ip, 13128), "admin_listen": "%s:%d" % (ns.ns_ip, 19100)}},
            name="up-ns")
        # reuse across clients off: the baseline request would leave an idle
        # connection to the namespaced upstream, and a request on it once
        # the DROP rule is in waits for the response deadline, not the
        # connect deadline these timings are about (issue 14)
        node = f.start_node(pool_node_config(
            None, destination_allow=allow, connect_timeout_ms=CONNECT_TIMEOUT_MS,
            retries=RETRIES, eject_consecutive_failures=0, idle_timeout_ms=5000,
            reuse_max_idle_per_upstream=0),
            name="node-u")
        ns_up = (ns.ns_ip, up_ns.port, {"user": "nsuser", "pass": ns_pass})
        good_up = ("127.0.0.1", good.port, {})
        version = [0]

        def publish(hostports):
            version[0] += 1
            seed_hosts(f, redis, self.k, version[0], EPOCH, hostports)
            self.wait_version(node, version[0], 5)

        bound = CONNECT_TIMEOUT_MS / 1000 + SLACK_S
        # Baseline, no rule: the namespaced upstream works (its own admin
        # /healthz, reached through the pool node and the upstream).
        publish([ns_up])
        st, el, body = proxy_get(node.port, "http://%s:%d/healthz" % (ns.ns_ip, up_ns.admin_port))
        self.assertEqual(st, 200, body[:200])

        # DROP, alone: 504 after the connect deadline, never 200.
        rule = ns.fw.add("drop", "input", dport=up_ns.port)
        alone_drop = [proxy_get(node.port, origin.url("/drop-alone%d" % i), timeout=10)
                      for i in range(3)]
        for st, el, _ in alone_drop:
            self.assertEqual(st, 504, alone_drop)
            self.assertGreater(el, CONNECT_TIMEOUT_MS / 1000 - 0.05, alone_drop)
            self.assertLess(el, bound, alone_drop)
        self.assertGreater(ns.fw.packets(rule), 0)

        # DROP beside a good upstream: every request 200, the unlucky ones
        # after one connect deadline.
        publish([ns_up, good_up])
        r0, d0 = node.metric("pf_node_retries_total"), node.metric("pf_node_upstream_dials_total")
        drop_mixed = [proxy_get(node.port, origin.url("/drop-mixed%d" % i), timeout=10)
                      for i in range(8)]
        drop_retries = node.metric("pf_node_retries_total") - r0
        self.assertEqual([x[0] for x in drop_mixed], [200] * 8, drop_mixed)
        self.assertLess(max(x[1] for x in drop_mixed), bound, drop_mixed)
        self.assertGreaterEqual(drop_retries, 1, "no request went to the dropped upstream first")
        slow = [x for x in drop_mixed if x[1] > CONNECT_TIMEOUT_MS / 1000 - 0.05]
        self.assertEqual(len(slow), drop_retries, (drop_mixed, drop_retries))
        ns.fw.remove(rule)

        # REJECT beside a good upstream: every request 200 at once.
        rule = ns.fw.add("reject", "input", dport=up_ns.port)
        r0 = node.metric("pf_node_retries_total")
        rej_mixed = [proxy_get(node.port, origin.url("/reject-mixed%d" % i), timeout=10)
                     for i in range(8)]
        rej_retries = node.metric("pf_node_retries_total") - r0
        self.assertEqual([x[0] for x in rej_mixed], [200] * 8, rej_mixed)
        self.assertGreaterEqual(rej_retries, 1)
        self.assertLess(max(x[1] for x in rej_mixed), 0.5, rej_mixed)

        # REJECT, alone: a fast 502 (refused), never 200.
        publish([ns_up])
        rej_alone = [proxy_get(node.port, origin.url("/reject-alone%d" % i), timeout=10)
                     for i in range(3)]
        for st, el, _ in rej_alone:
            self.assertEqual(st, 502, rej_alone)
            self.assertLess(el, 0.5, rej_alone)
        self.assertGreater(ns.fw.packets(rule), 0)
        ns.fw.remove(rule)

        # Nothing failed reached the origin; the good upstream served the rest.
        paths = [r["path"] for r in origin.requests()]
        self.assertFalse([p for p in paths if "alone" in p], paths)
        self.assertEqual(len([p for p in paths if "mixed" in p]), 16, paths)
        self.assertEqual(up_ns.metric("pf_node_requests_total"), 1, "only the baseline")
        self.figures.update(
            drop_alone_504_s=[round(x[1], 3) for x in alone_drop],
            drop_mixed_s=[round(x[1], 3) for x in drop_mixed], drop_retries=drop_retries,
            reject_mixed_max_s=round(max(x[1] for x in rej_mixed), 3),
            reject_retries=rej_retries,
            reject_alone_502_s=[round(x[1], 3) for x in rej_alone],
            dials=node.metric("pf_node_upstream_dials_total") - d0)


if __name__ == "__main__":
    unittest.main()
