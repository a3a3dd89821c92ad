"""controller.health.passive.bans_eject_domains (issue 12 item 2): an
upstream banned on more than N distinct domains is ejected from the pool
fleet-wide and comes back when its bans expire. Real redis-server, the
real controller (static provider over three direct-mode nodes used as
upstreams), and a real pool-mode node whose admin API makes the bans (so
they are the records and notices every node writes)."""

import json
import time
import unittest
import urllib.request

from pf_harness import Fleet, wait_until
from test_node_bans import sid_of

TOKEN = "t0k3n-admin-0123456789"


class ControllerBanEject(unittest.TestCase):
    def setUp(self):
        # no credential key: short ids under the all-zero key, which sid_of() computes
        self.fleet = f = Fleet(self, credential_key=False)
        self.k = f.keys
        self.redis = f.start_redis()
        self.ups = [f.direct_upstream_node() for _ in range(3)]
        self.ids = ["http://127.0.0.1:%d" % u.port for u in self.ups]
        self.ctl = f.start_controller({"controller": {
            "providers": [{"name": "static", "type": "static", "allow_private": True,
                           "upstreams": self.ids}],
            "health": {"passive": {"interval_ms": 200, "bans_eject_domains": 2}},
        }})
        self.node = f.start_node({"node": {"mode": "pool", "admin_token": TOKEN}}, name="node-a")

    def pool(self):
        return set(self.redis.hgetall(self.k.pool_upstreams))

    def ban(self, uid, domain, ttl_s):
        req = urllib.request.Request(
            "http://127.0.0.1:%d/v1/bans" % self.node.admin_port, method="POST",
            data=json.dumps({"upstream": sid_of(uid), "domain": domain, "ttl_s": ttl_s,
                             "reason": "test"}).encode(),
            headers={"Authorization": "Bearer " + TOKEN, "Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=5) as r:
            self.assertEqual(r.status, 201)
            return json.loads(r.read())["ban"]

    def rounds_after(self, n):
        start = self.ctl.metric("pf_controller_health_passive_rounds_total")
        wait_until(lambda: self.ctl.metric("pf_controller_health_passive_rounds_total") >= start + n,
                   10, "%d passive rounds" % n)

    def test_eject_after_n_domains_and_return(self):
        wait_until(lambda: self.pool() == set(self.ids) or None, 15, "three upstreams published")
        wait_until(lambda: self.node.metric("pf_node_pool_size") == 3, 10, "node pool")
        victim, other = self.ids[0], self.ids[1]
        # two domains (twice one of them, and a subdomain is another domain): not more than 2
        self.ban(victim, "a.example", 600)
        self.ban(victim, "a.example", 600)
        self.ban(victim, "b.example", 600)
        self.ban(other, "a.example", 600)
        self.ban(other, "b.example", 600)
        self.rounds_after(3)
        self.assertEqual(self.pool(), set(self.ids), "two domains: kept")
        self.assertEqual(self.ctl.metric("pf_controller_health_ban_ejected"), 0)
        # a third domain, banned for 3 s: ejected fleet-wide
        t0 = time.monotonic()
        self.ban(victim, "c.example", 3)
        wait_until(lambda: self.pool() == set(self.ids) - {victim} or None, 5, "victim ejected")
        wait_until(lambda: self.node.metric("pf_node_pool_size") == 2, 5, "the node's pool too")
        self.assertEqual(self.ctl.metric("pf_controller_health_ban_ejections_total"), 1)
        self.assertEqual(self.ctl.metric("pf_controller_health_ban_ejected"), 1)
        self.assertIn("fleet bans on 3 domains", self.ctl.log_text())
        # back when the c.example ban expires (two domains left)
        wait_until(lambda: self.pool() == set(self.ids) or None, 10, "victim back")
        self.assertGreater(time.monotonic() - t0, 2.0, "not before its ban expired")
        wait_until(lambda: self.ctl.metric("pf_controller_health_ban_ejected") == 0, 2,
                   "the gauge, at the next round")
        self.assertIn("back: its bans cover 2 domains at most", self.ctl.log_text())
        wait_until(lambda: self.node.metric("pf_node_pool_size") == 3, 5, "the node's pool back")


if __name__ == "__main__":
    unittest.main()
