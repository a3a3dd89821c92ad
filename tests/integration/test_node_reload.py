"""SIGHUP reload of a node (issue 11 item 2) with a real redis-server, a
real proxyfleet-node in pool mode, a real upstream proxy (a direct-mode
node) and the real origin:

  * the users change under traffic: old credentials are refused (407), new
    ones accepted, and clients whose credentials stayed valid see 0 failed
    requests, on new connections and on one kept-alive connection;
  * exchanges in flight keep the settings they started with (a request
    started before the reload completes; a tunnel keeps its idle timeout),
    a kept-alive connection meets the new users at its next request;
  * a bad file (JSON, an unknown key, an access log that cannot be opened)
    keeps the running config and says why;
  * restart-only keys are named in one warning (never their values) and
    keep their running values; log.format switches at once;
  * SIGHUP no longer kills the node (it used to exit with status 129)."""

import base64
import http.client
import json
import os
import signal
import socket
import threading
import time
import unittest

from pf_harness import TIMEOUT_SCALE, Fleet, curl, wait_until

EPOCH = "abababababababab"
ALICE = ("alice", "s3cr3t-alice")
BOB = ("bob", "s3cr3t-bob")
CAROL = ("carol", "s3cr3t-carol")


def basic(user):
    return "Basic " + base64.b64encode(("%s:%s" % user).encode()).decode()


def read_response(s):
    """One HTTP/1.1 response head and its Content-Length body from socket
    <s> (b"" when the peer closed before a byte)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = s.recv(65536)
        if not chunk:
            return data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    while len(body) < length:
        chunk = s.recv(65536)
        if not chunk:
            break
        body += chunk
    return head + b"\r\n\r\n" + body


class KeepAliveClient:
    """One persistent client connection to the proxy (absolute-form GETs)."""

    def __init__(self, port, user, timeout=10):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        self.user = user

    def get(self, url):
        self.conn.request("GET", url, headers={"Proxy-Authorization": basic(self.user)})
        r = self.conn.getresponse()
        body = r.read()
        return r.status, body, r.getheader("Connection")

    def close(self):
        self.conn.close()


class NodeReload(unittest.TestCase):
    def setUp(self):
        self.fleet = Fleet(self)
        f = self.fleet
        self.redis = f.start_redis()
        self.origin = f.start_origin()
        f.secret(CAROL[1])
        self.upstream = f.direct_upstream_node(name="up")
        r, k = self.redis, f.keys
        rec = json.dumps({"scheme": "http", "host": "127.0.0.1", "port": self.upstream.port,
                          "provider": "hand", "expires_at_ms": 0, "weight": 1, "latency_ms": 0})
        r.cmd("HSET", k.pool_upstreams, "http://127.0.0.1:%d" % self.upstream.port, rec)
        r.cmd("HSET", k.pool_meta, "version", "1", "epoch", EPOCH, "count", "1",
              "updated_at_ms", str(int(time.time() * 1000)), "controller_id", "by-hand")

    def start_node(self, users, **node):
        cfg = {"mode": "pool", "destination_allow": ["127.0.0.0/8"],
               "users": [{"user": u, "pass": p} for u, p in users]}
        cfg.update(node)
        n = self.fleet.start_node({"node": cfg}, name="node")
        wait_until(lambda: n.metric("pf_node_pool_size") == 1, 10, "the pool")
        return n

    def rewrite(self, node, change=None, raw=None):
        """Writes the node's config file anew: its config with <change>
        merged into the node section, or <raw> text; then SIGHUP."""
        if raw is not None:
            text = raw
        else:
            cfg = json.loads(json.dumps(node.config))
            for section, values in (change or {}).items():
                cfg.setdefault(section, {}).update(values)
            text = json.dumps(cfg, indent=2)
        with open(node.config_path + ".new", "w") as f:
            f.write(text)
        os.rename(node.config_path + ".new", node.config_path)   # as an editor or CM tool would
        node.signal(signal.SIGHUP)

    def wait_log(self, node, needle, count=1, timeout=10):
        return wait_until(lambda: node.log_text().count(needle) >= count, timeout,
                          "%r in the log of %s" % (needle, node.name))

    def get(self, node, user, path="/x", **kw):
        args = ["-x", node.proxy_url]
        if user is not None:
            args += ["-U", "%s:%s" % user]
        return curl(*args, self.origin.url(path), **kw)

    def stats(self, node):
        status, body, _ = node.admin("/stats")
        self.assertEqual(status, 200)
        return json.loads(body)

    # ------------------------------------------------------------------------

    def test_users_change_under_traffic(self):
        node = self.start_node([ALICE, BOB])
        self.assertEqual(self.get(node, ALICE).status, 200)
        self.assertEqual(self.get(node, CAROL).status, 407)

        # bob's traffic: new connections (curl) and one kept-alive connection
        stop = threading.Event()
        results = {"curl": [], "keepalive": []}   # (monotonic time, status)

        def curl_loop():
            for _ in range(2000):
                if stop.is_set():
                    return
                r = self.get(node, BOB)
                results["curl"].append((time.monotonic(), r.status))

        def keepalive_loop():
            c = KeepAliveClient(node.port, BOB)
            try:
                for i in range(5000):
                    if stop.is_set():
                        return
                    try:
                        status, _, _ = c.get(self.origin.url("/ka%d" % i))
                    except (OSError, http.client.HTTPException) as e:
                        status = "error %r" % e
                    results["keepalive"].append((time.monotonic(), status))
                    time.sleep(0.01)
            finally:
                c.close()

        threads = [threading.Thread(target=curl_loop), threading.Thread(target=keepalive_loop)]
        for t in threads:
            t.start()
        try:
            # alice: a kept-alive connection, and a request in flight across the reload
            alice_ka = KeepAliveClient(node.port, ALICE)
            self.addCleanup(alice_ka.close)
            status, _, conn_hdr = alice_ka.get(self.origin.url("/alice-ka-1"))
            self.assertEqual((status, conn_hdr), (200, "keep-alive"))
            slow = {}

            def slow_alice():
                slow["r"] = self.get(node, ALICE, "/slow?ms=2000", max_time=20)
            ts = threading.Thread(target=slow_alice)
            ts.start()
            wait_until(lambda: any(q["path"].startswith("/slow") for q in self.origin.requests()),
                       10, "the slow request at the origin")
            wait_until(lambda: len(results["curl"]) >= 3 and len(results["keepalive"]) >= 3, 20,
                       "traffic before the reload")

            self.rewrite(node, {"node": {"users": [{"user": u, "pass": p} for u, p in (CAROL, BOB)]}})
            self.wait_log(node, "settings generation 2, changed: node.users")
            reloaded_at = time.monotonic()

            self.assertEqual(self.get(node, ALICE).status, 407, "alice was removed")
            self.assertEqual(self.get(node, CAROL).status, 200, "carol was added")
            status, _, _ = alice_ka.get(self.origin.url("/alice-ka-2"))
            self.assertEqual(status, 407, "the next request on a kept-alive conn meets the new users")
            ts.join(30)
            self.assertEqual(slow["r"].status, 200,
                             "a request in flight finishes under the settings it started with")
            wait_until(lambda: sum(1 for t, _ in results["curl"] if t > reloaded_at) >= 3 and
                       sum(1 for t, _ in results["keepalive"] if t > reloaded_at) >= 3, 30,
                       "traffic after the reload")
        finally:
            stop.set()
            for t in threads:
                t.join(60)
        for kind, rs in results.items():
            failed = [s for _, s in rs if s != 200]
            self.assertEqual(failed, [], "%s: bob's requests failed across the reload" % kind)
        s = self.stats(node)
        self.assertEqual((s["reloads_total"], s["reload_errors_total"], s["settings_generation"]), (1, 0, 2))
        self.assertTrue(node.running())

    def tunnel(self, node):
        """A CONNECT tunnel to the origin through <node>, checked with one
        GET inside it; returns the socket."""
        s = socket.create_connection(("127.0.0.1", node.port), timeout=10 * TIMEOUT_SCALE)
        self.addCleanup(s.close)
        s.sendall(b"CONNECT 127.0.0.1:%d HTTP/1.1\r\nHost: x\r\nProxy-Authorization: %s\r\n\r\n"
                  % (self.origin.port, basic(ALICE).encode()))
        self.assertTrue(read_response(s).startswith(b"HTTP/1.1 200"))
        self.assertTrue(self.tunnel_get(s).startswith(b"HTTP/1.1 200"))
        return s

    @staticmethod
    def tunnel_get(s):
        """One GET through tunnel <s>: the whole response, b"" when closed."""
        try:
            s.sendall(b"GET /in-tunnel HTTP/1.1\r\nHost: x\r\n\r\n")
            return read_response(s)
        except OSError:
            return b""

    def test_in_flight_keeps_its_timeouts(self):
        """A tunnel re-reads idle_timeout_ms each time its idle timer fires:
        one opened under 1.2 s must still close after 1.2 s idle when a
        reload raised the value meanwhile; one opened after it must not."""
        node = self.start_node([ALICE], idle_timeout_ms=1200)
        t1 = self.tunnel(node)
        self.rewrite(node, {"node": {"idle_timeout_ms": 60000}})
        self.wait_log(node, "changed: node.idle_timeout_ms")
        t2 = self.tunnel(node)
        time.sleep(2.5)
        self.assertEqual(self.tunnel_get(t1), b"", "the tunnel in flight kept its 1.2 s")
        self.assertTrue(self.tunnel_get(t2).startswith(b"HTTP/1.1 200"),
                        "a tunnel opened after the reload runs under 60 s")
        self.assertIn("idle_timeout", node.log_text())

    def test_bad_file_keeps_the_running_config(self):
        node = self.start_node([ALICE])
        bad = [
            ("{\"node\": ", "config: invalid JSON"),
            (json.dumps(dict(node.config, node=dict(node.config["node"], retriez=1))),
             "node.retriez: unknown key"),
            (json.dumps(dict(node.config, node=dict(node.config["node"], users=[
                {"user": CAROL[0], "pass": CAROL[1]}], access_log="/nonexistent/dir/access.log"))),
             "node.access_log: access log /nonexistent/dir/access.log: No such file or directory"),
        ]
        for i, (text, why) in enumerate(bad, start=1):
            self.rewrite(node, raw=text)
            self.wait_log(node, "keeping the running config (settings generation 1)", count=i)
            self.assertIn(why, node.log_text())
            self.assertEqual(self.get(node, ALICE).status, 200, "the old users still hold")
            self.assertEqual(self.get(node, CAROL).status, 407)
        s = self.stats(node)
        self.assertEqual((s["reloads_total"], s["reload_errors_total"], s["settings_generation"]), (0, 3, 1))
        # a good file afterwards applies
        self.rewrite(node, {"node": {"users": [{"user": CAROL[0], "pass": CAROL[1]}]}})
        self.wait_log(node, "settings generation 2")
        self.assertEqual(self.get(node, CAROL).status, 200)
        self.assertTrue(node.running(), "SIGHUP must not kill the node")

    def test_restart_only_keys_are_named_and_kept(self):
        node = self.start_node([ALICE], retries=2)
        old_listen = node.config["node"]["listen"]
        new_port = node.port + 1 if node.port < 65000 else node.port - 1
        self.rewrite(node, {"node": {"listen": "127.0.0.1:%d" % new_port, "id": "renamed",
                                     "retries": 0},
                            "redis": {"prefix": "other"},
                            "log": {"format": "json"}})
        self.wait_log(node, "need a restart")
        line = [l for l in node.log_text().splitlines() if "need a restart" in l][-1]
        entry = json.loads(line)     # log.format json applies at once, to this very line
        self.assertEqual(entry["level"], "warn")
        self.assertEqual(entry["message"],
                         "reload: node.id, node.listen, redis.prefix need a restart; "
                         "the running values stay")
        self.assertNotIn(str(new_port), line, "names only, never values")
        self.assertNotIn("renamed", line)
        changed = [l for l in node.log_text().splitlines() if "settings generation 2" in l][-1]
        self.assertIn("changed: log.format, node.retries", changed)
        # the running values stay: same port, same id, same Redis keys
        self.assertEqual(self.get(node, ALICE).status, 200)
        self.assertEqual(node.config["node"]["listen"], old_listen)
        r = curl("-x", "http://127.0.0.1:%d" % new_port, "-U", "%s:%s" % ALICE,
                 self.origin.url("/"), max_time=3)
        self.assertEqual(r.status, 0, "the new listen address is not bound")
        self.assertEqual(self.stats(node)["id"], "node")
        time.sleep(1.5)       # three report intervals: a heartbeat under a new name would show
        self.assertEqual(self.redis.cmd("EXISTS", self.fleet.keys.node("node")), 1,
                         "the heartbeat under the running id and prefix")
        self.assertEqual(self.redis.cmd("EXISTS", self.fleet.keys.node("renamed")), 0)
        self.assertEqual(self.redis.cmd("EXISTS", "{other}:v1:node:node"), 0)
        # every line from now on is JSON
        self.assertEqual(self.get(node, ALICE).status, 200)
        tail = node.log_text().splitlines()[-3:]
        for l in tail:
            json.loads(l)


if __name__ == "__main__":
    unittest.main()
