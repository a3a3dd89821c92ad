"""Honest health (issue 11 item 5) with the real binaries and a real
redis-server: a pool node's /readyz is 503 unless one pool upstream is
usable by this node (not expired, a scheme it can dial, not locally
ejected: here every upstream gets ejected, and node.eject_panic keeps it
ready); a direct-mode node is ready while listening; the controller's
/healthz follows Redis (503 with the reason while Redis is down) and its
/readyz is 200 for the leader or a standby that reaches Redis."""

import json
import time
import unittest

from pf_harness import Fleet, curl, free_port, wait_until

EPOCH = "cdcdcdcdcdcdcdcd"
EJECT_MS = 3000


def record(port):
    return json.dumps({"scheme": "http", "host": "127.0.0.1", "port": port, "provider": "hand",
                       "expires_at_ms": 0, "weight": 1, "latency_ms": 0})


def status_is(proc, path, code):
    """(status, body) of <proc>'s admin <path> when its status is <code>."""
    st, body, _ = proc.admin(path)
    return (st, body) if st == code else None


class NodeReadiness(unittest.TestCase):
    def setUp(self):
        self.fleet = Fleet(self)
        self.redis = self.fleet.start_redis()
        self.origin = self.fleet.start_origin()

    def seed(self, ports):
        r, k = self.redis, self.fleet.keys
        r.cmd("DEL", k.pool_upstreams)
        for p in ports:
            r.cmd("HSET", k.pool_upstreams, "http://127.0.0.1:%d" % p, record(p))
        r.cmd("HSET", k.pool_meta, "version", "1", "epoch", EPOCH, "count", str(len(ports)),
              "updated_at_ms", str(int(time.time() * 1000)), "controller_id", "by-hand")
        r.cmd("PUBLISH", k.pool_events, "1 " + EPOCH)

    def pool_node(self, name, **node):
        cfg = {"mode": "pool", "destination_allow": ["127.0.0.0/8"], "retries": 0,
               "eject_consecutive_failures": 1, "eject_base_ms": EJECT_MS,
               "eject_max_ms": EJECT_MS}
        cfg.update(node)
        return self.fleet.start_node({"node": cfg}, name=name)

    def test_readyz_503_while_the_only_upstream_is_ejected(self):
        dead = free_port()                    # nothing listens: connect refused
        node = self.pool_node("ej")
        panic = self.pool_node("ej-panic", eject_panic=True)
        st, body, _ = node.admin("/readyz")
        self.assertEqual(st, 503)
        self.assertIn("no upstreams", body)
        self.seed([dead])
        for n in (node, panic):
            st, body = wait_until(lambda n=n: status_is(n, "/readyz", 200), 10,
                                  "%s ready with one upstream" % n.name)
            self.assertIn("1 of 1 upstreams usable", body)
        # one failed attempt ejects it (eject_consecutive_failures 1)
        for n in (node, panic):
            r = curl("-x", n.proxy_url, self.origin.url("/x"))
            self.assertEqual(r.status, 502, r.stderr)
            self.assertEqual(n.metric("pf_node_ejections_total"), 1)
        st, body, _ = node.admin("/readyz")
        self.assertEqual(st, 503, body)
        self.assertIn("no usable upstream", body)
        self.assertIn("1 ejected", body)
        m = node.metrics()
        self.assertEqual((m["pf_node_pool_size"], m["pf_node_pool_usable"], m["pf_node_ready"]),
                         (1, 0, 0))
        s = json.loads(node.admin("/stats")[1])
        self.assertEqual((s["ready"], s["pool_usable"]), (0, 0))
        self.assertIn("1 ejected", s["ready_reason"])
        # the node answers as /readyz said: 503, nothing dialed
        dials = node.metric("pf_node_upstream_dials_total")
        self.assertEqual(curl("-x", node.proxy_url, self.origin.url("/y")).status, 503)
        self.assertEqual(node.metric("pf_node_upstream_dials_total"), dials)
        # node.eject_panic: the ejected upstream is still used, so still ready
        st, body, _ = panic.admin("/readyz")
        self.assertEqual(st, 200, body)
        self.assertEqual(panic.metric("pf_node_pool_usable"), 1)
        # the ejection ends: ready again
        st, body = wait_until(lambda: status_is(node, "/readyz", 200), EJECT_MS / 1000 + 10,
                              "ready once the ejection ended")
        self.assertEqual(node.metric("pf_node_pool_usable"), 1)

    def test_direct_mode_ready_while_listening(self):
        node = self.fleet.start_node({"node": {"mode": "direct",
                                               "destination_allow": ["127.0.0.0/8"]}})
        st, body, _ = node.admin("/readyz")
        self.assertEqual((st, body), (200, "ready\n"))
        self.assertEqual(node.metric("pf_node_ready"), 1)
        self.assertEqual(node.metric("pf_node_pool_usable"), 0)


class ControllerHealth(unittest.TestCase):
    def setUp(self):
        self.fleet = Fleet(self)

    def controller(self, name):
        up = "http://203.0.113.7:8080"
        return self.fleet.start_controller({"controller": {
            "id": name, "lease_ms": 1500,
            "providers": [{"name": "static", "type": "static", "upstreams": [up]}]}}, name=name)

    def test_healthz_and_readyz_follow_redis_and_the_lease(self):
        f = self.fleet
        redis = f.start_redis()
        a = self.controller("ctl-a")
        wait_until(lambda: status_is(a, "/readyz", 200), 10, "ctl-a ready")
        wait_until(lambda: a.metric("pf_controller_leader") == 1, 10, "ctl-a leads")
        b = self.controller("ctl-b")
        self.assertEqual(a.admin("/readyz")[1], "ready: leader\n")
        st, body = wait_until(lambda: status_is(b, "/readyz", 200), 10, "the standby is ready")
        self.assertEqual(body, "ready: standby\n")
        for c in (a, b):
            self.assertEqual(c.admin("/healthz")[:2], (200, "ok\n"))
        # Redis goes away: both notice at their next lease step
        redis.kill()
        for c in (a, b):
            st, body = wait_until(lambda c=c: status_is(c, "/healthz", 503), 10,
                                  "%s /healthz 503 without Redis" % c.name)
            self.assertIn("redis unreachable", body)
        # the standby cannot take over: not ready; the leader's lease runs
        # out locally, then it is a standby without Redis too
        st, body = wait_until(lambda: status_is(b, "/readyz", 503), 10, "ctl-b not ready")
        self.assertIn("standby, redis unreachable", body)
        st, body = wait_until(lambda: status_is(a, "/readyz", 503), 10,
                              "ctl-a not ready once its lease ran out")
        self.assertIn("redis unreachable", body)
        self.assertEqual(a.metric("pf_controller_redis_connected"), 0)
        # Redis back (empty, same port): healthy and ready again
        redis.start()
        for c in (a, b):
            wait_until(lambda c=c: status_is(c, "/healthz", 200), 15,
                       "%s /healthz 200 with Redis back" % c.name)
            wait_until(lambda c=c: status_is(c, "/readyz", 200), 15,
                       "%s ready with Redis back" % c.name)
        wait_until(lambda: a.metric("pf_controller_leader") + b.metric("pf_controller_leader") == 1,
                   10, "one leader again")


if __name__ == "__main__":
    unittest.main()
