"""A pool-mode node through https upstreams (an HTTP proxy spoken over TLS),
with real peers only:

  * stunnel4 terminating TLS in front of squid with basic auth (an
    htpasswd made by the test) as the https upstream with credentials, for
    absolute-form requests to a plain origin, CONNECT to the TLS origin and
    SOCKS5 clients of the node;
  * stunnel4 in front of a direct-mode proxyfleet node for the tunnel
    relay itself: a bidirectional bulk echo with a late reader
    (backpressure both ways) and half-close (the client's FIN must reach
    the destination as EOF through TLS close_notify), and the idle
    deadline of a quiet tunnel;
  * a private CA made with the openssl CLI at test time, given to the node
    as node.upstream_ca_file; certificates with a wrong name, from a CA the
    node does not trust, and expired: each a failed attempt
    (pf_node_upstream_errors_total{kind="upstream_tls"}), retried on
    another upstream, 502 when none is left;
  * SNI: stunnel serves the right certificate only to clients that name
    "localhost" (an upstream given by name); an IP-literal upstream is
    checked against the IP address SANs;
  * a TCP listener that never answers the TLS handshake: the handshake
    counts within node.connect_timeout_ms (504);
  * --check-config on a missing or non-PEM node.upstream_ca_file, and
    node.upstream_tls_verify false (explicit, logged at start);
  * the controller path: a static provider lists
    https://user:pass@127.0.0.1:PORT, the controller probes it through TLS
    with controller.health.proxy_ca_file and publishes it, the node serves
    through it.

Every test fails loudly when a peer binary is missing."""

import hashlib
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import unittest

from pf_harness import (TIMEOUT_SCALE, Fleet, HarnessError, Peer, curl, free_port, port_open,
                        wait_until)

SQUID_USER = "tlsuser"
SQUID_PASS = "tls-squid-pw-6613"
NODE_USER = "tlsnode"
NODE_PASS = "tls-node-pw-2958"
EPOCH = "0123456789abcdef"


def need(path_or_name):
    p = shutil.which(path_or_name) or (path_or_name if os.path.exists(path_or_name) else None)
    if not p:
        raise HarnessError("%s is not installed: the TLS upstream tests need it "
                           "(apt-get install stunnel4 squid openssl)" % path_or_name)
    return p


def big(n):
    """The body of the origin's /big?n=<n>."""
    line = b"0123456789abcdefghijklmnopqrstuvwxyz\n"
    return (line * (n // len(line) + 1))[:n]


def read(path):
    """The text of <path>, "" while it does not exist."""
    try:
        with open(path, errors="replace") as f:
            return f.read()
    except FileNotFoundError:
        return ""


def openssl(*args):
    p = subprocess.run([need("openssl")] + list(args), capture_output=True, timeout=60)
    if p.returncode != 0:
        raise HarnessError("openssl %s failed: %s" % (args[0], p.stderr.decode(errors="replace")))


class Ca:
    """A private CA made with the openssl CLI (EC P-256, two days) that
    issues server certificates."""

    def __init__(self, directory, name):
        self.dir = directory
        self.name = name
        self.cert = os.path.join(directory, name + ".pem")
        self.key = os.path.join(directory, name + ".key")
        openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                "-nodes", "-keyout", self.key, "-out", self.cert, "-days", "2",
                "-subj", "/CN=%s" % name,
                "-addext", "basicConstraints=critical,CA:TRUE",
                "-addext", "keyUsage=critical,keyCertSign,cRLSign")

    def issue(self, name, sans, days=1):
        """A server certificate for <sans> ("DNS:x,IP:y"), valid <days> from
        now (-1: expired yesterday). Returns (cert, key)."""
        base = os.path.join(self.dir, "%s-%s" % (self.name, name))
        csr, ext = base + ".csr", base + ".ext"
        with open(ext, "w") as f:
            f.write("subjectAltName=%s\nbasicConstraints=CA:FALSE\n"
                    "extendedKeyUsage=serverAuth\n" % sans)
        openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                "-keyout", base + ".key", "-out", csr, "-subj", "/CN=%s" % name)
        openssl("x509", "-req", "-in", csr, "-CA", self.cert, "-CAkey", self.key,
                "-CAcreateserial", "-out", base + ".pem", "-days", str(days), "-extfile", ext)
        return base + ".pem", base + ".key"


class EchoServer:
    """A TCP destination on 127.0.0.1 that echoes every byte back and, at
    the client's EOF, sends "<sha256 of what it got>\\n" and closes: the
    digest proves the bytes and the EOF both came through."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.eofs = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _serve(self, c):
        h = hashlib.sha256()
        try:
            while True:
                b = c.recv(65536)
                if not b:
                    break
                h.update(b)
                c.sendall(b)
            self.eofs += 1
            c.sendall(("%s\n" % h.hexdigest()).encode())
            c.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        finally:
            c.close()

    def close(self):
        self.sock.close()


class Tarpit:
    """Accepts TCP connections and never says a word: a TLS handshake with
    it can only end by the client's deadline."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.held = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            self.held.append(c)

    def close(self):
        self.sock.close()
        for c in self.held:
            c.close()


def connect_tunnel(port, dest, timeout=10):
    """A CONNECT tunnel to <dest> ("host:port") through the proxy on
    127.0.0.1:<port>: the socket after the 200, and bytes that followed it."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s.sendall(("CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n" % (dest, dest)).encode())
    buf = b""
    while b"\r\n\r\n" not in buf:
        b = s.recv(4096)
        if not b:
            raise AssertionError("proxy closed before answering CONNECT: %r" % buf)
        buf += b
    head, rest = buf.split(b"\r\n\r\n", 1)
    if not head.startswith(b"HTTP/1.1 200"):
        raise AssertionError("CONNECT refused: %r" % head)
    return s, rest


class TestTlsUpstream(unittest.TestCase):
    def setUp(self):
        self.fleet = Fleet(self)
        self.fleet.secret(SQUID_PASS)
        self.fleet.secret(NODE_PASS)
        self.redis = self.fleet.start_redis()
        self.origin = self.fleet.start_origin()
        self.tls_origin = self.fleet.start_origin(tls=True)
        self.pki = os.path.join(self.fleet.tmp, "pki")
        os.makedirs(self.pki)
        self.ca = Ca(self.pki, "pf-ca")
        self.good = self.ca.issue("good", "DNS:localhost,IP:127.0.0.1")

    # -- peers ------------------------------------------------------------------

    def squid(self):
        need("squid")
        helper = need("/usr/lib/squid/basic_ncsa_auth")
        port = free_port()
        # squid drops to its own user: its files live outside the 0700 fleet dir
        d = tempfile.mkdtemp(prefix="pf-squid-")
        self.addCleanup(shutil.rmtree, d, True)
        os.chmod(d, 0o777)
        hashed = subprocess.run([need("openssl"), "passwd", "-apr1", SQUID_PASS], check=True,
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
        peer = Peer(self.fleet, "squid-%d" % port, [need("squid"), "-N", "-f", conf], port, cwd=d)
        peer.access_log = os.path.join(d, "access.log")
        return peer

    def stunnel(self, connect_port, cert, sni_cert=None):
        """stunnel4 terminating TLS on a free port in front of
        127.0.0.1:<connect_port>, with <cert> (cert, key). With <sni_cert>,
        clients that send SNI "localhost" get that one instead."""
        port = free_port()
        d = os.path.join(self.fleet.tmp, "stunnel-%d" % port)
        os.makedirs(d)
        conf = os.path.join(d, "stunnel.conf")
        with open(conf, "w") as f:
            f.write("foreground = yes\npid =\ndebug = 5\n"
                    "[proxy]\naccept = 127.0.0.1:%d\nconnect = 127.0.0.1:%d\n"
                    "cert = %s\nkey = %s\n" % (port, connect_port, cert[0], cert[1]))
            if sni_cert:
                f.write("[proxy-localhost]\nsni = proxy:localhost\nconnect = 127.0.0.1:%d\n"
                        "cert = %s\nkey = %s\n" % (connect_port, sni_cert[0], sni_cert[1]))
        return Peer(self.fleet, "stunnel-%d" % port, [need("stunnel4"), conf], port)

    def echo(self):
        e = EchoServer()
        self.addCleanup(e.close)
        return e

    # -- pool -------------------------------------------------------------------

    def write_pool(self, upstreams):
        """<upstreams>: (scheme, host, port, user, pass) tuples."""
        k = self.fleet.keys
        args = []
        for scheme, host, port, user, pw in upstreams:
            rec = {"scheme": scheme, "host": host, "port": port, "provider": "tls",
                   "expires_at_ms": 0, "weight": 1, "latency_ms": 0}
            uid = "%s://%s:%d" % (scheme, host, port)
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

    def pool_node(self, upstreams, **node):
        self.write_pool(upstreams)
        self.socks_port = free_port()
        cfg = {"node": {"mode": "pool", "destination_allow": ["127.0.0.0/8"],
                        "connect_timeout_ms": 3000, "retries": 2,
                        "eject_consecutive_failures": 0,
                        "upstream_ca_file": self.ca.cert,
                        "socks5_listen": "127.0.0.1:%d" % self.socks_port}}
        cfg["node"].update(node)
        n = self.fleet.start_node(cfg)
        wait_until(lambda: n.metric("pf_node_pool_size") == len(upstreams), 15,
                   "node to load %d upstreams" % len(upstreams))
        wait_until(lambda: port_open(self.socks_port), 10, "socks5 port")
        return n

    def https_squid(self, cert=None, sni_cert=None):
        """squid with basic auth behind stunnel: the https upstream tuple
        for 127.0.0.1, and the squid peer."""
        sq = self.squid()
        st = self.stunnel(sq.port, cert or self.good, sni_cert)
        return ("https", "127.0.0.1", st.port, SQUID_USER, SQUID_PASS), sq

    def https_direct_node(self, cert=None, **node):
        """A direct-mode proxyfleet node with credentials behind stunnel."""
        up = self.fleet.direct_upstream_node(users=[(NODE_USER, NODE_PASS)], **node)
        st = self.stunnel(up.port, cert or self.good)
        return ("https", "127.0.0.1", st.port, NODE_USER, NODE_PASS), up

    def tls_errors(self, node):
        return node.metrics().get('pf_node_upstream_errors_total{kind="upstream_tls"}', 0)

    # -- tests --------------------------------------------------------------------

    def test_absolute_form_connect_and_socks5_through_stunnel_squid(self):
        up, sq = self.https_squid()
        node = self.pool_node([up])
        r = curl("-x", node.proxy_url, self.origin.url("/tls-abs?x=1"))
        self.assertEqual(r.status, 200, r)
        self.assertIn('"path": "/tls-abs?x=1"', r.body)
        # CONNECT to the TLS origin (its own certificate, checked by curl)
        r = curl("--cacert", self.tls_origin.cert, "-x", node.proxy_url,
                 self.tls_origin.url("/tls-connect"))
        self.assertEqual(r.status, 200, r)
        self.assertIn('"path": "/tls-connect"', r.body)
        # a SOCKS5 client: its tunnel is a CONNECT through the TLS upstream
        r = curl("--cacert", self.tls_origin.cert, "--socks5-hostname",
                 "127.0.0.1:%d" % self.socks_port, self.tls_origin.url("/tls-socks"))
        self.assertEqual(r.status, 200, r)
        # 2 MiB through the tunnel, byte for byte
        r = curl("--cacert", self.tls_origin.cert, "-x", node.proxy_url,
                 self.tls_origin.url("/big?n=%d" % (2 << 20)), max_time=60)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(len(r.raw_body), 2 << 20)
        self.assertEqual(hashlib.sha256(r.raw_body).hexdigest(),
                         hashlib.sha256(big(2 << 20)).hexdigest())
        # squid saw every request authenticated (it refuses any other)
        wait_until(lambda: read(sq.access_log).count(SQUID_USER) >= 4, 10,
                   "squid to log the four requests with the user")
        log = read(sq.access_log)
        self.assertIn("/tls-abs", log)
        self.assertIn("CONNECT localhost:%d" % self.tls_origin.port, log)
        for q in self.origin.requests():
            self.assertIsNone(self.origin.header(q, "Proxy-Authorization"), q)
        m = node.metrics()
        self.assertGreaterEqual(m.get("pf_node_upstream_tls_handshakes_total", 0), 4)
        self.assertEqual(m.get("pf_node_upstream_unsupported_total", 0), 0)
        self.assertEqual(self.tls_errors(node), 0)
        self.assertGreaterEqual(m.get("pf_node_tunnels_total", 0), 3)

    def test_keep_alive_through_tls_upstream(self):
        """Plain requests reuse the TLS connection to the upstream, within a
        client connection and (node.reuse_*, issue 14) across clients."""
        up, _up = self.https_direct_node()
        node = self.pool_node([up])
        for i in range(5):
            r = curl("-x", node.proxy_url, self.origin.url("/ka-%d" % i))
            self.assertEqual(r.status, 200, r)
        # one curl per request, so the node's client side is new each time:
        # the upstream connection the first left idle serves the other four
        self.assertEqual(node.metric("pf_node_upstream_tls_handshakes_total"), 1)
        self.assertEqual(node.metric("pf_node_reuse_hits_total"), 4)
        # five requests on one client connection: still that connection
        urls = [self.origin.url("/ka1-%d" % i) for i in range(5)]
        r = curl("-x", node.proxy_url, *urls)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(node.metric("pf_node_upstream_tls_handshakes_total"), 1)
        self.assertGreaterEqual(node.metric("pf_node_upstream_reused_total"), 8)
        # without reuse across clients each new client pays a handshake
        off = self.pool_node([up], reuse_max_idle_per_upstream=0)
        for i in range(3):
            r = curl("-x", off.proxy_url, self.origin.url("/ka2-%d" % i))
            self.assertEqual(r.status, 200, r)
        self.assertEqual(off.metric("pf_node_upstream_tls_handshakes_total"), 3)

    def test_new_tunnels_resume_the_upstream_session(self):
        """The second and later connections to an https upstream resume the
        session of the first (stunnel keeps a session cache): fewer full
        handshakes, and each resumed one still works end to end."""
        up, _up = self.https_direct_node()
        node = self.pool_node([up])
        for i in range(4):
            r = curl("-p", "-x", node.proxy_url, self.origin.url("/resume-%d" % i))
            self.assertEqual(r.status, 200, r)
        m = node.metrics()
        self.assertEqual(m.get("pf_node_upstream_tls_handshakes_total"), 4)
        self.assertGreaterEqual(m.get("pf_node_upstream_tls_resumed_total", 0), 3)

    def test_last_bytes_before_close_notify_arrive(self):
        """Responses after which the upstream closes at once: their last
        TLS records and the close_notify come in one read, and every byte
        before the EOF must still reach the client (framed by length, and
        until close)."""
        up, _up = self.https_direct_node()
        node = self.pool_node([up])
        n = 300000
        want = hashlib.sha256(big(n)).hexdigest()
        for i in range(12):
            r = curl("-H", "Connection: close", "-x", node.proxy_url,
                     self.origin.url("/big?n=%d&i=%d" % (n, i)), max_time=30)
            self.assertEqual(r.status, 200, r)
            self.assertEqual(hashlib.sha256(r.raw_body).hexdigest(), want, "request %d" % i)
        self.assertEqual(node.metrics().get('pf_node_conn_closed_total{reason="upstream_eof"}', 0), 0)
        # a CONNECT whose destination answers, then closes: all of it arrives
        for i in range(6):
            r = curl("-p", "-H", "Connection: close", "-x", node.proxy_url,
                     self.origin.url("/big?n=%d&c=%d" % (n, i)), max_time=30)
            self.assertEqual(r.status, 200, r)
            self.assertEqual(hashlib.sha256(r.raw_body).hexdigest(), want, "tunnel %d" % i)

    def test_bulk_echo_backpressure_and_half_close(self):
        """16 MiB each way through a TLS tunnel, the reader starting late so
        that both directions fill up; then the client's FIN reaches the
        destination (it answers the digest of all it got) and the
        destination's FIN reaches the client.

        The FIN goes once the echo is back: stunnel 5.68 drops what its
        backend sent when the backend closes while stunnel's TLS-bound
        buffer is full (a POLLHUP it reads as "nothing left"; seen as
        "Read socket closed (HUP)" with bytes missing), so the destination
        must not close while everything in between is still full."""
        up, _up = self.https_direct_node()
        node = self.pool_node([up])
        echo = self.echo()
        s, rest = connect_tunnel(node.port, "127.0.0.1:%d" % echo.port, timeout=60 * TIMEOUT_SCALE)
        total = 16 << 20
        payload = os.urandom(1 << 20) * 16
        got = [rest]
        errors = []
        echoed = threading.Event()

        def reader():
            time.sleep(1.0)     # everything in between fills up first
            n = len(rest)
            try:
                while True:
                    b = s.recv(1 << 16)
                    if not b:
                        return
                    got.append(b)
                    n += len(b)
                    if n >= total:
                        echoed.set()
            except OSError as e:
                errors.append(e)
            finally:
                echoed.set()

        t = threading.Thread(target=reader)
        t.start()
        s.sendall(payload)
        self.assertTrue(echoed.wait(120 * TIMEOUT_SCALE), "the echo did not come back")
        s.shutdown(socket.SHUT_WR)
        t.join(120 * TIMEOUT_SCALE)
        self.assertFalse(t.is_alive(), "the tunnel did not end after both FINs")
        s.close()
        self.assertEqual(errors, [])
        data = b"".join(got)
        digest = hashlib.sha256(payload).hexdigest().encode() + b"\n"
        self.assertEqual(len(data), total + len(digest), "node: %s" % [
            l for l in node.log_text().splitlines() if "tunnel" in l])
        self.assertEqual(data[:total], payload, "echoed bytes differ")
        self.assertEqual(data[total:], digest, "the destination did not see the client's EOF")
        self.assertEqual(echo.eofs, 1)
        wait_until(lambda: node.metrics().get('pf_node_conn_closed_total{reason="tunnel_done"}', 0) >= 1,
                   10, "the tunnel to close as done")

    def test_quiet_tls_tunnel_ends_at_idle_timeout(self):
        up, _up = self.https_direct_node()
        node = self.pool_node([up], idle_timeout_ms=1500)
        echo = self.echo()
        s, _rest = connect_tunnel(node.port, "127.0.0.1:%d" % echo.port)
        s.sendall(b"ping")
        self.assertEqual(s.recv(16), b"ping")
        t0 = time.monotonic()
        s.settimeout(30 * TIMEOUT_SCALE)
        self.assertEqual(s.recv(16), b"", "the node closed the quiet tunnel")
        elapsed = time.monotonic() - t0
        s.close()
        self.assertGreaterEqual(elapsed, 1.0)
        self.assertLess(elapsed, 10 * TIMEOUT_SCALE)
        wait_until(lambda: node.metrics().get('pf_node_conn_closed_total{reason="idle_timeout"}', 0) >= 1,
                   10, "an idle_timeout close")

    def test_bad_certificates_are_retried_then_502(self):
        other = Ca(self.pki, "other-ca")
        wrong_name = self.ca.issue("wrong", "DNS:wrong.example")
        expired = self.ca.issue("expired", "DNS:localhost,IP:127.0.0.1", days=-1)
        untrusted = other.issue("untrusted", "DNS:localhost,IP:127.0.0.1")
        bad = [self.https_direct_node(cert)[0] for cert in (wrong_name, expired, untrusted)]
        bad[0] = ("https", "localhost") + bad[0][2:]    # a name: checked as a DNS name
        node = self.pool_node(bad, retries=3)
        # three bad upstreams, retries 2: all three tried, then 502
        for args in (["-x", node.proxy_url, self.origin.url("/bad-abs")],
                     ["-p", "-x", node.proxy_url, self.origin.url("/bad-connect")]):
            before = self.tls_errors(node)
            r = curl(*args)
            self.assertEqual(r.status, 502, r)
            self.assertEqual(self.tls_errors(node) - before, 3)
        r = curl("--socks5-hostname", "127.0.0.1:%d" % self.socks_port, self.origin.url("/bad-s"))
        self.assertNotEqual(r.exit_code, 0, r)
        self.assertEqual(self.tls_errors(node), 9)
        self.assertEqual(node.metric("pf_node_upstream_tls_handshakes_total"), 0)
        self.assertEqual([q for q in self.origin.requests() if q["path"].startswith("/bad")], [])
        log = node.log_text()
        for why in ("hostname mismatch", "certificate has expired",
                    "unable to get local issuer certificate"):
            self.assertIn(why, log)
        # with a good one beside them every request gets through, retried
        good, _sq = self.https_squid()
        self.write_pool(bad + [good])
        wait_until(lambda: node.metric("pf_node_pool_size") == 4, 15, "the pool of four")
        for i in range(6):
            r = curl("-x", node.proxy_url, self.origin.url("/mixed-%d" % i))
            self.assertEqual(r.status, 200, r)
            r = curl("--cacert", self.tls_origin.cert, "-x", node.proxy_url,
                     self.tls_origin.url("/mixed-c%d" % i))
            self.assertEqual(r.status, 200, r)
        self.assertGreater(self.tls_errors(node), 9)
        self.assertGreater(node.metric("pf_node_retries_total"), 0)

    def test_sni_and_name_checks(self):
        """stunnel gives its right certificate only under SNI "localhost":
        an upstream named localhost gets through (SNI sent, DNS name
        checked); the same proxy as 127.0.0.1 sends no SNI, gets the
        other certificate, which has no IP SAN: refused."""
        no_ip = self.ca.issue("noip", "DNS:other.example")
        named = self.ca.issue("named", "DNS:localhost")
        sq = self.squid()
        st = self.stunnel(sq.port, no_ip, sni_cert=named)
        node = self.pool_node([("https", "localhost", st.port, SQUID_USER, SQUID_PASS)])
        r = curl("-x", node.proxy_url, self.origin.url("/sni"))
        self.assertEqual(r.status, 200, r)
        node.stop()
        node = self.pool_node([("https", "127.0.0.1", st.port, SQUID_USER, SQUID_PASS)],
                              retries=0)
        r = curl("-x", node.proxy_url, self.origin.url("/no-sni"))
        self.assertEqual(r.status, 502, r)
        self.assertEqual(self.tls_errors(node), 1)
        self.assertIn("IP address mismatch", node.log_text())
        paths = [q["path"] for q in self.origin.requests()]
        self.assertIn("/sni", paths)
        self.assertNotIn("/no-sni", paths)

    def test_handshake_counts_within_connect_timeout(self):
        tarpit = Tarpit()
        self.addCleanup(tarpit.close)
        node = self.pool_node([("https", "127.0.0.1", tarpit.port, "", "")],
                              connect_timeout_ms=1000, retries=0)
        t0 = time.monotonic()
        r = curl("-x", node.proxy_url, self.origin.url("/tarpit"), max_time=30)
        elapsed = time.monotonic() - t0
        self.assertEqual(r.status, 504, r)
        self.assertGreaterEqual(elapsed, 0.9)
        self.assertLess(elapsed, 8 * TIMEOUT_SCALE)
        self.assertGreaterEqual(len(tarpit.held), 1, "the TCP connect itself succeeded")
        self.assertEqual(node.metrics().get('pf_node_upstream_errors_total{kind="upstream_timeout"}', 0), 1)
        # beside a good one, the stalled handshake is retried there
        good, _up = self.https_direct_node()
        self.write_pool([("https", "127.0.0.1", tarpit.port, "", ""), good])
        wait_until(lambda: node.metric("pf_node_pool_size") == 2, 15, "the pool of two")
        node2 = self.pool_node([("https", "127.0.0.1", tarpit.port, "", ""), good],
                               connect_timeout_ms=1000, retries=1)
        for i in range(3):
            r = curl("-x", node2.proxy_url, self.origin.url("/tarpit-retry-%d" % i), max_time=30)
            self.assertEqual(r.status, 200, r)

    def test_check_config_upstream_ca_file(self):
        missing = os.path.join(self.fleet.tmp, "no-such-ca.pem")
        code, out = self.fleet.run_binary("node", {"node": {"upstream_ca_file": missing}},
                                          args=["--check-config"], merge_defaults=True)
        self.assertEqual(code, 2, out)
        self.assertIn("node.upstream_ca_file: cannot read %s: No such file or directory" % missing,
                      out)
        junk = os.path.join(self.fleet.tmp, "junk.pem")
        with open(junk, "w") as f:
            f.write("not a certificate\n")
        code, out = self.fleet.run_binary("node", {"node": {"upstream_ca_file": junk}},
                                          args=["--check-config"], merge_defaults=True)
        self.assertEqual(code, 2, out)
        self.assertIn("node.upstream_ca_file: no PEM certificate in %s" % junk, out)
        code, out = self.fleet.run_binary("node", {"node": {"upstream_ca_file": self.ca.cert}},
                                          args=["--check-config"], merge_defaults=True)
        self.assertEqual(code, 0, out)
        code, out = self.fleet.run_binary("node", {"node": {"upstream_tls_verify": "no"}},
                                          args=["--check-config"], merge_defaults=True)
        self.assertEqual(code, 2, out)
        self.assertIn("upstream_tls_verify", out)

    def test_verify_off_is_explicit_and_loud(self):
        """upstream_tls_verify false: a certificate from an unknown CA for
        another name is taken, and the node says so at start."""
        other = Ca(self.pki, "other-ca")
        up, _up = self.https_direct_node(other.issue("any", "DNS:wrong.example"))
        node = self.pool_node([up], upstream_tls_verify=False)
        self.assertRegex(node.log_text(), r"WARN.*node.upstream_tls_verify is false.*NOT verified")
        r = curl("-x", node.proxy_url, self.origin.url("/unverified"))
        self.assertEqual(r.status, 200, r)
        # and by default the same upstream is refused
        node2 = self.pool_node([up], retries=0)
        self.assertNotIn("upstream_tls_verify is false", node2.log_text())
        r = curl("-x", node2.proxy_url, self.origin.url("/verified"))
        self.assertEqual(r.status, 502, r)

    def test_controller_publishes_https_upstream_node_uses_it(self):
        up, sq = self.https_squid()
        url = "https://%s:%s@127.0.0.1:%d" % (SQUID_USER, SQUID_PASS, up[2])
        self.fleet.start_controller({"controller": {
            "providers": [{"name": "static", "type": "static", "allow_private": True,
                           "upstreams": [url]}],
            "health": {"url": self.origin.url("/probe"), "interval_ms": 500,
                       "timeout_ms": 3000, "rise": 1, "fall": 2,
                       "proxy_ca_file": self.ca.cert},
        }})
        node = self.fleet.start_node({"node": {
            "mode": "pool", "destination_allow": ["127.0.0.0/8"],
            "upstream_ca_file": self.ca.cert}})
        wait_until(lambda: node.metric("pf_node_pool_size") == 1, 20, "the published pool")
        # the controller's probes went through TLS and squid
        wait_until(lambda: any(q["path"] == "/probe" for q in self.origin.requests()), 20,
                   "a health probe through the https upstream")
        r = curl("-x", node.proxy_url, self.origin.url("/via-controller"))
        self.assertEqual(r.status, 200, r)
        r = curl("--cacert", self.tls_origin.cert, "-x", node.proxy_url,
                 self.tls_origin.url("/via-controller-tls"))
        self.assertEqual(r.status, 200, r)
        self.assertGreaterEqual(node.metric("pf_node_upstream_tls_handshakes_total"), 2)
        wait_until(lambda: "/via-controller" in read(sq.access_log), 10,
                   "squid to log the request")


if __name__ == "__main__":
    unittest.main()
