"""Node lifecycle and client policy with the real proxyfleet-node binary:
SIGTERM drain (in-flight tunnels keep working, new connections refused,
/readyz 503, exit 0), CONNECT port policy, client allowlist, the refusal
to run an open proxy off loopback, and bounded memory for a slow reader."""

import signal
import socket
import threading
import time
import unittest

from pf_harness import Fleet, curl, port_open, wait_until


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def open_tunnel(port, dest_port, src=None):
    s = socket.socket()
    s.settimeout(5)
    if src:
        s.bind((src, 0))
    s.connect(("127.0.0.1", port))
    s.sendall(b"CONNECT 127.0.0.1:%d HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n" % (dest_port, dest_port))
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = s.recv(4096)
        if not chunk:
            break
        head += chunk
    return s, head


def get_over(s, path):
    """One keep-alive GET over an open tunnel; returns the response bytes."""
    s.sendall(b"GET %s HTTP/1.1\r\nHost: origin\r\n\r\n" % path.encode())
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = s.recv(65536)
        if not chunk:
            return data
        data += chunk
    head, body = data.split(b"\r\n\r\n", 1)
    n = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            n = int(line.split(b":")[1])
    while len(body) < n:
        chunk = s.recv(65536)
        if not chunk:
            break
        body += chunk
    return head + b"\r\n\r\n" + body


class NodeLifecycle(unittest.TestCase):
    def setUp(self):
        self.fleet = Fleet(self)
        self.origin = self.fleet.start_origin()

    def direct(self, name, **node):
        cfg = {"mode": "direct", "allow_private_destinations": True,
               "connect_ports": [self.origin.port]}
        cfg.update(node)
        return self.fleet.start_node({"node": cfg}, name=name)

    def test_sigterm_drains_tunnel_then_exits_0(self):
        node = self.direct("drain", drain_grace_ms=8000)
        s, head = open_tunnel(node.port, self.origin.port)
        self.assertIn(b" 200 ", head)
        self.assertIn(b"HTTP/1.1 200", get_over(s, "/before"))
        t0 = time.monotonic()
        node.signal(signal.SIGTERM)
        wait_until(lambda: node.admin("/readyz")[0] == 503, 5, "/readyz 503 while draining")
        self.assertFalse(port_open(node.port), "new connections must be refused while draining")
        time.sleep(0.5)
        self.assertTrue(node.running())
        self.assertIn(b"HTTP/1.1 200", get_over(s, "/during"))
        s.close()
        self.assertEqual(node.wait(10), 0)
        self.assertLess(time.monotonic() - t0, 7.0, "exit should follow the last tunnel")
        self.assertIn("/during", [r["path"] for r in self.origin.requests()])

    def test_drain_grace_ends_stuck_tunnel(self):
        node = self.direct("drain2", drain_grace_ms=1000)
        s, head = open_tunnel(node.port, self.origin.port)
        self.assertIn(b" 200 ", head)
        node.signal(signal.SIGINT)
        self.assertEqual(node.wait(10), 0)
        s.close()

    def test_connect_ports(self):
        node = self.direct("ports")
        s, head = open_tunnel(node.port, self.origin.port)
        s.close()
        self.assertIn(b" 200 ", head)
        s, head = open_tunnel(node.port, self.origin.port + 1 if self.origin.port < 65535 else 1)
        s.close()
        self.assertIn(b" 403 ", head)
        self.assertEqual(node.metric("pf_node_connect_port_denials_total"), 1)

    def test_client_allow(self):
        node = self.direct("allow", client_allow=["127.0.0.2/32"])
        s, head = open_tunnel(node.port, self.origin.port, src="127.0.0.2")
        s.close()
        self.assertIn(b" 200 ", head)
        denied = node.metric("pf_node_clients_denied_total")   # the harness's port probes count too
        s = None
        try:
            s, head = open_tunnel(node.port, self.origin.port, src="127.0.0.1")
        except OSError:
            head = b""
        finally:
            if s is not None:
                s.close()
        self.assertEqual(head, b"")
        wait_until(lambda: node.metric("pf_node_clients_denied_total") > denied, 5, "denied count")

    def test_open_proxy_refused_off_loopback(self):
        cfg = {"node": {"mode": "direct", "listen": "0.0.0.0:1", "admin_listen": ""}}
        rc, out = self.fleet.run_binary("node", cfg, args=["--check-config"])
        self.assertEqual(rc, 2, out)
        self.assertIn("allow_anonymous", out)
        cfg["node"]["allow_anonymous"] = True
        rc, out = self.fleet.run_binary("node", cfg, args=["--check-config"])
        self.assertEqual(rc, 0, out)
        cfg["node"]["allow_anonymous"] = False
        cfg["node"]["users"] = [{"user": "u", "pass": "s3cr3t-open"}]
        rc, out = self.fleet.run_binary("node", cfg, args=["--check-config"])
        self.assertEqual(rc, 0, out)

    def test_slow_reader_memory_is_bounded(self):
        node = self.direct("slow")
        size = 256 * 1024 * 1024
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
        s.settimeout(10)
        s.connect(("127.0.0.1", node.port))
        s.sendall(b"GET http://127.0.0.1:%d/big?n=%d HTTP/1.1\r\nHost: x\r\n\r\n"
                  % (self.origin.port, size))
        got = s.recv(65536)
        self.assertIn(b"200", got.split(b"\r\n")[0])
        base = rss_kb(node.pid)
        time.sleep(3)          # the origin could send all 256 MiB by now
        grown = rss_kb(node.pid) - base
        self.assertLess(grown, 32 * 1024, "node RSS grew %d KiB for a slow reader" % grown)
        total = len(got)
        while total < 8 * 1024 * 1024:
            chunk = s.recv(1 << 20)
            if not chunk:
                break
            total += len(chunk)
        self.assertGreaterEqual(total, 8 * 1024 * 1024)
        s.close()
        r = curl("-x", node.proxy_url, self.origin.url("/after"))
        self.assertEqual(r.status, 200)


    def test_slow_upstream_reader_bounds_upload_buffering(self):
        """The upload direction: a destination that accepts a POST and
        never reads. The node stops reading the client once its output to
        the destination is at the high-water mark, so the client blocks
        instead of the node buffering the whole body."""
        sink = socket.socket()
        self.addCleanup(sink.close)
        sink.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
        sink.bind(("127.0.0.1", 0))
        sink.listen(4)
        held = []
        threading.Thread(target=lambda: held.append(sink.accept()), daemon=True).start()
        node = self.direct("upload")
        size = 256 * 1024 * 1024
        s = socket.socket()
        self.addCleanup(s.close)
        s.settimeout(10)
        s.connect(("127.0.0.1", node.port))
        s.sendall(b"POST http://127.0.0.1:%d/up HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n"
                  % (sink.getsockname()[1], size))
        base = rss_kb(node.pid)
        sent, chunk = 0, b"u" * (1 << 20)
        s.settimeout(3)                      # a blocked send ends the loop
        deadline = time.monotonic() + 10
        while sent < size and time.monotonic() < deadline:
            try:
                sent += s.send(chunk)
            except socket.timeout:
                break
        grown = rss_kb(node.pid) - base
        self.assertLess(sent, 64 * 1024 * 1024, "the node took %d bytes of a body nobody reads" % sent)
        self.assertLess(grown, 32 * 1024, "node RSS grew %d KiB for a slow upstream reader" % grown)
        self.assertTrue(held, "the destination never got the connection")
        r = curl("-x", node.proxy_url, self.origin.url("/after-upload"))
        self.assertEqual(r.status, 200)

if __name__ == "__main__":
    unittest.main()
