"""`cmake --install` ships a usable package: the two binaries, systemd units
that systemd-analyze accepts (with the installed man pages found), a
sysusers.d entry, man pages that groff renders without a warning, example
configs that pass --check-config, and the docs. The build tree is the one
ctest runs from (the directory of PF_NODE_BIN)."""

import json
import os
import re
import shutil
import subprocess
import tempfile
import unittest

import yaml

from pf_harness import SOURCE_DIR, HarnessError

UNITS = ("proxyfleet-node", "proxyfleet-controller")


def _need(tool):
    path = shutil.which(tool)
    if path is None:
        raise HarnessError("%s is not installed (scripts/test.sh installs it)" % tool)
    return path


class Install(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        node_bin = os.environ.get("PF_NODE_BIN")
        if not node_bin:
            raise HarnessError("PF_NODE_BIN is not set: run through ctest")
        cls.build = os.path.dirname(os.path.abspath(node_bin))
        cls.tmp = tempfile.mkdtemp(prefix="pf-install-")
        cls.dest = os.path.join(cls.tmp, "root")
        env = dict(os.environ, DESTDIR=cls.dest)
        p = subprocess.run(["cmake", "--install", cls.build], env=env,
                           capture_output=True, text=True, timeout=120)
        if p.returncode != 0:
            raise AssertionError("cmake --install failed:\n" + p.stdout + p.stderr)
        cls.manifest = p.stdout
        with open(os.path.join(cls.build, "CMakeCache.txt")) as f:
            cache = f.read()
        m = re.search(r"^CMAKE_INSTALL_PREFIX:PATH=(.*)$", cache, re.M)
        cls.prefix = m.group(1)
        cls.root = cls.dest + cls.prefix

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def path(self, *parts):
        return os.path.join(self.root, *parts)

    def test_files_are_installed(self):
        for rel in ("bin/proxyfleet-node", "bin/proxyfleet-controller", "bin/proxyfleet-ctl",
                    "share/man/man1/proxyfleet-ctl.1",
                    "lib/systemd/system/proxyfleet-node.service",
                    "lib/systemd/system/proxyfleet-controller.service",
                    "lib/sysusers.d/proxyfleet.conf",
                    "share/man/man8/proxyfleet-node.8",
                    "share/man/man8/proxyfleet-controller.8",
                    "share/doc/proxyfleet/examples/node.json",
                    "share/doc/proxyfleet/examples/controller.json",
                    "share/doc/proxyfleet/README.md",
                    "share/doc/proxyfleet/configuration.md",
                    "share/doc/proxyfleet/monitoring.md",
                    "share/doc/proxyfleet/prometheus/alerts.yml",
                    "share/doc/proxyfleet/grafana/proxyfleet.json"):
            self.assertTrue(os.path.isfile(self.path(rel)), "not installed: " + rel)
        for rel in ("bin/proxyfleet-node", "bin/proxyfleet-controller", "bin/proxyfleet-ctl"):
            self.assertTrue(os.access(self.path(rel), os.X_OK), rel + " not executable")
        with open(self.path("lib/sysusers.d/proxyfleet.conf")) as f:
            self.assertRegex(f.read(), r"^u proxyfleet ", "sysusers entry creates the user")

    def unit_text(self, unit):
        with open(self.path("lib/systemd/system", unit + ".service")) as f:
            return f.read()

    def test_units_are_hardened_and_reloadable(self):
        for unit in UNITS:
            text = self.unit_text(unit)
            directives = dict(re.findall(r"^(\w+)=(.*)$", text, re.M))
            self.assertEqual(directives.get("ExecStart"),
                             "%s/bin/%s --config %s/proxyfleet/%s.json" % (
                                 self.prefix, unit, self._sysconfdir(), unit.split("-")[1]))
            # both reload on SIGHUP (the node its users, limits, log; the controller its providers)
            self.assertEqual(directives.get("ExecReload"), "/bin/kill -HUP $MAINPID", unit)
            self.assertEqual(directives.get("Restart"), "on-failure")
            # both speak sd_notify(3) from the main process (test_service_notify.py)
            self.assertEqual(directives.get("Type"), "notify", unit)
            self.assertEqual(directives.get("NotifyAccess"), "main", unit)
            self.assertRegex(directives.get("LimitNOFILE", ""), r"^\d+$")
            for key, want in (("NoNewPrivileges", "yes"), ("ProtectSystem", "strict"),
                              ("ProtectHome", "yes"), ("PrivateTmp", "yes"),
                              ("User", "proxyfleet")):
                self.assertEqual(directives.get(key), want, "%s: %s" % (unit, key))

    def _sysconfdir(self):
        with open(os.path.join(self.build, "CMakeCache.txt")) as f:
            cache = f.read()
        m = re.search(r"^CMAKE_INSTALL_SYSCONFDIR:PATH=(.*)$", cache, re.M)
        rel = m.group(1) if m else "etc"
        if os.path.isabs(rel):
            return rel
        # GNUInstallDirs: prefix /usr puts the sysconfdir at /etc
        return "/etc" if self.prefix == "/usr" else os.path.join(self.prefix, rel)

    def test_systemd_analyze_verify(self):
        tool = _need("systemd-analyze")
        # The units name the binaries at their final path: point them at
        # the staged copies so verify checks that they exist and run.
        staged = os.path.join(self.tmp, "units")
        os.makedirs(staged, exist_ok=True)
        paths = []
        for unit in UNITS:
            text = self.unit_text(unit).replace(self.prefix + "/bin/", self.root + "/bin/")
            p = os.path.join(staged, unit + ".service")
            with open(p, "w") as f:
                f.write(text)
            paths.append(p)
        env = dict(os.environ, MANPATH=self.path("share/man"))
        p = subprocess.run([tool, "verify"] + paths, env=env, capture_output=True,
                           text=True, timeout=60)
        self.assertEqual(p.returncode, 0, "systemd-analyze verify:\n" + p.stdout + p.stderr)
        # and it does check: without the man pages it complains
        env["MANPATH"] = os.path.join(self.tmp, "no-man-here")
        p = subprocess.run([tool, "verify"] + paths, env=env, capture_output=True,
                           text=True, timeout=60)
        self.assertNotEqual(p.returncode, 0, "verify did not look for the man pages")

    def test_man_pages_render_cleanly(self):
        groff = _need("groff")
        for unit in UNITS:
            page = self.path("share/man/man8", unit + ".8")
            p = subprocess.run([groff, "-man", "-ww", "-Tutf8", page], capture_output=True,
                               text=True, timeout=30)
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertEqual(p.stderr.strip(), "", "groff warnings for %s" % unit)
            text = re.sub(".\b", "", p.stdout).replace("\u2010", "-")   # no overstrike
            for want in ("--config", "--check-config", "--version", "--help", "SIGTERM", "SIGHUP",
                         "NOTIFY_SOCKET", "EXIT STATUS"):
                self.assertIn(want, text, "%s lacks %s" % (unit, want))
            with open(page) as f:
                self.assertNotIn("@PF_", f.read(), "unconfigured placeholder")

    def test_ctl_man_page_renders_cleanly(self):
        groff = _need("groff")
        page = self.path("share/man/man1/proxyfleet-ctl.1")
        p = subprocess.run([groff, "-man", "-ww", "-Tutf8", page], capture_output=True,
                           text=True, timeout=30)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stderr.strip(), "", "groff warnings for proxyfleet-ctl")
        text = re.sub(".\b", "", p.stdout).replace("\u2010", "-")
        for want in ("--config", "--json", "--check", "status", "upstreams", "EXIT STATUS",
                     "Sentinel"):
            self.assertIn(want, text, "proxyfleet-ctl.1 lacks %s" % want)
        with open(page) as f:
            self.assertNotIn("@PF_", f.read(), "unconfigured placeholder")
        # the installed binary runs
        p = subprocess.run([self.path("bin/proxyfleet-ctl"), "--version"], capture_output=True,
                           text=True, timeout=30)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertTrue(p.stdout.startswith("proxyfleet-ctl "))

    def test_examples_pass_check_config(self):
        key = os.path.join(self.tmp, "credential.key")
        with open(key, "w") as f:
            f.write(os.urandom(32).hex() + "\n")
        for kind in ("node", "controller"):
            src = self.path("share/doc/proxyfleet/examples", kind + ".json")
            with open(src) as f:
                text = f.read()
            self.assertNotRegex(text, r":(9090|9100)\b",
                                "examples stay off Prometheus' and node_exporter's ports")
            text = text.replace("/etc/proxyfleet/credential.key", key)
            text = text.replace("/var/lib/proxyfleet/", self.tmp + "/")
            # the secrets the examples read from files ({"file": PATH})
            secrets = os.path.join(self.tmp, "secrets")
            os.makedirs(secrets, mode=0o700, exist_ok=True)
            for name, value in (("scraper.pass", "change-me-scraper-password"),
                                ("example-api.url",
                                 "https://provider.example/api/getips?num=50&key=CHANGE-ME")):
                with open(os.path.join(secrets, name), "w") as f:
                    f.write(value + "\n")
                os.chmod(os.path.join(secrets, name), 0o600)
            text = text.replace("/etc/proxyfleet/secrets/", secrets + "/")
            conf = os.path.join(self.tmp, kind + ".json")
            with open(conf, "w") as f:
                f.write(text)
            binary = self.path("bin", "proxyfleet-" + kind)
            p = subprocess.run([binary, "--config", conf, "--check-config"],
                               capture_output=True, text=True, timeout=60)
            self.assertEqual(p.returncode, 0, "%s example: %s" % (kind, p.stderr))

    def test_no_default_admin_port_on_prometheus_ports(self):
        # Prometheus itself (compose.yaml's "monitoring" profile) is the one
        # user of 9090: its service, and the docs' paragraphs about it, are
        # left out; everything else stays off 9090 and 9100.
        with open(os.path.join(SOURCE_DIR, "compose.yaml")) as f:
            compose = yaml.safe_load(f)
        prom = compose["services"].pop("prometheus", None)
        if prom is not None:
            self.assertEqual(prom.get("profiles"), ["monitoring"])
        self.assertNotRegex(json.dumps(compose), r"\b(9090|9100)\b", "compose.yaml")
        for rel in ("docker/config/node.json", "docker/config/controller.json",
                    "docker/config/upstream.json", "docs/configuration.md", "docs/docker.md"):
            with open(os.path.join(SOURCE_DIR, rel)) as f:
                text = "\n\n".join(para for para in re.split(r"\n\s*\n", f.read())
                                   if "prometheus" not in para.lower())
            self.assertNotRegex(text, r"\b(9090|9100)\b", rel)


if __name__ == "__main__":
    unittest.main()
