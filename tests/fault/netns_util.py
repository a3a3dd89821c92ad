"""Network-namespace helpers of the kernel-level fault tests
(tests/fault/test_netns_faults.py).

A test creates one NetNs: a namespace "pfns-<pid>-<n>" joined to the host
by a veth pair "pfh<pid><n>" (host side) / "pfn<pid><n>" (namespace side)
carrying a private /30 out of 10.250.0.0/16, picked per test run and never
one that is already routed on the host. Inside it a test runs processes
(`ip netns exec`), and adds iptables or nft rules (DROP, REJECT with a TCP
reset) that only that namespace sees; the host's own firewall is never
touched.

    ns = NetNs.create()
    try:
        redis = NsRedis.start(fleet, ns)          # redis-server inside
        rule = ns.fw.add("drop", "input", dport=redis.port)
        ...
        ns.fw.remove(rule)
    finally:
        ns.destroy()      # stops the processes inside, deletes rules, ns, veth

Requirements, checked by require_tools() and reported as a test FAILURE
(never a skip): root, `ip` (iproute2), and `iptables` (Debian package
iptables) or `nft` (package nftables). PF_NETNS_FW=iptables|nft picks the
backend when both are installed (default: iptables).

Python 3.11 has no os.setns, so sockets inside the namespace (a Redis
command on the namespace's loopback, a listener) are opened by a short-lived
thread that calls setns(2) through ctypes: setns(CLONE_NEWNET) changes only
the calling thread, and a socket keeps the namespace it was created in."""

import contextlib
import ctypes
import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time

from pf_harness import HarnessError, PfBinary, Redis, _resp_read, port_open, wait_until

CLONE_NEWNET = 0x40000000
NETNS_DIR = "/var/run/netns"
NS_PREFIX = "pfns-"
SUBNET_BASE = (10, 250)           # /30s out of 10.250.0.0/16
CMD_TIMEOUT_S = 15

_counter = [0]
_counter_lock = threading.Lock()
_libc = ctypes.CDLL("libc.so.6", use_errno=True)


class NetnsError(HarnessError):
    """A namespace or firewall operation failed (a test failure)."""


def _run(argv, check=True, timeout=CMD_TIMEOUT_S):
    """Runs <argv>; returns CompletedProcess (text). With <check>, a non-zero
    exit raises NetnsError quoting the command and its stderr."""
    try:
        p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                           stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise NetnsError("%s did not return within %ss" % (" ".join(argv), timeout))
    if check and p.returncode != 0:
        raise NetnsError("%s failed (exit %d): %s" % (" ".join(argv), p.returncode,
                                                       (p.stderr or p.stdout).strip()))
    return p


def require_tools():
    """Checks everything the namespace tests need and returns the firewall
    backend to use ("iptables" or "nft"). Raises NetnsError with a clear,
    actionable message otherwise (the calling test fails; it never skips)."""
    if os.geteuid() != 0:
        raise NetnsError("the netns fault tests must run as root (ip netns, iptables/nft)")
    if not shutil.which("ip"):
        raise NetnsError("`ip` is not installed: the netns fault tests need the Debian "
                         "package iproute2")
    have = [t for t in ("iptables", "nft") if shutil.which(t)]
    if not have:
        raise NetnsError("neither `iptables` nor `nft` is installed: the netns fault tests "
                         "need the Debian package iptables (or nftables); add it to the "
                         "packages scripts/test.sh installs")
    want = os.environ.get("PF_NETNS_FW", "").strip()
    if want:
        if want not in ("iptables", "nft"):
            raise NetnsError("PF_NETNS_FW=%r: must be iptables or nft" % want)
        if want not in have:
            raise NetnsError("PF_NETNS_FW=%s but `%s` is not installed" % (want, want))
        return want
    return have[0]


def installed_backends():
    return [t for t in ("iptables", "nft") if shutil.which(t)]


# --------------------------------------------------------------------------
# running code inside a namespace

def in_netns(ns_name, fn, timeout=10.0):
    """Calls <fn>() on a fresh thread that first joins network namespace
    <ns_name>; returns its result or re-raises its exception. Sockets it
    creates stay in that namespace when used from any thread."""
    box = {}

    def run():
        try:
            fd = os.open(os.path.join(NETNS_DIR, ns_name), os.O_RDONLY | os.O_CLOEXEC)
            try:
                if _libc.setns(fd, CLONE_NEWNET) != 0:
                    e = ctypes.get_errno()
                    raise OSError(e, "setns(%s): %s" % (ns_name, os.strerror(e)))
            finally:
                os.close(fd)
            box["result"] = fn()
        except BaseException as e:          # handed to the caller
            box["error"] = e

    t = threading.Thread(target=run, daemon=True, name="netns-" + ns_name)
    t.start()
    t.join(timeout)
    if t.is_alive():
        raise NetnsError("in_netns(%s): still running after %ss" % (ns_name, timeout))
    if "error" in box:
        raise box["error"]
    return box.get("result")


def ns_redis_command(ns_name, port, *args, timeout=5.0):
    """One Redis command on 127.0.0.1:<port> inside the namespace (its
    loopback: never affected by rules on the veth). Returns the parsed
    reply like pf_harness.redis_command."""
    parts = [b"*%d\r\n" % len(args)]
    for a in args:
        b = a if isinstance(a, bytes) else str(a).encode()
        parts.append(b"$%d\r\n%s\r\n" % (len(b), b))
    s = in_netns(ns_name, lambda: socket.create_connection(("127.0.0.1", port),
                                                           timeout=timeout), timeout + 2)
    with s:
        s.sendall(b"".join(parts))
        with s.makefile("rb") as f:
            return _resp_read(f)


# --------------------------------------------------------------------------
# firewall inside the namespace

class Firewall:
    """DROP / REJECT (tcp reset) rules in one namespace, with the iptables
    or the nft command line. add() returns a rule handle for remove();
    packets(rule) is the rule's packet counter (proof it matched)."""

    NFT_TABLE = "pffault"

    def __init__(self, ns, backend):
        self.ns = ns
        self.backend = backend
        self.rules = []
        self._nft_ready = False

    def _exec(self, argv, check=True):
        return _run(["ip", "netns", "exec", self.ns.name] + argv, check=check)

    def _nft_setup(self):
        if self._nft_ready:
            return
        t = self.NFT_TABLE
        self._exec(["nft", "add", "table", "inet", t])
        for chain, hook in (("input", "input"), ("output", "output")):
            self._exec(["nft", "add chain inet %s %s { type filter hook %s priority 0 ; "
                        "policy accept ; }" % (t, chain, hook)])
        self._nft_ready = True

    def add(self, action, chain, dport=None, sport=None):
        """Adds a rule to <chain> ("input" or "output") of the namespace for
        TCP on its veth (loopback inside the namespace stays open) matching
        <dport> and/or <sport>; <action> is "drop" or "reject" (TCP reset).
        Returns the rule handle."""
        if action not in ("drop", "reject") or chain not in ("input", "output"):
            raise NetnsError("Firewall.add(%r, %r)" % (action, chain))
        dev = self.ns.ns_dev
        if self.backend == "iptables":
            spec = ["-i" if chain == "input" else "-o", dev, "-p", "tcp"]
            if dport is not None:
                spec += ["--dport", str(dport)]
            if sport is not None:
                spec += ["--sport", str(sport)]
            spec += ["-j", "DROP"] if action == "drop" else ["-j", "REJECT", "--reject-with",
                                                             "tcp-reset"]
            self._exec(["iptables", "-w", "5", "-A", chain.upper()] + spec)
            rule = ("iptables", chain.upper(), spec)
        else:
            self._nft_setup()
            expr = ["iifname" if chain == "input" else "oifname", '"%s"' % dev,
                    "meta", "l4proto", "tcp"]
            if dport is not None:
                expr += ["tcp", "dport", str(dport)]
            if sport is not None:
                expr += ["tcp", "sport", str(sport)]
            expr += ["counter"] + (["drop"] if action == "drop" else ["reject", "with", "tcp",
                                                                      "reset"])
            p = self._exec(["nft", "--echo", "--handle", "add", "rule", "inet", self.NFT_TABLE,
                            chain] + expr)
            m = re.search(r"# handle (\d+)", p.stdout)
            if not m:
                raise NetnsError("nft did not echo a rule handle: %r" % p.stdout)
            rule = ("nft", chain, m.group(1))
        self.rules.append(rule)
        return rule

    def remove(self, rule):
        if rule not in self.rules:
            return
        if rule[0] == "iptables":
            self._exec(["iptables", "-w", "5", "-D", rule[1]] + rule[2])
        else:
            self._exec(["nft", "delete", "rule", "inet", self.NFT_TABLE, rule[1], "handle",
                        rule[2]])
        self.rules.remove(rule)

    def remove_all(self):
        for r in list(self.rules):
            self.remove(r)

    def packets(self, rule):
        """Packets the rule has matched so far."""
        if rule[0] == "iptables":
            p = self._exec(["iptables", "-w", "5", "-L", rule[1], "-v", "-n", "-x"])
            # rules are listed in order; find ours by its position
            ours = [r for r in self.rules if r[0] == "iptables" and r[1] == rule[1]]
            lines = [l for l in p.stdout.splitlines()[2:] if l.strip()]
            idx = ours.index(rule)
            return int(lines[idx].split()[0])
        p = self._exec(["nft", "--handle", "list", "chain", "inet", self.NFT_TABLE, rule[1]])
        for line in p.stdout.splitlines():
            if line.rstrip().endswith("# handle %s" % rule[2]):
                m = re.search(r"counter packets (\d+)", line)
                return int(m.group(1)) if m else 0
        raise NetnsError("nft rule handle %s not found" % rule[2])

    def describe(self):
        if self.backend == "iptables":
            return self._exec(["iptables", "-S"], check=False).stdout
        return self._exec(["nft", "list", "ruleset"], check=False).stdout


# --------------------------------------------------------------------------
# the namespace

def _used_prefixes():
    """Every IPv4 address and route currently known to the host, as text."""
    out = _run(["ip", "-o", "-4", "addr", "show"], check=False).stdout
    out += _run(["ip", "-4", "route", "show", "table", "all"], check=False).stdout
    return out


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


def reap_stale():
    """Deletes namespaces (and their host veth) left by test processes that
    died without cleaning up (e.g. killed by a ctest timeout). Only names
    this module creates ("pfns-<pid>-<n>") whose <pid> is gone are touched."""
    p = _run(["ip", "netns", "list"], check=False)
    for line in p.stdout.splitlines():
        name = line.split()[0] if line.split() else ""
        m = re.match(r"^%s(\d+)-(\d+)$" % NS_PREFIX, name)
        if not m or _pid_alive(int(m.group(1))):
            continue
        _run(["ip", "netns", "del", name], check=False)
        _run(["ip", "link", "del", "pfh%06x%02x" % (int(m.group(1)) & 0xffffff,
                                                   int(m.group(2)) & 0xff)], check=False)


class NetNs:
    """One namespace, its veth pair and /30. Attributes: name, host_dev,
    ns_dev, host_ip, ns_ip, fw (Firewall), procs (started inside)."""

    def __init__(self, name, host_dev, ns_dev, host_ip, ns_ip, backend):
        self.name, self.host_dev, self.ns_dev = name, host_dev, ns_dev
        self.host_ip, self.ns_ip = host_ip, ns_ip
        self.fw = Firewall(self, backend)
        self.procs = []
        self.destroyed = False

    @classmethod
    def create(cls, backend=None):
        """Creates the namespace, the veth pair and addresses; both sides up,
        loopback up inside. Raises NetnsError (after undoing what was done)
        when anything fails."""
        backend = backend or require_tools()
        reap_stale()
        with _counter_lock:
            _counter[0] += 1
            n = _counter[0]
        pid = os.getpid()
        name = "%s%d-%d" % (NS_PREFIX, pid, n)
        host_dev = "pfh%06x%02x" % (pid & 0xffffff, n & 0xff)
        ns_dev = "pfn%06x%02x" % (pid & 0xffffff, n & 0xff)
        used = _used_prefixes()
        start = (pid * 31 + n * 7) % 16384
        for i in range(16384):
            idx = (start + i) % 16384
            a, b = idx // 64, (idx % 64) * 4
            net = "%d.%d.%d.%d" % (SUBNET_BASE + (a, b))
            host_ip = "%d.%d.%d.%d" % (SUBNET_BASE + (a, b + 1))
            ns_ip = "%d.%d.%d.%d" % (SUBNET_BASE + (a, b + 2))
            if not any(x + "/" in used or x + " " in used for x in (net, host_ip, ns_ip)):
                break
        else:
            raise NetnsError("no free /30 in 10.250.0.0/16")
        ns = cls(name, host_dev, ns_dev, host_ip, ns_ip, backend)
        try:
            _run(["ip", "netns", "add", name])
            _run(["ip", "link", "add", host_dev, "type", "veth", "peer", "name", ns_dev])
            _run(["ip", "link", "set", ns_dev, "netns", name])
            _run(["ip", "addr", "add", host_ip + "/30", "dev", host_dev])
            _run(["ip", "link", "set", host_dev, "up"])
            ns.exec_run(["ip", "addr", "add", ns_ip + "/30", "dev", ns_dev])
            ns.exec_run(["ip", "link", "set", ns_dev, "up"])
            ns.exec_run(["ip", "link", "set", "lo", "up"])
            wait_until(lambda: ns._link_up(), 5, "veth %s/%s up" % (host_dev, ns_dev))
        except BaseException:
            ns.destroy()
            raise
        return ns

    def _link_up(self):
        p = _run(["ip", "-o", "link", "show", self.host_dev], check=False)
        return "LOWER_UP" in p.stdout

    def exec_argv(self, argv):
        return ["ip", "netns", "exec", self.name] + list(argv)

    def exec_run(self, argv, check=True):
        return _run(self.exec_argv(argv), check=check)

    def connect(self, host, port, timeout=5.0):
        """A TCP socket connected from inside the namespace."""
        return in_netns(self.name, lambda: socket.create_connection((host, port),
                                                                    timeout=timeout),
                        timeout + 2)

    def listen(self, host=None, port=0, backlog=64):
        """A listening TCP socket inside the namespace (default: on ns_ip)."""
        def mk():
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((host or self.ns_ip, port))
            s.listen(backlog)
            return s
        return in_netns(self.name, mk)

    def adopt(self, proc):
        """Records a harness Proc running inside; destroy() stops it first."""
        self.procs.append(proc)
        return proc

    def destroy(self):
        """Stops the processes started inside (SIGTERM, then SIGKILL), removes
        the rules, the namespace and the host veth. Idempotent; never raises
        (cleanup must run to the end); returns a list of problems seen."""
        if self.destroyed:
            return []
        self.destroyed = True
        problems = []
        for p in reversed(self.procs):
            try:
                if p.popen is not None and p.popen.poll() is None:
                    rc, killed = p._terminate(timeout=10)
                    p.observed = True
                    if killed or (getattr(p, "kind", "") in ("node", "controller") and rc != 0):
                        problems.append("%s in %s: exit %s%s" % (p.name, self.name, rc,
                                                                 " (killed)" if killed else ""))
            except Exception as e:          # keep cleaning up
                problems.append("stopping %s: %s" % (p.name, e))
        with contextlib.suppress(Exception):
            self.fw.remove_all()
        _run(["ip", "netns", "del", self.name], check=False)
        # Deleting the namespace deletes the ns end and so the pair; this is
        # for the case where the ns end was never moved into it.
        _run(["ip", "link", "del", self.host_dev], check=False)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            left = (os.path.exists(os.path.join(NETNS_DIR, self.name))
                    or _run(["ip", "link", "show", self.host_dev], check=False).returncode == 0)
            if not left:
                break
            time.sleep(0.05)
        else:
            problems.append("namespace %s or veth %s still present after cleanup"
                            % (self.name, self.host_dev))
        return problems


def exists(name):
    return os.path.exists(os.path.join(NETNS_DIR, name))


def link_exists(dev):
    return _run(["ip", "link", "show", dev], check=False).returncode == 0


# --------------------------------------------------------------------------
# processes inside the namespace, managed by the harness

class NsRedis(Redis):
    """pf_harness.Redis run inside <ns>, listening on the namespace's
    loopback and on ns_ip. .url points at ns_ip (what a node on the host
    uses, through the veth); .cmd()/.hgetall() go over the namespace's
    loopback, so the test keeps talking to Redis during a partition."""

    def __init__(self, fleet, ns, name, port):
        super().__init__(fleet, name, port)
        self.ns = ns
        self.url = "redis://%s:%d/0" % (ns.ns_ip, port)
        argv = list(self.argv)
        argv[argv.index("--bind") + 1] = "127.0.0.1 %s" % ns.ns_ip
        self.argv = ns.exec_argv(argv)

    @classmethod
    def start_in(cls, fleet, ns, name="redis-ns", port=6379):
        """Starts it, registers it with <fleet> (log scan, cleanup) and with
        <ns> (stopped before the namespace goes), and makes it the fleet's
        default Redis."""
        r = cls(fleet, ns, name, port)
        fleet.procs.append(r)
        ns.adopt(r)
        r.start()
        fleet.redis = r
        return r

    def cmd(self, *args, timeout=5.0):
        return ns_redis_command(self.ns.name, self.port, *args, timeout=timeout)

    def cli(self, *args, timeout=10.0):
        p = _run(self.ns.exec_argv([shutil.which("redis-cli") or "redis-cli", "-h",
                                    "127.0.0.1", "-p", str(self.port), "--raw"]
                                   + [str(a) for a in args]), check=False, timeout=timeout)
        return p.stdout

    def pause(self):
        os.kill(self.pid, signal.SIGSTOP)


def start_node_in(fleet, ns, config, name, ready_timeout=15.0):
    """Starts proxyfleet-node inside <ns> through the harness (so its log is
    scanned for sanitizer reports and secrets, and cleanup checks its exit
    code): the node's listen/admin_listen must be on ns.ns_ip. Waits until
    both ports accept connections from the host (before any rule)."""
    cfg = fleet.node_config(config, name, redis=None)
    if cfg.get("node", {}).get("mode") == "direct":
        cfg.pop("redis", None)       # a direct node needs no Redis
    fleet._collect_secrets(cfg)
    b = PfBinary(fleet, "node", name, fleet._binary("PF_NODE_BIN"), cfg)
    b.argv = ns.exec_argv(b.argv)
    fleet.procs.append(b)
    ns.adopt(b)
    b.start(wait_ready=False)

    def ready():
        if b.popen.poll() is not None:
            b.observed = True
            raise NetnsError("%s exited early with code %s:\n%s"
                             % (name, b.popen.returncode, b.log_text()[-3000:]))
        return all(port_open(p, ns.ns_ip) for p in (b.port, b.admin_port) if p)
    wait_until(ready, ready_timeout, "%s (in %s) to accept connections" % (name, ns.name))
    return b
