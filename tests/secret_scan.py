#!/usr/bin/env python3
"""Global secret check after a test run: greps logs (and optionally a Redis
dump) for every password/secret that the test sources configure.

    python3 tests/secret_scan.py [options] PATH [PATH ...]
    python3 tests/secret_scan.py --self-test

PATH is a log file or a directory scanned recursively. The harness
(tests/integration/pf_harness.py) writes each test's logs to its own
temp dir, tempfile.mkdtemp(prefix="pf-<test>-") under $TMPDIR (/tmp), and
deletes it after a passing test; PF_KEEP_TMP=1 keeps every one. So, for a
full run:

    mkdir -p /tmp/pf-run && TMPDIR=/tmp/pf-run PF_KEEP_TMP=1 ctest -L 'integration|fault'
    python3 tests/secret_scan.py /tmp/pf-run build/Testing/Temporary

Which secrets (the rule; --list shows what was collected and from where):
every string literal, in tests/**/*.py (this scanner and its test aside),
tests/**/*.json and docker/** (--source changes the roots), that is
  1. the value of a "pass" or "password" key: a dict literal or a JSON
     object, or "pass": "..." written inside a string (raw JSON in Python);
  2. an argument of a call to secret(...) (fleet.secret("k-1") or
     f.secret(NAME)); a NAME argument stands for every string literal
     assigned to that name in the same file;
  3. assigned to a name whose parts (split on "_") include PASS, PASSWORD,
     PASSWD, PW, PWD, SECRET or TOKEN, or that ends in API_KEY/APIKEY
     (case-insensitive; `USER, PASS = "alice", "s3cr3t-alice"` counts);
  4. the password of a URL with credentials (scheme://user:PASS@host);
  5. the second element of ("user", "pass") pairs passed as a keyword
     argument whose name ends in "users" (users=[...], upstream_users=...);
plus every --secret VALUE. Values shorter than 6 characters (the harness's
own threshold) and the generic words password/secret/passwd are ignored:
they would match ordinary log text.

What is scanned: in directories, files named *.log, *.jsonl, *.out, *.err,
*.txt and LastTest*.log (--all-files: every file); the configs the harness
writes (*.json) are inputs holding the secrets on purpose and are skipped.
The access log of tests/fake_provider.py (first line "fake_provider: ...")
is skipped unless --provider-logs: that fake is the provider API, the
intended receiver of the API keys the controller sends. --exclude GLOB
skips more file names. --redis-dump FILE scans an RDB file, raw and with its LZF-compressed strings
expanded (Redis compresses strings over 20 bytes, which can split a secret).

--encoded also looks for each secret percent-encoded (as a URL query or
form would carry it) and base64-encoded (as in an Authorization header,
whatever its alignment inside a longer base64 text): encoded_forms().
tests/integration/test_provider_secrets.py uses the same functions over
one fleet's logs, files and Redis keys.

Output: one line per hit, "file:line: secret <masked> (from source:line)";
secrets are never printed in full. Exit 0 when clean, 1 on any hit, 2 on
a usage error (no path found, nothing collected)."""

import argparse
import ast
import fnmatch
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
MIN_LEN = 6
STOPWORDS = {"password", "secret", "passwd"}
SECRET_KEYS = {"pass", "password"}
NAME_PARTS = {"pass", "password", "passwd", "pw", "pwd", "secret", "token"}
LOG_GLOBS = ("*.log", "*.jsonl", "*.out", "*.err", "*.txt", "LastTest*.log")
SELF = {os.path.join(HERE, "secret_scan.py"), os.path.join(HERE, "fault", "test_secret_scan.py")}
_EMBEDDED = re.compile(r"""["'](?:pass|password)["']\s*:\s*["']([^"'\\]+)["']""")
_URLCRED = re.compile(r"[a-z][a-z0-9+.-]*://[^/\s:@\"']*:([^/\s@\"']+)@", re.I)


# --------------------------------------------------------------------------
# collecting the secrets

def _secret_name(name):
    n = name.lower()
    if n.endswith("api_key") or n.endswith("apikey"):
        return True
    return bool(NAME_PARTS & set(n.split("_")))


def _str(node):
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


class Collector:
    """Secrets found so far: {value: "source:line"} (first place seen)."""

    def __init__(self):
        self.found = {}
        self.ignored = {}

    def add(self, value, where):
        if not isinstance(value, str):
            return
        if len(value) < MIN_LEN or value.lower() in STOPWORDS:
            self.ignored.setdefault(value, where)
            return
        self.found.setdefault(value, where)

    def add_from_text(self, text, where):
        """Rules 1 (embedded JSON) and 4 (URL credentials) on free text."""
        for m in _EMBEDDED.finditer(text):
            self.add(m.group(1), where)
        for m in _URLCRED.finditer(text):
            self.add(urllib.parse.unquote(m.group(1)), where)

    def python_file(self, path, rel):
        try:
            with open(path, encoding="utf-8", errors="replace") as f:
                src = f.read()
            tree = ast.parse(src, path)
        except (OSError, SyntaxError, ValueError):
            return
        assigned = {}                       # name -> [(value, line)]
        for node in ast.walk(tree):
            if isinstance(node, (ast.Assign, ast.AnnAssign)):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                for t in targets:
                    pairs = []
                    if isinstance(t, ast.Name):
                        pairs = [(t.id, node.value)]
                    elif isinstance(t, (ast.Tuple, ast.List)) and isinstance(node.value,
                                                                             (ast.Tuple, ast.List)):
                        pairs = [(e.id, v) for e, v in zip(t.elts, node.value.elts)
                                 if isinstance(e, ast.Name)]
                    for name, v in pairs:
                        s = _str(v)
                        if s is not None:
                            assigned.setdefault(name, []).append((s, node.lineno))
        for node in ast.walk(tree):
            where = "%s:%d" % (rel, getattr(node, "lineno", 0))
            if isinstance(node, ast.Dict):                                   # rule 1
                for k, v in zip(node.keys, node.values):
                    if k is not None and _str(k) in SECRET_KEYS and _str(v) is not None:
                        self.add(_str(v), where)
            elif isinstance(node, ast.Call):
                fn = node.func
                fname = fn.attr if isinstance(fn, ast.Attribute) else getattr(fn, "id", None)
                if fname == "secret" and node.args:                          # rule 2
                    a = node.args[0]
                    if _str(a) is not None:
                        self.add(_str(a), where)
                    elif isinstance(a, ast.Name):
                        for s, line in assigned.get(a.id, []):
                            self.add(s, "%s:%d" % (rel, line))
                for kw in node.keywords:
                    if kw.arg in SECRET_KEYS and _str(kw.value) is not None:
                        self.add(_str(kw.value), where)
                    if (kw.arg or "").endswith("users") and isinstance(kw.value,
                                                                     (ast.List, ast.Tuple)):
                        for e in kw.value.elts:                               # rule 5
                            if isinstance(e, ast.Tuple) and len(e.elts) == 2:
                                self.add(_str(e.elts[1]), where)
            elif isinstance(node, ast.Constant) and isinstance(node.value, str):
                self.add_from_text(node.value, where)                        # rules 1, 4
        for name, vals in assigned.items():                                  # rule 3
            if _secret_name(name):
                for s, line in vals:
                    self.add(s, "%s:%d" % (rel, line))

    def json_value(self, obj, rel):
        if isinstance(obj, dict):
            for k, v in obj.items():
                if k in SECRET_KEYS and isinstance(v, str):
                    self.add(v, rel)
                else:
                    self.json_value(v, rel)
        elif isinstance(obj, list):
            for v in obj:
                self.json_value(v, rel)
        elif isinstance(obj, str):
            self.add_from_text(obj, rel)

    def text_file(self, path, rel):
        try:
            with open(path, encoding="utf-8", errors="replace") as f:
                text = f.read()
        except OSError:
            return
        if path.endswith(".json"):
            try:
                self.json_value(json.loads(text), rel)
                return
            except ValueError:
                pass
        for i, line in enumerate(text.splitlines(), 1):
            self.add_from_text(line, "%s:%d" % (rel, i))


def collect(roots, base=REPO):
    """Walks <roots> and applies the rules; returns a Collector."""
    c = Collector()
    for root in roots:
        if not os.path.exists(root):
            continue
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = [d for d in dirnames if d not in ("__pycache__", ".git")]
            for fn in sorted(filenames):
                path = os.path.join(dirpath, fn)
                if os.path.abspath(path) in SELF:
                    continue
                rel = os.path.relpath(path, base)
                if fn.endswith(".py"):
                    c.python_file(path, rel)
                elif fn.endswith((".json", ".yaml", ".yml", ".conf", ".cfg", ".env", ".ini")):
                    c.text_file(path, rel)
    return c


# --------------------------------------------------------------------------
# encoded forms

B64_CORE_MIN = 8     # base64 cores shorter than this would match by chance


def _b64_cores(data, alphabet_urlsafe):
    """The base64 text that depends only on <data>, for each of the three
    alignments <data> can have inside a longer encoded string."""
    import base64
    enc = base64.urlsafe_b64encode if alphabet_urlsafe else base64.b64encode
    out = []
    n = len(data)
    for k in range(3):
        text = enc(b"\0" * k + data).rstrip(b"=")
        start = -(-8 * k // 6)                 # ceil: chars touching the prefix dropped
        end = (8 * (k + n)) // 6               # floor: the char mixing in what follows dropped
        core = text[start:end]
        if len(core) >= B64_CORE_MIN:
            out.append(core)
    return out


def encoded_forms(secret):
    """[(label, bytes)] a leaked <secret> may take: in clear; percent-encoded
    (nothing safe, '/' safe, the form encoding with '+', lower-case hex);
    base64 and URL-safe base64 (the alignment-independent cores)."""
    import urllib.parse as up
    raw = secret.encode()
    forms = {("clear", raw)}
    for q in (up.quote(secret, safe=""), up.quote(secret, safe="/:@"), up.quote_plus(secret)):
        forms.add(("percent-encoded", q.encode()))
        forms.add(("percent-encoded", re.sub(r"%[0-9A-F]{2}", lambda m: m.group(0).lower(),
                                             q).encode()))
    for urlsafe in (False, True):
        for core in _b64_cores(raw, urlsafe):
            forms.add(("base64", core))
    return sorted(forms, key=lambda f: (f[0], f[1]))


def find_encoded(data, secrets):
    """[(secret, label)] of every secret of <secrets> (strs) found in bytes
    <data> in any of its encoded_forms()."""
    hits = []
    for s in secrets:
        for label, form in encoded_forms(s):
            if form in data:
                hits.append((s, label))
                break
    return hits


# --------------------------------------------------------------------------
# scanning

def mask(s):
    return "%s...(%d chars)" % (s[:2], len(s))


def _wanted(fn, all_files):
    return all_files or any(fnmatch.fnmatch(fn, g) for g in LOG_GLOBS)


PROVIDER_LOG_MARK = b"fake_provider: "


def scan_file(path, secrets, hits, provider_logs=False, skipped=None):
    """<secrets>: [(str, bytes)], each bytes a form to look for."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError:
        return
    if not provider_logs and data.startswith(PROVIDER_LOG_MARK):
        if skipped is not None:
            skipped.append(path)
        return
    for i, line in enumerate(data.split(b"\n"), 1):
        seen = set()
        for s, sb in secrets:
            if s not in seen and sb in line:
                hits.append("%s:%d: secret %s" % (path, i, s))
                seen.add(s)


def scan_paths(paths, secrets, all_files=False, exclude=(), provider_logs=False,
               skipped=None, counts=None):
    """Returns (hits, files scanned); <secrets> [(str, bytes)]; skipped
    provider logs are appended to <skipped>; counts["rdb"] (when <counts>
    is a dict) gets the number of Redis dumps among the files."""
    hits, n, nrdb = [], 0, 0
    for p in paths:
        if os.path.isfile(p):
            scan_file(p, secrets, hits, provider_logs, skipped)
            n += 1
            continue
        for dirpath, dirnames, filenames in os.walk(p):
            dirnames.sort()
            for fn in sorted(filenames):
                if any(fnmatch.fnmatch(fn, g) for g in exclude):
                    continue
                if fn.endswith(".rdb"):
                    # a Redis dump the harness saved (PF_KEEP_TMP=1): every
                    # value the fleet wrote, compressed strings included
                    scan_rdb(os.path.join(dirpath, fn), secrets, hits)
                    n += 1
                    nrdb += 1
                elif _wanted(fn, all_files):
                    scan_file(os.path.join(dirpath, fn), secrets, hits, provider_logs, skipped)
                    n += 1
    if counts is not None:
        counts["rdb"] = nrdb
    return hits, n


def lzf_decompress(data, out_len):
    """liblzf's lzf_decompress, as Redis uses it in RDB files. Returns
    bytes of exactly <out_len>, or None when <data> is not valid LZF."""
    out = bytearray()
    i, n = 0, len(data)
    while i < n:
        ctrl = data[i]
        i += 1
        if ctrl < 32:                                   # literal run
            ln = ctrl + 1
            if i + ln > n or len(out) + ln > out_len:
                return None
            out += data[i:i + ln]
            i += ln
        else:                                           # back reference
            ln = ctrl >> 5
            if ln == 7:
                if i >= n:
                    return None
                ln += data[i]
                i += 1
            if i >= n:
                return None
            ref = len(out) - ((ctrl & 0x1f) << 8) - data[i] - 1
            i += 1
            ln += 2
            if ref < 0 or len(out) + ln > out_len:
                return None
            for k in range(ln):
                out.append(out[ref + k])
    return bytes(out) if len(out) == out_len else None


def _rdb_len(data, i):
    """RDB length encoding at <i>: (length, next index) or (None, i)."""
    if i >= len(data):
        return None, i
    b = data[i]
    t = b >> 6
    if t == 0:
        return b & 0x3f, i + 1
    if t == 1 and i + 1 < len(data):
        return ((b & 0x3f) << 8) | data[i + 1], i + 2
    if b == 0x80 and i + 4 < len(data):
        return int.from_bytes(data[i + 1:i + 5], "big"), i + 5
    if b == 0x81 and i + 8 < len(data):
        return int.from_bytes(data[i + 1:i + 9], "big"), i + 9
    return None, i


def rdb_strings(data):
    """Every LZF-compressed string in an RDB image (encoding byte 0xC3,
    compressed length, plain length, data), expanded: [(offset, bytes)]."""
    out = []
    i = data.find(b"\xc3")
    while i >= 0:
        clen, j = _rdb_len(data, i + 1)
        ulen, j = _rdb_len(data, j) if clen is not None else (None, j)
        if clen and ulen and ulen < (64 << 20) and j + clen <= len(data):
            s = lzf_decompress(data[j:j + clen], ulen)
            if s is not None:
                out.append((i, s))
        i = data.find(b"\xc3", i + 1)
    return out


def scan_rdb(path, secrets, hits):
    with open(path, "rb") as f:
        data = f.read()
    seen = set()
    for s, sb in secrets:
        off = data.find(sb)
        if off >= 0:
            hits.append("%s:offset %d: secret %s" % (path, off, s))
            seen.add(s)
    for off, blob in rdb_strings(data):
        for s, sb in secrets:
            if s not in seen and sb in blob:
                hits.append("%s:offset %d (LZF string): secret %s" % (path, off, s))
                seen.add(s)


def run(paths, sources, extra, redis_dump=None, all_files=False, list_only=False, out=sys.stdout,
        exclude=(), provider_logs=False, min_files=0, min_rdb=0, encoded=False):
    """The whole check; returns the exit code."""
    c = collect(sources)
    for v in extra:
        c.add(v, "--secret")
    if list_only:
        for v, where in sorted(c.found.items(), key=lambda x: x[1]):
            out.write("%s  %s\n" % (where, mask(v)))
        for v, where in sorted(c.ignored.items(), key=lambda x: x[1]):
            out.write("%s  ignored (%s)\n" % (where, "short" if len(v) < MIN_LEN else "generic"))
        return 0
    if not c.found:
        out.write("secret_scan: no secret collected from %s\n" % ", ".join(sources))
        return 2
    missing = [p for p in paths if not os.path.exists(p)]
    if missing or (not paths and not redis_dump):
        out.write("secret_scan: nothing to scan (missing: %s)\n" % ", ".join(missing))
        return 2
    secrets = sorted(((v, v.encode()) for v in c.found), key=lambda x: (-len(x[0]), x[0]))
    if encoded:
        secrets = [(v, form) for v, _ in secrets for _, form in encoded_forms(v)]
    skipped = []
    counts = {}
    hits, nfiles = scan_paths(paths, secrets, all_files, exclude, provider_logs, skipped, counts)
    if redis_dump:
        if not os.path.isfile(redis_dump):
            out.write("secret_scan: no Redis dump at %s\n" % redis_dump)
            return 2
        scan_rdb(redis_dump, secrets, hits)
        nfiles += 1
    src = c.found
    for h in hits:
        head, _, s = h.rpartition(": secret ")
        out.write("%s: secret %s (from %s)\n" % (head, mask(s), src.get(s, "?")))
    out.write("secret_scan: %d secrets, %d files scanned (%d Redis dumps, %d fake provider logs "
              "skipped), %d hits\n" % (len(secrets), nfiles, counts.get("rdb", 0), len(skipped),
                                      len(hits)))
    if hits:
        return 1
    # a scan of (almost) nothing proves nothing: the run's logs went elsewhere
    if nfiles < min_files or counts.get("rdb", 0) < min_rdb:
        out.write("secret_scan: too little scanned: %d files (want >= %d), %d Redis dumps "
                  "(want >= %d)\n" % (nfiles, min_files, counts.get("rdb", 0), min_rdb))
        return 2
    return 0


# --------------------------------------------------------------------------
# self-test

def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _resp(port, *args):
    parts = [b"*%d\r\n" % len(args)]
    for a in args:
        b = a if isinstance(a, bytes) else str(a).encode()
        parts.append(b"$%d\r\n%s\r\n" % (len(b), b))
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(b"".join(parts))
        return s.recv(4096)


def self_test(out=sys.stdout):
    """Plants secrets and checks every rule and both scanners; returns 0 when
    all checks pass, 1 otherwise (each failed check is printed)."""
    import io
    fails = []

    def check(cond, what):
        out.write("%s %s\n" % ("ok  " if cond else "FAIL", what))
        if not cond:
            fails.append(what)

    with tempfile.TemporaryDirectory(prefix="pf-secret-scan-") as d:
        src = os.path.join(d, "src")
        logs = os.path.join(d, "logs")
        os.makedirs(src)
        os.makedirs(os.path.join(logs, "pf-test_x-abc"))
        planted = {
            "dict": "dict-pw-1a2b3c", "call": "call-SECRET-99", "name": "named-secret-77",
            "const": "const-pw-5150", "tuple": "tuple-pass-31", "url": "url-p@ss-42",
            "embedded": "embedded-pw-8", "users": "users-pair-pw", "json": "json-password-6",
            "apikey": "k-APIKEY-2718",
        }
        with open(os.path.join(src, "test_sample.py"), "w") as f:
            f.write(
                "USER, PASS = 'alice', %r\n"
                "UP_PASSWORD = %r\n"
                "API_KEY = %r\n"
                "def t(fleet, up):\n"
                "    cfg = {'node': {'users': [{'user': 'u', 'pass': %r}]}}\n"
                "    fleet.secret(%r)\n"
                "    k = %r\n"
                "    fleet.secret(k)\n"
                "    url = 'http://bob:%s@127.0.0.1:1/'\n"
                "    raw = '{\"pass\": \"%s\"}'\n"
                "    fleet.direct_upstream_node(users=[('carol', %r)])\n"
                "    short = {'pass': 'pw'}\n"
                "    generic = {'password': 'password'}\n"
                % (planted["tuple"], planted["const"], planted["apikey"], planted["dict"],
                   planted["call"], planted["name"], urllib.parse.quote(planted["url"], safe=""),
                   planted["embedded"], planted["users"]))
        with open(os.path.join(src, "conf.json"), "w") as f:
            json.dump({"redis": {"url": "redis://x"}, "node": {"users": [
                {"user": "j", "password": planted["json"]}]}}, f)
        c = collect([src], base=d)
        for kind, v in sorted(planted.items()):
            check(v in c.found, "rule collects the %s secret" % kind)
        check("pw" not in c.found and "password" not in c.found,
              "short and generic values are ignored")

        # a planted secret in a log, line 3; a clean log; a config (skipped)
        bad = os.path.join(logs, "pf-test_x-abc", "node.log")
        with open(bad, "w") as f:
            f.write("line one\nline two\nauth ok for %s here\nline four\n" % planted["call"])
        with open(os.path.join(logs, "pf-test_x-abc", "clean.log"), "w") as f:
            f.write("nothing to see\n" * 50)
        with open(os.path.join(logs, "pf-test_x-abc", "node.json"), "w") as f:
            f.write('{"pass": "%s"}\n' % planted["dict"])
        with open(os.path.join(logs, "pf-test_x-abc", "provider.log"), "w") as f:
            f.write("fake_provider: listening\nGET /list?key=%s\n" % planted["apikey"])
        buf = io.StringIO()
        rc = run([logs], [src], [], out=buf)
        text = buf.getvalue()
        check(rc == 1, "exit 1 on a planted secret (got %d)" % rc)
        check("%s:3: secret ca...(14 chars)" % bad in text, "hit reported as file:line")
        check(planted["call"] not in text, "the secret itself is never printed")
        check("clean.log" not in text and "node.json" not in text,
              "no hit in the clean log; configs are not scanned")
        check("provider.log" not in text and "1 fake provider logs skipped" in text,
              "the fake provider's access log is skipped")
        buf = io.StringIO()
        run([logs], [src], [], out=buf, provider_logs=True)
        check("provider.log:2: secret k-" in buf.getvalue(), "--provider-logs scans it")
        buf = io.StringIO()
        os.remove(bad)
        check(run([logs], [src], [], out=buf) == 0, "exit 0 once the log is clean")
        check(run([os.path.join(d, "nope")], [src], [], out=io.StringIO()) == 2,
              "exit 2 on a missing path")

        # a Redis dump whose secret Redis stored LZF-compressed
        rs = shutil.which("redis-server")
        check(rs is not None, "redis-server is installed (needed for the dump check)")
        if rs:
            rdir = os.path.join(d, "redis")
            os.makedirs(rdir)
            port = _free_port()
            p = subprocess.Popen([rs, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                                  "--appendonly", "no", "--dir", rdir, "--dbfilename",
                                  "dump.rdb", "--protected-mode", "no"],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            try:
                deadline = time.monotonic() + 10
                while time.monotonic() < deadline:
                    try:
                        if _resp(port, "PING").startswith(b"+PONG"):
                            break
                    except OSError:
                        time.sleep(0.05)
                # repeats inside the secret become LZF back references: the
                # whole secret is then not in the file as raw bytes
                dump_secret = "rdb-sec-rdb-sec-rdb-sec-77"
                rec = json.dumps({"scheme": "http", "host": "127.0.0.1", "port": 1,
                                  "user": "pfuser", "pass": dump_secret, "pad": "z" * 64})
                _resp(port, "HSET", "{pf}:v1:pool:upstreams", "http://127.0.0.1:1", rec)
                _resp(port, "SET", "plain-key", "short")
                check(_resp(port, "SAVE").startswith(b"+OK"), "redis SAVE")
            finally:
                p.terminate()
                p.wait(10)
            dump = os.path.join(rdir, "dump.rdb")
            with open(dump, "rb") as f:
                raw = f.read()
            check(dump_secret.encode() not in raw, "the dump holds the secret compressed only")
            buf = io.StringIO()
            rc = run([], [src], [dump_secret], redis_dump=dump, out=buf)
            check(rc == 1 and "LZF string" in buf.getvalue(),
                  "secret found in the Redis dump (rc %d: %s)" % (rc, buf.getvalue().strip()))

        # encoded forms: percent-encoded and base64 at every alignment
        import base64
        enc_secret = "pw/enc+ODED=42"
        for prefix in (b"", b"a", b"ab"):
            blob = b"Proxy-Authorization: Basic " + base64.b64encode(prefix + b"user:" +
                                                                    enc_secret.encode())
            check(find_encoded(blob, [enc_secret]) == [(enc_secret, "base64")],
                  "base64 found at alignment %d" % len(prefix))
        check(find_encoded(b"GET /list?key=pw%2Fenc%2BODED%3D42", [enc_secret]) ==
              [(enc_secret, "percent-encoded")], "percent-encoded found")
        check(find_encoded(b"key=pw%2fenc%2boded%3d42", [enc_secret]) == [],
              "a different secret (case of the letters) is not found")
        check(find_encoded(b"nothing to see", [enc_secret]) == [], "clean bytes pass")
        elog = os.path.join(logs, "pf-test_x-abc", "enc.log")
        with open(elog, "w") as f:
            f.write("auth %s\n" % base64.b64encode(b"u:" + planted["call"].encode()).decode())
        buf = io.StringIO()
        check(run([logs], [src], [], out=buf) == 0, "clear scan misses base64")
        buf = io.StringIO()
        check(run([logs], [src], [], out=buf, encoded=True) == 1 and "enc.log:1" in buf.getvalue(),
              "--encoded finds it")
        os.remove(elog)

        # the real sources: the rule finds secrets the tests are known to use
        real = collect([HERE])
        check(len(real.found) >= 5, "collects >= 5 secrets from tests/ (%d)" % len(real.found))
    out.write("self-test: %s\n" % ("PASSED" if not fails else "%d FAILED" % len(fails)))
    return 0 if not fails else 1


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("paths", nargs="*", help="log files or directories (recursive)")
    ap.add_argument("--source", action="append", default=None,
                    help="where to collect secrets (default: tests/ and docker/)")
    ap.add_argument("--secret", action="append", default=[], help="an extra secret value")
    ap.add_argument("--redis-dump", help="an RDB file to scan too")
    ap.add_argument("--all-files", action="store_true", help="scan every file, not only logs")
    ap.add_argument("--exclude", action="append", default=[], help="skip file names matching")
    ap.add_argument("--provider-logs", action="store_true",
                    help="also scan the fake provider's access logs")
    ap.add_argument("--list", action="store_true", help="list the collected secrets (masked)")
    ap.add_argument("--min-files", type=int, default=0,
                    help="fail (exit 2) when fewer files were scanned")
    ap.add_argument("--min-rdb", type=int, default=0,
                    help="fail (exit 2) when fewer Redis dumps were scanned")
    ap.add_argument("--encoded", action="store_true",
                    help="also find secrets percent-encoded or base64-encoded")
    ap.add_argument("--self-test", action="store_true", help="run the self-test and exit")
    a = ap.parse_args(argv)
    if a.self_test:
        return self_test()
    sources = a.source or [HERE, os.path.join(REPO, "docker")]
    return run(a.paths, sources, a.secret, a.redis_dump, a.all_files, a.list,
               exclude=a.exclude, provider_logs=a.provider_logs, min_files=a.min_files,
               min_rdb=a.min_rdb, encoded=a.encoded)


if __name__ == "__main__":
    sys.exit(main())
