"""Pool-mode node through real third-party upstream proxies:

  * microsocks (Debian) with username/password as a socks5 and socks5h upstream,
  * dante (danted, no auth: its username method needs system users) as a
    socks5 and socks5h upstream,
  * squid with basic auth (basic_ncsa_auth, an htpasswd made by the test) as
    an http upstream with credentials,

for absolute-form HTTP requests, CONNECT tunnels and SOCKS5 clients of the
node; wrong upstream credentials give 502 and the retry goes to a good
upstream. The pool snapshot is written by hand into Redis as
docs/redis-keys.md describes (pool:meta + pool:upstreams), before the node
starts. Every test fails loudly when a peer binary is missing."""

import json
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import unittest

from pf_harness import Fleet, HarnessError, Peer, curl, free_port, port_open, wait_until

SOCKS_USER = "peeruser"
SOCKS_PASS = "peer-s0cks-4417"
SQUID_USER = "squser"
SQUID_PASS = "squid-pw-8826"
EPOCH = "0123456789abcdef"


def need(path_or_name):
    p = shutil.which(path_or_name) or (path_or_name if os.path.exists(path_or_name) else None)
    if not p:
        raise HarnessError("%s is not installed: the upstream peer tests need it "
                           "(apt-get install microsocks dante-server squid)" % path_or_name)
    return p



class UpstreamPeers(unittest.TestCase):
    def setUp(self):
        self.fleet = Fleet(self)
        self.fleet.secret(SOCKS_PASS)
        self.fleet.secret(SQUID_PASS)
        self.origin = self.fleet.start_origin()
        self.redis = self.fleet.start_redis()

    # -- peers ------------------------------------------------------------------

    def microsocks(self, user=SOCKS_USER, password=SOCKS_PASS):
        port = free_port()
        argv = [need("microsocks"), "-i", "127.0.0.1", "-p", str(port)]
        if user:
            argv += ["-u", user, "-P", password]
        return Peer(self.fleet, "microsocks-%d" % port, argv, port)

    def dante(self):
        port = free_port()
        d = os.path.join(self.fleet.tmp, "dante-%d" % port)
        os.makedirs(d)
        conf = os.path.join(d, "danted.conf")
        with open(conf, "w") as f:
            f.write("logoutput: stderr\n"
                    "internal: 127.0.0.1 port = %d\n"
                    "external: 127.0.0.1\n"
                    "socksmethod: none\n"
                    "clientmethod: none\n"
                    "user.privileged: root\n"
                    "user.unprivileged: nobody\n"
                    "client pass { from: 127.0.0.0/8 to: 0.0.0.0/0 }\n"
                    "socks pass { from: 127.0.0.0/8 to: 0.0.0.0/0 command: connect }\n" % port)
        argv = [need("danted"), "-f", conf, "-p", os.path.join(d, "danted.pid"), "-N", "1"]
        return Peer(self.fleet, "dante-%d" % port, argv, port)

    def squid(self):
        need("squid")
        helper = need("/usr/lib/squid/basic_ncsa_auth")
        port = free_port()
        # squid drops to its own user: its files live outside the 0700 fleet dir
        d = tempfile.mkdtemp(prefix="pf-squid-")
        self.addCleanup(shutil.rmtree, d, True)
        os.chmod(d, 0o777)
        hashed = subprocess.run(["openssl", "passwd", "-apr1", SQUID_PASS], check=True,
                                capture_output=True, text=True).stdout.strip()
        htpasswd = os.path.join(d, "htpasswd")
        with open(htpasswd, "w") as f:
            f.write("%s:%s\n" % (SQUID_USER, hashed))
        os.chmod(htpasswd, 0o644)
        conf = os.path.join(d, "squid.conf")
        with open(conf, "w") as f:
            f.write("http_port 127.0.0.1:%d\n"
                    "pid_filename %s/squid.pid\n"
                    "cache_log %s/cache.log\n"
                    "access_log stdio:%s/access.log\n"
                    "cache_store_log none\n"
                    "coredump_dir %s\n"
                    "cache deny all\n"
                    "auth_param basic program %s %s\n"
                    "auth_param basic children 2\n"
                    "auth_param basic realm pf-test\n"
                    "acl authed proxy_auth REQUIRED\n"
                    "http_access allow authed\n"
                    "http_access deny all\n"
                    "shutdown_lifetime 1 seconds\n"
                    "visible_hostname pf-test\n" % (port, d, d, d, d, helper, htpasswd))
        os.chmod(conf, 0o644)
        return Peer(self.fleet, "squid-%d" % port, [need("squid"), "-N", "-f", conf], port, cwd=d)

    # -- pool ---------------------------------------------------------------------

    def write_pool(self, upstreams):
        """<upstreams>: (scheme, port, user, pass) tuples on 127.0.0.1."""
        k = self.fleet.keys
        args = []
        for scheme, port, user, pw in upstreams:
            rec = {"scheme": scheme, "host": "127.0.0.1", "port": port, "provider": "peers",
                   "expires_at_ms": 0, "weight": 1, "latency_ms": 0}
            uid = "%s://127.0.0.1:%d" % (scheme, port)
            if user:
                rec["user"] = user
                rec["pass"] = pw
                uid += "#%08x" % (hash(user) & 0xffffffff)
            args += [uid, self.fleet.seal_record(rec)]
        self.redis.cmd("DEL", k.pool_upstreams)
        self.redis.cmd("HSET", k.pool_upstreams, *args)
        version = self.redis.cmd("HINCRBY", k.pool_meta, "version", 1)
        self.redis.cmd("HSET", k.pool_meta, "epoch", EPOCH, "count", len(upstreams),
                       "updated_at_ms", int(time.time() * 1000), "controller_id", "test")
        self.redis.cmd("PUBLISH", k.pool_events, "%d %s" % (version, EPOCH))
        return version

    def pool_node(self, upstreams, **node):
        self.write_pool(upstreams)
        self.socks_port = free_port()
        # connect_ports []: any port (the origin's is random), also for names
        cfg = {"node": {"mode": "pool", "destination_allow": ["127.0.0.0/8"],
                        "connect_timeout_ms": 3000, "connect_ports": [],
                        "socks5_listen": "127.0.0.1:%d" % self.socks_port}}
        cfg["node"].update(node)
        n = self.fleet.start_node(cfg)
        wait_until(lambda: n.metric("pf_node_pool_size") == len(upstreams), 15,
                   "node to load %d upstreams" % len(upstreams))
        wait_until(lambda: port_open(self.socks_port), 10, "socks5 port")
        return n

    def assert_all_paths_work(self, node, tag, dest_host="127.0.0.1"):
        url = "http://%s:%d/%s" % (dest_host, self.origin.port, tag)
        r = curl("-x", node.proxy_url, url + "-http")
        self.assertEqual(r.status, 200, "absolute-form: %r" % (r,))
        self.assertIn('"path": "/%s-http"' % tag, r.body)
        r = curl("-p", "-x", node.proxy_url, url + "-connect")
        self.assertEqual(r.status, 200, "CONNECT: %r" % (r,))
        self.assertIn('"path": "/%s-connect"' % tag, r.body)
        r = curl("--socks5-hostname", "127.0.0.1:%d" % self.socks_port, url + "-socks")
        self.assertEqual(r.status, 200, "SOCKS5 client: %r" % (r,))
        self.assertIn('"path": "/%s-socks"' % tag, r.body)
        for q in self.origin.requests():
            if q["path"].startswith("/" + tag):
                self.assertIsNone(self.origin.header(q, "Proxy-Authorization"), q)

    # -- tests --------------------------------------------------------------------

    def test_microsocks_with_credentials_socks5h_and_socks5(self):
        ms = self.microsocks()
        node = self.pool_node([("socks5h", ms.port, SOCKS_USER, SOCKS_PASS)])
        self.assert_all_paths_work(node, "ms-h", dest_host="localhost")
        node.stop()
        node = self.pool_node([("socks5", ms.port, SOCKS_USER, SOCKS_PASS)])
        # socks5: the node resolves "localhost" itself and sends an address
        self.assert_all_paths_work(node, "ms-local", dest_host="localhost")
        self.assertEqual(node.metric("pf_node_upstream_unsupported_total"), 0)

    def test_dante_no_auth_socks5_and_socks5h(self):
        dn = self.dante()
        node = self.pool_node([("socks5h", dn.port, "", ""), ("socks5", dn.port, "", "")])
        self.assert_all_paths_work(node, "dante")
        self.assert_all_paths_work(node, "dante-name", dest_host="localhost")

    def test_squid_basic_auth_http_upstream(self):
        sq = self.squid()
        node = self.pool_node([("http", sq.port, SQUID_USER, SQUID_PASS)])
        url = self.origin.url("/squid")
        r = curl("-x", node.proxy_url, url + "-http")
        self.assertEqual(r.status, 200, r)
        r = curl("-p", "-x", node.proxy_url, url + "-connect")
        self.assertEqual(r.status, 200, r)
        r = curl("--socks5-hostname", "127.0.0.1:%d" % self.socks_port, url + "-socks")
        self.assertEqual(r.status, 200, r)
        paths = [q["path"] for q in self.origin.requests()]
        for p in ("/squid-http", "/squid-connect", "/squid-socks"):
            self.assertIn(p, paths)

    def test_wrong_upstream_credentials_502_then_retry_to_good(self):
        ms = self.microsocks()
        sq = self.squid()
        bad = [("socks5h", ms.port, SOCKS_USER, self.fleet.secret("wrong-socks-pw")),
               ("http", sq.port, SQUID_USER, self.fleet.secret("wrong-squid-pw"))]
        node = self.pool_node(bad)
        for args in (["-x", node.proxy_url], ["-p", "-x", node.proxy_url]):
            r = curl(*(args + [self.origin.url("/bad-creds")]))
            self.assertEqual(r.status, 502, "%s: %r" % (args, r))
        r = curl("--socks5-hostname", "127.0.0.1:%d" % self.socks_port, self.origin.url("/bad-s"))
        self.assertEqual(r.status, 0, r)
        self.assertNotEqual(r.exit_code, 0)
        m = node.metrics()
        self.assertGreaterEqual(m.get('pf_node_conn_closed_total{reason="upstream_auth"}', 0), 3)
        self.assertEqual([q for q in self.origin.requests() if q["path"].startswith("/bad")], [])
        node.stop()

        # same gateway and user, other scheme: a distinct upstream id (the id
        # carries no password, so two passwords of one user would be one upstream)
        good = [("socks5", ms.port, SOCKS_USER, SOCKS_PASS)]
        node = self.pool_node(bad + good)
        for i in range(6):
            r = curl("-x", node.proxy_url, self.origin.url("/mixed-%d" % i))
            self.assertEqual(r.status, 200, r)
            r = curl("-p", "-x", node.proxy_url, self.origin.url("/mixed-c-%d" % i))
            self.assertEqual(r.status, 200, r)
        self.assertGreaterEqual(node.metric("pf_node_retries_total"), 1)

    def test_socks_reply_codes_map_to_502(self):
        dn = self.dante()
        node = self.pool_node([("socks5h", dn.port, "", "")], retries=0)
        closed = free_port()
        url = "http://127.0.0.1:%d/refused" % closed
        r = curl("-x", node.proxy_url, url)
        self.assertEqual(r.status, 502, r)
        r = curl("-p", "-x", node.proxy_url, url)
        self.assertEqual(r.status, 502, r)
        # a SOCKS5 client of the node gets the upstream's own reply code
        s = socket.create_connection(("127.0.0.1", self.socks_port), timeout=5)
        self.addCleanup(s.close)
        s.sendall(b"\x05\x01\x00")
        self.assertEqual(s.recv(2), b"\x05\x00")
        s.sendall(b"\x05\x01\x00\x01\x7f\x00\x00\x01" + closed.to_bytes(2, "big"))
        rep = s.recv(10)
        self.assertEqual(rep[:2], b"\x05\x05", rep)

    def test_socks_ttl_expired_maps_to_504(self):
        # No real proxy answers 0x06 on demand: a minimal stub that does the
        # no-auth greeting and then refuses every request with TTL expired.
        srv = socket.socket()
        srv.bind(("127.0.0.1", 0))
        srv.listen(8)
        self.addCleanup(srv.close)
        stop = threading.Event()
        self.addCleanup(stop.set)

        def serve():
            srv.settimeout(0.2)
            while not stop.is_set():
                try:
                    c, _ = srv.accept()
                except OSError:
                    continue
                with c:
                    try:
                        c.settimeout(5)
                        c.recv(16)
                        c.sendall(b"\x05\x00")
                        c.recv(300)
                        c.sendall(b"\x05\x06\x00\x01\x00\x00\x00\x00\x00\x00")
                    except OSError:
                        pass
        threading.Thread(target=serve, daemon=True).start()
        node = self.pool_node([("socks5h", srv.getsockname()[1], "", "")], retries=0)
        r = curl("-x", node.proxy_url, self.origin.url("/ttl"))
        self.assertEqual(r.status, 504, r)
        r = curl("-p", "-x", node.proxy_url, self.origin.url("/ttl"))
        self.assertEqual(r.status, 504, r)
        s = socket.create_connection(("127.0.0.1", self.socks_port), timeout=5)
        self.addCleanup(s.close)
        s.sendall(b"\x05\x01\x00")
        self.assertEqual(s.recv(2), b"\x05\x00")
        s.sendall(b"\x05\x01\x00\x01\x7f\x00\x00\x01" + self.origin.port.to_bytes(2, "big"))
        self.assertEqual(s.recv(10)[:2], b"\x05\x06")


if __name__ == "__main__":
    unittest.main()
