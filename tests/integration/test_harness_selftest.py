"""Self-test of the integration harness and its helpers (no proxyfleet
binary needed): redis lifecycle, the fake provider's scenario matrix, the
origin's framing and request log, and the fleet's log checks."""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import unittest

import pf_harness
from pf_harness import Fleet, HarnessError, curl, free_port, raw_request, wait_until


class TestRedis(unittest.TestCase):
    def setUp(self):
        self.fleet = Fleet(self)

    def test_lifecycle(self):
        r = self.fleet.start_redis()
        self.assertEqual(r.url, "redis://127.0.0.1:%d/0" % r.port)
        self.assertEqual(r.cmd("SET", "{pf}:v1:x", "1"), "OK")
        self.assertEqual(r.cli("GET", "{pf}:v1:x"), "1\n")
        r.cmd("HSET", "h", "a", "1", "b", "two")
        self.assertEqual(r.hgetall("h"), {"a": "1", "b": "two"})
        r.kill()
        self.assertFalse(pf_harness.port_open(r.port))
        r.start()
        self.assertIsNone(r.cmd("GET", "{pf}:v1:x"), "restarted redis must be empty")
        r.pause()
        with self.assertRaises(OSError):
            r.cmd("PING", timeout=0.3)
        r.resume()
        self.assertEqual(r.cmd("PING"), "PONG")
        r.stop()
        r.start()
        self.assertEqual(r.cmd("DBSIZE"), 0)
        r.pause()  # cleanup must still stop a paused server

    def test_keys(self):
        k = pf_harness.Keys()
        self.assertEqual(k.pool_meta, "{pf}:v1:pool:meta")
        self.assertEqual(k.pool_upstreams, "{pf}:v1:pool:upstreams")
        self.assertEqual(k.pool_expiry, "{pf}:v1:pool:expiry")
        self.assertEqual(k.pool_events, "{pf}:v1:pool:events")
        self.assertEqual(k.providers, "{pf}:v1:providers")
        self.assertEqual(k.provider("plain"), "{pf}:v1:provider:plain")
        self.assertEqual(k.controller, "{pf}:v1:controller")
        self.assertEqual(k.controller_lease, "{pf}:v1:controller:lease")
        self.assertEqual(k.nodes, "{pf}:v1:nodes")
        self.assertEqual(k.node("node-a"), "{pf}:v1:node:node-a")
        self.assertEqual(pf_harness.Keys("x1").pool_meta, "{x1}:v1:pool:meta")


class TestFakeProvider(unittest.TestCase):
    def setUp(self):
        self.fleet = Fleet(self)
        self.p = self.fleet.start_fake_provider()

    def test_literal_and_hits(self):
        p = self.p
        self.assertEqual(curl(p.url("/list")).status, 404)
        p.set("/list", body="127.0.0.1:1\n", headers={"X-T": "y"})
        r = curl("-i", p.url("/list?key=abc"))
        self.assertEqual(r.status, 200)
        self.assertIn("127.0.0.1:1\n", r.body)
        self.assertIn("X-T: y", r.headers)
        self.assertEqual(p.hits("/list"), 2)
        reqs = p.requests("/list")
        self.assertEqual(reqs[-1]["query"], "key=abc")
        p.set("/s", status=503, body="x", delay_ms=300)
        t0 = time.monotonic()
        self.assertEqual(curl(p.url("/s")).status, 503)
        self.assertGreaterEqual(time.monotonic() - t0, 0.3)
        p.reset()
        self.assertEqual(p.hits("/list"), 0)
        self.assertEqual(curl(p.url("/list")).status, 404)

    def test_scenarios(self):
        p = self.p
        ups = ["127.0.0.1:3301", "http://127.0.0.1:3302"]
        p.set("/a", scenario="good_text", upstreams=ups)
        r = curl(p.url("/a"))
        self.assertEqual((r.status, r.body), (200, "127.0.0.1:3301\nhttp://127.0.0.1:3302\n"))
        p.set("/b", scenario="good_json", upstreams=["127.0.0.1:3301"])
        doc = json.loads(curl(p.url("/b")).body)
        self.assertEqual(doc["code"], 0)
        self.assertEqual(doc["data"][0]["ip"], "127.0.0.1")
        self.assertEqual(doc["data"][0]["port"], 3301)
        self.assertRegex(doc["data"][0]["expire_time"], r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$")
        p.set("/c", scenario="empty_200")
        self.assertEqual(curl(p.url("/c"))[:2], (200, ""))
        p.set("/d", scenario="html_error")
        r = curl(p.url("/d"))
        self.assertEqual(r.status, 200)
        self.assertIn("<html>", r.body)
        p.set("/e", scenario="truncated_json")
        with self.assertRaises(ValueError):
            json.loads(curl(p.url("/e")).body)
        p.set("/f", scenario="json_error_code")
        self.assertEqual(json.loads(curl(p.url("/f")).body)["code"], 10001)
        p.set("/g", scenario="unauthorized_401")
        self.assertEqual(curl(p.url("/g")).status, 401)
        p.set("/h", scenario="rate_limited_429")
        r = curl(p.url("/h"))
        self.assertEqual(r.status, 429)
        self.assertIn("Retry-After: 2", r.headers)
        p.set("/i", scenario="server_error_500")
        self.assertEqual(curl(p.url("/i")).status, 500)
        p.set("/j", scenario="hang")
        t0 = time.monotonic()
        r = curl(p.url("/j"), max_time=1)
        self.assertEqual(r.exit_code, 28)  # timed out
        self.assertLess(time.monotonic() - t0, 5)
        p.set("/k", scenario="oversize", mib=3)
        r = curl(p.url("/k"), max_time=20)
        self.assertEqual(r.status, 200)
        self.assertEqual(len(r.raw_body), 3 * 1024 * 1024)
        with self.assertRaises(HarnessError):
            p.set("/z", scenario="nope")

    def test_sequence(self):
        p = self.p
        p.set("/q", sequence=[{"scenario": "server_error_500"},
                              {"scenario": "good_text", "params": {"upstreams": ["127.0.0.1:9"]}}])
        self.assertEqual(curl(p.url("/q")).status, 500)
        self.assertEqual(curl(p.url("/q")).body, "127.0.0.1:9\n")
        self.assertEqual(curl(p.url("/q")).body, "127.0.0.1:9\n")


class TestOrigin(unittest.TestCase):
    def setUp(self):
        self.fleet = Fleet(self)
        self.o = self.fleet.start_origin()

    def test_echo_and_log(self):
        o = self.o
        r = curl("-H", "X-Test: 1", o.url("/hello?x=1"))
        self.assertEqual(r.status, 200)
        doc = json.loads(r.body)
        self.assertEqual(doc["origin"], o.name)
        self.assertEqual(doc["method"], "GET")
        self.assertEqual(doc["path"], "/hello?x=1")
        reqs = o.requests()
        self.assertEqual(len(reqs), 1)
        self.assertEqual(o.header(reqs[0], "x-test"), "1")
        self.assertRegex(reqs[0]["client"], r"^127\.0\.0\.1:\d+$")
        r = curl("-d", "abc", o.url("/post"))
        self.assertEqual(json.loads(r.body)["body_len"], 3)
        r = curl("-I", o.url("/"))
        self.assertEqual(r.status, 200)
        self.assertIn("Content-Length:", r.headers)

    def test_routes(self):
        o = self.o
        raw = raw_request(o.port, b"GET /chunked HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        self.assertIn(b"Transfer-Encoding: chunked", raw)
        self.assertTrue(raw.endswith(b"0\r\n\r\n"))
        r = curl(o.url("/chunked"))
        self.assertEqual(json.loads(r.body)["path"], "/chunked")
        r = curl(o.url("/big?n=1000000"))
        self.assertEqual(len(r.raw_body), 1000000)
        self.assertEqual(r.raw_body[:37], b"0123456789abcdefghijklmnopqrstuvwxyz\n")
        r = curl(o.url("/big?n=100000&chunked=1"))
        self.assertEqual(len(r.raw_body), 100000)
        self.assertEqual(curl(o.url("/status/503")).status, 503)
        self.assertEqual(curl(o.url("/status/204")).status, 204)
        t0 = time.monotonic()
        self.assertEqual(curl(o.url("/slow?ms=300")).status, 200)
        self.assertGreaterEqual(time.monotonic() - t0, 0.3)

    def test_keepalive(self):
        o = self.o
        r = curl(o.url("/1"), o.url("/2"), "-v")
        self.assertIn("Re-using existing connection", r.stderr)
        clients = {q["client"] for q in o.requests()}
        self.assertEqual(len(clients), 1)


class TestFleetChecks(unittest.TestCase):
    def test_secret_and_sanitizer_detection(self):
        f = Fleet()
        f.secret("hunter2-secret")
        # A fake "binary": run_binary-style log registered by hand.
        p = os.path.join(f.tmp, "fake.log")
        with open(p, "w") as fh:
            fh.write("line with hunter2-secret\n")
            fh.write("==1==" + pf_harness.SANITIZER_PATTERNS[3] + ": heap-use-after-free\n")
        f._run_logs.append(p)
        probs = f.check_logs()
        self.assertEqual(len(probs), 2, probs)
        self.assertNotIn("hunter2-secret", "".join(probs))
        f._run_logs.clear()
        f.close(test_failed=False)
        shutil.rmtree(f.tmp, ignore_errors=True)   # the planted secret (see run_fleet)

    def test_missing_binary_env_fails_loudly(self):
        f = Fleet(self)
        old = os.environ.pop("PF_NODE_BIN", None)
        try:
            with self.assertRaises(HarnessError):
                f.start_node({})
        finally:
            if old is not None:
                os.environ["PF_NODE_BIN"] = old

    def test_wait_until(self):
        self.assertEqual(wait_until(lambda: 5, 1, "five"), 5)
        with self.assertRaises(HarnessError):
            wait_until(lambda: False, 0.2, "never")
        a, b = free_port(), free_port()
        self.assertNotEqual(a, b)


FAKE_BIN = r"""#!/usr/bin/env python3
# Stand-in for proxyfleet-node: listens where the config says, and on
# SIGTERM prints $FAKE_SAY and exits with $FAKE_EXIT.
import json, os, signal, socket, sys, time
cfg = json.load(open(sys.argv[sys.argv.index("--config") + 1]))
socks = []
for key in ("listen", "admin_listen"):
    addr = cfg["node"].get(key)
    if addr:
        s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", int(addr.rsplit(":", 1)[1]))); s.listen(8); socks.append(s)
def term(*a):
    sys.stderr.write(os.environ.get("FAKE_SAY", "") + "\n"); sys.stderr.flush()
    os._exit(int(os.environ.get("FAKE_EXIT", "0")))
signal.signal(signal.SIGTERM, term)
sys.stderr.write("fake node up\n"); sys.stderr.flush()
end = time.time() + 60
while time.time() < end:
    time.sleep(0.1)
"""


class TestFleetWithFakeBinary(unittest.TestCase):
    """The cleanup checks, driven by a stand-in binary (PF_NODE_BIN).
    Fake sanitizer lines use the ThreadSanitizer pattern, which the harness
    catches but ctest's FAIL_REGULAR_EXPRESSION does not: the harness prints
    log tails on failure, and this test must not fail ctest by design."""

    def setUp(self):
        self.old = os.environ.get("PF_NODE_BIN")
        d = Fleet(self).tmp  # a temp dir that outlives the fleets below
        self.bin = os.path.join(d, "fake-node")
        with open(self.bin, "w") as f:
            f.write(FAKE_BIN.replace("/usr/bin/env python3", sys.executable, 1))
        os.chmod(self.bin, 0o755)
        os.environ["PF_NODE_BIN"] = self.bin

    def tearDown(self):
        if self.old is None:
            os.environ.pop("PF_NODE_BIN", None)
        else:
            os.environ["PF_NODE_BIN"] = self.old

    def run_fleet(self, env, users=None):
        f = Fleet()
        node = {"users": users} if users else {}
        n = f.start_node({"node": node}, env=env)
        self.assertTrue(pf_harness.port_open(n.port))
        self.assertTrue(pf_harness.port_open(n.admin_port))
        try:
            f.close(test_failed=False)
        except HarnessError as e:
            return str(e)
        finally:
            # planted secrets, not evidence: keep them out of the global
            # secret scan (scripts/test.sh keeps every other temp dir)
            shutil.rmtree(f.tmp, ignore_errors=True)
        return None

    def test_clean_exit_passes(self):
        self.assertIsNone(self.run_fleet({"FAKE_EXIT": "0"}))

    def test_nonzero_exit_on_sigterm_fails(self):
        err = self.run_fleet({"FAKE_EXIT": "3"})
        self.assertIn("exited with code 3 on SIGTERM", err or "")

    def test_sanitizer_report_fails(self):
        say = "==7==" + pf_harness.SANITIZER_PATTERNS[3] + ": detected memory leaks"
        err = self.run_fleet({"FAKE_EXIT": "0", "FAKE_SAY": say})
        self.assertIn("sanitizer report", err or "")

    def test_user_password_in_log_fails(self):
        err = self.run_fleet({"FAKE_EXIT": "0", "FAKE_SAY": "auth pw=pw-0xdeadbeef"},
                             users=[{"user": "u", "pass": "pw-0xdeadbeef"}])
        self.assertIn("configured secret", err or "")
        self.assertNotIn("pw-0xdeadbeef", err)

    def test_early_exit_is_reported(self):
        f = Fleet()
        try:
            with self.assertRaises(HarnessError) as cm:
                f.start_node({"node": {"listen": "bad"}})
            self.assertIn("exited early", str(cm.exception))
        finally:
            f.close(test_failed=False)


if __name__ == "__main__":
    unittest.main()
