"""Controller integration: real redis-server, real proxyfleet-controller, a
fake provider API. Checks the Redis contract of docs/redis-keys.md."""

import json
import re
import socket
import time
import unittest

from pf_harness import Fleet, wait_until

PUBLIC_A = "203.0.113.10:8080"
PUBLIC_B = "198.51.100.7:3128"


class Subscriber:
    """Raw RESP SUBSCRIBE on one channel; .messages() returns payloads seen."""

    def __init__(self, port, channel):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.buf = b""
        ch = channel.encode()
        self.sock.sendall(b"*2\r\n$9\r\nSUBSCRIBE\r\n$%d\r\n%s\r\n" % (len(ch), ch))
        reply = self._read()
        assert reply[0] == "subscribe", reply
        self.got = []

    def close(self):
        self.sock.close()

    def _line(self):
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("subscriber closed")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _read(self):
        line = self._line()
        t, rest = line[:1], line[1:]
        if t == b"*":
            return [self._read() for _ in range(int(rest))]
        if t == b"$":
            n = int(rest)
            while len(self.buf) < n + 2:
                self.buf += self.sock.recv(65536)
            data, self.buf = self.buf[:n], self.buf[n + 2:]
            return data.decode()
        if t == b":":
            return int(rest)
        return rest.decode()

    def messages(self, timeout=0.2):
        self.sock.settimeout(timeout)
        try:
            while True:
                m = self._read()
                if m[0] == "message":
                    self.got.append(m[2])
        except (socket.timeout, BlockingIOError):
            pass
        return list(self.got)


class TestController(unittest.TestCase):
    def setUp(self):
        self.fleet = Fleet(self)
        self.k = self.fleet.keys

    # -- helpers ---------------------------------------------------------------

    def meta(self):
        return self.fleet.redis.hgetall(self.k.pool_meta)

    def wait_meta(self, pred, what, timeout=10):
        return wait_until(lambda: (lambda m: m if m and pred(m) else None)(self.meta()),
                          timeout, what)

    def provider_hash(self, name):
        return self.fleet.redis.hgetall(self.k.provider(name))

    def api_provider(self, prov, **over):
        p = {"name": "plain", "type": "api", "format": "lines",
             "url": prov.url("/list?key=" + self.fleet.secret("k-SECRET-4711")),
             "interval_ms": 200, "timeout_ms": 2000, "connect_timeout_ms": 1000, "ttl_s": 300}
        p.update(over)
        return p

    # -- tests -----------------------------------------------------------------

    def test_static_provider_snapshot(self):
        f = self.fleet
        r = f.start_redis()
        sub = Subscriber(r.port, self.k.pool_events)
        self.addCleanup(sub.close)
        ctl = f.start_controller({"controller": {"providers": [
            {"name": "demo", "type": "static", "allow_private": True,
             "upstreams": ["http://127.0.0.1:3301", "http://user:" + f.secret("pw-static-99") +
                           "@127.0.0.1:3302"]}]}})
        m = self.wait_meta(lambda m: m.get("count") == "2", "pool:meta count 2")
        self.assertRegex(m["epoch"], r"^[0-9a-f]{16}$")
        self.assertGreaterEqual(int(m["version"]), 1)
        self.assertEqual(m["controller_id"], ctl.name)
        self.assertGreater(int(m["updated_at_ms"]), 1.5e12)

        ups = r.hgetall(self.k.pool_upstreams)
        self.assertEqual(len(ups), 2)
        self.assertIn("http://127.0.0.1:3301", ups)
        cred_id = [i for i in ups if i != "http://127.0.0.1:3301"][0]
        self.assertRegex(cred_id, r"^http://127\.0\.0\.1:3302#[0-9a-f]{8}$")
        rec = json.loads(ups[cred_id])
        self.assertEqual((rec["scheme"], rec["host"], rec["port"], rec["user"], rec["provider"]),
                         ("http", "127.0.0.1", 3302, "user", "demo"))
        self.assertEqual(rec["expires_at_ms"], 0)
        rec = json.loads(ups["http://127.0.0.1:3301"])
        self.assertNotIn("user", rec)
        self.assertEqual(r.zrange_withscores(self.k.pool_expiry),
                         {"http://127.0.0.1:3301": 0.0, cred_id: 0.0})

        wait_until(lambda: self.provider_hash("demo").get("state") == "ok", 5, "provider hash")
        ph = self.provider_hash("demo")
        self.assertEqual((ph["breaker"], ph["upstreams"], ph["failures"]), ("closed", "2", "0"))
        self.assertGreater(int(ph["last_success_at_ms"]), 0)
        self.assertEqual(r.cmd("SMEMBERS", self.k.providers), ["demo"])

        wait_until(lambda: r.hgetall(self.k.controller).get("id") == ctl.name, 5, "heartbeat")
        hb = r.hgetall(self.k.controller)
        self.assertEqual(hb["epoch"], m["epoch"])
        pttl = r.cmd("PTTL", self.k.controller)
        self.assertTrue(0 < pttl <= 1500, pttl)

        m = self.meta()
        wait_until(lambda: "%s %s" % (m["version"], m["epoch"]) in sub.messages(), 5,
                   "notice on pool:events")
        self.assertEqual(ctl.metric("pf_controller_pool_size"), 2)

    def test_api_lines_failures_keep_pool(self):
        f = self.fleet
        f.start_redis()
        prov = f.start_fake_provider()
        prov.set("/list", scenario="good_text", upstreams=[PUBLIC_A, "junk", PUBLIC_B])
        # Fatal failures (whitelist, 401) park the provider for fatal_recheck_s
        # and failed polls open the breaker: keep both out of this test's way
        # (test_controller_resilience.py covers them).
        f.start_controller({"controller": {"providers": [self.api_provider(
            prov, fatal_recheck_s=1, breaker_failures=1000, retry_base_ms=50)]}})
        m = self.wait_meta(lambda m: m.get("count") == "2", "api pool of 2")
        ups = f.redis.hgetall(self.k.pool_upstreams)
        self.assertEqual(sorted(ups), ["http://" + PUBLIC_B, "http://" + PUBLIC_A])
        rec = json.loads(ups["http://" + PUBLIC_A])
        self.assertEqual(rec["provider"], "plain")
        now_ms = time.time() * 1000
        self.assertTrue(now_ms + 250e3 < rec["expires_at_ms"] < now_ms + 310e3, rec)
        exp = f.redis.zrange_withscores(self.k.pool_expiry)
        self.assertEqual(exp["http://" + PUBLIC_A], rec["expires_at_ms"])
        version = m["version"]

        bad = [
            (dict(scenario="empty_200"), "empty body"),
            (dict(scenario="html_error"), "HTML body"),
            (dict(body="http://user:pwd@\n"),
             "no valid address in 1 line (first: line 1 (16 bytes): missing host)"),
            (dict(body="203.0.113.10:0\n"), "no valid address in 1 line (first: '203.0.113.10:0')"),
            (dict(body="ERROR(-3): IP not in whitelist\r\n"),
             "no valid address in 1 line (first: 'ERROR(-3): IP not in whitelist')"),
            (dict(scenario="unauthorized_401"), "HTTP 401"),
            (dict(scenario="rate_limited_429"), "HTTP 429"),
        ]
        fatal = ("IP not in whitelist", "HTTP 401")
        for spec, reason in bad:
            with self.subTest(reason=reason):
                before = int(self.provider_hash("plain").get("failures", "0"))
                prov.set("/list", **spec)
                wait_until(lambda: int(self.provider_hash("plain").get("failures", "0")) > before
                           and reason in self.provider_hash("plain").get("last_error", ""),
                           10, "failure '%s' in provider hash" % reason)
                ph = self.provider_hash("plain")
                self.assertEqual(ph["state"],
                                 "failed" if any(x in reason for x in fatal) else "failing")
                self.assertEqual(ph["upstreams"], "2")
                self.assertGreater(int(ph["last_error_at_ms"]), 0)
                self.assertEqual(len(f.redis.hgetall(self.k.pool_upstreams)), 2)
                self.assertEqual(self.meta()["version"], version)

        prov.set("/list", scenario="good_text", upstreams=[PUBLIC_A, PUBLIC_B])
        wait_until(lambda: self.provider_hash("plain").get("state") == "ok", 10, "recovery")
        self.assertEqual(self.meta()["version"], version)
        self.assertNotIn("pwd", self.provider_hash("plain")["last_error"])

    def test_timeout_and_oversize_are_failures(self):
        f = self.fleet
        f.start_redis()
        prov = f.start_fake_provider()
        prov.set("/list", scenario="good_text", upstreams=[PUBLIC_A])
        ctl = f.start_controller({"controller": {"providers": [self.api_provider(
            prov, timeout_ms=500, max_body_bytes=65536)]}})
        m = self.wait_meta(lambda m: m.get("count") == "1", "pool of 1")
        for spec, reason in ((dict(scenario="hang", seconds=5), "Timeout was reached after"),
                             (dict(scenario="oversize", mib=1), "body over 65536 bytes")):
            with self.subTest(reason=reason):
                prov.set("/list", **spec)
                wait_until(lambda: reason in self.provider_hash("plain").get("last_error", ""),
                           10, "failure '%s'" % reason)
                self.assertEqual(self.meta()["version"], m["version"])
                self.assertEqual(len(f.redis.hgetall(self.k.pool_upstreams)), 1)
        # The API key in the query never reaches the log (the harness also
        # scans for registered secrets): URLs are logged as their origin
        # only, since a path may carry a key too.
        self.assertIn("GET http://127.0.0.1:%d (attempt" % prov.port, ctl.log_text())
        self.assertNotIn("/list", ctl.log_text())

    def test_unchanged_pool_keeps_version(self):
        f = self.fleet
        f.start_redis()
        prov = f.start_fake_provider()
        prov.set("/list", scenario="good_text", upstreams=[PUBLIC_A, PUBLIC_B])
        ctl = f.start_controller({"controller": {"providers": [self.api_provider(prov)]}})
        m = self.wait_meta(lambda m: m.get("count") == "2", "api pool of 2")
        hits = prov.hits("/list")
        wait_until(lambda: prov.hits("/list") >= hits + 5, 10, "5 more polls")
        time.sleep(0.3)
        self.assertEqual(self.meta()["version"], m["version"])
        self.assertEqual(self.meta()["epoch"], m["epoch"])
        # A changed list is a new version.
        prov.set("/list", scenario="good_text", upstreams=[PUBLIC_A])
        self.wait_meta(lambda x: x.get("count") == "1", "pool of 1")
        self.assertEqual(int(self.meta()["version"]), int(m["version"]) + 1)
        self.assertGreaterEqual(ctl.metric("pf_controller_polls_total"), 6)

    def test_redis_restart_republishes_new_epoch(self):
        f = self.fleet
        r = f.start_redis()
        prov = f.start_fake_provider()
        prov.set("/list", scenario="good_text", upstreams=[PUBLIC_A, PUBLIC_B])
        ctl = f.start_controller({"controller": {"providers": [self.api_provider(prov)]}})
        m = self.wait_meta(lambda m: m.get("count") == "2", "api pool of 2")
        r.stop()
        hits = prov.hits("/list")
        wait_until(lambda: prov.hits("/list") >= hits + 3, 10, "polling while Redis is down")
        self.assertTrue(ctl.running())
        r.start()
        m2 = self.wait_meta(lambda x: x.get("count") == "2", "republished snapshot", timeout=20)
        self.assertNotEqual(m2["epoch"], m["epoch"])
        self.assertEqual(len(r.hgetall(self.k.pool_upstreams)), 2)
        wait_until(lambda: self.provider_hash("plain").get("state") == "ok", 10, "provider hash")
        wait_until(lambda: r.hgetall(self.k.controller).get("epoch") == m2["epoch"], 10,
                   "heartbeat with the new epoch")

    def test_check_config(self):
        f = self.fleet
        good = f.controller_config({"controller": {"providers": [
            {"name": "demo", "type": "static", "allow_private": True,
             "upstreams": ["127.0.0.1:3301"]}]}})
        rc, out = f.run_binary("controller", good, args=["--check-config"])
        self.assertEqual(rc, 0, out)
        bad = f.controller_config({"controller": {"providers": [
            {"name": "demo", "type": "static", "upstreams": ["http://user:pwd@"]}]}})
        rc, out = f.run_binary("controller", bad, args=["--check-config"])
        self.assertEqual(rc, 2, out)
        self.assertRegex(out, r"config: \S+\.json: controller\.providers\[0\]\.upstreams\[0\]: ")
        private = f.controller_config({"controller": {"providers": [
            {"name": "demo", "type": "static", "upstreams": ["127.0.0.1:3301"]}]}})
        rc, out = f.run_binary("controller", private, args=["--check-config"])
        self.assertEqual(rc, 2, out)
        self.assertIn("not allowed", out)
        rc, out = f.run_binary("controller", raw_config="{", args=["--check-config"])
        self.assertEqual(rc, 2, out)
        self.assertTrue(out.startswith("config: "), out)


if __name__ == "__main__":
    unittest.main()
