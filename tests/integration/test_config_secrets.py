"""Secrets outside the JSON (issue 11 item 9): a node whose users'
passwords and a controller whose provider URL key and API token come from
files and environment variables ({"file": PATH}, {"env": NAME}) work end to
end: the provider is polled with the key and token, the pool reaches the
node, clients authenticate with the passwords. --check-config names a
missing file or variable by its key path, never by its value, and the
values never reach stderr or a log, also when the file exists but the JSON
around it is wrong (the harness scans every log for every fleet.secret())."""

import os
import signal
import stat
import unittest

from pf_harness import Fleet, curl, wait_until

API_KEY = "kdl-KEY-from-file-5e1c9a"
ENV_KEY = "kdl-KEY-from-env-83b0d2"
API_TOKEN = "tok-FROM-env-a47f0e19"
ALICE_PASS = "alice-PASS-file-91d3"
BOB_PASS = "bob-PASS-env-7c20e4"
CAROL_PASS = "carol-PASS-loose-3f88"
REDIS_USER = "pfsecret"
REDIS_PASS = "redis-PASS-acl-62d1b7"


class ConfigSecrets(unittest.TestCase):
    def setUp(self):
        self.fleet = Fleet(self)
        for s in (API_KEY, ENV_KEY, API_TOKEN, ALICE_PASS, BOB_PASS, CAROL_PASS, REDIS_PASS):
            self.fleet.secret(s)
        self.dir = os.path.join(self.fleet.tmp, "secrets")
        os.mkdir(self.dir, 0o700)

    def secret_file(self, name, value, mode=0o600):
        path = os.path.join(self.dir, name)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
        with os.fdopen(fd, "w") as f:
            f.write(value + "\n")           # as `echo value > file` writes it
        os.chmod(path, mode)
        return path

    def assert_no_secret(self, text):
        for s in (API_KEY, ENV_KEY, API_TOKEN, ALICE_PASS, BOB_PASS, CAROL_PASS, REDIS_PASS):
            self.assertNotIn(s, text)

    def test_end_to_end(self):
        f = self.fleet
        f.start_redis()
        origin = f.start_origin()
        upstream = f.direct_upstream_node(name="upstream")
        prov = f.start_fake_provider()
        prov.set("/list", scenario="good_text", upstreams=["127.0.0.1:%d" % upstream.port])
        prov.set("/list2", scenario="good_text", upstreams=["127.0.0.1:%d" % upstream.port])
        url_file = self.secret_file("kdl_url", prov.url("/list?key=" + API_KEY))
        ctl_env = {"PF_TEST_KDL_URL": prov.url("/list2?key=" + ENV_KEY),
                   "PF_TEST_API_TOKEN": API_TOKEN}
        f.start_controller({"controller": {"providers": [
            {"name": "from-file", "type": "api", "url": {"file": url_file},
             "allow_private": True},
            {"name": "from-env", "type": "api", "url": {"env": "PF_TEST_KDL_URL"},
             "allow_private": True,
             "auth": {"type": "header", "name": "X-Api-Key",
                      "value": {"env": "PF_TEST_API_TOKEN"}}},
        ]}}, env=ctl_env)

        # the provider sees the key from the file, and the key and token from the env
        req = wait_until(lambda: prov.requests("/list"), 20, "a poll of /list")[0]
        self.assertIn("key=" + API_KEY, req["query"])
        req2 = wait_until(lambda: prov.requests("/list2"), 20, "a poll of /list2")[0]
        self.assertIn("key=" + ENV_KEY, req2["query"])
        self.assertIn(("x-api-key", API_TOKEN), [(k.lower(), v) for k, v in req2["headers"]])

        alice_file = self.secret_file("alice", ALICE_PASS)
        carol_file = self.secret_file("carol", CAROL_PASS, mode=0o644)
        node = f.start_node({"node": {
            "mode": "pool", "destination_allow": ["127.0.0.0/8"],
            "users": [{"user": "alice", "pass": {"file": alice_file}},
                      {"user": "bob", "pass": {"env": "PF_TEST_BOB_PASS"}},
                      {"user": "carol", "pass": {"file": carol_file}}],
        }}, env={"PF_TEST_BOB_PASS": BOB_PASS})

        def served(user, pw):
            r = curl("-x", node.proxy_url, "-U", "%s:%s" % (user, pw), origin.url("/s"))
            return r if r.status == 200 else None
        wait_until(lambda: served("alice", ALICE_PASS), 20, "alice served through the pool")
        self.assertIsNotNone(served("bob", BOB_PASS))
        self.assertIsNotNone(served("carol", CAROL_PASS))
        r = curl("-x", node.proxy_url, "-U", "alice:" + BOB_PASS, origin.url("/s"))
        self.assertEqual(r.status, 407, "a password of another user is refused")
        r = curl("-x", node.proxy_url, origin.url("/s"))
        self.assertEqual(r.status, 407)

        # the file others may read is accepted with one warning naming key and file
        log = node.log_text()
        self.assertIn("node.users[2].pass: file %s is accessible to group or others" % carol_file,
                      log)
        self.assertNotIn("node.users[0].pass: file", log)
        self.assert_no_secret(log)

        # SIGHUP reads the secrets again: the loose file is warned about
        # again, the users still authenticate, nothing leaks
        node.signal(signal.SIGHUP)
        wait_until(lambda: "reload: config: node.users[2].pass: file %s is accessible" % carol_file
                   in node.log_text(), 10, "the reload's warning")
        self.assertIsNotNone(served("alice", ALICE_PASS))
        self.assertIsNotNone(served("bob", BOB_PASS))
        self.assert_no_secret(node.log_text())

    def test_redis_acl_url_from_env_and_file(self):
        """redis.url with an ACL user's password: the controller's from the
        environment, the node's from a file; both reach a Redis whose
        default user is off, and the pool flows between them."""
        f = self.fleet
        origin = f.start_origin()
        upstream = f.direct_upstream_node(name="upstream")   # before the fleet has a Redis
        r = f.start_redis(args=["--user", REDIS_USER, "on", ">" + REDIS_PASS, "~*", "&*",
                                "+@all", "--user", "default", "off"],
                          auth=(REDIS_USER, REDIS_PASS))
        url = "redis://%s:%s@127.0.0.1:%d/0" % (REDIS_USER, REDIS_PASS, r.port)
        ctl = f.start_controller({
            "redis": {"url": {"env": "PF_TEST_REDIS_URL"}},
            "controller": {"providers": [
                {"name": "static", "type": "static", "allow_private": True,
                 "upstreams": ["http://127.0.0.1:%d" % upstream.port]}]}},
            env={"PF_TEST_REDIS_URL": url})
        node = f.start_node({
            "redis": {"url": {"file": self.secret_file("redis_url", url)}},
            "node": {"mode": "pool", "destination_allow": ["127.0.0.0/8"]}})
        wait_until(lambda: node.metric("pf_node_pool_size") == 1, 20,
                   "the node to load the pool the controller published")
        res = curl("-x", node.proxy_url, origin.url("/via-pool"))
        self.assertEqual(res.status, 200, res.stderr)
        users = {dict(kv.split("=", 1) for kv in line.split(" ") if "=" in kv).get("user")
                 for line in r.cmd("CLIENT", "LIST").strip().splitlines()}
        self.assertEqual(users, {REDIS_USER})
        for p in (ctl, node):
            self.assert_no_secret(p.log_text())

    def check(self, kind, config, env=None):
        rc, out = self.fleet.run_binary(kind, config, args=["--check-config"], env=env,
                                        merge_defaults=True)
        self.assert_no_secret(out)
        return rc, out

    def test_check_config_names_the_key_never_the_value(self):
        f = self.fleet
        f.start_redis()
        # a variable that is not set
        rc, out = self.check("node", {"node": {"users": [
            {"user": "alice", "pass": {"env": "PF_ALICE_PASS"}}]}})
        self.assertEqual(rc, 2, out)
        self.assertIn("node.users[0].pass: env PF_ALICE_PASS is not set", out)
        # a file that does not exist
        missing = os.path.join(self.dir, "kdl")
        rc, out = self.check("controller", {"controller": {"providers": [
            {"name": "kdl", "type": "api", "url": {"file": missing}}]}})
        self.assertEqual(rc, 2, out)
        self.assertIn("controller.providers[0].url: file %s: No such file or directory" % missing,
                      out)
        # a file whose value is no URL: the reason, not the value
        bad = self.secret_file("bad_url", "ftp://api.example/?key=" + API_KEY)
        rc, out = self.check("controller", {"controller": {"providers": [
            {"name": "kdl", "type": "api", "url": {"file": bad}}]}})
        self.assertEqual(rc, 2, out)
        self.assertIn("controller.providers[0].url: file %s: must start with http:// or https://"
                      % bad, out)
        # an unreadable file (a directory)
        rc, out = self.check("node", {"node": {"users": [
            {"user": "a", "pass": {"file": self.dir}}]}})
        self.assertEqual(rc, 2, out)
        self.assertIn("node.users[0].pass: file %s: not a regular file" % self.dir, out)

        # secrets that resolve, with a mistake around them: the mistake, never a secret
        url_file = self.secret_file("url", "http://127.0.0.1:9/list?key=" + API_KEY)
        env = {"PF_TEST_API_TOKEN": API_TOKEN, "PF_TEST_BOB_PASS": BOB_PASS,
               "PF_TEST_KDL_URL": "http://127.0.0.1:9/l?key=" + ENV_KEY}
        rc, out = self.check("controller", {"controller": {"providers": [
            {"name": "kdl", "type": "api", "url": {"file": url_file},
             "auth": {"type": "header", "value": {"env": "PF_TEST_API_TOKEN"}}},
        ]}}, env=env)
        self.assertEqual(rc, 2, out)
        self.assertIn("controller.providers[0].auth: type header needs name and value only", out)
        rc, out = self.check("controller", {"controller": {"providers": [
            {"name": "kdl", "type": "api", "url": {"env": "PF_TEST_KDL_URL"}, "retries": 3}]}},
            env=env)
        self.assertEqual(rc, 2, out)
        self.assertIn("controller.providers[0].retries: unknown key", out)
        alice = self.secret_file("alice", ALICE_PASS)
        rc, out = self.check("node", {"node": {"users": [
            {"user": "alice", "pass": {"file": alice}},
            {"user": "alice", "pass": {"env": "PF_TEST_BOB_PASS"}}]}}, env=env)
        self.assertEqual(rc, 2, out)
        self.assertIn("node.users[1]: duplicate user", out)
        rc, out = self.check("node", {"node": {"users": [
            {"user": "alice", "pass": {"file": alice}}], "retries": 99}}, env=env)
        self.assertEqual(rc, 2, out)
        self.assertIn("node.retries: must be 0..10", out)

        # and the same configs, corrected, pass
        rc, out = self.check("node", {"node": {"users": [
            {"user": "alice", "pass": {"file": alice}},
            {"user": "bob", "pass": {"env": "PF_TEST_BOB_PASS"}}]}}, env=env)
        self.assertEqual(rc, 0, out)
        rc, out = self.check("controller", {"controller": {"providers": [
            {"name": "kdl", "type": "api", "url": {"file": url_file},
             "auth": {"type": "header", "name": "X-Api-Key",
                      "value": {"env": "PF_TEST_API_TOKEN"}}},
            {"name": "kdl2", "type": "api", "url": {"env": "PF_TEST_KDL_URL"}}]}}, env=env)
        self.assertEqual(rc, 0, out)
        self.assertEqual(stat.S_IMODE(os.stat(alice).st_mode), 0o600)


if __name__ == "__main__":
    unittest.main()
