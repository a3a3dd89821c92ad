"""Fault injection between a pool node and its upstream proxies.

The upstreams are real direct-mode nodes; some sit behind
tests/chaos_proxy.py, so one can refuse (chaos stopped), black-hole
(accepted, never answered) or die in the middle of a tunnel (chaos cut).
The snapshot is written by hand (no controller), so the pool is exactly
the one each scenario needs.

  * one upstream refuses, another is SIGKILLed: every request still gets
    200 through a retry (the client sees no error);
  * one upstream black-holes: CONNECT gets 200 through a retry after at
    most connect_timeout_ms (the handshake deadline); a plain GET that lands
    on it is bounded by idle_timeout_ms (504), never hangs;
  * every upstream refuses: a fast 502 (far under connect_timeout_ms) and
    attempts stay within the retry budget (no retry storm);
  * an upstream dies in the middle of an open CONNECT tunnel: the client
    sees a clean close, the node keeps running and serving."""

import json
import signal
import socket
import time
import unittest

from fault_util import FaultTestCase, ChaosProxy, open_tunnel, pool_node_config, proxy_get, seed
from pf_harness import wait_until

EPOCH = "0123456789abcdef"
CONNECT_TIMEOUT_MS = 1000      # node.connect_timeout_ms (connect + handshake)
IDLE_TIMEOUT_MS = 2000         # node.idle_timeout_ms (also: wait for a response head)
RETRIES = 2
SLACK_S = 0.7



def read_http_response(sock):
    """Reads one Content-Length-framed response from <sock> and returns it."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            return data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return head + b"\r\n\r\n" + body


class TestUpstreamFaults(FaultTestCase):
    def world(self, nplain, nchaos, **node_keys):
        """<nplain> upstreams reached directly, <nchaos> behind a chaos proxy
        each; one pool node over all of them (snapshot version 1)."""
        f = self.fleet
        self.redis = f.start_redis()
        self.origin = f.start_origin()
        self.plain = [f.direct_upstream_node(name="up%d" % i) for i in range(nplain)]
        self.chaos_ups = [f.direct_upstream_node(name="cup%d" % i) for i in range(nchaos)]
        self.cps = []
        for u in self.chaos_ups:
            cp = ChaosProxy(("127.0.0.1", u.port)).start()
            self.addCleanup(cp.close)
            self.cps.append(cp)
        ports = [u.port for u in self.plain] + [cp.port for cp in self.cps]
        seed(self.redis, self.k, 1, EPOCH, ports, publish=False)
        keys = {"connect_timeout_ms": CONNECT_TIMEOUT_MS, "idle_timeout_ms": IDLE_TIMEOUT_MS,
                "retries": RETRIES, "strategy": "round_robin"}
        keys.update(node_keys)
        self.node = f.start_node(pool_node_config(**keys), name="pool-node")
        wait_until(lambda: self.node.metric("pf_node_pool_size") == len(ports), 10,
                   "pool node loads %d upstreams" % len(ports))
        return self.node

    def get(self, path, timeout=10.0):
        return proxy_get(self.node.port, self.origin.url(path), timeout)

    def get_head(self, path, timeout=10.0):
        """GET through the node: (status, seconds, body, {lower-case name: value})."""
        t0 = time.monotonic()
        with socket.create_connection(("127.0.0.1", self.node.port), timeout=timeout) as s:
            s.sendall(b"GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
                      % self.origin.url(path).encode())
            data = read_http_response(s)
        el = time.monotonic() - t0
        head, _, body = data.partition(b"\r\n\r\n")
        lines = head.decode(errors="replace").split("\r\n")
        fields = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:])}
        return int(lines[0].split()[1]), el, body, fields

    def upstream_errors(self, kind):
        return self.node.metrics().get('pf_node_upstream_errors_total{kind="%s"}' % kind, 0)

    # -- scenarios ----------------------------------------------------------

    def test_refusing_and_killed_upstreams_are_retried_no_client_error(self):
        node = self.world(nplain=2, nchaos=1)
        self.cps[0].stop()                       # connection refused
        self.plain[1].kill()                     # process gone: refused too
        n = 30
        results = [self.get("/r%d" % i) for i in range(n)]
        bad = [(i, s) for i, (s, _, _) in enumerate(results) if s != 200]
        self.assertEqual(bad, [], "the client must never see an upstream failure")
        mt = node.metrics()
        retries = mt["pf_node_retries_total"]
        self.assertGreaterEqual(retries, 2, "both dead upstreams were tried and retried")
        self.assertLessEqual(retries, n * RETRIES)
        self.assertGreaterEqual(self.upstream_errors("upstream_refused"), 2)
        self.assertEqual(mt['pf_node_errors_total{code="502"}'] + mt['pf_node_errors_total{code="503"}']
                         + mt['pf_node_errors_total{code="504"}'], 0)
        self.assertTrue(node.running())
        self.figures.update(requests=n, failed=len(bad), retries=retries,
                            worst_s=round(max(e for _, e, _ in results), 3),
                            ejections=mt.get("pf_node_ejections_total", 0))

    def test_blackholed_upstream_connect_retried_within_deadline(self):
        node = self.world(nplain=1, nchaos=1)
        self.cps[0].set_mode("blackhole")
        n = 8
        worst, statuses = 0.0, []
        for i in range(n):
            status, el, sock = open_tunnel(node.port, "127.0.0.1", self.origin.port,
                                           timeout=CONNECT_TIMEOUT_MS / 1000 * (RETRIES + 1) + 5)
            if sock is not None:
                # The tunnel really works end to end.
                sock.sendall(b"GET /t%d HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" % i)
                sock.settimeout(5)
                self.assertTrue(sock.recv(4096).startswith(b"HTTP/1.1 200"))
                sock.close()
            statuses.append(status)
            worst = max(worst, el)
            self.assertIn(status, (200, 504))
            self.assertLess(el, CONNECT_TIMEOUT_MS / 1000 + SLACK_S,
                            "CONNECT %d took %.2fs: the handshake deadline must bound it" % (i, el))
        # A good upstream exists, so the retry always finds it.
        self.assertEqual(statuses, [200] * n)
        self.assertGreaterEqual(self.upstream_errors("upstream_timeout"), 1,
                                "the black-holed upstream was tried")
        self.assertGreaterEqual(node.metric("pf_node_retries_total"), 1)
        self.figures.update(connects=n, status_200=statuses.count(200), worst_connect_s=round(worst, 3),
                            upstream_timeouts=self.upstream_errors("upstream_timeout"))

    def test_blackholed_upstream_plain_get_bounded_by_idle_timeout(self):
        # A plain request is forwarded as soon as TCP connects; the wait for
        # the response head is under idle_timeout_ms (no retry: the request
        # was sent). Bounded, and 504, never a hang or a 200 with no body.
        node = self.world(nplain=1, nchaos=1, eject_consecutive_failures=0)
        self.cps[0].set_mode("blackhole")
        n = 4
        worst, statuses = 0.0, []
        for i in range(n):
            status, el, body = self.get("/p%d" % i, timeout=IDLE_TIMEOUT_MS / 1000 + 5)
            statuses.append(status)
            worst = max(worst, el)
            self.assertIn(status, (200, 504), "request %d" % i)
            if status == 200:
                self.assertEqual(json.loads(body)["path"], "/p%d" % i)
            self.assertLess(el, IDLE_TIMEOUT_MS / 1000 + SLACK_S, "request %d took %.2fs" % (i, el))
        self.assertIn(504, statuses, "round robin must have hit the black hole")
        self.assertIn(200, statuses)
        self.assertTrue(node.running())
        self.figures.update(requests=n, status_504=statuses.count(504), worst_s=round(worst, 3))

    def test_one_byte_per_second_upstream(self):
        """An upstream behind a 1 byte/s link. A CONNECT handshake through
        it cannot finish within connect_timeout_ms: retried elsewhere, 200.
        A GET sent to it waits response_timeout_ms for a head that trickles,
        then is retried on the other upstream: 200, late. A POST is not
        idempotent: 504 at the deadline, never replayed. Meanwhile other
        clients are served at full speed by the other upstream."""
        resp_ms = 1500
        node = self.world(nplain=1, nchaos=1, response_timeout_ms=resp_ms,
                          eject_consecutive_failures=0)
        self.cps[0].set_mode("slow", slow_bps=1)
        # CONNECT: every tunnel ends up on the healthy upstream
        worst_tunnel = 0.0
        for i in range(4):
            t0 = time.monotonic()
            status, _, sock = open_tunnel(node.port, "127.0.0.1", self.origin.port)
            sock.close()
            worst_tunnel = max(worst_tunnel, time.monotonic() - t0)
            self.assertEqual(status, 200, "tunnel %d" % i)
        self.assertLess(worst_tunnel, CONNECT_TIMEOUT_MS / 1000 + SLACK_S)
        # GETs: alternate between the two; those sent to the slow one are
        # retried at the response deadline, the others quick, even while a
        # slow one waits
        import concurrent.futures as cf
        with cf.ThreadPoolExecutor(4) as ex:
            futs = [ex.submit(self.get, "/trickle-%d" % i) for i in range(4)]
            res = [f.result() for f in futs]
        self.assertEqual([st for st, _, _ in res], [200] * 4, res)
        late = [el for _, el, _ in res if el > resp_ms / 1000 - 0.1]
        quick = [el for _, el, _ in res if el < 1.0]
        self.assertEqual((len(late), len(quick)), (2, 2), res)
        for el in late:
            self.assertLess(el, resp_ms / 1000 + SLACK_S)
        # POSTs: the one sent to the slow upstream is answered 504, once
        with cf.ThreadPoolExecutor(2) as ex:
            futs = [ex.submit(self.post, "/post-%d" % i) for i in range(2)]
            posts = [f.result() for f in futs]
        self.assertEqual(sorted(st for st, _ in posts), [200, 504], posts)
        for i, (st, el) in enumerate(posts):
            if st == 504:
                self.assertGreater(el, resp_ms / 1000 - 0.1)
                self.assertLess(el, resp_ms / 1000 + SLACK_S)
                self.assertLessEqual(sum(1 for r in self.origin.requests()
                                         if r["path"] == "/post-%d" % i), 1,
                                     "a POST is never replayed")
        self.assertTrue(node.running())
        self.figures.update(worst_tunnel_s=round(worst_tunnel, 3),
                            get_retried_s=round(max(late), 3),
                            get_200_s=round(max(quick), 3))

    def post(self, path, timeout=10.0):
        """POST a small body through the node: (status, seconds); status 0
        when no response head came."""
        t0 = time.monotonic()
        with socket.create_connection(("127.0.0.1", self.node.port), timeout=timeout) as s:
            s.sendall(b"POST %s HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n"
                      b"Connection: close\r\n\r\nhi" % self.origin.url(path).encode())
            data = read_http_response(s)
        el = time.monotonic() - t0
        if not data.startswith(b"HTTP/"):
            return 0, el
        return int(data.split(b" ", 2)[1]), el

    def test_all_upstreams_refuse_fast_failure_within_retry_budget(self):
        """Every upstream refuses. Each request tries 1 + RETRIES of them and
        gets 502 (refused) until each has failed EJECT_AFTER times in a row;
        then all are ejected and every request gets a fast 503 with
        Retry-After without any dial (node.eject_panic false): no retry
        storm against a dead pool."""
        eject_after, nup = 3, 3
        node = self.world(nplain=0, nchaos=nup, eject_consecutive_failures=eject_after,
                          eject_base_ms=30000)
        for cp in self.cps:
            cp.stop()
        n = 20
        worst, statuses, retry_after = 0.0, [], set()
        for i in range(n):
            status, el, _, head = self.get_head("/a%d" % i)
            statuses.append(status)
            worst = max(worst, el)
            if status == 503:
                retry_after.add(int(head["retry-after"]))
        # RETRIES + 1 == nup: each request dials all of them once
        n502 = eject_after * nup // (RETRIES + 1)
        self.assertEqual(statuses, [502] * n502 + [503] * (n - n502))
        self.assertTrue(retry_after and all(25 <= v <= 30 for v in retry_after), retry_after)
        # Refused connects fail at once: far under the connect deadline.
        self.assertLess(worst, CONNECT_TIMEOUT_MS / 1000 / 2)
        mt = node.metrics()
        self.assertEqual(mt["pf_node_retries_total"], n502 * RETRIES)
        self.assertEqual(mt["pf_node_upstream_dials_total"], eject_after * nup)
        self.assertEqual(mt["pf_node_ejections_total"], nup)
        self.assertEqual(mt['pf_node_errors_total{code="502"}'], n502)
        self.assertEqual(mt['pf_node_errors_total{code="503"}'], n - n502)
        self.assertEqual(mt['pf_node_conn_closed_total{reason="all_ejected"}'], n - n502)
        self.assertTrue(node.running())
        self.figures.update(requests=n, worst_s=round(worst, 3), status_502=n502,
                            status_503=n - n502, retries=mt["pf_node_retries_total"],
                            dials=mt["pf_node_upstream_dials_total"],
                            retry_after_s=sorted(retry_after))

    def test_upstream_dies_mid_tunnel_clean_close_node_survives(self):
        node = self.world(nplain=0, nchaos=1)
        status, _, sock = open_tunnel(node.port, "127.0.0.1", self.origin.port)
        self.assertEqual(status, 200)
        try:
            sock.settimeout(5)
            sock.sendall(b"GET /in-tunnel HTTP/1.1\r\nHost: x\r\n\r\n")
            # Read the whole response (it may span several reads), so the
            # recv after the cut sees only what the cut causes.
            self.assertTrue(read_http_response(sock).startswith(b"HTTP/1.1 200"))
            self.assertEqual(self.cps[0].active(), 1)
            t0 = time.monotonic()
            self.assertEqual(self.cps[0].cut(), 1)   # the upstream leg dies
            try:
                data = sock.recv(65536)
            except ConnectionResetError:
                data = b""
            t_close = time.monotonic() - t0
        finally:
            sock.close()
        self.assertEqual(data, b"", "the client leg is closed, not left open")
        self.assertLess(t_close, 2.0)
        wait_until(lambda: node.metric("pf_node_conns_active") == 0, 5, "no leaked connection")
        self.assertTrue(node.running())
        # The same upstream works again for new requests and tunnels.
        self.assertEqual(self.get("/after-cut")[0], 200)
        status, _, s2 = open_tunnel(node.port, "127.0.0.1", self.origin.port)
        self.assertEqual(status, 200)
        s2.close()
        self.figures.update(client_close_s=round(t_close, 3))

    def test_upstream_sigstopped_mid_tunnel_idle_deadline_closes(self):
        # The upstream process freezes (SIGSTOP) while a tunnel is open: no
        # FIN, no RST. The tunnel's idle deadline must end it.
        node = self.world(nplain=1, nchaos=0, idle_timeout_ms=1500)
        status, _, sock = open_tunnel(node.port, "127.0.0.1", self.origin.port)
        self.assertEqual(status, 200)
        up = self.plain[0]
        up.signal(signal.SIGSTOP)
        try:
            t0 = time.monotonic()
            sock.settimeout(10)
            sock.sendall(b"GET /frozen HTTP/1.1\r\nHost: x\r\n\r\n")
            try:
                data = sock.recv(65536)
            except ConnectionResetError:
                data = b""
            t_close = time.monotonic() - t0
        finally:
            sock.close()
            up.signal(signal.SIGCONT)
        self.assertEqual(data, b"")
        self.assertLess(t_close, 1.5 + SLACK_S + 0.5)
        wait_until(lambda: node.metric("pf_node_conns_active") == 0, 5, "no leaked connection")
        self.assertEqual(self.get("/after-freeze")[0], 200)
        self.figures.update(idle_close_s=round(t_close, 3))


if __name__ == "__main__":
    unittest.main()
