"""Descriptor limits of a node (issue 11 item 4), with the real binary
under a low RLIMIT_NOFILE (soft = hard = 256, as `prlimit --nofile=256:256`
would set it) and the real origin:

  * at start the node warns once, with the number of clients it can serve,
    and caps max_clients to it (pf_node_max_clients; the limit is process_max_fds);
  * with every slot taken, idle clients beyond the cap get the fast 503
    (or a close when even the 503s are too many), while requests already
    admitted still get the descriptors for their upstream: all of them
    succeed and no accept() fails;
  * when the limit is lowered under a running node (prlimit on its pid),
    accept errors (EMFILE) are counted but logged at most once a second."""

import json
import os
import re
import resource
import socket
import threading
import time
import unittest

from pf_harness import TIMEOUT_SCALE, Fleet, curl, wait_until

LIMIT = 256


class NodeFdLimit(unittest.TestCase):
    def setUp(self):
        self.fleet = Fleet(self)
        self.origin = self.fleet.start_origin()
        self.socks = []
        self.addCleanup(self.close_all)

    def close_all(self):
        for s in self.socks:
            s.close()
        self.socks = []

    def node(self, **node):
        cfg = {"mode": "direct", "destination_allow": ["127.0.0.0/8"],
               "header_timeout_ms": 120000}
        cfg.update(node)
        return self.fleet.start_node({"node": cfg}, name="node", nofile=LIMIT)

    def stats(self, node):
        status, body, _ = node.admin("/stats")
        self.assertEqual(status, 200)
        return json.loads(body)

    def connect(self, node):
        s = socket.create_connection(("127.0.0.1", node.port), timeout=10 * TIMEOUT_SCALE)
        self.socks.append(s)
        return s

    def test_warns_caps_and_answers_beyond_the_cap(self):
        node = self.node()
        m = re.search(r"descriptors: RLIMIT_NOFILE (\d+) \(hard (\d+)\) is short of the (\d+) "
                      r"that node\.max_clients 4096 needs; serving at most (\d+) clients",
                      node.log_text())
        self.assertIsNotNone(m, "one clear warning at start")
        self.assertEqual(node.log_text().count("is short of the"), 1)
        limit, cap = int(m.group(1)), int(m.group(4))
        self.assertLessEqual(limit, LIMIT)
        self.assertGreater(cap, 10)
        self.assertLess(2 * cap, limit, "two descriptors per client fit in the limit")
        s = self.stats(node)
        self.assertEqual((s["max_clients"], s["process_max_fds"]), (cap, limit))
        self.assertEqual(node.metric("pf_node_max_clients"), cap)

        # every slot taken: cap - 10 idle clients and 10 that will send a request later
        idle = [self.connect(node) for _ in range(cap - 10)]
        real = [self.connect(node) for _ in range(10)]
        wait_until(lambda: self.stats(node)["conns_active"] == cap, 10, "every slot taken")

        # a flood of idle clients beyond the cap, more than the limit could
        # hold: each gets a 503 or is closed at once, none waits unaccepted
        answered = closed = 0
        for _ in range(LIMIT):
            s = self.connect(node)
            s.settimeout(5 * TIMEOUT_SCALE)
            try:
                data = s.recv(4096)
            except socket.timeout:
                self.fail("a client beyond the cap waited for an answer")
            except ConnectionResetError:
                data = b""
            if data.startswith(b"HTTP/1.1 503 "):
                answered += 1
            else:
                self.assertEqual(data, b"", "a 503 or a close")
                closed += 1
            s.close()
            self.socks.remove(s)
        self.assertGreater(answered, 0, "clients beyond the cap get the fast 503")

        # the admitted requests still get descriptors for their upstreams
        for i, s in enumerate(real):
            s.sendall(b"GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
                      % self.origin.url("/real%d" % i).encode())
        for s in real:
            s.settimeout(10 * TIMEOUT_SCALE)
            data = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
            self.assertTrue(data.startswith(b"HTTP/1.1 200 "), data[:200])
        s = self.stats(node)
        self.assertEqual(s["accept_errors_total"], 0, "no accept() ran out of descriptors")
        self.assertGreaterEqual(s["rejected_over_limit_total"], LIMIT)
        self.assertNotIn("accept on", node.log_text())

        # once idle clients leave, requests are served again
        for s in idle[:20]:
            s.close()
            self.socks.remove(s)
        wait_until(lambda: self.stats(node)["conns_active"] <= cap - 20, 10, "slots freed")
        r = curl("-x", node.proxy_url, self.origin.url("/after"))
        self.assertEqual(r.status, 200, r.stderr)

    def test_accept_errors_logged_once_a_second(self):
        node = self.node(max_clients=20)
        self.assertNotIn("is short of the", node.log_text(), "20 clients fit in 256")
        # the operator lowers the soft limit of the running node below what it holds
        nfds = len([f for f in os.listdir("/proc/%d/fd" % node.pid) if int(f) < LIMIT])
        resource.prlimit(node.pid, resource.RLIMIT_NOFILE, (nfds + 3, LIMIT))
        try:
            start = time.monotonic()
            clients = []
            while time.monotonic() - start < 3.0:
                clients.append(self.connect(node))
                time.sleep(0.05)
            elapsed = time.monotonic() - start
            lines = [l for l in node.log_text().splitlines() if "accept on " in l]
        finally:
            resource.prlimit(node.pid, resource.RLIMIT_NOFILE, (LIMIT, LIMIT))
        self.assertGreaterEqual(len(lines), 1, "the first accept error is logged")
        self.assertIn("Too many open files", lines[0])
        self.assertLessEqual(len(lines), int(elapsed) + 2, "at most one line a second: %s" % lines)
        self.close_all()
        wait_until(lambda: self.stats(node)["conns_active"] == 0, 10, "clients gone")
        errors = self.stats(node)["accept_errors_total"]
        self.assertGreater(errors, len(lines), "every error counted, not every one logged")
        if len(lines) > 1:
            self.assertRegex(lines[-1], r"\((\d+) more since the last line\)")
        # the connections the kernel queued while accept() failed are taken
        # now, in a burst beyond max_clients (answered 503): the node serves
        # again once that burst is through
        wait_until(lambda: curl("-x", node.proxy_url, self.origin.url("/after")).status == 200,
                   10 * TIMEOUT_SCALE, "the node serves again once descriptors are back")


if __name__ == "__main__":
    unittest.main()
