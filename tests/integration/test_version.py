"""--version and --help on both binaries: the CMake project version and the
git commit of the source tree, on stdout, exit 0; a bad command line gets
the usage on stderr and exit 2."""

import os
import re
import subprocess
import unittest

from pf_harness import SOURCE_DIR, HarnessError

BINARIES = (("proxyfleet-node", "PF_NODE_BIN"), ("proxyfleet-controller", "PF_CONTROLLER_BIN"))


def project_version():
    with open(os.path.join(SOURCE_DIR, "CMakeLists.txt")) as f:
        m = re.search(r"project\(proxyfleet VERSION ([0-9.]+)", f.read())
    return m.group(1)


def source_commit():
    """The commit the build saw: HEAD, or "" when the tree has no git."""
    try:
        p = subprocess.run(["git", "-C", SOURCE_DIR, "rev-parse", "--short=12", "HEAD"],
                           capture_output=True, text=True, timeout=30)
    except FileNotFoundError:
        return ""
    return p.stdout.strip() if p.returncode == 0 else ""


def run(binary, *args):
    return subprocess.run([binary] + list(args), capture_output=True, text=True, timeout=60,
                          stdin=subprocess.DEVNULL)


class Version(unittest.TestCase):
    def binaries(self):
        for name, var in BINARIES:
            path = os.environ.get(var)
            if not path:
                raise HarnessError("%s is not set: run through ctest" % var)
            yield name, path

    def test_version_names_project_version_and_commit(self):
        want_commit = source_commit()
        for name, path in self.binaries():
            p = run(path, "--version")
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertEqual(p.stderr, "")
            m = re.fullmatch(r"(\S+) (\S+)(?: \(commit ([0-9a-f]+)(-dirty)?\))?\n", p.stdout)
            self.assertIsNotNone(m, "unexpected --version output: %r" % p.stdout)
            self.assertEqual(m.group(1), name)
            self.assertEqual(m.group(2), project_version())
            if want_commit:
                # A fresh clone's build names HEAD. A developer who commits
                # after building runs a binary of an earlier commit: it must
                # still be a real commit of this tree's history.
                self.assertIsNotNone(m.group(3), "commit unknown in a git tree")
                if m.group(3) != want_commit:
                    p = subprocess.run(["git", "-C", SOURCE_DIR, "merge-base", "--is-ancestor",
                                        m.group(3), "HEAD"], capture_output=True, timeout=30)
                    self.assertEqual(p.returncode, 0, "built from %s, which is not in the history "
                                     "of HEAD %s" % (m.group(3), want_commit))

    def test_help_on_stdout_exit_0(self):
        for name, path in self.binaries():
            for arg in ("--help", "-h"):
                p = run(path, arg)
                self.assertEqual(p.returncode, 0, p.stderr)
                self.assertIn("usage: %s --config FILE" % name, p.stdout)
                self.assertIn("--version", p.stdout)
                self.assertEqual(p.stderr, "")

    def test_bad_command_line_exit_2_usage_on_stderr(self):
        for name, path in self.binaries():
            for args in ((), ("--bogus",), ("--config",), ("--check-config",)):
                p = run(path, *args)
                self.assertEqual(p.returncode, 2, "%s %s" % (name, args))
                self.assertIn("usage: %s" % name, p.stderr)
                self.assertEqual(p.stdout, "")


if __name__ == "__main__":
    unittest.main()
