"""SOCKS5 on the client side of a node (RFC 1928 + RFC 1929), with real
curl as the client and the harness origin as the destination: a direct-mode
node on its own SOCKS5 port (node.socks5_listen) and SOCKS5 detected on the
HTTP port (first byte 0x05); username/password; reply codes for policy
denial (0x02), refused (0x05), unsupported command (0x07) and address type
(0x08); the handshake deadline (header_timeout_ms)."""

import socket
import struct
import threading
import time
import unittest

from pf_harness import Fleet, curl, free_port, port_open, wait_until

USER = "sockuser"
PASS = "s0cks-pw-7731"


def greet(sock, methods=(0x00,)):
    sock.sendall(bytes([5, len(methods)]) + bytes(methods))
    return recv_exact(sock, 2)


def recv_exact(sock, n):
    out = b""
    while len(out) < n:
        chunk = sock.recv(n - len(out))
        if not chunk:
            break
        out += chunk
    return out


def request(sock, host, port, cmd=1, atyp=None):
    if atyp is None:
        try:
            addr = socket.inet_pton(socket.AF_INET, host)
            atyp = 1
        except OSError:
            try:
                addr = socket.inet_pton(socket.AF_INET6, host)
                atyp = 4
            except OSError:
                addr = bytes([len(host)]) + host.encode()
                atyp = 3
    else:
        addr = host
    sock.sendall(bytes([5, cmd, 0, atyp]) + addr + struct.pack(">H", port))
    head = recv_exact(sock, 4)
    if len(head) < 4:
        return head
    rest = {1: 6, 4: 18}.get(head[3], 0)
    return head + recv_exact(sock, rest)


class Socks5Client(unittest.TestCase):
    def setUp(self):
        self.fleet = Fleet(self)
        self.origin = self.fleet.start_origin()

    def start_node(self, users=None, **node):
        self.socks_port = free_port()
        # connect_ports []: any port (the origin's is random), also for names
        cfg = {"node": {"mode": "direct", "socks5_listen": "127.0.0.1:%d" % self.socks_port,
                        "connect_ports": []}}
        cfg["node"].update(node)
        if users:
            cfg["node"]["users"] = [{"user": u, "pass": self.fleet.secret(p)} for u, p in users]
        n = self.fleet.start_node(cfg)
        wait_until(lambda: port_open(self.socks_port), 10, "socks5 port to accept")
        return n

    def connect(self, port=None):
        s = socket.create_connection(("127.0.0.1", port or self.socks_port), timeout=5)
        self.addCleanup(s.close)
        return s

    # -- curl ------------------------------------------------------------------

    def test_socks5_hostname_and_socks5_on_own_port(self):
        node = self.start_node(destination_allow=["127.0.0.0/8"])
        for flag in ("--socks5-hostname", "--socks5"):
            r = curl(flag, "127.0.0.1:%d" % self.socks_port, self.origin.url("/s5?f=" + flag))
            self.assertEqual(r.status, 200, "%s: %r" % (flag, r))
            self.assertIn('"path": "/s5?f=' + flag, r.body)
        m = node.metrics()
        self.assertGreaterEqual(m["pf_node_socks5_total"], 2)
        self.assertGreaterEqual(m["pf_node_tunnels_total"], 2)

    def test_socks5_detected_on_http_port(self):
        node = self.start_node(destination_allow=["127.0.0.0/8"])
        r = curl("--socks5-hostname", "127.0.0.1:%d" % node.port, self.origin.url("/on-http-port"))
        self.assertEqual(r.status, 200, r)
        self.assertIn("/on-http-port", r.body)
        # and plain HTTP proxying still works on the same port
        r = curl("-x", node.proxy_url, self.origin.url("/plain"))
        self.assertEqual(r.status, 200, r)

    def test_socks5_with_user_password(self):
        node = self.start_node(users=[(USER, PASS)], destination_allow=["127.0.0.0/8"])
        good = "socks5h://%s:%s@127.0.0.1:%d" % (USER, PASS, self.socks_port)
        r = curl("-x", good, self.origin.url("/auth-ok"))
        self.assertEqual(r.status, 200, r)
        r = curl("-x", "socks5://%s:%s@127.0.0.1:%d" % (USER, PASS, self.socks_port),
                 self.origin.url("/auth-ok-local"))
        self.assertEqual(r.status, 200, r)
        bad = "socks5h://%s:wrong-pw-0001@127.0.0.1:%d" % (USER, self.socks_port)
        r = curl("-x", bad, self.origin.url("/auth-bad"))
        self.assertEqual(r.status, 0, r)
        self.assertNotEqual(r.exit_code, 0)
        r = curl("--socks5-hostname", "127.0.0.1:%d" % self.socks_port, self.origin.url("/no-auth"))
        self.assertEqual(r.status, 0, r)
        self.assertNotEqual(r.exit_code, 0)
        self.assertGreaterEqual(node.metric("pf_node_auth_failures_total"), 2)
        paths = [q["path"] for q in self.origin.requests()]
        self.assertIn("/auth-ok", paths)
        self.assertNotIn("/auth-bad", paths)
        self.assertNotIn("/no-auth", paths)

    def test_raw_auth_subnegotiation(self):
        self.start_node(users=[(USER, PASS)], destination_allow=["127.0.0.0/8"])
        s = self.connect()
        self.assertEqual(greet(s, (0x00,)), b"\x05\xff")     # no-auth offered only
        s = self.connect()
        self.assertEqual(greet(s, (0x00, 0x02)), b"\x05\x02")
        s.sendall(bytes([1, len(USER)]) + USER.encode() + bytes([len(PASS)]) + PASS.encode())
        self.assertEqual(recv_exact(s, 2), b"\x01\x00")
        rep = request(s, "127.0.0.1", self.origin.port)
        self.assertEqual(rep[:2], b"\x05\x00", rep)
        s.sendall(b"GET /raw HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        self.assertTrue(recv_exact(s, 12).startswith(b"HTTP/1."))
        s = self.connect()
        greet(s, (0x02,))
        s.sendall(bytes([1, len(USER)]) + USER.encode() + b"\x03bad")
        self.assertEqual(recv_exact(s, 2), b"\x01\x01")
        self.assertEqual(s.recv(10), b"")

    # -- reply codes -------------------------------------------------------------

    def test_policy_denial_is_reply_0x02(self):
        node = self.start_node()      # no destination_allow: loopback is denied
        for host in ("127.0.0.1", "localhost"):
            s = self.connect()
            self.assertEqual(greet(s), b"\x05\x00")
            rep = request(s, host, self.origin.port)
            self.assertEqual(rep[:2], b"\x05\x02", "%s: %r" % (host, rep))
            self.assertEqual(s.recv(10), b"")
        r = curl("--socks5-hostname", "127.0.0.1:%d" % self.socks_port, self.origin.url("/denied"))
        self.assertEqual(r.status, 0, r)
        self.assertNotEqual(r.exit_code, 0)
        self.assertGreaterEqual(node.metric("pf_node_policy_denials_total"), 3)
        self.assertEqual(self.origin.requests(), [])

    def test_domain_name_destination(self):
        self.start_node(destination_allow=["127.0.0.0/8", "::1/128"])
        s = self.connect()
        greet(s)
        rep = request(s, "localhost", self.origin.port)
        self.assertEqual(rep[:2], b"\x05\x00", rep)
        s.sendall(b"GET /by-name HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        self.assertTrue(recv_exact(s, 12).startswith(b"HTTP/1.1 200"))

    def test_ipv6_destination_tunnel(self):
        """CONNECT to an IPv6 literal (ATYP 0x04): a byte echo server on
        [::1] answers through the tunnel, and the reply's bound address is
        well formed."""
        srv = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        self.addCleanup(srv.close)
        srv.bind(("::1", 0))
        srv.listen(4)
        port = srv.getsockname()[1]

        def echo_once():
            c, _ = srv.accept()
            with c:
                c.settimeout(5)
                data = c.recv(1024)
                c.sendall(b"echo:" + data)
        t = threading.Thread(target=echo_once, daemon=True)
        t.start()
        self.start_node(destination_allow=["::1/128"])
        s = self.connect()
        self.assertEqual(greet(s), b"\x05\x00")
        rep = request(s, "::1", port)
        self.assertEqual(rep[:3], b"\x05\x00\x00", rep)
        self.assertIn(rep[3], (1, 4), rep)
        s.sendall(b"over-ipv6")
        self.assertEqual(recv_exact(s, 14), b"echo:over-ipv6")
        t.join(5)

    def test_refused_unsupported_command_and_atyp(self):
        self.start_node(destination_allow=["127.0.0.0/8", "::1/128"])
        closed = free_port()
        s = self.connect()
        greet(s)
        self.assertEqual(request(s, "127.0.0.1", closed)[:2], b"\x05\x05")
        s = self.connect()
        greet(s)
        self.assertEqual(request(s, "::1", closed)[:2], b"\x05\x05")   # IPv6 ATYP
        s = self.connect()
        greet(s)
        self.assertEqual(request(s, "127.0.0.1", self.origin.port, cmd=2)[:2], b"\x05\x07")  # BIND
        s = self.connect()
        greet(s)
        self.assertEqual(request(s, "127.0.0.1", self.origin.port, cmd=3)[:2], b"\x05\x07")  # UDP
        s = self.connect()
        greet(s)
        self.assertEqual(request(s, b"\x7f\x00\x00\x01", self.origin.port, atyp=5)[:2], b"\x05\x08")

    def test_strict_parsing_and_deadline(self):
        node = self.start_node(destination_allow=["127.0.0.0/8"], header_timeout_ms=500)
        s = self.connect()
        s.sendall(b"\x04\x01\x00\x50")          # SOCKS4 on the SOCKS5 port: closed, no reply
        self.assertEqual(s.recv(10), b"")
        s = self.connect()
        s.sendall(b"\x05\x00")                  # no methods
        self.assertEqual(s.recv(10), b"")
        s = self.connect()
        greet(s)
        s.sendall(b"\x05\x01\x01\x01")          # RSV must be 0
        self.assertEqual(recv_exact(s, 2), b"\x05\x01")
        s = self.connect()
        s.sendall(b"\x05\x01")                  # truncated greeting, then silence
        t0 = time.monotonic()
        self.assertEqual(s.recv(10), b"")
        self.assertLess(time.monotonic() - t0, 4)
        s = self.connect(node.port)             # same deadline after detection on the HTTP port
        s.sendall(b"\x05")
        self.assertEqual(s.recv(10), b"")
        m = node.metrics()
        self.assertGreaterEqual(m.get('pf_node_conn_closed_total{reason="header_timeout"}', 0), 2)


if __name__ == "__main__":
    unittest.main()
