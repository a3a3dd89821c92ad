"""Redis as operators run it, without Sentinel (issue 11 item 1): both real
binaries against a real redis-server with
  * an ACL user (redis://user:pass@host/db sends AUTH user pass; the
    default user is off, so AUTH pass alone could never work);
  * a wrong password: WRONGPASS is logged once per binary, never with the
    password, and retried with backoff (the server's ACL LOG counts the
    attempts), and both connect once the server accepts the password;
  * requirepass (redis://:pass@host sends AUTH pass);
  * a unix socket (unix:///path?db=N);
  * the TLS tunnel of docs/configuration.md ("TLS to Redis"): redis-server
    behind a stunnel4 server, the fleet connecting through a local stunnel4
    client that verifies the server's certificate;
and --check-config refusing the URLs it cannot honour, with a reason."""

import os
import shutil
import time
import unittest

from pf_harness import (Fleet, HarnessError, Peer, RespError, _self_signed_cert, curl,
                        free_port, redis_command, wait_until)

ACL_USER = "pfuser"
ACL_PASS = "pf-acl-pass-4471"
# docs/configuration.md, "redis.url": what the fleet's ACL user needs.
ACL_RULES = ("~{pf}:v1:* &{pf}:v1:* +@read +@write +@scripting +@pubsub +@connection "
             "+@transaction +role")
ADMIN_USER = "pfadmin"
ADMIN_PASS = "pf-admin-pass-6630"
WRONG_PASS = "wr0ng-pass-9913"
LEGACY_PASS = "legacy-pass-7720"
TLS_PASS = "tls-pass-3319"
REDIS_TIMEOUT_MS = 500


def need(name):
    p = shutil.which(name)
    if not p:
        raise HarnessError("%s is not installed (apt-get install %s)" % (name, name))
    return p


class TestRedisAuth(unittest.TestCase):
    def setUp(self):
        self.fleet = Fleet(self)
        for s in (ACL_PASS, WRONG_PASS, LEGACY_PASS, TLS_PASS, ADMIN_PASS):
            self.fleet.secret(s)
        self.k = self.fleet.keys

    # -- building blocks ------------------------------------------------------

    def acl_redis(self, password=ACL_PASS, **kw):
        """A redis-server whose fleet user is ACL_USER with exactly the rights
        docs/configuration.md gives it; the default user is off and the test
        itself (CLIENT LIST, ACL LOG, ACL SETUSER) uses ADMIN_USER."""
        return self.fleet.start_redis(args=["--user", ACL_USER, "on", ">" + password]
                                      + ACL_RULES.split()
                                      + ["--user", ADMIN_USER, "on", ">" + ADMIN_PASS, "~*",
                                         "&*", "+@all", "--user", "default", "off"],
                                      auth=(ADMIN_USER, ADMIN_PASS), **kw)

    def world(self):
        self.origin = self.fleet.start_origin()
        self.up = self.fleet.direct_upstream_node(name="up")

    def redis_section(self, url):
        return {"url": url, "connect_timeout_ms": REDIS_TIMEOUT_MS,
                "command_timeout_ms": REDIS_TIMEOUT_MS}

    def start_pair(self, url):
        """A controller publishing the upstream and a pool node, both on <url>."""
        ctl = self.fleet.start_controller({
            "redis": self.redis_section(url),
            "controller": {"lease_ms": 1500, "providers": [
                {"name": "static", "type": "static", "allow_private": True,
                 "upstreams": ["http://127.0.0.1:%d" % self.up.port]}]}}, name="ctl")
        node = self.fleet.start_node({
            "redis": self.redis_section(url),
            "node": {"mode": "pool", "destination_allow": ["127.0.0.0/8"],
                     "report_interval_ms": 300}}, name="node")
        return ctl, node

    def assert_serves(self, node, timeout=15):
        wait_until(lambda: node.metric("pf_node_pool_size") == 1, timeout,
                   "%s to load the pool" % node.name)
        r = curl("-x", node.proxy_url, self.origin.url("/via-pool"))
        self.assertEqual(r.status, 200, r.stderr)

    def error_lines(self, proc, word):
        return [l for l in proc.log_text().splitlines() if " ERROR " in l and word in l]

    # -- tests ----------------------------------------------------------------

    def test_acl_user_sends_auth_user_pass_on_both_binaries(self):
        self.world()
        r = self.acl_redis()
        # Without the user, AUTH <pass> is refused: the ACL matters here.
        with self.assertRaises(RespError):
            redis_command(r.port, "PING", auth=ACL_PASS)
        ctl, node = self.start_pair("redis://%s:%s@127.0.0.1:%d/0" % (ACL_USER, ACL_PASS, r.port))
        wait_until(lambda: r.hgetall(self.k.pool_meta).get("count") == "1", 15,
                   "the controller to publish as %s" % ACL_USER)
        self.assert_serves(node)
        # Every connection of both binaries is the ACL user's.
        clients = [dict(kv.split("=", 1) for kv in line.split(" ") if "=" in kv)
                   for line in r.cmd("CLIENT", "LIST").strip().splitlines()]
        fleet = [c for c in clients if c.get("user") != ADMIN_USER]
        self.assertGreaterEqual(len(fleet), 3, clients)     # controller + node cmd + node sub
        self.assertEqual({c.get("user") for c in fleet}, {ACL_USER}, clients)
        self.assertEqual(self.error_lines(ctl, "refused") + self.error_lines(node, "refused"), [])
        wait_until(lambda: r.hgetall(self.k.node(node.id)).get("redis_connected") == "1", 5,
                   "the node's heartbeat, written as %s" % ACL_USER)
        # The documented rights suffice: the server denied the user nothing
        # (ACL LOG records every denied command, key and channel).
        time.sleep(1.5)
        denied = [dict(zip(e[0::2], e[1::2])) for e in r.cmd("ACL", "LOG")]
        self.assertEqual([d for d in denied if d.get("username") == ACL_USER], [])

    def test_wrong_password_logged_once_and_retried_with_backoff(self):
        self.world()
        r = self.acl_redis()
        url = "redis://%s:%s@127.0.0.1:%d/0" % (ACL_USER, WRONG_PASS, r.port)
        ctl, node = self.start_pair(url)
        t0 = time.monotonic()
        for b in (ctl, node):
            wait_until(lambda b=b: self.error_lines(b, "WRONGPASS"), 10,
                       "%s to log the refused AUTH" % b.name)
        time.sleep(5)
        elapsed = time.monotonic() - t0
        for b in (ctl, node):
            lines = self.error_lines(b, "WRONGPASS")
            self.assertEqual(len(lines), 1, "%s: refused AUTH logged %d times" % (b.name, len(lines)))
            # It says which AUTH form was sent, never the password.
            self.assertIn("AUTH <user> <password>", lines[0])
            self.assertTrue(b.running())
        # The server saw retries, spaced by backoff, not a spin: ACL LOG
        # counts the refused AUTHs of the user.
        entries = r.cmd("ACL", "LOG")
        attempts = sum(int(dict(zip(e[0::2], e[1::2]))["count"]) for e in entries
                       if dict(zip(e[0::2], e[1::2])).get("username") == ACL_USER)
        self.assertGreaterEqual(attempts, 4, entries)
        # node: 2 connections per session, backoff from 100 ms (cap 5 s);
        # controller: backoff from 200 ms (cap 10 s). A spin would be 1000s.
        self.assertLess(attempts, 12 * elapsed + 20, (attempts, elapsed))
        self.assertEqual(node.admin("/readyz")[0], 503)
        # The operator fixes the server: both connect within their backoff cap.
        r.cmd("ACL", "SETUSER", ACL_USER, ">" + WRONG_PASS)
        wait_until(lambda: r.hgetall(self.k.pool_meta).get("count") == "1", 20,
                   "the controller to connect and publish")
        self.assert_serves(node, timeout=15)
        self.assertEqual(len(self.error_lines(node, "WRONGPASS")), 1)
        self.assertEqual(len(self.error_lines(ctl, "WRONGPASS")), 1)

    def test_requirepass_sends_auth_pass(self):
        self.world()
        r = self.fleet.start_redis(args=["--requirepass", LEGACY_PASS], auth=LEGACY_PASS)
        ctl, node = self.start_pair("redis://:%s@127.0.0.1:%d/0" % (LEGACY_PASS, r.port))
        wait_until(lambda: r.hgetall(self.k.pool_meta).get("count") == "1", 15,
                   "the controller to publish")
        self.assert_serves(node)

    def test_unix_socket_with_db(self):
        self.world()
        sock = os.path.join(self.fleet.tmp, "redis.sock")
        r = self.fleet.start_redis(args=["--unixsocket", sock, "--unixsocketperm", "700"])
        url = "unix://%s?db=3" % sock
        ctl, node = self.start_pair(url)
        wait_until(lambda: r.cli("-n", "3", "HGET", self.k.pool_meta, "count").strip() == "1",
                   15, "the controller to publish into db 3 over the socket")
        self.assertEqual(r.cmd("EXISTS", self.k.pool_meta), 0)   # not in db 0
        self.assert_serves(node)
        st = node.admin("/stats")[1]
        self.assertIn('"redis_target":"unix:%s"' % sock, st)
        self.assertIn('"redis_target":"unix:%s"' % sock, ctl.admin("/status")[1])
        # Over the socket only: no TCP client of the fleet on the server.
        tcp = [l for l in r.cmd("CLIENT", "LIST").splitlines()
               if "addr=127.0.0.1" in l and "cmd=client|list" not in l]
        self.assertEqual(tcp, [])

    def test_tls_tunnel_through_stunnel4(self):
        """docs/configuration.md, "TLS to Redis": redis-server behind a
        stunnel4 server (TLS), the fleet talking to a local stunnel4 client
        that verifies the server's certificate."""
        self.world()
        r = self.fleet.start_redis(args=["--requirepass", TLS_PASS], auth=TLS_PASS)
        d = os.path.join(self.fleet.tmp, "tls")
        os.makedirs(d)
        cert, key = _self_signed_cert(d, "redis-tls")
        tls_port, local_port = free_port(), free_port()
        server_conf = os.path.join(d, "server.conf")
        with open(server_conf, "w") as f:
            f.write("foreground = yes\npid =\n[redis-tls]\naccept = 127.0.0.1:%d\n"
                    "connect = 127.0.0.1:%d\ncert = %s\nkey = %s\n"
                    % (tls_port, r.port, cert, key))
        client_conf = os.path.join(d, "client.conf")
        with open(client_conf, "w") as f:
            f.write("foreground = yes\npid =\n[redis]\nclient = yes\n"
                    "accept = 127.0.0.1:%d\nconnect = 127.0.0.1:%d\n"
                    "verifyChain = yes\nCAfile = %s\ncheckHost = localhost\n"
                    % (local_port, tls_port, cert))
        Peer(self.fleet, "stunnel-server", [need("stunnel4"), server_conf], tls_port)
        Peer(self.fleet, "stunnel-client", [need("stunnel4"), client_conf], local_port)
        # The hop between the stunnels is TLS: plain RESP gets no answer there.
        with self.assertRaises((OSError, ConnectionError, RespError, ValueError)):
            redis_command(tls_port, "PING", timeout=1)
        ctl, node = self.start_pair("redis://:%s@127.0.0.1:%d/0" % (TLS_PASS, local_port))
        wait_until(lambda: r.hgetall(self.k.pool_meta).get("count") == "1", 15,
                   "the controller to publish through the tunnel")
        self.assert_serves(node)
        # Every fleet connection reached Redis through the stunnel server.
        peers = [l for l in r.cmd("CLIENT", "LIST").splitlines() if "cmd=client|list" not in l]
        self.assertGreaterEqual(len(peers), 3, peers)

    def test_check_config_refuses_what_it_cannot_honour(self):
        f = self.fleet
        bad = [
            ({"url": "rediss://:%s@cache:6380/0" % TLS_PASS}, ["rediss:// (TLS) is not supported",
                                                              "TLS to Redis", "stunnel4"]),
            ({"url": "redis://%s@cache" % ACL_PASS}, ["user without a password"]),
            ({"url": "redis://cache/0?password=%s" % LEGACY_PASS},
             ["query parameters are not supported"]),
            ({"url": "unix:///run/redis.sock", "sentinels": ["127.0.0.1:26379"],
              "master_name": "pfmaster"}, ["unix:// cannot be used with redis.sentinels"]),
            ({"sentinels": ["127.0.0.1:26379"]}, ["redis.master_name: required"]),
            ({"sentinels": ["127.0.0.1"], "master_name": "pfmaster"},
             ["redis.sentinels[0]: must be host:port"]),
        ]
        for kind in ("controller", "node"):
            for redis, words in bad:
                rc, out = f.run_binary(kind, {"redis": redis}, ["--check-config"])
                self.assertEqual(rc, 2, (kind, redis, out))
                for w in words:
                    self.assertIn(w, out, (kind, redis))
                for secret in (TLS_PASS, ACL_PASS, LEGACY_PASS):
                    self.assertNotIn(secret, out)
            good = [{"url": "redis://%s:%s@cache:6380/2" % (ACL_USER, ACL_PASS)},
                    {"url": "unix:///run/redis/redis.sock?db=1"},
                    {"url": "redis://:%s@ignored/1" % LEGACY_PASS,
                     "sentinels": ["127.0.0.1:26379", "[::1]:26380"], "master_name": "pfmaster",
                     "sentinel_user": "sentinel-user", "sentinel_password": TLS_PASS}]
            for redis in good:
                rc, out = f.run_binary(kind, {"redis": redis}, ["--check-config"])
                self.assertEqual(rc, 0, (kind, redis, out))


if __name__ == "__main__":
    unittest.main()
