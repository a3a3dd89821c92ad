"""The raw tunnel relay (node/tunnel.c) of a direct-mode node, end to end
with raw sockets, for what the handoff from bufferevents and the relay
itself must keep:

  * bytes the client sends in the same packet as its CONNECT head reach the
    destination first and in order, a 3 MiB payload (the bulk/splice path)
    arrives byte-exact, and a client half-close is forwarded only after
    everything before it (the echo reads to EOF, then answers and closes);
  * a server-first protocol: the destination's banner follows the 200;
  * a client that stops reading while the destination pushes 64 MiB does
    not make the node buffer it (RSS stays within a few MiB), and every
    byte arrives once it reads again;
  * the idle deadline: a tunnel with traffic outlives idle_timeout_ms, an
    idle one is closed after it;
  * a client RST mid-transfer closes the tunnel and the node keeps serving.

Every wait is bounded (socket timeouts)."""

import os
import socket
import threading
import time
import unittest

from test_node_http import NodeHttpBase

IDLE_TIMEOUT_MS = 2000


def recv_all(s):
    out = bytearray()   # not bytes +=: quadratic copies make a 64 MiB read
    while True:         # slow enough to trip the idle deadline on a loaded box
        b = s.recv(1 << 20)
        if not b:
            return bytes(out)
        out += b


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


class TunnelRelay(NodeHttpBase):
    def setUp(self):
        super().setUp()
        self.node = self.direct(connect_ports=[], idle_timeout_ms=IDLE_TIMEOUT_MS)

    def connect(self, srv, early=b""):
        """CONNECT through the node to <srv>; returns (socket, bytes after the 200)."""
        c = socket.create_connection(("127.0.0.1", self.node.port), timeout=10)
        self.addCleanup(c.close)
        c.sendall(b"CONNECT 127.0.0.1:%d HTTP/1.1\r\nHost: x\r\n\r\n" % srv.port + early)
        buf = b""
        while b"\r\n\r\n" not in buf:
            chunk = c.recv(4096)
            self.assertTrue(chunk, "node closed before the 200")
            buf += chunk
        head, rest = buf.split(b"\r\n\r\n", 1)
        self.assertTrue(head.startswith(b"HTTP/1.1 200"), head)
        return c, rest

    def test_early_bytes_bulk_and_half_close(self):
        def echo_after_eof(s, stop):
            s.sendall(recv_all(s))
            s.close()
        srv = self.server(echo_after_eof)
        payload = os.urandom(3 << 20)
        c, rest = self.connect(srv, early=payload[:1000])
        c.sendall(payload[1000:])
        c.shutdown(socket.SHUT_WR)
        got = rest + recv_all(c)
        self.assertEqual(len(got), len(payload))
        self.assertTrue(got == payload, "payload corrupted or reordered")

    def test_server_first_banner(self):
        def banner(s, stop):
            s.sendall(b"220 hello\r\n")
            stop.wait(0.3)
            s.close()
        srv = self.server(banner)
        c, rest = self.connect(srv)
        self.assertEqual(rest + recv_all(c), b"220 hello\r\n")

    def test_slow_reader_is_not_buffered(self):
        total = 64 << 20

        def pusher(s, stop):
            block = b"x" * (1 << 20)
            s.settimeout(30)
            for _ in range(total >> 20):
                s.sendall(block)
            s.close()
        srv = self.server(pusher)
        before = rss_kib(self.node.pid)
        c, rest = self.connect(srv)
        time.sleep(1.5)                      # not reading: the node must stop reading too
        paused = rss_kib(self.node.pid)
        n = len(rest) + len(recv_all(c))
        self.assertEqual(n, total)
        self.assertLess(paused - before, 8 * 1024, "node buffered %d KiB" % (paused - before))

    def test_idle_deadline_rearms_for_active_tunnels(self):
        def echo(s, stop):
            while True:
                b = s.recv(65536)
                if not b:
                    break
                s.sendall(b)
            s.close()
        srv = self.server(echo)
        active, _ = self.connect(srv)
        idle, _ = self.connect(srv)
        t0 = time.monotonic()
        while time.monotonic() - t0 < IDLE_TIMEOUT_MS / 1000 * 2:
            active.sendall(b"ping")
            self.assertEqual(active.recv(16), b"ping", "active tunnel closed")
            time.sleep(0.25)
        idle.settimeout(0.1)
        self.assertEqual(idle.recv(16), b"", "idle tunnel still open")
        active.sendall(b"pong")
        self.assertEqual(active.recv(16), b"pong")

    def test_client_reset_mid_transfer(self):
        def pusher(s, stop):
            try:
                while not stop.is_set():
                    s.sendall(b"y" * 65536)
            except OSError:
                pass
        srv = self.server(pusher)
        c, _ = self.connect(srv)
        c.recv(1000)
        c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        c.close()
        def banner(s, stop):
            s.sendall(b"ok\n")
            s.close()
        c2, rest = self.connect(self.server(banner))
        self.assertEqual(rest + recv_all(c2), b"ok\n")
        self.assertTrue(self.node.running())
        closed = lambda: self.node.metric('pf_node_conn_closed_total{reason="client_io"}')
        deadline = time.monotonic() + 5
        while closed() < 1 and time.monotonic() < deadline:
            time.sleep(0.1)
        self.assertGreaterEqual(closed(), 1)


if __name__ == "__main__":
    unittest.main()
