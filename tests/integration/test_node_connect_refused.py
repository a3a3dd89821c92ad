"""An upstream that refuses a CONNECT with 403 (its port or destination
policy, as squid's http_access does) while another allows it (issue 12
item 6): the tunnel is retried on the other upstream; when every upstream
refuses, the client gets 502 with a body naming the refusal, its status and
the upstream's short id, never its address. Real binaries and redis; the
refusing upstream is a tiny HTTP proxy that answers every CONNECT 403."""

import threading
import unittest

from pf_harness import curl, raw_request
from test_node_http import NodeHttpBase, read_head


class Refuser:
    """Reads one request head, answers 403 and closes; counts CONNECTs."""

    def __init__(self):
        self.lock = threading.Lock()
        self.connects = 0

    def __call__(self, s, stop):
        head = read_head(s)
        if head.startswith(b"CONNECT "):
            with self.lock:
                self.connects += 1
        s.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")


class ConnectRefused(NodeHttpBase):
    def test_403_retried_elsewhere(self):
        ref = Refuser()
        srv = self.server(ref)
        good = self.direct(name="good")
        node = self.pool_node(ports=[srv.port, good.port], retries=2, strategy="round_robin",
                              eject_consecutive_failures=0)
        for i in range(4):
            r = curl("-x", node.proxy_url, "-p", self.target("/t%d" % i))
            self.assertEqual(r.status, 200, "tunnel %d: %s" % (i, r.stderr))
        # round robin offered the refusing upstream first every other time
        self.assertEqual(ref.connects, 2)
        self.assertEqual(self.origin_paths().count("/t0") + self.origin_paths().count("/t1"), 2)
        self.assertGreaterEqual(node.metric("pf_node_retries_total"), 2.0)

    def test_all_refuse_502_names_reason(self):
        ref = Refuser()
        srv1, srv2 = self.server(ref), self.server(ref)
        node = self.pool_node(ports=[srv1.port, srv2.port], retries=2,
                              eject_consecutive_failures=0)
        host = "127.0.0.1:%d" % self.origin.port
        out = raw_request(node.port, b"CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n" % (
            host.encode(), host.encode())).decode(errors="replace")
        self.assertTrue(out.startswith("HTTP/1.1 502 "), out[:200])
        self.assertRegex(out, r"upstream hand/[0-9a-f]{12} refused CONNECT to %s with 403 "
                              r"\(its port or destination policy\)" % host.replace(".", r"\."))
        for p in (srv1.port, srv2.port):
            self.assertNotIn(str(p), out, "no upstream address in the answer")
        # both upstreams were tried, each once
        self.assertEqual(ref.connects, 2)
        self.assertEqual(node.metric('pf_node_errors_total{code="502"}'), 1.0)


if __name__ == "__main__":
    unittest.main()
