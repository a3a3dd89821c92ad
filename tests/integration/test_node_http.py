"""HTTP behaviour of proxyfleet-node, end to end with real curl and raw
sockets: a direct-mode node (destination_allow 127.0.0.0/8, connect_ports
[] unless the port policy is tested) in front of the harness origin and,
where stated, a pool-mode node whose only upstream is a direct node.

  * framing both ways: GET, HEAD, 204, chunked, close-delimited, request
    bodies with Content-Length and chunked, 5 MiB byte-exact, keep-alive
    and pipelining;
  * hop-by-hop and credential stripping (client and upstream credentials
    never reach the origin);
  * status codes: 407, 403 (policy, decided before any dial; CONNECT port),
    431, 408 (slowloris does not block others), 400 + close for request
    smuggling with nothing reaching the origin, 503 over max_clients and
    with an empty pool, 502 (closed port, dead upstream), 504 (silent
    upstream);
  * HTTPS through CONNECT to a local TLS origin, direct, via a pool node,
    and SOCKS5 on the HTTP port.

Every wait is bounded (curl --max-time, socket timeouts)."""

import hashlib
import json
import os
import socket
import threading
import time
import unittest

from pf_harness import DROP, Fleet, curl, free_port, port_open, wait_until

BIG_LINE = b"0123456789abcdefghijklmnopqrstuvwxyz\n"   # tests/origin.py /big pattern
USER, PASS = "alice", "s3cr3t-alice"
UP_USER, UP_PASS = "pfuser", "up-pass-91c2e7"
EPOCH = "cdcdcdcdcdcdcdcd"
HOPS = ("proxy-authorization", "proxy-connection", "keep-alive", "te", "connection",
        "x-hop-secret", "upgrade", "trailer")


def big_bytes(n):
    return (BIG_LINE * (n // len(BIG_LINE) + 1))[:n]


def sha256(b):
    return hashlib.sha256(b).hexdigest()


def hdr(resp_headers, name):
    """First value of header <name> in a curl .headers text (last block)."""
    block = resp_headers.strip().split("\r\n\r\n")[-1]
    for line in block.split("\r\n")[1:]:
        k, _, v = line.partition(":")
        if k.strip().lower() == name.lower():
            return v.strip()
    return None


class Resp:
    def __init__(self, status, headers, body, head):
        self.status, self.headers, self.body, self.head = status, headers, body, head

    def get(self, name):
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None


class RawClient:
    """One client connection to a proxy, with an HTTP/1.1 response reader."""

    def __init__(self, port, timeout=5.0):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buf = b""
        self.timeout = timeout

    def close(self):
        self.sock.close()

    def send(self, data):
        self.sock.sendall(data)

    def _fill(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            raise EOFError("peer closed")
        self.buf += chunk

    def _until(self, marker):
        while marker not in self.buf:
            self._fill()
        i = self.buf.index(marker) + len(marker)
        out, self.buf = self.buf[:i], self.buf[i:]
        return out

    def _exact(self, n):
        while len(self.buf) < n:
            self._fill()
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def read_response(self, is_head=False):
        head = self._until(b"\r\n\r\n")
        lines = head[:-4].split(b"\r\n")
        status = int(lines[0].split(b" ")[1])
        headers = []
        for line in lines[1:]:
            k, _, v = line.decode("latin-1").partition(":")
            headers.append((k.strip(), v.strip()))
        r = Resp(status, headers, b"", head)
        te = (r.get("Transfer-Encoding") or "").lower()
        if is_head or status < 200 or status in (204, 304):
            return r
        if "chunked" in te:
            body = b""
            while True:
                size = int(self._until(b"\r\n").split(b";")[0].strip(), 16)
                if size == 0:
                    while self._until(b"\r\n") != b"\r\n":
                        pass
                    break
                body += self._exact(size)
                if self._exact(2) != b"\r\n":
                    raise AssertionError("bad chunk end")
            r.body = body
        elif r.get("Content-Length") is not None:
            r.body = self._exact(int(r.get("Content-Length")))
        else:
            while True:
                try:
                    self._fill()
                except EOFError:
                    break
            r.body, self.buf = self.buf, b""
        return r

    def closed_within(self, timeout):
        """True when the peer closes (EOF or reset) within <timeout> seconds;
        whatever arrives meanwhile is discarded."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.sock.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                if not self.sock.recv(65536):
                    return True
            except socket.timeout:
                return False
            except ConnectionResetError:
                return True
        return False


class ThreadServer:
    """A tiny TCP server on a free loopback port; <handler>(sock) runs in a
    thread per connection. stop() closes everything (bounded)."""

    def __init__(self, handler):
        self.handler = handler
        self.lsock = socket.socket()
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(64)
        self.port = self.lsock.getsockname()[1]
        self.conns = []
        self.accepted = 0
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def _loop(self):
        self.lsock.settimeout(0.2)
        while not self.stopped.is_set():
            try:
                s, _ = self.lsock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            self.accepted += 1
            self.conns.append(s)
            threading.Thread(target=self._run, args=(s,), daemon=True).start()

    def _run(self, s):
        try:
            s.settimeout(10)
            self.handler(s, self.stopped)
        except OSError:
            pass

    def stop(self):
        self.stopped.set()
        self.thread.join(2)
        self.lsock.close()
        for s in self.conns:
            try:
                s.close()
            except OSError:
                pass


def read_head(s):
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = s.recv(4096)
        if not chunk:
            break
        data += chunk
    return data


class NodeHttpBase(unittest.TestCase):
    def setUp(self):
        self.fleet = Fleet(self)
        self.origin = self.fleet.start_origin()

    def direct(self, name="direct", **node):
        cfg = {"mode": "direct", "destination_allow": ["127.0.0.0/8"]}
        cfg.update(node)
        return self.fleet.start_node({"node": cfg}, name=name)

    def server(self, handler):
        srv = ThreadServer(handler)
        self.addCleanup(srv.stop)
        return srv

    def target(self, path):
        return "http://127.0.0.1:%d%s" % (self.origin.port, path)

    def req(self, method, path, extra=b"", body=b""):
        host = b"127.0.0.1:%d" % self.origin.port
        return (b"%s http://%s%s HTTP/1.1\r\nHost: %s\r\n%s\r\n" % (
            method.encode(), host, path.encode(), host, extra)) + body

    def origin_paths(self):
        return [q["path"] for q in self.origin.requests()]

    def origin_request(self, path):
        reqs = wait_until(lambda: [q for q in self.origin.requests() if q["path"] == path], 5,
                          "origin to log %s" % path)
        self.assertEqual(len(reqs), 1, "origin saw %s %d times" % (path, len(reqs)))
        return reqs[0]

    def assert_no_hop_headers(self, q):
        names = [k.lower() for k, _ in q["headers"]]
        for h in HOPS:
            self.assertNotIn(h, names, "origin saw hop-by-hop header %s: %r" % (h, q["headers"]))

    # pool mode -----------------------------------------------------------

    def seed(self, ports, user=None, pw=None):
        """Writes a snapshot of http upstreams on <ports> by hand (as
        docs/redis-keys.md describes) and announces it."""
        r, k = self.fleet.redis, self.fleet.keys
        self.version = getattr(self, "version", 0) + 1
        r.cmd("DEL", k.pool_upstreams)
        for p in ports:
            rec = {"scheme": "http", "host": "127.0.0.1", "port": p, "provider": "hand",
                   "expires_at_ms": 0, "weight": 1, "latency_ms": 0}
            if user:
                rec["user"], rec["pass"] = user, self.fleet.secret(pw)
            r.cmd("HSET", k.pool_upstreams, "http://127.0.0.1:%d" % p, self.fleet.seal_record(rec))
        r.cmd("HSET", k.pool_meta, "version", str(self.version), "epoch", EPOCH,
              "count", str(len(ports)), "updated_at_ms", str(int(time.time() * 1000)),
              "controller_id", "by-hand")
        r.cmd("PUBLISH", k.pool_events, "%d %s" % (self.version, EPOCH))

    def pool_node(self, name="pool", ports=None, user=None, pw=None, **node):
        """A pool-mode node; with <ports>, seeded and waited for."""
        if self.fleet.redis is None:
            self.fleet.start_redis()
        cfg = {"mode": "pool", "destination_allow": ["127.0.0.0/8"], "connect_timeout_ms": 2000}
        cfg.update(node)
        n = self.fleet.start_node({"node": cfg}, name=name)
        if ports is not None:
            self.seed(ports, user, pw)
            wait_until(lambda: n.metric("pf_node_pool_version") == self.version and
                       n.metric("pf_node_pool_size") == len(ports), 10, "pool loaded")
        return n


class Framing(NodeHttpBase):
    def test_get_head_204(self):
        node = self.direct()
        r = curl("-x", node.proxy_url, self.target("/get?a=1"))
        self.assertEqual(r.status, 200, r.stderr)
        doc = json.loads(r.body)
        self.assertEqual((doc["method"], doc["path"]), ("GET", "/get?a=1"))
        self.assertEqual(hdr(r.headers, "X-Origin"), self.origin.name)

        # HEAD: headers only, the body length announced but no body sent; on
        # one connection, so a body that leaked would corrupt the next answer.
        c = RawClient(node.port)
        self.addCleanup(c.close)
        c.send(self.req("HEAD", "/head"))
        h = c.read_response(is_head=True)
        self.assertEqual(h.status, 200)
        self.assertGreater(int(h.get("Content-Length")), 0)
        c.send(self.req("GET", "/status/204"))
        r204 = c.read_response()
        self.assertEqual(r204.status, 204, r204.head)
        self.assertIsNone(r204.get("Transfer-Encoding"))
        c.send(self.req("GET", "/after"))
        g = c.read_response()
        self.assertEqual(g.status, 200, g.head)
        self.assertEqual(json.loads(g.body)["path"], "/after")
        self.assertEqual(c.buf, b"", "stray bytes after a HEAD/204 answer")
        self.assertEqual(self.origin_request("/head")["method"], "HEAD")

        # HEAD of a chunked resource (Transfer-Encoding announced, no body)
        # and a 304, still on the same connection
        c.send(self.req("HEAD", "/chunked"))
        h = c.read_response(is_head=True)
        self.assertEqual((h.status, h.get("Transfer-Encoding")), (200, "chunked"))
        c.send(self.req("GET", "/status/304"))
        self.assertEqual(c.read_response().status, 304)
        c.send(self.req("GET", "/after2"))
        self.assertEqual(json.loads(c.read_response().body)["path"], "/after2")
        self.assertEqual(c.buf, b"", "stray bytes after a HEAD/304 answer")

        # curl -I writes the header block as its output: nothing may follow it
        r = curl("-I", "-x", node.proxy_url, self.target("/head-curl"))
        self.assertEqual((r.status, r.exit_code), (200, 0), r.stderr)
        self.assertTrue(r.raw_body.endswith(b"\r\n\r\n"), r.raw_body[-60:])
        r = curl("-x", node.proxy_url, self.target("/status/204"))
        self.assertEqual((r.status, r.exit_code, r.raw_body), (204, 0, b""))

    def test_chunked_response(self):
        node = self.direct()
        r = curl("--raw", "-x", node.proxy_url, self.target("/chunked"))
        self.assertEqual((r.status, r.exit_code), (200, 0), r.stderr)
        self.assertEqual(hdr(r.headers, "Transfer-Encoding"), "chunked")
        raw = r.raw_body
        self.assertTrue(raw.endswith(b"\r\n0\r\n\r\n"), raw[-40:])
        # decode the chunks by hand: the coding was relayed unchanged
        body, rest = b"", raw
        nchunks = 0
        while True:
            line, rest = rest.split(b"\r\n", 1)
            n = int(line, 16)
            if n == 0:
                break
            body, rest = body + rest[:n], rest[n + 2:]
            nchunks += 1
        self.assertEqual(nchunks, 3)
        self.assertEqual(json.loads(body)["path"], "/chunked")
        r = curl("-x", node.proxy_url, self.target("/chunked"))
        self.assertEqual(json.loads(r.body)["path"], "/chunked")
        n = 300000
        r = curl("-x", node.proxy_url, self.target("/big?n=%d&chunked=1" % n))
        self.assertEqual((r.status, len(r.raw_body)), (200, n))
        self.assertEqual(sha256(r.raw_body), sha256(big_bytes(n)))

    def test_close_delimited_response(self):
        body = b"close-delimited body\n" * 5000
        got = []

        def handler(s, stop):
            got.append(read_head(s))
            s.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n")
            for i in range(0, len(body), 7000):
                s.sendall(body[i:i + 7000])
            s.close()
        srv = self.server(handler)
        node = self.direct()
        c = RawClient(node.port)
        self.addCleanup(c.close)
        c.send(b"GET http://127.0.0.1:%d/cd HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n"
               % (srv.port, srv.port))
        r = c.read_response()   # no framing: reads until the node closes
        self.assertEqual(r.status, 200)
        self.assertIsNone(r.get("Content-Length"))
        self.assertEqual(r.get("Connection"), "close")
        self.assertEqual(sha256(r.body), sha256(body), "close-delimited body truncated or altered")
        self.assertTrue(got and got[0].startswith(b"GET /cd HTTP/1.1\r\n"), got)
        r = curl("-x", node.proxy_url, "http://127.0.0.1:%d/cd2" % srv.port)
        self.assertEqual((r.status, r.exit_code, len(r.raw_body)), (200, 0, len(body)))

    def test_request_bodies(self):
        node = self.direct()
        path = os.path.join(self.fleet.tmp, "upload.bin")
        data = os.urandom(200000)
        with open(path, "wb") as f:
            f.write(data)
        r = curl("-x", node.proxy_url, "--data-binary", "@" + path, self.target("/post-cl"))
        self.assertEqual(r.status, 200, r.stderr)
        self.assertEqual(json.loads(r.body)["body_len"], len(data))
        q = self.origin_request("/post-cl")
        self.assertEqual(self.origin.header(q, "Content-Length"), str(len(data)))
        r = curl("-x", node.proxy_url, "-H", "Transfer-Encoding: chunked", "--data-binary",
                 "@" + path, self.target("/post-chunked"))
        self.assertEqual(r.status, 200, r.stderr)
        self.assertEqual(json.loads(r.body)["body_len"], len(data))
        q = self.origin_request("/post-chunked")
        self.assertEqual(self.origin.header(q, "Transfer-Encoding"), "chunked")
        self.assertIsNone(self.origin.header(q, "Content-Length"))
        # raw: chunk extensions and a trailer, then a second request on the
        # same connection (the body end was found exactly)
        c = RawClient(node.port)
        self.addCleanup(c.close)
        c.send(self.req("POST", "/raw-chunked", b"Transfer-Encoding: chunked\r\n",
                        b"5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n"))
        r = c.read_response()
        self.assertEqual((r.status, json.loads(r.body)["body_len"]), (200, 11))
        c.send(self.req("POST", "/raw-cl", b"Content-Length: 4\r\n", b"abcd"))
        r = c.read_response()
        self.assertEqual((r.status, json.loads(r.body)["body_len"]), (200, 4))

    def test_5mib_download_byte_exact(self):
        node = self.direct()
        n = 5 * 1024 * 1024
        r = curl("-x", node.proxy_url, self.target("/big?n=%d" % n), max_time=30)
        self.assertEqual((r.status, r.exit_code), (200, 0), r.stderr)
        self.assertEqual(len(r.raw_body), n)
        self.assertEqual(sha256(r.raw_body), sha256(big_bytes(n)))

    def test_keep_alive_two_requests(self):
        node = self.direct()
        c = RawClient(node.port)
        self.addCleanup(c.close)
        c.send(self.req("GET", "/ka1"))
        r1 = c.read_response()
        c.send(self.req("GET", "/ka2"))
        r2 = c.read_response()
        self.assertEqual((r1.status, r2.status), (200, 200))
        self.assertEqual(r1.get("Connection"), "keep-alive")
        self.assertEqual([json.loads(r.body)["path"] for r in (r1, r2)], ["/ka1", "/ka2"])
        q1, q2 = self.origin_request("/ka1"), self.origin_request("/ka2")
        self.assertEqual(q1["client"], q2["client"],
                         "the node should reuse its kept-alive connection to the origin")

    def test_keep_alive_switches_destination(self):
        # one client connection, two origins: the kept-alive upstream
        # connection of the first must not carry the second's request
        other = self.fleet.start_origin(name="origin-b")
        node = self.direct()
        c = RawClient(node.port)
        self.addCleanup(c.close)
        for origin, path in ((self.origin, "/a1"), (other, "/b1"), (self.origin, "/a2")):
            host = b"127.0.0.1:%d" % origin.port
            c.send(b"GET http://%s%s HTTP/1.1\r\nHost: %s\r\n\r\n" % (host, path.encode(), host))
            r = c.read_response()
            self.assertEqual(r.status, 200, r.head)
            self.assertEqual(json.loads(r.body)["origin"], origin.name, path)
        self.assertEqual(sorted(self.origin_paths()), ["/a1", "/a2"])
        self.assertEqual([q["path"] for q in other.requests()], ["/b1"])

    def test_pipelined_post_then_get(self):
        node = self.direct()
        c = RawClient(node.port)
        self.addCleanup(c.close)
        body = b"x" * 70000
        c.send(self.req("POST", "/pp1", b"Content-Length: %d\r\n" % len(body), body) +
               self.req("POST", "/pp2", b"Transfer-Encoding: chunked\r\n", b"3\r\nabc\r\n0\r\n\r\n") +
               self.req("GET", "/pp3"))
        docs = [json.loads(c.read_response().body) for _ in range(3)]
        self.assertEqual([(d["path"], d["body_len"]) for d in docs],
                         [("/pp1", len(body)), ("/pp2", 3), ("/pp3", 0)])

    def test_client_connection_close_and_http10(self):
        node = self.direct()
        c = RawClient(node.port)
        self.addCleanup(c.close)
        c.send(self.req("GET", "/close-me", b"Connection: close\r\n"))
        r = c.read_response()
        self.assertEqual((r.status, r.get("Connection")), (200, "close"))
        self.assertTrue(c.closed_within(3), "Connection: close not honoured")
        host = b"127.0.0.1:%d" % self.origin.port
        c2 = RawClient(node.port)
        self.addCleanup(c2.close)
        c2.send(b"GET http://%s/h10 HTTP/1.0\r\n\r\n" % host)
        r = c2.read_response()
        self.assertEqual((r.status, r.get("Connection")), (200, "close"))
        self.assertTrue(c2.closed_within(3), "HTTP/1.0 without keep-alive must close")
        q = self.origin_request("/h10")
        self.assertEqual(self.origin.header(q, "Host"), host.decode())

    def test_pipelining(self):
        node = self.direct()
        c = RawClient(node.port)
        self.addCleanup(c.close)
        c.send(self.req("GET", "/p1") + self.req("HEAD", "/p2") + self.req("GET", "/chunked"))
        r1 = c.read_response()
        r2 = c.read_response(is_head=True)
        r3 = c.read_response()
        self.assertEqual([r1.status, r2.status, r3.status], [200, 200, 200])
        self.assertEqual(json.loads(r1.body)["path"], "/p1")
        self.assertEqual(json.loads(r3.body)["path"], "/chunked")
        self.assertEqual([p for p in self.origin_paths()], ["/p1", "/p2", "/chunked"])
        self.assertFalse(c.closed_within(0.3), "keep-alive connection closed after pipelining")


class Responses(NodeHttpBase):
    """Upstream responses the node must clean up or refuse."""

    RESPONSES = {
        b"/hop": b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nKeep-Alive: timeout=5\r\n"
                 b"Connection: X-Resp-Hop\r\nX-Resp-Hop: 1\r\nProxy-Authenticate: Basic realm=x\r\n"
                 b"Upgrade: h2c\r\nX-Kept: yes\r\n\r\nok",
        b"/cl-te": b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"
                   b"0\r\n\r\n",
        b"/two-cl": b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
        b"/garbage": b"SSH-2.0-OpenSSH_9.2\r\n\r\n",
        b"/truncated": b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\nonly-this",
        b"/bad-chunk": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n",
        b"/empty": b"",
    }

    def setUp(self):
        super().setUp()

        def handler(s, stop):
            head = read_head(s)
            path = head.split(b" ")[1] if b" " in head else b""
            s.sendall(self.RESPONSES.get(path, b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"))
            s.close()
        self.srv = self.server(handler)
        self.node = self.direct()

    def get(self, path):
        return curl("-x", self.node.proxy_url, "http://127.0.0.1:%d%s" % (self.srv.port, path),
                    max_time=5)

    def test_response_hop_by_hop_stripped(self):
        r = self.get("/hop")
        self.assertEqual((r.status, r.body), (200, "ok"), r.stderr)
        names = [line.split(":")[0].strip().lower() for line in r.headers.split("\r\n")[1:] if ":" in line]
        for h in ("keep-alive", "x-resp-hop", "proxy-authenticate", "upgrade"):
            self.assertNotIn(h, names, r.headers)
        self.assertEqual(hdr(r.headers, "X-Kept"), "yes")

    def test_bad_upstream_responses_never_200(self):
        for path in ("/cl-te", "/two-cl", "/garbage", "/empty"):
            r = self.get(path)
            self.assertEqual(r.status, 502, "%s: %r %r" % (path, r.headers, r.stderr))
        # already started: the client must see the cut, not a complete answer
        for path in ("/truncated", "/bad-chunk"):
            r = self.get(path)
            self.assertNotEqual(r.exit_code, 0, "%s: truncated body delivered as complete" % path)
            self.assertLess(len(r.raw_body), 1000)


class Headers(NodeHttpBase):
    def test_hop_by_hop_stripped(self):
        node = self.direct()
        r = curl("-x", node.proxy_url,
                 "-H", "Proxy-Authorization: Basic Y2xpZW50OmNsaWVudC1wdw==",
                 "-H", "Proxy-Connection: keep-alive", "-H", "Keep-Alive: timeout=5",
                 "-H", "TE: trailers", "-H", "Connection: X-Hop-Secret, keep-alive",
                 "-H", "X-Hop-Secret: 1", "-H", "Upgrade: h2c", "-H", "X-End-To-End: kept",
                 "-H", "Host: evil.example", self.target("/hop"))
        self.assertEqual(r.status, 200, r.stderr)
        q = self.origin_request("/hop")
        self.assert_no_hop_headers(q)
        self.assertEqual(self.origin.header(q, "X-End-To-End"), "kept")
        # Host comes from the absolute-form target, not from the client's header
        self.assertEqual(self.origin.header(q, "Host"), "127.0.0.1:%d" % self.origin.port)
        self.assertEqual([k.lower() for k, _ in q["headers"]].count("host"), 1)

    def test_users_required_and_credentials_stripped(self):
        node = self.direct(users=[{"user": USER, "pass": PASS}])
        r = curl("-x", node.proxy_url, "--proxy-user", "%s:%s" % (USER, PASS),
                 "-H", "Proxy-Connection: keep-alive", self.target("/authed"))
        self.assertEqual(r.status, 200, r.stderr)
        self.assert_no_hop_headers(self.origin_request("/authed"))
        r = curl("-p", "-x", node.proxy_url, "--proxy-user", "%s:%s" % (USER, PASS),
                 self.target("/authed-tunnel"))
        self.assertEqual((r.status, r.connect_status), (200, 200), r.stderr)
        # the tunnel carries the client's bytes unchanged, but curl sends the
        # credentials on the CONNECT only
        self.assert_no_hop_headers(self.origin_request("/authed-tunnel"))

        for creds in (None, "%s:wrong-pw" % USER, "bob:%s" % PASS):
            for connect in (False, True):
                args = ["-x", node.proxy_url] + (["-p"] if connect else [])
                if creds:
                    args += ["--proxy-user", creds]
                r = curl(*(args + [self.target("/denied")]))
                self.assertEqual(r.status, 407, "%s connect=%s: %r" % (creds, connect, r.stderr))
                self.assertRegex(r.headers, r'(?im)^Proxy-Authenticate:\s*Basic realm="[^"]*"\s*$')
        self.assertNotIn("/denied", self.origin_paths())
        self.assertEqual(node.metric("pf_node_auth_failures_total"), 6)

    def test_pool_to_credentialed_upstream(self):
        self.fleet.start_redis()
        up = self.fleet.direct_upstream_node(name="up-auth", users=[(UP_USER, UP_PASS)])
        # the upstream really requires credentials
        r = curl("-x", up.proxy_url, self.target("/no-creds"))
        self.assertEqual(r.status, 407)
        node = self.pool_node(ports=[up.port], user=UP_USER, pw=UP_PASS)
        r = curl("-x", node.proxy_url, "-H", "Proxy-Authorization: Basic Y2xpZW50OnB3LWNsaWVudA==",
                 self.target("/via-pool"))
        self.assertEqual(r.status, 200, "%s %s" % (r.stderr, r.body[:200]))
        self.assert_no_hop_headers(self.origin_request("/via-pool"))
        r = curl("-p", "-x", node.proxy_url, self.target("/via-pool-tunnel"))
        self.assertEqual(r.status, 200, r.stderr)
        self.assert_no_hop_headers(self.origin_request("/via-pool-tunnel"))
        self.assertEqual(up.metric("pf_node_auth_failures_total"), 1)   # only /no-creds
        self.assertNotIn("/no-creds", self.origin_paths())


class Statuses(NodeHttpBase):
    def test_destination_policy_403_before_dial(self):
        # No destination_allow, no allow_private_destinations: loopback,
        # metadata, private and IPv6 loopback destinations are all denied
        # before any connection is attempted.
        node = self.fleet.start_node({"node": {"mode": "direct"}}, name="strict")
        before = node.metric("pf_node_policy_denials_total")
        p = self.origin.port
        dests = ["127.0.0.1:%d" % p, "localhost:%d" % p, "169.254.169.254:80",
                 "[::1]:%d" % p, "10.0.0.1:80"]
        for d in dests:
            r = curl("-x", node.proxy_url, "http://%s/deny" % d, max_time=5)
            self.assertEqual(r.status, 403, "GET %s: %r" % (d, r.stderr))
            r = curl("-p", "-x", node.proxy_url, "http://%s/deny" % d, max_time=5)
            self.assertEqual(r.status, 403, "CONNECT %s: %r" % (d, r.stderr))
        self.assertEqual(node.metric("pf_node_policy_denials_total") - before, 2 * len(dests))
        self.assertEqual(self.origin.requests(), [])
        log = node.log_text()
        self.assertNotIn("-> dialing", log, "a denied destination must never be dialled")
        m = node.metrics()
        self.assertIn("pf_node_connect_seconds_count", m)
        self.assertEqual(m["pf_node_connect_seconds_count"], 0)

    def test_connect_port_policy(self):
        # connect_ports is kept apart from destination_allow (node/http_proxy.c
        # is_connect_port_allowed): allowing 127.0.0.0/8 does not open every port.
        node = self.direct("ports", connect_ports=[443, self.origin.port])
        r = curl("-p", "-x", node.proxy_url, self.target("/port-ok"))
        self.assertEqual(r.status, 200, r.stderr)
        other = free_port()
        r = curl("-p", "-x", node.proxy_url, "http://127.0.0.1:%d/port-denied" % other)
        self.assertEqual(r.status, 403, r.stderr)
        self.assertEqual(node.metric("pf_node_connect_port_denials_total"), 1)
        # plain absolute-form requests are not subject to connect_ports
        node2 = self.direct("ports2", connect_ports=[443])
        r = curl("-x", node2.proxy_url, self.target("/abs-any-port"))
        self.assertEqual(r.status, 200, r.stderr)
        r = curl("-p", "-x", node2.proxy_url, self.target("/port-denied2"))
        self.assertEqual(r.status, 403, r.stderr)
        self.assertNotIn("/port-denied2", self.origin_paths())

    def test_431_head_too_large(self):
        node = self.direct(max_header_bytes=1024)
        c = RawClient(node.port)
        self.addCleanup(c.close)
        c.send(self.req("GET", "/big-head", b"X-Fill: " + b"a" * 4000 + b"\r\n"))
        r = c.read_response()
        self.assertEqual(r.status, 431, r.head)
        self.assertTrue(c.closed_within(3))
        # just under the limit still works
        r = curl("-x", node.proxy_url, "-H", "X-Fill: " + "b" * 600, self.target("/ok-head"))
        self.assertEqual(r.status, 200, r.stderr)
        self.assertNotIn("/big-head", self.origin_paths())

    def test_408_slowloris_does_not_block_others(self):
        node = self.direct(header_timeout_ms=2500)
        slow = RawClient(node.port, timeout=8)
        self.addCleanup(slow.close)
        t0 = time.monotonic()
        slow.send(b"GET http://127.0.0.1:%d/slow HTTP/1.1\r\nHost: x\r\nX-Part: "
                  % self.origin.port)
        time.sleep(0.2)
        for i in range(3):
            r = curl("-x", node.proxy_url, self.target("/meanwhile%d" % i), max_time=3)
            self.assertEqual(r.status, 200, r.stderr)
        # served while the slow head was still pending (not after its 408)
        self.assertLess(time.monotonic() - t0, 2.3, "other clients waited for the slow one")
        slow.sock.setblocking(False)
        with self.assertRaises(BlockingIOError, msg="the slow client was answered too early"):
            slow.sock.recv(1)
        slow.sock.settimeout(8)
        slow.send(b"still-typing")   # trickling bytes does not extend the deadline
        r = slow.read_response()
        elapsed = time.monotonic() - t0
        self.assertEqual(r.status, 408, r.head)
        self.assertGreater(elapsed, 2.2)
        self.assertLess(elapsed, 6.0)
        self.assertTrue(slow.closed_within(3))
        self.assertNotIn("/slow", self.origin_paths())

    def test_idle_keep_alive_closes_silently_at_idle_timeout(self):
        """After a complete exchange, a keep-alive connection that sends
        nothing is closed at idle_timeout_ms without a 408 (the header
        deadline is for a request that has started, and for the first one);
        a connection that starts a request in time is served."""
        node = self.direct(header_timeout_ms=10000, idle_timeout_ms=1500)
        c = RawClient(node.port, timeout=8)
        self.addCleanup(c.close)
        c.send(self.req("GET", "/ka-1"))
        self.assertEqual(c.read_response().status, 200)
        t0 = time.monotonic()
        self.assertTrue(c.closed_within(5), "an idle keep-alive connection was kept open")
        waited = time.monotonic() - t0
        self.assertGreater(waited, 1.2)
        self.assertLess(waited, 4.0)
        self.assertEqual(node.metrics().get('pf_node_conn_closed_total{reason="header_timeout"}', 0), 0)
        # within the idle time a second request is served on the same connection
        c2 = RawClient(node.port, timeout=8)
        self.addCleanup(c2.close)
        c2.send(self.req("GET", "/ka-2"))
        self.assertEqual(c2.read_response().status, 200)
        time.sleep(0.7)
        c2.send(self.req("GET", "/ka-3"))
        self.assertEqual(c2.read_response().status, 200)

    def test_default_connect_ports(self):
        """By default CONNECT goes to 443, 80, 8080 and 8443 only: a port
        outside the list is refused (403) before any dial, whatever
        destination_allow says."""
        node = self.direct(connect_ports=DROP)   # the harness sets []: back to the default
        for port in (22, 25, 6379, self.origin.port):
            r = curl("-p", "-x", node.proxy_url, "http://127.0.0.1:%d/p" % port, max_time=5)
            self.assertEqual(r.status, 403, "CONNECT :%d %s" % (port, r.stderr))
        self.assertEqual(node.metric("pf_node_connect_port_denials_total"), 4)
        self.assertEqual(node.metric("pf_node_upstream_dials_total"), 0)
        # 80 is allowed: refused by the kernel (nothing listens), so 502, not 403
        r = curl("-p", "-x", node.proxy_url, "http://127.0.0.1:80/p", max_time=5)
        self.assertEqual(r.status, 502 if not port_open(80) else 200, r.stderr)
        self.assertEqual(node.metric("pf_node_connect_port_denials_total"), 4)

    def test_request_smuggling_400_and_close(self):
        node = self.direct()
        host = b"127.0.0.1:%d" % self.origin.port
        line = b"POST http://%s/smuggle HTTP/1.1\r\nHost: %s\r\n" % (host, host)
        cases = {
            "cl+te": line + b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            "te+cl": line + b"Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n",
            "two cl": line + b"Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
            "obs-fold": line + b"X-A: a\r\n b\r\nContent-Length: 0\r\n\r\n",
            "bare lf": b"GET http://%s/smuggle HTTP/1.1\nHost: %s\n\n" % (host, host),
            "lf in head": line + b"X-A: a\nContent-Length: 0\r\n\r\n",
            "nul": line + b"X-A: a\x00b\r\nContent-Length: 0\r\n\r\n",
            "te gzip": line + b"Transfer-Encoding: gzip\r\n\r\nxxxx",
            "te chunked,gzip": line + b"Transfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n",
            "space before colon": line + b"Transfer-Encoding : chunked\r\n\r\n0\r\n\r\n",
            "origin-form": b"GET /smuggle HTTP/1.1\r\nHost: %s\r\n\r\n" % host,
            "te chunked twice": line + b"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n"
                                b"0\r\n\r\n",
            "cl plus sign": line + b"Content-Length: +5\r\n\r\nhello",
            "cl list": line + b"Content-Length: 5, 5\r\n\r\nhello",
            "bare cr": line + b"X-A: a\rContent-Length: 0\r\n\r\n",
            "two host": line + b"Host: other.example\r\nContent-Length: 0\r\n\r\n",
        }
        for name, data in cases.items():
            c = RawClient(node.port, timeout=5)
            try:
                # a valid request follows: it must not be served either
                c.send(data + self.req("GET", "/smuggled-next"))
                r = c.read_response()
                self.assertEqual(r.status, 400, "%s: %r" % (name, r.head))
                self.assertEqual(r.get("Connection"), "close", name)
                self.assertTrue(c.closed_within(3), "%s: connection left open" % name)
            finally:
                c.close()
        time.sleep(0.2)
        self.assertEqual(self.origin.requests(), [], "a smuggling attempt reached the origin")

    def test_over_max_clients_503(self):
        node = self.direct(max_clients=3)
        # the harness's readiness probe must be gone before counting
        wait_until(lambda: node.metric("pf_node_conns_active") == 0, 5, "no client")
        held = []
        for i in range(3):
            c = RawClient(node.port)
            self.addCleanup(c.close)
            held.append(c)
            wait_until(lambda: node.metric("pf_node_conns_active") == i + 1, 5,
                       "%d clients held" % (i + 1))
        t0 = time.monotonic()
        extra = RawClient(node.port)
        self.addCleanup(extra.close)
        r = extra.read_response()
        self.assertEqual(r.status, 503, r.head)
        self.assertRegex(r.get("Retry-After") or "", r"^\d+$")
        self.assertLess(time.monotonic() - t0, 2.0, "503 over max_clients must come promptly")
        self.assertTrue(extra.closed_within(3))
        # a held connection is still served normally
        held[0].send(self.req("GET", "/held"))
        self.assertEqual(held[0].read_response().status, 200)
        for c in held:
            c.close()
        wait_until(lambda: node.metric("pf_node_conns_active") == 0, 5, "held clients gone")
        r = curl("-x", node.proxy_url, self.target("/after-limit"))
        self.assertEqual(r.status, 200, r.stderr)

    def test_502_closed_port_direct(self):
        node = self.direct()
        dead = free_port()
        r = curl("-x", node.proxy_url, "http://127.0.0.1:%d/x" % dead)
        self.assertEqual(r.status, 502, r.stderr)
        r = curl("-p", "-x", node.proxy_url, "http://127.0.0.1:%d/x" % dead)
        self.assertEqual(r.status, 502, r.stderr)
        self.assertNotEqual(r.exit_code, 0)

    def test_502_pool_upstream_down(self):
        dead = free_port()
        node = self.pool_node(ports=[dead], retries=1)
        r = curl("-x", node.proxy_url, self.target("/x"))
        self.assertEqual(r.status, 502, r.stderr)
        r = curl("-p", "-x", node.proxy_url, self.target("/x"))
        self.assertEqual(r.status, 502, r.stderr)
        self.assertEqual(self.origin.requests(), [])

    def test_503_empty_pool(self):
        node = self.pool_node()     # Redis holds no snapshot at all
        r = curl("-x", node.proxy_url, self.target("/x"))
        self.assertEqual(r.status, 503, r.stderr)
        self.assertRegex(r.headers, r"(?im)^Retry-After:\s*\d+\s*$")
        r = curl("-p", "-x", node.proxy_url, self.target("/x"))
        self.assertEqual(r.status, 503, r.stderr)
        self.assertRegex(r.headers, r"(?im)^Retry-After:\s*\d+\s*$")
        self.assertEqual(self.origin.requests(), [])

    def test_504_silent_upstream(self):
        def silent(s, stop):
            stop.wait(8)      # accept, read nothing, answer nothing (bounded)
        srv = self.server(silent)
        node = self.pool_node(ports=[srv.port], retries=0, connect_timeout_ms=1000,
                              idle_timeout_ms=1500)
        t0 = time.monotonic()
        r = curl("-p", "-x", node.proxy_url, self.target("/x"), max_time=6)
        el = time.monotonic() - t0
        self.assertEqual(r.status, 504, r.stderr)
        self.assertGreater(el, 0.8)
        self.assertLess(el, 4.0)
        # absolute-form: the request is sent, no response within idle_timeout_ms
        r = curl("-x", node.proxy_url, self.target("/y"), max_time=6)
        self.assertEqual(r.status, 504, r.stderr)
        self.assertGreaterEqual(srv.accepted, 2)
        self.assertEqual(self.origin.requests(), [])


class Https(NodeHttpBase):
    def setUp(self):
        super().setUp()
        self.tls = self.fleet.start_origin(name="tls-origin", tls=True)

    def check(self, r, path):
        self.assertEqual(r.status, 200, "%s %s" % (r.stderr, r.body[:200]))
        self.assertEqual(r.exit_code, 0, r.stderr)
        doc = json.loads(r.body)
        self.assertEqual((doc["origin"], doc["path"]), ("tls-origin", path))
        self.assertEqual([q["path"] for q in self.tls.requests()].count(path), 1)

    def test_https_via_direct_node(self):
        node = self.direct()
        r = curl("-p", "-x", node.proxy_url, "--cacert", self.tls.cert, self.tls.url("/tls-direct"))
        self.assertEqual(r.connect_status, 200)
        self.check(r, "/tls-direct")
        # curl uses CONNECT for https even without -p
        r = curl("-x", node.proxy_url, "--cacert", self.tls.cert, self.tls.url("/tls-direct2"))
        self.check(r, "/tls-direct2")
        n = 1024 * 1024
        r = curl("-x", node.proxy_url, "--cacert", self.tls.cert, self.tls.url("/big?n=%d" % n))
        self.assertEqual(sha256(r.raw_body), sha256(big_bytes(n)))

    def test_https_via_pool_node(self):
        up = self.fleet.direct_upstream_node(name="up-tls")
        node = self.pool_node(ports=[up.port])
        r = curl("-p", "-x", node.proxy_url, "--cacert", self.tls.cert, self.tls.url("/tls-pool"))
        self.check(r, "/tls-pool")
        self.assertGreaterEqual(up.metric("pf_node_tunnels_total"), 1)

    def test_https_via_socks5_hostname(self):
        node = self.direct()
        r = curl("--socks5-hostname", "127.0.0.1:%d" % node.port, "--cacert", self.tls.cert,
                 self.tls.url("/tls-socks"))
        self.check(r, "/tls-socks")


if __name__ == "__main__":
    unittest.main()
