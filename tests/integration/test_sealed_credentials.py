"""Upstream passwords sealed at rest (redis.credential_key_file).

The controller publishes upstreams of a real microsocks needing a user
name and password; with the fleet's credential key every record carries
"pass_sealed" instead of "pass". Checked here:

  * a node with the same key opens the records and its requests go
    through the authenticated upstream (absolute-form and CONNECT);
  * no Redis value of any type (every key, found with SCAN) and no key
    name holds an upstream password, nor does the node's snapshot file;
  * a node with another key, and a node with none, reject the sealed
    records as bad records (counted, one log line per apply) and never
    dial the upstream with a wrong or empty password: the pool stays
    empty and clients get 503."""

import json
import os
import shutil
import unittest

from pf_harness import Fleet, HarnessError, Peer, curl, free_port, tail, wait_until

USER_A, PASS_A = "sealuser", "seal-s0cks-pw-7731"
USER_B, PASS_B = "sealuser2", "seal-s0cks-pw-9902"



def dump_redis(redis):
    """Every key name and every value of every key, as strings."""
    out = []
    cursor = "0"
    while True:
        cursor, keys = redis.cmd("SCAN", cursor, "COUNT", 1000)
        for k in keys:
            out.append(k)
            t = redis.cmd("TYPE", k)
            if t == "string":
                v = [redis.cmd("GET", k)]
            elif t == "hash":
                v = redis.cmd("HGETALL", k)
            elif t == "list":
                v = redis.cmd("LRANGE", k, 0, -1)
            elif t == "set":
                v = redis.cmd("SMEMBERS", k)
            elif t == "zset":
                v = redis.cmd("ZRANGE", k, 0, -1, "WITHSCORES")
            elif t == "stream":
                v = [str(e) for e in redis.cmd("XRANGE", k, "-", "+")]
            elif t == "none":    # expired between SCAN and TYPE
                v = []
            else:
                raise AssertionError("key %r of unexpected type %r" % (k, t))
            out += [x for x in v if x is not None]
        if cursor == "0":
            return out


class SealedCredentials(unittest.TestCase):
    def setUp(self):
        self.fleet = Fleet(self)
        self.fleet.secret(PASS_A)
        self.fleet.secret(PASS_B)
        self.origin = self.fleet.start_origin()
        self.redis = self.fleet.start_redis()

    def microsocks(self, user, password):
        exe = shutil.which("microsocks")
        if exe is None:
            raise HarnessError("microsocks is not installed (apt-get install microsocks)")
        port = free_port()
        return Peer(self.fleet, "microsocks-%d" % port,
                    [exe, "-i", "127.0.0.1", "-p", str(port), "-u", user, "-P", password], port)

    def node_cfg(self, **node):
        cfg = {"node": {"mode": "pool", "destination_allow": ["127.0.0.0/8"],
                        "connect_ports": [], "connect_timeout_ms": 3000}}
        cfg["node"].update(node)
        return cfg

    def test_sealed_records_work_and_hide_passwords(self):
        f = self.fleet
        a = self.microsocks(USER_A, PASS_A)
        b = self.microsocks(USER_B, PASS_B)
        f.start_controller({"controller": {"providers": [
            {"name": "sealed", "type": "static", "allow_private": True,
             "upstreams": ["socks5h://%s:%s@127.0.0.1:%d" % (USER_A, PASS_A, a.port),
                           "socks5h://%s:%s@127.0.0.1:%d" % (USER_B, PASS_B, b.port)]}]}})
        k = f.keys
        wait_until(lambda: self.redis.hgetall(k.pool_meta).get("count") == "2", 20,
                   "pool:meta count 2")
        records = self.redis.hgetall(k.pool_upstreams)
        self.assertEqual(len(records), 2)
        for uid, raw in records.items():
            rec = json.loads(raw)
            self.assertNotIn("pass", rec, uid)
            self.assertTrue(rec["pass_sealed"].startswith("v1."), rec)
            self.assertIn(rec["user"], (USER_A, USER_B))

        # a node with the fleet's key dials through the authenticated upstreams
        snap = os.path.join(f.tmp, "node-snapshot.json")
        node = f.start_node(self.node_cfg(snapshot_file=snap))
        wait_until(lambda: node.metric("pf_node_pool_size") == 2, 15, "node to load 2 upstreams")
        self.assertEqual(node.metric("pf_node_redis_bad_records_total"), 0)
        for i in range(4):
            r = curl("-x", node.proxy_url, self.origin.url("/sealed-%d" % i))
            self.assertEqual(r.status, 200, r)
            r = curl("-p", "-x", node.proxy_url, self.origin.url("/sealed-c-%d" % i))
            self.assertEqual(r.status, 200, r)

        # the node's snapshot file is sealed too
        wait_until(lambda: os.path.exists(snap), 10, "snapshot file saved")
        with open(snap) as fh:
            text = fh.read()
        self.assertIn('"pass_sealed"', text)
        for pw in (PASS_A, PASS_B):
            self.assertNotIn(pw, text)

        # nothing in Redis (all keys, all types: pool, nodes, health...) has a password
        wait_until(lambda: self.redis.cmd("EXISTS", k.node(node.name)) == 1, 10, "node report")
        values = dump_redis(self.redis)
        self.assertGreater(len(values), 5)
        for v in values:
            for pw in (PASS_A, PASS_B):
                self.assertNotIn(pw, v)

    def test_node_with_other_or_no_key_rejects_sealed_records(self):
        f = self.fleet
        a = self.microsocks(USER_A, PASS_A)
        b = self.microsocks(USER_B, PASS_B)
        f.start_controller({"controller": {"providers": [
            {"name": "sealed", "type": "static", "allow_private": True,
             "upstreams": ["socks5h://%s:%s@127.0.0.1:%d" % (USER_A, PASS_A, a.port),
                           "socks5h://%s:%s@127.0.0.1:%d" % (USER_B, PASS_B, b.port)]}]}})
        wait_until(lambda: self.redis.hgetall(f.keys.pool_meta).get("count") == "2", 20,
                   "pool:meta count 2")
        cases = [("wrong-key", {"credential_key_file": f.new_key_file()},
                  "authentication failed"),
                 ("no-key", {"credential_key_file": ""}, "no redis.credential_key_file")]
        for name, redis_cfg, why in cases:
            cfg = self.node_cfg()
            cfg["redis"] = redis_cfg
            node = f.start_node(cfg, name=name, wait_ready=True)
            wait_until(lambda: node.metric("pf_node_redis_bad_records_total") >= 2, 15,
                       "%s: both records counted as bad" % name)
            self.assertEqual(node.metric("pf_node_pool_size"), 0, name)
            r = curl("-x", node.proxy_url, self.origin.url("/never-%s" % name))
            self.assertEqual(r.status, 503, "%s: %r" % (name, r))
            log = node.log_text()
            skipped = [ln for ln in log.splitlines() if "bad upstream record" in ln]
            self.assertGreaterEqual(len(skipped), 1, name)
            # one line per apply naming the first bad record, not one per record
            self.assertEqual(len([ln for ln in log.splitlines() if why in ln]), len(skipped),
                             "%s:\n%s" % (name, tail(log, 30)))
            self.assertIn("skipped 2 bad upstream records", skipped[0])
            self.assertIn("pass_sealed", skipped[0])
            node.stop()
        # the upstreams were never dialed by the rejecting nodes
        paths = [q["path"] for q in self.origin.requests()]
        self.assertFalse([p for p in paths if p.startswith("/never-")], paths)


if __name__ == "__main__":
    unittest.main()
