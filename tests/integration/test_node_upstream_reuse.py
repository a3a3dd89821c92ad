"""Upstream connection reuse across clients and preconnect (issue 14 items
2 and 3), end to end: a pool node in front of RecordingUpstream (below), a
small HTTP proxy that records on which TCP connection each request came
and how many requests that connection carried before; and a real
microsocks (user/password) for the SOCKS5 warm connections. Redis is a
real redis-server; the pool snapshot is written by hand.

  * reuse happens: sequential new clients' GETs share one upstream
    connection (counted at the upstream), pf_node_reuse_hits_total counts
    them;
  * no non-idempotent request goes on a reused connection: every POST is
    the first request of its upstream connection, with reuse and with
    preconnect on;
  * an upstream that closes an idle connection as a request arrives (the
    idle-timeout race): every GET still gets 200, sent again once on a
    fresh connection (pf_node_reuse_retries_total);
  * no request on a dead warm connection fails: the upstream drops every
    request on a connection idle longer than 300 ms, so each warm one is
    dead by the time it is used; tunnels and GETs all get 200 and the dead
    ones are counted (pf_node_preconnect_discarded_total);
  * preconnect warms (a connection with no request at the upstream, the
    next tunnel takes it) and recycles (closed and replaced after
    preconnect_max_idle_ms, gone once use stops);
  * through a SOCKS5 upstream the warm connection has done greeting and
    auth: the next tunnel takes it and works.

Every wait is bounded (curl --max-time, socket timeouts, wait_until)."""

import socket
import threading
import time
import unittest

from pf_harness import Fleet, Peer, _require_tool, curl, free_port, port_open, wait_until

EPOCH = "abababababababab"
SOCKS_USER, SOCKS_PASS = "reuser", "reuse-s0cks-pw-5521"


class RecordingUpstream:
    """A loopback HTTP proxy. Absolute-form requests are answered here
    (200, keep-alive, a body naming the connection); CONNECT is relayed to
    its destination. requests: (conn number, index on that connection,
    method, target) in arrival order. With <drop_stale_ms>, a request on a
    connection idle longer than that (since accept or its last answer) is
    dropped: the connection closes without an answer, as an upstream whose
    idle timeout fires just as the request arrives."""

    def __init__(self, drop_stale_ms=0):
        self.drop_stale_ms = drop_stale_ms
        self.lock = threading.Lock()
        self.accepted = 0
        self.requests = []
        self.dropped = 0
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(128)
        self.port = self.sock.getsockname()[1]
        self.is_closed = False
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while not self.is_closed:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            with self.lock:
                self.accepted += 1
                n = self.accepted
            threading.Thread(target=self._conn, args=(c, n), daemon=True).start()

    @staticmethod
    def _read_head(c, buf):
        while b"\r\n\r\n" not in buf:
            chunk = c.recv(65536)
            if not chunk:
                return None, b""
            buf += chunk
        head, rest = buf.split(b"\r\n\r\n", 1)
        return head.decode("latin-1"), rest

    def _conn(self, c, n):
        c.settimeout(20)
        buf, index, idle_since = b"", 0, time.monotonic()
        try:
            while True:
                head, buf = self._read_head(c, buf)
                if head is None:
                    return
                line = head.split("\r\n", 1)[0]
                method, target = line.split(" ")[:2]
                length = 0
                for h in head.split("\r\n")[1:]:
                    k, _, v = h.partition(":")
                    if k.strip().lower() == "content-length":
                        length = int(v.strip())
                while len(buf) < length:
                    chunk = c.recv(65536)
                    if not chunk:
                        return
                    buf += chunk
                buf = buf[length:]
                stale_ms = (time.monotonic() - idle_since) * 1000
                with self.lock:
                    self.requests.append((n, index, method, target))
                    if self.drop_stale_ms and stale_ms > self.drop_stale_ms:
                        self.dropped += 1
                        return          # closed without an answer
                index += 1
                if method == "CONNECT":
                    host, port = target.rsplit(":", 1)
                    d = socket.create_connection((host, int(port)), timeout=5)
                    c.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
                    self._relay(c, d, buf)
                    return
                body = ("conn=%d index=%d method=%s\n" % (n, index - 1, method)).encode()
                c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n"
                          b"Connection: keep-alive\r\n\r\n%s" % (len(body), body))
                idle_since = time.monotonic()
        except OSError:
            pass
        finally:
            c.close()

    @staticmethod
    def _relay(a, b, early):
        if early:
            b.sendall(early)

        def pump(src, dst):
            try:
                while True:
                    d = src.recv(65536)
                    if not d:
                        break
                    dst.sendall(d)
                dst.shutdown(socket.SHUT_WR)
            except OSError:
                pass
        t = threading.Thread(target=pump, args=(b, a), daemon=True)
        t.start()
        pump(a, b)
        t.join(10)
        b.close()

    def snapshot(self):
        with self.lock:
            return self.accepted, list(self.requests)

    def close(self):
        self.is_closed = True
        self.sock.close()


class UpstreamReuse(unittest.TestCase):
    def setUp(self):
        self.fleet = Fleet(self)
        self.fleet.secret(SOCKS_PASS)
        self.redis = self.fleet.start_redis()
        self.origin = self.fleet.start_origin()

    def recorder(self, **kw):
        u = RecordingUpstream(**kw)
        self.addCleanup(u.close)
        return u

    def pool_node(self, scheme, port, user="", password="", **node):
        """A pool node whose one upstream is <scheme>://127.0.0.1:<port>."""
        rec = {"scheme": scheme, "host": "127.0.0.1", "port": port, "provider": "hand",
               "expires_at_ms": 0, "weight": 1, "latency_ms": 0}
        if user:
            rec.update(user=user, **{"pass": password})
        r, k = self.redis, self.fleet.keys
        rid = "%s://%s127.0.0.1:%d" % (scheme, user + "@" if user else "", port)
        r.cmd("HSET", k.pool_upstreams, rid, self.fleet.seal_record(rec))
        r.cmd("HSET", k.pool_meta, "version", "1", "epoch", EPOCH, "count", "1",
              "updated_at_ms", str(int(time.time() * 1000)), "controller_id", "by-hand")
        cfg = {"mode": "pool", "destination_allow": ["127.0.0.0/8"], "connect_ports": [],
               "upstream_allow_private": True, "connect_timeout_ms": 3000, "retries": 0}
        cfg.update(node)
        n = self.fleet.start_node({"node": cfg})
        wait_until(lambda: n.metric("pf_node_pool_size") == 1, 10, "pool loaded")
        return n

    def get(self, node, path, *args):
        r = curl("-x", node.proxy_url, *args, self.origin.url(path), max_time=10)
        self.assertEqual(r.status, 200, "%s: %s" % (path, r.stderr))
        return r

    def tunnel(self, node, path):
        r = curl("-p", "-x", node.proxy_url, self.origin.url(path), max_time=10)
        self.assertEqual(r.status, 200, "tunnel %s: %s" % (path, r.stderr))
        return r

    def m(self, node, name):
        return node.metric("pf_node_" + name) or 0

    # -- reuse across clients --------------------------------------------

    def test_new_clients_share_one_upstream_connection(self):
        up = self.recorder()
        node = self.pool_node("http", up.port)
        for i in range(6):
            self.get(node, "/reuse-%d" % i)     # each curl is a new client connection
        accepted, reqs = up.snapshot()
        self.assertEqual(len(reqs), 6, reqs)
        # one connection carried them all, one after another
        self.assertEqual(accepted, 1, reqs)
        self.assertEqual([r[1] for r in reqs], list(range(6)), reqs)
        self.assertEqual(self.m(node, "reuse_hits_total"), 5)
        self.assertEqual(self.m(node, "reuse_idle_conns"), 1)

    def test_reuse_off_opens_one_connection_per_client(self):
        up = self.recorder()
        node = self.pool_node("http", up.port, reuse_max_idle_per_upstream=0)
        for i in range(4):
            self.get(node, "/noreuse-%d" % i)
        accepted, reqs = up.snapshot()
        self.assertEqual(accepted, 4, reqs)
        self.assertEqual(self.m(node, "reuse_hits_total"), 0)

    def check_posts_first_on_their_connection(self, node, up):
        for i in range(4):
            self.get(node, "/before-%d" % i)
            r = curl("-x", node.proxy_url, "-X", "POST", "-d", "x=%d" % i,
                     self.origin.url("/post-%d" % i), max_time=10)
            self.assertEqual(r.status, 200, r.stderr)
            self.get(node, "/after-%d" % i)
        _, reqs = up.snapshot()
        posts = [r for r in reqs if r[2] == "POST"]
        self.assertEqual(len(posts), 4, reqs)
        for conn_no, index, _, target in posts:
            self.assertEqual(index, 0, "POST %s went on connection %d as its request #%d"
                             % (target, conn_no, index))
        gets = [r for r in reqs if r[2] == "GET"]
        self.assertTrue(any(r[1] > 0 for r in gets), "no GET was reused: %s" % reqs)

    def test_post_never_goes_on_a_reused_connection(self):
        up = self.recorder()
        node = self.pool_node("http", up.port)
        self.check_posts_first_on_their_connection(node, up)
        self.assertGreater(self.m(node, "reuse_hits_total"), 0)

    def test_post_never_goes_on_a_reused_or_warm_connection(self):
        up = self.recorder()
        node = self.pool_node("http", up.port, preconnect_ratio=2)
        hits0 = self.m(node, "preconnect_hits_total")
        self.check_posts_first_on_their_connection(node, up)
        # a warm connection carries no request before, so the index above
        # cannot tell: the POSTs never took one either
        _, reqs = up.snapshot()
        n_gets = len([r for r in reqs if r[2] == "GET"])
        self.assertLessEqual(self.m(node, "preconnect_hits_total") - hits0,
                             n_gets - self.m(node, "reuse_hits_total"))

    def test_idle_connection_closed_by_the_upstream_is_retried_once(self):
        # the upstream drops a request on a connection idle > 300 ms: the
        # one the node reuses is always dead, a fresh one always works
        up = self.recorder(drop_stale_ms=300)
        node = self.pool_node("http", up.port, retries=0)
        for i in range(5):
            self.get(node, "/race-%d" % i)
            time.sleep(0.5)
        self.assertGreaterEqual(up.dropped, 4)
        self.assertEqual(self.m(node, "reuse_retries_total"), up.dropped)
        self.assertEqual(self.m(node, 'errors_total{code="502"}'), 0)
        # the POST never met a stale connection
        r = curl("-x", node.proxy_url, "-X", "POST", "-d", "", self.origin.url("/race-post"),
                 max_time=10)
        self.assertEqual(r.status, 200, r.stderr)

    # -- preconnect -------------------------------------------------------

    def test_preconnect_warms_and_recycles(self):
        up = self.recorder()
        node = self.pool_node("http", up.port, preconnect_ratio=1, preconnect_max_idle_ms=1500,
                              reuse_max_idle_per_upstream=0)
        self.assertEqual(self.m(node, "preconnect_dials_total"), 0, "nothing warm before use")
        self.tunnel(node, "/warm-0")
        wait_until(lambda: self.m(node, "preconnect_warm_conns") >= 1, 5, "a warm connection")
        accepted, reqs = up.snapshot()
        self.assertEqual(accepted, len(reqs) + 1, "one connection without a request: %s" % reqs)
        self.tunnel(node, "/warm-1")
        self.assertEqual(self.m(node, "preconnect_hits_total"), 1)
        # the tunnel went on the warm connection: its CONNECT came on the
        # connection accepted before it, with no request before
        _, reqs = up.snapshot()
        self.assertEqual(reqs[-1][2], "CONNECT")
        self.assertEqual(reqs[-1][1], 0)
        # kept in use, each warm connection is replaced after 1.5 s
        wait_until(lambda: self.m(node, "preconnect_warm_conns") >= 1, 5, "warm again")
        t0 = time.monotonic()
        while time.monotonic() - t0 < 4:
            self.tunnel(node, "/keep-%d" % int((time.monotonic() - t0) * 10))
            time.sleep(0.4)
        self.assertGreaterEqual(self.m(node, "preconnect_recycled_total"), 1)
        # use stops: the warm connections go (the rate halves every second)
        wait_until(lambda: self.m(node, "preconnect_warm_conns") == 0 and
                   self.m(node, "preconnect_warming_conns") == 0, 15, "warm connections gone")
        self.assertEqual(self.m(node, 'errors_total{code="502"}'), 0)

    def test_no_request_fails_on_a_dead_warm_connection(self):
        # every connection is dead 300 ms after its last answer: the warm
        # ones, used 600 ms after they were made, always are
        up = self.recorder(drop_stale_ms=300)
        node = self.pool_node("http", up.port, preconnect_ratio=1, retries=0,
                              reuse_max_idle_per_upstream=0)
        for i in range(4):
            self.tunnel(node, "/dead-t-%d" % i)
            self.get(node, "/dead-g-%d" % i)
            time.sleep(0.6)
        self.assertGreaterEqual(self.m(node, "preconnect_hits_total"), 3)
        self.assertGreaterEqual(up.dropped, 3)
        self.assertEqual(self.m(node, "preconnect_discarded_total"), up.dropped)
        self.assertEqual(self.m(node, 'errors_total{code="502"}'), 0)
        self.assertEqual(self.m(node, "ejections_total"), 0)

    def test_socks5_warm_connection_has_done_greeting_and_auth(self):
        port = free_port()
        ms = Peer(self.fleet, "microsocks-%d" % port,
                  [_require_tool("microsocks"), "-i", "127.0.0.1", "-p", str(port),
                   "-u", SOCKS_USER, "-P", SOCKS_PASS], port)
        wait_until(lambda: port_open(port), 10, "microsocks up")
        node = self.pool_node("socks5", port, SOCKS_USER, SOCKS_PASS, preconnect_ratio=1)
        self.tunnel(node, "/s5-0")
        wait_until(lambda: self.m(node, "preconnect_warm_conns") >= 1, 5, "a warm connection")
        for i in range(3):
            self.tunnel(node, "/s5-%d" % (i + 1))
            self.get(node, "/s5-get-%d" % i)      # through SOCKS5 a GET tunnels too
            wait_until(lambda: self.m(node, "preconnect_warm_conns") >= 1, 5, "warm again")
        self.assertGreaterEqual(self.m(node, "preconnect_hits_total"), 5)
        self.assertEqual(self.m(node, "preconnect_dial_failures_total"), 0)
        paths = [q["path"] for q in self.origin.requests()]
        for i in range(3):
            self.assertIn("/s5-%d" % (i + 1), paths)
        del ms


if __name__ == "__main__":
    unittest.main()
