"""Both binaries behind Redis Sentinel (redis.sentinels, master_name;
controller/sentinel.c, node/sentinel.c), against real redis-server and
redis-sentinel processes on loopback:

  * ACL everywhere: the master and its replica accept only an ACL user,
    the sentinels are asked as their own ACL user (sentinel_user and
    sentinel_password); both binaries find the master, serve, and follow a
    SENTINEL FAILOVER to the promoted replica.
  * The master turned into a replica behind the sentinels' back: the next
    write gets -READONLY, and both binaries ask again; a sentinel that is
    paused times out; one that names a replica is refused by ROLE (ask
    again); once a sentinel names the real master, both connect to it.

SIGKILL of the master under traffic, with figures, is in
tests/fault/test_sentinel_failover.py."""

import json
import time
import unittest

from pf_harness import Fleet, curl, wait_until

ACL_USER = "pfuser"
ACL_PASS = "pf-sentinel-acl-8812"
SENT_USER = "pfsentinel"
SENT_PASS = "pf-sentinel-pass-5527"
REDIS_TIMEOUT_MS = 500
MASTER = "pfmaster"


def acl_args():
    """redis-server options: only ACL_USER may log in; a replica (and a
    demoted master) authenticates to its master as ACL_USER."""
    return ["--user", ACL_USER, "on", ">" + ACL_PASS, "~*", "&*", "+@all",
            "--user", "default", "off", "--masteruser", ACL_USER, "--masterauth", ACL_PASS]


class TestSentinel(unittest.TestCase):
    def setUp(self):
        self.fleet = Fleet(self)
        self.fleet.secret(ACL_PASS)
        self.fleet.secret(SENT_PASS)
        self.k = self.fleet.keys
        self.origin = self.fleet.start_origin()
        self.up = self.fleet.direct_upstream_node(name="up")

    # -- building blocks ------------------------------------------------------

    def start_pair(self, redis_cfg):
        redis_cfg = dict(redis_cfg, connect_timeout_ms=REDIS_TIMEOUT_MS,
                         command_timeout_ms=REDIS_TIMEOUT_MS)
        ctl = self.fleet.start_controller({
            "redis": redis_cfg,
            "controller": {"lease_ms": 1500, "heartbeat_interval_ms": 300, "providers": [
                {"name": "static", "type": "static", "allow_private": True,
                 "upstreams": ["http://127.0.0.1:%d" % self.up.port]}]}}, name="ctl")
        node = self.fleet.start_node({
            "redis": redis_cfg,
            "node": {"mode": "pool", "destination_allow": ["127.0.0.0/8"],
                     "report_interval_ms": 300}}, name="node")
        return ctl, node

    @staticmethod
    def target(b):
        """(connected, "host:port") of a binary's Redis session."""
        st = json.loads(b.admin("/status" if b.kind == "controller" else "/stats")[1])
        return bool(st["redis_connected"]), st["redis_target"]

    def wait_on(self, binaries, redis, timeout, what):
        want = "127.0.0.1:%d" % redis.port
        for b in binaries:
            wait_until(lambda b=b: self.target(b) == (True, want), timeout,
                       "%s on %s (%s)" % (b.name, want, what))

    def assert_serves(self, node, path):
        r = curl("-x", node.proxy_url, self.origin.url(path))
        self.assertEqual(r.status, 200, r.stderr)

    # -- tests ----------------------------------------------------------------

    def test_acl_sentinels_resolve_and_follow_a_failover(self):
        f = self.fleet
        m = f.start_redis(name="master", args=acl_args(), auth=(ACL_USER, ACL_PASS))
        rep = f.start_replica(m, args=acl_args(), auth=(ACL_USER, ACL_PASS))
        ss = f.start_sentinels(m, 3, auth=(ACL_USER, ACL_PASS), acl_user=(SENT_USER, SENT_PASS),
                               failover_timeout_ms=5000)
        cfg = f.sentinel_redis_config(ss, MASTER,
                                      url="redis://%s:%s@ignored/0" % (ACL_USER, ACL_PASS),
                                      sentinel_user=SENT_USER, sentinel_password=SENT_PASS)
        ctl, node = self.start_pair(cfg)
        self.wait_on([ctl, node], m, 15, "the sentinels' first answer")
        wait_until(lambda: m.hgetall(self.k.pool_meta).get("count") == "1", 15, "a publish")
        wait_until(lambda: node.metric("pf_node_pool_size") == 1, 15, "the node's pool")
        self.assert_serves(node, "/before")
        # The fleet asked the sentinels as their ACL user: the watches stay.
        watchers = sum(l.count("user=%s " % SENT_USER) for s in ss
                       for l in s.cmd("CLIENT", "LIST").splitlines())
        self.assertGreaterEqual(watchers, 2)

        w = ss[0].subscribe_switch()
        self.assertEqual(ss[0].cmd("SENTINEL", "FAILOVER", MASTER), "OK")
        t_switch = w.wait(20)[0]
        self.assertIn("127.0.0.1 %d" % rep.port, w.events[0][2])
        self.wait_on([ctl, node], rep, 10, "after SENTINEL FAILOVER")
        t_on = time.monotonic() - t_switch
        wait_until(lambda: rep.role() == "master" and m.role() == "slave", 20,
                   "the old master to follow the new one")
        # Writes land on the new master again: the heartbeats.
        n0 = int(rep.hgetall(self.k.node(node.id)).get("updated_at_ms", "0") or 0)
        wait_until(lambda: int(rep.hgetall(self.k.node(node.id)).get("updated_at_ms", "0") or 0)
                   > n0, 10, "a node heartbeat on the new master")
        self.assert_serves(node, "/after")
        for b in (ctl, node):
            self.assertGreaterEqual(b.metric("pf_%s_redis_master_moves_total" % b.kind), 1)
        self.assertLess(t_on, 10)

    def test_readonly_and_replica_answers_make_them_ask_again(self):
        f = self.fleet
        m = f.start_redis(name="master")
        rep = f.start_replica(m)
        # One sentinel, no automatic failover during the test.
        s = f.start_sentinel(m, quorum=1, down_after_ms=120000, failover_timeout_ms=120000)
        ctl, node = self.start_pair(f.sentinel_redis_config([s], MASTER))
        self.wait_on([ctl, node], m, 15, "the sentinel's answer")
        wait_until(lambda: node.metric("pf_node_pool_size") == 1, 15, "the node's pool")

        # Behind the sentinel's back (paused): the replica becomes the
        # master and the master its replica. The next write gets READONLY.
        s.pause()
        rep.cmd("REPLICAOF", "NO", "ONE")
        m.cmd("REPLICAOF", "127.0.0.1", str(rep.port))
        for b in (ctl, node):
            wait_until(lambda b=b: "READONLY" in b.log_text()
                       and "asking the sentinels again" in b.log_text(), 10,
                       "%s to see READONLY and ask again" % b.name)
        # The paused sentinel does not answer: each ask has its deadline.
        for b in (ctl, node):
            wait_until(lambda b=b: "no sentinel named master %s" % MASTER in b.log_text(), 10,
                       "%s: the paused sentinel's question timed out" % b.name)
        self.assert_serves(node, "/cache")     # the cache serves meanwhile

        # The sentinel comes back naming the old master, now a replica:
        # ROLE says so, and they ask again.
        s.resume()
        s.cmd("SENTINEL", "REMOVE", MASTER)
        s.cmd("SENTINEL", "MONITOR", MASTER, "127.0.0.1", m.port, 1)
        for b in (ctl, node):
            wait_until(lambda b=b: "it is a replica, not the master" in b.log_text(), 20,
                       "%s to refuse the replica" % b.name)
            self.assertEqual(self.target(b)[0], False)
        # It names the real master: both connect there.
        s.cmd("SENTINEL", "REMOVE", MASTER)
        s.cmd("SENTINEL", "MONITOR", MASTER, "127.0.0.1", rep.port, 1)
        self.wait_on([ctl, node], rep, 25, "the sentinel naming the master")
        wait_until(lambda: rep.hgetall(self.k.node(node.id)).get("redis_connected") == "1", 10,
                   "the node's heartbeat on the new master")
        wait_until(lambda: rep.hgetall(self.k.pool_meta).get("count") == "1", 10,
                   "the pool on the new master")
        self.assert_serves(node, "/after")


if __name__ == "__main__":
    unittest.main()
