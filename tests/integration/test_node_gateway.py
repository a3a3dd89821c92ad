"""Gateways and label sources (issue 12 items 1, 3 and 4), end to end:
controller config -> pool records in Redis -> two pool-mode nodes -> a real
upstream.

  * A static provider with a `user_template` in front of squid, whose basic
    auth helper (a small script) records every user name it is asked to
    check, and whose access log names the user of every request: the user
    name each node sends is rendered from the client's user-name parameters,
    the session passed as a keyed hash that is the same on both nodes and
    differs per session; the client's user name never reaches the gateway;
    the password is the provider's; CONNECT carries the same name.
  * Requests and bytes are counted per provider on /metrics and in the
    node's Redis report.
  * Labels come from a provider's JSON fields (region, asn included) and
    from its static `labels`, the entry's field winning; the nodes select
    on them.
  * Client values that would make the gateway's user name longer than 255
    bytes answer 400 with the reason; the gateway sees nothing."""

import json
import os
import re
import shutil
import stat
import subprocess
import tempfile
import time
import unittest

from pf_harness import Fleet, Peer, curl, free_port, parse_metrics, wait_until

USER, PASS = "alice", "alice-pw-5521"
GW_USER, GW_PASS = "customer-acme", "gwpass8841"
TEMPLATE = "customer-acme[-cc-{country}][-sessid-{session}][-sesstime-{sesstime}]"

HELPER = r'''#!/usr/bin/python3
import sys, urllib.parse
log, want = sys.argv[1], sys.argv[2]
for line in sys.stdin:
    parts = line.rstrip("\n").split(" ", 1)
    user = urllib.parse.unquote(parts[0])
    pw = urllib.parse.unquote(parts[1]) if len(parts) > 1 else ""
    with open(log, "a") as f:
        f.write(user + "\n")
    sys.stdout.write("OK\n" if pw == want else "ERR\n")
    sys.stdout.flush()
'''


def need(name):
    path = shutil.which(name) or (name if os.path.exists(name) else None)
    if path is None:
        raise AssertionError("%s is required (apt-get install squid)" % name)
    return path


class NodeGateway(unittest.TestCase):
    def setUp(self):
        self.fleet = Fleet(self)
        f = self.fleet
        self.redis = f.start_redis()
        self.origin = f.start_origin()

    # -- peers ----------------------------------------------------------------

    def squid(self):
        """squid with basic auth by a helper that logs each user name it
        checks and accepts GW_PASS only; its access log names the user of
        every request ("<user> <method> <url>")."""
        port = free_port()
        d = tempfile.mkdtemp(prefix="pf-gw-squid-")
        self.addCleanup(shutil.rmtree, d, True)
        os.chmod(d, 0o777)
        helper = os.path.join(d, "auth_helper.py")
        with open(helper, "w") as fh:
            fh.write(HELPER)
        os.chmod(helper, 0o755)
        self.auth_log = os.path.join(d, "users.log")
        self.access_log = os.path.join(d, "access.log")
        for p in (self.auth_log, self.access_log):
            open(p, "w").close()
            os.chmod(p, 0o666)
        conf = os.path.join(d, "squid.conf")
        with open(conf, "w") as fh:
            fh.write("http_port 127.0.0.1:%d\n"
                     "pid_filename %s/squid.pid\n"
                     "cache_log %s/cache.log\n"
                     "logformat pfgw %%un %%rm %%ru\n"
                     "access_log stdio:%s pfgw\n"
                     "buffered_logs off\n"
                     "cache_store_log none\n"
                     "coredump_dir %s\n"
                     "cache deny all\n"
                     "auth_param basic program %s %s %s %s\n"
                     "auth_param basic children 2\n"
                     "auth_param basic realm pf-gw\n"
                     "acl authed proxy_auth REQUIRED\n"
                     "http_access allow authed\n"
                     "http_access deny all\n"
                     "shutdown_lifetime 1 seconds\n"
                     "visible_hostname pf-gw\n"
                     % (port, d, d, self.access_log, d, need("/usr/bin/python3"), helper,
                        self.auth_log, GW_PASS))
        os.chmod(conf, 0o644)
        return Peer(self.fleet, "squid-%d" % port, [need("squid"), "-N", "-f", conf], port, cwd=d)

    def access_users(self):
        with open(self.access_log) as fh:
            rows = [ln.split(" ", 2) for ln in fh.read().splitlines() if ln.strip()]
        # the harness's readiness probe connects without a request
        return [r for r in rows if r[1] != "-"]

    def auth_users(self):
        with open(self.auth_log) as fh:
            return fh.read().splitlines()

    # -- fleet ----------------------------------------------------------------

    def pool_node(self, name, count):
        n = self.fleet.start_node({"node": {
            "mode": "pool", "destination_allow": ["127.0.0.0/8"], "connect_timeout_ms": 3000,
            "users": [{"user": USER, "pass": PASS}], "upstream_header": "X-PF-Upstream",
        }}, name=name)
        wait_until(lambda: n.metric("pf_node_pool_size") == count, 20, "%s pool" % name)
        return n

    def via(self, node, user, *extra, path="/ip", expect=200):
        r = curl("-x", node.proxy_url, "--proxy-user", "%s:%s" % (user, PASS), *extra,
                 self.origin.url(path))
        self.assertEqual(r.status, expect, "%s: %s %s" % (user, r.stderr, r.body[:300]))
        return r

    def wait_access(self, n, what):
        return wait_until(lambda: (lambda a: a if len(a) >= n else None)(self.access_users()),
                          10, what)

    # -- tests ----------------------------------------------------------------

    def test_gateway_user_name_rendered_same_on_two_nodes_and_counted_per_provider(self):
        f = self.fleet
        sq = self.squid()
        plain = f.direct_upstream_node(name="plain-up")
        f.start_controller({"controller": {"providers": [
            {"name": "gw", "type": "static", "allow_private": True,
             "upstreams": ["http://%s:%s@127.0.0.1:%d" % (GW_USER, f.secret(GW_PASS), sq.port)],
             "labels": {"country": "US"}, "user_template": TEMPLATE},
            {"name": "plain", "type": "static", "allow_private": True,
             "upstreams": ["127.0.0.1:%d" % plain.port], "labels": {"country": "DE"}},
        ]}}, name="ctl-gw")
        # the record carries the template; the password is sealed
        recs = wait_until(lambda: (lambda h: h if len(h) == 2 else None)(
            self.redis.hgetall(f.keys.pool_upstreams)), 20, "two records")
        gw = [json.loads(v) for v in recs.values() if json.loads(v)["provider"] == "gw"][0]
        self.assertEqual(gw["user_template"], TEMPLATE)
        self.assertEqual(gw["user"], GW_USER)
        self.assertEqual(gw["labels"], {"country": "US"})
        self.assertNotIn(GW_PASS, json.dumps(recs))
        a, b = self.pool_node("node-a", 2), self.pool_node("node-b", 2)

        # 1. session 42 with a lifetime, on node A then node B: one name
        self.via(a, USER + "-country-us-session-42-sesstime-10")
        self.via(b, USER + "-country-us-session-42-sesstime-10")
        acc = self.wait_access(2, "two requests in squid's access log")
        names = [x[0] for x in acc]
        m = re.fullmatch(r"customer-acme-cc-us-sessid-([0-9a-f]{16})-sesstime-10", names[0])
        self.assertIsNotNone(m, names)
        sess42 = m.group(1)
        self.assertEqual(names[1], names[0], "node B renders what node A rendered")
        # 2. another session differs; CONNECT carries the rendered name too
        self.via(a, USER + "-country-us-session-43")
        self.via(b, USER + "-country-us-session-43", "-p")
        acc = self.wait_access(4, "four requests")
        m43 = re.fullmatch(r"customer-acme-cc-us-sessid-([0-9a-f]{16})", acc[2][0])
        self.assertIsNotNone(m43, acc[2])
        self.assertNotEqual(m43.group(1), sess42)
        self.assertEqual(acc[3][0], acc[2][0])
        self.assertEqual(acc[3][1], "CONNECT")
        # 3. no session, no lifetime: their segments are dropped; no label
        #    in the template (provider) leaves only the fixed part
        self.via(a, USER + "-country-us")
        self.via(a, USER + "-provider-gw")
        acc = self.wait_access(6, "six requests")
        self.assertEqual(acc[4][0], "customer-acme-cc-us")
        self.assertEqual(acc[5][0], GW_USER)
        # the client's user name, password and session ids never reach the gateway
        seen = " ".join(self.auth_users() + [x[0] for x in self.access_users()])
        self.assertNotIn(USER, seen)
        self.assertNotIn(PASS, seen)
        self.assertNotRegex(seen, r"sessid-4[23]\b")
        self.assertTrue(set(self.auth_users()) <= {x[0] for x in self.access_users()})
        # 4. labels pick the provider: DE goes to the plain upstream, not squid
        before = len(self.access_users())
        r = self.via(a, USER + "-country-de-session-42")
        self.assertRegex(r.headers, r"(?im)^X-PF-Upstream: plain/[0-9a-f]{12}\r?$")
        time.sleep(0.3)
        self.assertEqual(len(self.access_users()), before, "DE never goes through the gateway")

        # 5. requests and bytes per provider: /metrics and the Redis report
        def prov(node, name):
            m = node.metrics()
            return (m.get('pf_node_provider_requests_total{provider="%s"}' % name, 0),
                    m.get('pf_node_provider_bytes_in_total{provider="%s"}' % name, 0),
                    m.get('pf_node_provider_bytes_out_total{provider="%s"}' % name, 0))
        ga, pa = prov(a, "gw"), prov(a, "plain")
        self.assertEqual(ga[0], 4, "node A: 4 requests through gw")
        self.assertEqual(pa[0], 1, "node A: 1 request through plain")
        self.assertGreater(ga[1], 4 * 50, "request heads from the client")
        self.assertGreater(ga[2], 4 * 100, "responses to the client")
        gb = prov(b, "gw")
        self.assertEqual(gb[0], 2)
        self.assertEqual(prov(b, "plain")[0], 0)

        def reported():
            h = self.redis.hgetall(f.keys.node(a.id))
            if "provider_requests_total" not in h:
                return None
            doc = json.loads(h["provider_requests_total"])
            return (doc, h) if doc.get("gw") == 4 and doc.get("plain") == 1 else None
        doc, h = wait_until(reported, 10, "node A's report to count per provider")
        self.assertEqual(json.loads(h["provider_bytes_in_total"])["gw"], ga[1])
        self.assertEqual(json.loads(h["provider_bytes_out_total"])["plain"], pa[2])

    def test_parameters_too_long_for_the_gateway_answer_400(self):
        f = self.fleet
        sq = self.squid()
        # a 200-character fixed part leaves no room for a 60-character country
        tmpl = "g" * 200 + "[-{country}]"
        f.start_controller({"controller": {"providers": [
            {"name": "gw", "type": "static", "allow_private": True,
             "upstreams": ["http://u:%s@127.0.0.1:%d" % (f.secret(GW_PASS), sq.port)],
             "labels": {"country": "c" * 60, "city": "x"}, "user_template": tmpl}]}},
            name="ctl-gw")
        a = self.pool_node("node-a", 1)
        r = self.via(a, "%s-country-%s" % (USER, "c" * 60), expect=400)
        self.assertIn("user name parameters too long for gateway gw: the user name would be "
                      "261 bytes, at most 255", r.body)
        # what fits is sent: the city is not in the template, the country is left out
        self.via(a, "%s-city-x" % USER)
        acc = self.wait_access(1, "one request at the gateway")
        self.assertEqual(acc, [["g" * 200, "GET", self.origin.url("/ip")]])

    def test_labels_from_json_fields_and_static_labels_entry_wins(self):
        f = self.fleet
        ups = []
        for i in range(2):
            u = f.direct_upstream_node(name="up%d" % i, source_address="127.0.0.%d" % (31 + i))
            u.src = "127.0.0.%d" % (31 + i)
            ups.append(u)
        prov = f.start_fake_provider()
        prov.set("/list", body=json.dumps({"code": 0, "data": [
            {"ip": "127.0.0.1", "port": ups[0].port, "geo": {"cc": "US", "state": "Massachusetts"},
             "asn": "AS7922"},
            {"ip": "127.0.0.1", "port": ups[1].port, "geo": {"cc": "DE"}, "asn": "not a number"},
        ]}), headers={"Content-Type": "application/json"})
        f.start_controller({"controller": {"providers": [
            {"name": "api", "type": "api", "format": "json", "url": prov.url("/list"),
             "allow_private": True, "interval_ms": 500,
             "json": {"list": "data", "host": "ip", "port": "port",
                      "labels": {"country": "geo.cc", "region": "geo.state", "asn": "asn"}},
             "labels": {"country": "FR", "isp": "Static Net", "city": "Paris"}}]}},
            name="ctl-labels")
        recs = wait_until(lambda: (lambda h: h if len(h) == 2 else None)(
            self.redis.hgetall(f.keys.pool_upstreams)), 20, "two records")
        by_port = {json.loads(v)["port"]: json.loads(v) for v in recs.values()}
        self.assertEqual(by_port[ups[0].port]["labels"],
                         {"country": "US", "region": "Massachusetts", "asn": "AS7922",
                          "isp": "Static Net", "city": "Paris"})
        self.assertEqual(by_port[ups[1].port]["labels"],
                         {"country": "DE", "isp": "Static Net", "city": "Paris"},
                         "the entry's country wins; a bad asn is left out")
        a = self.pool_node("node-a", 2)

        def src(user):
            before = len(self.origin.requests())
            self.via(a, user)
            reqs = wait_until(lambda: self.origin.requests()[before:] or None, 5, "origin log")
            return reqs[-1]["client"].rsplit(":", 1)[0]
        for _ in range(3):
            self.assertEqual(src(USER + "-region-massachusetts"), ups[0].src)
            self.assertEqual(src(USER + "-asn-AS7922"), ups[0].src)
            self.assertEqual(src(USER + "-country-de"), ups[1].src)
            self.assertIn(src(USER + "-isp-static_net-city-paris"), {ups[0].src, ups[1].src})
        r = self.via(a, USER + "-country-fr", expect=503)
        self.assertIn("no upstream matches country=fr", r.body)

    def test_socks5_gateway_gets_the_rendered_user_name(self):
        """RFC 1929: microsocks accepts exactly one user name, the one the
        template renders for country=us; the fixed part alone is refused."""
        f = self.fleet
        port = free_port()
        Peer(f, "microsocks-%d" % port, [need("microsocks"), "-i", "127.0.0.1", "-p", str(port),
                                         "-u", "gw-cc-us", "-P", GW_PASS], port)
        f.start_controller({"controller": {"providers": [
            {"name": "sx", "type": "static", "allow_private": True,
             "upstreams": ["socks5://gw:%s@127.0.0.1:%d" % (f.secret(GW_PASS), port)],
             "labels": {"country": "US"}, "user_template": "gw[-cc-{country}]"}]}},
            name="ctl-socks")
        a = self.pool_node("node-a", 1)
        for extra in ((), ("-p",)):
            r = self.via(a, USER + "-country-us", *extra)
            self.assertEqual(json.loads(r.body)["path"], "/ip")
        r = self.via(a, USER + "-provider-sx", expect=502)
        self.assertEqual(a.metric('pf_node_upstream_errors_total{kind="upstream_auth"}'), 1)
