"""How a pool node treats upstreams that fail after the TCP connect, on the
plain-HTTP forward path (node/http_proxy.c attempt_failed, read_response_head):

  * an upstream that reads the request and closes, or answers 407 to our
    credentials, is a failed attempt: it counts in the node's passive health
    (ejection) and in the per-upstream counters reported to Redis, and an
    idempotent request is retried on another upstream;
  * a non-idempotent request (POST) whose head reached such an upstream is
    never replayed (RFC 9110 9.2.2): the client gets 502, the good upstream
    never sees it;
  * an HTTP upstream answering CONNECT with 504 gives the client 504;
  * through a SOCKS5 upstream a 407 comes from the origin and is relayed;
  * when every upstream is locally ejected the node answers a fast 503 with
    Retry-After and dials nothing (node.eject_panic false, the default);
  * on SIGTERM a keep-alive client connection is closed after the response
    in flight, not offered another request.

The misbehaving upstreams are ScriptedUpstream below: a few lines of socket
code that read one request head and answer as told. The good upstreams are
direct-mode nodes (real proxies), the origin is tests/origin.py, Redis is a
real redis-server; the pool snapshot is written by hand."""

import json
import shutil
import signal
import socket
import threading
import time
import unittest

from pf_harness import Fleet, HarnessError, Peer, curl, free_port, raw_request, wait_until

EPOCH = "fafafafafafafafa"
SOCKS_USER, SOCKS_PASS = "failuser", "fail-s0cks-pw-3390"


class ScriptedUpstream:
    """A loopback TCP server that reads one request head per connection,
    records it, then answers <reply> (bytes, may be b"") and closes."""

    def __init__(self, reply):
        self.reply = reply
        self.heads = []
        self.lock = threading.Lock()
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.is_closed = False
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while not self.is_closed:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._one, args=(c,), daemon=True).start()

    def _one(self, c):
        c.settimeout(5)
        data = b""
        try:
            while b"\r\n\r\n" not in data and len(data) < 65536:
                chunk = c.recv(4096)
                if not chunk:
                    break
                data += chunk
            with self.lock:
                self.heads.append(data.split(b"\r\n\r\n", 1)[0].decode(errors="replace"))
            if self.reply:
                c.sendall(self.reply)
        except OSError:
            pass
        finally:
            c.close()

    def methods(self):
        with self.lock:
            return [h.split(" ", 1)[0] for h in self.heads if h]

    def close(self):
        self.is_closed = True
        self.sock.close()


def record(scheme, port, user="", password=""):
    r = {"scheme": scheme, "host": "127.0.0.1", "port": port, "provider": "hand",
         "expires_at_ms": 0, "weight": 1, "latency_ms": 0}
    if user:
        r.update(user=user, **{"pass": password})
    return r


class NodeUpstreamFailures(unittest.TestCase):
    def setUp(self):
        self.fleet = Fleet(self)
        self.fleet.secret(SOCKS_PASS)
        self.redis = self.fleet.start_redis()
        self.origin = self.fleet.start_origin()

    def scripted(self, reply):
        u = ScriptedUpstream(reply)
        self.addCleanup(u.close)
        return u

    def pool_node(self, name, records, **node):
        """Seeds pool v1 with <records> (id -> record), then starts a pool node."""
        r, k = self.redis, self.fleet.keys
        for rid, rec in records.items():
            # sealed like the controller writes it: no password in clear in Redis
            r.cmd("HSET", k.pool_upstreams, rid, self.fleet.seal_record(rec))
        r.cmd("HSET", k.pool_meta, "version", "1", "epoch", EPOCH, "count", str(len(records)),
              "updated_at_ms", str(int(time.time() * 1000)), "controller_id", "by-hand")
        cfg = {"mode": "pool", "destination_allow": ["127.0.0.0/8"], "connect_timeout_ms": 2000,
               "strategy": "round_robin"}
        cfg.update(node)
        n = self.fleet.start_node({"node": cfg}, name=name)
        wait_until(lambda: n.metric("pf_node_pool_size") == len(records), 10, "pool loaded")
        return n

    def counters(self, node_name, upstream_id, min_attempts):
        """The node's "attempts failures" for <upstream_id> in Redis, once
        at least <min_attempts> are reported."""
        key = self.fleet.keys.node(node_name) + ":upstreams"

        def get():
            v = self.redis.hgetall(key).get(upstream_id)
            return v if v and int(v.split()[0]) >= min_attempts else None
        att, fail = map(int, wait_until(get, 5, "counters of %s in %s" % (upstream_id, key)).split())
        return att, fail

    # -- failures after connect count as failures --------------------------

    def check_bad_upstream_counts(self, reply, kind):
        bad = self.scripted(reply)
        good = self.fleet.direct_upstream_node(name="good")
        bad_id = "http://127.0.0.1:%d" % bad.port
        name = "fwd-" + kind
        node = self.pool_node(name, {bad_id: record("http", bad.port),
                                     "http://127.0.0.1:%d" % good.port: record("http", good.port)},
                              retries=2, eject_consecutive_failures=2, eject_base_ms=60000)
        n = 10
        for i in range(n):
            r = curl("-x", node.proxy_url, self.origin.url("/%s-%d" % (kind, i)))
            self.assertEqual(r.status, 200, "GET %d: %s" % (i, r.stderr))
        # two failures in a row eject it; after that nothing reaches it
        self.assertEqual(len(bad.heads), 2, bad.heads)
        self.assertEqual(node.metric("pf_node_ejections_total"), 1)
        self.assertEqual(node.metric("pf_node_retries_total"), 2)
        self.assertEqual(node.metrics().get('pf_node_upstream_errors_total{kind="%s"}' % kind), 2)
        # and the fleet hears about it: every attempt through it failed
        self.assertEqual(self.counters(name, bad_id, 2), (2, 2))

    def test_upstream_closing_after_the_request_is_a_failure(self):
        self.check_bad_upstream_counts(b"", "upstream_eof")

    def test_upstream_refusing_our_credentials_is_a_failure(self):
        self.check_bad_upstream_counts(
            b"HTTP/1.1 407 Proxy Authentication Required\r\n"
            b"Proxy-Authenticate: Basic realm=\"x\"\r\nContent-Length: 0\r\n\r\n", "upstream_auth")

    # -- no replay of non-idempotent requests -------------------------------

    def test_post_is_never_replayed_get_is(self):
        closer = self.scripted(b"")
        good = self.fleet.direct_upstream_node(name="good")
        node = self.pool_node("replay", {
            "http://127.0.0.1:%d" % closer.port: record("http", closer.port),
            "http://127.0.0.1:%d" % good.port: record("http", good.port)},
            retries=2, eject_consecutive_failures=0)
        statuses = []
        for i in range(6):
            # no body ("Content-Length: 0"): nothing but the head reached
            # the upstream, which is enough for it to have acted
            r = curl("-x", node.proxy_url, "-X", "POST", "-d", "",
                     self.origin.url("/post-%d" % i))
            statuses.append(r.status)
        lost = statuses.count(502)
        self.assertEqual(sorted(set(statuses)), [200, 502], statuses)
        # every POST the closer swallowed was answered 502, none replayed
        self.assertEqual(closer.methods().count("POST"), lost)
        posts = [q for q in self.origin.requests() if q["method"] == "POST"]
        self.assertEqual(len(posts), 6 - lost)
        # a GET through the same pair is replayed on the good upstream
        for i in range(4):
            r = curl("-x", node.proxy_url, self.origin.url("/get-%d" % i))
            self.assertEqual(r.status, 200, r.stderr)
        self.assertGreaterEqual(closer.methods().count("GET"), 1)

    # -- status mapping ---------------------------------------------------

    def test_upstream_connect_504_gives_504(self):
        u = self.scripted(b"HTTP/1.1 504 Gateway Timeout\r\nContent-Length: 0\r\n\r\n")
        node = self.pool_node("c504", {"http://127.0.0.1:%d" % u.port: record("http", u.port)},
                              retries=0)
        r = curl("-p", "-x", node.proxy_url, self.origin.url("/via-504"))
        self.assertEqual(r.status, 504, r.stderr)
        self.assertEqual(node.metric('pf_node_errors_total{code="504"}'), 1)
        self.assertEqual(u.methods(), ["CONNECT"])

    def test_origin_407_through_socks_upstream_is_relayed(self):
        ms_bin = shutil.which("microsocks")
        if not ms_bin:
            raise HarnessError("microsocks is not installed (apt-get install microsocks)")
        port = free_port()
        Peer(self.fleet, "microsocks", [ms_bin, "-i", "127.0.0.1", "-p", str(port),
                                        "-u", SOCKS_USER, "-P", SOCKS_PASS], port)
        node = self.pool_node("s407", {"socks5://%s@127.0.0.1:%d" % (SOCKS_USER, port):
                                       record("socks5", port, SOCKS_USER, SOCKS_PASS)})
        r = curl("-x", node.proxy_url, self.origin.url("/status/407"))
        self.assertEqual(r.status, 407, r.stderr)
        self.assertEqual(node.metric("pf_node_retries_total"), 0)
        self.assertEqual(node.metric('pf_node_errors_total{code="502"}'), 0)

    # -- every upstream ejected: a fast 503 --------------------------------

    def test_all_ejected_gives_fast_503_with_retry_after_and_no_dial(self):
        a, b = self.scripted(b""), self.scripted(b"")
        node = self.pool_node("alldead", {
            "http://127.0.0.1:%d" % a.port: record("http", a.port),
            "http://127.0.0.1:%d" % b.port: record("http", b.port)},
            retries=1, eject_consecutive_failures=1, eject_base_ms=30000)
        # request 1 fails on both (one try, one retry) and ejects them
        r = curl("-x", node.proxy_url, self.origin.url("/first"))
        self.assertEqual(r.status, 502, r.stderr)
        self.assertEqual(node.metric("pf_node_ejections_total"), 2)
        dials = node.metric("pf_node_upstream_dials_total")
        for i in range(10):
            t0 = time.monotonic()
            resp = raw_request(node.port, b"GET %s HTTP/1.1\r\nHost: x\r\n\r\n"
                               % self.origin.url("/then-%d" % i).encode())
            self.assertLess(time.monotonic() - t0, 1.0)
            head = resp.split(b"\r\n\r\n", 1)[0].decode()
            self.assertTrue(head.startswith("HTTP/1.1 503"), head)
            ra = [ln for ln in head.split("\r\n") if ln.lower().startswith("retry-after:")]
            self.assertEqual(len(ra), 1, head)
            self.assertTrue(25 <= int(ra[0].split(":")[1]) <= 30, ra)
        self.assertEqual(node.metric("pf_node_upstream_dials_total"), dials, "no dial while all are ejected")
        self.assertEqual(node.metrics().get('pf_node_conn_closed_total{reason="all_ejected"}'), 10)
        self.assertEqual(len(a.heads) + len(b.heads), 2)

    def test_eject_panic_uses_ejected_upstreams(self):
        a = self.scripted(b"")
        node = self.pool_node("panic", {"http://127.0.0.1:%d" % a.port: record("http", a.port)},
                              retries=0, eject_consecutive_failures=1, eject_base_ms=30000,
                              eject_panic=True)
        for i in range(3):
            r = curl("-x", node.proxy_url, self.origin.url("/p-%d" % i))
            self.assertEqual(r.status, 502, r.stderr)
        self.assertEqual(len(a.heads), 3)

    # -- drain --------------------------------------------------------------

    def test_sigterm_closes_keep_alive_connection_after_the_response(self):
        """SIGTERM while a keep-alive response is on its way: its head (and
        "keep-alive") already went out, so the connection is closed once the
        body is complete, rather than waiting for another request."""
        node = self.fleet.direct_upstream_node(name="drainer", drain_grace_ms=20000)
        n = 20 * 1000 * 1000
        s = socket.create_connection(("127.0.0.1", node.port), timeout=8)
        self.addCleanup(s.close)
        s.sendall(b"GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % self.origin.url("/big?n=%d" % n).encode())
        data = s.recv(65536)
        self.assertTrue(data.startswith(b"HTTP/1.1 200"), data[:200])
        self.assertIn(b"keep-alive", data.split(b"\r\n\r\n", 1)[0].lower())
        time.sleep(0.3)                 # the body is still in flight: the client reads slowly
        t0 = time.monotonic()
        node.signal(signal.SIGTERM)
        while True:
            chunk = s.recv(1 << 20)
            if not chunk:
                break
            data += chunk
        self.assertEqual(len(data.split(b"\r\n\r\n", 1)[1]), n)
        # EOF right after the body, and the node exits at once instead of
        # holding the connection for drain_grace_ms (20 s)
        self.assertEqual(node.wait(timeout=10), 0)
        self.assertLess(time.monotonic() - t0, 8.0)


if __name__ == "__main__":
    unittest.main()
