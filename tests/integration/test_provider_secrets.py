"""No secret ever leaves in clear (issue 9): one fleet runs every fault mode
of tests/fake_provider.py (every scenario, every real provider shape and
error shape) against providers of every format, each body carrying upstream
credentials, each request carrying an API key in its query and, for some,
an API token header or basic auth; client traffic with a client password
goes through a pool node to the upstreams. Then every log, every Redis key
and value (read back, and the RDB dump with its compressed strings), every
file the binaries wrote (the node's snapshot file included) and the admin
endpoints are scanned for every secret, in clear, percent-encoded and
base64-encoded (tests/secret_scan.py encoded_forms()); Redis and the
controller's /status after every step too, since they keep only the latest
errors. A hit fails.

The fake provider's own access log is not scanned: it is the provider, the
intended receiver of the API keys."""

import json
import os
import sys
import unittest

from pf_harness import TESTS_DIR, Fleet, curl, wait_until

sys.path.insert(0, TESTS_DIR)
import fake_provider  # noqa: E402
import secret_scan    # noqa: E402

UP_USER, UP_PASS = "sec-up", "up-PASS-a81f3e"
CLIENT_USER, CLIENT_PASS = "client", "client-PASS-77e2c4"
API_KEY = "key-API-SECRET-4c1d7e"
HDR_TOKEN = "hdr-TOKEN-55c1d9f0"
BASIC_PASS = "basic-PASS-0b3e6a"

# The providers, one per body format, each with its own path.
FORMATS = ("auto", "userinfo", "pipes", "kdl", "ws")


class ProviderSecrets(unittest.TestCase):
    def setUp(self):
        self.fleet = Fleet(self)
        for s in (UP_PASS, CLIENT_PASS, API_KEY, HDR_TOKEN, BASIC_PASS):
            self.fleet.secret(s)

    # -- the bodies -----------------------------------------------------------------

    def entries(self):
        return [{"host": "127.0.0.1", "port": u.port, "user": UP_USER, "pass": UP_PASS}
                for u in self.ups]

    def lines(self, fmt):
        """The upstreams as provider <fmt> writes a list line."""
        out = []
        for u in self.ups:
            if fmt == "auto":
                out.append("127.0.0.1:%d:%s:%s" % (u.port, UP_USER, UP_PASS))
            elif fmt == "userinfo":
                out.append("%s:%s@127.0.0.1:%d" % (UP_USER, UP_PASS, u.port))
            else:
                out.append("127.0.0.1|%d|%s|%s" % (u.port, UP_USER, UP_PASS))
        return out

    def good(self, fmt):
        if fmt == "kdl":
            return {"scenario": "provider_shape", "params": {"shape": "kdl_json",
                                                             "upstreams": self.entries()}}
        if fmt == "ws":
            return {"scenario": "provider_shape", "params": {"shape": "webshare", "page_size": 1,
                                                             "upstreams": self.entries()}}
        return {"scenario": "good_text", "params": {"upstreams": self.lines(fmt)}}

    def steps(self):
        """[(label, {fmt: spec})]: every scenario of the fake provider, the
        credentialed bodies in each provider's own format."""
        out = [("good", {fmt: self.good(fmt) for fmt in FORMATS})]
        for scen in fake_provider.SCENARIOS:
            if scen == "provider_shape":
                for shape in fake_provider.SHAPES:
                    out.append(("shape " + shape, {fmt: {"scenario": scen, "params": {
                        "shape": shape, "page_size": 1, "upstreams": self.entries()}}
                        for fmt in FORMATS}))
                continue
            if scen == "provider_error":
                for shape in fake_provider.ERROR_SHAPES:
                    out.append(("error " + shape, {fmt: {"scenario": scen,
                                                         "params": {"shape": shape}}
                                                   for fmt in FORMATS}))
                continue
            if scen == "echo_key":
                for js in (False, True):
                    out.append(("echo_key json=%s" % js, {fmt: {"scenario": scen, "params": {
                        "status": 401 if js else 400, "json": js}} for fmt in FORMATS}))
                continue
            specs = {}
            for fmt in FORMATS:
                p = {}
                if scen in ("good_text", "slow_body", "reset"):
                    p["upstreams"] = self.lines(fmt) if fmt not in ("kdl", "ws") \
                        else self.lines("auto")
                if scen == "truncated_json":
                    p = {"format": "json", "upstreams": self.entries()}
                if scen == "good_json":
                    p = {"upstreams": ["127.0.0.1:%d" % u.port for u in self.ups]}
                if scen == "hang":
                    p = {"seconds": 3}
                if scen == "oversize":
                    p = {"mib": 1, "line": self.lines("auto")[0]}
                if scen == "reset":
                    p["partial"] = True
                if scen == "slow_body":
                    p["bytes_per_s"] = 20
                specs[fmt] = {"scenario": scen, "params": p}
            out.append((scen, specs))
        out.append(("good again", {fmt: self.good(fmt) for fmt in FORMATS}))
        return out

    def provider(self, fmt):
        p = {"name": fmt, "type": "api", "url": self.prov.url("/%s?key=%s&num=5" % (fmt, API_KEY)),
             "interval_ms": 200, "timeout_ms": 1000, "connect_timeout_ms": 1000,
             "retry_attempts": 1, "breaker_failures": 1000, "fatal_recheck_s": 1,
             "max_body_bytes": 65536, "allow_private": ["127.0.0.0/8"], "format": "lines"}
        if fmt == "pipes":
            p["line_format"] = "{host}|{port}|{user}|{pass}"
        if fmt == "kdl":
            p.update(format="json", auth={"type": "basic", "user": "kdl-acct", "pass": BASIC_PASS},
                     json={"list": "data.proxy_list", "success": {"field": "code", "equals": [0]}},
                     errors={"codes": {"-15": "fatal"}})
        if fmt == "ws":
            p.update(format="json",
                     auth={"type": "header", "name": "Authorization", "value": "Token " + HDR_TOKEN},
                     json={"list": "results", "host": "proxy_address", "port": "port",
                           "user": "username", "pass": "password", "next": "next",
                           "filter": {"field": "valid", "equals": [True]},
                           "labels": {"country": "country_code", "city": "city_name"}})
        return p

    # -- running ----------------------------------------------------------------------

    def polls(self):
        return {fmt: int(self.redis.hgetall(self.fleet.keys.provider(fmt)).get("polls", "0"))
                for fmt in FORMATS}

    def run_step(self, label, specs):
        for fmt, spec in specs.items():
            self.prov.set("/" + fmt, **{k: v for k, v in spec.items()})
        before = self.polls()
        # two more polls finished: one whole poll ran with the new answer
        wait_until(lambda: all(n >= before[f] + 2 for f, n in self.polls().items()), 20,
                   "two polls of every provider with '%s'" % label)

    def traffic(self):
        """Client requests with the client's password through the pool node,
        on to the upstreams with theirs."""
        wait_until(lambda: self.node.metric("pf_node_pool_size") == len(self.ups), 15,
                   "the pool on the node")
        seen = set()
        for _ in range(2 * len(self.ups)):
            before = len(self.origin.requests())
            r = curl("-x", self.node.proxy_url, "--proxy-user", "%s:%s" % (CLIENT_USER, CLIENT_PASS),
                     self.origin.url("/secret-check"))
            self.assertEqual(r.status, 200, r.stderr)
            req = wait_until(lambda: self.origin.requests()[before:] or None, 5, "origin log")[-1]
            seen.add(req["client"].rsplit(":", 1)[0])
            self.assertIsNone(self.origin.header(req, "Proxy-Authorization"))
        self.assertEqual(seen, {u.src for u in self.ups})

    # -- scanning ---------------------------------------------------------------------

    def redis_text(self):
        """Every key and value in Redis, as bytes."""
        parts = []
        for k in self.redis.keys("*"):
            t = self.redis.cmd("TYPE", k)
            if t == "string":
                v = [self.redis.cmd("GET", k)]
            elif t == "hash":
                v = self.redis.cmd("HGETALL", k)
            elif t == "set":
                v = self.redis.cmd("SMEMBERS", k)
            elif t == "zset":
                v = self.redis.cmd("ZRANGE", k, 0, -1, "WITHSCORES")
            elif t == "list":
                v = self.redis.cmd("LRANGE", k, 0, -1)
            else:
                v = [json.dumps(self.redis.cmd("XRANGE", k, "-", "+"))] if t == "stream" else []
            parts.append(k)
            parts.extend(str(x) for x in v)
        return "\n".join(parts).encode("utf-8", "surrogateescape")

    def written_files(self):
        """Every file of the fleet's temp dir but the inputs (configs, key
        files) and the fake provider's access log."""
        out = []
        for d, _, names in os.walk(self.fleet.tmp):
            for n in names:
                path = os.path.join(d, n)
                if n.endswith((".json", ".key")) or n == self.prov.name + ".log":
                    continue
                out.append(path)
        return out

    def test_every_fault_mode_every_format(self):
        f = self.fleet
        self.redis = f.start_redis()
        self.origin = f.start_origin()
        self.prov = f.start_fake_provider()
        self.ups = []
        for i in range(2):
            u = f.direct_upstream_node(name="sup%d" % i, users=[(UP_USER, UP_PASS)],
                                       source_address="127.0.0.%d" % (51 + i))
            u.src = "127.0.0.%d" % (51 + i)
            self.ups.append(u)
        steps = self.steps()
        used = {spec["scenario"] for _, specs in steps for spec in specs.values()}
        self.assertEqual(used, set(fake_provider.SCENARIOS), "every fault mode runs")
        for fmt, spec in steps[0][1].items():
            self.prov.set("/" + fmt, **spec)
        self.ctl = f.start_controller({"controller": {"providers": [self.provider(fmt)
                                                                    for fmt in FORMATS]}})
        snapshot = os.path.join(f.tmp, "node-snapshot.dat")
        self.node = f.start_node({"node": {
            "mode": "pool", "destination_allow": ["127.0.0.0/8"], "connect_timeout_ms": 2000,
            "users": [{"user": CLIENT_USER, "pass": CLIENT_PASS}],
            "snapshot_file": snapshot}}, name="pool")
        secrets = sorted(f.secrets)
        hits = []
        for label, specs in steps:
            with self.subTest(step=label):
                self.run_step(label, specs)
                if label.startswith("good"):
                    self.traffic()
            # Redis and /status hold only the latest errors: read them at
            # every step, not just at the end
            _, status, _ = self.ctl.admin("/status")
            for where, data in (("redis after '%s'" % label, self.redis_text()),
                                ("controller /status after '%s'" % label, status.encode())):
                for s, form in secret_scan.find_encoded(data, secrets):
                    hits.append("%s: secret %s (%s)" % (where, secret_scan.mask(s), form))
        for fmt in FORMATS:
            self.assertGreater(self.prov.hits("/" + fmt), 2 * len(steps))
        wait_until(lambda: os.path.exists(snapshot), 15, "the node's snapshot file")

        # the scanner itself finds what it looks for (the control)
        import base64
        ctrl = b"Authorization: Basic " + base64.b64encode(("x:" + UP_PASS).encode())
        self.assertEqual(secret_scan.find_encoded(ctrl, secrets), [(UP_PASS, "base64")])

        blobs = {"redis keys and values": self.redis_text()}
        for proc, paths in ((self.ctl, ("/status", "/metrics")),
                            (self.node, ("/stats", "/metrics"))):
            for p in paths:
                status, body, _ = proc.admin(p)
                self.assertEqual(status, 200)
                blobs["%s %s" % (proc.name, p)] = body.encode()
        self.assertIn(b"pool:upstreams", blobs["redis keys and values"])
        for fmt in FORMATS:
            self.assertIn(f.keys.provider(fmt).encode(), blobs["redis keys and values"])
        self.assertEqual(self.redis.cmd("SAVE"), "OK")
        files = self.written_files()
        names = {os.path.basename(p) for p in files}
        for must in ("controller.log", "pool.log", "sup0.log", "node-snapshot.dat", "dump.rdb"):
            self.assertIn(must, names)
        for path in files:
            with open(path, "rb") as fh:
                blobs[path] = fh.read()
            if path.endswith(".rdb"):
                for off, s in secret_scan.rdb_strings(blobs[path]):
                    blobs["%s (LZF string at %d)" % (path, off)] = s
        for where, data in blobs.items():
            for s, form in secret_scan.find_encoded(data, secrets):
                hits.append("%s: secret %s (%s)" % (where, secret_scan.mask(s), form))
        self.assertEqual(hits, [], "secrets leaked:\n" + "\n".join(hits))


if __name__ == "__main__":
    unittest.main()
