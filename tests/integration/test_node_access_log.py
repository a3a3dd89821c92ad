"""The node's access log (issue 11 item 8) with a real redis-server, a real
pool-mode node, three real upstream proxies (direct-mode nodes that ask
for credentials, each binding its outgoing connections to its own loopback
address so that the origin's request log says which one carried a
request) and the real origin:

  * one line per request, CONNECT tunnel and SOCKS5 tunnel, in log.format
    (json and text), with the upstream that served as a short opaque id:
    every id stands for one upstream and each upstream for one id;
  * a failed request's line: 502 with the failure kind and its attempts;
  * a refused one: 407, no user name;
  * no password (client's or upstream's), no upstream address or user
    anywhere in it;
  * SIGUSR1 reopens the file: after a rename, new lines land in a new file;
  * every line of the node's own log is JSON with log.format json."""

import base64
import json
import os
import signal
import time
import unittest

from pf_harness import Fleet, curl, free_port, wait_until

EPOCH = "abababababababab"
ALICE = ("alice", "s3cr3t-alice")
UP_USER = "upuser"


def up_pass(i):
    return "s3cr3t-upstream-%d" % i


class NodeAccessLog(unittest.TestCase):
    def setUp(self):
        self.fleet = Fleet(self)
        f = self.fleet
        self.redis = f.start_redis()
        self.origin = f.start_origin()
        self.ups = []
        for i in range(3):
            src = "127.0.0.%d" % (21 + i)
            u = f.direct_upstream_node(name="up%d" % i, users=[(UP_USER, up_pass(i))],
                                       source_address=src)
            u.src = src
            self.ups.append(u)
        self.version = 0

    def seed(self, ports_pass):
        """A pool of (port, password) upstreams, written by hand as the
        controller would (passwords sealed)."""
        r, k = self.redis, self.fleet.keys
        self.version += 1
        r.cmd("DEL", k.pool_upstreams)
        for port, pw in ports_pass:
            rec = self.fleet.seal_record({
                "scheme": "http", "host": "127.0.0.1", "port": port, "user": UP_USER, "pass": pw,
                "provider": "acme", "expires_at_ms": 0, "weight": 1, "latency_ms": 0})
            r.cmd("HSET", k.pool_upstreams, "http://127.0.0.1:%d" % port, rec)
        r.cmd("HSET", k.pool_meta, "version", str(self.version), "epoch", EPOCH,
              "count", str(len(ports_pass)), "updated_at_ms", str(int(time.time() * 1000)),
              "controller_id", "by-hand")
        r.cmd("PUBLISH", k.pool_events, "%d %s" % (self.version, EPOCH))

    def node(self, fmt, **node):
        self.access = os.path.join(self.fleet.tmp, "access.log")
        cfg = {"mode": "pool", "destination_allow": ["127.0.0.0/8"], "access_log": self.access,
               "users": [{"user": ALICE[0], "pass": ALICE[1]}], "strategy": "round_robin"}
        cfg.update(node)
        self.socks_port = free_port()
        cfg["socks5_listen"] = "127.0.0.1:%d" % self.socks_port
        n = self.fleet.start_node({"log": {"format": fmt}, "node": cfg}, name="node")
        self.seed([(u.port, up_pass(i)) for i, u in enumerate(self.ups)])
        wait_until(lambda: n.metric("pf_node_pool_version") == self.version and
                   n.metric("pf_node_pool_size") == 3, 10, "the pool")
        return n

    def lines(self, path=None):
        try:
            with open(path or self.access) as f:
                return [l for l in f.read().splitlines() if l]
        except FileNotFoundError:
            return []

    def wait_lines(self, n, path=None):
        return wait_until(lambda: len(self.lines(path)) >= n and self.lines(path), 10,
                          "%d access log lines" % n)

    def get(self, node, path, user=ALICE, *extra):
        args = ["-x", node.proxy_url] + list(extra)
        if user is not None:
            args += ["-U", "%s:%s" % user]
        return curl(*args, self.origin.url(path))

    def assert_no_secret(self, text):
        for secret in [ALICE[1], base64.b64encode(("%s:%s" % ALICE).encode()).decode(), UP_USER]:
            self.assertNotIn(secret, text)
        for i, u in enumerate(self.ups):
            self.assertNotIn(up_pass(i), text)
            self.assertNotIn("127.0.0.1:%d" % u.port, text, "an upstream's address")
            self.assertNotIn(u.src, text, "an upstream's source address")

    # ------------------------------------------------------------------------

    def test_json_lines_name_the_upstream_that_served(self):
        node = self.node("json")
        served = []
        for i in range(9):
            before = len(self.origin.requests())
            r = self.get(node, "/r%d" % i)
            self.assertEqual(r.status, 200, r.stderr)
            q = wait_until(lambda: self.origin.requests()[before:] or None, 5, "origin log")[-1]
            served.append(q["client"].rsplit(":", 1)[0])
        lines = [json.loads(l) for l in self.wait_lines(9)]
        self.assertEqual(len(lines), 9)
        ids = {}
        for entry, src in zip(lines, served):
            self.assertEqual((entry["method"], entry["status"], entry["reason"]), ("GET", 200, "done"))
            self.assertEqual(entry["user"], "alice")
            self.assertEqual(entry["target"], "127.0.0.1:%d" % self.origin.port)
            self.assertEqual(entry["provider"], "acme")
            self.assertEqual(entry["attempts"], 1)
            self.assertGreater(entry["bytes_in"], 0)
            self.assertGreater(entry["bytes_out"], 0)
            self.assertGreaterEqual(entry["duration_ms"], entry["ttfb_ms"])
            self.assertRegex(entry["upstream"], r"^[0-9a-f]{12}$")
            self.assertTrue(entry["client"].startswith("127.0.0.1:"))
            ids.setdefault(entry["upstream"], set()).add(src)
        # one id per upstream, one upstream per id, all three used
        self.assertEqual(len(ids), 3, ids)
        for up_id, srcs in ids.items():
            self.assertEqual(len(srcs), 1, "id %s stands for one upstream: %s" % (up_id, srcs))
        self.assertEqual({s for v in ids.values() for s in v}, {u.src for u in self.ups})

        # a CONNECT tunnel, a SOCKS5 tunnel, a refused request
        r = self.get(node, "/tunnel", ALICE, "-p")
        self.assertEqual(r.status, 200, r.stderr)
        r = curl("-x", "socks5h://%s:%s@127.0.0.1:%d" % (ALICE[0], ALICE[1], self.socks_port),
                 self.origin.url("/socks"))
        self.assertEqual(r.status, 200, r.stderr)
        r = self.get(node, "/refused", ("alice", "wrong-password"))
        self.assertEqual(r.status, 407)
        lines = [json.loads(l) for l in self.wait_lines(12)]
        tunnel, socks, refused = lines[9], lines[10], lines[11]
        self.assertEqual((tunnel["method"], tunnel["status"], tunnel["reason"]),
                         ("CONNECT", 200, "tunnel_done"))
        self.assertIn(tunnel["upstream"], ids)
        self.assertGreater(tunnel["bytes_out"], 100)
        self.assertEqual((socks["method"], socks["status"], socks["reason"], socks["user"]),
                         ("SOCKS5", 200, "tunnel_done", "alice"))
        self.assertIn(socks["upstream"], ids)
        self.assertEqual((refused["status"], refused["reason"], refused["user"],
                          refused["upstream"], refused["attempts"]), (407, "auth", None, None, 0))

        # a failed request: every upstream of the pool is dead
        self.seed([(free_port(), "x-dead-1"), (free_port(), "x-dead-2")])
        wait_until(lambda: node.metric("pf_node_pool_version") == self.version, 10, "dead pool")
        r = self.get(node, "/fails")
        self.assertEqual(r.status, 502)
        failed = json.loads(self.wait_lines(13)[12])
        self.assertEqual((failed["method"], failed["status"], failed["reason"], failed["attempts"]),
                         ("GET", 502, "upstream_refused", 2))
        self.assertRegex(failed["upstream"], r"^[0-9a-f]{12}$")
        self.assertNotIn(failed["upstream"], ids)

        text = "\n".join(self.lines())
        self.assert_no_secret(text)
        # the node's own log: one JSON object per line, conn lines with their fields
        conn_lines = 0
        for l in node.log_text().splitlines():
            entry = json.loads(l)
            self.assertEqual(set(entry) - {"conn", "peer"},
                             {"time", "level", "program", "source", "message"}, l)
            conn_lines += "conn" in entry
            self.assertEqual(entry["program"], "node")
        self.assertGreater(conn_lines, 10)

    def test_text_lines_and_sigusr1_reopen(self):
        node = self.node("text")
        r = self.get(node, "/one")
        self.assertEqual(r.status, 200, r.stderr)
        first = self.wait_lines(1)
        self.assertRegex(first[0], r"^time=\S+Z conn=\d+ client=127\.0\.0\.1:\d+ user=alice "
                                   r"method=GET target=127\.0\.0\.1:\d+ status=200 "
                                   r"upstream=[0-9a-f]{12} provider=acme attempts=1 "
                                   r"bytes_in=\d+ bytes_out=\d+ ttfb_ms=\d+ duration_ms=\d+ "
                                   r"reason=done rule=-$")
        # logrotate: rename, SIGUSR1, new lines in a new file
        rotated = self.access + ".1"
        os.rename(self.access, rotated)
        self.assertEqual(self.get(node, "/before-reopen").status, 200)
        wait_until(lambda: len(self.lines(rotated)) == 2, 10, "a line in the renamed file")
        node.signal(signal.SIGUSR1)
        wait_until(lambda: "access log %s reopened" % self.access in node.log_text(), 10,
                   "the reopen")
        for i in range(3):
            self.assertEqual(self.get(node, "/after-reopen-%d" % i).status, 200)
        new = self.wait_lines(3)
        self.assertEqual(len(new), 3)
        self.assertTrue(all("reason=done" in l for l in new))
        self.assertEqual(len(self.lines(rotated)), 2, "nothing more in the rotated file")
        self.assert_no_secret("\n".join(new + self.lines(rotated)))
        self.assertTrue(node.running())


if __name__ == "__main__":
    unittest.main()
