"""The node's Redis sync (node/redis_link.c) against a real redis-server and
the real proxyfleet-node in pool mode. No controller: each test writes the
snapshot by hand exactly as docs/redis-keys.md describes (pool:meta,
pool:upstreams, PUBLISH "<version> <epoch>" on pool:events), so the node's
reaction to every shape of Redis data can be driven precisely.

What the node does is read back from its own log lines (redis_link.c):
  "redis: pool reloaded: version V (was W) epoch E, N upstreams, S skipped, ..."
  "redis: connected to HOST:PORT db D, subscribed to CHANNEL"
  "redis: disconnected from HOST:PORT: REASON; keeping pool version V"
  "redis: reconnecting to HOST:PORT in MS ms (attempt K)"
  "redis: malformed pool notice ..."
and from real traffic: a client request through the pool node must reach
the origin through the upstream named in the snapshot."""

import json
import os
import re
import subprocess
import time
import unittest

from pf_harness import Fleet, curl, wait_until

EPOCH_A = "aaaaaaaaaaaaaaaa"
EPOCH_B = "bbbbbbbbbbbbbbbb"
EPOCH_C = "cccccccccccccccc"
REDIS_TIMEOUT_MS = 500       # connect and command deadlines given to the node
CHECK_MS = 5000              # redis_link.c's periodic meta check
RELOAD_RE = re.compile(r"redis: pool reloaded: version (\d+) \(was -?\d+\) epoch (\S+), "
                       r"(\d+) upstreams, (\d+) skipped")


def record(host, port, **extra):
    rec = {"scheme": "http", "host": host, "port": port, "provider": "hand",
           "expires_at_ms": 0, "weight": 1, "latency_ms": 0}
    rec.update(extra)
    return json.dumps(rec)


class NodeRedis(unittest.TestCase):
    def setUp(self):
        self.fleet = Fleet(self)
        self.keys = self.fleet.keys

    # -- building blocks ------------------------------------------------------

    def start_world(self):
        f = self.fleet
        self.redis = f.start_redis()
        self.origin = f.start_origin()
        self.upstream = f.direct_upstream_node(name="upstream")
        self.upstream2 = f.direct_upstream_node(name="upstream2")

    def start_node(self, redis_url=None):
        redis = {"connect_timeout_ms": REDIS_TIMEOUT_MS, "command_timeout_ms": REDIS_TIMEOUT_MS}
        if redis_url:
            redis["url"] = redis_url
        self.node = self.fleet.start_node({
            "redis": redis,
            "node": {"mode": "pool", "destination_allow": ["127.0.0.0/8"],
                     "connect_timeout_ms": 2000, "report_interval_ms": 500},
        }, name="node-redis")
        return self.node

    def seed(self, version, epoch, upstreams, publish=True, extra_records=None):
        """Writes a whole snapshot by hand (as the controller's Lua would)."""
        r, k = self.redis, self.keys
        r.cmd("DEL", k.pool_upstreams)
        for u in upstreams:
            r.cmd("HSET", k.pool_upstreams, "http://127.0.0.1:%d" % u.port,
                  record("127.0.0.1", u.port))
        for field, value in (extra_records or {}).items():
            r.cmd("HSET", k.pool_upstreams, field, value)
        r.cmd("HSET", k.pool_meta, "version", str(version), "epoch", epoch,
              "count", str(len(upstreams)), "updated_at_ms", str(int(time.time() * 1000)),
              "controller_id", "by-hand")
        if publish:
            self.publish("%d %s" % (version, epoch))

    def publish(self, payload):
        self.redis.cmd("PUBLISH", self.keys.pool_channel, payload)

    def log(self):
        return self.node.log_text()

    def reloads(self):
        """[(version, epoch, count, skipped)] from the node log, in order."""
        return [(int(v), e, int(n), int(s)) for v, e, n, s in RELOAD_RE.findall(self.log())]

    def wait_reload(self, version, epoch, count=None, timeout=10.0):
        def seen():
            for v, e, n, s in self.reloads():
                if v == version and e == epoch and (count is None or n == count):
                    return (v, e, n, s)
            return None
        return wait_until(seen, timeout, "node to load snapshot %d %s" % (version, epoch))

    def count_lines(self, needle):
        return self.log().count(needle)

    def wait_log(self, needle, min_count=1, timeout=10.0):
        return wait_until(lambda: self.count_lines(needle) >= min_count, timeout,
                          "%d x %r in the node log" % (min_count, needle))

    def assert_serves_via(self, path="/via"):
        r = curl("-x", self.node.proxy_url, self.origin.url(path), max_time=10)
        self.assertEqual(r.status, 200, "via pool node: %r stderr=%r" % (r.body[:300], r.stderr))
        self.assertEqual(json.loads(r.body)["path"], path)

    # -- tests ----------------------------------------------------------------

    def test_load_at_start_notice_duplicate_older_new_epoch(self):
        self.start_world()
        self.seed(1, EPOCH_A, [self.upstream], publish=False)
        self.start_node()
        self.wait_reload(1, EPOCH_A, 1)
        self.assert_serves_via("/start")

        # A newer version announced: reload.
        self.seed(2, EPOCH_A, [self.upstream, self.upstream2])
        self.wait_reload(2, EPOCH_A, 2)
        self.assert_serves_via("/v2")

        # Duplicate and older notices: ignored, no reload.
        n = len(self.reloads())
        self.publish("2 " + EPOCH_A)
        self.publish("1 " + EPOCH_A)
        time.sleep(1.0)
        self.assertEqual(len(self.reloads()), n, "duplicate/older notices must be ignored")

        # A new epoch with a lower version: full reload.
        self.seed(1, EPOCH_B, [self.upstream2])
        self.wait_reload(1, EPOCH_B, 1)
        self.assert_serves_via("/epoch-b")

    def seed_big(self, version, epoch, n):
        """A snapshot of <n> distinct upstreams, all the real upstream with
        their own user name (it has no users and ignores the credentials)."""
        r, k, port = self.redis, self.keys, self.upstream.port
        staging = k.pool_upstreams + ":staging"
        r.cmd("DEL", staging)
        for lo in range(0, n, 1000):
            args = []
            for i in range(lo, min(n, lo + 1000)):
                args += ["http://127.0.0.1:%d#v%du%d" % (port, version, i),
                         record("127.0.0.1", port, user="v%du%d" % (version, i), **{"pass": "p"})]
            r.cmd("HSET", staging, *args)
        # One atomic swap, as the controller's Lua publish is.
        r.cmd("EVAL", "redis.call('RENAME', KEYS[1], KEYS[2]); "
              "redis.call('HSET', KEYS[3], 'version', ARGV[1], 'epoch', ARGV[2], 'count', ARGV[3]); "
              "return redis.call('PUBLISH', KEYS[4], ARGV[1] .. ' ' .. ARGV[2])", "4",
              staging, k.pool_upstreams, k.pool_meta, k.pool_channel, str(version), epoch, str(n))

    def test_large_snapshot_applied_in_slices_newest_wins(self):
        """A large snapshot is applied over many loop turns while requests
        keep being served; a newer one read meanwhile supersedes it (or
        follows it), and the pool never goes back to an older version."""
        self.start_world()
        self.seed(1, EPOCH_A, [self.upstream], publish=False)
        self.start_node()
        self.wait_reload(1, EPOCH_A, 1)
        self.seed_big(2, EPOCH_A, 4000)
        self.seed_big(3, EPOCH_A, 5000)
        self.assert_serves_via("/during-apply")
        self.wait_reload(3, EPOCH_A, 5000, timeout=30)
        self.assert_serves_via("/after-apply")
        versions = [v for v, _, _, _ in self.reloads()]
        self.assertEqual(versions, sorted(versions), "pool went back: %r" % versions)
        self.assertEqual(self.reloads()[-1], (3, EPOCH_A, 5000, 0))
        m = self.node.metrics()
        self.assertEqual(m["pf_node_pool_version"], 3)
        self.assertGreater(m["pf_node_pool_apply_slices"], 1)
        self.assertGreater(m["pf_node_pool_apply_max_slice_seconds"], 0)
        self.assertGreaterEqual(m["pf_node_pool_apply_wall_seconds"],
                                m["pf_node_pool_apply_max_slice_seconds"] * 0.5)
        self.assertIn("pf_node_redis_apply_superseded_total", m)
        # the longest slice has one name (it had three)
        for gone in ("pf_node_pool_last_apply_seconds", "pf_node_pool_apply_seconds",
                     "pf_node_pool_apply_total_seconds"):
            self.assertNotIn(gone, m)
        status, body, _ = self.node.admin("/stats")
        self.assertEqual(status, 200)
        s = json.loads(body)
        self.assertEqual(s["pool_version"], 3)
        for f in ("pool_apply_max_slice_seconds", "pool_apply_wall_seconds", "pool_apply_slices"):
            self.assertEqual(s[f], m["pf_node_" + f], f)
        # Duplicates of the loaded version are ignored.
        n = len(self.reloads())
        self.publish("3 " + EPOCH_A)
        self.publish("2 " + EPOCH_A)
        time.sleep(1.0)
        self.assertEqual(len(self.reloads()), n)

    def test_lost_notice_is_caught_by_the_periodic_check(self):
        self.start_world()
        self.seed(1, EPOCH_A, [self.upstream], publish=False)
        self.start_node()
        self.wait_reload(1, EPOCH_A, 1)
        self.seed(2, EPOCH_A, [self.upstream2], publish=False)   # no notice
        self.wait_reload(2, EPOCH_A, 1, timeout=CHECK_MS / 1000 + 5)

    def test_garbage_never_crashes_and_keeps_the_cache(self):
        self.start_world()
        self.seed(1, EPOCH_A, [self.upstream], publish=False)
        self.start_node()
        self.wait_reload(1, EPOCH_A, 1)
        r, k = self.redis, self.keys

        # Malformed notices: each logged, none trusted (meta re-checked).
        garbage = ["hello", "3", "3 a b", "03 " + EPOCH_A, "-1 x", "99999999999999999999 x",
                   "3 " + "x" * 60, "", "\u00ff\u00fe 1"]
        for g in garbage:
            self.publish(g)
        self.wait_log("malformed pool notice", len(garbage))

        # Bad records are skipped and counted, with one warning per reload.
        bad = {"bad-json": "not json", "bad-scheme": '{"scheme":"ftp","host":"x","port":1}',
               "bad-port": '{"scheme":"http","host":"x","port":70000}', "empty": "",
               "binary": "\xff\xfe" * 50}
        self.seed(2, EPOCH_A, [self.upstream], extra_records=bad)
        got = self.wait_reload(2, EPOCH_A, 1)
        self.assertEqual(got[3], len(bad))
        self.assertEqual(self.count_lines("skipped %d bad upstream records" % len(bad)), 1)
        self.assert_serves_via("/after-bad")

        # Wrong key types: WRONGTYPE replies, the cache is kept.
        r.cmd("DEL", k.pool_upstreams)
        r.cmd("SET", k.pool_upstreams, "not a hash")
        r.cmd("HSET", k.pool_meta, "version", "3")
        self.publish("3 " + EPOCH_A)
        self.wait_log("WRONGTYPE")
        r.cmd("DEL", k.pool_meta)
        r.cmd("RPUSH", k.pool_meta, "not a hash")
        self.publish("4 " + EPOCH_A)
        self.wait_log("WRONGTYPE", 2)
        r.cmd("DEL", k.pool_meta)
        r.cmd("HSET", k.pool_meta, "version", "abc", "epoch", EPOCH_C)
        self.publish("5 " + EPOCH_C)
        self.wait_log("bad version")
        # Snapshot absent: the node keeps what it has.
        r.cmd("DEL", k.pool_meta, k.pool_upstreams)
        self.publish("6 " + EPOCH_C)
        self.wait_log("no pool snapshot in Redis")
        self.assertTrue(self.node.running())
        self.assert_serves_via("/still-serving")
        self.assertEqual(self.reloads()[-1][:2], (2, EPOCH_A))

        # A huge count in meta is not trusted; an empty pool is a valid pool.
        r.cmd("HSET", k.pool_meta, "version", "10", "epoch", EPOCH_C, "count", "9" * 30)
        self.publish("10 " + EPOCH_C)
        self.wait_reload(10, EPOCH_C, 0)

    def test_redis_outage_restart_and_convergence(self):
        self.start_world()
        self.seed(1, EPOCH_A, [self.upstream], publish=False)
        self.start_node()
        self.wait_reload(1, EPOCH_A, 1)
        port = self.redis.port

        self.redis.stop()
        self.wait_log("disconnected from 127.0.0.1:%d" % port)
        self.wait_log("(attempt 4)", timeout=15)
        delays = [int(d) for d in re.findall(r"reconnecting to \S+ in (\d+) ms", self.log())]
        self.assertTrue(all(0 <= d <= 5000 for d in delays), delays)
        # While Redis is down the cache is kept: traffic still flows.
        self.assert_serves_via("/during-outage")

        # Restart empty: reconnect, resubscribe, keep the cache.
        connected = self.count_lines("redis: connected to 127.0.0.1:%d" % port)
        self.redis.start()
        self.wait_log("redis: connected to 127.0.0.1:%d" % port, connected + 1, timeout=15)
        self.wait_log("no pool snapshot in Redis")
        self.assert_serves_via("/after-empty-restart")

        # A new snapshot with a new epoch (as a controller would publish after
        # finding Redis empty) is picked up through the new subscription.
        self.seed(1, EPOCH_B, [self.upstream2])
        self.wait_reload(1, EPOCH_B, 1)
        self.assert_serves_via("/epoch-b")

    def test_silent_partition_hits_the_command_deadline(self):
        self.start_world()
        self.seed(1, EPOCH_A, [self.upstream], publish=False)
        self.start_node()
        self.wait_reload(1, EPOCH_A, 1)
        port = self.redis.port
        connected = self.count_lines("redis: connected to 127.0.0.1:%d" % port)
        self.redis.pause()                       # SIGSTOP: no RST, no answers
        try:
            # Bounded: the next command (report every 500 ms, meta check every
            # 5 s) waits at most command_timeout_ms.
            self.wait_log("command timeout after %d ms" % REDIS_TIMEOUT_MS,
                          timeout=CHECK_MS / 1000 + 5)
            self.wait_log("connect timeout after %d ms" % REDIS_TIMEOUT_MS, timeout=10)
            self.assert_serves_via("/while-stopped")
        finally:
            self.redis.resume()
        self.wait_log("redis: connected to 127.0.0.1:%d" % port, connected + 1, timeout=15)
        self.seed(2, EPOCH_A, [self.upstream2])
        self.wait_reload(2, EPOCH_A, 1)

    def test_report_hash_ttl_and_nodes_zset(self):
        self.start_world()
        self.seed(1, EPOCH_A, [self.upstream], publish=False)
        self.redis.cmd("ZADD", self.keys.nodes, "1", "ancient-node")
        self.start_node()
        r, k = self.redis, self.keys
        h = wait_until(lambda: (lambda x: x if x.get("pool_version") == "1" else None)(
            r.hgetall(k.node(self.node.id))), 10, "node report hash")
        self.assertEqual(h.get("pool_epoch"), EPOCH_A)
        pttl = r.cmd("PTTL", k.node(self.node.id))
        self.assertGreater(pttl, 0)
        self.assertLessEqual(pttl, 3 * 500 + 100)
        score = r.cmd("ZSCORE", k.nodes, self.node.id)
        self.assertLess(abs(float(score) - time.time() * 1000), 60000)
        # Entries older than an hour are trimmed by the reports.
        wait_until(lambda: r.cmd("ZSCORE", k.nodes, "ancient-node") is None, 5,
                   "old zset entry trimmed")

    def test_auth_and_db_password_never_logged(self):
        self.start_world()
        password = self.fleet.secret("s3cr3t-redis-pw")
        port = self.redis.port
        self.redis.cmd("CONFIG", "SET", "requirepass", password)

        def acli(*args):
            return subprocess.run(["redis-cli", "-p", str(port), "-n", "3", "--no-auth-warning",
                                   "-a", password] + [str(a) for a in args],
                                  capture_output=True, text=True, timeout=10).stdout
        k = self.keys
        acli("HSET", k.pool_upstreams, "http://127.0.0.1:%d" % self.upstream.port,
             record("127.0.0.1", self.upstream.port))
        acli("HSET", k.pool_meta, "version", "7", "epoch", EPOCH_A, "count", "1")
        self.start_node("redis://:%s@127.0.0.1:%d/3" % (password, port))
        self.wait_reload(7, EPOCH_A, 1)
        self.assertIn("db 3", self.log())
        self.assert_serves_via("/auth")
        try:
            # Restore a password-less server so the harness helpers keep working.
            acli("CONFIG", "SET", "requirepass", "")
        except subprocess.SubprocessError:
            pass
        # The fleet's cleanup scans the log for the password.


if __name__ == "__main__":
    unittest.main()
