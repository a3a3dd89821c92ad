"""Shared helpers of the fault-injection tests (tests/fault/test_*.py).

They build on tests/integration/pf_harness.py (PYTHONPATH under ctest) and
tests/chaos_proxy.py (put on sys.path here). Everything is bounded: every
socket has a timeout, every loop a deadline and a count."""

import json
import os
import socket
import sys
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
TESTS = os.path.dirname(HERE)
for p in (TESTS, os.path.join(TESTS, "integration")):
    if p not in sys.path:
        sys.path.insert(0, p)

from chaos_proxy import ChaosProxy  # noqa: E402
from pf_harness import Fleet, wait_until  # noqa: E402

# Short deadlines keep the suite fast (docs/reliability.md quotes them).
REDIS_TIMEOUT_MS = 500        # node redis connect_timeout_ms / command_timeout_ms
REPORT_MS = 500               # node report_interval_ms
CHECK_MS = 5000               # redis_link.c periodic meta check (REDIS_LINK_CHECK_MS)
BACKOFF_CAP_MS = 5000         # redis_link.c reconnect backoff cap
LEASE_MS = 1500               # controller lease


def record(port, host="127.0.0.1", **extra):
    """A pool:upstreams JSON record, as the controller writes it."""
    rec = {"scheme": "http", "host": host, "port": port, "provider": "fault",
           "expires_at_ms": 0, "weight": 1, "latency_ms": 0}
    rec.update(extra)
    return json.dumps(rec)


def seed(redis, keys, version, epoch, ports, publish=True):
    """Writes a whole snapshot by hand (as the controller's Lua does) whose
    upstreams are http://127.0.0.1:<port> for each of <ports>."""
    redis.cmd("DEL", keys.pool_upstreams)
    for p in ports:
        redis.cmd("HSET", keys.pool_upstreams, "http://127.0.0.1:%d" % p, record(p))
    redis.cmd("HSET", keys.pool_meta, "version", str(version), "epoch", epoch,
              "count", str(len(ports)), "updated_at_ms", str(int(time.time() * 1000)),
              "controller_id", "fault-test")
    if publish:
        redis.cmd("PUBLISH", keys.pool_channel, "%d %s" % (version, epoch))


def pool_node_config(redis_url=None, **node):
    """Config of a pool-mode node with the short deadlines above."""
    redis = {"connect_timeout_ms": REDIS_TIMEOUT_MS, "command_timeout_ms": REDIS_TIMEOUT_MS}
    if redis_url:
        redis["url"] = redis_url
    n = {"mode": "pool", "destination_allow": ["127.0.0.0/8"], "connect_timeout_ms": 1000,
         "report_interval_ms": REPORT_MS}
    n.update(node)
    return {"redis": redis, "node": n}


def _recv_head(s, deadline):
    buf = b""
    while b"\r\n\r\n" not in buf and len(buf) < 65536:
        s.settimeout(max(0.01, deadline - time.monotonic()))
        chunk = s.recv(4096)
        if not chunk:
            break
        buf += chunk
    return buf


def _status_of(head):
    try:
        return int(head.split(b" ", 2)[1])
    except (IndexError, ValueError):
        return 0


def proxy_get(node_port, url, timeout=10.0):
    """GET <url> in absolute form through the proxy on <node_port>, with
    Connection: close. Returns (status, elapsed_s, body bytes); status 0
    means no response head (closed, reset or timed out)."""
    t0 = time.monotonic()
    deadline = t0 + timeout
    host = url.split("/")[2]
    req = ("GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n" % (url, host)).encode()
    data = b""
    try:
        with socket.create_connection(("127.0.0.1", node_port), timeout=timeout) as s:
            s.sendall(req)
            while len(data) < 1 << 20 and time.monotonic() < deadline:
                s.settimeout(max(0.01, deadline - time.monotonic()))
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
    except OSError:
        pass
    head, _, body = data.partition(b"\r\n\r\n")
    return _status_of(head), time.monotonic() - t0, body


def open_tunnel(node_port, host, port, timeout=10.0):
    """CONNECT host:port through the proxy. Returns (status, elapsed_s, sock);
    sock is None unless the status is 200 (the caller closes it)."""
    t0 = time.monotonic()
    s = socket.create_connection(("127.0.0.1", node_port), timeout=timeout)
    try:
        s.sendall(("CONNECT %s:%d HTTP/1.1\r\nHost: %s:%d\r\n\r\n"
                   % (host, port, host, port)).encode())
        head = _recv_head(s, t0 + timeout)
    except OSError:
        head = b""
    status = _status_of(head)
    if status != 200:
        s.close()
        return status, time.monotonic() - t0, None
    return status, time.monotonic() - t0, s


def metrics(node):
    """The node's /metrics as {name: value} (labels kept in the name)."""
    return node.metrics()


def m(node, name):
    return node.metric(name)


class Traffic:
    """Background GETs through a node, one every <interval_s>, until stop().
    Records (t_monotonic, status, elapsed_s). Bounded by <max_requests>."""

    def __init__(self, node_port, url, interval_s=0.1, timeout=5.0, max_requests=2000):
        self.node_port = node_port
        self.url = url
        self.interval_s = interval_s
        self.timeout = timeout
        self.max_requests = max_requests
        self.results = []
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True, name="traffic")

    def start(self):
        self._t.start()
        return self

    def _run(self):
        for i in range(self.max_requests):
            if self._stop.is_set():
                return
            status, el, _ = proxy_get(self.node_port, self.url + "?n=%d" % i, self.timeout)
            self.results.append((time.monotonic(), status, el))
            self._stop.wait(self.interval_s)

    def stop(self):
        self._stop.set()
        self._t.join(self.timeout + 5)
        return self.results

    def failures(self):
        return [r for r in self.results if r[1] != 200]


class Subscriber:
    """Records every message published on <channel> (raw RESP SUBSCRIBE on
    its own socket) as (t_monotonic, payload str), until stop()."""

    def __init__(self, port, channel, max_messages=10000):
        self.messages = []
        self.max_messages = max_messages
        self._stop = threading.Event()
        self._sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        ch = channel.encode()
        self._sock.sendall(b"*2\r\n$9\r\nSUBSCRIBE\r\n$%d\r\n%s\r\n" % (len(ch), ch))
        self._f = self._sock.makefile("rb")
        self._read_reply()                      # the subscribe confirmation
        self._sock.settimeout(None)            # stop() shuts the socket down
        self._t = threading.Thread(target=self._run, daemon=True, name="subscriber")
        self._t.start()

    def _read_reply(self):
        line = self._f.readline()
        if not line:
            raise ConnectionError("subscriber: redis closed")
        if line[:1] == b"*":
            return [self._read_reply() for _ in range(int(line[1:]))]
        if line[:1] == b"$":
            n = int(line[1:])
            return self._f.read(n + 2)[:-2].decode(errors="replace")
        return line[1:-2].decode(errors="replace")

    def _run(self):
        while not self._stop.is_set() and len(self.messages) < self.max_messages:
            try:
                r = self._read_reply()
            except (OSError, ValueError):
                return
            if isinstance(r, list) and len(r) == 3 and r[0] == "message":
                self.messages.append((time.monotonic(), r[2]))

    def stop(self):
        self._stop.set()
        try:
            self._sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._t.join(2)
        self._sock.close()
        return self.messages


def node_hash(redis, keys, node_id):
    return redis.hgetall(keys.node(node_id))


def wait_node_epoch(redis, keys, node_id, epoch, version=None, timeout=10.0):
    """Waits until the node's heartbeat hash says it serves <epoch>
    (and <version> when given); returns the hash."""
    def ok():
        h = node_hash(redis, keys, node_id)
        if h.get("pool_epoch") == epoch and (version is None or h.get("pool_version") == str(version)):
            return h
        return None
    return wait_until(ok, timeout, "node %s to report epoch %s version %s" % (node_id, epoch, version))


__all__ = ["ChaosProxy", "REDIS_TIMEOUT_MS", "REPORT_MS", "CHECK_MS", "BACKOFF_CAP_MS",
           "LEASE_MS", "record", "seed", "pool_node_config", "proxy_get", "open_tunnel",
           "metrics", "m", "Traffic", "Subscriber", "node_hash", "wait_node_epoch"]


class FaultTestCase(unittest.TestCase):
    """A fault test: a fresh Fleet per test (self.fleet, self.k), and
    self.figures, printed after the test as one "FIGURES <test> {json}" line,
    which is where docs/reliability.md takes its numbers from."""

    def setUp(self):
        self.fleet = Fleet(self)
        self.k = self.fleet.keys
        self.figures = {}

    def tearDown(self):
        if self.figures:
            print("\nFIGURES %s %s" % (self.id().split(".")[-1],
                                       json.dumps(self.figures, sort_keys=True)))
