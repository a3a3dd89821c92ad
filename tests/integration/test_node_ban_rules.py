"""Response rules (node.ban_rules, issue 12 item 2) across two pool-mode
nodes against a real redis-server and real upstreams: three direct-mode
nodes, each binding its outgoing connections to its own loopback source
address, so the origin's request log (and its echo) says which upstream
carried a request. The origin's /blocked route plays a site that answers
403 with a captcha page to some source addresses. Both nodes carry the
rule {"status": [403, 429], "body_contains": "captcha"}; a match on node
A bans the upstream for the host through Redis, and node B must obey."""

import json
import os
import time
import unittest

from pf_harness import Fleet, curl, wait_until
from test_node_bans import EPOCH, record, sid_of

USER, PASS = "alice", "s3cr3t-alice"
RULES = [{"status": [403, 429], "body_contains": "captcha", "ttl_s": 600}]


class NodeBanRules(unittest.TestCase):
    def setUp(self):
        self.fleet = Fleet(self, credential_key=False)
        f = self.fleet
        self.redis = f.start_redis()
        self.origin = f.start_origin()
        self.ups = []
        for i in range(3):
            src = "127.0.0.%d" % (31 + i)
            u = f.direct_upstream_node(name="up%d" % i, source_address=src)
            u.src = src
            u.uid = "http://127.0.0.1:%d" % u.port
            u.sid = sid_of(u.uid)
            self.ups.append(u)
        self.by_src = {u.src: u for u in self.ups}
        r, k = self.redis, f.keys
        for u in self.ups:
            r.cmd("HSET", k.pool_upstreams, u.uid, record(u.port))
        r.cmd("HSET", k.pool_meta, "version", "1", "epoch", EPOCH, "count", "3",
              "updated_at_ms", str(int(time.time() * 1000)), "controller_id", "by-hand")
        self.access_a = os.path.join(f.tmp, "access-a.log")
        self.a = self.pool_node("node-a", retries=2, access_log=self.access_a)
        self.b = self.pool_node("node-b", retries=5)

    def pool_node(self, name, **extra):
        cfg = {"mode": "pool", "destination_allow": ["127.0.0.0/8"], "connect_timeout_ms": 2000,
               "strategy": "round_robin", "users": [{"user": USER, "pass": PASS}],
               "upstream_header": "X-PF-Upstream", "ban_rules": RULES}
        cfg.update(extra)
        n = self.fleet.start_node({"node": cfg}, name=name)
        wait_until(lambda: n.metric("pf_node_pool_size") == 3, 10, "%s pool" % name)
        return n

    def get(self, node, host, path, user=USER, *extra):
        return curl("-x", node.proxy_url, "--proxy-user", "%s:%s" % (user, PASS), *extra,
                    "http://%s:%d%s" % (host, self.origin.port, path))

    def served_by(self, r):
        """The upstream whose source address the origin's echo names."""
        echo = json.loads(r.body[r.body.index("{"):])
        return self.by_src[echo["client"].rsplit(":", 1)[0]]

    def sources(self, since):
        return [self.by_src[q["client"].rsplit(":", 1)[0]] for q in self.origin.requests()[since:]]

    def session_on(self, node, upstream, host):
        """A user name with a session that <node> sends to <upstream> for <host>."""
        for i in range(64):
            user = "%s-session-s%d" % (USER, i)
            r = self.get(node, host, "/x", user)
            self.assertEqual(r.status, 200, r.body[:200])
            if self.served_by(r) is upstream:
                return user
        self.fail("no session maps to %s" % upstream.src)

    def bans(self):
        return [json.loads(v) for v in self.redis.hgetall(self.fleet.keys.bans).values()]

    # ------------------------------------------------------------------------

    def test_match_bans_retries_and_node_b_obeys(self):
        victim = self.ups[0]
        user = self.session_on(self.a, victim, "localhost")
        self.assertEqual(self.a.metric("pf_node_ban_rule_matches_total"), 0)
        before = len(self.origin.requests())
        t0 = time.monotonic()
        # chunked, the word after 300 bytes of padding: de-chunked and found
        r = self.get(self.a, "localhost", "/blocked?src=%s&pad=300&chunked=1" % victim.src, user)
        self.assertEqual(r.status, 200, r.body[:300])
        self.assertNotIn("CAPTCHA", r.body)
        good = self.served_by(r)
        self.assertIsNot(good, victim)
        self.assertEqual(self.sources(before), [victim, good], "tried the victim, then another")
        self.assertIn("X-PF-Upstream: hand/%s" % good.sid, r.headers)
        # the ban, in Redis: this upstream, this host, the rule's ttl
        bans = [b for b in self.bans() if b["upstream"] == victim.sid]
        self.assertEqual(len(bans), 1, self.bans())
        self.assertEqual(bans[0]["domain"], "localhost")
        self.assertNotIn("session", bans[0], "a fleet ban")
        self.assertEqual(bans[0]["reason"], "rule 0")
        self.assertAlmostEqual(bans[0]["expires_at_ms"] - bans[0]["created_at_ms"], 600000, delta=1)
        m = self.a.metrics()
        self.assertEqual(self.a.metric("pf_node_ban_rule_holds_total"), 1)
        self.assertEqual(self.a.metric("pf_node_ban_rule_matches_total"), 1)
        self.assertEqual(self.a.metric("pf_node_ban_rule_bans_total"), 1)
        self.assertEqual(self.a.metric("pf_node_ban_rule_retries_total"), 1)
        self.assertEqual(self.a.metric("pf_node_ban_rule_relayed_total"), 0)
        self.assertEqual(m.get('pf_node_upstream_errors_total{kind="ban_rule"}'), 1)
        # node B obeys within 1 s: the same session goes elsewhere for localhost
        wait_until(lambda: self.b.metric("pf_node_bans") >= 1, 1.0, "node B holds the ban")
        self.assertLess(time.monotonic() - t0, 2.0)
        for _ in range(4):
            r = self.get(self.b, "localhost", "/x", user)
            self.assertEqual(r.status, 200)
            self.assertIsNot(self.served_by(r), victim, "node B obeys the rule's ban")
        # the other host still uses the victim
        seen = {self.served_by(self.get(self.b, "127.0.0.1", "/x")) for _ in range(6)}
        self.assertIn(victim, seen)
        # the access log line names the upstream whose answer matched
        lines = wait_until(lambda: [l for l in open(self.access_a).read().splitlines()
                                    if "/blocked" in l or " rule=%s" % victim.sid in l] or None,
                           5, "access log line")
        self.assertIn(" rule=%s" % victim.sid, lines[-1])
        self.assertIn(" attempts=2 ", lines[-1])
        self.assertIn(" status=200 ", lines[-1])
        self.assertIn(" upstream=%s " % good.sid, lines[-1])

    def test_no_match_is_relayed_untouched(self):
        before = len(self.origin.requests())
        # 403 without the word, and the word with a status the rule does not name
        r = self.get(self.a, "localhost", "/status/403")
        self.assertEqual(r.status, 403)
        r = self.get(self.a, "localhost", "/blocked?src=*&status=404")
        self.assertEqual(r.status, 404)
        self.assertIn("CAPTCHA", r.body)
        # the word beyond body_peek_bytes (8192) is not seen
        r = self.get(self.a, "localhost", "/blocked?src=*&pad=9000")
        self.assertEqual(r.status, 403)
        self.assertTrue(r.raw_body.startswith(b"." * 9000 + b"<p>Please solve the CAPTCHA</p>\n"))
        self.assertEqual(len(self.origin.requests()) - before, 3, "no retry")
        self.assertEqual(self.bans(), [])
        self.assertEqual(self.a.metric("pf_node_ban_rule_matches_total"), 0)
        self.assertEqual(self.a.metric("pf_node_ban_rule_holds_total"), 2, "the two 403s")

    def test_post_is_never_sent_twice(self):
        before = len(self.origin.requests())
        r = self.get(self.a, "localhost", "/blocked?src=*", USER, "--data-binary", "form=1")
        self.assertEqual(r.status, 403, "the matched answer, relayed")
        self.assertIn("CAPTCHA", r.body)
        reqs = self.origin.requests()[before:]
        self.assertEqual([q["method"] for q in reqs], ["POST"], "sent once")
        # the upstream is banned all the same
        bans = self.bans()
        self.assertEqual([b["upstream"] for b in bans], [self.served_by(r).sid])
        self.assertEqual(self.a.metric("pf_node_ban_rule_retries_total"), 0)
        self.assertEqual(self.a.metric("pf_node_ban_rule_relayed_total"), 1)
        # a POST without a body is not replayed either
        before = len(self.origin.requests())
        r = self.get(self.a, "127.0.0.1", "/blocked?src=*", USER, "-X", "POST")
        self.assertEqual(r.status, 403)
        self.assertEqual(len(self.origin.requests()) - before, 1)

    def test_every_upstream_matches_the_last_answer_is_returned(self):
        # node A: retries 2 with three upstreams: three tries, the third answer relayed
        before = len(self.origin.requests())
        r = self.get(self.a, "localhost", "/blocked?src=*&pad=10")
        self.assertEqual(r.status, 403)
        self.assertIn("CAPTCHA", r.body)
        tried = self.sources(before)
        self.assertEqual(len(tried), 3)
        self.assertEqual(set(tried), set(self.ups), "each upstream once")
        self.assertIs(self.served_by(r), tried[-1], "the last answer")
        self.assertEqual(sorted(b["upstream"] for b in self.bans() if b["domain"] == "localhost"),
                         sorted(u.sid for u in self.ups))
        self.assertEqual(self.a.metric("pf_node_ban_rule_retries_total"), 2)
        self.assertEqual(self.a.metric("pf_node_ban_rule_relayed_total"), 1)
        # node B: retries 5, but only three upstreams: the third answer, not a 502
        before = len(self.origin.requests())
        r = self.get(self.b, "127.0.0.1", "/blocked?src=*&status=429&chunked=1")
        self.assertEqual(r.status, 429)
        self.assertIn("CAPTCHA", r.body)
        tried = self.sources(before)
        self.assertEqual(len(tried), 3)
        self.assertIs(self.served_by(r), tried[-1])
        self.assertEqual(self.b.metric("pf_node_ban_rule_retries_total"), 2)
        # every upstream now banned for localhost: a new request there gets 503
        r = self.get(self.b, "localhost", "/x")
        self.assertEqual(r.status, 503)


if __name__ == "__main__":
    unittest.main()
