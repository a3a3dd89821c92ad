"""Provider tiers and the node's own upstream policy, through real binaries.

Tiers: a controller with a primary provider (tier 0) and a backup one
(tier 1), a pool-mode node, real upstreams (direct-mode nodes, each with its
own loopback source address, so the origin's log says which one served).
The backup serves only while no primary upstream is usable, as HAProxy's
"backup" servers do, and sticky sessions stay inside the tier in use.

Policy: pool records written straight into Redis (a wrong or poisoned
pool), read by nodes with node.upstream_allow_private false, true and CIDR
lists: a record the node's policy refuses is skipped and counted
(pf_node_pool_denied), never dialed; metadata addresses pass neither true
nor a wider range (that a CIDR naming one exactly lets it in is a unit test:
no test may send traffic to a metadata address)."""

import json
import socket
import time
import unittest

from pf_harness import Fleet, curl, wait_until

USER, PASS = "alice", "s3cr3t-alice"
EPOCH = "cdcdcdcdcdcdcdcd"


class NodeTiers(unittest.TestCase):
    def setUp(self):
        self.fleet = Fleet(self)
        f = self.fleet
        self.redis = f.start_redis()
        self.origin = f.start_origin()

    def upstream(self, name, src):
        u = self.fleet.direct_upstream_node(name=name, source_address=src)
        u.src = src
        return u

    def via(self, node, *extra):
        before = len(self.origin.requests())
        r = curl("-x", node.proxy_url, *extra, self.origin.url("/tier"))
        self.assertEqual(r.status, 200, "%s %s" % (r.stderr, r.body[:200]))
        reqs = wait_until(lambda: self.origin.requests()[before:] or None, 5, "origin log")
        return reqs[-1]["client"].rsplit(":", 1)[0]

    def test_backup_tier_serves_only_when_primary_is_unusable(self):
        f = self.fleet
        p1 = self.upstream("prim1", "127.0.0.61")
        p2 = self.upstream("prim2", "127.0.0.62")
        b1 = self.upstream("back1", "127.0.0.63")
        f.start_controller({"controller": {"providers": [
            {"name": "primary", "type": "static", "allow_private": ["127.0.0.0/8"],
             "upstreams": ["127.0.0.1:%d" % p1.port, "127.0.0.1:%d" % p2.port]},
            {"name": "backup", "type": "static", "tier": 1, "allow_private": ["127.0.0.0/8"],
             "upstreams": ["127.0.0.1:%d" % b1.port]}]}})
        node = f.start_node({"node": {
            "mode": "pool", "destination_allow": ["127.0.0.0/8"], "connect_timeout_ms": 1000,
            "retries": 2, "eject_consecutive_failures": 1, "eject_base_ms": 1500,
            "eject_max_ms": 1500, "users": [{"user": USER, "pass": PASS}]}}, name="pool")
        wait_until(lambda: node.metric("pf_node_pool_size") == 3, 15, "pool of 3 on the node")
        recs = {json.loads(v)["port"]: json.loads(v)
                for v in self.redis.hgetall(f.keys.pool_upstreams).values()}
        self.assertEqual(recs[b1.port].get("tier"), 1)
        self.assertNotIn("tier", recs[p1.port], "tier 0 is not written")

        auth = ["--proxy-user", "%s:%s" % (USER, PASS)]
        seen = [self.via(node, *auth) for _ in range(8)]
        self.assertEqual(set(seen), {p1.src, p2.src}, seen)
        # sticky sessions: each on a primary, and stay there
        sticky = {}
        for sid in ("a", "b", "c", "d", "e", "f"):
            s = ["--proxy-user", "%s-session-%s:%s" % (USER, sid, PASS)]
            sticky[sid] = self.via(node, *s)
            self.assertIn(sticky[sid], (p1.src, p2.src))
            self.assertEqual(self.via(node, *s), sticky[sid])

        # one primary down: the other carries everything, the backup nothing
        p1.kill()
        seen = [self.via(node, *auth) for _ in range(6)]
        self.assertEqual(set(seen), {p2.src}, seen)
        # sessions of the dead primary move to the live one, still tier 0
        for sid, where in sticky.items():
            s = ["--proxy-user", "%s-session-%s:%s" % (USER, sid, PASS)]
            self.assertEqual(self.via(node, *s), p2.src, sid)

        # both primaries down: the backup serves, within the same request
        p2.kill()
        seen = [self.via(node, *auth) for _ in range(6)]
        self.assertEqual(set(seen), {b1.src}, seen)
        for sid in sticky:
            s = ["--proxy-user", "%s-session-%s:%s" % (USER, sid, PASS)]
            self.assertEqual(self.via(node, *s), b1.src)

        # the primaries come back: once their ejection ends, tier 0 again
        p1.start()
        p2.start()
        time.sleep(1.6)
        wait_until(lambda: self.via(node, *auth) in (p1.src, p2.src), 10, "primary again")
        seen = [self.via(node, *auth) for _ in range(8)]
        self.assertEqual(set(seen), {p1.src, p2.src}, seen)
        for sid, where in sticky.items():
            s = ["--proxy-user", "%s-session-%s:%s" % (USER, sid, PASS)]
            self.assertEqual(self.via(node, *s), where, "session %s back where it was" % sid)


class NodeUpstreamPolicy(unittest.TestCase):
    def setUp(self):
        self.fleet = Fleet(self)
        f = self.fleet
        self.redis = f.start_redis()
        self.origin = f.start_origin()
        self.up = f.direct_upstream_node(name="up", source_address="127.0.0.71")
        self.version = 0

    def seed(self, hostports):
        """A snapshot written by hand, as docs/redis-keys.md describes it:
        what a poisoned Redis would hold."""
        r, k = self.redis, self.fleet.keys
        self.version += 1
        r.cmd("DEL", k.pool_upstreams)
        for hp in hostports:
            host, port = hp.rsplit(":", 1)
            host = host.strip("[]")
            rec = {"scheme": "http", "host": host, "port": int(port), "provider": "hand",
                   "expires_at_ms": 0, "weight": 1, "latency_ms": 0}
            r.cmd("HSET", k.pool_upstreams, "http://%s" % hp, json.dumps(rec))
        r.cmd("HSET", k.pool_meta, "version", str(self.version), "epoch", EPOCH,
              "count", str(len(hostports)), "updated_at_ms", str(int(time.time() * 1000)),
              "controller_id", "by-hand")
        r.cmd("PUBLISH", k.pool_events, "%d %s" % (self.version, EPOCH))

    def node(self, name, policy):
        return self.fleet.start_node({"node": {
            "mode": "pool", "destination_allow": ["127.0.0.0/8"], "connect_timeout_ms": 1000,
            "upstream_allow_private": policy}}, name=name)

    def wait_loaded(self, node, size, denied):
        wait_until(lambda: node.metric("pf_node_pool_version") == self.version and
                   node.metric("pf_node_pool_size") == size and
                   node.metric("pf_node_pool_denied") == denied, 10,
                   "%s: pool v%d of %d, %d denied" % (node.name, self.version, size, denied))

    def get(self, node):
        before = len(self.origin.requests())
        r = curl("-x", node.proxy_url, self.origin.url("/policy"))
        return r.status, self.origin.requests()[before:]

    def test_poisoned_records_are_skipped_and_counted(self):
        up = "127.0.0.1:%d" % self.up.port
        strict = self.node("strict", False)        # the default: public only
        loose = self.node("loose", True)
        listed = self.node("listed", ["127.0.0.1/32"])
        wide = self.node("wide", ["127.0.0.0/8", "169.254.0.0/16", "100.64.0.0/10", "fd00::/8"])

        # loopback plus metadata addresses (AWS, ECS, Alibaba, Azure, IPv6 EC2)
        meta = ["169.254.169.254:80", "169.254.170.2:80", "100.100.100.200:80",
                "168.63.129.16:80", "[fd00:ec2::254]:80"]
        self.seed([up] + meta)
        self.wait_loaded(strict, 6, 6)
        self.wait_loaded(loose, 6, 5)
        self.wait_loaded(listed, 6, 5)
        self.wait_loaded(wide, 6, 5)
        status, reqs = self.get(strict)
        self.assertEqual((status, reqs), (503, []), "strict: nothing dialable")
        for n in (loose, listed, wide):
            for _ in range(4):
                status, reqs = self.get(n)
                self.assertEqual(status, 200, n.name)
                self.assertEqual(reqs[-1]["client"].rsplit(":", 1)[0], "127.0.0.71")
        stats = json.loads(strict.admin("/stats")[1])
        self.assertEqual(stats["pool_denied"], 6)
        self.assertEqual(stats["pool_usable"], 0)
        # honest readiness: a pool the node's policy refuses whole is not ready
        st, body, _ = strict.admin("/readyz")
        self.assertEqual(st, 503, body)
        self.assertIn("6 denied by the upstream policy", body)
        for n in (loose, listed, wide):
            self.assertEqual(n.admin("/readyz")[0], 200, n.name)

        # only metadata left: nothing to dial anywhere, even under "true"
        # and wide ranges; not one outgoing connection was tried
        self.seed(meta)
        dials = {n.name: n.metric("pf_node_upstream_dials_total")
                 for n in (strict, loose, listed, wide)}
        for n in (strict, loose, listed, wide):
            self.wait_loaded(n, 5, 5)
            status, reqs = self.get(n)
            self.assertEqual((status, reqs), (503, []), n.name)
            self.assertEqual(n.metric("pf_node_upstream_dials_total"), dials[n.name], n.name)
            self.assertEqual(json.loads(n.admin("/stats")[1])["pool_usable"], 0, n.name)
            self.assertEqual(n.admin("/readyz")[0], 503, n.name)

    def test_upstream_name_checked_once_resolved(self):
        """A record by host name passes the record check (names are resolved
        at dial time); the resolved address is checked then. The machine's
        own host name resolves to a loopback or private address (Debian:
        127.0.1.1, a container: its bridge address): a strict node refuses to
        dial it, a node allowing private upstreams dials it."""
        name = socket.gethostname()
        try:
            addr = socket.getaddrinfo(name, None, socket.AF_INET)[0][4][0]
        except OSError as e:
            self.fail("the host name %r does not resolve: %s" % (name, e))
        first = int(addr.split(".")[0])
        self.assertTrue(first in (10, 127) or addr.startswith(("172.", "192.168.")),
                        "the host name resolves to a public address %s" % addr)
        port = self.up.port
        strict = self.node("strict", False)
        loose = self.node("loose", True)
        self.seed(["%s:%d" % (name.lower(), port)])
        self.wait_loaded(strict, 1, 0)
        self.wait_loaded(loose, 1, 0)
        status, reqs = self.get(strict)
        self.assertNotEqual(status, 200)
        self.assertEqual(reqs, [])
        self.assertIn("resolves to an address node.upstream_allow_private refuses",
                      strict.log_text())
        self.assertEqual(strict.metric("pf_node_upstream_dials_total"), 0)
        status, reqs = self.get(loose)
        self.assertGreater(loose.metric("pf_node_upstream_dials_total"), 0)
        self.assertNotIn("node.upstream_allow_private refuses", loose.log_text())
        if addr.startswith("127."):
            self.assertEqual(status, 200)     # the upstream listens on loopback


if __name__ == "__main__":
    unittest.main()
