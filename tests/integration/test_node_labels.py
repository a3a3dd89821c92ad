"""What a scraper sees and steers through the user name (issue 12 items 1
and 3), against a real redis-server, real proxyfleet-node binaries and real
upstreams: direct-mode nodes, each binding its outgoing connections to its
own loopback source address (node.source_address 127.0.0.1x), so the
origin's request log says which upstream carried a request. The snapshot is
written by hand as docs/redis-keys.md describes, with labels per record.

  * node.upstream_header names "<provider>/<short id>" on responses and on
    the CONNECT 200, the same on two nodes, different per upstream, and
    never the address;
  * user-name labels select the subset (country, city, provider, tier),
    sticky sessions agree on two nodes inside it;
  * an empty subset answers 503 naming the filter, unless
    node.label_fallback;
  * unknown or malformed parameters answer 407 with the reason."""

import json
import re
import time
import unittest

from pf_harness import Fleet, curl, wait_until

EPOCH = "cdcdcdcdcdcdcdcd"
USER, PASS = "alice", "s3cr3t-alice"
HDR = "X-PF-Upstream"


class NodeLabels(unittest.TestCase):
    def setUp(self):
        self.fleet = Fleet(self)
        f = self.fleet
        self.redis = f.start_redis()
        self.origin = f.start_origin()
        # three upstreams: two in the US (Boston, New York), one in DE
        self.labels = [({"country": "US", "city": "Boston"}, "kdl", 0),
                       ({"country": "US", "city": "New York"}, "kdl", 0),
                       ({"country": "DE", "city": "Berlin", "asn": "AS3320"}, "other", 1)]
        self.ups = []
        for i in range(len(self.labels)):
            u = f.direct_upstream_node(name="up%d" % i, source_address="127.0.0.%d" % (21 + i))
            u.src = "127.0.0.%d" % (21 + i)
            self.ups.append(u)
        self.seed()

    def seed(self):
        r, k = self.redis, self.fleet.keys
        for u, (labels, provider, tier) in zip(self.ups, self.labels):
            rec = {"scheme": "http", "host": "127.0.0.1", "port": u.port, "provider": provider,
                   "expires_at_ms": 0, "weight": 1, "latency_ms": 0, "tier": tier,
                   "labels": labels}
            r.cmd("HSET", k.pool_upstreams, "http://127.0.0.1:%d" % u.port, json.dumps(rec))
        r.cmd("HSET", k.pool_meta, "version", "1", "epoch", EPOCH, "count", str(len(self.ups)),
              "updated_at_ms", str(int(time.time() * 1000)), "controller_id", "by-hand")
        r.cmd("PUBLISH", k.pool_events, "1 %s" % EPOCH)

    def pool_node(self, name, **node):
        cfg = {"mode": "pool", "destination_allow": ["127.0.0.0/8"], "connect_timeout_ms": 2000,
               "users": [{"user": USER, "pass": PASS}], "upstream_header": HDR}
        cfg.update(node)
        n = self.fleet.start_node({"node": cfg}, name=name)
        wait_until(lambda: n.metric("pf_node_pool_size") == len(self.ups), 10, "%s pool" % name)
        return n

    def via(self, node, user, *extra):
        """One request through <node> as <user>; returns (source address
        the origin saw, the upstream header)."""
        before = len(self.origin.requests())
        r = curl("-x", node.proxy_url, "--proxy-user", "%s:%s" % (user, PASS), *extra,
                 self.origin.url("/ip"))
        self.assertEqual(r.status, 200, "%s %s %s" % (user, r.stderr, r.body[:200]))
        reqs = wait_until(lambda: self.origin.requests()[before:] or None, 5, "origin log")
        m = re.findall(r"(?im)^%s: *(\S+)\r?$" % HDR, r.headers)
        return reqs[-1]["client"].rsplit(":", 1)[0], m

    def src_of(self, i):
        return self.ups[i].src

    # ------------------------------------------------------------------------

    def test_upstream_header_same_on_two_nodes_and_opaque(self):
        a, b = self.pool_node("hdr-a"), self.pool_node("hdr-b")
        seen = {}
        for i in range(12):
            for node in (a, b):
                src, hdr = self.via(node, "%s-session-s%d" % (USER, i))
                self.assertEqual(len(hdr), 1, "exactly one %s" % HDR)
                provider, _, sid = hdr[0].partition("/")
                self.assertRegex(sid, r"^[0-9a-f]{12}$")
                self.assertEqual(provider, self.labels[[u.src for u in self.ups].index(src)][1])
                for u in self.ups:
                    self.assertNotIn(str(u.port), hdr[0], "no address in the short id")
                # one upstream, one short id, on either node
                self.assertEqual(seen.setdefault(src, hdr[0]), hdr[0])
        self.assertGreaterEqual(len(set(seen.values())), 2, "different upstreams, different ids")
        # the CONNECT 200 carries it too, and it is the id the plain request saw
        r = curl("-x", a.proxy_url, "--proxy-user", "%s-session-s0:%s" % (USER, PASS), "-p",
                 self.origin.url("/ip"))
        self.assertEqual(r.status, 200, r.stderr)
        blocks = r.headers.split("\r\n\r\n")
        self.assertIn("200 Connection established", blocks[0])
        m = re.findall(r"(?im)^%s: *(\S+)\r?$" % HDR, blocks[0])
        src0, hdr0 = self.via(a, "%s-session-s0" % USER)
        self.assertEqual(m, hdr0)
        # an answer's own header of that name never reaches the client as a second one
        self.assertEqual(len(re.findall(r"(?im)^%s:" % HDR, r.headers)), 1)

    def test_labels_select_and_sessions_agree(self):
        a, b = self.pool_node("lab-a"), self.pool_node("lab-b")
        for _ in range(4):
            self.assertEqual(self.via(a, "%s-country-de" % USER)[0], self.src_of(2))
            self.assertIn(self.via(a, "%s-country-us" % USER)[0], (self.src_of(0), self.src_of(1)))
            self.assertEqual(self.via(b, "%s-country-us-city-new_york" % USER)[0], self.src_of(1))
            self.assertEqual(self.via(b, "%s-city-BOSTON" % USER)[0], self.src_of(0))
            self.assertEqual(self.via(a, "%s-provider-other" % USER)[0], self.src_of(2))
            self.assertEqual(self.via(a, "%s-asn-3320" % USER)[0], self.src_of(2))
        # round robin inside the subset reaches both US upstreams, never DE
        seen = {self.via(a, "%s-country-us" % USER)[0] for _ in range(6)}
        self.assertEqual(seen, {self.src_of(0), self.src_of(1)})
        # sticky inside the subset: the same upstream on both nodes, always US
        for i in range(10):
            user = "%s-country-us-session-k%d-sesstime-30" % (USER, i)
            sa, sb = self.via(a, user)[0], self.via(b, user)[0]
            self.assertEqual(sa, sb, user)
            self.assertIn(sa, (self.src_of(0), self.src_of(1)))
            self.assertEqual(self.via(a, user)[0], sa, "sticky")

    def test_empty_subset_503_names_filter_or_falls_back(self):
        a = self.pool_node("empty")
        for extra in ((), ("-p",)):
            r = curl("-x", a.proxy_url, "--proxy-user", "%s-country-fr-city-paris:%s" % (USER, PASS),
                     *extra, self.origin.url("/ip"))
            self.assertEqual(r.status, 503, r.stderr)
            if not extra:
                self.assertIn("no upstream matches country=fr city=paris", r.body)
        self.assertEqual(a.metric("pf_node_label_misses_total"), 2)
        # a subset that exists but whose tier has nothing: also named
        r = curl("-x", a.proxy_url, "--proxy-user", "%s-country-us-tier-1:%s" % (USER, PASS),
                 self.origin.url("/ip"))
        self.assertEqual(r.status, 503)
        self.assertIn("no upstream matches country=us tier=1", r.body)
        fb = self.pool_node("fallback", label_fallback=True)
        src, _ = self.via(fb, "%s-country-fr" % USER)
        self.assertIn(src, [u.src for u in self.ups])
        self.assertEqual(fb.metric("pf_node_label_fallbacks_total"), 1)

    def test_bad_parameters_407_with_reason(self):
        a = self.pool_node("bad")
        cases = [("%s-country-us-colour-red" % USER, "unknown parameter colour"),
                 ("%s-country-u$a" % USER, "country: value may hold only A-Z a-z 0-9 _ ."),
                 ("%s-country-us-country-de" % USER, "country given twice"),
                 ("%s-tier-99" % USER, "tier: 0..15"),
                 ("%s-session-1-sesstime-9999" % USER, "sesstime: minutes 1..1440")]
        for user, reason in cases:
            r = curl("-x", a.proxy_url, "--proxy-user", "%s:%s" % (user, PASS), self.origin.url("/ip"))
            self.assertEqual(r.status, 407, user)
            self.assertIn("bad user name: " + reason, r.body, user)
        self.assertEqual(a.metric("pf_node_user_param_errors_total"), len(cases))
        # a good name still works, and a wrong password is a plain 407
        self.assertIn(self.via(a, "%s-country-de" % USER)[0], self.src_of(2))
        r = curl("-x", a.proxy_url, "--proxy-user", "%s-country-de:nope" % USER, self.origin.url("/ip"))
        self.assertEqual(r.status, 407)
        self.assertNotIn("bad user name", r.body)


if __name__ == "__main__":
    unittest.main()
