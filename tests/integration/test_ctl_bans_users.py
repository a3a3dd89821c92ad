"""proxyfleet-ctl bans and users against a real fleet: a real redis-server,
real pool-mode nodes, real upstreams (direct-mode nodes, each on its own
loopback source address, so the origin's log says which upstream carried a
request) and the real origin.

  * `bans add` writes the one ban write the nodes share (record, expiry
    ZSET, channel notice); a node obeys it at once, `bans list` shows it
    (text and --json), `bans del` lifts it and the node uses the upstream
    again; bad command lines exit 2 without writing anything.
  * `users add` reads the password from stdin (never argv), writes the
    scrypt record nodes verify and bumps users:version: the user
    authenticates on a node within 1 s; `users list` shows the limits and
    the cost, never the hash; `users del` removes the user (407 within
    1 s). No password or hash in any output.
  * An unknown user name runs one scrypt verification, as a known name
    with a wrong password does (no user enumeration by timing)."""

import json
import os
import subprocess
import time
import unittest

from pf_harness import Fleet, SANITIZER_PATTERNS, curl, wait_until
from test_node_bans import EPOCH, PASS, USER, record, sid_of

USER_PASS = "s3cr3t-ctl-user-7788"
USER_PASS_2 = "s3cr3t-ctl-user-9911"


def ctl_bin():
    b = os.environ.get("PF_CTL_BIN")
    if not b or not os.access(b, os.X_OK):
        raise AssertionError("PF_CTL_BIN must name the proxyfleet-ctl binary")
    return b


class CtlWrites(unittest.TestCase):
    def setUp(self):
        # no credential key: short ids under the all-zero key (sid_of)
        self.fleet = Fleet(self, credential_key=False)
        f = self.fleet
        for pw in (USER_PASS, USER_PASS_2):
            f.secret(pw)
        self.redis = f.start_redis()
        self.origin = f.start_origin()
        self.k = f.keys

    def ctl(self, node, *args, stdin=None):
        p = subprocess.run([ctl_bin(), "--config", node.config_path] + list(args),
                           input=stdin, capture_output=True, text=True, timeout=30,
                           env=dict(os.environ, TERM="dumb"))
        for pat in SANITIZER_PATTERNS:
            self.assertNotIn(pat, p.stderr)
        for pw in (USER_PASS, USER_PASS_2):
            self.assertNotIn(pw, p.stdout + p.stderr)
        self.assertNotRegex(p.stdout + p.stderr, r"\$scrypt\$ln=")
        return p.returncode, p.stdout, p.stderr

    def seed(self, ups):
        r = self.redis
        for u in ups:
            r.cmd("HSET", self.k.pool_upstreams, u.uid, record(u.port))
        r.cmd("HSET", self.k.pool_meta, "version", "1", "epoch", EPOCH, "count", str(len(ups)),
              "updated_at_ms", str(int(time.time() * 1000)), "controller_id", "by-hand")

    def pool_node(self, name, n, **extra):
        cfg = {"mode": "pool", "destination_allow": ["127.0.0.0/8"], "connect_timeout_ms": 2000,
               "strategy": "round_robin"}
        cfg.update(extra)
        node = self.fleet.start_node({"node": cfg}, name=name)
        wait_until(lambda: node.metric("pf_node_pool_size") == n, 10, "%s pool" % name)
        return node

    # ------------------------------------------------------------------------

    def test_bans_add_list_del_obeyed_by_a_node(self):
        f = self.fleet
        ups = []
        for i in range(3):
            src = "127.0.0.%d" % (31 + i)
            u = f.direct_upstream_node(name="up%d" % i, source_address=src)
            u.src, u.uid = src, "http://127.0.0.1:%d" % u.port
            u.sid = sid_of(u.uid)
            ups.append(u)
        by_src = {u.src: u for u in ups}
        self.seed(ups)
        node = self.pool_node("node-a", 3, users=[{"user": USER, "pass": PASS}])

        def via(host):
            before = len(self.origin.requests())
            r = curl("-x", node.proxy_url, "--proxy-user", "%s:%s" % (USER, PASS),
                     "http://%s:%d/x" % (host, self.origin.port))
            self.assertEqual(r.status, 200, r.stderr)
            reqs = wait_until(lambda: self.origin.requests()[before:] or None, 5, "origin log")
            return by_src[reqs[-1]["client"].rsplit(":", 1)[0]]

        self.assertEqual({via("localhost") for _ in range(6)}, set(ups))

        # bad command lines: exit 2, nothing written
        for args in (["bans", "add", "--domain", "localhost"],
                     ["bans", "add", "--upstream", "zz", "--domain", "localhost"],
                     ["bans", "add", "--upstream", ups[0].sid, "--domain", "local host"],
                     ["bans", "add", "--upstream", ups[0].sid, "--domain", "x", "--ttl-s", "0"],
                     ["bans", "del", "NOT-AN-ID"], ["bans", "frob"], ["bans"]):
            rc, out, err = self.ctl(node, *args)
            self.assertEqual(rc, 2, "%s: %s %s" % (args, out, err))
        self.assertEqual(self.redis.hgetall(self.k.bans), {})

        # a fleet ban by upstream id (the short id derived as the nodes do)
        victim = ups[0]
        rc, out, err = self.ctl(node, "--json", "bans", "add", "--upstream", victim.uid,
                                "--domain", "LocalHost.", "--ttl-s", "600", "--reason", "captcha")
        self.assertEqual(rc, 0, err)
        ban = json.loads(out)["ban"]
        self.assertEqual(ban["upstream"], victim.sid)
        self.assertEqual(ban["domain"], "localhost")
        self.assertEqual(ban["reason"], "captcha")
        self.assertNotIn("session", ban)
        self.assertAlmostEqual(ban["expires_at_ms"] - ban["created_at_ms"], 600000, delta=1)
        # the record, its expiry and the notice, as the nodes write them
        stored = json.loads(self.redis.hgetall(self.k.bans)[ban["id"]])
        self.assertEqual(stored, {k: ban[k] for k in stored})
        self.assertEqual(float(self.redis.cmd("ZSCORE", self.k.bans_expiry, ban["id"])),
                         ban["expires_at_ms"])
        wait_until(lambda: node.metric("pf_node_bans") == 1, 2, "the node got the notice")
        seen = {via("localhost") for _ in range(6)}
        self.assertNotIn(victim, seen)
        self.assertEqual(len(seen), 2)
        self.assertIn(victim, {via("127.0.0.1") for _ in range(6)}, "another domain keeps it")

        # a session ban by short id
        rc, out, err = self.ctl(node, "bans", "add", "--upstream", ups[1].sid, "--domain", "*",
                                "--session", USER + "-session-9")
        self.assertEqual(rc, 0, err)
        self.assertRegex(out, r"^ban [0-9a-f]{16} added: upstream %s session %s-session-9 for \*, "
                              r"3600 s\n$" % (ups[1].sid, USER))
        sess_id = out.split()[1]

        # list: newest first, text and JSON
        rc, out, err = self.ctl(node, "bans", "list")
        self.assertEqual(rc, 0, err)
        lines = out.splitlines()
        self.assertRegex(lines[0], r"^BAN\s+UPSTREAM\s+DOMAIN\s+EXPIRES\s+SESSION\s+REASON")
        self.assertRegex(lines[1], r"^%s\s+%s\s+\*\s+in 59m5\ds\s+%s-session-9\s+-$"
                         % (sess_id, ups[1].sid, USER))
        self.assertRegex(lines[2], r"^%s\s+%s\s+localhost\s+in 9m5\ds\s+\(fleet\)\s+captcha$"
                         % (ban["id"], victim.sid))
        lst = json.loads(self.ctl(node, "--json", "bans", "list")[1])
        self.assertEqual(lst["count"], 2)
        self.assertEqual([b["id"] for b in lst["bans"]], [sess_id, ban["id"]])
        self.assertGreater(lst["bans"][1]["expires_in_ms"], 590000)

        # del: gone from Redis and from the node; the upstream serves again
        rc, out, err = self.ctl(node, "bans", "del", ban["id"])
        self.assertEqual((rc, out), (0, "ban %s removed\n" % ban["id"]), err)
        self.assertNotIn(ban["id"], self.redis.hgetall(self.k.bans))
        self.assertIsNone(self.redis.cmd("ZSCORE", self.k.bans_expiry, ban["id"]))
        wait_until(lambda: node.metric("pf_node_bans") == 1, 2, "the node dropped the ban")
        self.assertIn(victim, {via("localhost") for _ in range(6)})
        rc, out, err = self.ctl(node, "bans", "del", ban["id"])
        self.assertEqual(rc, 1)
        self.assertIn("no ban %s" % ban["id"], err)
        rc, out, err = self.ctl(node, "--json", "bans", "del", sess_id)
        self.assertEqual((rc, json.loads(out)), (0, {"deleted": sess_id}))
        rc, out, _ = self.ctl(node, "bans", "list")
        self.assertEqual(out, "(no active ban)\n")

    def test_users_add_authenticates_within_1s_del_removes(self):
        f = self.fleet
        up = f.direct_upstream_node(name="up")
        up.uid = "http://127.0.0.1:%d" % up.port
        self.seed([up])
        node = self.pool_node("node-a", 1, redis_users=True)

        def status(user, password):
            return curl("-x", node.proxy_url, "--proxy-user", "%s:%s" % (user, password),
                        self.origin.url("/")).status

        self.assertEqual(status("carol", USER_PASS), 407)
        # bad command lines: exit 2, nothing written
        for args, stdin in ((["users", "add"], USER_PASS + "\n"),
                            (["users", "add", "carol-x"], USER_PASS + "\n"),
                            (["users", "add", "carol", USER_PASS], ""),
                            (["users", "add", "carol"], ""),
                            (["users", "add", "carol", "--max-conns", "-1"], USER_PASS + "\n"),
                            (["users", "del"], "")):
            rc, out, err = self.ctl(node, *args, stdin=stdin)
            self.assertEqual(rc, 2, "%s: %s %s" % (args[:3], out, err))
        self.assertEqual(self.redis.hgetall(self.k.users), {})
        self.assertIsNone(self.redis.cmd("GET", self.k.users_version))

        rc, out, err = self.ctl(node, "users", "add", "carol", "--max-conns", "5",
                                "--bytes-per-day", "1048576", stdin=USER_PASS + "\n")
        self.assertEqual((rc, out), (0, "user carol set (users version 1)\n"), err)
        t0 = time.monotonic()   # from the write (ctl's own scrypt run is not the node's delay)
        wait_until(lambda: status("carol", USER_PASS) == 200, 1.0, "carol authenticates",
                   interval=0.02)
        self.assertLess(time.monotonic() - t0, 1.5)
        self.assertEqual(status("carol", USER_PASS_2), 407)
        rec = json.loads(self.redis.hgetall(self.k.users)["carol"])
        self.assertRegex(rec["pass"], r"^\$scrypt\$ln=12,r=8,p=1\$[A-Za-z0-9_-]{22}\$"
                                      r"[A-Za-z0-9_-]{43}$")
        self.assertEqual({k: v for k, v in rec.items() if k != "pass"},
                         {"max_conns": 5, "bytes_per_day": 1048576})
        for v in self.redis.hgetall(self.k.users).values():
            self.assertNotIn(USER_PASS, v)

        # a new password (CRLF line end) replaces the old one within 1 s
        rc, out, err = self.ctl(node, "--json", "users", "add", "carol", stdin=USER_PASS_2 + "\r\n")
        self.assertEqual(rc, 0, err)
        self.assertEqual(json.loads(out), {"added": "carol", "version": 2})
        wait_until(lambda: status("carol", USER_PASS_2) == 200, 1.0, "the new password",
                   interval=0.02)
        self.assertEqual(status("carol", USER_PASS), 407)

        # list: limits and cost, never the hash
        self.redis.cmd("HSET", self.k.users, "broken", '{"pass":"nope"}')
        rc, out, err = self.ctl(node, "users", "list")
        self.assertEqual(rc, 0, err)
        self.assertRegex(out, r"(?m)^USER\s+MAX_CONNS\s+MAX_RPS\s+BYTES/DAY\s+BYTES/MONTH\s+HASH$")
        self.assertRegex(out, r"(?m)^broken\s+\(skipped by nodes: .*hash.*\)$")
        self.assertRegex(out, r"(?m)^carol\s+0\s+0\s+0\s+0\s+scrypt ln=12,r=8,p=1$")
        self.assertRegex(out, r"(?m)^2 users, version 2$")
        lst = json.loads(self.ctl(node, "--json", "users", "list")[1])
        self.assertEqual(lst["version"], "2")
        carol = [u for u in lst["users"] if u["name"] == "carol"][0]
        self.assertEqual(carol, {"name": "carol", "hash": "scrypt ln=12,r=8,p=1", "max_conns": 0,
                                 "max_rps": 0, "bytes_per_day": 0, "bytes_per_month": 0})

        # an unknown name costs one scrypt, as a wrong password does
        time.sleep(1.1)   # a fresh verification budget second
        v0 = node.metric("pf_node_user_verifications_total")
        self.assertEqual(status("nobody", USER_PASS), 407)
        self.assertEqual(node.metric("pf_node_user_verifications_total"), v0 + 1)
        self.assertEqual(status("carol", "wrong-" + USER_PASS), 407)
        self.assertEqual(node.metric("pf_node_user_verifications_total"), v0 + 2)
        # a base name with a dash is not the name before the dash
        self.assertEqual(status("carol-doe", USER_PASS_2), 407)

        # del: refused within 1 s; again: exit 1
        rc, out, err = self.ctl(node, "users", "del", "carol")
        self.assertEqual((rc, out), (0, "user carol removed\n"), err)
        t0 = time.monotonic()
        self.assertEqual(self.redis.cmd("GET", self.k.users_version), "3")
        wait_until(lambda: status("carol", USER_PASS_2) == 407, 1.0, "carol refused",
                   interval=0.02)
        self.assertLess(time.monotonic() - t0, 1.5)
        rc, out, err = self.ctl(node, "users", "del", "carol")
        self.assertEqual(rc, 1)
        self.assertIn("no user carol", err)
        self.assertEqual(self.redis.cmd("GET", self.k.users_version), "3")


if __name__ == "__main__":
    unittest.main()
