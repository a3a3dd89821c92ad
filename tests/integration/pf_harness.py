"""Integration-test harness for proxyfleet: real redis-server, real binaries,
real upstream proxies; only provider APIs are faked (tests/fake_provider.py).

Typical use:

    import unittest
    from pf_harness import Fleet, curl, wait_until

    class TestX(unittest.TestCase):
        def setUp(self):
            self.fleet = Fleet(self)          # cleanup registered on self
        def test_x(self):
            f = self.fleet
            r = f.start_redis()
            up = f.direct_upstream_node()
            prov = f.start_fake_provider()
            prov.set("/list", scenario="good_text",
                     params={"upstreams": ["127.0.0.1:%d" % up.port]})
            ctl = f.start_controller({"controller": {"providers": [...]}})
            node = f.start_node({"node": {"destination_allow": ["127.0.0.0/8"]}})
            status, body, err = curl("-x", node.proxy_url, origin.url("/"))

`Fleet` is also a context manager (`with Fleet() as f:`); then its checks
raise AssertionError from __exit__.

What the cleanup does (and why a test can fail there):
  * stops every proxyfleet binary still running with SIGTERM (SIGKILL after
    STOP_TIMEOUT_S): a binary that exits non-zero on SIGTERM, does not exit
    in time, or died on its own with a non-zero code without the test having
    observed it (proc.wait(), proc.kill(), proc.stop(check=False)) fails it;
  * stops the helpers (redis, fake provider, origin);
  * scans every binary's log for sanitizer reports (AddressSanitizer,
    LeakSanitizer, UBSan "runtime error"); under PF_VALGRIND=1 every
    valgrind log for errors and definite leaks (a run that exited, on its
    own or on SIGTERM, must have written its summary; a SIGKILLed one need
    not); and every log for every secret: values passed
    to fleet.secret(), node users' passwords, credentials in static upstream
    URLs, the redis URL password (auto-registered ones must be >= 6 chars, so
    pick distinctive secrets such as "s3cr3t-alice");
  * on failure prints the tail of each binary's log and keeps the temp dir
    (PF_KEEP_TMP=1 keeps it always).

API summary:
  Fleet(testcase) / with Fleet() as f      .tmp .redis .keys .procs
    f.start_redis(name=None, port=None, args=(), replicaof=None, auth=None) -> Redis
        .port .url .cmd(*a) .cli(*a) .hgetall(k) .zrange_withscores(k)
        .keys(pat) .kill() .stop() .start() .pause() .resume() .role()
        .auth = (user, password) or password: what .cmd/.cli authenticate with
    f.start_replica(master, name=None, args=(), auth=None) -> Redis (synced)
    f.start_sentinel(master, name, master_name, quorum, down_after_ms,
        failover_timeout_ms, requirepass, auth, acl_user) -> Sentinel
        .port .addr .cmd(*a) .master_addr() .pause() .resume()
        .subscribe_switch() -> SwitchWatch (.events, .wait(timeout))
    f.start_sentinels(master, n=3, **kw) -> [Sentinel]  (quorum 2 by default)
    f.sentinel_redis_config(sentinels, master_name, url, **extra) -> "redis" dict
    f.start_fake_provider() -> FakeProvider
        .url(path) .set(path, status, body, headers, delay_ms, scenario,
        params, sequence, **params) .hits(path) .requests(path) .reset()
    f.start_origin(name, tls) -> Origin  .port .url(path) .requests() .header(req, name)
        .cert (tls: self-signed for localhost; url() is https://localhost:PORT)
    f.start_node(config, name, redis, args, env, nofile) -> PfBinary
    f.start_controller(config, name, redis, args, env) -> PfBinary
        .pid .id .port .admin_port .proxy_url .config .log_text() .signal(sig)
        .wait(timeout) .stop(check) .kill() .restart() .admin(path)
        .metrics() .metric(name)
    f.direct_upstream_node(name, users, config, **node_keys) -> PfBinary
    f.run_binary(kind, config, args, raw_config) -> (exit code, output)
    f.secret(value) -> value        f.node_config() f.controller_config()
  free_port() port_open() wait_until(pred, timeout, message) StopWaiting
  curl(*args, max_time) -> (status, body, stderr) + .headers .exit_code
  http_get(url) raw_request(port, bytes) parse_metrics(text)
  Keys(prefix) / KEYS: .pool_meta .pool_upstreams .pool_expiry .pool_events
      .providers .provider(name) .controller .controller_lease .nodes .node(id)
      .bans .bans_expiry .bans_events
  redis_command(port, *args, auth=None)

Environment: PF_NODE_BIN, PF_CONTROLLER_BIN (required to start binaries),
PF_SOURCE_DIR (repo root; defaults to two levels above this file),
PF_READY_TIMEOUT_S (15), PF_STOP_TIMEOUT_S (10), PF_KEEP_TMP=1,
PF_VALGRIND=1 (run the binaries under valgrind memcheck: a non-sanitizer
build; each run's log is <tmp>/<name>.valgrind.<pid>.log and any error or
definite leak fails the test; tests/valgrind.supp; PF_VALGRIND_ARGS adds
options), PF_TIMEOUT_SCALE (multiplies every harness wait; default 1, 5
under valgrind).
"""

import atexit
import contextlib
import copy
import ctypes
import json
import os
import re
import resource
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import secrets as pysecrets
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import namedtuple

SOURCE_DIR = os.environ.get("PF_SOURCE_DIR") or os.path.abspath(
    os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
TESTS_DIR = os.path.join(SOURCE_DIR, "tests")

# PF_VALGRIND=1 runs every proxyfleet binary under valgrind memcheck (see
# _valgrind_argv); the build must then be one without sanitizers. Valgrind
# makes the binaries 10-50x slower, so every harness wait (wait_until,
# readiness, stop, wait(), run_binary) is multiplied by PF_TIMEOUT_SCALE
# (default 1, or 5 under valgrind). Explicit assertions in tests on elapsed
# time are left alone.
VALGRIND = os.environ.get("PF_VALGRIND", "0") not in ("", "0")
TIMEOUT_SCALE = float(os.environ.get("PF_TIMEOUT_SCALE", "5" if VALGRIND else "1"))
READY_TIMEOUT_S = float(os.environ.get("PF_READY_TIMEOUT_S", "15"))
STOP_TIMEOUT_S = float(os.environ.get("PF_STOP_TIMEOUT_S", "10"))
# Exit code valgrind gives a run with errors (or definite leaks): distinct
# from the binaries' own codes, so a test asserting an exit code fails too.
VALGRIND_ERROR_EXITCODE = 97

# Built from pieces so that printing this module's source or these patterns
# never matches ctest's FAIL_REGULAR_EXPRESSION by itself.
_SAN = "Sanitizer"
SANITIZER_PATTERNS = ("ERROR: Address" + _SAN, "ERROR: Leak" + _SAN,
                      "runtime" + " error:", "ERROR: Thread" + _SAN,
                      "ERROR: Memory" + _SAN)

# Env overrides the binaries honour: never inherited from the caller, so a
# developer's shell cannot change what a test runs.
_PF_ENV_OVERRIDES = ("PF_REDIS_URL", "PF_REDIS_SENTINELS", "PF_REDIS_MASTER_NAME", "PF_LOG_LEVEL",
                     "PF_NODE_ID", "PF_CONTROLLER_ID")
_PROXY_ENV = ("http_proxy", "https_proxy", "all_proxy", "no_proxy", "HTTP_PROXY",
              "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY")


class HarnessError(AssertionError):
    """A harness precondition or check failed (a test failure, never a skip)."""


# --------------------------------------------------------------------------
# small helpers

_given_ports = set()
_port_lock = threading.Lock()


def free_port():
    """A currently free TCP port on 127.0.0.1, never handed out twice by this
    process (so two calls in a row never return the same port)."""
    with _port_lock:
        for _ in range(200):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            try:
                s.bind(("127.0.0.1", 0))
                port = s.getsockname()[1]
            finally:
                s.close()
            if port not in _given_ports:
                _given_ports.add(port)
                return port
    raise HarnessError("free_port: no free port found")


def port_open(port, host="127.0.0.1", timeout=0.5):
    """True when a TCP connect to host:port succeeds."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


class StopWaiting(Exception):
    """Raise from a wait_until predicate to stop waiting at once."""


def wait_until(predicate, timeout=10.0, message="condition", interval=0.05):
    """Calls <predicate> until it returns a truthy value, which is returned.
    Raises HarnessError naming <message> after <timeout> seconds. Exceptions
    from the predicate count as "not yet" (the last one is reported), except
    HarnessError and StopWaiting, which propagate at once. <timeout> is
    multiplied by PF_TIMEOUT_SCALE (1 unless set; 5 under PF_VALGRIND)."""
    timeout *= TIMEOUT_SCALE
    deadline = time.monotonic() + timeout
    last_exc = None
    while True:
        try:
            v = predicate()
            if v:
                return v
        except (HarnessError, StopWaiting):
            raise
        except Exception as e:  # noqa: BLE001 - reported below
            last_exc = e
        if time.monotonic() >= deadline:
            extra = " (last error: %r)" % (last_exc,) if last_exc else ""
            raise HarnessError("timed out after %.1fs waiting for %s%s"
                               % (timeout, message, extra))
        time.sleep(interval)


DROP = object()     # deep_merge: remove this key from the base


def deep_merge(base, over):
    """Returns a copy of dict <base> with dict <over> merged in recursively
    (dicts merge, everything else — lists included — replaces; a value of
    DROP removes the key, e.g. to test a built-in default)."""
    out = copy.deepcopy(base)
    for k, v in (over or {}).items():
        if v is DROP:
            out.pop(k, None)
        elif isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = deep_merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def _clean_env(extra=None):
    env = dict(os.environ)
    for k in _PF_ENV_OVERRIDES + _PROXY_ENV:
        env.pop(k, None)
    if extra:
        env.update(extra)
    return env


def _pdeathsig():
    """preexec_fn: the child gets SIGKILL when the test process dies, so an
    aborted test run never leaves servers behind."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def _require_tool(name):
    path = shutil.which(name)
    if not path:
        raise HarnessError("%s is not installed (needed by the integration tests; "
                           "run scripts/test.sh as root to install it)" % name)
    return path


def _is_elf(path):
    try:
        with open(path, "rb") as f:
            return f.read(4) == b"\x7fELF"
    except OSError:
        return False


def _valgrind_argv(binary, log_path):
    """The command prefix that runs <binary> under valgrind memcheck, logging
    to <log_path> (may hold %p), or [] when PF_VALGRIND is off or <binary> is
    not an ELF executable (a test's stand-in script). Errors and definite
    leaks make valgrind exit VALGRIND_ERROR_EXITCODE; check_logs() reads the
    log. tests/valgrind.supp holds the suppressions; PF_VALGRIND_ARGS adds
    options (e.g. "--track-origins=yes")."""
    if not VALGRIND or not _is_elf(binary):
        return []
    argv = [_require_tool("valgrind"), "--tool=memcheck",
            "--error-exitcode=%d" % VALGRIND_ERROR_EXITCODE,
            "--leak-check=full", "--errors-for-leak-kinds=definite",
            "--show-leak-kinds=definite", "--track-fds=no", "--num-callers=40",
            "--child-silent-after-fork=yes", "--log-file=" + log_path]
    supp = os.path.join(TESTS_DIR, "valgrind.supp")
    if os.path.exists(supp):
        argv.append("--suppressions=" + supp)
    return argv + shlex.split(os.environ.get("PF_VALGRIND_ARGS", ""))


_VG_SUMMARY = re.compile(r"^==\d+== ERROR SUMMARY: ([\d,]+) errors?")
_VG_DEFINITE = re.compile(r"^==\d+==\s+definitely lost: ([\d,]+) bytes")
# Memcheck's error headers, for logs that end without a summary (SIGKILL).
_VG_ERROR_HEAD = re.compile(
    r"^==\d+== (Invalid (read|write|free)|Mismatched free|Conditional jump or move depends"
    r"|Use of uninitialised value|Syscall param|Source and destination overlap"
    r"|Argument '.*' of function|Process terminating with default action"
    r"|.* are definitely lost in loss record)")


def valgrind_log_problems(path, exited=True):
    """Problems in one valgrind log: a non-zero ERROR SUMMARY, definitely
    lost bytes, any error record; and, when the process <exited> on its own
    or on SIGTERM (not by a signal such as SIGKILL), a missing summary.
    Returns a list of strings (log excerpts included)."""
    try:
        with open(path, "rb") as f:
            text = f.read().decode(errors="replace")
    except FileNotFoundError:
        return ["valgrind log %s is missing" % path] if exited else []
    lines = text.splitlines()
    nerr = lost = None
    first = None
    for i, line in enumerate(lines):
        m = _VG_SUMMARY.match(line)
        if m:
            nerr = int(m.group(1).replace(",", ""))
        m = _VG_DEFINITE.match(line)
        if m:
            lost = int(m.group(1).replace(",", ""))
        if first is None and _VG_ERROR_HEAD.match(line):
            first = i
    what = []
    if nerr:
        what.append("ERROR SUMMARY: %d errors" % nerr)
    if lost:
        what.append("definitely lost: %d bytes" % lost)
    if first is not None and not what:
        what.append("error records")
    if nerr is None and exited:
        what.append("no ERROR SUMMARY (valgrind did not finish)")
    if not what:
        return []
    start = first if first is not None else max(0, len(lines) - 40)
    return ["valgrind: %s in %s:\n%s" % (", ".join(what), path,
                                          "\n".join(lines[start:start + 200]))]


def tail(text, lines=60):
    return "\n".join(text.splitlines()[-lines:])


CurlResult = namedtuple("CurlResult", "status body stderr")
CurlResult.__doc__ = """(status, body, stderr); also .headers (raw response
header text), .exit_code (curl's), .connect_status (%{http_connect})."""


class _CurlResult(CurlResult):
    pass


def curl(*args, max_time=10, input=None):
    """Runs `curl -sS --max-time <max_time> <args...>` with no proxy taken
    from the environment. Returns a CurlResult (status, body, stderr):
    status is the final HTTP status as an int; when curl got no final
    response it is the proxy's CONNECT answer (%{http_connect}) if any, else
    0. body is str (utf-8, errors replaced). Extra attributes: .headers (all
    response header blocks, raw), .exit_code, .connect_status, .raw_body
    (bytes). Example: curl("-x", "http://127.0.0.1:3128", "http://127.0.0.1:8000/").
    """
    _require_tool("curl")
    with tempfile.TemporaryDirectory(prefix="pf-curl-") as d:
        bpath = os.path.join(d, "body")
        hpath = os.path.join(d, "headers")
        cmd = ["curl", "-sS", "--max-time", str(max_time), "-o", bpath, "-D", hpath,
               "-w", "%{http_code} %{http_connect}"] + [str(a) for a in args]
        try:
            p = subprocess.run(cmd, input=input, capture_output=True, env=_clean_env(),
                               timeout=max_time + 10)
        except subprocess.TimeoutExpired:
            raise HarnessError("curl did not return within %ss: %s" % (max_time + 10, cmd))
        codes = p.stdout.decode(errors="replace").split()
        http_code = int(codes[0]) if codes and codes[0].isdigit() else 0
        connect = int(codes[1]) if len(codes) > 1 and codes[1].isdigit() else 0
        raw = b""
        hdrs = ""
        if os.path.exists(bpath):
            with open(bpath, "rb") as f:
                raw = f.read()
        if os.path.exists(hpath):
            with open(hpath, "rb") as f:
                hdrs = f.read().decode(errors="replace")
    status = http_code or connect
    r = _CurlResult(status, raw.decode(errors="replace"), p.stderr.decode(errors="replace"))
    r.headers = hdrs
    r.exit_code = p.returncode
    r.connect_status = connect
    r.raw_body = raw
    return r


def http_get(url, timeout=5.0, headers=None):
    """Direct GET (never through a proxy). Returns (status, body str, headers
    dict); HTTP errors are returned, not raised; connection errors raise."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with opener.open(req, timeout=timeout) as resp:
            return resp.status, resp.read().decode(errors="replace"), dict(resp.headers)
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(errors="replace"), dict(e.headers)


def raw_request(port, data, host="127.0.0.1", timeout=5.0, read_until_close=True):
    """Sends raw bytes <data> to host:port and returns what comes back (bytes)
    until the peer closes, <timeout> passes (no error), or — when
    read_until_close is False — the first recv returns something."""
    out = b""
    with socket.create_connection((host, port), timeout=timeout) as s:
        s.sendall(data)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            s.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                break
            except ConnectionResetError:
                break
            if not chunk:
                break
            out += chunk
            if not read_until_close:
                break
    return out


def parse_metrics(text):
    """Parses Prometheus text exposition into {"name{labels}": float}."""
    out = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        m = re.match(r"^([A-Za-z_:][A-Za-z0-9_:]*(?:\{[^}]*\})?)\s+(\S+)", line)
        if not m:
            continue
        try:
            out[m.group(1)] = float(m.group(2))
        except ValueError:
            continue
    return out


# --------------------------------------------------------------------------
# Redis key names, exactly as docs/redis-keys.md (common/keys.c) builds them

class Keys:
    """Key and channel names for <prefix> ("pf" by default):
    Keys().pool_meta == "{pf}:v1:pool:meta"."""

    def __init__(self, prefix="pf"):
        self.prefix = prefix
        self.base = "{%s}:v1" % prefix
        self.pool_meta = self.base + ":pool:meta"
        self.pool_upstreams = self.base + ":pool:upstreams"
        self.pool_expiry = self.base + ":pool:expiry"
        self.pool_events = self.base + ":pool:events"
        self.pool_channel = self.pool_events
        self.bans = self.base + ":bans"
        self.bans_expiry = self.base + ":bans:expiry"
        self.bans_events = self.base + ":bans:events"
        self.providers = self.base + ":providers"
        self.nodes = self.base + ":nodes"
        self.controller = self.base + ":controller"
        self.controller_lease = self.base + ":controller:lease"

    def provider(self, name):
        return "%s:provider:%s" % (self.base, name)

    def node(self, node_id):
        return "%s:node:%s" % (self.base, node_id)


KEYS = Keys()


# --------------------------------------------------------------------------
# minimal RESP client (so replies are parsed exactly, not scraped from text)

class RespError(Exception):
    pass


def _resp_read(f):
    line = f.readline()
    if not line:
        raise ConnectionError("redis closed the connection")
    t, rest = line[:1], line[1:-2]
    if t == b"+":
        return rest.decode()
    if t == b"-":
        raise RespError(rest.decode())
    if t == b":":
        return int(rest)
    if t == b"$":
        n = int(rest)
        if n < 0:
            return None
        data = f.read(n + 2)
        return data[:-2].decode(errors="surrogateescape")
    if t == b"*":
        n = int(rest)
        if n < 0:
            return None
        return [_resp_read(f) for _ in range(n)]
    raise RespError("bad RESP type %r" % line)


def _resp_encode(args):
    parts = [b"*%d\r\n" % len(args)]
    for a in args:
        b = a if isinstance(a, bytes) else str(a).encode()
        parts.append(b"$%d\r\n%s\r\n" % (len(b), b))
    return b"".join(parts)


def redis_command(port, *args, timeout=5.0, host="127.0.0.1", auth=None):
    """Runs one command on a new connection; returns the parsed reply
    (str, int, None, list) or raises RespError / OSError. <auth> is a
    password (AUTH pass) or a (user, password) pair sent first."""
    with socket.create_connection((host, port), timeout=timeout) as s:
        if auth:
            creds = list(auth) if isinstance(auth, (tuple, list)) else [auth]
            s.sendall(_resp_encode(["AUTH"] + creds) + _resp_encode(args))
        else:
            s.sendall(_resp_encode(args))
        with s.makefile("rb") as f:
            if auth:
                _resp_read(f)
            return _resp_read(f)


# --------------------------------------------------------------------------
# processes

class Proc:
    """A process started by the harness, output to <log_path>."""

    kind = "proc"

    def __init__(self, fleet, name, argv, log_path, env=None, cwd=None):
        self.fleet = fleet
        self.name = name
        self.argv = argv
        self.log_path = log_path
        self.env = env
        self.cwd = cwd
        self.popen = None
        self.observed = False    # the test saw/caused the exit (no cleanup complaint)
        self.term_sent = False
        self.nofile = None       # RLIMIT_NOFILE (soft and hard) of the child, None = inherited

    def _preexec(self):
        _pdeathsig()
        if self.nofile is not None:
            resource.setrlimit(resource.RLIMIT_NOFILE, (self.nofile, self.nofile))

    def _spawn(self):
        logf = open(self.log_path, "ab")
        try:
            self.popen = subprocess.Popen(
                self.argv, stdout=logf, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                env=_clean_env(self.env), cwd=self.cwd, start_new_session=True,
                preexec_fn=self._preexec)
        finally:
            logf.close()
        self.observed = False
        self.term_sent = False

    @property
    def pid(self):
        return self.popen.pid if self.popen else None

    def running(self):
        return self.popen is not None and self.popen.poll() is None

    def log_text(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode(errors="replace")
        except FileNotFoundError:
            return ""

    def signal(self, sig):
        """Sends <sig> to the process (SIGTERM/SIGINT/SIGKILL mark the exit as
        expected by the test)."""
        if self.running():
            if sig in (signal.SIGTERM, signal.SIGINT):
                self.term_sent = True
            if sig == signal.SIGKILL:
                self.observed = True
            self.popen.send_signal(sig)

    def wait(self, timeout=10.0):
        """Waits for the exit and returns the exit code (negative = signal).
        Raises HarnessError on timeout (<timeout> times PF_TIMEOUT_SCALE)."""
        timeout *= TIMEOUT_SCALE
        try:
            rc = self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise HarnessError("%s (pid %d) still running after %.1fs"
                               % (self.name, self.pid, timeout))
        self.observed = True
        return rc

    def kill(self):
        """SIGKILL and reap."""
        if self.running():
            self.observed = True
            self.popen.kill()
        if self.popen:
            self.popen.wait(timeout=10)
            self.observed = True

    def _terminate(self, timeout=STOP_TIMEOUT_S):
        """SIGCONT+SIGTERM, then SIGKILL after <timeout> (times
        PF_TIMEOUT_SCALE). Returns (exit code, killed?)."""
        timeout *= TIMEOUT_SCALE
        if self.popen is None:
            return None, False
        if self.popen.poll() is not None:
            return self.popen.returncode, False
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.popen.pid, signal.SIGCONT)
        self.term_sent = True
        self.popen.send_signal(signal.SIGTERM)
        try:
            return self.popen.wait(timeout=timeout), False
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait(timeout=10)
            return self.popen.returncode, True


class Redis(Proc):
    """A redis-server on 127.0.0.1:<port>, empty, no persistence.

    .cli(*args) runs `redis-cli -p PORT --raw ARGS` and returns its stdout
    (raw mode: one value a line, no quoting, no "(integer)" decorations; nil
    is an empty line). For exact replies use .cmd(*args), a direct RESP call
    returning str/int/None/list, and .hgetall(key) -> dict."""

    kind = "redis"

    def __init__(self, fleet, name, port, args=()):
        self.port = port
        self.url = "redis://127.0.0.1:%d/0" % port
        self.dir = os.path.join(fleet.tmp, name)
        self.auth = None
        os.makedirs(self.dir, exist_ok=True)
        argv = [_require_tool("redis-server"), "--port", str(port), "--bind", "127.0.0.1",
                "--save", "", "--appendonly", "no", "--dir", self.dir,
                "--daemonize", "no", "--protected-mode", "no", "--loglevel", "notice"]
        super().__init__(fleet, name, argv + [str(a) for a in args],
                         os.path.join(fleet.tmp, name + ".log"))

    def start(self, timeout=READY_TIMEOUT_S):
        """(Re)starts the server on the same port, empty."""
        if self.running():
            raise HarnessError("%s is already running" % self.name)
        self._spawn()
        self._wait_ping(timeout)
        return self

    def _wait_ping(self, timeout):
        def ready():
            if self.popen.poll() is not None:
                raise HarnessError("%s exited early (code %s):\n%s" % (
                    self.name, self.popen.returncode, tail(self.log_text(), 30)))
            try:
                return self.cmd("PING", timeout=0.5) == "PONG"
            except RespError as e:
                # A server with a password is up when it asks for one.
                return "NOAUTH" in str(e) or "WRONGPASS" in str(e)
            except OSError:
                return False
        try:
            wait_until(ready, timeout, "%s to answer PING on port %d" % (self.name, self.port))
        except HarnessError as e:
            if self.popen.poll() is not None:
                raise HarnessError("%s exited early (code %s):\n%s" % (
                    self.name, self.popen.returncode, tail(self.log_text(), 30))) from None
            raise e

    def stop(self):
        """SHUTDOWN-like stop (SIGTERM, no save); waits for the exit."""
        rc, _ = self._terminate()
        self.observed = True
        return rc

    def pause(self):
        """SIGSTOP: the server holds connections but answers nothing."""
        os.kill(self.pid, signal.SIGSTOP)

    def resume(self):
        os.kill(self.pid, signal.SIGCONT)

    def cmd(self, *args, timeout=5.0):
        return redis_command(self.port, *args, timeout=timeout, auth=self.auth)

    def cli(self, *args, timeout=10.0):
        env = _clean_env()
        auth = []
        if self.auth:
            creds = list(self.auth) if isinstance(self.auth, (tuple, list)) else ["", self.auth]
            if creds[0]:
                auth = ["--user", creds[0]]
            env["REDISCLI_AUTH"] = creds[-1]
        p = subprocess.run([_require_tool("redis-cli"), "-h", "127.0.0.1", "-p", str(self.port),
                            "--raw", "--no-auth-warning"] + auth + [str(a) for a in args],
                           capture_output=True, timeout=timeout, env=env)
        return p.stdout.decode(errors="replace")

    def role(self):
        """"master", "slave" (a replica) or None when it does not answer."""
        try:
            return self.cmd("ROLE", timeout=1)[0]
        except (OSError, RespError, IndexError, TypeError):
            return None

    def hgetall(self, key):
        flat = self.cmd("HGETALL", key) or []
        return dict(zip(flat[0::2], flat[1::2]))

    def zrange_withscores(self, key):
        flat = self.cmd("ZRANGE", key, 0, -1, "WITHSCORES") or []
        return {m: float(s) for m, s in zip(flat[0::2], flat[1::2])}

    def keys(self, pattern="*"):
        return sorted(self.cmd("KEYS", pattern) or [])


class SwitchWatch:
    """A subscription to +switch-master on one sentinel (raw RESP on its own
    socket, read by a thread): .events is a list of (t_monotonic, t_wall,
    payload) in arrival order; .wait(timeout) waits for the first one and
    returns it. Bounded: at most 1000 events; stop() (also run by the
    fleet's cleanup) closes the socket."""

    def __init__(self, port, auth=None):
        self.events = []
        self._cond = threading.Condition()
        self._sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        self._f = self._sock.makefile("rb")
        if auth:
            creds = list(auth) if isinstance(auth, (tuple, list)) else [auth]
            self._sock.sendall(_resp_encode(["AUTH"] + creds))
            _resp_read(self._f)
        self._sock.sendall(_resp_encode(["SUBSCRIBE", "+switch-master"]))
        _resp_read(self._f)                   # the subscribe confirmation
        self._sock.settimeout(None)           # stop() shuts the socket down
        self._t = threading.Thread(target=self._run, daemon=True, name="switch-watch")
        self._t.start()

    def _run(self):
        while len(self.events) < 1000:
            try:
                r = _resp_read(self._f)
            except (OSError, ValueError, ConnectionError, RespError):
                return
            if isinstance(r, list) and len(r) == 3 and r[0] == "message":
                with self._cond:
                    self.events.append((time.monotonic(), time.time(), r[2]))
                    self._cond.notify_all()

    def wait(self, timeout=30.0):
        timeout *= TIMEOUT_SCALE
        with self._cond:
            if not self._cond.wait_for(lambda: self.events, timeout):
                raise HarnessError("no +switch-master within %.1fs" % timeout)
            return self.events[0]

    def stop(self):
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)
        self._t.join(2)
        with contextlib.suppress(OSError):
            self._sock.close()


class Sentinel(Proc):
    """A redis-sentinel on 127.0.0.1:<port> monitoring <master_name> at the
    Redis <master>, with its own writable config file in the temp dir
    (Sentinel rewrites it). <auth> is what it authenticates to the master
    and replicas with: a password or a (user, password) pair (sentinel
    auth-user / auth-pass); <requirepass> protects the sentinel itself;
    <acl_user> (user, password) adds an ACL user on the sentinel."""

    kind = "sentinel"

    def __init__(self, fleet, name, port, master, master_name="pfmaster", quorum=2,
                 down_after_ms=1000, failover_timeout_ms=3000, requirepass=None, auth=None,
                 acl_user=None):
        self.port = port
        self.addr = "127.0.0.1:%d" % port
        self.master_name = master_name
        self.auth = requirepass
        self.dir = os.path.join(fleet.tmp, name)
        os.makedirs(self.dir, exist_ok=True)
        self.conf_path = os.path.join(self.dir, "sentinel.conf")
        lines = ["port %d" % port, "bind 127.0.0.1", "daemonize no", "protected-mode no",
                 'logfile ""', "dir %s" % self.dir,
                 "sentinel monitor %s 127.0.0.1 %d %d" % (master_name, master.port, quorum),
                 "sentinel down-after-milliseconds %s %d" % (master_name, down_after_ms),
                 "sentinel failover-timeout %s %d" % (master_name, failover_timeout_ms),
                 "sentinel parallel-syncs %s 1" % master_name]
        if auth:
            creds = list(auth) if isinstance(auth, (tuple, list)) else [None, auth]
            if creds[0]:
                lines.append("sentinel auth-user %s %s" % (master_name, creds[0]))
            lines.append("sentinel auth-pass %s %s" % (master_name, creds[1]))
        if requirepass:
            lines.append("requirepass %s" % requirepass)
        if acl_user:
            # An ACL user besides the default one (which the sentinels keep
            # using among themselves); .cmd authenticates as it.
            lines.append("user %s on >%s ~* &* +@all" % tuple(acl_user))
            self.auth = tuple(acl_user)
        with open(self.conf_path, "w") as f:
            f.write("\n".join(lines) + "\n")
        argv = [_require_tool("redis-sentinel"), self.conf_path]
        super().__init__(fleet, name, argv, os.path.join(fleet.tmp, name + ".log"))
        self.watches = []

    def start(self, timeout=READY_TIMEOUT_S):
        self._spawn()

        def ready():
            if self.popen.poll() is not None:
                raise HarnessError("%s exited early (code %s):\n%s" % (
                    self.name, self.popen.returncode, tail(self.log_text(), 30)))
            try:
                return self.cmd("PING", timeout=0.5) == "PONG"
            except (OSError, RespError):
                return False
        wait_until(ready, timeout, "%s to answer PING on port %d" % (self.name, self.port))
        return self

    def stop(self):
        for w in self.watches:
            w.stop()
        rc, _ = self._terminate()
        self.observed = True
        return rc

    def _terminate(self, timeout=STOP_TIMEOUT_S):
        for w in self.watches:
            w.stop()
        return super()._terminate(timeout)

    def cmd(self, *args, timeout=5.0):
        return redis_command(self.port, *args, timeout=timeout, auth=self.auth)

    def pause(self):
        """SIGSTOP: the sentinel holds its connections but answers nothing."""
        os.kill(self.pid, signal.SIGSTOP)

    def resume(self):
        os.kill(self.pid, signal.SIGCONT)

    def master_addr(self):
        """(host, port) this sentinel names as the master, or None."""
        r = self.cmd("SENTINEL", "get-master-addr-by-name", self.master_name)
        return (r[0], int(r[1])) if r else None

    def subscribe_switch(self):
        """A SwitchWatch on this sentinel (stopped with it)."""
        w = SwitchWatch(self.port, self.auth)
        self.watches.append(w)
        return w


class Peer(Proc):
    """A third-party proxy (microsocks, squid, dante, stunnel...) started by a
    test with its own <argv>, listening on <port>: spawned and waited for
    here, stopped by the fleet's cleanup."""

    kind = "peer"

    def __init__(self, fleet, name, argv, port, cwd=None):
        self.port = port
        super().__init__(fleet, name, argv, os.path.join(fleet.tmp, name + ".log"), cwd=cwd)
        fleet.procs.append(self)
        self._spawn()

        def ready():
            if self.popen.poll() is not None:
                raise HarnessError("%s exited early (code %s):\n%s" % (
                    name, self.popen.returncode, tail(self.log_text(), 40)))
            return port_open(port)
        wait_until(ready, 20 * TIMEOUT_SCALE, "%s to listen on %d" % (name, port))


class HelperServer(Proc):
    """A python helper (fake provider, origin) on 127.0.0.1:<port>."""

    def __init__(self, fleet, name, script, port, extra_args=()):
        self.port = port
        script_path = os.path.join(TESTS_DIR, script)
        if not os.path.exists(script_path):
            raise HarnessError("missing %s" % script_path)
        argv = [sys.executable, script_path, "--port", str(port)] + list(extra_args)
        super().__init__(fleet, name, argv, os.path.join(fleet.tmp, name + ".log"))

    def start(self, timeout=READY_TIMEOUT_S):
        self._spawn()
        _wait_ports(self, [self.port], timeout)
        return self

    def stop(self):
        rc, _ = self._terminate()
        self.observed = True
        return rc

    def url(self, path="/"):
        return "http://127.0.0.1:%d%s" % (self.port, path)


class FakeProvider(HelperServer):
    """tests/fake_provider.py. See its docstring for scenarios."""

    kind = "fake_provider"

    def __init__(self, fleet, name, port):
        super().__init__(fleet, name, "fake_provider.py", port)

    def _control(self, path, obj=None):
        url = self.url(path)
        data = None if obj is None else json.dumps(obj).encode()
        req = urllib.request.Request(url, data=data, method="POST" if obj is not None else "GET",
                                     headers={"Content-Type": "application/json"})
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        try:
            with opener.open(req, timeout=5) as resp:
                return json.loads(resp.read())
        except urllib.error.HTTPError as e:
            raise HarnessError("fake provider %s: %s %s" % (path, e.code, e.read().decode()))

    def set(self, path, status=None, body="", headers=None, delay_ms=0, scenario=None,
            params=None, sequence=None, **kw):
        """Sets what <path> answers. Either a literal response (status default
        200, body, headers), or a named <scenario> with <params> (extra
        keyword arguments are merged into params, e.g.
        set("/list", scenario="good_text", upstreams=["127.0.0.1:3301"])), or
        <sequence>: a list of dicts of the same keys served in turn (the last
        one repeats)."""
        if sequence is not None:
            return self._control("/_control/set", {"path": path, "sequence": sequence})
        spec = {"path": path, "body": body, "headers": headers or {}, "delay_ms": delay_ms}
        if status is not None:
            spec["status"] = status
        if scenario is not None:
            spec["scenario"] = scenario
        p = dict(params or {})
        p.update(kw)
        if p:
            spec["params"] = p
        return self._control("/_control/set", spec)

    def hits(self, path):
        """Requests served for <path> (query string ignored)."""
        q = urllib.parse.urlencode({"path": path})
        return self._control("/_control/hits?" + q)["hits"]

    def requests(self, path):
        """Recorded requests for <path>: dicts with method, path, query,
        headers ([[k, v], ...]), client, ts."""
        q = urllib.parse.urlencode({"path": path})
        return self._control("/_control/requests?" + q)["requests"]

    def reset(self):
        return self._control("/_control/reset", {})


class Origin(HelperServer):
    """tests/origin.py; .requests() returns the recorded requests (dicts with
    ts, origin, method, path, headers [[k, v]...], client "ip:port",
    body_len, seq) in arrival order."""

    kind = "origin"

    def __init__(self, fleet, name, port, tls=False):
        self.request_log = os.path.join(fleet.tmp, name + ".requests.jsonl")
        extra = ["--name", name, "--log", self.request_log]
        self.tls = tls
        self.cert = self.key = None
        if tls:
            self.cert, self.key = _self_signed_cert(fleet.tmp, name)
            extra += ["--tls-cert", self.cert, "--tls-key", self.key]
        super().__init__(fleet, name, "origin.py", port, extra)

    def url(self, path="/"):
        """http://127.0.0.1:PORT/..., or https://localhost:PORT/... (the
        certificate's name) for a TLS origin."""
        if self.tls:
            return "https://localhost:%d%s" % (self.port, path)
        return super().url(path)

    def requests(self):
        out = []
        try:
            with open(self.request_log) as f:
                for line in f:
                    line = line.strip()
                    if line:
                        out.append(json.loads(line))
        except FileNotFoundError:
            pass
        return out

    def header(self, request, name):
        """Value of header <name> (case-insensitive) in a recorded request."""
        for k, v in request["headers"]:
            if k.lower() == name.lower():
                return v
        return None


def _self_signed_cert(directory, name):
    """A fresh self-signed RSA certificate for CN=localhost (one day) and
    its key, written into <directory>. Returns (cert path, key path)."""
    cert = os.path.join(directory, name + ".cert.pem")
    key = os.path.join(directory, name + ".key.pem")
    p = subprocess.run([_require_tool("openssl"), "req", "-x509", "-newkey", "rsa:2048",
                        "-nodes", "-subj", "/CN=localhost", "-addext",
                        "subjectAltName=DNS:localhost,IP:127.0.0.1", "-days", "1",
                        "-keyout", key, "-out", cert],
                       capture_output=True, timeout=60, env=_clean_env())
    if p.returncode != 0:
        raise HarnessError("openssl req failed: %s" % p.stderr.decode(errors="replace"))
    return cert, key


def _listen_port(addr):
    """Port of a "host:port" / "[v6]:port" listener string, or None."""
    if not addr:
        return None
    try:
        return int(addr.rsplit(":", 1)[1])
    except (IndexError, ValueError):
        return None


def _listen_host(addr):
    host = addr.rsplit(":", 1)[0].strip("[]")
    return host or "127.0.0.1"


def _wait_ports(proc, ports, timeout, host="127.0.0.1"):
    def ready():
        if proc.popen.poll() is not None:
            raise _EarlyExit()
        return all(port_open(p, host) for p in ports)
    try:
        wait_until(ready, timeout, "%s to accept connections on %s" % (proc.name, ports))
    except _EarlyExit:
        proc.observed = True
        raise HarnessError("%s exited early with code %s before listening:\n%s" % (
            proc.name, proc.popen.returncode, tail(proc.log_text(), 40))) from None
    except HarnessError as e:
        raise HarnessError("%s\nlog tail:\n%s" % (e, tail(proc.log_text(), 40))) from None


class _EarlyExit(StopWaiting):
    pass


class PfBinary(Proc):
    """A proxyfleet-node or proxyfleet-controller. Attributes: .config (the
    dict written), .config_path, .port (node proxy listener; None for the
    controller), .admin_port (None when no admin listener), .id."""

    def __init__(self, fleet, kind, name, binary, config, args=(), env=None):
        self.kind = kind
        self.config = config
        self.config_path = os.path.join(fleet.tmp, name + ".json")
        with open(self.config_path, "w") as f:
            json.dump(config, f, indent=2)
        section = config.get(kind, {})
        self.id = section.get("id", name)
        if kind == "node":
            self.listen = section.get("listen", "127.0.0.1:3128")
            self.port = _listen_port(self.listen)
            self.admin_listen = section.get("admin_listen", "127.0.0.1:3180")
        else:
            self.listen = None
            self.port = None
            self.admin_listen = section.get("admin_listen", "")
        self.admin_port = _listen_port(self.admin_listen)
        # Under PF_VALGRIND one valgrind log per run (%p: a restart is a new pid).
        self.valgrind_runs = []   # [(log path, Popen)]
        self._vg_log = os.path.join(fleet.tmp, name + ".valgrind.%p.log")
        argv = (_valgrind_argv(binary, self._vg_log)
                + [binary, "--config", self.config_path] + list(args))
        super().__init__(fleet, name, argv, os.path.join(fleet.tmp, name + ".log"), env=env)

    def _spawn(self):
        super()._spawn()
        if "--log-file=" + self._vg_log in self.argv:
            self.valgrind_runs.append((self._vg_log.replace("%p", str(self.popen.pid)),
                                       self.popen))

    @property
    def proxy_url(self):
        """"http://127.0.0.1:PORT", for curl -x."""
        return "http://127.0.0.1:%d" % self.port

    def start(self, timeout=READY_TIMEOUT_S, wait_ready=True):
        self._spawn()
        if wait_ready:
            ports = [p for p in (self.port, self.admin_port) if p]
            if ports:
                _wait_ports(self, ports, timeout)
            else:
                time.sleep(0.3)
                if self.popen.poll() is not None:
                    self.observed = True
                    raise HarnessError("%s exited early with code %s:\n%s" % (
                        self.name, self.popen.returncode, tail(self.log_text(), 40)))
        return self

    def stop(self, check=True, timeout=STOP_TIMEOUT_S):
        """SIGTERM and wait; returns the exit code. With <check>, a non-zero
        code or a timeout raises HarnessError."""
        rc, killed = self._terminate(timeout)
        self.observed = True
        if check and killed:
            raise HarnessError("%s did not exit within %.0fs of SIGTERM:\n%s"
                               % (self.name, timeout * TIMEOUT_SCALE, tail(self.log_text())))
        if check and rc != 0:
            raise HarnessError("%s exited with code %s on SIGTERM:\n%s"
                               % (self.name, rc, tail(self.log_text())))
        return rc

    def restart(self, timeout=READY_TIMEOUT_S):
        """stop() then start() with the same config and log file."""
        self.stop()
        return self.start(timeout)

    def admin(self, path="/metrics", timeout=5.0):
        """GET on the admin listener: (status, body, headers)."""
        if not self.admin_port:
            raise HarnessError("%s has no admin listener" % self.name)
        return http_get("http://%s:%d%s" % (_listen_host(self.admin_listen), self.admin_port,
                                            path), timeout=timeout)

    def metrics(self):
        """/metrics parsed: {"name{labels}": value}."""
        status, body, _ = self.admin("/metrics")
        if status != 200:
            raise HarnessError("%s /metrics answered %s" % (self.name, status))
        return parse_metrics(body)

    def metric(self, name, default=0.0):
        """Sum of every sample of metric <name> (any labels)."""
        total, found = 0.0, False
        for k, v in self.metrics().items():
            if k == name or k.startswith(name + "{"):
                total += v
                found = True
        return total if found else default


# --------------------------------------------------------------------------
# the fleet

_live_fleets = set()


@atexit.register
def _kill_leftovers():
    for fl in list(_live_fleets):
        for p in fl.procs:
            with contextlib.suppress(Exception):
                if p.running():
                    os.kill(p.pid, signal.SIGCONT)
                    p.popen.kill()


class Fleet:
    """Per-test world: a temp dir and every process started in it.

    Fleet(testcase) registers its cleanup with testcase.addCleanup; Fleet()
    is used as a context manager instead. The most recently started Redis is
    .redis; start_node/start_controller point configs at it by default.

    Each Fleet writes a fresh credential key (.key_file, 64 hex chars, mode
    0600) and puts it into the redis section of every config it writes
    (redis.credential_key_file), so upstream passwords are sealed in Redis
    as in production. Opt out with Fleet(..., credential_key=False), or per
    binary with {"redis": {"credential_key_file": ""}}; new_key_file()
    makes another key (e.g. a node with the wrong one)."""

    def __init__(self, testcase=None, prefix="pf", credential_key=True):
        self.testcase = testcase
        tname = testcase.id().split(".")[-1] if testcase else "fleet"
        self.tmp = tempfile.mkdtemp(prefix="pf-%s-" % re.sub(r"[^A-Za-z0-9_.-]", "_", tname))
        self.procs = []
        self.secrets = set()
        self.redis = None
        self.prefix = prefix
        self.keys = Keys(prefix)
        self._names = {}
        self._run_logs = []
        self._vg_run_logs = []   # run_binary's valgrind logs: [(path, exit code)]
        self._closed = False
        self.key_file = self.new_key_file() if credential_key else None
        _live_fleets.add(self)
        if testcase is not None:
            testcase.addCleanup(self.close)

    def __enter__(self):
        return self

    def __exit__(self, et, ev, tb):
        self.close(test_failed=et is not None)
        return False

    # -- names, secrets -----------------------------------------------------

    def _name(self, base):
        n = self._names.get(base, 0) + 1
        self._names[base] = n
        return base if n == 1 else "%s%d" % (base, n)

    def _unique(self, name):
        if any(p.name == name for p in self.procs):
            raise HarnessError("a process named %r already exists in this fleet" % name)
        return name

    def secret(self, value):
        """Registers <value> as a secret that must never appear in any binary
        log. Returns <value> (so: url = "...?key=" + fleet.secret("k-123"))."""
        if value:
            self.secrets.add(str(value))
        return value

    def _mask_secrets(self, text):
        """<text> with every registered secret replaced: what the harness
        prints (log tails, problems) must not leak what it checks for."""
        for v in sorted(self.secrets, key=len, reverse=True):
            text = text.replace(v, "<secret %d chars>" % len(v))
        return text

    def _auto_secret(self, value):
        if value and len(str(value)) >= 6:
            self.secrets.add(str(value))

    def _collect_secrets(self, config):
        node = config.get("node", {})
        for u in node.get("users", []) or []:
            if isinstance(u, dict):
                self._auto_secret(u.get("pass"))
        ctl = config.get("controller", {})
        for p in ctl.get("providers", []) or []:
            if not isinstance(p, dict):
                continue
            for u in p.get("upstreams", []) or []:
                if isinstance(u, str):
                    try:
                        pw = urllib.parse.urlsplit(u).password
                    except ValueError:
                        pw = None
                    self._auto_secret(pw and urllib.parse.unquote(pw))
        url = config.get("redis", {}).get("url", "")
        try:
            # {"env": ..} or {"file": ..}: the test registers what it holds
            pw = urllib.parse.urlsplit(url).password if isinstance(url, str) else None
        except ValueError:
            pw = None
        self._auto_secret(pw)

    def new_key_file(self, name=None):
        """Writes a new random credential key file (64 hex chars and a
        newline, mode 0600) into the temp dir and returns its path; the key
        is registered as a secret."""
        path = os.path.join(self.tmp, name or self._name("credential") + ".key")
        key = pysecrets.token_hex(32)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(key + "\n")
        self.secret(key)
        return path

    def seal_record(self, record):
        """<record> (a pool record: dict or JSON text, clear "pass") as the
        controller publishes it with this fleet's credential key: JSON text
        with "pass_sealed" (tests/tools/pf_seal.c, the real common/seal code).
        Tests that write a snapshot into Redis by hand use it, so no upstream
        password sits in clear in Redis. Without a key: the record as is."""
        text = record if isinstance(record, str) else json.dumps(record)
        if not self.key_file or '"pass"' not in text:
            return text
        tool = os.environ.get("PF_SEAL_BIN")
        if not tool or not os.path.exists(tool):
            raise HarnessError("PF_SEAL_BIN is not set or missing (%r): run the test "
                               "through ctest, which builds tests/tools/pf_seal.c" % tool)
        self._auto_secret(json.loads(text).get("pass"))
        p = subprocess.run([tool, self.key_file], input=(text + "\n").encode(),
                           capture_output=True, timeout=10, env=_clean_env())
        if p.returncode != 0:
            raise HarnessError("pf-seal failed (%d): %s" % (p.returncode,
                                                           p.stderr.decode(errors="replace")))
        return p.stdout.decode().strip()

    # -- starting things ------------------------------------------------------

    def start_redis(self, name=None, port=None, args=(), replicaof=None, auth=None):
        """Starts an empty redis-server on a free port (or <port>) and makes
        it the fleet's default Redis (unless it is a replica). <args> are
        extra redis-server options (e.g. ["--requirepass", pw]); <replicaof>
        a Redis to replicate; <auth> what .cmd/.cli authenticate with (a
        password or a (user, password) pair). Fails loudly if redis-server
        is not installed."""
        extra = list(args)
        if replicaof is not None:
            extra += ["--replicaof", "127.0.0.1", str(replicaof.port)]
        r = Redis(self, self._unique(name or self._name("redis")), port or free_port(), extra)
        r.auth = auth
        self.procs.append(r)
        r.start()
        if replicaof is None:
            self.redis = r
        return r

    def start_replica(self, master, name=None, args=(), auth=None):
        """A redis-server replicating <master>, waited for until its link
        to the master is up and the initial sync done (<args>, <auth> as
        for start_redis; a master with a password needs --masterauth)."""
        r = self.start_redis(name or self._name("replica"), args=args, replicaof=master,
                             auth=auth)

        def synced():
            info = r.cmd("INFO", "replication")
            return "master_link_status:up" in info and "master_sync_in_progress:0" in info
        wait_until(synced, 15, "%s to sync from %s" % (r.name, master.name))
        return r

    def start_sentinel(self, master, name=None, **kw):
        """A redis-sentinel monitoring <master> (see Sentinel for the
        keywords: master_name "pfmaster", quorum 2, down_after_ms 1000,
        failover_timeout_ms 3000, requirepass, auth). Fails loudly if
        redis-sentinel (Debian package redis-sentinel) is missing."""
        s = Sentinel(self, self._unique(name or self._name("sentinel")), free_port(), master,
                     **kw)
        self.procs.append(s)
        return s.start()

    def start_sentinels(self, master, n=3, **kw):
        """<n> sentinels on <master>, waited for until each knows the
        replicas and the other sentinels (so a failover can start)."""
        ss = [self.start_sentinel(master, **kw) for _ in range(n)]

        def known():
            for s in ss:
                info = s.cmd("SENTINEL", "master", s.master_name)
                d = dict(zip(info[0::2], info[1::2]))
                if int(d.get("num-other-sentinels", 0)) < n - 1:
                    return False
            return True
        wait_until(known, 30, "the %d sentinels to discover each other" % n)
        return ss

    def sentinel_redis_config(self, sentinels, master_name="pfmaster", url=None, **extra):
        """The "redis" config section of a binary behind <sentinels>: their
        addresses, <master_name>, <url> (credentials and db; default
        redis://127.0.0.1/0, whose host is not used) and <extra> keys."""
        cfg = {"url": url or "redis://127.0.0.1/0", "prefix": self.prefix,
               "sentinels": [s.addr for s in sentinels], "master_name": master_name}
        if self.key_file:
            cfg["credential_key_file"] = self.key_file
        if extra.get("sentinel_password"):
            self.secret(extra["sentinel_password"])
        cfg.update(extra)
        return cfg

    def start_fake_provider(self, name=None):
        fp = FakeProvider(self, self._unique(name or self._name("provider")), free_port())
        self.procs.append(fp)
        return fp.start()

    def start_origin(self, name=None, tls=False):
        """Starts tests/origin.py; <tls> serves HTTPS with a self-signed
        certificate for localhost generated in the temp dir (.cert, .key;
        .url() then gives https://localhost:PORT/...)."""
        o = Origin(self, self._unique(name or self._name("origin")), free_port(), tls=tls)
        self.procs.append(o)
        return o.start()

    def _binary(self, env_name):
        path = os.environ.get(env_name)
        if not path:
            raise HarnessError("%s is not set: run the integration tests through ctest "
                               "(or export it to the built binary)" % env_name)
        if not (os.path.isfile(path) and os.access(path, os.X_OK)):
            raise HarnessError("%s=%s is not an executable file (build first)" % (env_name, path))
        return path

    def _base_config(self, redis):
        r = redis if redis is not None else self.redis
        cfg = {"log": {"level": "debug"}}
        if r is not None:
            cfg["redis"] = {"url": r.url, "prefix": self.prefix}
            if self.key_file:
                cfg["redis"]["credential_key_file"] = self.key_file
        return cfg

    def node_config(self, config=None, name="node", redis=None):
        """The config start_node would write: defaults merged with <config>
        (node.upstream_allow_private is true: test upstreams are on loopback)."""
        base = self._base_config(redis)
        base["node"] = {
            "id": name,
            "listen": "127.0.0.1:%d" % free_port(),
            "admin_listen": "127.0.0.1:%d" % free_port(),
            "report_interval_ms": 500,
            # Origins and peers listen on random ports; tests of the port
            # policy set their own list.
            "connect_ports": [],
            # Every upstream a test starts listens on loopback, which the
            # node's upstream policy refuses by default (a poisoned pool
            # must not send nodes to loopback). Tests of that policy set
            # their own value.
            "upstream_allow_private": True,
        }
        return deep_merge(base, config or {})

    def controller_config(self, config=None, name="controller", redis=None):
        base = self._base_config(redis)
        base["controller"] = {
            "id": name,
            "admin_listen": "127.0.0.1:%d" % free_port(),
            "poll_interval_ms": 500,
            "heartbeat_interval_ms": 500,
        }
        return deep_merge(base, config or {})

    def start_node(self, config=None, name=None, redis=None, args=(), env=None,
                   wait_ready=True, timeout=READY_TIMEOUT_S, nofile=None):
        """Starts proxyfleet-node. <config> is merged over the defaults:
        log.level debug; redis.url/prefix of the fleet's Redis (or <redis>);
        node.id = <name>; node.listen and node.admin_listen on free ports;
        node.report_interval_ms 500. Waits until listen and admin ports
        accept connections. <nofile> sets the node's RLIMIT_NOFILE (soft and
        hard, as `prlimit --nofile=N:N`). Returns a PfBinary."""
        name = self._unique(name or self._name("node"))
        cfg = self.node_config(config, name, redis)
        self._collect_secrets(cfg)
        b = PfBinary(self, "node", name, self._binary("PF_NODE_BIN"), cfg, args, env)
        b.nofile = nofile
        self.procs.append(b)
        return b.start(timeout, wait_ready)

    def start_controller(self, config=None, name=None, redis=None, args=(), env=None,
                         wait_ready=True, timeout=READY_TIMEOUT_S):
        """Starts proxyfleet-controller. Defaults: log.level debug, redis of
        the fleet, controller.id = <name>, admin_listen on a free port,
        poll_interval_ms 500, heartbeat_interval_ms 500. Waits for the admin
        port (set "admin_listen": "" to only check it stays up 0.3 s)."""
        name = self._unique(name or self._name("controller"))
        cfg = self.controller_config(config, name, redis)
        self._collect_secrets(cfg)
        b = PfBinary(self, "controller", name, self._binary("PF_CONTROLLER_BIN"), cfg, args, env)
        self.procs.append(b)
        return b.start(timeout, wait_ready)

    def direct_upstream_node(self, name=None, users=None, config=None, **node_overrides):
        """A node in "direct" mode that may reach 127.0.0.0/8 (the default
        policy denies loopback destinations): a real upstream proxy for
        pool-mode nodes. <users> is a list of {"user","pass"} dicts or
        (user, pass) tuples. No Redis section is needed in direct mode."""
        node = {"mode": "direct", "destination_allow": ["127.0.0.0/8"]}
        if users:
            node["users"] = [u if isinstance(u, dict) else {"user": u[0], "pass": u[1]}
                             for u in users]
        node.update(node_overrides)
        cfg = deep_merge({"node": node}, config or {})
        return self.start_node(cfg, name=name or self._name("upstream"))

    def run_binary(self, kind, config=None, args=(), raw_config=None, env=None, timeout=20,
                   merge_defaults=False):
        """Runs a binary to completion (e.g. args=["--check-config"]) and
        returns (exit code, combined output). <config> is written as JSON
        (merged with defaults only if <merge_defaults>); <raw_config> (str)
        is written verbatim instead. The output is scanned like any log."""
        env_name = "PF_NODE_BIN" if kind == "node" else "PF_CONTROLLER_BIN"
        binary = self._binary(env_name)
        name = self._name("run-" + kind)
        path = os.path.join(self.tmp, name + ".json")
        with open(path, "w") as f:
            if raw_config is not None:
                f.write(raw_config)
            else:
                cfg = config or {}
                if merge_defaults:
                    cfg = (self.node_config if kind == "node" else self.controller_config)(cfg)
                self._collect_secrets(cfg)
                json.dump(cfg, f, indent=2)
        log_path = os.path.join(self.tmp, name + ".log")
        vg_log = os.path.join(self.tmp, name + ".valgrind.log")
        vg = _valgrind_argv(binary, vg_log)
        timeout *= TIMEOUT_SCALE
        with open(log_path, "wb") as logf:
            try:
                p = subprocess.run(vg + [binary, "--config", path] + list(args), stdout=logf,
                                   stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   env=_clean_env(env), timeout=timeout,
                                   preexec_fn=_pdeathsig)
            except subprocess.TimeoutExpired:
                raise HarnessError("%s %s did not exit within %ss" % (kind, args, timeout))
        self._run_logs.append(log_path)
        if vg:
            self._vg_run_logs.append((vg_log, p.returncode))
        with open(log_path, "rb") as f:
            return p.returncode, f.read().decode(errors="replace")

    # -- cleanup --------------------------------------------------------------

    def binaries(self):
        return [p for p in self.procs if isinstance(p, PfBinary)]

    def _test_failed(self):
        tc = self.testcase
        outcome = getattr(tc, "_outcome", None)
        if outcome is None:
            return False
        if getattr(outcome, "success", True) is False:
            return True
        result = getattr(outcome, "result", None)
        if result is not None:
            for lst in (getattr(result, "failures", []), getattr(result, "errors", [])):
                for t, _ in lst:
                    if t is tc:
                        return True
        return False

    def check_logs(self):
        """Returns a list of problems found in the binaries' logs so far
        (sanitizer reports, leaked secrets)."""
        problems = []
        logs = [(b.name, b.log_path) for b in self.binaries()]
        logs += [(os.path.basename(p), p) for p in self._run_logs]
        for name, path in logs:
            try:
                with open(path, "rb") as f:
                    text = f.read().decode(errors="replace")
            except FileNotFoundError:
                continue
            lines = text.splitlines()
            for i, line in enumerate(lines):
                if any(pat in line for pat in SANITIZER_PATTERNS):
                    ctx = "\n".join(lines[max(0, i - 2): i + 40])
                    for sec in self.secrets:
                        ctx = ctx.replace(sec, "<SECRET>")
                    problems.append("%s: sanitizer report in %s:\n%s" % (name, path, ctx))
                    break
            for s in sorted(self.secrets):
                for i, line in enumerate(lines):
                    if s in line:
                        problems.append("%s: a configured secret (%d chars, starts %r) "
                                        "appears in its log, line %d: %s"
                                        % (name, len(s), s[:2], i + 1,
                                           line.replace(s, "<SECRET>")))
                        break
        problems += self._check_valgrind_logs()
        return problems

    def _check_valgrind_logs(self):
        """Problems in the valgrind logs of every binary run (PF_VALGRIND=1).
        A run must have written its summary unless it was killed by a signal
        (a test's SIGKILL) or is still running."""
        runs = [(p, rc) for p, rc in self._vg_run_logs]
        for b in self.binaries():
            for path, popen in b.valgrind_runs:
                runs.append((path, popen.poll()))
        problems = []
        for path, rc in runs:
            for prob in valgrind_log_problems(path, exited=rc is not None and rc >= 0):
                for sec in self.secrets:
                    prob = prob.replace(sec, "<SECRET>")
                problems.append(prob)
        return problems

    def close(self, test_failed=None):
        """Stops everything and runs the checks; raises HarnessError (fails
        the test) when a check fails. Idempotent."""
        if self._closed:
            return
        self._closed = True
        _live_fleets.discard(self)
        problems = []
        # Binaries first (newest first), while Redis is still up.
        for b in reversed(self.binaries()):
            if b.popen is None:
                continue
            if b.popen.poll() is not None:
                rc = b.popen.returncode
                if rc != 0 and not b.observed:
                    problems.append("%s exited on its own with code %s during the test:\n%s"
                                    % (b.name, rc, tail(b.log_text(), 40)))
                elif rc != 0 and b.term_sent and not b.observed:
                    problems.append("%s exited with code %s after SIGTERM" % (b.name, rc))
                continue
            rc, killed = b._terminate()
            if killed:
                problems.append("%s did not exit within %.0fs of SIGTERM (killed):\n%s"
                                % (b.name, STOP_TIMEOUT_S * TIMEOUT_SCALE,
                                   tail(b.log_text(), 40)))
            elif rc != 0:
                problems.append("%s exited with code %s on SIGTERM:\n%s"
                                % (b.name, rc, tail(b.log_text(), 40)))
        keep_tmp = os.environ.get("PF_KEEP_TMP") == "1"
        for p in reversed(self.procs):
            if isinstance(p, PfBinary):
                continue
            if keep_tmp and isinstance(p, Redis) and p.running():
                # dump.rdb in its dir: the global secret scan reads every
                # value the fleet wrote (tests/secret_scan.py)
                with contextlib.suppress(Exception):
                    p.cmd("SAVE", timeout=10)
            with contextlib.suppress(Exception):
                p._terminate(timeout=5)
        problems += self.check_logs()
        if test_failed is None:
            test_failed = self._test_failed()
        keep = bool(problems) or test_failed or os.environ.get("PF_KEEP_TMP") == "1"
        problems = [self._mask_secrets(m) for m in problems]
        if problems or test_failed:
            for b in self.binaries():
                sys.stderr.write("\n----- %s (%s) log tail -----\n%s\n"
                                 % (b.name, b.log_path,
                                    self._mask_secrets(tail(b.log_text(), 60))))
        if keep:
            sys.stderr.write("pf_harness: kept %s\n" % self.tmp)
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)
        if problems:
            raise HarnessError("fleet checks failed:\n\n" + "\n\n".join(problems))


class FleetTestCase:
    """Mixin: class T(FleetTestCase, unittest.TestCase) gets self.fleet."""

    def setUp(self):
        super().setUp()
        self.fleet = Fleet(self)
