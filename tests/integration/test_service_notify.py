"""systemd's readiness protocol (Type=notify, issue 11 item 10) spoken by
both real binaries to a real AF_UNIX datagram socket named by
NOTIFY_SOCKET, as systemd would bind it:

  * READY=1 once the loop runs: by then the proxy port (node) or the admin
    port (controller) accepts connections;
  * RELOADING=1 (with MONOTONIC_USEC) then READY=1 around a SIGHUP reload,
    a refused one included;
  * STOPPING=1 on SIGTERM, then a clean exit;
  * an abstract socket ("@name") works too; without NOTIFY_SOCKET nothing
    is sent and nothing is logged about it;
  * the controller honours log.format json too."""

import json
import os
import signal
import socket
import time
import unittest

from pf_harness import TIMEOUT_SCALE, Fleet, port_open


class Manager:
    """The service manager's end: a bound datagram socket."""

    def __init__(self, path):
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind("\0" + path[1:] if path.startswith("@") else path)

    def recv(self, timeout=10.0):
        self.sock.settimeout(timeout * TIMEOUT_SCALE)
        try:
            return self.sock.recv(4096).decode()
        except socket.timeout:
            raise AssertionError("no notification from the service within %.0fs" % timeout)

    def nothing(self, wait=0.5):
        self.sock.settimeout(wait)
        try:
            got = self.sock.recv(4096).decode()
        except socket.timeout:
            return True
        raise AssertionError("unexpected notification %r" % got)

    def close(self):
        self.sock.close()


class ServiceNotify(unittest.TestCase):
    def setUp(self):
        self.fleet = Fleet(self)
        self.redis = self.fleet.start_redis()

    def manager(self, name="notify.sock", abstract=False):
        path = ("@pf-test-%d-%s" % (os.getpid(), name)) if abstract else \
            os.path.join(self.fleet.tmp, name)
        m = Manager(path)
        self.addCleanup(m.close)
        return m

    def check_lifecycle(self, binary, port, m):
        ready = m.recv()
        self.assertEqual(ready, "READY=1")
        self.assertTrue(port_open(port), "READY=1 before the port accepts")
        binary.signal(signal.SIGHUP)
        reloading = m.recv()
        lines = reloading.split("\n")
        self.assertEqual(lines[0], "RELOADING=1")
        self.assertRegex(lines[1], r"^MONOTONIC_USEC=\d+$")
        usec = int(lines[1].split("=")[1])
        self.assertLess(abs(usec - time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000),
                        60 * 10**6 * TIMEOUT_SCALE, "CLOCK_MONOTONIC microseconds")
        self.assertEqual(m.recv(), "READY=1", "READY=1 after the reload")
        # a refused reload (bad file) is a reload too
        with open(binary.config_path) as f:
            good = f.read()
        with open(binary.config_path, "w") as f:
            f.write("{ not json")
        binary.signal(signal.SIGHUP)
        self.assertTrue(m.recv().startswith("RELOADING=1\n"))
        self.assertEqual(m.recv(), "READY=1")
        with open(binary.config_path, "w") as f:
            f.write(good)
        binary.signal(signal.SIGTERM)
        self.assertEqual(m.recv(), "STOPPING=1")
        self.assertEqual(binary.wait(15), 0)
        m.nothing()

    def test_node(self):
        m = self.manager()
        node = self.fleet.start_node({"node": {"mode": "direct"}}, name="node",
                                     env={"NOTIFY_SOCKET": m.path})
        self.check_lifecycle(node, node.port, m)
        self.assertNotIn("service manager", node.log_text())

    def test_controller(self):
        m = self.manager()
        ctl = self.fleet.start_controller({"log": {"format": "json"}}, name="ctl",
                                          env={"NOTIFY_SOCKET": m.path})
        self.check_lifecycle(ctl, ctl.admin_port, m)
        self.assertNotIn("service manager", ctl.log_text())
        # log.format json: every line of the controller is one JSON object
        lines = ctl.log_text().splitlines()
        self.assertGreater(len(lines), 3)
        for line in lines:
            entry = json.loads(line)
            self.assertEqual(entry["program"], "controller")
            self.assertIn(entry["level"], ("error", "warn", "info", "debug"))
        self.assertTrue(any("keeping the old config" in json.loads(l)["message"] for l in lines),
                        "the refused reload said why")

    def test_abstract_socket_and_none(self):
        m = self.manager("abstract", abstract=True)
        node = self.fleet.start_node({"node": {"mode": "direct"}}, name="node",
                                     env={"NOTIFY_SOCKET": m.path})
        self.assertEqual(m.recv(), "READY=1")
        self.assertTrue(port_open(node.port))
        # without the variable: nothing sent, nothing said
        quiet = self.fleet.start_node({"node": {"mode": "direct"}}, name="quiet")
        quiet.signal(signal.SIGHUP)
        time.sleep(0.3)
        self.assertEqual(quiet.stop(), 0)
        self.assertNotIn("service manager", quiet.log_text())
        m.nothing()

    def test_unreachable_socket_is_logged_once(self):
        path = os.path.join(self.fleet.tmp, "nobody-listens.sock")
        node = self.fleet.start_node({"node": {"mode": "direct"}}, name="node",
                                     env={"NOTIFY_SOCKET": path})
        node.signal(signal.SIGHUP)
        time.sleep(0.5)
        self.assertEqual(node.stop(), 0)
        self.assertEqual(node.log_text().count("telling the service manager failed"), 1)


if __name__ == "__main__":
    unittest.main()
