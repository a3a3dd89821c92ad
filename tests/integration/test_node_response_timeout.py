"""node.response_timeout_ms, end to end: a pool-mode node whose upstreams
are a black hole (accepts, reads the request, never answers) and a working
direct-mode node.

  * a plain request through the black hole gets 504 after
    response_timeout_ms, far below idle_timeout_ms (60 s here);
  * the request reaches the black hole exactly once (never replayed on the
    other upstream, although retries allow it for connect failures);
  * the timeouts count as upstream failures: after
    eject_consecutive_failures of them the black hole is ejected and the
    node keeps serving 200 through the other upstream;
  * response_timeout_ms 0 turns it off: idle_timeout_ms bounds the wait as
    before, and nothing is counted as an upstream timeout.

Every wait is bounded (curl --max-time, server waits)."""

import threading
import time
import unittest

from pf_harness import curl
from test_node_http import NodeHttpBase, read_head

RESPONSE_TIMEOUT_MS = 1000
IDLE_TIMEOUT_MS = 60000


class BlackHole:
    """Handler for ThreadServer: reads one request head, counts it, then
    holds the connection without answering until the server stops."""

    def __init__(self):
        self.lock = threading.Lock()
        self.requests = 0

    def __call__(self, s, stop):
        if read_head(s):
            with self.lock:
                self.requests += 1
        stop.wait(IDLE_TIMEOUT_MS / 1000)


class ResponseTimeout(NodeHttpBase):
    def get(self, node, path):
        t0 = time.monotonic()
        r = curl("-x", node.proxy_url, self.target(path), max_time=10)
        return r, time.monotonic() - t0

    def test_504_bounded_counted_never_replayed_then_ejected(self):
        hole = BlackHole()
        srv = self.server(hole)
        good = self.direct(name="good")
        node = self.pool_node(ports=[srv.port, good.port], retries=2, strategy="round_robin",
                              response_timeout_ms=RESPONSE_TIMEOUT_MS,
                              idle_timeout_ms=IDLE_TIMEOUT_MS,
                              eject_consecutive_failures=2, eject_base_ms=60000)
        statuses = []
        for i in range(8):
            r, el = self.get(node, "/rt%d" % i)
            statuses.append(r.status)
            self.assertIn(r.status, (200, 504), "request %d: %s" % (i, r.stderr))
            if r.status == 504:
                self.assertGreater(el, RESPONSE_TIMEOUT_MS / 1000 * 0.8, "request %d" % i)
                self.assertLess(el, RESPONSE_TIMEOUT_MS / 1000 + 3, "request %d" % i)
        # two timeouts eject the black hole; everything after goes to the good one
        self.assertEqual(statuses.count(504), 2, statuses)
        self.assertEqual(statuses[-4:], [200] * 4, statuses)
        # each 504 was one request that reached the black hole, and only there
        self.assertEqual(hole.requests, 2)
        paths = self.origin_paths()
        for i, st in enumerate(statuses):
            self.assertEqual(paths.count("/rt%d" % i), 1 if st == 200 else 0, "/rt%d" % i)
        m = node.metrics()
        self.assertEqual(m.get('pf_node_upstream_errors_total{kind="upstream_timeout"}'), 2.0)
        self.assertGreaterEqual(m.get("pf_node_ejections_total", 0), 1.0)
        self.assertEqual(m.get('pf_node_errors_total{code="504"}', 0), 2.0)
        self.assertTrue(node.running())

    def test_zero_disables_idle_timeout_bounds_the_wait(self):
        hole = BlackHole()
        srv = self.server(hole)
        node = self.pool_node(ports=[srv.port], retries=2, response_timeout_ms=0,
                              idle_timeout_ms=2000)
        r, el = self.get(node, "/off")
        self.assertEqual(r.status, 504, r.stderr)
        self.assertGreater(el, 1.6)
        self.assertLess(el, 6.0)
        self.assertEqual(hole.requests, 1)
        self.assertEqual(node.metric('pf_node_upstream_errors_total{kind="upstream_timeout"}'), 0.0)
        self.assertTrue(node.running())


if __name__ == "__main__":
    unittest.main()
