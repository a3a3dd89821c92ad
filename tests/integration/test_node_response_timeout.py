"""node.response_timeout_ms, end to end: a pool-mode node whose upstreams
are a black hole (accepts, reads the request, never answers) and a working
direct-mode node.

  * an idempotent request through the black hole is given up after
    response_timeout_ms, far below idle_timeout_ms (60 s here), and
    retried on the other upstream (issue 12 item 6): the client gets 200,
    the origin sees the request once;
  * a non-idempotent one (POST) gets 504 and is never replayed: the black
    hole may have acted on it;
  * the timeouts count as upstream failures: after
    eject_consecutive_failures of them the black hole is ejected and the
    node keeps serving through the other upstream at once;
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

    def test_get_retried_elsewhere_counted_then_ejected(self):
        hole = BlackHole()
        srv = self.server(hole)
        good = self.direct(name="good")
        node = self.pool_node(ports=[srv.port, good.port], retries=2, strategy="round_robin",
                              response_timeout_ms=RESPONSE_TIMEOUT_MS,
                              idle_timeout_ms=IDLE_TIMEOUT_MS,
                              eject_consecutive_failures=2, eject_base_ms=60000)
        slow = []
        for i in range(8):
            r, el = self.get(node, "/rt%d" % i)
            self.assertEqual(r.status, 200, "request %d: %s" % (i, r.stderr))
            self.assertLess(el, RESPONSE_TIMEOUT_MS / 1000 + 3, "request %d" % i)
            if el > RESPONSE_TIMEOUT_MS / 1000 * 0.8:
                slow.append(i)
        # round robin sends every other request to the black hole until two
        # timeouts eject it; each of those waited response_timeout_ms, then
        # went to the good upstream
        self.assertEqual(len(slow), 2, slow)
        self.assertEqual(hole.requests, 2)
        self.assertLess(slow[-1], 4, slow)
        paths = self.origin_paths()
        for i in range(8):
            self.assertEqual(paths.count("/rt%d" % i), 1, "/rt%d" % i)
        m = node.metrics()
        self.assertEqual(m.get('pf_node_upstream_errors_total{kind="upstream_timeout"}'), 2.0)
        self.assertGreaterEqual(m.get("pf_node_retries_total", 0), 2.0)
        self.assertGreaterEqual(m.get("pf_node_ejections_total", 0), 1.0)
        self.assertEqual(m.get('pf_node_errors_total{code="504"}', 0), 0.0)
        self.assertTrue(node.running())

    def test_post_504_bounded_never_replayed(self):
        hole = BlackHole()
        srv = self.server(hole)
        good = self.direct(name="good")
        node = self.pool_node(ports=[srv.port, good.port], retries=2, strategy="round_robin",
                              response_timeout_ms=RESPONSE_TIMEOUT_MS,
                              idle_timeout_ms=IDLE_TIMEOUT_MS, eject_consecutive_failures=0)
        statuses = []
        for i in range(4):
            t0 = time.monotonic()
            r = curl("-x", node.proxy_url, "-d", "x=%d" % i, self.target("/post%d" % i), max_time=10)
            el = time.monotonic() - t0
            statuses.append(r.status)
            self.assertIn(r.status, (200, 504), "request %d: %s" % (i, r.stderr))
            if r.status == 504:
                self.assertGreater(el, RESPONSE_TIMEOUT_MS / 1000 * 0.8, "request %d" % i)
                self.assertLess(el, RESPONSE_TIMEOUT_MS / 1000 + 3, "request %d" % i)
        self.assertEqual(statuses.count(504), 2, statuses)
        self.assertEqual(hole.requests, 2)
        paths = self.origin_paths()
        for i, st in enumerate(statuses):
            self.assertEqual(paths.count("/post%d" % i), 1 if st == 200 else 0, "/post%d" % i)
        self.assertEqual(node.metric('pf_node_errors_total{code="504"}'), 2.0)

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
