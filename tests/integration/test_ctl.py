"""proxyfleet-ctl against a real fleet: real redis-server, real controller
and nodes, fake provider API. Checks `status` (text and --json), `nodes`,
`providers`, `upstreams` with filters, and `status --check`'s exit codes
and reasons through a provider failure (breaker open), a node kill, a
lagging node, a Redis restart, a stopped leader, and through ACL Sentinels
across a failover. The text output of the
first `status` (with 7 bans added by `bans add`) is kept as
$PF_ARTIFACT_DIR/ctl_status.txt (docs/status.md quotes such a capture)."""

import json
import os
import signal
import subprocess
import time
import unittest

from pf_harness import Fleet, SANITIZER_PATTERNS, wait_until

PUBLIC_A = "203.0.113.10:8080"
PUBLIC_B = "198.51.100.7:3128"


def ctl_bin():
    b = os.environ.get("PF_CTL_BIN")
    if not b or not os.access(b, os.X_OK):
        raise AssertionError("PF_CTL_BIN must name the proxyfleet-ctl binary")
    return b


class CtlBase(unittest.TestCase):
    def setUp(self):
        self.fleet = Fleet(self)
        self.k = self.fleet.keys

    def ctl(self, config_path, *args, timeout=30):
        """Runs proxyfleet-ctl; returns (exit code, stdout, stderr), failing
        on any sanitizer report."""
        p = subprocess.run([ctl_bin(), "--config", config_path] + list(args),
                           capture_output=True, text=True, timeout=timeout,
                           env=dict(os.environ, TERM="dumb"))
        for pat in SANITIZER_PATTERNS:
            self.assertNotIn(pat, p.stderr)
        return p.returncode, p.stdout, p.stderr

    def ctl_json(self, cfg, *args):
        rc, out, err = self.ctl(cfg, *args, "--json")
        self.assertEqual(rc, 0, err)
        return json.loads(out)

    def start_fleet(self, breaker_failures=2):
        f = self.fleet
        f.start_redis()
        self.prov = f.start_fake_provider()
        self.prov.set("/list", scenario="good_text", upstreams=[PUBLIC_A, PUBLIC_B])
        self.provider_cfg = {
            "name": "plain", "type": "api", "format": "lines",
            "url": self.prov.url("/list?key=" + f.secret("k-CTL-SECRET-31")),
            "interval_ms": 500, "timeout_ms": 1000, "connect_timeout_ms": 500,
            "retry_attempts": 1, "breaker_failures": breaker_failures,
            "breaker_open_ms": 60000}
        self.ctlr = f.start_controller({"controller": {"providers": [self.provider_cfg]}})
        self.cfg = self.ctlr.config_path
        self.nodes = [f.start_node(name="node-a"), f.start_node(name="node-b")]
        wait_until(lambda: f.redis.hgetall(self.k.pool_meta).get("count") == "2", 15,
                   "pool of 2 published")
        wait_until(lambda: all(f.redis.hgetall(self.k.node(n)).get("pool_version")
                               == f.redis.hgetall(self.k.pool_meta)["version"]
                               for n in ("node-a", "node-b")), 15, "nodes on the pool")


class TestCtlStatus(CtlBase):
    def test_status_lists_and_filters_on_a_live_fleet(self):
        self.start_fleet()
        f = self.fleet
        meta = f.redis.hgetall(self.k.pool_meta)
        # 7 bans through the shared write, created one after the other;
        # status lists the count and the newest 5, newest first
        bans = []
        for i in range(7):
            rc, out, err = self.ctl(self.cfg, "--json", "bans", "add", "--upstream",
                                    "http://" + (PUBLIC_A if i % 2 else PUBLIC_B), "--domain",
                                    "site%d.example" % i, "--ttl-s", str(600 + i),
                                    "--reason", "r%d" % i)
            self.assertEqual(rc, 0, err)
            bans.append(json.loads(out)["ban"])
            time.sleep(0.01)

        rc, out, err = self.ctl(self.cfg, "status")
        self.assertEqual(rc, 0, err)
        art = os.environ.get("PF_ARTIFACT_DIR") or f.tmp
        os.makedirs(art, exist_ok=True)
        with open(os.path.join(art, "ctl_status.txt"), "w") as fh:
            fh.write(out)
        self.assertIn("leader    controller", out.replace("\033", ""))
        self.assertIn("version %s" % meta["version"], out)
        self.assertIn("2 upstreams", out)
        for n in ("node-a", "node-b"):
            self.assertRegex(out, r"(?m)^%s\s+up\s" % n)
        self.assertRegex(out, r"(?m)^plain\s+ok\s+closed\s+2\s")
        self.assertNotIn("\033[", out, "no colours off a TTY")
        self.assertNotIn("k-CTL-SECRET-31", out)
        # rates come from two heartbeats: the column has a figure, not "-"
        self.assertRegex(out, r"(?m)^node-a\s+up\s+\S+\s+%s\s+0\s+\d+\s+\d+\.\d\s"
                         % meta["version"])
        section = out[out.index("\nbans (7 active)\n"):]
        rows = [l for l in section.splitlines() if l[:16] in {b["id"] for b in bans}]
        self.assertEqual([r.split()[0] for r in rows], [b["id"] for b in reversed(bans)][:5])
        self.assertRegex(rows[0], r"^%s\s+%s\s+site6.example\s+in 10m0\ds\s+\(fleet\)\s+r6$"
                         % (bans[6]["id"], bans[6]["upstream"]))
        self.assertIn("... 2 older (proxyfleet-ctl bans list)", section)

        s = self.ctl_json(self.cfg, "status")
        self.assertTrue(s["leader"]["held"])
        self.assertEqual(s["leader"]["id"], "controller")
        self.assertGreater(s["leader"]["lease_ttl_ms"], 0)
        self.assertEqual(s["leader"]["epoch"], meta["epoch"])
        self.assertEqual(s["pool"]["version"], int(meta["version"]))
        self.assertEqual(s["pool"]["records"], 2)
        self.assertEqual([g["name"] for g in s["pool"]["by_provider"]], ["plain"])
        self.assertEqual(s["pool"]["by_provider"][0]["total"], 2)
        self.assertEqual(sorted(n["id"] for n in s["nodes"]), ["node-a", "node-b"])
        for n in s["nodes"]:
            self.assertEqual(n["state"], "up")
            self.assertEqual(n["lag_versions"], 0)
            self.assertIsNotNone(n["requests_per_s"])
            self.assertLess(n["heartbeat_age_ms"], 2000)
        self.assertEqual(s["providers"][0]["state"], "ok")
        self.assertEqual(s["providers"][0]["upstreams"], 2)
        self.assertEqual(s["bans"]["count"], 7)
        self.assertEqual([b["id"] for b in s["bans"]["recent"]], [b["id"] for b in reversed(bans)])
        self.assertEqual(s["bans"]["recent"][0]["domain"], "site6.example")

        nodes = self.ctl_json(self.cfg, "nodes", "--sample-ms", "0")
        self.assertEqual(sorted(n["id"] for n in nodes), ["node-a", "node-b"])
        self.assertIsNone(nodes[0]["requests_per_s"], "no second read, no rate")
        provs = self.ctl_json(self.cfg, "providers")
        self.assertEqual([p["name"] for p in provs], ["plain"])

        ups = self.ctl_json(self.cfg, "upstreams", "--provider", "plain")["upstreams"]
        self.assertEqual(sorted(u["id"] for u in ups),
                         sorted("http://" + a for a in (PUBLIC_A, PUBLIC_B)))
        self.assertEqual(self.ctl_json(self.cfg, "upstreams", "--provider", "other")["upstreams"],
                         [])
        # health checking is off: every upstream is unchecked
        self.assertEqual(len(self.ctl_json(self.cfg, "upstreams", "--state",
                                           "unchecked")["upstreams"]), 2)
        self.assertEqual(self.ctl_json(self.cfg, "upstreams", "--state", "healthy")["upstreams"],
                         [])
        self.assertEqual(self.ctl_json(self.cfg, "upstreams", "--label",
                                       "country=DE")["upstreams"], [])
        rc, out, _ = self.ctl(self.cfg, "upstreams")
        self.assertEqual(rc, 0)
        self.assertIn("2 of 2 upstreams", out)

        rc, out, err = self.ctl(self.cfg, "status", "--check")
        self.assertEqual(rc, 0, out + err)
        self.assertRegex(out, r"^OK: leader controller, pool version \d+ with 2 upstreams, "
                              r"2 nodes up\n$")
        self.assertEqual(self.ctl_json(self.cfg, "status", "--check"), {"ok": True, "reason": ""})

        # forced colours
        rc, out, _ = self.ctl(self.cfg, "--color", "always", "status", "--sample-ms", "0")
        self.assertIn("\033[32m", out)

    def test_bad_command_lines_exit_2(self):
        f = self.fleet
        f.start_redis()
        cfg = f.controller_config()
        path = os.path.join(f.tmp, "ctl-only.json")
        with open(path, "w") as fh:
            json.dump(cfg, fh)
        for args in (["bogus"], ["upstreams", "--state", "sick"], ["status", "--label", "x=y"],
                     ["upstreams", "--label", "colour=red"], []):
            rc, out, err = self.ctl(path, *args)
            self.assertEqual(rc, 2, args)
            self.assertIn("usage:", err)
        p = subprocess.run([ctl_bin(), "status"], capture_output=True, text=True)
        self.assertEqual(p.returncode, 2)
        self.assertIn("--config FILE is required", p.stderr)
        p = subprocess.run([ctl_bin(), "--version"], capture_output=True, text=True)
        self.assertEqual(p.returncode, 0)
        self.assertTrue(p.stdout.startswith("proxyfleet-ctl "))
        # an empty Redis: no leader
        rc, out, _ = self.ctl(path, "status", "--check")
        self.assertEqual((rc, out), (1, "FAIL: no leader: no controller holds the lease\n"))


class TestCtlCheckThroughFailures(CtlBase):
    def test_check_through_provider_failure_node_kill_lag_redis_restart(self):
        self.start_fleet(breaker_failures=2)
        f = self.fleet
        self.assertEqual(self.ctl(self.cfg, "status", "--check")[0], 0)

        # a node killed: its hash expires (3 x 500 ms), it shows as gone;
        # the check still passes (the rest of the fleet serves)
        self.nodes[1].kill()
        wait_until(lambda: not f.redis.hgetall(self.k.node("node-b")), 10, "node-b hash expired")
        s = self.ctl_json(self.cfg, "status", "--sample-ms", "0")
        states = {n["id"]: n["state"] for n in s["nodes"]}
        self.assertEqual(states, {"node-a": "up", "node-b": "gone"})
        rc, out, _ = self.ctl(self.cfg, "status", "--sample-ms", "0")
        self.assertRegex(out, r"(?m)^node-b\s+gone\s")
        self.assertEqual(self.ctl(self.cfg, "status", "--check")[0], 0)

        # a node that lags: its heartbeat (written here, as a stuck node's
        # would be) names an older epoch and is fresh
        meta = f.redis.hgetall(self.k.pool_meta)
        now = int(time.time() * 1000)
        lag = self.k.node("node-lag")
        f.redis.cmd("HSET", lag, "id", "node-lag", "updated_at_ms", str(now),
                    "pool_version", meta["version"], "pool_epoch", "0123456789abcdef",
                    "requests_total", "0")
        f.redis.cmd("PEXPIRE", lag, "60000")
        f.redis.cmd("ZADD", self.k.nodes, str(now), "node-lag")
        rc, out, _ = self.ctl(self.cfg, "status", "--check", "--max-lag-s", "0")
        self.assertEqual(rc, 1, out)
        self.assertRegex(out, r"^FAIL: node node-lag: on another epoch for \d+ s")
        self.assertEqual(self.ctl(self.cfg, "status", "--check", "--max-lag-s", "86400")[0], 0)
        if int(meta["version"]) >= 2:
            f.redis.cmd("HSET", lag, "pool_epoch", meta["epoch"],
                        "pool_version", str(int(meta["version"]) - 1))
            rc, out, _ = self.ctl(self.cfg, "status", "--check", "--max-lag-versions", "0")
            self.assertEqual(rc, 1, out)
            self.assertIn("FAIL: node node-lag: pool version", out)
        f.redis.cmd("DEL", lag)
        f.redis.cmd("ZREM", self.k.nodes, "node-lag")

        # the provider fails: state failing, then the breaker opens
        self.prov.set("/list", scenario="server_error_500")
        wait_until(lambda: f.redis.hgetall(self.k.provider("plain")).get("breaker") == "open",
                   15, "breaker open")
        rc, out, _ = self.ctl(self.cfg, "status", "--check")
        self.assertEqual(rc, 1)
        self.assertRegex(out, r"^FAIL: provider plain: breaker open \(.*500.*\)\n$")
        self.assertNotIn("k-CTL-SECRET-31", out)
        rc, out, _ = self.ctl(self.cfg, "status", "--check", "--json")
        self.assertEqual(rc, 1)
        chk = json.loads(out)
        self.assertFalse(chk["ok"])
        self.assertIn("breaker open", chk["reason"])
        rc, out, _ = self.ctl(self.cfg, "providers")
        self.assertRegex(out, r"(?m)^plain\s+failing\s+open\s")
        self.prov.set("/list", scenario="good_text", upstreams=[PUBLIC_A, PUBLIC_B])

        # Redis restarts empty: ctl says why it cannot read, then the fleet
        # comes back (a new epoch) and the check passes again once the
        # provider's breaker lets a poll through (a fresh term resets it)
        f.redis.stop()
        rc, out, err = self.ctl(self.cfg, "status")
        self.assertEqual(rc, 1)
        self.assertRegex(err, r"^proxyfleet-ctl: redis 127\.0\.0\.1:\d+: ")
        rc, out, _ = self.ctl(self.cfg, "status", "--check")
        self.assertEqual(rc, 1)
        self.assertRegex(out, r"^FAIL: redis 127\.0\.0\.1:\d+: .+\n$")
        f.redis.start()
        wait_until(lambda: self.ctl(self.cfg, "status", "--check")[0] == 0, 60,
                   "fleet healthy again after the Redis restart")
        s = self.ctl_json(self.cfg, "status", "--sample-ms", "0")
        self.assertNotEqual(s["pool"]["epoch"], meta["epoch"])

        # the leader stops (releases the lease): no leader
        self.ctlr.stop()
        rc, out, _ = self.ctl(self.cfg, "status", "--check")
        self.assertEqual((rc, out), (1, "FAIL: no leader: no controller holds the lease\n"))
        rc, out, _ = self.ctl(self.cfg, "status", "--sample-ms", "0")
        self.assertIn("leader    none", out)


class TestCtlLabels(CtlBase):
    def test_pool_by_tier_and_label_and_label_filter(self):
        f = self.fleet
        f.start_redis()
        prov = f.start_fake_provider()
        prov.set("/list", scenario="good_text", upstreams=[PUBLIC_A])
        city = "\u5f90\u5dde\u5e02"
        prov.set("/getip", scenario="provider_shape", shape="zhima", ttl_s=600, upstreams=[
            {"host": "192.0.2.44", "port": 8000, "city": city, "isp": "\u7535\u4fe1"},
            {"host": "192.0.2.45", "port": 8000, "city": "Nanjing", "isp": "\u7535\u4fe1"}])
        ctlr = f.start_controller({"controller": {"providers": [
            {"name": "plain", "type": "api", "format": "lines", "url": prov.url("/list")},
            {"name": "zhima", "type": "api", "format": "json", "tier": 1,
             "url": prov.url("/getip?key=" + f.secret("k-ZHIMA-SECRET-19")),
             "json": {"list": "data", "host": "ip", "port": "port", "expire": "expire_time",
                      "expire_kind": "timestamp", "expire_tz_offset_min": 480,
                      "success": {"field": "success", "equals": [True]},
                      "labels": {"city": "city", "isp": "isp"}}}]}})
        wait_until(lambda: f.redis.hgetall(self.k.pool_meta).get("count") == "3", 15, "pool of 3")
        s = self.ctl_json(ctlr.config_path, "status", "--sample-ms", "0")
        pool = s["pool"]
        self.assertEqual({g["name"]: g["total"] for g in pool["by_provider"]},
                         {"zhima": 2, "plain": 1})
        self.assertEqual({g["name"]: g["total"] for g in pool["by_tier"]}, {"1": 2, "0": 1})
        self.assertEqual({g["name"]: g["total"] for g in pool["by_label"]["city"]},
                         {city: 1, "Nanjing": 1, "": 1})
        self.assertEqual({g["name"]: g["total"] for g in pool["by_label"]["isp"]},
                         {"\u7535\u4fe1": 2, "": 1})
        ups = self.ctl_json(ctlr.config_path, "upstreams", "--label", "city=" + city)["upstreams"]
        self.assertEqual([u["id"] for u in ups], ["http://192.0.2.44:8000"])
        self.assertEqual(ups[0]["tier"], 1)
        self.assertEqual(ups[0]["labels"]["isp"], "\u7535\u4fe1")
        rc, out, _ = self.ctl(ctlr.config_path, "status", "--sample-ms", "0")
        self.assertIn("by tier           1 2 (0 healthy), 0 1 (0 healthy)", out)
        self.assertIn("by city           ", out)
        self.assertIn(city, out)
        rc, out, _ = self.ctl(ctlr.config_path, "upstreams", "--provider", "zhima")
        self.assertIn("city=" + city, out)
        self.assertIn("2 of 3 upstreams", out)


ACL_USER = "pfuser"
ACL_PASS = "pf-ctl-acl-6613"
SENT_USER = "pfsentinel"
SENT_PASS = "pf-ctl-sentinel-4419"


def acl_args():
    return ["--user", ACL_USER, "on", ">" + ACL_PASS, "~*", "&*", "+@all",
            "--user", "default", "off", "--masteruser", ACL_USER, "--masterauth", ACL_PASS]


class TestCtlSentinel(CtlBase):
    def test_reads_through_acl_sentinels_and_follows_a_failover(self):
        """The ctl uses the fleet's redis section as is: an ACL user in the
        URL, sentinels with their own ACL user; after a failover it reads
        the new master."""
        f = self.fleet
        f.secret(ACL_PASS)
        f.secret(SENT_PASS)
        m = f.start_redis(name="master", args=acl_args(), auth=(ACL_USER, ACL_PASS))
        rep = f.start_replica(m, args=acl_args(), auth=(ACL_USER, ACL_PASS))
        ss = f.start_sentinels(m, 3, auth=(ACL_USER, ACL_PASS), acl_user=(SENT_USER, SENT_PASS),
                               failover_timeout_ms=5000)
        rcfg = f.sentinel_redis_config(ss, "pfmaster",
                                       url="redis://%s:%s@ignored/0" % (ACL_USER, ACL_PASS),
                                       sentinel_user=SENT_USER, sentinel_password=SENT_PASS,
                                       connect_timeout_ms=500, command_timeout_ms=500)
        ctlr = f.start_controller({"redis": rcfg, "controller": {
            "lease_ms": 1500, "providers": [{"name": "static", "type": "static",
                                             "upstreams": ["http://" + PUBLIC_A]}]}})
        f.start_node({"redis": rcfg, "node": {"report_interval_ms": 300}}, name="node-s")
        wait_until(lambda: m.hgetall(self.k.pool_meta).get("count") == "1", 15, "a publish")
        wait_until(lambda: self.ctl(ctlr.config_path, "status", "--check")[0] == 0, 15,
                   "check ok through the sentinels")
        # --check does not wait for nodes: the node's first heartbeat may come later
        wait_until(lambda: self.ctl_json(ctlr.config_path, "status", "--sample-ms", "0")["nodes"],
                   15, "the node's heartbeat read through the sentinels")
        s = self.ctl_json(ctlr.config_path, "status", "--sample-ms", "0")
        self.assertEqual(s["redis"], "127.0.0.1:%d" % m.port)
        self.assertEqual([n["id"] for n in s["nodes"]], ["node-s"])
        rc, out, err = self.ctl(ctlr.config_path, "status", "--sample-ms", "0")
        self.assertEqual(rc, 0, err)
        self.assertNotIn(ACL_PASS, out + err)
        self.assertNotIn(SENT_PASS, out + err)

        self.assertEqual(ss[0].cmd("SENTINEL", "FAILOVER", "pfmaster"), "OK")
        wait_until(lambda: rep.role() == "master", 20, "the replica promoted")
        want = "127.0.0.1:%d" % rep.port
        wait_until(lambda: self.ctl_json(ctlr.config_path, "status", "--sample-ms", "0")["redis"]
                   == want, 20, "ctl reading the new master")
        wait_until(lambda: self.ctl(ctlr.config_path, "status", "--check")[0] == 0, 20,
                   "check ok on the new master")


if __name__ == "__main__":
    unittest.main()
