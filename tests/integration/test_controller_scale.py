"""Controller health checks at scale: hundreds of upstreams are probed per
interval without blocking the provider polls.

Real parts only (STYLE.md rule 24): a real redis-server, the real
controller, ONE real upstream proxy (a proxyfleet-node in direct mode on
0.0.0.0:<port>) reached through 300 different loopback addresses
(127.0.0.<k> and 127.0.1.<k>: all of 127.0.0.0/8 is local), so the
controller sees 300 distinct upstream ids; the probe URL is the harness
origin. Only the provider API is faked: it serves the 300 addresses as a
"lines" body, polled every 500 ms.

What is checked:
  * within a bound, all 300 are healthy in {pf}:v1:health and published in
    pool:upstreams with latency_ms > 0;
  * pf_controller_health_probes_total grows by >= 300 per probe interval;
  * meanwhile the provider is still polled at roughly its interval (hit
    count and the largest gap between two polls);
  * the upstream proxy stops: all 300 turn unhealthy, the published pool
    never shrinks below n - floor(n x max_ejection_percent / 100)
    (docs/configuration.md, controller.health), and polls go on.

Figures (round time of 300 probes, probe and poll rates) are printed to
stderr (visible with ctest --output-on-failure -V)."""

import json
import sys
import time
import unittest

from pf_harness import Fleet, free_port, wait_until

N = 300
INTERVAL_MS = 2000          # one probe round of every upstream
POLL_MS = 500               # provider poll interval
CONCURRENCY = 64
FALL = 2
RISE = 1
MAX_EJECTION_PERCENT = 33   # not the default: 300 x 33 / 100 = 99 may be excluded
MAX_EXCLUDED = N * MAX_EJECTION_PERCENT // 100
MIN_PUBLISHED = N - MAX_EXCLUDED

# Conservative shares of the expected rates: the machine is shared and the
# binaries run under ASan.
POLL_SHARE = 0.4            # polls seen / polls expected in a window
MAX_POLL_GAP_S = 2.0        # 4 x POLL_MS: a poll stalled behind a probe round fails this


def note(fmt, *args):
    sys.stderr.write("scale: " + (fmt % args) + "\n")
    sys.stderr.flush()


def hosts():
    """300 loopback addresses: 127.0.0.2..151 and 127.0.1.1..150."""
    return (["127.0.0.%d" % k for k in range(2, 2 + N // 2)] +
            ["127.0.1.%d" % k for k in range(1, 1 + N - N // 2)])


class TestControllerScale(unittest.TestCase):
    def setUp(self):
        self.fleet = Fleet(self)
        self.k = self.fleet.keys
        self.health_key = self.k.base + ":health"

    # -- helpers ---------------------------------------------------------------

    def pool(self):
        return {k: json.loads(v) for k, v in self.redis.hgetall(self.k.pool_upstreams).items()}

    def health_all(self):
        return {k: json.loads(v) for k, v in self.redis.hgetall(self.health_key).items()}

    def probes_total(self):
        return self.ctl.metric("pf_controller_health_probes_total")

    def poll_times(self):
        return sorted(r["ts"] for r in self.prov.requests("/list"))

    def assert_polls_flow(self, t0, t1, what):
        """The provider was polled at roughly POLL_MS in [t0, t1] (wall clock)."""
        ts = [t for t in self.poll_times() if t0 <= t <= t1]
        expected = (t1 - t0) * 1000.0 / POLL_MS
        gaps = [b - a for a, b in zip([t0] + ts, ts + [t1])]
        note("%s: %d polls in %.1f s (%.0f at the nominal rate), largest gap %.2f s",
             what, len(ts), t1 - t0, expected, max(gaps))
        self.assertGreaterEqual(len(ts), int(expected * POLL_SHARE),
                                "%s: provider polls starved" % what)
        self.assertLess(max(gaps), MAX_POLL_GAP_S, "%s: a provider poll was held up" % what)

    def probe_rounds(self, since):
        """/probe arrivals at the origin after wall clock <since>, cut into
        rounds at gaps of a quarter interval: [(first ts, last ts, count)]."""
        ts = sorted(r["ts"] for r in self.origin.requests()
                    if r["path"] == "/probe" and r["ts"] >= since)
        rounds = []
        for t in ts:
            if rounds and t - rounds[-1][1] < INTERVAL_MS / 4000.0:
                rounds[-1] = (rounds[-1][0], t, rounds[-1][2] + 1)
            else:
                rounds.append((t, t, 1))
        return rounds

    # -- the test ----------------------------------------------------------------

    def test_hundreds_of_upstreams_probed_without_blocking_polls(self):
        f = self.fleet
        self.redis = f.start_redis()
        self.origin = f.start_origin()
        self.prov = f.start_fake_provider()
        port = free_port()
        # The one real upstream proxy, reachable on every loopback address.
        self.up = f.direct_upstream_node(
            listen="0.0.0.0:%d" % port, allow_anonymous=True, client_allow=["127.0.0.0/8"],
            destination_allow=["127.0.0.0/8"], connect_ports=[], drain_grace_ms=0,
            config={"log": {"level": "info"}})
        addrs = ["%s:%d" % (h, port) for h in hosts()]
        ids = {"http://" + a for a in addrs}
        self.assertEqual(len(ids), N)
        self.prov.set("/list", scenario="good_text", upstreams=addrs)

        t_start = time.time()
        self.ctl = f.start_controller({"log": {"level": "info"}, "controller": {
            "poll_interval_ms": POLL_MS,
            "providers": [{"name": "fake", "type": "api", "format": "lines",
                           "url": self.prov.url("/list"), "allow_private": True}],
            "health": {"url": self.origin.url("/probe"), "interval_ms": INTERVAL_MS,
                       "timeout_ms": 1500, "rise": RISE, "fall": FALL,
                       "concurrency": CONCURRENCY,
                       "max_ejection_percent": MAX_EJECTION_PERCENT},
        }})

        # 1. All 300 healthy and published with a measured latency.
        def all_healthy():
            h = self.health_all()
            return len(h) == N and set(h) == ids and all(
                v["healthy"] and v["state"] == "healthy" and v["latency_ms"] > 0
                for v in h.values())
        wait_until(all_healthy, 20, "all %d upstreams healthy in {pf}:v1:health" % N,
                   interval=0.2)
        t_healthy = time.time() - t_start
        pool = wait_until(lambda: (lambda p: p if set(p) == ids and all(
            r["latency_ms"] > 0 for r in p.values()) else None)(self.pool()), 10,
            "all %d upstreams published with latency_ms > 0" % N, interval=0.2)
        t_published = time.time() - t_start
        meta = self.redis.hgetall(self.k.pool_meta)
        self.assertEqual(int(meta["count"]), N)
        lats = sorted(r["latency_ms"] for r in pool.values())
        note("all %d healthy %.1f s and published %.1f s after the controller start; "
             "published latency_ms min %d median %d max %d", N, t_healthy, t_published,
             lats[0], lats[len(lats) // 2], lats[-1])

        # 2. Steady state: >= N probes per interval, polls keep their pace.
        intervals = 3
        window_s = intervals * INTERVAL_MS / 1000.0
        m0, v0, t0 = self.probes_total(), int(meta["version"]), time.time()
        time.sleep(window_s)
        m1, t1 = self.probes_total(), time.time()
        m = self.ctl.metrics()
        note("steady: %d probes in %.1f s = %.0f per %d ms interval (ok %d, failed %d total); "
             "pool version %d -> %s", m1 - m0, t1 - t0, (m1 - m0) * INTERVAL_MS / 1000.0 /
             (t1 - t0), INTERVAL_MS, m.get('pf_controller_health_probes_total{result="ok"}', 0),
             m1 - m.get('pf_controller_health_probes_total{result="ok"}', 0), v0,
             self.redis.hgetall(self.k.pool_meta)["version"])
        # Every tick in the window starts a full round; the first and last may
        # fall partly outside it, so at least intervals - 1 whole rounds.
        self.assertGreaterEqual(m1 - m0, N * (intervals - 1),
                                "probes_total grew by < %d per interval" % N)
        self.assertEqual(m.get('pf_controller_health_upstreams{state="healthy"}'), N)
        self.assertEqual(m.get("pf_controller_health_excluded"), 0)
        # Latency jitter across hundreds of upstreams must not become a new
        # pool version every round (each one makes every node reload): only
        # state changes publish at once, latencies every
        # latency_publish_interval_ms (default 60 s, longer than this window).
        self.assertEqual(int(self.redis.hgetall(self.k.pool_meta)["version"]), v0,
                         "pool version moved during steady probe rounds")
        self.assertLessEqual(m.get("pf_controller_health_probes_inflight"), CONCURRENCY)
        self.assert_polls_flow(t0, t1, "while probing")
        rounds = [r for r in self.probe_rounds(t0) if r[2] >= N and r[1] <= t1]
        self.assertGreaterEqual(len(rounds), intervals - 1, "whole probe rounds at the origin: %r"
                                % (self.probe_rounds(t0),))
        durs = [r[1] - r[0] for r in rounds]
        note("probe rounds of %d at the origin: %s s (first to last arrival)", N,
             ", ".join("%.3f" % d for d in durs))
        self.assertLess(max(durs), INTERVAL_MS / 1000.0, "a probe round outlasts the interval")

        # The controller's view of one round: from the first probe result of
        # a tick to the N-th, sampled on /metrics.
        wait_until(lambda: self.ctl.metric("pf_controller_health_probes_inflight") == 0, 5,
                   "a pause between probe rounds", interval=0.01)
        base = self.probes_total()
        start = end = None
        deadline = time.time() + INTERVAL_MS / 1000.0 * 2
        while end is None and time.time() < deadline:
            v, t = self.probes_total(), time.time()
            if start is None and v > base:
                start = t
            if v - base >= N:
                end = t
            time.sleep(0.01)
        self.assertIsNotNone(end, "no whole round of %d probe results seen on /metrics" % N)
        note("one round of %d probe results on /metrics: %.3f s (+ up to one sample, "
             "about 10 ms)", N, end - start)
        self.assertLess(end - start, INTERVAL_MS / 1000.0, "a probe round outlasts the interval")

        # 3. The upstream proxy goes away: every probe fails, yet the pool
        # keeps n - floor(n x max_ejection_percent / 100) and polls go on.
        self.up.stop()
        t2 = time.time()
        sizes = []

        def all_unhealthy():
            sizes.append(int(self.redis.cmd("HLEN", self.k.pool_upstreams)))
            h = self.health_all()
            return len(h) == N and all(not v["healthy"] and v["state"] == "unhealthy" and
                                       v["failures"] >= FALL for v in h.values())
        wait_until(all_unhealthy, 20, "all %d upstreams unhealthy" % N, interval=0.1)
        t_unhealthy = time.time() - t2
        wait_until(lambda: sizes.append(int(self.redis.cmd("HLEN", self.k.pool_upstreams)))
                   or sizes[-1] == MIN_PUBLISHED, 10,
                   "the pool cut to %d by max_ejection_percent" % MIN_PUBLISHED, interval=0.1)
        time.sleep(2 * INTERVAL_MS / 1000.0)
        for _ in range(5):
            sizes.append(int(self.redis.cmd("HLEN", self.k.pool_upstreams)))
        t4 = time.time()
        pool = self.pool()
        meta = self.redis.hgetall(self.k.pool_meta)
        note("upstream stopped: all unhealthy after %.1f s; published pool sizes seen %d..%d, "
             "now %d (meta count %s, version %s)", t_unhealthy, min(sizes), max(sizes),
             len(pool), meta["count"], meta["version"])
        self.assertGreaterEqual(min(sizes), MIN_PUBLISHED, "the pool was emptied below the cap")
        self.assertEqual(len(pool), MIN_PUBLISHED)
        self.assertEqual(int(meta["count"]), MIN_PUBLISHED)
        self.assertTrue(set(pool) <= ids)
        m = self.ctl.metrics()
        self.assertEqual(m.get('pf_controller_health_upstreams{state="unhealthy"}'), N)
        self.assertEqual(m.get("pf_controller_health_excluded"), N)
        self.assertGreaterEqual(m.get('pf_controller_health_probes_total{result="connect"}', 0),
                                N * FALL)
        self.assertIn("%d unhealthy or ejected upstreams kept in the pool: at most %d%% of %d"
                      % (MIN_PUBLISHED, MAX_EJECTION_PERCENT, N), self.ctl.log_text())
        self.assert_polls_flow(t2, t4, "all upstreams failing")
        prov_state = self.redis.hgetall(self.k.provider("fake"))
        self.assertEqual(prov_state["state"], "ok")
        self.assertEqual(int(prov_state["upstreams"]), N)
        note("total run %.1f s", t4 - t_start)


if __name__ == "__main__":
    unittest.main()
