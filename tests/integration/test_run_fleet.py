"""The README's run command is covered: `scripts/run-fleet.sh --check` starts
the local fleet with the built binaries (PF_NODE_BIN/PF_CONTROLLER_BIN/PF_CTL_BIN,
so no rebuild), curls through both nodes, verifies the Redis keys and stops."""

import os
import subprocess
import sys
import tempfile
import unittest

from pf_harness import SOURCE_DIR, HarnessError, SANITIZER_PATTERNS


class RunFleet(unittest.TestCase):
    def test_check_mode(self):
        for var in ("PF_NODE_BIN", "PF_CONTROLLER_BIN", "PF_CTL_BIN"):
            if not os.environ.get(var):
                raise HarnessError("%s is not set: run through ctest" % var)
        script = os.path.join(SOURCE_DIR, "scripts", "run-fleet.sh")
        with tempfile.TemporaryDirectory(prefix="pf-run-fleet-") as run_dir:
            try:
                p = subprocess.run(["bash", script, "--check", "--run-dir", run_dir],
                                   capture_output=True, timeout=180,
                                   stdin=subprocess.DEVNULL)
            except subprocess.TimeoutExpired as e:
                out = (e.stdout or b"").decode(errors="replace")
                self.fail("run-fleet.sh --check did not finish within 180s:\n" + out[-4000:])
            out = p.stdout.decode(errors="replace") + p.stderr.decode(errors="replace")
            sys.stderr.write(out[-6000:] if p.returncode else "")
            self.assertEqual(p.returncode, 0, "run-fleet.sh --check failed:\n" + out[-6000:])
            self.assertIn("check passed", out)
            self.assertRegex(out, r"curl -x http://127\.0\.0\.1:\d+ http://127\.0\.0\.1:\d+/")
            self.assertRegex(out, r"status page http://127\.0\.0\.1:\d+/\n")
            self.assertRegex(out, r"\n  \S*proxyfleet-ctl --config \S+/controller\.json status\n")
            self.assertIn("ok: proxyfleet-ctl status --check passes", out)
            self.assertIn("ok: the status page is served", out)
            self.assertRegex(out, r"redis-cli -p \d+ HGETALL '\{pf\}:v1:pool:meta'")
            for name in os.listdir(run_dir):
                if name.endswith(".log"):
                    with open(os.path.join(run_dir, name), errors="replace") as f:
                        text = f.read()
                    for pat in SANITIZER_PATTERNS:
                        self.assertNotIn(pat, text, "sanitizer report in %s" % name)


if __name__ == "__main__":
    unittest.main()
