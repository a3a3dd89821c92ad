"""Bans (issue 12 item 2) across two pool-mode nodes against a real
redis-server and real upstreams: direct-mode nodes, each binding its
outgoing connections to its own loopback source address, so the origin's
request log says which upstream carried a request. Two "domains" reach the
one origin: "localhost" and "127.0.0.1". The snapshot is written by hand as
docs/redis-keys.md describes; bans go through node A (in-band, on the proxy
port with the user's own credentials) and must be obeyed by node B."""

import json
import struct
import time
import unittest
import urllib.error
import urllib.request

from pf_harness import Fleet, curl, wait_until

EPOCH = "bcbcbcbcbcbcbcbc"
USER, PASS = "alice", "s3cr3t-alice"


def siphash24(key, data):
    """SipHash-2-4 (Aumasson and Bernstein), the reference algorithm."""
    M = (1 << 64) - 1
    rotl = lambda x, b: ((x << b) | (x >> (64 - b))) & M
    k0, k1 = struct.unpack("<QQ", key)
    v = [k0 ^ 0x736f6d6570736575, k1 ^ 0x646f72616e646f6d, k0 ^ 0x6c7967656e657261,
         k1 ^ 0x7465646279746573]

    def rnd():
        v[0] = (v[0] + v[1]) & M; v[1] = rotl(v[1], 13); v[1] ^= v[0]; v[0] = rotl(v[0], 32)
        v[2] = (v[2] + v[3]) & M; v[3] = rotl(v[3], 16); v[3] ^= v[2]
        v[0] = (v[0] + v[3]) & M; v[3] = rotl(v[3], 21); v[3] ^= v[0]
        v[2] = (v[2] + v[1]) & M; v[1] = rotl(v[1], 17); v[1] ^= v[2]; v[2] = rotl(v[2], 32)
    tail = len(data) % 8
    for i in range(0, len(data) - tail, 8):
        m = struct.unpack("<Q", data[i:i + 8])[0]
        v[3] ^= m; rnd(); rnd(); v[0] ^= m
    b = (len(data) & 0xff) << 56
    for i, c in enumerate(data[len(data) - tail:]):
        b |= c << (8 * i)
    v[3] ^= b; rnd(); rnd(); v[0] ^= b
    v[2] ^= 0xff
    for _ in range(4):
        rnd()
    return v[0] ^ v[1] ^ v[2] ^ v[3]


def sid_of(upstream_id):
    """The short upstream id, as common/upstream_sid.h defines it (no
    credential key: the all-zero key)."""
    return "%012x" % (siphash24(bytes(16), upstream_id.encode()) >> 16)


def record(port):
    return json.dumps({"scheme": "http", "host": "127.0.0.1", "port": port, "provider": "hand",
                       "expires_at_ms": 0, "weight": 1, "latency_ms": 0})


class NodeBans(unittest.TestCase):
    def setUp(self):
        # no credential key: short ids under the all-zero key, which sid_of() computes
        self.fleet = Fleet(self, credential_key=False)
        f = self.fleet
        self.redis = f.start_redis()
        self.origin = f.start_origin()
        self.ups = []
        for i in range(3):
            src = "127.0.0.%d" % (21 + i)
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
        self.token = f.secret("t0k3n-admin-0123456789")
        self.a = self.pool_node("node-a", admin_token=self.token)
        self.b = self.pool_node("node-b", admin_token=self.token)

    def pool_node(self, name, **extra):
        cfg = {"mode": "pool", "destination_allow": ["127.0.0.0/8"], "connect_timeout_ms": 2000,
               "strategy": "round_robin", "users": [{"user": USER, "pass": PASS}]}
        cfg.update(extra)
        n = self.fleet.start_node({"node": cfg}, name=name)
        wait_until(lambda: n.metric("pf_node_pool_size") == 3, 10, "%s pool" % name)
        return n

    def via(self, node, host, user=USER):
        """One request through <node> to <host>; returns the upstream that carried it."""
        before = len(self.origin.requests())
        r = curl("-x", node.proxy_url, "--proxy-user", "%s:%s" % (user, PASS),
                 "http://%s:%d/x" % (host, self.origin.port))
        self.assertEqual(r.status, 200, "%s %s" % (r.stderr, r.body[:200]))
        reqs = wait_until(lambda: self.origin.requests()[before:] or None, 5, "origin log")
        return self.by_src[reqs[-1]["client"].rsplit(":", 1)[0]]

    def inband(self, node, query, user=USER, password=PASS):
        r = curl("-x", node.proxy_url, "--proxy-user", "%s:%s" % (user, password),
                 "http://proxyfleet.control/ban?" + query)
        if r.status == 407:
            return r.status, None             # the node's plain-text 407, not a ban answer
        return r.status, json.loads(r.body)

    def api(self, node, method, path, body=None, token=None):
        """The admin ban API: (status, JSON body)."""
        req = urllib.request.Request("http://127.0.0.1:%d%s" % (node.admin_port, path),
                                     method=method,
                                     data=json.dumps(body).encode() if body is not None else None)
        if token is not None:
            req.add_header("Authorization", "Bearer " + token)
        if body is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=5) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read())

    def bans_in_redis(self):
        return {k: json.loads(v) for k, v in self.redis.hgetall(self.fleet.keys.bans).items()}

    # ------------------------------------------------------------------------

    def test_session_ban_on_a_moves_the_session_on_b_for_that_domain_only(self):
        sess = "%s-session-42" % USER
        first_local = self.via(self.b, "localhost", sess)
        first_ip = self.via(self.b, "127.0.0.1", sess)
        # sticky on both nodes, both domains (rendezvous: same upstream)
        self.assertIs(self.via(self.a, "localhost", sess), first_local)
        self.assertIs(first_ip, first_local)

        t0 = time.monotonic()
        status, body = self.inband(self.a, "session=42&domain=localhost&ttl_s=600&reason=captcha")
        self.assertEqual(status, 200, body)
        ban = body["ban"]
        self.assertEqual(ban["upstream"], first_local.sid)
        self.assertEqual(ban["session"], sess)
        self.assertEqual(ban["domain"], "localhost")
        self.assertEqual(ban["reason"], "captcha")
        # in Redis, readable, with its expiry
        stored = self.bans_in_redis()
        self.assertEqual(stored[ban["id"]]["upstream"], first_local.sid)
        exp = float(self.redis.cmd("ZSCORE", self.fleet.keys.bans_expiry, ban["id"]))
        self.assertAlmostEqual(exp, ban["expires_at_ms"], delta=1)
        self.assertGreater(ban["expires_at_ms"], time.time() * 1000 + 590000)

        # node B obeys within 1 s: the session moves for localhost only
        moved = wait_until(lambda: (lambda u: u if u is not first_local else None)(
            self.via(self.b, "localhost", sess)), 1.0, "node B obeys the ban")
        self.assertLess(time.monotonic() - t0, 1.5)
        self.assertIsNot(moved, first_local)
        for _ in range(3):
            self.assertIs(self.via(self.b, "localhost", sess), moved, "sticky on the next one")
            self.assertIs(self.via(self.a, "localhost", sess), moved, "same on node A")
            self.assertIs(self.via(self.b, "127.0.0.1", sess), first_local, "other domain kept")
        # another session of the same user is not concerned
        other = "%s-session-77" % USER
        self.assertIs(self.via(self.b, "localhost", other), self.via(self.b, "127.0.0.1", other))
        self.assertGreater(self.b.metric("pf_node_ban_skips_total"), 0)

    def test_fleet_ban_expires_and_is_loaded_at_connect(self):
        victim = self.ups[0]
        # a fleet ban as a node's script writes it, expiring in 10 s
        now = int(time.time() * 1000)
        rec = {"id": "00000000000000aa", "upstream": victim.sid, "domain": "localhost",
               "created_at_ms": now, "expires_at_ms": now + 10000, "reason": "test"}
        k = self.fleet.keys
        self.redis.cmd("HSET", k.bans, rec["id"], json.dumps(rec))
        self.redis.cmd("ZADD", k.bans_expiry, str(rec["expires_at_ms"]), rec["id"])
        # a node started now loads it at connect (no notice was sent)
        c = self.pool_node("node-c")
        wait_until(lambda: c.metric("pf_node_bans") == 1, 5, "node C loaded the ban")
        seen = {self.via(c, "localhost") for _ in range(6)}
        self.assertNotIn(victim, seen)
        self.assertEqual(len(seen), 2)
        seen_ip = {self.via(c, "127.0.0.1") for _ in range(6)}
        self.assertIn(victim, seen_ip, "another domain still uses it")
        # after its expiry the upstream serves localhost again
        self.assertLess(time.time() * 1000, rec["expires_at_ms"], "checked before the expiry")
        wait_until(lambda: c.metric("pf_node_bans") == 0, 15, "ban expired")
        seen = {self.via(c, "localhost") for _ in range(6)}
        self.assertIn(victim, seen)

    def test_inband_errors_and_never_forwarded(self):
        before = len(self.origin.requests())
        st, body = self.inband(self.a, "session=42&domain=localhost", password="wrong-pass")
        self.assertEqual(st, 407)
        st, body = self.inband(self.a, "domain=localhost")
        self.assertEqual(st, 400)
        self.assertIn("session is required", body["error"])
        st, body = self.inband(self.a, "session=42&domain=local%20host")
        self.assertEqual(st, 400)
        self.assertNotIn("local host", body["error"])
        st, body = self.inband(self.a, "session=42&domain=localhost&bogus=1")
        self.assertEqual(st, 400)
        r = curl("-x", self.a.proxy_url, "--proxy-user", "%s:%s" % (USER, PASS),
                 "http://proxyfleet.control/other")
        self.assertEqual(r.status, 404)
        # SOCKS5 (sniffed on the proxy port) to the reserved host: refused, not forwarded
        denials = self.a.metric("pf_node_policy_denials_total")
        r = curl("-x", "socks5h://%s:%s@127.0.0.1:%d" % (USER, PASS, self.a.port),
                 "http://proxyfleet.control/ban?session=42&domain=localhost")
        self.assertNotEqual(r.exit_code, 0)
        self.assertEqual(self.a.metric("pf_node_policy_denials_total"), denials + 1)
        self.assertEqual(self.bans_in_redis(), {})
        self.assertEqual(len(self.origin.requests()), before, "nothing was forwarded")

    def test_admin_api_auth_fleet_ban_list_delete(self):
        victim = self.ups[1]
        ban = {"upstream": victim.sid, "domain": "localhost", "ttl_s": 600, "reason": "403s"}
        # no token, a wrong token: 401, nothing stored
        self.assertEqual(self.api(self.a, "POST", "/v1/bans", ban)[0], 401)
        st, body = self.api(self.a, "POST", "/v1/bans", ban, token="wrong-token-0123456789")
        self.assertEqual(st, 401)
        self.assertNotIn(self.token, json.dumps(body))
        self.assertEqual(self.api(self.a, "GET", "/v1/bans")[0], 401)
        self.assertEqual(self.bans_in_redis(), {})
        # a node without node.admin_token has the API off
        c = self.pool_node("node-c")
        st, body = self.api(c, "GET", "/v1/bans", token=self.token)
        self.assertEqual(st, 404)
        self.assertIn("admin_token", body["error"])
        # bad bodies: 400 with a reason
        st, body = self.api(self.a, "POST", "/v1/bans", {"domain": "localhost"}, token=self.token)
        self.assertEqual(st, 400)
        self.assertIn("upstream or session", body["error"])
        st, body = self.api(self.a, "POST", "/v1/bans", dict(ban, ttl_s=0), token=self.token)
        self.assertEqual(st, 400)

        st, body = self.api(self.a, "POST", "/v1/bans", ban, token=self.token)
        self.assertEqual(st, 201, body)
        made = body["ban"]
        self.assertEqual((made["upstream"], made["domain"]), (victim.sid, "localhost"))
        self.assertNotIn("session", made)
        # node B lists it and stops using the upstream for localhost (fleet-wide)
        wait_until(lambda: any(b["id"] == made["id"] for b in
                               self.api(self.b, "GET", "/v1/bans", token=self.token)[1]["bans"]),
                   1.0, "node B has the ban")
        seen = {self.via(self.b, "localhost") for _ in range(6)}
        self.assertNotIn(victim, seen)
        self.assertIn(victim, {self.via(self.b, "127.0.0.1") for _ in range(6)})
        # delete on B: gone from Redis and from A; A uses the upstream again
        self.assertEqual(self.api(self.b, "DELETE", "/v1/bans/" + made["id"])[0], 401)
        st, body = self.api(self.b, "DELETE", "/v1/bans/" + made["id"], token=self.token)
        self.assertEqual((st, body), (200, {"deleted": made["id"]}))
        # the answer means the write is on its way to Redis; it lands well
        # within the fleet's 1 s
        wait_until(lambda: self.bans_in_redis() == {}, 1.0, "the ban left Redis")
        self.assertEqual(self.b.metric("pf_node_ban_write_failures_total"), 0)
        wait_until(lambda: self.api(self.a, "GET", "/v1/bans", token=self.token)[1]["bans"] == [],
                   1.0, "node A dropped the ban")
        self.assertIn(victim, {self.via(self.a, "localhost") for _ in range(6)})
        st, _ = self.api(self.b, "DELETE", "/v1/bans/" + made["id"], token=self.token)
        self.assertEqual(st, 404)


if __name__ == "__main__":
    unittest.main()
