"""Redis follows the controller's config (issue 9 item 4): a provider removed
by SIGHUP leaves {pf}:v1:providers and its hash {pf}:v1:provider:<name> is
deleted in the same fenced write; a new leader prunes what its config does
not have; a leader that lost its lease (fenced) removes nothing. Real
redis-server, real proxyfleet-controller, static providers."""

import json
import signal
import time
import unittest

from pf_harness import Fleet, wait_until

KEEP = {"name": "keep", "type": "static", "allow_private": True,
        "upstreams": ["http://127.0.0.1:3301"]}
GONE = {"name": "gone", "type": "static", "allow_private": True,
        "upstreams": ["http://127.0.0.1:3302"]}


class TestProvidersSet(unittest.TestCase):
    def setUp(self):
        self.fleet = Fleet(self)
        self.k = self.fleet.keys

    def members(self):
        return sorted(self.fleet.redis.cmd("SMEMBERS", self.k.providers))

    def exists(self, key):
        return self.fleet.redis.cmd("EXISTS", key) == 1

    def start(self, providers, extra=None, name=None):
        cfg = {"controller": {"providers": providers}}
        if extra:
            cfg["controller"].update(extra)
        return self.fleet.start_controller(cfg, name=name)

    def wait_both(self):
        wait_until(lambda: self.members() == ["gone", "keep"], 10, "both providers in the set")
        wait_until(lambda: self.exists(self.k.provider("gone")) and
                   self.exists(self.k.provider("keep")), 5, "both provider hashes")
        wait_until(lambda: self.fleet.redis.hgetall(self.k.pool_meta).get("count") == "2", 5,
                   "pool of both providers")

    def rewrite(self, ctl, providers):
        cfg = ctl.config
        cfg["controller"]["providers"] = providers
        with open(ctl.config_path, "w") as fh:
            json.dump(cfg, fh)

    def test_sighup_removal_leaves_set_and_deletes_hash(self):
        f = self.fleet
        f.start_redis()
        ctl = self.start([KEEP, GONE])
        self.wait_both()
        # A member no provider name can make (written by hand): it goes too.
        f.redis.cmd("SADD", self.k.providers, "not a name!")
        self.rewrite(ctl, [KEEP])
        ctl.signal(signal.SIGHUP)
        wait_until(lambda: self.members() == ["keep"], 5, "removed provider left the set")
        self.assertFalse(self.exists(self.k.provider("gone")), "hash of the removed provider")
        self.assertTrue(self.exists(self.k.provider("keep")))
        m = wait_until(lambda: (lambda x: x if x.get("count") == "1" else None)(
            f.redis.hgetall(self.k.pool_meta)), 5, "pool without the removed provider")
        self.assertEqual(list(f.redis.hgetall(self.k.pool_upstreams)), ["http://127.0.0.1:3301"])
        self.assertEqual(ctl.metric("pf_controller_reloads_total"), 1)
        self.assertEqual(ctl.metric("pf_controller_fenced_total"), 0)
        self.assertIn("provider gone removed", ctl.log_text())
        self.assertEqual(json.loads(ctl.admin("/status")[1])["leader"], True)
        # Nothing comes back: the set and the hashes stay as the config says.
        time.sleep(1.2)
        self.assertEqual(self.members(), ["keep"])
        self.assertFalse(self.exists(self.k.provider("gone")))
        self.assertEqual(f.redis.hgetall(self.k.pool_meta)["version"], m["version"])

    def test_new_leader_prunes_what_its_config_lacks(self):
        f = self.fleet
        f.start_redis()
        a = self.start([KEEP, GONE], name="ctl-a")
        self.wait_both()
        a.signal(signal.SIGTERM)       # releases the lease
        a.wait(10)
        b = self.start([KEEP], name="ctl-b")
        wait_until(lambda: self.members() == ["keep"], 10, "new leader pruned the set")
        self.assertFalse(self.exists(self.k.provider("gone")))
        self.assertTrue(self.exists(self.k.provider("keep")))
        wait_until(lambda: f.redis.hgetall(self.k.pool_meta).get("controller_id") == "ctl-b", 5,
                   "ctl-b publishes")
        self.assertEqual(b.metric("pf_controller_fenced_total"), 0)

    def test_fenced_leader_removes_nothing(self):
        f = self.fleet
        f.start_redis()
        # Long lease, polls and heartbeat: after the takeover below, the
        # only write is the one the SIGHUP asks for.
        ctl = self.start([KEEP, GONE], {"lease_ms": 30000, "poll_interval_ms": 60000,
                                        "heartbeat_interval_ms": 60000})
        self.wait_both()
        wait_until(lambda: json.loads(ctl.admin("/status")[1])["leader"], 5, "leader")
        gone_hash = f.redis.hgetall(self.k.provider("gone"))
        # Another controller takes the lease while this one is stopped; it
        # wakes up with a SIGHUP that removes "gone", still believing it leads.
        ctl.signal(signal.SIGSTOP)
        try:
            f.redis.cmd("SET", self.k.controller_lease, "ctl-other:00000000000000ff", "PX", "60000")
            self.rewrite(ctl, [KEEP])
            ctl.signal(signal.SIGHUP)
        finally:
            ctl.signal(signal.SIGCONT)
        wait_until(lambda: ctl.metric("pf_controller_fenced_total") >= 1, 5, "write fenced")
        wait_until(lambda: not json.loads(ctl.admin("/status")[1])["leader"], 5, "stepped down")
        self.assertIn("provider prune fenced", ctl.log_text())
        self.assertEqual(self.members(), ["gone", "keep"])
        self.assertEqual(f.redis.hgetall(self.k.provider("gone")), gone_hash)
        self.assertEqual(f.redis.cmd("GET", self.k.controller_lease), "ctl-other:00000000000000ff")
        self.assertEqual(f.redis.hgetall(self.k.pool_meta).get("count"), "2")
        self.assertNotIn("provider gone removed", ctl.log_text())


if __name__ == "__main__":
    unittest.main()
