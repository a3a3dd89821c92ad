"""Controller active health probes through upstreams of every non-http
scheme, with real peers only:

  * socks5 and socks5h: microsocks with -u/-P (username/password auth); a
    second microsocks given a WRONG password in the static provider string
    turns unhealthy with a reason and leaves the published pool, and no
    password reaches any log (the fleet scans for its secrets);
  * https (an HTTP proxy spoken over TLS): stunnel4 in server mode with a
    self-signed certificate for localhost/127.0.0.1 made by openssl at test
    time, in front of a direct-mode proxyfleet node. The controller verifies
    the proxy's certificate: healthy with controller.health.proxy_ca_file
    naming that certificate, unhealthy (a certificate/SSL reason) without it.

Every test fails loudly when a peer binary is missing."""

import json
import os
import re
import shutil
import unittest

from pf_harness import Fleet, HarnessError, Peer, _self_signed_cert, free_port, wait_until

SOCKS_USER = "hsuser"
SOCKS_PASS = "hs-s0cks-pw-5521"
WRONG_PASS = "hs-wr0ng-pw-7734"
FALL = 2
RISE = 1


def need(name):
    p = shutil.which(name)
    if not p:
        raise HarnessError("%s is not installed: the health scheme tests need it "
                           "(apt-get install microsocks stunnel4)" % name)
    return p



class TestControllerHealthSchemes(unittest.TestCase):
    def setUp(self):
        self.fleet = Fleet(self)
        self.fleet.secret(SOCKS_PASS)
        self.fleet.secret(WRONG_PASS)
        self.k = self.fleet.keys
        self.health_key = self.k.base + ":health"
        self.redis = self.fleet.start_redis()
        self.origin = self.fleet.start_origin()

    # -- peers ------------------------------------------------------------------

    def microsocks(self):
        port = free_port()
        argv = [need("microsocks"), "-i", "127.0.0.1", "-p", str(port),
                "-u", SOCKS_USER, "-P", SOCKS_PASS]
        return Peer(self.fleet, "microsocks-%d" % port, argv, port)

    def stunnel(self, connect_port):
        """stunnel4 terminating TLS on a free port in front of 127.0.0.1:<connect_port>.
        Returns (peer, certificate path)."""
        port = free_port()
        d = os.path.join(self.fleet.tmp, "stunnel-%d" % port)
        os.makedirs(d)
        cert, key = _self_signed_cert(d, "proxy")
        conf = os.path.join(d, "stunnel.conf")
        with open(conf, "w") as f:
            f.write("foreground = yes\n"
                    "pid =\n"
                    "debug = 5\n"
                    "[https-proxy]\n"
                    "accept = 127.0.0.1:%d\n"
                    "connect = 127.0.0.1:%d\n"
                    "cert = %s\n"
                    "key = %s\n" % (port, connect_port, cert, key))
        return Peer(self.fleet, "stunnel-%d" % port, [need("stunnel4"), conf], port), cert

    # -- helpers ----------------------------------------------------------------

    def start_controller(self, upstreams, **health_over):
        health = {"url": self.origin.url("/probe"), "interval_ms": 300, "timeout_ms": 3000,
                  "rise": RISE, "fall": FALL, "concurrency": 4,
                  "max_ejection_percent": 100, "latency_publish_interval_ms": 0}
        health.update(health_over)
        return self.fleet.start_controller({"controller": {
            "providers": [{"name": "static", "type": "static", "allow_private": True,
                           "upstreams": upstreams}],
            "health": health,
        }})

    def pool(self):
        return {k: json.loads(v) for k, v in self.redis.hgetall(self.k.pool_upstreams).items()}

    def health_all(self):
        return {k: json.loads(v) for k, v in self.redis.hgetall(self.health_key).items()}

    def id_of(self, prefix):
        """The one upstream id starting with <prefix> ("scheme://host:port"; a user
        adds "#<hash>"), once the controller has published it to the health hash."""
        def find():
            ids = [i for i in self.health_all() if i == prefix or i.startswith(prefix + "#")]
            return ids[0] if len(ids) == 1 else None
        return wait_until(find, 15, "a health entry for %s" % prefix)

    def wait_healthy(self, uid):
        h = wait_until(lambda: (lambda h: h if h and h.get("state") == "healthy" and
                                h.get("latency_ms", 0) > 0 else None)(self.health_all().get(uid)),
                       20, "%s healthy with latency_ms > 0" % uid)
        self.assertTrue(h["healthy"], h)
        p = wait_until(lambda: (lambda r: r if r and r.get("latency_ms", 0) > 0 else None)(
            self.pool().get(uid)), 15, "%s in the pool with latency_ms > 0" % uid)
        self.assertGreater(p["latency_ms"], 0)
        return h

    def wait_unhealthy(self, uid):
        h = wait_until(lambda: (lambda h: h if h and h.get("state") == "unhealthy" else None)(
            self.health_all().get(uid)), 20, "%s unhealthy" % uid)
        self.assertFalse(h["healthy"], h)
        self.assertGreaterEqual(h["failures"], FALL)
        self.assertNotEqual(h["reason"], "")
        wait_until(lambda: uid not in self.pool(), 15, "%s out of the published pool" % uid)
        return h

    def assert_no_password_logged(self, ctl):
        log = ctl.log_text()
        for s in (SOCKS_PASS, WRONG_PASS):
            self.assertNotIn(s, log)

    # -- socks5 / socks5h ----------------------------------------------------------

    def test_socks5_and_socks5h_with_credentials(self):
        good = self.microsocks()
        bad = self.microsocks()
        ups = ["socks5://%s:%s@127.0.0.1:%d" % (SOCKS_USER, SOCKS_PASS, good.port),
               "socks5h://%s:%s@127.0.0.1:%d" % (SOCKS_USER, SOCKS_PASS, good.port),
               "socks5h://%s:%s@127.0.0.1:%d" % (SOCKS_USER, WRONG_PASS, bad.port)]
        ctl = self.start_controller(ups)
        s5 = self.id_of("socks5://127.0.0.1:%d" % good.port)
        s5h = self.id_of("socks5h://127.0.0.1:%d" % good.port)
        bad_id = self.id_of("socks5h://127.0.0.1:%d" % bad.port)
        for uid in (s5, s5h):
            self.assertNotIn(SOCKS_PASS, uid)
            self.wait_healthy(uid)
        h = self.wait_unhealthy(bad_id)
        self.assertNotIn(WRONG_PASS, h["reason"])
        self.assertNotIn(WRONG_PASS, json.dumps(self.health_all()))
        self.assertNotIn(WRONG_PASS, json.dumps(self.pool()))
        self.assertEqual(set(self.pool()), {s5, s5h})
        self.assertTrue(any(r["path"] == "/probe" for r in self.origin.requests()),
                        "probes went through microsocks to the origin")
        m = ctl.metrics()
        self.assertEqual(m.get('pf_controller_health_upstreams{state="healthy"}'), 2)
        self.assertEqual(m.get('pf_controller_health_upstreams{state="unhealthy"}'), 1)
        # The bad one keeps being probed, the good ones stay in.
        failures = h["failures"]
        wait_until(lambda: self.health_all()[bad_id]["failures"] > failures, 10,
                   "the unhealthy upstream re-probed")
        self.assertEqual(set(self.pool()), {s5, s5h})
        self.assert_no_password_logged(ctl)

    # -- https (TLS to the proxy) ------------------------------------------------------

    def https_setup(self):
        node = self.fleet.direct_upstream_node()
        tls, cert = self.stunnel(node.port)
        plain = self.fleet.direct_upstream_node()
        return ["https://127.0.0.1:%d" % tls.port, "http://127.0.0.1:%d" % plain.port], cert

    def test_https_upstream_with_proxy_ca_file_is_healthy(self):
        ups, cert = self.https_setup()
        ctl = self.start_controller(ups, proxy_ca_file=cert)
        https_id, http_id = self.id_of(ups[0]), self.id_of(ups[1])
        self.wait_healthy(https_id)
        self.wait_healthy(http_id)
        self.assertEqual(set(self.pool()), {https_id, http_id})
        self.assertEqual(ctl.metric('pf_controller_health_upstreams{state="unhealthy"}'), 0)

    def test_https_upstream_without_ca_fails_verification(self):
        ups, _cert = self.https_setup()
        ctl = self.start_controller(ups)
        https_id, http_id = self.id_of(ups[0]), self.id_of(ups[1])
        self.wait_healthy(http_id)
        h = self.wait_unhealthy(https_id)
        self.assertRegex(h["reason"], re.compile(r"certificate|SSL", re.I))
        self.assertEqual(set(self.pool()), {http_id})
        self.assertGreaterEqual(
            ctl.metrics().get('pf_controller_health_probes_total{result="error"}', 0), FALL)

    def test_proxy_ca_file_that_does_not_match_fails(self):
        """A CA file that exists but did not sign the proxy's certificate: still
        verified, still unhealthy (the option adds trust, it never skips checks)."""
        ups, _cert = self.https_setup()
        other, _key = _self_signed_cert(self.fleet.tmp, "other-ca")
        self.start_controller(ups, proxy_ca_file=other)
        https_id = self.id_of(ups[0])
        h = self.wait_unhealthy(https_id)
        self.assertRegex(h["reason"], re.compile(r"certificate|SSL", re.I))


if __name__ == "__main__":
    unittest.main()
