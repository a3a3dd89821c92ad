"""Self-test of tests/chaos_proxy.py: each mode does what the fault tests
rely on, against a plain echo server. No proxyfleet binary involved."""

import json
import socket
import subprocess
import sys
import threading
import time
import unittest

import fault_util  # noqa: F401  (puts tests/ on sys.path)
from chaos_proxy import ChaosProxy
from pf_harness import free_port, wait_until


class Echo:
    def __init__(self):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.1)
        self.port = self.sock.getsockname()[1]
        self.stop = threading.Event()
        self.t = threading.Thread(target=self.run, daemon=True)
        self.t.start()

    def run(self):
        while not self.stop.is_set():
            try:
                c, _ = self.sock.accept()
            except OSError:
                continue
            threading.Thread(target=self.serve, args=(c,), daemon=True).start()

    def serve(self, c):
        c.settimeout(5)
        try:
            for _ in range(10000):
                d = c.recv(65536)
                if not d:
                    break
                c.sendall(d)
        except OSError:
            pass
        c.close()

    def close(self):
        self.stop.set()
        self.t.join(2)
        self.sock.close()


def roundtrip(port, data=b"ping", timeout=2.0):
    """Sends <data>, returns (reply bytes, elapsed); b"" on close/timeout."""
    t0 = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(data)
        got = b""
        try:
            while len(got) < len(data):
                d = s.recv(65536)
                if not d:
                    break
                got += d
        except (socket.timeout, ConnectionResetError):
            pass                  # a drop with unread data is a reset: closed
    return got, time.monotonic() - t0


class TestChaosProxy(unittest.TestCase):
    def setUp(self):
        self.echo = Echo()
        self.addCleanup(self.echo.close)
        self.cp = ChaosProxy(("127.0.0.1", self.echo.port)).start()
        self.addCleanup(self.cp.close)

    def test_modes(self):
        cp = self.cp
        self.assertEqual(roundtrip(cp.port)[0], b"ping")

        cp.set_mode("delay", delay_ms=300)
        got, el = roundtrip(cp.port)
        self.assertEqual(got, b"ping")
        self.assertGreaterEqual(el, 0.55)          # delayed both ways

        cp.set_mode("drop")
        got, el = roundtrip(cp.port)
        self.assertEqual(got, b"")
        self.assertLess(el, 1.0)                   # closed at once, not timed out

        cp.set_mode("blackhole")
        got, el = roundtrip(cp.port, timeout=0.5)
        self.assertEqual(got, b"")
        self.assertGreaterEqual(el, 0.45)          # accepted, never answered
        self.assertGreater(cp.stats()["blackholed"], 0)

        cp.set_mode("slow", slow_bps=4)
        got, el = roundtrip(cp.port, b"abcdefgh", timeout=6)
        self.assertEqual(got, b"abcdefgh")
        self.assertGreaterEqual(el, 1.5)

        cp.set_mode("pass")
        self.assertEqual(roundtrip(cp.port)[0], b"ping")

    def test_blackhole_freezes_existing_and_cut_closes(self):
        cp = self.cp
        s = socket.create_connection(("127.0.0.1", cp.port), timeout=2)
        self.addCleanup(s.close)
        s.sendall(b"one")
        self.assertEqual(s.recv(16), b"one")
        cp.set_mode("blackhole")
        s.sendall(b"two")
        s.settimeout(0.4)
        with self.assertRaises(socket.timeout):
            s.recv(16)
        cp.set_mode("pass")                         # heal: held bytes flow again
        s.settimeout(2)
        self.assertEqual(s.recv(16), b"two")
        self.assertEqual(cp.active(), 1)
        t0 = time.monotonic()
        self.assertEqual(cp.cut(), 1)
        self.assertEqual(s.recv(16), b"")           # EOF, promptly
        self.assertLess(time.monotonic() - t0, 2.0)
        wait_until(lambda: cp.active() == 0, 2, "connection forgotten")

    def test_stop_refuses_and_start_relistens_same_port(self):
        cp = self.cp
        port = cp.port
        s = socket.create_connection(("127.0.0.1", port), timeout=2)
        self.addCleanup(s.close)
        cp.stop()
        self.assertFalse(cp.is_listening())
        s.settimeout(2)
        try:                                        # existing connection closed
            self.assertEqual(s.recv(16), b"")       # (EOF, or RST when closed
        except ConnectionResetError:                #  still in the accept queue)
            pass
        with self.assertRaises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
        cp.start()
        self.assertEqual(cp.port, port)
        self.assertEqual(roundtrip(port)[0], b"ping")

    def test_control_port(self):
        lport, cport = free_port(), free_port()
        p = subprocess.Popen([sys.executable, fault_util.os.path.join(fault_util.TESTS,
                                                                      "chaos_proxy.py"),
                              "--listen", "127.0.0.1:%d" % lport,
                              "--target", "127.0.0.1:%d" % self.echo.port,
                              "--control", "127.0.0.1:%d" % cport],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.addCleanup(lambda: (p.poll() is None and p.kill(), p.wait(5)))

        def ctl(obj):
            with socket.create_connection(("127.0.0.1", cport), timeout=2) as s:
                s.sendall((json.dumps(obj) + "\n").encode())
                with s.makefile("rb") as f:
                    return json.loads(f.readline())
        wait_until(lambda: ctl({"cmd": "stats"})["ok"], 5, "control port")
        self.assertEqual(roundtrip(lport)[0], b"ping")
        self.assertTrue(ctl({"cmd": "mode", "mode": "drop"})["ok"])
        self.assertEqual(roundtrip(lport)[0], b"")
        self.assertFalse(ctl({"cmd": "mode", "mode": "nonsense"})["ok"])
        self.assertEqual(ctl({"cmd": "stop"})["stats"]["listening"], False)
        self.assertTrue(ctl({"cmd": "quit"})["ok"])
        self.assertEqual(p.wait(5), 0)


if __name__ == "__main__":
    unittest.main()
