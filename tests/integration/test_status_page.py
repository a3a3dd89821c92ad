"""The controller's live status page (GET / and GET /fleet.json on its
admin port) against a real fleet: real redis-server, two real controllers
(leader and standby: both serve it, reading Redis), two real nodes, the
fake provider API. The page is loaded in headless Chromium (Debian's
`chromium`): its rendered DOM (--dump-dom) must show the live node ids and
the provider states and a ban added with proxyfleet-ctl; the provider as
failing once its fake API answers errors; a killed node leaving the live
list (shown gone); Redis stopped (the page says why it cannot read) and
restarted (the page recovers: OK again, the live node up). Screenshots are
kept in $PF_ARTIFACT_DIR (status_page.png, status_page_failing.png,
status_page_recovered.png) with the DOM dumps; docs/status.png is the
first one."""

import json
import os
import re
import shutil
import subprocess
import tempfile
import unittest
import urllib.error
import urllib.request

from pf_harness import Fleet, wait_until

PUBLIC_A = "203.0.113.10:8080"
PUBLIC_B = "198.51.100.7:3128"
TOKEN = "pf-status-token-5a1c9e"


def chromium_bin():
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    raise AssertionError("chromium is required (apt-get install -y chromium)")


def ctl_bin():
    b = os.environ.get("PF_CTL_BIN")
    if not b or not os.access(b, os.X_OK):
        raise AssertionError("PF_CTL_BIN must name the proxyfleet-ctl binary")
    return b


def get(url, token=None):
    req = urllib.request.Request(url)
    if token is not None:
        req.add_header("Authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, dict(r.headers), r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read().decode()


class TestStatusPage(unittest.TestCase):
    def setUp(self):
        self.fleet = Fleet(self)
        self.k = self.fleet.keys
        self.art = os.environ.get("PF_ARTIFACT_DIR") or self.fleet.tmp
        os.makedirs(self.art, exist_ok=True)
        self.profile = tempfile.mkdtemp(prefix="pf-chromium-")
        self.addCleanup(shutil.rmtree, self.profile, True)

    def chromium(self, url, *args):
        argv = [chromium_bin(), "--headless", "--no-sandbox", "--disable-gpu",
                "--no-first-run", "--disable-extensions", "--disable-dev-shm-usage",
                "--user-data-dir=" + self.profile, "--virtual-time-budget=4000",
                "--window-size=1280,900"] + list(args) + [url]
        p = subprocess.run(argv, capture_output=True, text=True, timeout=90)
        self.assertEqual(p.returncode, 0, p.stderr[-2000:])
        return p.stdout

    def dom(self, url, name):
        text = self.chromium(url, "--dump-dom")
        with open(os.path.join(self.art, name), "w") as fh:
            fh.write(text)
        return text

    def test_page_shows_the_live_fleet_and_a_failing_provider(self):
        f = self.fleet
        f.start_redis()
        prov = f.start_fake_provider()
        prov.set("/list", scenario="good_text", upstreams=[PUBLIC_A, PUBLIC_B])
        pcfg = {"name": "plain", "type": "api", "format": "lines",
                "url": prov.url("/list?key=" + f.secret("k-PAGE-SECRET-88")),
                "interval_ms": 500, "timeout_ms": 1000, "retry_attempts": 1,
                "breaker_failures": 3, "breaker_open_ms": 60000}
        f.secret(TOKEN)
        ctl_cfg = {"controller": {"providers": [pcfg], "admin_token": TOKEN}}
        leader = f.start_controller(ctl_cfg, name="ctl-a")
        wait_until(lambda: f.redis.hgetall(self.k.pool_meta).get("count") == "2", 15, "pool")
        standby = f.start_controller(ctl_cfg, name="ctl-b")
        f.start_node(name="node-a")
        node_b = f.start_node(name="node-b")
        wait_until(lambda: len(f.redis.zrange_withscores(self.k.nodes)) == 2, 15, "2 nodes")
        # a ban, written by proxyfleet-ctl (the shared ban write)
        p = subprocess.run([ctl_bin(), "--config", leader.config_path, "--json", "bans", "add",
                            "--upstream", "http://" + PUBLIC_A, "--domain", "example.com",
                            "--ttl-s", "600", "--reason", "captcha"],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(p.returncode, 0, p.stderr)
        ban = json.loads(p.stdout)["ban"]

        base = "http://127.0.0.1:%d/" % leader.admin_port
        status, headers, body = get(base)
        self.assertEqual(status, 200)
        self.assertTrue(headers["Content-Type"].startswith("text/html"))
        self.assertIn("default-src 'none'", headers["Content-Security-Policy"])
        self.assertNotRegex(body, r"(?i)<link|\bsrc=|https?://", "no external asset")
        self.assertNotIn(TOKEN, body)

        # the data wants the token
        self.assertEqual(get(base + "fleet.json")[0], 401)
        self.assertEqual(get(base + "fleet.json", "wrong-token-0000000")[0], 401)
        status, _, body = get(base + "fleet.json", TOKEN)
        self.assertEqual(status, 200, body)
        d = json.loads(body)
        self.assertEqual(d["served_by"], "ctl-a")
        self.assertEqual(d["leader"]["id"], "ctl-a")
        self.assertEqual(sorted(n["id"] for n in d["nodes"]), ["node-a", "node-b"])
        self.assertTrue(d["check"]["ok"], d["check"])
        # the standby serves the same fleet (it reads Redis)
        status, _, body = get("http://127.0.0.1:%d/fleet.json" % standby.admin_port, TOKEN)
        self.assertEqual(status, 200, body)
        d2 = json.loads(body)
        self.assertEqual(d2["served_by"], "ctl-b")
        self.assertEqual(d2["leader"]["id"], "ctl-a")
        self.assertEqual(sorted(n["id"] for n in d2["nodes"]), ["node-a", "node-b"])

        # headless Chromium renders it (token from the URL fragment)
        url = base + "#token=" + TOKEN
        dom = self.dom(url, "status_page.dom.html")
        for n in ("node-a", "node-b"):
            self.assertRegex(dom, r'<tr data-node="%s" data-state="up">' % n)
        self.assertRegex(dom, r'<tr data-provider="plain" data-state="ok" data-breaker="closed">')
        self.assertIn('data-ok="true"', dom)
        self.assertIn("leader ctl-a", dom)
        self.assertNotIn("k-PAGE-SECRET-88", dom)
        self.assertIn('data-count="1">(1 active)<', dom)
        self.assertRegex(dom, r'<tr data-ban="%s" data-domain="example.com"><td>%s</td><td>%s</td>'
                         % (ban["id"], ban["id"], ban["upstream"]))
        self.chromium(url, "--screenshot=" + os.path.join(self.art, "status_page.png"))
        self.assertGreater(os.path.getsize(os.path.join(self.art, "status_page.png")), 10000)

        # the provider's API fails: the page shows it failing, then the
        # breaker open and the check failing
        prov.set("/list", scenario="server_error_500")
        wait_until(lambda: f.redis.hgetall(self.k.provider("plain")).get("breaker") == "open",
                   20, "breaker open")
        dom = self.dom(url, "status_page_failing.dom.html")
        m = re.search(r'<tr data-provider="plain" data-state="(\w+)" data-breaker="(\w+)">(.*?)</tr>',
                      dom)
        self.assertIsNotNone(m, "provider row")
        self.assertEqual(m.group(1), "failing")
        self.assertEqual(m.group(2), "open")
        self.assertIn('class="bad">failing<', m.group(3))
        self.assertIn("HTTP 500", m.group(3))
        self.assertIn('data-ok="false"', dom)
        self.assertIn("FAIL: provider plain: breaker open", dom)
        self.chromium(url, "--screenshot=" + os.path.join(self.art, "status_page_failing.png"))

        prov.set("/list", scenario="good_text", upstreams=[PUBLIC_A, PUBLIC_B])

        # a node killed: its hash expires, it leaves the live list (gone)
        node_b.kill()
        wait_until(lambda: not f.redis.hgetall(self.k.node("node-b")), 15, "node-b hash expired")
        dom = self.dom(url, "status_page_node_killed.dom.html")
        self.assertRegex(dom, r'<tr data-node="node-a" data-state="up">')
        self.assertRegex(dom, r'<tr data-node="node-b" data-state="gone">')
        self.assertNotRegex(dom, r'<tr data-node="node-b" data-state="up">')

        # without Redis the data answers 503 with the reason, not a stale page
        f.redis.stop()
        status, _, body = get(base + "fleet.json", TOKEN)
        self.assertEqual(status, 503)
        self.assertIn("redis 127.0.0.1:", json.loads(body)["error"])
        dom = self.dom(url, "status_page_redis_down.dom.html")
        self.assertIn('data-live="0"', dom)
        self.assertIn('data-ok="false"', dom)
        self.assertRegex(dom, r"FAIL: redis 127\.0\.0\.1:\d+: ")
        self.assertNotRegex(dom, r'<tr data-node="node-a" data-state="up">')

        # Redis back (empty): the fleet republishes, the page recovers
        f.redis.start()

        def healthy():
            st, _, b = get(base + "fleet.json", TOKEN)
            if st != 200:
                return False
            d = json.loads(b)
            states = {n["id"]: n["state"] for n in d["nodes"]}
            return d["check"]["ok"] and states.get("node-a") == "up"
        wait_until(healthy, 60, "the fleet healthy again after the Redis restart")
        dom = self.dom(url, "status_page_recovered.dom.html")
        self.assertIn('data-live="1"', dom)
        self.assertIn('data-ok="true"', dom)
        self.assertRegex(dom, r'<tr data-node="node-a" data-state="up">')
        self.assertNotRegex(dom, r'<tr data-node="node-b" data-state="up">')
        self.assertRegex(dom, r'<tr data-provider="plain" data-state="ok" data-breaker="closed">')
        self.chromium(url, "--screenshot=" + os.path.join(self.art, "status_page_recovered.png"))
        self.assertGreater(os.path.getsize(os.path.join(self.art, "status_page_recovered.png")),
                           10000)


if __name__ == "__main__":
    unittest.main()
