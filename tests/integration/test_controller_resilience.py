"""Controller resilience against real-world provider APIs: retries with
backoff and full jitter, fatal failures that are never retried, Retry-After,
the per-provider circuit breaker, failover across providers and SIGHUP
reloads. Real redis-server, real proxyfleet-controller, fake provider API
(tests/fake_provider.py). Intervals are short so the suite stays fast."""

import json
import os
import signal
import time
import unittest

from pf_harness import Fleet, wait_until

PUBLIC_A = "203.0.113.10:8080"
PUBLIC_B = "198.51.100.7:3128"
PUBLIC_C = "192.0.2.44:8000"


def poll_groups(reqs, gap_s):
    """Splits request records (sorted by ts) into polls: a pause longer than
    <gap_s> starts a new poll. Returns lists of timestamps."""
    groups = []
    for r in reqs:
        if groups and r["ts"] - groups[-1][-1] <= gap_s:
            groups[-1].append(r["ts"])
        else:
            groups.append([r["ts"]])
    return groups


class ResilienceBase(unittest.TestCase):
    def setUp(self):
        self.fleet = Fleet(self)
        self.k = self.fleet.keys

    def meta(self):
        return self.fleet.redis.hgetall(self.k.pool_meta)

    def wait_meta(self, pred, what, timeout=10):
        return wait_until(lambda: (lambda m: m if m and pred(m) else None)(self.meta()),
                          timeout, what)

    def ph(self, name="plain"):
        return self.fleet.redis.hgetall(self.k.provider(name))

    def api(self, prov, path="/list", **over):
        p = {"name": "plain", "type": "api", "format": "lines",
             "url": prov.url(path + "?key=" + self.fleet.secret("k-RES-SECRET-77")),
             "interval_ms": 2000, "timeout_ms": 2000, "connect_timeout_ms": 1000,
             "ttl_s": 300, "retry_base_ms": 200, "retry_cap_ms": 1000, "retry_attempts": 3,
             "breaker_failures": 100}
        p.update(over)
        return p

    def start_good(self, prov, providers, upstreams=(PUBLIC_A, PUBLIC_B), count=2, **ctl):
        prov.set("/list", scenario="good_text", upstreams=list(upstreams))
        c = {"providers": providers}
        c.update(ctl)
        ctl_proc = self.fleet.start_controller({"controller": c})
        m = self.wait_meta(lambda m: m.get("count") == str(count), "pool of %d" % count)
        return ctl_proc, m


class TestRetries(ResilienceBase):
    def test_transient_failures_are_retried_with_backoff(self):
        f = self.fleet
        f.start_redis()
        prov = f.start_fake_provider()
        cfg = self.api(prov, timeout_ms=400, max_body_bytes=65536)
        ctl, m = self.start_good(prov, [cfg])
        version, epoch = m["version"], m["epoch"]
        cases = [
            (dict(scenario="empty_200"), "empty body"),
            (dict(scenario="html_error"), "HTML body"),
            (dict(scenario="server_error_500"), "HTTP 500"),
            (dict(scenario="hang", seconds=3), "Timeout was reached after"),
            (dict(scenario="oversize", mib=1), "body over 65536 bytes"),
        ]
        for spec, reason in cases:
            with self.subTest(reason=reason):
                # Start from a good state so the next poll is a fresh one.
                prov.set("/list", scenario="good_text", upstreams=[PUBLIC_A, PUBLIC_B])
                wait_until(lambda: self.ph().get("state") == "ok", 10, "good state")
                before = int(self.ph()["failures"])
                retries = ctl.metric("pf_controller_retries_total")
                t0 = time.time()
                prov.set("/list", **spec)
                wait_until(lambda: int(self.ph().get("failures", "0")) > before, 15,
                           "failed poll '%s'" % reason)
                ph = self.ph()
                self.assertIn(reason, ph["last_error"])
                self.assertEqual((ph["state"], ph["breaker"], ph["last_error_class"]),
                                 ("failing", "closed", "transient"))
                self.assertEqual(ph["upstreams"], "2")
                self.assertGreaterEqual(int(ph["consecutive_failures"]), 1)
                # retry_attempts attempts in that poll, gaps within the
                # full-jitter ceilings base*2^i (+ request time and slack).
                reqs = [r for r in prov.requests("/list") if r["ts"] > t0]
                groups = poll_groups(reqs, 1.5)
                self.assertGreaterEqual(len(groups), 1)
                g = groups[0]
                self.assertEqual(len(g), 3, "attempts of the first failed poll: %r" % g)
                for i, (a, b) in enumerate(zip(g, g[1:])):
                    self.assertLessEqual(b - a, 0.2 * 2 ** i + 0.4 + 0.3, "gap %d" % i)
                self.assertGreaterEqual(ctl.metric("pf_controller_retries_total"), retries + 2)
                self.assertEqual(len(f.redis.hgetall(self.k.pool_upstreams)), 2)
                self.assertEqual((self.meta()["version"], self.meta()["epoch"]), (version, epoch))
        self.assertGreaterEqual(ctl.metrics().get(
            'pf_controller_attempt_failures_total{provider="plain",class="transient"}', 0), 15)

    def test_truncated_json_is_transient(self):
        f = self.fleet
        f.start_redis()
        prov = f.start_fake_provider()
        prov.set("/j", scenario="good_json", upstreams=[PUBLIC_A])
        cfg = self.api(prov, path="/j", format="json")
        f.start_controller({"controller": {"providers": [cfg]}})
        m = self.wait_meta(lambda m: m.get("count") == "1", "json pool of 1")
        t0 = time.time()
        prov.set("/j", scenario="truncated_json")
        wait_until(lambda: self.ph().get("state") == "failing", 15, "truncated json failure")
        ph = self.ph()
        self.assertEqual((ph["breaker"], ph["last_error_class"], ph["upstreams"]),
                         ("closed", "transient", "1"))
        g = poll_groups([r for r in prov.requests("/j") if r["ts"] > t0], 1.5)[0]
        self.assertEqual(len(g), 3)
        self.assertEqual(self.meta()["version"], m["version"])

    def test_rate_limited_honours_retry_after(self):
        f = self.fleet
        f.start_redis()
        prov = f.start_fake_provider()
        cfg = self.api(prov, interval_ms=300, retry_attempts=2, retry_base_ms=50)
        ctl, m = self.start_good(prov, [cfg])
        t0 = time.time()
        prov.set("/list", scenario="rate_limited_429", retry_after=1)
        wait_until(lambda: len([r for r in prov.requests("/list") if r["ts"] > t0]) >= 4, 15,
                   "two polls of 429s")
        ts = [r["ts"] for r in prov.requests("/list") if r["ts"] > t0][:4]
        # Every next attempt (retry or next poll) waits the Retry-After of 1 s,
        # although retry_base_ms is 50 and the interval 300 ms.
        for a, b in zip(ts, ts[1:]):
            self.assertGreaterEqual(b - a, 0.95, ts)
        ph = self.ph()
        self.assertIn("HTTP 429", ph["last_error"])
        self.assertEqual((ph["state"], ph["last_error_class"], ph["upstreams"]),
                         ("failing", "transient", "2"))
        self.assertEqual(self.meta()["version"], m["version"])

    def test_rate_limited_retry_after_is_capped(self):
        f = self.fleet
        f.start_redis()
        prov = f.start_fake_provider()
        cfg = self.api(prov, interval_ms=300, retry_attempts=2, retry_base_ms=50, retry_cap_ms=400)
        self.start_good(prov, [cfg])
        t0 = time.time()
        prov.set("/list", scenario="rate_limited_429", retry_after=30)
        wait_until(lambda: len([r for r in prov.requests("/list") if r["ts"] > t0]) >= 3, 10,
                   "429s retried after the cap, not after 30 s")


class TestFatal(ResilienceBase):
    def test_fatal_failures_are_not_retried(self):
        f = self.fleet
        f.start_redis()
        prov = f.start_fake_provider()
        cfg = self.api(prov, interval_ms=300, fatal_recheck_s=2)
        ctl, m = self.start_good(prov, [cfg])
        cases = [
            (dict(scenario="unauthorized_401"), "HTTP 401"),
            (dict(status=403, body="IP not allowed\n"), "HTTP 403"),
            (dict(scenario="json_error_code"), "whitelist"),
        ]
        for spec, reason in cases:
            with self.subTest(reason=reason):
                prov.set("/list", scenario="good_text", upstreams=[PUBLIC_A, PUBLIC_B])
                wait_until(lambda: self.ph().get("state") == "ok", 10, "good state")
                errors_before = ctl.log_text().count(" ERROR ")
                t0 = time.time()
                prov.set("/list", **spec)
                wait_until(lambda: self.ph().get("state") == "failed", 10, "state failed")
                ph = self.ph()
                self.assertIn(reason, ph["last_error"])
                self.assertEqual((ph["last_error_class"], ph["upstreams"]), ("fatal", "2"))
                self.assertGreater(int(ph["next_poll_at_ms"]), time.time() * 1000 + 1000)
                self.assertEqual(ctl.metric("pf_controller_provider_failed"), 1)
                # Parked: exactly one hit, no retry, no poll at the 300 ms interval.
                time.sleep(1.2)
                self.assertEqual(len([r for r in prov.requests("/list") if r["ts"] > t0]), 1)
                self.assertEqual(ctl.log_text().count(" ERROR ") - errors_before, 1)
                # After fatal_recheck_s one more check, again a single hit.
                wait_until(lambda: len([r for r in prov.requests("/list") if r["ts"] > t0]) >= 2,
                           5, "re-check after fatal_recheck_s")
                time.sleep(0.8)
                self.assertEqual(len([r for r in prov.requests("/list") if r["ts"] > t0]), 2)
                self.assertEqual(len(f.redis.hgetall(self.k.pool_upstreams)), 2)
                self.assertEqual(self.meta()["version"], m["version"])
        self.assertGreaterEqual(ctl.metrics().get(
            'pf_controller_attempt_failures_total{provider="plain",class="fatal"}', 0), 6)

    def test_sighup_rechecks_a_failed_provider(self):
        f = self.fleet
        f.start_redis()
        prov = f.start_fake_provider()
        ctl, m = self.start_good(prov, [self.api(prov, interval_ms=300)])
        prov.set("/list", scenario="unauthorized_401")
        wait_until(lambda: self.ph().get("state") == "failed", 10, "state failed")
        prov.set("/list", scenario="good_text", upstreams=[PUBLIC_A, PUBLIC_B])
        time.sleep(0.8)
        self.assertEqual(self.ph()["state"], "failed")   # parked for an hour
        ctl.signal(signal.SIGHUP)
        wait_until(lambda: self.ph().get("state") == "ok", 5, "re-checked after SIGHUP")
        self.assertEqual(self.meta()["version"], m["version"])
        self.assertEqual(ctl.metric("pf_controller_reloads_total"), 1)


class TestBreaker(ResilienceBase):
    def test_breaker_opens_half_opens_with_one_probe_and_closes(self):
        f = self.fleet
        f.start_redis()
        prov = f.start_fake_provider()
        cfg = self.api(prov, interval_ms=200, retry_attempts=1, breaker_failures=3,
                       breaker_open_ms=1500, breaker_open_max_ms=2500)
        ctl, m = self.start_good(prov, [cfg])
        t0 = time.time()
        prov.set("/list", scenario="server_error_500")
        wait_until(lambda: self.ph().get("breaker") == "open", 10, "breaker open")
        t_open = time.time()
        ph = self.ph()
        self.assertEqual((ph["breaker_opens"], ph["consecutive_failures"], ph["state"]),
                         ("1", "3", "failing"))
        until = int(ph["breaker_until_ms"])
        self.assertTrue(t_open * 1000 + 800 < until <= t_open * 1000 + 1600, (until, t_open))
        self.assertEqual(int(ph["next_poll_at_ms"]), until)
        self.assertEqual(ctl.metrics()['pf_controller_breaker_state{provider="plain"}'], 1)
        self.assertEqual(len([r for r in prov.requests("/list") if r["ts"] > t0]), 3)
        # Open: no request until the open time ends, then exactly one probe,
        # which fails and re-opens for longer (1500 -> 2500, the cap).
        wait_until(lambda: self.ph().get("breaker_opens") == "2", 5, "probe re-opened the breaker")
        reqs = [r["ts"] for r in prov.requests("/list") if r["ts"] > t0]
        self.assertEqual(len(reqs), 4, reqs)
        self.assertGreaterEqual(reqs[3] - reqs[2], 1.4)
        ph = self.ph()
        self.assertEqual(ph["breaker"], "open")
        self.assertGreater(int(ph["breaker_until_ms"]) - time.time() * 1000, 1800)
        # The pool survived the whole time.
        self.assertEqual(self.meta()["version"], m["version"])
        self.assertEqual(len(f.redis.hgetall(self.k.pool_upstreams)), 2)
        # The next probe succeeds: closed, polls resume at the interval.
        prov.set("/list", scenario="good_text", upstreams=[PUBLIC_A, PUBLIC_B])
        wait_until(lambda: self.ph().get("breaker") == "closed", 5, "breaker closed")
        ph = self.ph()
        self.assertEqual((ph["state"], ph["consecutive_failures"]), ("ok", "0"))
        n = prov.hits("/list")
        wait_until(lambda: prov.hits("/list") >= n + 3, 3, "polls at the interval again")
        self.assertEqual(self.meta()["version"], m["version"])

    def test_half_open_probe_is_a_single_attempt(self):
        f = self.fleet
        f.start_redis()
        prov = f.start_fake_provider()
        cfg = self.api(prov, interval_ms=200, retry_attempts=3, retry_base_ms=20, breaker_failures=1,
                       breaker_open_ms=1000, breaker_open_max_ms=1000)
        self.start_good(prov, [cfg])
        t0 = time.time()
        prov.set("/list", scenario="server_error_500")
        wait_until(lambda: self.ph().get("breaker_opens") == "2", 10, "probe failed")
        groups = poll_groups([r for r in prov.requests("/list") if r["ts"] > t0], 0.5)
        self.assertEqual([len(g) for g in groups[:2]], [3, 1], groups)


class TestFailover(ResilienceBase):
    def test_other_provider_keeps_the_pool(self):
        f = self.fleet
        f.start_redis()
        prov = f.start_fake_provider()
        prov.set("/b", scenario="good_text", upstreams=[PUBLIC_C])
        a = self.api(prov, interval_ms=200, ttl_s=3, retry_attempts=1, breaker_failures=2,
                     breaker_open_ms=5000, priority=10)
        b = dict(self.api(prov, path="/b", interval_ms=200), name="backup")
        ctl, m = self.start_good(prov, [a, b], count=3)
        prov.set("/list", scenario="server_error_500")
        wait_until(lambda: self.ph().get("breaker") == "open", 10, "breaker of plain open")
        # Its unexpired upstreams stay while the breaker is open...
        self.assertEqual(self.meta()["count"], "3")
        self.assertEqual(self.meta()["version"], m["version"])
        # ...until their lifetime (ttl_s 3) ends; the backup keeps the pool up.
        m2 = self.wait_meta(lambda x: x.get("count") == "1", "pool of the backup only", 10)
        self.assertEqual(list(f.redis.hgetall(self.k.pool_upstreams)), ["http://" + PUBLIC_C])
        self.assertEqual(int(m2["version"]), int(m["version"]) + 1)
        self.assertEqual(self.ph("backup")["state"], "ok")
        wait_until(lambda: self.ph().get("upstreams") == "0", 3, "expired upstreams in the hash")
        st = json.loads(ctl.admin("/status")[1])
        by = {p["name"]: p for p in st["providers"]}
        self.assertEqual((by["plain"]["breaker"], by["backup"]["breaker"]), ("open", "closed"))
        self.assertIn("HTTP 500", by["plain"]["last_error"])

    def test_pool_never_emptied_by_failures(self):
        f = self.fleet
        f.start_redis()
        prov = f.start_fake_provider()
        ctl, m = self.start_good(prov, [self.api(prov, interval_ms=200, retry_attempts=1,
                                                 breaker_failures=2, breaker_open_ms=300)])
        prov.set("/list", scenario="server_error_500")
        wait_until(lambda: int(self.ph().get("breaker_opens", "0")) >= 2, 10, "two opens")
        self.assertEqual(self.meta()["count"], "2")
        self.assertEqual(self.meta()["version"], m["version"])


class TestReload(ResilienceBase):
    def test_sighup_reload_good_and_bad(self):
        f = self.fleet
        f.start_redis()
        prov = f.start_fake_provider()
        prov.set("/b", scenario="good_text", upstreams=[PUBLIC_C])
        ctl, m = self.start_good(prov, [self.api(prov, interval_ms=300)])
        cfg = ctl.config
        # A bad file: one error line, the old config keeps running.
        with open(ctl.config_path, "w") as fh:
            fh.write('{"controller": {"providers": [{"name": "x"}]}')
        ctl.signal(signal.SIGHUP)
        wait_until(lambda: "reload:" in ctl.log_text() and "keeping the old config" in
                   ctl.log_text(), 5, "reload error logged")
        self.assertEqual(ctl.metric("pf_controller_reload_errors_total"), 1)
        self.assertTrue(ctl.running())
        # A good file adds a provider.
        cfg["controller"]["providers"].append(dict(self.api(prov, path="/b", interval_ms=300),
                                                   name="backup"))
        with open(ctl.config_path, "w") as fh:
            json.dump(cfg, fh)
        ctl.signal(signal.SIGHUP)
        self.wait_meta(lambda x: x.get("count") == "3", "pool with the new provider")
        self.assertEqual(ctl.metric("pf_controller_reloads_total"), 1)
        self.assertIn("backup", f.redis.cmd("SMEMBERS", self.k.providers))

    def test_check_config_rejects_bad_retry_settings(self):
        f = self.fleet
        for over, msg in (({"retry_cap_ms": 10, "retry_base_ms": 100}, "retry_cap_ms"),
                          ({"breaker_open_max_ms": 10}, "breaker_open_max_ms"),
                          ({"retry_attempts": 0}, "retry_attempts")):
            with self.subTest(msg=msg):
                p = {"name": "p", "type": "api", "url": "http://127.0.0.1:1/x"}
                p.update(over)
                cfg = f.controller_config({"controller": {"providers": [p]}})
                rc, out = f.run_binary("controller", cfg, args=["--check-config"])
                self.assertEqual(rc, 2, out)
                self.assertIn("controller.providers[0]." + msg, out)
        cfg = f.controller_config({"controller": {"lease_ms": 10}})
        rc, out = f.run_binary("controller", cfg, args=["--check-config"])
        self.assertEqual(rc, 2, out)
        self.assertIn("controller.lease_ms", out)


if __name__ == "__main__":
    unittest.main()
