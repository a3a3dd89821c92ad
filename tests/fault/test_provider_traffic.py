"""The full provider failure matrix, run while client traffic flows through
the nodes: no client error is caused by a provider fault while the pool
still has healthy upstreams.

World: real redis-server, one real controller, two pool nodes, four real
upstream proxies (direct-mode nodes) and an origin. Three providers:

  * "a": api, json format, served by tests/fake_provider.py (path /a),
    lists upstreams a1 a2 with a per-entry expire_time; every fault of the
    matrix is injected here;
  * "b": file provider (lines) listing b1 b2, always healthy;
  * "c": api, lines format, allow_private false (path /c): the strict one,
    used for the private / loopback / malformed lines case (the fleet's own
    upstreams are on loopback, so "a" and "b" must allow private addresses).

A client loop per node (fault_util.Traffic, one GET every 50 ms) runs the
whole time. For each fault of "a" the test asserts:

  * the provider hash reacts as docs/providers.md and docs/configuration.md
    say: transient answers (empty 200, HTML, 5xx, 429/503, timeout, reset,
    slow body, no valid entry) give state "failing", class "transient" and
    exactly retry_attempts hits in the failed poll, spaced by the jittered
    backoff (or by Retry-After for 429/503); fatal answers (whitelist code,
    balance, invalid key, 401, 403) give state "failed", class "fatal",
    ONE hit, no retry, no poll while parked, one re-check after
    fatal_recheck_s; repeated transient polls open the breaker (no hit
    while open, one half-open probe, closed again on success);
  * "a" keeps its last-known-good upstreams (hash field upstreams = 2) and
    the pool in Redis is exactly the last good one: same ids, same version
    and epoch, count = HLEN pool:upstreams = ZCARD pool:expiry, both nodes
    report that version;
  * the client loops saw zero failures.

Then failover: "a"'s last good answer has a 3 s lifetime and it fails
fatally (401): its upstreams expire and the pool holds exactly "b"'s; then
"a" recovers. Every pool notice of the whole run has a strictly increasing
version under one epoch, and the last one is what pool:meta says.

Prints one FIGURES line (docs/reliability.md quotes it)."""

import json
import os
import time
import unittest

from fault_util import FaultTestCase, REDIS_TIMEOUT_MS, Subscriber, Traffic, pool_node_config
from pf_harness import wait_until

# Provider "a": short intervals keep the matrix quick; every bound below
# derives from these.
INTERVAL_MS = 400
TIMEOUT_MS = 1000             # whole provider request (curl timeout)
RETRY_ATTEMPTS = 3
RETRY_BASE_MS = 100
RETRY_CAP_MS = 1500           # above the 1 s Retry-After used, so it is honoured as is
BREAKER_FAILURES = 3
BREAKER_OPEN_MS = 1500
FATAL_RECHECK_S = 2
# Scheduling slack for the gaps between attempts: a loaded 2-core machine
# running ASan binaries and other tests (ctest -j2).
SLACK_S = 0.6
TRAFFIC_INTERVAL_S = 0.05

JSON_FIELDS = {"list": "data", "host": "ip", "port": "port", "expire": "expire_time",
               "expire_kind": "timestamp", "expire_tz_offset_min": 0,
               "success": {"field": "code", "equals": [0, "0"]}}

# (label, fake provider spec, reason substring in last_error)
TRANSIENT = [
    ("200 empty body", dict(scenario="empty_200"), "empty body"),
    ("200 HTML error page", dict(scenario="html_error"), "HTML body"),
    ("500", dict(scenario="server_error_500"), "HTTP 500"),
    ("503", dict(status=503, body="service unavailable\n"), "HTTP 503"),
    ("timeout (hang)", dict(scenario="hang", seconds=3), "Timeout was reached after"),
    ("connection reset", dict(scenario="reset"), ""),
    ("reset mid-body", dict(scenario="reset", partial=True), ""),
    ("slow body past timeout_ms", dict(scenario="slow_body", json=True, bytes_per_s=20),
     "Timeout was reached after"),
    ("truncated JSON", dict(scenario="truncated_json"), "invalid or truncated JSON"),
    ("no valid entry", dict(body=json.dumps({"code": 0, "data": [
        {"ip": "not an ip", "port": 80}, {"ip": "203.0.113.7", "port": 70000},
        {"ip": "", "port": ""}]})), "no valid address in 3 entries"),
    ("JSON code transient (no stock)",
     dict(body='{"code":"10002","msg":"no stock","data":""}'), "no stock"),
]

def expire_str(t):
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(t))


RETRY_AFTER = [
    ("429 Retry-After 1", dict(scenario="rate_limited_429", retry_after=1), "HTTP 429"),
    ("503 Retry-After 1", dict(status=503, body="busy\n", headers={"Retry-After": "1"}),
     "HTTP 503"),
]
FATAL = [
    ("JSON code whitelist", dict(scenario="json_error_code"), "IP not whitelisted"),
    ("JSON balance exhausted", dict(body='{"code":5,"msg":"balance exhausted","data":[]}'),
     "balance exhausted"),
    ("JSON invalid key", dict(body='{"code":40001,"msg":"invalid key","data":[]}'),
     "invalid key"),
    ("401", dict(scenario="unauthorized_401"), "HTTP 401"),
    ("403", dict(status=403, body="Forbidden: IP not allowed\n"), "HTTP 403"),
]


class TestProviderTraffic(FaultTestCase):
    # -- helpers ---------------------------------------------------------------

    def ph(self, name="a"):
        return self.redis.hgetall(self.k.provider(name))

    def meta(self):
        return self.redis.hgetall(self.k.pool_meta)

    def pool_ids(self):
        return set(self.redis.hgetall(self.k.pool_upstreams))

    def ids(self, ups):
        return {"http://127.0.0.1:%d" % u.port for u in ups}

    def good_a(self, ttl_s=None):
        """a's good answer. Its expire_time is fixed (self.a_expire) unless
        <ttl_s> asks for a new one, so polls do not move the pool records
        (a rolling expire_time republishes the pool at every poll: see
        docs/reliability.md)."""
        exp = self.a_expire if ttl_s is None else expire_str(time.time() + ttl_s)
        self.prov.set("/a", scenario="good_json", expire_time=exp,
                      upstreams=["127.0.0.1:%d" % u.port for u in self.ups_a])

    def set_fault(self, label, spec):
        """Serves <spec> on /a; literal answers are tagged with <label> so
        their hits can be told from good ones. Returns the served tag."""
        spec = dict(spec)
        if "scenario" not in spec:
            spec["tag"] = label
        self.prov.set("/a", **spec)
        return spec.get("scenario") or label

    def fault_requests(self, t0, served):
        return [r for r in self.prov.requests("/a") if r["ts"] >= t0 and r["served"] == served]

    def rejected(self, provider):
        out = {}
        pre = 'pf_controller_rejected_addresses_total{provider="%s",reason="' % provider
        for k, v in self.ctl.metrics().items():
            if k.startswith(pre):
                out[k[len(pre):-2]] = v
        return out

    def assert_no_client_error(self, where):
        bad = [(n, r) for n, t in self.traffic.items() for r in t.failures()]
        self.assertEqual(bad, [], "client errors during %s: %r" % (where, bad[:5]))

    def assert_pool(self, ids, version, epoch, where):
        """The snapshot in Redis is exactly <ids> at <version>/<epoch>, its
        three keys agree, and both nodes serve that version."""
        m = self.meta()
        self.assertEqual((m.get("version"), m.get("epoch")), (version, epoch),
                         "pool version moved during %s" % where)
        self.assertEqual(self.pool_ids(), ids, where)
        self.assertEqual(int(m["count"]), len(ids), where)
        self.assertEqual(self.redis.cmd("ZCARD", self.k.pool_expiry), len(ids), where)
        for n in self.nodes:
            wait_until(lambda: self.redis.hgetall(self.k.node(n.id)).get("pool_version")
                       == version, 3, "%s reports version %s (%s)" % (n.id, version, where))

    def wait_a_ok(self, timeout):
        return wait_until(lambda: (lambda h: h if h.get("state") == "ok" and
                                   h.get("breaker") == "closed" else None)(self.ph()),
                          timeout, "provider a back to ok/closed")

    def wait_failure(self, before, reason, timeout):
        def failed():
            h = self.ph()
            if int(h.get("failures", "0")) > before and reason in h.get("last_error", ""):
                return h
            return None
        return wait_until(failed, timeout, "a failed poll of a with '%s'" % reason)

    # -- world -------------------------------------------------------------------

    def world(self):
        f = self.fleet
        self.redis = f.start_redis()
        self.origin = f.start_origin()
        self.ups_a = [f.direct_upstream_node(name="a%d" % i) for i in (1, 2)]
        self.ups_b = [f.direct_upstream_node(name="b%d" % i) for i in (1, 2)]
        self.prov = f.start_fake_provider()
        self.a_expire = expire_str(time.time() + 900)
        self.good_a()
        self.prov.set("/c", body="# strict provider: nothing listed yet\n")
        bfile = os.path.join(f.tmp, "b.txt")
        with open(bfile, "w") as fh:
            fh.write("".join("127.0.0.1:%d\n" % u.port for u in self.ups_b))
        a = {"name": "a", "type": "api", "format": "json", "allow_private": True,
             "url": self.prov.url("/a?key=" + f.secret("k-PTRAFFIC-SECRET-31")),
             "interval_ms": INTERVAL_MS, "timeout_ms": TIMEOUT_MS, "connect_timeout_ms": 500,
             "ttl_s": 300, "retry_attempts": RETRY_ATTEMPTS, "retry_base_ms": RETRY_BASE_MS,
             "retry_cap_ms": RETRY_CAP_MS, "breaker_failures": BREAKER_FAILURES,
             "breaker_open_ms": BREAKER_OPEN_MS, "breaker_open_max_ms": 2 * BREAKER_OPEN_MS,
             "fatal_recheck_s": FATAL_RECHECK_S, "json": JSON_FIELDS,
             "errors": {"codes": {"10001": "fatal", "10002": "transient"},
                        "code_field": "code", "message_field": "msg"}}
        b = {"name": "b", "type": "file", "path": bfile, "format": "lines",
             "allow_private": True, "interval_ms": 200, "ttl_s": 600}
        c = {"name": "c", "type": "api", "format": "lines", "allow_private": False,
             "url": self.prov.url("/c"), "interval_ms": 500, "timeout_ms": 1000,
             "retry_attempts": 1, "breaker_failures": 1000, "fatal_recheck_s": 1}
        self.ctl = f.start_controller({
            "controller": {"providers": [a, b, c]},
            "redis": {"connect_timeout_ms": REDIS_TIMEOUT_MS,
                      "command_timeout_ms": REDIS_TIMEOUT_MS}}, name="ctl")
        self.all_ids = self.ids(self.ups_a + self.ups_b)
        m = wait_until(lambda: (lambda x: x if x.get("count") == "4" else None)(self.meta()),
                       15, "pool of a1 a2 b1 b2 published")
        self.assertEqual(self.pool_ids(), self.all_ids)
        node_cfg = pool_node_config(retries=2, strategy="round_robin")
        self.nodes = [f.start_node(node_cfg, name="pool%d" % i) for i in (1, 2)]
        for n in self.nodes:
            wait_until(lambda: n.metric("pf_node_pool_size") == 4, 10, "%s loads 4" % n.id)
        self.wait_a_ok(10)
        return m

    # -- the test ------------------------------------------------------------------

    def test_provider_matrix_under_traffic(self):
        t_start = time.monotonic()
        self.world()
        sub = Subscriber(self.redis.port, self.k.pool_channel)
        self.addCleanup(sub.stop)
        self.traffic = {n.id: Traffic(n.port, self.origin.url("/t-" + n.id),
                                      interval_s=TRAFFIC_INTERVAL_S, timeout=5.0,
                                      max_requests=5000).start() for n in self.nodes}
        try:
            self.run_matrix()
        finally:
            results = {n: t.stop() for n, t in self.traffic.items()}
            notices = sub.stop()
        self.assert_no_client_error("the whole run")
        total = sum(len(r) for r in results.values())
        self.assertGreater(total, 200, "the client loops kept running")
        # The notice stream of the whole run: strictly increasing versions,
        # one epoch, ending where pool:meta is.
        pairs = [tuple(p.split()) for _, p in notices]
        versions = [int(v) for v, _ in pairs]
        self.assertEqual(versions, sorted(set(versions)), pairs)
        self.assertEqual(len({e for _, e in pairs}), 1, pairs)
        m = self.meta()
        self.assertEqual((str(versions[-1]), pairs[-1][1]), (m["version"], m["epoch"]))
        worst = max(r[2] for rs in results.values() for r in rs)
        self.figures.update(requests=total, failed=0, worst_request_s=round(worst, 3),
                            notices=len(pairs), wall_s=round(time.monotonic() - t_start, 1))

    def run_matrix(self):
        m0 = self.meta()
        v0, e0 = m0["version"], m0["epoch"]
        self.assert_pool(self.all_ids, v0, e0, "start")
        figs = self.figures.setdefault("faults", {})

        # Transient: retried with backoff, last good set kept.
        for label, spec, reason in TRANSIENT:
            before = self.ph()
            t0 = time.time()
            served = self.set_fault(label, spec)
            h = self.wait_failure(int(before["failures"]), reason,
                                  RETRY_ATTEMPTS * (TIMEOUT_MS / 1000 + 1) + 5)
            detect_s = time.time() - t0
            reqs = self.fault_requests(t0, served)[:RETRY_ATTEMPTS]
            self.assertEqual((h["state"], h["last_error_class"], h["upstreams"]),
                             ("failing", "transient", "2"), "%s: %r" % (label, h))
            self.assertEqual(len(reqs), RETRY_ATTEMPTS, "%s: attempts of the failed poll" % label)
            self.assertGreaterEqual(int(h["retries"]) - int(before["retries"]),
                                    RETRY_ATTEMPTS - 1, label)
            gaps = [b["ts"] - a["ts"] for a, b in zip(reqs, reqs[1:])]
            for i, g in enumerate(gaps):
                # Full jitter: random(0, min(cap, base * 2^i)), after the
                # failed attempt itself (at most timeout_ms).
                ceiling = min(RETRY_CAP_MS, RETRY_BASE_MS * 2 ** i) / 1000
                self.assertLessEqual(g, TIMEOUT_MS / 1000 + ceiling + SLACK_S,
                                     "%s: gap %d %r" % (label, i, gaps))
            self.assert_pool(self.all_ids, v0, e0, label)
            self.good_a()
            self.wait_a_ok(10)
            self.assert_no_client_error(label)
            figs[label] = {"class": "transient", "attempts": len(reqs),
                           "detected_s": round(detect_s, 2),
                           "gaps_s": [round(g, 2) for g in gaps]}

        # 429 and 503 with Retry-After: every next attempt waits for it.
        for label, spec, reason in RETRY_AFTER:
            before = self.ph()
            t0 = time.time()
            served = self.set_fault(label, spec)
            h = self.wait_failure(int(before["failures"]), reason, 10)
            reqs = self.fault_requests(t0, served)[:RETRY_ATTEMPTS]
            self.assertEqual((h["state"], h["last_error_class"], h["upstreams"]),
                             ("failing", "transient", "2"), "%s: %r" % (label, h))
            self.assertEqual(len(reqs), RETRY_ATTEMPTS, label)
            gaps = [b["ts"] - a["ts"] for a, b in zip(reqs, reqs[1:])]
            for g in gaps:
                # retry_base_ms is 100: only Retry-After explains >= 1 s.
                self.assertGreaterEqual(g, 0.95, "%s: %r" % (label, gaps))
                self.assertLessEqual(g, 1.0 + SLACK_S + 0.5, "%s: %r" % (label, gaps))
            self.assert_pool(self.all_ids, v0, e0, label)
            self.good_a()
            self.wait_a_ok(10)
            self.assert_no_client_error(label)
            figs[label] = {"class": "transient", "attempts": len(reqs),
                           "gaps_s": [round(g, 2) for g in gaps]}

        # Fatal: one hit, no retry, parked until fatal_recheck_s.
        for label, spec, reason in FATAL:
            before = self.ph()
            t0 = time.time()
            served = self.set_fault(label, spec)
            h = self.wait_failure(int(before["failures"]), reason, 10)
            t_fail = time.time()
            self.assertEqual((h["state"], h["last_error_class"], h["upstreams"]),
                             ("failed", "fatal", "2"), "%s: %r" % (label, h))
            self.assertEqual(int(h["retries"]), int(before["retries"]), "%s: retried" % label)
            self.assertEqual(int(h["failures"]), int(before["failures"]) + 1, label)
            # Parked: no hit for well over two poll intervals.
            time.sleep(3 * INTERVAL_MS / 1000)
            parked = self.fault_requests(t0, served)
            self.assertEqual(len(parked), 1, "%s: hits while parked %r" % (label, parked))
            self.assert_pool(self.all_ids, v0, e0, label)
            # The re-check after fatal_recheck_s is a single good hit.
            self.good_a()
            self.wait_a_ok(FATAL_RECHECK_S + 3)
            recheck_s = time.time() - t_fail
            self.assertGreaterEqual(recheck_s, FATAL_RECHECK_S - 0.3, label)
            self.assert_no_client_error(label)
            figs[label] = {"class": "fatal", "hits_while_parked": len(parked),
                           "recheck_after_s": round(recheck_s, 2)}

        # Partly malformed answer: the valid entries are kept, junk rejected
        # and counted, the pool (and its version) unchanged.
        rej0 = self.rejected("a")
        hits0 = self.prov.hits("/a")
        body = {"code": 0, "data": [
            {"ip": "127.0.0.1", "port": u.port, "expire_time": self.a_expire}
            for u in self.ups_a] + [{"ip": "bad host!", "port": 80},
                                    {"ip": "203.0.113.5", "port": 0}]}
        self.prov.set("/a", body=json.dumps(body))
        wait_until(lambda: sum(self.rejected("a").values()) >= sum(rej0.values()) + 2, 10,
                   "junk entries of a rejected")
        self.assertGreater(self.prov.hits("/a"), hits0)
        h = self.ph()
        self.assertEqual((h["state"], h["upstreams"]), ("ok", "2"))
        self.good_a()
        self.assert_pool(self.all_ids, v0, e0, "partly malformed")
        figs["partly malformed entries"] = {"class": "ok", "rejected": {
            k: v - rej0.get(k, 0) for k, v in self.rejected("a").items() if v > rej0.get(k, 0)}}

        # Strict provider c: private, loopback (even a working upstream),
        # metadata, localhost and malformed lines never reach the pool.
        rej0 = self.rejected("c")
        before = self.ph("c")
        lines = ["10.0.0.1:8080", "192.168.1.10:3128", "127.0.0.1:%d" % self.ups_a[0].port,
                 "169.254.169.254:80", "localhost:8080", "[::1]:8080",
                 "not_an_address!", "203.0.113.9:99999"]
        self.prov.set("/c", body="\n".join(lines) + "\n")
        h = self.wait_failure_of("c", int(before.get("failures", "0")),
                                 "no valid address", 10)
        self.assertEqual((h["state"], h["last_error_class"], h["upstreams"]),
                         ("failing", "transient", "0"), h)
        rej = self.rejected("c")
        delta = {k: v - rej0.get(k, 0) for k, v in rej.items() if v > rej0.get(k, 0)}
        self.assertGreaterEqual(delta.get("denied", 0), 6, delta)
        self.assertGreaterEqual(sum(delta.values()), len(lines), delta)
        self.assert_pool(self.all_ids, v0, e0, "private/loopback/malformed lines")
        self.assert_no_client_error("private/loopback/malformed lines")
        figs["strict: private, loopback, malformed lines"] = {"class": "transient",
                                                              "rejected": delta}

        # Slow but within timeout_ms: a success, not a failure.
        before = self.ph()
        t0 = time.time()
        self.prov.set("/a", scenario="slow_body", json=True, bytes_per_s=1000,
                      expire_time=self.a_expire, upstreams=["127.0.0.1:%d" % u.port for u in self.ups_a])
        wait_until(lambda: len(self.fault_requests(t0, "slow_body")) >= 2, 10, "slow polls")
        time.sleep(0.6)
        h = self.ph()
        self.assertEqual((h["state"], h["failures"]), ("ok", before["failures"]), h)
        self.good_a()
        self.assert_pool(self.all_ids, v0, e0, "slow body within timeout")
        figs["slow body within timeout_ms"] = {"class": "ok"}

        # Breaker: transient polls in a row open it; no hit while open; one
        # half-open probe; success closes it.
        before = self.ph()
        t0 = time.time()
        self.prov.set("/a", scenario="server_error_500")
        h = wait_until(lambda: (lambda x: x if x.get("breaker") == "open" else None)(self.ph()),
                       15, "breaker of a opens")
        t_open = time.time()
        until_s = int(h["breaker_until_ms"]) / 1000
        self.assertEqual(int(h["breaker_opens"]), int(before["breaker_opens"]) + 1)
        self.assertEqual(int(h["consecutive_failures"]), BREAKER_FAILURES)
        n_open = len(self.fault_requests(t0, "server_error_500"))
        self.assertEqual(n_open, BREAKER_FAILURES * RETRY_ATTEMPTS)
        time.sleep(max(0.0, until_s - time.time() - 0.2))
        self.assertEqual(len(self.fault_requests(t0, "server_error_500")), n_open,
                         "no hit while the breaker is open")
        self.assert_pool(self.all_ids, v0, e0, "breaker open")
        self.good_a()
        self.wait_a_ok(BREAKER_OPEN_MS / 1000 + 3)
        probe = [r for r in self.prov.requests("/a") if r["ts"] >= until_s - 0.3]
        self.assertGreaterEqual(len(probe), 1)
        self.assertEqual(probe[0]["served"], "good_json", "half-open probe")
        self.assert_no_client_error("breaker")
        figs["breaker (500 in a row)"] = {"class": "transient", "hits_before_open": n_open,
                                          "open_s": round(until_s - t_open, 2)}
        self.assert_pool(self.all_ids, v0, e0, "after the matrix")

        # Failover: a's last good answer lives 3 s, then a fails fatally;
        # its upstreams expire and the pool holds exactly b's.
        self.good_a(ttl_s=3)
        wait_until(lambda: max(self.redis.zrange_withscores(self.k.pool_expiry).get(i, 0)
                               for i in self.ids(self.ups_a)) < (time.time() + 4) * 1000,
                   10, "a's short lifetime published")
        self.prov.set("/a", scenario="unauthorized_401")
        wait_until(lambda: self.ph().get("state") == "failed", 10, "a failed")
        t_fail = time.time()
        m2 = wait_until(lambda: (lambda x: x if x.get("count") == "2" else None)(self.meta()),
                        8, "a's upstreams expire from the pool")
        drop_s = time.time() - t_fail
        b_ids = self.ids(self.ups_b)
        self.assert_pool(b_ids, m2["version"], e0, "failover")
        self.assertEqual(self.ph("b")["state"], "ok")
        wait_until(lambda: self.ph().get("upstreams") == "0", 3, "a contributes nothing")
        self.assertGreater(int(m2["version"]), int(v0))
        time.sleep(1.0)          # traffic served by b's upstreams only
        self.assert_no_client_error("failover")
        # a recovers at its next re-check.
        self.good_a()
        m3 = wait_until(lambda: (lambda x: x if x.get("count") == "4" else None)(self.meta()),
                        FATAL_RECHECK_S + 5, "a back in the pool")
        self.assert_pool(self.all_ids, m3["version"], e0, "recovery")
        self.assert_no_client_error("recovery")
        figs["failover: a fatal + expired, b healthy"] = {"pool": "b only",
                                                          "dropped_after_s": round(drop_s, 2)}

    def wait_failure_of(self, name, before, reason, timeout):
        def failed():
            h = self.ph(name)
            if int(h.get("failures", "0")) > before and reason in h.get("last_error", ""):
                return h
            return None
        return wait_until(failed, timeout, "a failed poll of %s with '%s'" % (name, reason))


if __name__ == "__main__":
    unittest.main()
