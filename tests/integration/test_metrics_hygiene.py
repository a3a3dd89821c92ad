"""Metrics hygiene (issue 11 items 3 and 7) against real running binaries:
`promtool check metrics` (Debian's prometheus package) passes on a pool
node, a direct-mode node and a controller with providers, active and
passive health, and every metric of the tables in docs/metrics.md (kept
equal to the code by the unit tests) has a sample there; base units, no
status code in a name; process_* agree with /proc; build_info, /stats,
/status and both heartbeat hashes name the version and commit that
--version prints."""

import json
import os
import re
import subprocess
import time
import unittest

from pf_harness import SOURCE_DIR, Fleet, _require_tool, curl, parse_metrics, wait_until


def doc_metrics(binary):
    """(name, type) of every row of <binary>'s table in docs/metrics.md."""
    with open(os.path.join(SOURCE_DIR, "docs", "metrics.md")) as f:
        text = f.read()
    block = text.split("<!-- metrics:%s -->" % binary, 1)[1].split("<!-- end metrics:", 1)[0]
    rows = re.findall(r"^\| `([a-z_:]+)` \| (counter|gauge|histogram) \|", block, re.M)
    if len(rows) < 20:
        raise AssertionError("docs/metrics.md: %d rows for %s" % (len(rows), binary))
    return rows


def doc_heartbeat_fields(binary):
    """The heartbeat fields of <binary>'s table in docs/metrics.md."""
    with open(os.path.join(SOURCE_DIR, "docs", "metrics.md")) as f:
        text = f.read()
    block = text.split("<!-- metrics:%s -->" % binary, 1)[1].split("<!-- end metrics:", 1)[0]
    return set(re.findall(r"^\| `[a-z_:]+` \| [a-z]+ \| [^|]+ \| [a-z-]+ \| `([a-z_]+)` \|",
                          block, re.M))


IDENTITY = {
    "node": {"id", "listen", "version", "commit", "updated_at_ms", "pool_epoch",
             "redis_connected"},
    "controller": {"id", "epoch", "heartbeat_at_ms", "leader", "version", "commit"},
}


def promtool(text):
    """(exit code, output) of promtool check metrics on <text>."""
    p = subprocess.run([_require_tool("promtool"), "check", "metrics"], input=text,
                       capture_output=True, text=True, timeout=60)
    return p.returncode, (p.stdout + p.stderr).strip()


def version_of(binary):
    """(version, commit) that <binary> --version prints ("" when unknown)."""
    p = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=60,
                       stdin=subprocess.DEVNULL)
    m = re.fullmatch(r"\S+ (\S+)(?: \(commit (\S+)\))?\n", p.stdout)
    if p.returncode != 0 or m is None:
        raise AssertionError("%s --version: %r" % (binary, p.stdout))
    return m.group(1), m.group(2) or ""


class MetricsHygiene(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        _require_tool("promtool")

    def setUp(self):
        self.fleet = Fleet(self)

    def start_fleet(self):
        """A controller (static provider, active and passive health) that
        publishes two upstreams, a pool node with traffic through them, and
        a direct-mode node."""
        f = self.fleet
        self.redis = f.start_redis()
        self.origin = f.start_origin()
        self.ups = [f.direct_upstream_node() for _ in range(2)]
        ids = ["http://127.0.0.1:%d" % u.port for u in self.ups]
        self.ctl = f.start_controller({"controller": {
            "providers": [{"name": "static", "type": "static", "allow_private": True,
                           "upstreams": ids}],
            "health": {"url": self.origin.url("/probe"), "interval_ms": 300,
                       "passive": {"interval_ms": 300}}}})
        self.node = f.start_node({"node": {"mode": "pool", "destination_allow": ["127.0.0.0/8"]}})
        wait_until(lambda: self.node.metric("pf_node_pool_size") == 2, 15, "the node's pool")
        for path in ("/a", "/b", "/c"):
            r = curl("-x", self.node.proxy_url, self.origin.url(path))
            self.assertEqual(r.status, 200, r.stderr)
        r = curl("-p", "-x", self.node.proxy_url, self.origin.url("/t"))
        self.assertEqual(r.status, 200, r.stderr)
        wait_until(lambda: self.ctl.metric("pf_controller_health_passive_rounds_total") >= 2 and
                   self.ctl.metric('pf_controller_health_probes_total{result="ok"}') >= 2,
                   15, "active and passive health rounds")
        # the direct node is the first upstream: it has served traffic too
        self.direct = self.ups[0]

    def check_exposition(self, proc, binary):
        st, text, hdrs = proc.admin("/metrics")
        self.assertEqual(st, 200)
        self.assertTrue(hdrs["Content-Type"].startswith("text/plain; version=0.0.4"), hdrs)
        rc, out = promtool(text)
        self.assertEqual((rc, out), (0, ""), "promtool on %s's /metrics" % proc.name)
        samples = parse_metrics(text)
        names = {k.partition("{")[0] for k in samples}
        for name, kind in doc_metrics(binary):
            want = name + "_count" if kind == "histogram" else name
            self.assertIn(want, names, "%s: no sample of %s" % (proc.name, name))
            self.assertIn("# TYPE %s %s\n" % (name, kind), text)
        for name in names:
            self.assertTrue(name.startswith(("pf_" + binary + "_", "process_")), name)
            self.assertIsNone(re.search(r"_(ms|us|milliseconds|microseconds)(_|$)", name), name)
            self.assertIsNone(re.search(r"_[1-5][0-9][0-9](_|$)", name),
                              "status code in a name: " + name)
        return samples

    def test_promtool_passes_and_every_metric_appears(self):
        self.start_fleet()
        m = self.check_exposition(self.node, "node")
        self.assertEqual(m['pf_node_outcomes_total{kind="request",outcome="ok"}'], 3)
        self.assertEqual(m['pf_node_outcomes_total{kind="tunnel",outcome="ok"}'], 1)
        self.assertEqual(m["pf_node_pool_usable"], 2)
        d = self.check_exposition(self.direct, "node")
        self.assertGreaterEqual(d["pf_node_requests_total"], 1)
        self.assertEqual(d["pf_node_ready"], 1)
        c = self.check_exposition(self.ctl, "controller")
        self.assertEqual(c['pf_controller_provider_upstreams{provider="static"}'], 2)
        self.assertEqual(c['pf_controller_health_upstreams{state="healthy"}'], 2)
        self.assertGreater(c["pf_controller_health_probe_latency_seconds_count"], 0)
        # seconds: a loopback probe takes well under a second, not "ms"
        self.assertLess(c["pf_controller_health_probe_latency_seconds_sum"] /
                        c["pf_controller_health_probe_latency_seconds_count"], 1.0)

    def test_process_metrics_agree_with_proc(self):
        f = self.fleet
        f.start_redis()
        node = f.start_node({"node": {"mode": "direct"}})
        ctl = f.start_controller()
        tick = os.sysconf("SC_CLK_TCK")
        with open("/proc/stat") as fh:
            btime = int(re.search(r"^btime (\d+)$", fh.read(), re.M).group(1))
        for proc in (node, ctl):
            m = proc.metrics()
            with open("/proc/%d/stat" % proc.pid) as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
            start = btime + int(fields[19]) / tick
            self.assertAlmostEqual(m["process_start_time_seconds"], start, delta=0.05)
            self.assertLess(abs(m["process_start_time_seconds"] - time.time()), 600)
            nfds = len(os.listdir("/proc/%d/fd" % proc.pid))
            self.assertLessEqual(abs(m["process_open_fds"] - nfds), 3, (m["process_open_fds"], nfds))
            with open("/proc/%d/limits" % proc.pid) as fh:
                soft = re.search(r"^Max open files\s+(\S+)", fh.read(), re.M).group(1)
            # valgrind keeps a few descriptors of the soft limit for itself
            # and tells the program a lower one; /proc shows the real one
            self.assertLessEqual(m["process_max_fds"], float(soft))
            self.assertGreaterEqual(m["process_max_fds"], float(soft) - 64)
            with open("/proc/%d/status" % proc.pid) as fh:
                rss = int(re.search(r"^VmRSS:\s+(\d+) kB", fh.read(), re.M).group(1)) * 1024
            self.assertGreater(m["process_resident_memory_bytes"], rss * 0.5)
            self.assertLess(m["process_resident_memory_bytes"], rss * 2)
            self.assertGreaterEqual(m["process_virtual_memory_bytes"],
                                    m["process_resident_memory_bytes"])
            cpu = (int(fields[11]) + int(fields[12])) / tick
            self.assertGreaterEqual(m["process_cpu_seconds_total"], 0)
            self.assertLessEqual(abs(m["process_cpu_seconds_total"] - cpu), 1.0)

    def test_build_info_and_heartbeats_name_the_version(self):
        f = self.fleet
        redis = f.start_redis()
        node = f.start_node({"node": {"mode": "pool"}})
        ctl = f.start_controller({"controller": {"providers": [
            {"name": "static", "type": "static", "upstreams": ["http://203.0.113.9:8080"]}]}})
        for proc, env in ((node, "PF_NODE_BIN"), (ctl, "PF_CONTROLLER_BIN")):
            version, commit = version_of(os.environ[env])
            self.assertTrue(version)
            info = ['pf_%s_build_info{version="%s",commit="%s"}' % (proc.kind, version, commit)]
            m = proc.metrics()
            self.assertEqual([k for k in m if "_build_info" in k], info)
            self.assertEqual(m[info[0]], 1)
            doc = json.loads(proc.admin("/stats" if proc.kind == "node" else "/status")[1])
            self.assertEqual((doc["version"], doc["commit"]), (version, commit))
            key = f.keys.node(node.id) if proc.kind == "node" else f.keys.controller
            h = wait_until(lambda key=key: (lambda h: h if "version" in h else None)(
                redis.hgetall(key)), 10, "%s heartbeat" % proc.name)
            self.assertEqual((h["version"], h["commit"]), (version, commit), h)
        # each hash holds its identity fields and the table's heartbeat
        # figures, all of them named in docs/redis-keys.md
        with open(os.path.join(SOURCE_DIR, "docs", "redis-keys.md")) as fh:
            keys_doc = fh.read()
        for kind, key in (("node", f.keys.node(node.id)), ("controller", f.keys.controller)):
            figures = doc_heartbeat_fields(kind)
            self.assertGreaterEqual(len(figures), 4, kind)
            self.assertEqual(set(redis.hgetall(key)), IDENTITY[kind] | figures, kind)
            for field in IDENTITY[kind] | figures:
                self.assertIn("`%s`" % field, keys_doc, "redis-keys.md: %s hash field" % kind)
        # the controller hash's figures come from its table
        h = wait_until(lambda: (lambda h: h if h.get("pool_version", "0") != "0" else None)(
            redis.hgetall(f.keys.controller)), 10, "controller hash with pool_version")
        c = ctl.metrics()
        self.assertEqual(int(h["pool_version"]), c["pf_controller_pool_version"])
        self.assertEqual(int(h["pool_size"]), 1)
        self.assertGreater(float(h["leader_since_timestamp_seconds"]), 0)
        self.assertEqual(h["leader"], ctl.id)


if __name__ == "__main__":
    unittest.main()
