"""node.snapshot_file (node/snapshot_file.c) against a real redis-server, real
pool nodes and real upstream proxies (direct-mode nodes). Snapshots are
written into Redis by hand as in test_node_redis.py.

What is checked:
  * a pool node saves the pool it serves to the file (version, epoch,
    mode 0600) once it changes;
  * a node started while Redis is DOWN serves from the file at once (no 503);
  * once Redis answers with a newer snapshot (new epoch), the node converges
    to it and rewrites the file;
  * a corrupt file is logged, the node starts with an empty pool (503) and
    recovers as soon as Redis provides a pool.

Node log lines used (node/main.c, node/report.c, node/redis_link.c):
  "loaded N upstreams from snapshot file PATH (version V, epoch E)"
  "saved N upstreams to snapshot file PATH (version V, epoch E)"
  "snapshot file PATH: bad JSON at byte ..."
  "redis: pool reloaded: version V (was W) epoch E, N upstreams, ..." """

import json
import os
import re
import stat
import time
import unittest

from pf_harness import Fleet, curl, wait_until

EPOCH_A = "aaaaaaaaaaaaaaaa"
EPOCH_B = "bbbbbbbbbbbbbbbb"
REDIS_TIMEOUT_MS = 500
RELOAD_RE = re.compile(r"redis: pool reloaded: version (\d+) \(was -?\d+\) epoch (\S+), "
                       r"(\d+) upstreams")


def record(host, port):
    return json.dumps({"scheme": "http", "host": host, "port": port, "provider": "hand",
                       "expires_at_ms": 0, "weight": 1, "latency_ms": 0})


class NodeSnapshotFile(unittest.TestCase):
    def setUp(self):
        self.fleet = Fleet(self)
        self.keys = self.fleet.keys
        self.path = os.path.join(self.fleet.tmp, "pool-snapshot.json")

    # -- building blocks ------------------------------------------------------

    def seed(self, version, epoch, upstreams, publish=True):
        r, k = self.redis, self.keys
        r.cmd("DEL", k.pool_upstreams)
        for u in upstreams:
            r.cmd("HSET", k.pool_upstreams, "http://127.0.0.1:%d" % u.port,
                  record("127.0.0.1", u.port))
        r.cmd("HSET", k.pool_meta, "version", str(version), "epoch", epoch,
              "count", str(len(upstreams)), "updated_at_ms", str(int(time.time() * 1000)),
              "controller_id", "by-hand")
        if publish:
            r.cmd("PUBLISH", k.pool_channel, "%d %s" % (version, epoch))

    def start_node(self, name):
        return self.fleet.start_node({
            "redis": {"connect_timeout_ms": REDIS_TIMEOUT_MS,
                      "command_timeout_ms": REDIS_TIMEOUT_MS},
            "node": {"mode": "pool", "destination_allow": ["127.0.0.0/8"],
                     "connect_timeout_ms": 2000, "report_interval_ms": 300,
                     "snapshot_file": self.path},
        }, name=name)

    def read_file(self):
        try:
            with open(self.path) as f:
                return json.load(f)
        except (OSError, ValueError):
            return None

    def wait_file(self, version, epoch, timeout=10.0):
        def ok():
            d = self.read_file()
            return d if d and d.get("version") == version and d.get("epoch") == epoch else None
        return wait_until(ok, timeout, "snapshot file at version %d %s" % (version, epoch))

    def wait_reload(self, node, version, epoch, timeout=15.0):
        def seen():
            return any(int(v) == version and e == epoch
                       for v, e, _ in RELOAD_RE.findall(node.log_text()))
        wait_until(seen, timeout, "%s to load snapshot %d %s" % (node.name, version, epoch))

    def get(self, node, path):
        return curl("-x", node.proxy_url, self.origin.url(path), max_time=10)

    def assert_serves(self, node, path):
        r = self.get(node, path)
        self.assertEqual(r.status, 200, "via %s: %r stderr=%r" % (node.name, r.body[:300], r.stderr))
        self.assertEqual(json.loads(r.body)["path"], path)

    def pool_version(self, node):
        status, body, _ = node.admin("/stats")
        self.assertEqual(status, 200)
        return json.loads(body)["pool_version"]

    # -- tests ----------------------------------------------------------------

    def test_boot_from_file_while_redis_is_down_then_redis_wins(self):
        f = self.fleet
        self.redis = f.start_redis()
        self.origin = f.start_origin()
        up1 = f.direct_upstream_node(name="up1")
        up2 = f.direct_upstream_node(name="up2")

        # 1. Redis up: the node loads version 3 and saves it to the file.
        self.seed(3, EPOCH_A, [up1], publish=False)
        node = self.start_node("node-first")
        self.wait_reload(node, 3, EPOCH_A)
        self.assert_serves(node, "/first")
        d = self.wait_file(3, EPOCH_A)
        self.assertEqual(len(d["upstreams"]), 1)
        self.assertEqual(d["upstreams"][0]["port"], up1.port)
        self.assertIsInstance(d["saved_at_ms"], int)
        self.assertEqual(stat.S_IMODE(os.stat(self.path).st_mode), 0o600)
        self.assertFalse(os.path.exists(self.path + ".tmp"))
        wait_until(lambda: "saved 1 upstreams to snapshot file %s (version 3, epoch %s)"
                   % (self.path, EPOCH_A) in node.log_text(), 5, "save log line")
        node.stop()

        # 2. Redis gone: a new node serves from the file at once.
        self.redis.kill()
        node2 = self.start_node("node-second")
        self.assertIn("loaded 1 upstreams from snapshot file %s (version 3, epoch %s)"
                      % (self.path, EPOCH_A), node2.log_text())
        for i in range(3):
            self.assert_serves(node2, "/from-file-%d" % i)
        self.assertEqual(self.pool_version(node2), 3)

        # 3. Redis back (empty) with a newer snapshot under a new epoch and
        # a lower version: the node converges to it and rewrites the file.
        self.redis.start()
        self.seed(1, EPOCH_B, [up2], publish=False)
        self.wait_reload(node2, 1, EPOCH_B, timeout=30.0)
        self.assertEqual(self.pool_version(node2), 1)
        d = self.wait_file(1, EPOCH_B)
        self.assertEqual([u["port"] for u in d["upstreams"]], [up2.port])
        # only up2 is in the pool now: traffic keeps flowing with up1 gone
        up1.stop()
        self.assert_serves(node2, "/from-redis")

    def test_corrupt_file_starts_empty_until_redis_provides(self):
        f = self.fleet
        self.redis = f.start_redis()
        self.origin = f.start_origin()
        up1 = f.direct_upstream_node(name="up1")
        with open(self.path, "w") as fh:
            fh.write('{"version":3,"epoch":"aaaaaaaaaaaaaaaa","saved_at_ms":1,"upstreams":[{"sch')
        node = self.start_node("node-corrupt")
        log = node.log_text()
        self.assertIn("snapshot file %s: bad JSON" % self.path, log)
        self.assertIn("starting with an empty pool", log)
        r = self.get(node, "/empty")
        self.assertEqual(r.status, 503, "empty pool: %r" % (r.body[:200],))
        self.assertTrue(node.running())

        self.seed(2, EPOCH_A, [up1])
        self.wait_reload(node, 2, EPOCH_A)
        self.assert_serves(node, "/after-redis")
        d = self.wait_file(2, EPOCH_A)            # the corrupt file is replaced
        self.assertEqual(d["upstreams"][0]["port"], up1.port)

    def test_missing_file_is_not_an_error(self):
        f = self.fleet
        self.redis = f.start_redis()
        node = self.start_node("node-missing")
        self.assertIn("snapshot file %s not found" % self.path, node.log_text())
        self.assertTrue(node.running())
        # never loaded: nothing is written
        time.sleep(1.0)
        self.assertFalse(os.path.exists(self.path))


if __name__ == "__main__":
    unittest.main()
