"""The pool log (docs/redis-keys.md, "{pf}:v1:pool:log") with the real parts:
a real redis-server, the real controller with a file provider, real pool
nodes and a direct-mode node as the one upstream every record points at.

What is checked:
  * under a randomized sequence of changes (ids added and removed, records
    changed under the same id: passwords, weights through the file's user
    names), a node that follows the log ends with the same pool, record for
    record, as a node that read the snapshot whole, and as Redis holds; it
    did follow the log ("pool updated" lines) and never fell back;
  * each fallback, with the node held still (SIGSTOP) while the log or the
    meta is tampered with, then let go: a gap (an entry deleted between
    two), a trimmed log (emptied), an epoch change (the meta names another
    epoch), a digest mismatch (the meta's digest altered): the node logs
    why the log is not usable, reads the whole pool and serves what Redis
    holds;
  * the reconnect herd: six nodes that serve a pool learn of a new epoch in
    the same notice and, with node.resync_spread_ms 3000, read it whole at
    spread-out times (not all within 300 ms of each other: with six
    uniform draws over 3 s that fails about once in 20,000 runs), every
    one within the spread plus a margin.

Node log lines used (node/pool_sync.c):
  "redis: pool updated: version V (was W) epoch E, N upstreams, K changes from the pool log, ..."
  "redis: pool reloaded: version V (was W) epoch E, N upstreams, ..."
  "redis: pool log not usable after version V (<reason>: ...); reading the whole pool" """

import json
import os
import random
import re
import signal
import sys
import time
import unittest

from pf_harness import Fleet, wait_until

UPDATED_RE = re.compile(r"redis: pool updated: version (\d+) ")
RELOADED_RE = re.compile(r"^(\S+) .*redis: pool reloaded: version (\d+) \(was -?\d+\) epoch (\S+),",
                         re.M)
FALLBACK_RE = re.compile(r"redis: pool log not usable after version \d+ \((\w+)")


class PoolDelta(unittest.TestCase):
    def setUp(self):
        self.fleet = Fleet(self)
        self.redis = self.fleet.start_redis()
        self.keys = self.fleet.keys
        self.up = self.fleet.direct_upstream_node()
        self.list_path = os.path.join(self.fleet.tmp, "upstreams.txt")
        self.entries = {}        # index -> (user, password)

    # -- building blocks ------------------------------------------------------

    def write_list(self):
        tmp = self.list_path + ".tmp"
        with open(tmp, "w") as f:
            for i in sorted(self.entries):
                user, pw = self.entries[i]
                f.write("127.0.0.1:%d:%s:%s\n" % (self.up.port, user, pw))
        os.rename(tmp, self.list_path)

    def start_controller(self):
        return self.fleet.start_controller({"controller": {"providers": [
            {"name": "file", "type": "file", "path": self.list_path, "format": "lines",
             "interval_ms": 100, "allow_private": True}]}})

    def start_node(self, name, **extra):
        node = {"upstream_allow_private": True, "destination_allow": ["127.0.0.0/8"],
                "report_interval_ms": 200, "resync_spread_ms": 0,
                "snapshot_file": os.path.join(self.fleet.tmp, name + "-pool.json")}
        node.update(extra)
        return self.fleet.start_node({"node": node}, name=name)

    def meta(self):
        return self.redis.hgetall(self.keys.pool_meta)

    def meta_version(self):
        m = self.meta()
        return int(m.get("version", 0))

    def wait_version(self, node, version, timeout=20):
        wait_until(lambda: node.metric("pf_node_pool_version") == version, timeout,
                   "node %s at pool version %d" % (node.id, version))

    def wait_published(self, above):
        wait_until(lambda: self.meta_version() > above, 15, "a version above %d" % above)
        # the file may have changed again meanwhile: let the controller settle
        last = -1
        while last != self.meta_version():
            last = self.meta_version()
            time.sleep(0.4)
        return last

    def redis_pool(self):
        """Redis's pool as {id: record dict}."""
        raw = self.redis.hgetall(self.keys.pool_upstreams)
        return {k: json.loads(v) for k, v in raw.items()}

    def node_pool(self, node, version):
        """The pool node <node> serves at <version>, from its snapshot file,
        as {id: record dict}."""
        path = node.config["node"]["snapshot_file"]

        def saved():
            try:
                with open(path) as f:
                    doc = json.load(f)
            except (OSError, ValueError):
                return None
            return doc if doc.get("version") == version else None

        doc = wait_until(saved, 10, "%s saved version %d" % (node.id, version))
        out = {}
        for rec in doc["upstreams"]:
            user = rec.get("user", "")
            out[(rec["scheme"], rec["host"], rec["port"], user)] = rec
        return out

    def assert_same_pool(self, node, version):
        """The node's pool holds exactly Redis's records (compared by
        address and user, every field). Passwords are sealed (the harness
        sets a credential key) under a fresh nonce at every encode, so the
        sealed texts are left out here: they enter through the pool digest,
        which covers each password keyed, and which the node checked
        against the meta after every log apply."""
        want = {}
        for rec in self.redis_pool().values():
            rec.pop("pass_sealed", None)
            want[(rec["scheme"], rec["host"], rec["port"], rec.get("user", ""))] = rec
        got = self.node_pool(node, version)
        for rec in got.values():
            self.assertIn("pass_sealed", rec, "%s saved a password sealed" % node.id)
            rec.pop("pass_sealed", None)
        self.assertEqual(sorted(got), sorted(want), "%s: upstream sets differ" % node.id)
        for k in want:
            self.assertEqual(got[k], want[k], "%s: record of %s differs" % (node.id, k))

    def mutate(self, rng, gen):
        """One random change: add, remove, rename (new id) or a new password
        (same id, new record) on a few entries."""
        for _ in range(rng.randint(1, 4)):
            kind = rng.choice(("add", "remove", "rename", "password"))
            if kind == "add" or len(self.entries) < 5:
                i = max(self.entries, default=0) + 1
                self.entries[i] = ("u%d" % i, "p0")
            elif kind == "remove":
                del self.entries[rng.choice(sorted(self.entries))]
            elif kind == "rename":
                i = rng.choice(sorted(self.entries))
                self.entries[i] = ("u%dg%d" % (i, gen), self.entries[i][1])
            else:
                i = rng.choice(sorted(self.entries))
                self.entries[i] = (self.entries[i][0], "p%d" % gen)
        self.write_list()

    def seed_list(self, n):
        self.entries = {i: ("u%d" % i, "p0") for i in range(1, n + 1)}
        self.write_list()

    # -- tests ----------------------------------------------------------------

    def test_log_and_whole_reads_give_identical_pools(self):
        seed = int(os.environ.get("PF_TEST_SEED", random.randrange(1 << 30)))
        sys.stderr.write("test_pool_delta seed %d (PF_TEST_SEED)\n" % seed)
        rng = random.Random(seed)
        self.seed_list(40)
        self.start_controller()
        v = self.wait_published(0)
        a = self.start_node("follower")
        self.wait_version(a, v)
        for gen in range(1, 16):
            self.mutate(rng, gen)
            v = self.wait_published(v)
            self.wait_version(a, v)
        b = self.start_node("whole")
        self.wait_version(b, v)
        self.assert_same_pool(a, v)
        self.assert_same_pool(b, v)
        log = a.log_text()
        self.assertGreaterEqual(len(UPDATED_RE.findall(log)), 5,
                                "the follower applied the log, not whole reads")
        self.assertEqual(FALLBACK_RE.findall(log), [], "no fallback without a reason")
        self.assertGreaterEqual(a.metric("pf_node_redis_pool_log_applies_total"), 5)
        self.assertEqual(a.metric("pf_node_redis_pool_log_fallbacks_total"), 0)
        self.assertEqual(UPDATED_RE.findall(b.log_text()), [],
                         "a node started at the last version reads it whole")

    def fallback_case(self, tamper, reason, changes=2):
        """Holds the node still while the controller publishes <changes>
        log entries, applies <tamper>(first_new, last) to Redis, lets the
        node go and checks it gives the log up for <reason>, then serves
        exactly what Redis holds."""
        self.seed_list(20)
        self.start_controller()
        v = self.wait_published(0)
        node = self.start_node("held")
        self.wait_version(node, v)
        rng = random.Random(7)
        node.signal(signal.SIGSTOP)
        try:
            first = v + 1
            for gen in range(1, changes + 1):
                self.mutate(rng, 100 + gen)
                v = self.wait_published(v)
            self.assertGreaterEqual(v - first + 1, 1)
            tamper(first, v)
        finally:
            node.signal(signal.SIGCONT)
        wait_until(lambda: reason in FALLBACK_RE.findall(node.log_text()), 10,
                   "the node gave the log up for %s" % reason)
        # The controller may republish meanwhile (it rewrites a meta that
        # names another epoch): compare once node and Redis stay in step.
        seen = []

        def settled():
            v_now = self.meta_version()
            ok = node.metric("pf_node_pool_version") == v_now
            seen.append(v_now if ok else None)
            return ok and len(seen) >= 2 and seen[-2] == v_now

        wait_until(settled, 20, "node %s in step with Redis" % node.id, interval=0.5)
        self.assertGreaterEqual(node.metrics().get(
            'pf_node_redis_pool_log_fallbacks_total{reason="%s"}' % reason, 0), 1)
        self.assert_same_pool(node, seen[-1])

    def test_fallback_gap(self):
        def tamper(first, last):
            self.assertGreaterEqual(last - first, 2, "three entries to delete the middle one")
            self.redis.cmd("XDEL", self.keys.base + ":pool:log", "%d-0" % (first + 1))
        self.fallback_case(tamper, "gap", changes=3)

    def test_fallback_trimmed(self):
        def tamper(first, last):
            self.redis.cmd("XTRIM", self.keys.base + ":pool:log", "MAXLEN", "0")
        self.fallback_case(tamper, "trimmed")

    def test_fallback_epoch(self):
        def tamper(first, last):
            self.redis.cmd("HSET", self.keys.pool_meta, "epoch", "another0epoch000")
        self.fallback_case(tamper, "epoch")

    def test_fallback_digest(self):
        def tamper(first, last):
            d = self.meta()["digest"]
            self.redis.cmd("HSET", self.keys.pool_meta, "digest",
                           "0000000000000000" if d != "0000000000000000" else "0000000000000001")
        self.fallback_case(tamper, "digest")

    def test_resync_is_spread(self):
        self.seed_list(30)
        ctl = self.start_controller()
        v = self.wait_published(0)
        nodes = [self.start_node("herd%d" % i, resync_spread_ms=3000) for i in range(6)]
        for n in nodes:
            self.wait_version(n, v)
        ctl.stop()
        # A new epoch, as a restarted controller or an emptied Redis gives:
        # every node hears it in the same notice.
        self.redis.cmd("HSET", self.keys.pool_meta, "epoch", "herdepoch0000001")
        t0 = time.time()
        self.redis.cmd("PUBLISH", self.keys.pool_channel, "%d herdepoch0000001" % v)
        at = {}

        def all_reloaded():
            for n in nodes:
                for stamp, ver, epoch in RELOADED_RE.findall(n.log_text()):
                    if epoch == "herdepoch0000001":
                        at[n.id] = stamp
            return len(at) == len(nodes)

        wait_until(all_reloaded, 15, "every node read the new epoch")
        took = time.time() - t0
        ms = sorted(self.stamp_ms(s) for s in at.values())
        sys.stderr.write("herd: reads at +%s ms\n" % [m - ms[0] for m in ms])
        self.assertGreater(ms[-1] - ms[0], 300, "whole reads spread over resync_spread_ms")
        self.assertLess(took, 3.0 + 7.0, "every node within the spread plus a margin")

    def test_maxclients_is_a_failure_for_backoff(self):
        """A Redis at maxclients accepts the connection and answers
        "ERR max number of clients reached": the node counts it as a failed
        connect, so its reconnect delays grow (attempt 1, 2, 3 ...) instead
        of hammering Redis, and it connects once a slot frees."""
        import socket
        full = self.fleet.start_redis(name="full", args=("--maxclients", "2"))
        hogs = [socket.create_connection(("127.0.0.1", full.port)) for _ in range(2)]
        try:
            for hog in hogs:   # both slots taken (a node needs two connections)
                hog.sendall(b"PING\r\n")
                self.assertTrue(hog.recv(64).startswith(b"+PONG"))
            node = self.fleet.start_node({"node": {"resync_spread_ms": 0}}, name="crowded",
                                         redis=full)
            attempt_re = re.compile(r"reconnecting to \S+ in \d+ ms \(attempt (\d+)\)")
            wait_until(lambda: len(attempt_re.findall(node.log_text())) >= 3, 30,
                       "three refused connects")
            log = node.log_text()
            self.assertIn("max number of clients", log)
            attempts = [int(a) for a in attempt_re.findall(log)]
            self.assertEqual(attempts[:3], [1, 2, 3], "each refusal a failure in a row")
        finally:
            for hog in hogs:
                hog.close()
        wait_until(lambda: "redis: connected to" in node.log_text(), 30,
                   "connected once a client slot freed")

    @staticmethod
    def stamp_ms(stamp):
        # 2026-12-07T20:02:33.256Z
        t = time.strptime(stamp[:19], "%Y-%m-%dT%H:%M:%S")
        import calendar
        return calendar.timegm(t) * 1000 + int(stamp[20:23])


if __name__ == "__main__":
    unittest.main()
