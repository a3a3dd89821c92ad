"""tests/secret_scan.py, the global secret check run over a full test
run's logs: its self-test (every collection rule, a planted secret found
as file:line and never printed, clean logs pass, a secret stored
LZF-compressed in a real Redis dump found), and the command line against
the real test sources with a secret they configure planted in a temp log."""

import os
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
TESTS = os.path.dirname(HERE)
SCAN = os.path.join(TESTS, "secret_scan.py")
sys.path.insert(0, TESTS)

import secret_scan  # noqa: E402


def run(*args, timeout=120):
    return subprocess.run([sys.executable, SCAN] + list(args), capture_output=True,
                          text=True, timeout=timeout)


class TestSecretScan(unittest.TestCase):
    def test_self_test(self):
        p = run("--self-test")
        sys.stdout.write(p.stdout)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn("self-test: PASSED", p.stdout)
        self.assertNotIn("FAIL", p.stdout)

    def test_cli_finds_a_real_configured_secret(self):
        found = secret_scan.collect([TESTS, os.path.join(os.path.dirname(TESTS), "docker")]).found
        self.assertGreaterEqual(len(found), 5, "the rule collects the tests' secrets")
        secret, origin = sorted(found.items(), key=lambda x: x[1])[0]
        with tempfile.TemporaryDirectory(prefix="pf-secret-scan-cli-") as d:
            sub = os.path.join(d, "pf-test_something-x1")
            os.makedirs(sub)
            with open(os.path.join(sub, "node.log"), "w") as f:
                f.write("a\nb\nc\nd: %s\n" % secret)
            with open(os.path.join(sub, "redis.log"), "w") as f:
                f.write("clean\n")
            p = run(d)
            self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
            self.assertIn("%s:4: secret " % os.path.join(sub, "node.log"), p.stdout)
            self.assertIn("(from %s)" % origin, p.stdout)
            self.assertNotIn(secret, p.stdout + p.stderr, "the scanner printed the secret")
            self.assertNotIn("redis.log", p.stdout)
            os.remove(os.path.join(sub, "node.log"))
            p = run(d)
            self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
            self.assertEqual(run(os.path.join(d, "missing")).returncode, 2)


if __name__ == "__main__":
    unittest.main()
