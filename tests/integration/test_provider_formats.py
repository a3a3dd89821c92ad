"""Provider formats end to end: real redis-server and controller, the fake
provider serving literal bodies. Checks the pool in Redis (expiry scores
from the provider's own expiry) and the provider hash reason of errors.
See docs/providers.md."""

import calendar
import json
import os
import time
import unittest

from pf_harness import Fleet, wait_until

PUBLIC_A = "203.0.113.10"
PUBLIC_B = "198.51.100.7"


class TestProviderFormats(unittest.TestCase):
    def setUp(self):
        self.fleet = Fleet(self)
        self.k = self.fleet.keys

    def ph(self, name):
        return self.fleet.redis.hgetall(self.k.provider(name))

    def provider(self, prov, **over):
        p = {"name": "j", "type": "api", "url": prov.url("/api"), "interval_ms": 200,
             "timeout_ms": 2000, "connect_timeout_ms": 1000, "ttl_s": 300,
             # keep the breaker and fatal parking out of the way: resilience has its own tests
             "fatal_recheck_s": 1, "breaker_failures": 1000, "retry_base_ms": 50}
        p.update(over)
        return p

    def wait_pool(self, ids, what):
        return wait_until(lambda: (lambda e: e if sorted(e) == sorted(ids) else None)(
            self.fleet.redis.zrange_withscores(self.k.pool_expiry)), 10, what)

    def test_json_code_data_expiry_and_errors(self):
        f = self.fleet
        f.start_redis()
        prov = f.start_fake_provider()
        # Provider local time is UTC+8: its "expire_time" is 8 h ahead of UTC.
        exp_utc = int(time.time()) + 3600
        local = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(exp_utc + 8 * 3600))
        body = {"code": 0, "msg": "ok", "data": [
            {"ip": PUBLIC_A, "port": 8080, "expire_time": local},
            {"ip": PUBLIC_B, "port": "3128", "expire_time": local}]}
        prov.set("/api", body=json.dumps(body), headers={"Content-Type": "application/json"})
        f.start_controller({"controller": {"providers": [self.provider(
            prov, format="json",
            json={"list": "data", "host": "ip", "port": "port", "expire": "expire_time",
                  "expire_kind": "timestamp", "expire_tz_offset_min": 480,
                  "success": {"field": "code", "equals": [0, "0"]}},
            errors={"codes": {"10001": "fatal", "10002": "transient"},
                    "message_field": "msg"})]}})
        exp = self.wait_pool(["http://%s:8080" % PUBLIC_A, "http://%s:3128" % PUBLIC_B],
                             "json pool")
        self.assertEqual(set(exp.values()), {exp_utc * 1000.0})

        cases = [
            (dict(body='{"code":10001,"msg":"IP not whitelisted","data":[]}'),
             "provider error code 10001: IP not whitelisted", "failed"),
            (dict(body='{"code":"10002","msg":"no stock","data":""}'),
             "provider error code 10002: no stock", "failing"),
            (dict(body='{"code":0,"data":{}}'), "no list at 'data' (object)", "failing"),
            (dict(scenario="truncated_json"), "invalid or truncated JSON", "failing"),
            (dict(scenario="unauthorized_401"), "HTTP 401", "failed"),
        ]
        for spec, reason, state in cases:
            with self.subTest(reason=reason):
                prov.set("/api", **spec)
                wait_until(lambda: reason in self.ph("j").get("last_error", ""), 10,
                           "reason '%s'" % reason)
                self.assertEqual(self.ph("j")["state"], state)
                self.assertEqual(len(f.redis.zrange_withscores(self.k.pool_expiry)), 2)

    def test_json_creds_post_header_auth(self):
        f = self.fleet
        f.start_redis()
        prov = f.start_fake_provider()
        key = f.secret("k-HDR-SECRET-5150")
        pw = f.secret("pw-up/str@am-77")
        body = {"success": True, "result": {"proxies": [
            {"host": PUBLIC_A, "port": 1080, "username": "u1", "password": pw,
             "protocol": "socks5", "ttl": 600},
            "%s:8000" % PUBLIC_B]}}
        prov.set("/api", body=json.dumps(body))
        f.start_controller({"controller": {"providers": [self.provider(
            prov, format="json", method="POST", body='{"count":10}',
            content_type="application/json",
            auth={"type": "header", "name": "X-Api-Key", "value": key},
            json={"list": "result.proxies", "host": "host", "port": "port", "user": "username",
                  "pass": "password", "scheme": "protocol", "expire": "ttl",
                  "expire_kind": "lifetime_s",
                  "success": {"field": "success", "equals": [True]}})]}})
        t0 = time.time() * 1000
        exp = wait_until(lambda: (lambda e: e if len(e) == 2 else None)(
            f.redis.zrange_withscores(self.k.pool_expiry)), 10, "creds pool")
        socks = [i for i in exp if i.startswith("socks5://")][0]
        self.assertTrue(t0 + 590e3 < exp[socks] < t0 + 610e3, exp)
        rec = json.loads(f.redis.hgetall(self.k.pool_upstreams)[socks])
        self.assertEqual((rec["user"], rec["port"]), ("u1", 1080))
        req = prov.requests("/api")[0]
        self.assertEqual(req["method"], "POST")
        hdrs = {k.lower(): v for k, v in req["headers"]}
        self.assertEqual(hdrs["x-api-key"], key)
        self.assertEqual(hdrs["content-type"], "application/json")

        prov.set("/api", body='{"success":false,"message":"Insufficient balance"}')
        wait_until(lambda: "Insufficient balance" in self.ph("j").get("last_error", ""), 10,
                   "balance error")
        self.assertEqual(self.ph("j")["state"], "failed")

    def test_lines_text_errors_and_basic_auth(self):
        f = self.fleet
        f.start_redis()
        prov = f.start_fake_provider()
        prov.set("/api", body="%s:8080|%s:3128\n" % (PUBLIC_A, PUBLIC_B))
        f.start_controller({"controller": {"providers": [self.provider(
            prov, format="lines", separator="|",
            auth={"type": "basic", "user": "acct", "pass": f.secret("basic-PW-2468")})]}})
        self.wait_pool(["http://%s:8080" % PUBLIC_A, "http://%s:3128" % PUBLIC_B], "lines pool")
        hdrs = {k.lower(): v for k, v in prov.requests("/api")[0]["headers"]}
        self.assertTrue(hdrs["authorization"].startswith("Basic "))
        for body, reason, state in (
                ("ERROR(-3): please add 192.0.2.1 to the white list\r\n", "white list", "failed"),
                ('{"code":10001,"msg":"IP not whitelisted"}',
                 "provider error code 10001: IP not whitelisted", "failed"),
                ("server busy\n", "first: 'server busy'", "failing")):
            with self.subTest(reason=reason):
                prov.set("/api", body=body)
                wait_until(lambda: reason in self.ph("j").get("last_error", ""), 10, reason)
                self.assertEqual(self.ph("j")["state"], state)

    def test_file_provider_rereads_on_change(self):
        f = self.fleet
        f.start_redis()
        path = os.path.join(f.tmp, "proxies.txt")
        with open(path, "w") as fh:
            fh.write("%s:8080\n" % PUBLIC_A)
        f.start_controller({"controller": {"providers": [
            {"name": "file", "type": "file", "path": path, "format": "lines",
             "interval_ms": 100, "ttl_s": 300}]}})
        self.wait_pool(["http://%s:8080" % PUBLIC_A], "file pool")
        with open(path, "w") as fh:
            fh.write("%s:8080\n%s:3128\n" % (PUBLIC_A, PUBLIC_B))
        self.wait_pool(["http://%s:8080" % PUBLIC_A, "http://%s:3128" % PUBLIC_B],
                       "file pool after rewrite")
        os.unlink(path)
        wait_until(lambda: "cannot stat file" in self.ph("file").get("last_error", ""), 10,
                   "missing file reason")
        self.assertEqual(len(f.redis.zrange_withscores(self.k.pool_expiry)), 2)


if __name__ == "__main__":
    unittest.main()


class TestRejectSummary(unittest.TestCase):
    """Rejected entries are visible: one summary line for a poll that
    rejected some, with counts by reason and at most three examples as
    host:port (or position and size), at most once a minute however often
    the provider is polled; nothing of an entry's credentials in it."""

    def test_rejects_summarised_once_a_minute(self):
        f = Fleet(self)
        f.start_redis()
        prov = f.start_fake_provider()
        pw = f.secret("rej-PASS-6a1f90")
        body = ("203.0.113.10:8080\n127.0.0.1:3128\n10.0.0.1:80:u:%s\n203.0.113.11:0\n"
                "203.0.113.12:80:u:%s:x\n169.254.169.254:80\n" % (pw, pw))
        prov.set("/api", body=body)
        ctl = f.start_controller({"controller": {"providers": [
            {"name": "rj", "type": "api", "format": "lines", "url": prov.url("/api"),
             "interval_ms": 150, "ttl_s": 300}]}})
        wait_until(lambda: "entries rejected" in ctl.log_text(), 10, "a reject summary")
        polls0 = int(f.redis.hgetall(f.keys.provider("rj"))["polls"])
        wait_until(lambda: int(f.redis.hgetall(f.keys.provider("rj"))["polls"]) >= polls0 + 8, 10,
                   "eight more polls")
        lines = [l for l in ctl.log_text().splitlines() if "entries rejected" in l]
        self.assertEqual(len(lines), 1, lines)
        line = lines[0]
        self.assertIn("provider rj: 5 of 6 entries rejected (host 1, port 1, denied 3), e.g. "
                      "127.0.0.1:3128, 10.0.0.1:80, line 4 (14 bytes)", line)
        self.assertNotIn(pw, line)
        m = ctl.metrics()
        self.assertGreaterEqual(m['pf_controller_rejected_addresses_total{provider="rj",reason="denied"}'],
                                3 * 8)
        # the count of upstreams did not change: no "N upstreams" line after the first
        self.assertEqual(sum(l.endswith("provider rj: 1 upstreams")
                             for l in ctl.log_text().splitlines()), 1)
