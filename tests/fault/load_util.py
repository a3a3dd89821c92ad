"""wrk through a proxyfleet node, for tests/fault/test_load_faults.py.

wrk talks to the node's listener as if it were the origin; a small Lua
script makes every request absolute-form ("GET http://127.0.0.1:PORT/path"),
which is what a client of an HTTP proxy sends, and sets Host to the origin.
It also sends "Connection: close", so that every request is a new client
connection and a new upstream choice and dial: on a keep-alive connection
the node reuses its upstream connection, which pins each wrk connection to
one upstream and hides upstream faults from all the others.
Its done() hook prints one machine-readable line (WRKJSON {...}) beside
wrk's usual text; both are parsed and must agree.

wrk is a Debian package (`wrk`). When it is missing the test fails loudly
(never skips): scripts/test.sh must install it."""

import json
import os
import re
import shutil
import subprocess
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LUA = r"""
wrk.method = "GET"
wrk.path = "%(url)s"
wrk.headers["Host"] = "%(host)s"
wrk.headers["Connection"] = "close"

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "WRKJSON {\"requests\": %%d, \"duration_us\": %%d, \"connect\": %%d, \"read\": %%d, " ..
    "\"write\": %%d, \"status\": %%d, \"timeout\": %%d, \"p50_us\": %%d, \"p99_us\": %%d, " ..
    "\"max_us\": %%d}\n",
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(99), latency.max))
end
"""

_UNIT_US = {"us": 1.0, "ms": 1000.0, "s": 1e6, "m": 60e6}


def require_wrk():
    path = shutil.which("wrk")
    if not path:
        raise AssertionError("wrk is not installed: `apt-get install wrk` (Debian package "
                             "wrk; scripts/test.sh must list it). This test never skips.")
    return path


def write_script(directory, origin_url):
    """Writes the Lua script for GETs of <origin_url> through a proxy."""
    host = origin_url.split("/")[2]
    path = os.path.join(directory, "wrk-proxy.lua")
    with open(path, "w") as f:
        f.write(LUA % {"url": origin_url, "host": host})
    return path


def _dur_us(text):
    m = re.match(r"^([\d.]+)(us|ms|s|m)$", text)
    if not m:
        raise ValueError("bad wrk duration %r" % text)
    return float(m.group(1)) * _UNIT_US[m.group(2)]


def parse(output):
    """Parses wrk's text output (with --latency) and its WRKJSON line.
    Returns a dict: requests, duration_s, non2xx, socket (connect, read,
    write, timeout), errors (non2xx + socket errors), error_pct, p50_ms,
    p99_ms, max_ms, rps. Raises ValueError on output it cannot read."""
    m = re.search(r"^\s*(\d+) requests in ([\d.]+\w+),", output, re.M)
    if not m:
        raise ValueError("no 'N requests in' line in wrk output:\n" + output)
    text = {"requests": int(m.group(1)), "duration_s": _dur_us(m.group(2)) / 1e6}
    sock = {"connect": 0, "read": 0, "write": 0, "timeout": 0}
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    if m:
        sock = dict(zip(("connect", "read", "write", "timeout"), map(int, m.groups())))
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    text["non2xx"] = int(m.group(1)) if m else 0
    lat = dict(re.findall(r"^\s+(50|99)%\s+([\d.]+(?:us|ms|s|m))\s*$", output, re.M))
    m = re.search(r"^WRKJSON (\{.*\})\s*$", output, re.M)
    if not m:
        raise ValueError("no WRKJSON line in wrk output:\n" + output)
    js = json.loads(m.group(1))
    # The text and the Lua summary are the same counters: they must agree.
    if (js["requests"], js["status"]) != (text["requests"], text["non2xx"]) or \
            any(js[k] != sock[k] for k in sock):
        raise ValueError("wrk text and WRKJSON disagree: %r vs %r %r" % (js, text, sock))
    if "50" in lat and abs(_dur_us(lat["50"]) - js["p50_us"]) > max(0.02 * js["p50_us"], 20):
        raise ValueError("wrk p50 text %s vs %d us" % (lat["50"], js["p50_us"]))
    errors = text["non2xx"] + sum(sock.values())
    req = text["requests"]
    return {"requests": req, "duration_s": round(text["duration_s"], 2),
            "non2xx": text["non2xx"], "socket": sock, "errors": errors,
            "error_pct": round(100.0 * errors / req, 3) if req else 100.0,
            "p50_ms": round(js["p50_us"] / 1000, 2), "p99_ms": round(js["p99_us"] / 1000, 2),
            "max_ms": round(js["max_us"] / 1000, 2),
            "rps": round(req / text["duration_s"], 1) if text["duration_s"] else 0.0}


class Wrk:
    """One bounded wrk run in the background: start(), then result()."""

    def __init__(self, node_port, script, duration_s=5, connections=4, threads=1,
                 timeout_s=3):
        self.argv = [require_wrk(), "-t%d" % threads, "-c%d" % connections,
                     "-d%ds" % duration_s, "--timeout", "%ds" % timeout_s, "--latency",
                     "-s", script, "http://127.0.0.1:%d/" % node_port]
        self.duration_s = duration_s
        self.connections = connections
        self.popen = None
        self.t0 = None

    def start(self):
        env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
        self.popen = subprocess.Popen(self.argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                      stdin=subprocess.DEVNULL, env=env)
        self.t0 = time.monotonic()
        return self

    def result(self):
        """Waits (bounded: duration + 20 s) and returns parse() of the output."""
        try:
            out, _ = self.popen.communicate(timeout=self.duration_s + 20)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.communicate(timeout=5)
            raise AssertionError("wrk did not finish within %d s: %s"
                                 % (self.duration_s + 20, self.argv))
        out = out.decode(errors="replace")
        if self.popen.returncode != 0:
            raise AssertionError("wrk exited %d:\n%s" % (self.popen.returncode, out))
        r = parse(out)
        r["raw"] = out
        return r

    def kill(self):
        if self.popen is not None and self.popen.poll() is None:
            self.popen.kill()
            self.popen.communicate(timeout=5)


def markdown_table(rows):
    """rows: dicts with scenario, bound and a parse() result under "load"
    (and optionally "after"). Returns the markdown table as a string."""
    head = ("| scenario | requests | req/s | non-2xx | socket errors | error % | p50 ms | "
            "p99 ms | max ms | fault window: probes, failed, p50 / max ms | "
            "after the fault was detected | asserted bound |\n"
            "|---|---|---|---|---|---|---|---|---|---|---|---|\n")
    lines = []
    for r in rows:
        ld = r["load"]
        s = ld["socket"]
        sock = "%d (c%d r%d w%d t%d)" % (sum(s.values()), s["connect"], s["read"], s["write"],
                                         s["timeout"])
        after = r.get("after")
        after_txt = ("%d req, %d errors" % (after["requests"], after["errors"])) if after else "-"
        w = r.get("window")
        win_txt = ("%d, %d, %.1f / %.1f" % (w["probes"], w["failed"], w["p50_ms"], w["max_ms"])
                   if w and w["probes"] else "-")
        lines.append("| %s | %d | %.0f | %d | %s | %.3f | %.2f | %.2f | %.2f | %s | %s | %s |"
                     % (r["scenario"], ld["requests"], ld["rps"], ld["non2xx"], sock,
                        ld["error_pct"], ld["p50_ms"], ld["p99_ms"], ld["max_ms"], win_txt,
                        after_txt, r["bound"]))
    return head + "\n".join(lines) + "\n"


# -- a fast origin ---------------------------------------------------------------
# tests/origin.py writes a response head and body in two sends without
# TCP_NODELAY, which costs a delayed ACK (~40 ms) per keep-alive request:
# under wrk that, not the fleet, would be the latency measured. This one
# answers every GET with one buffered write (run as a separate process:
# python3 load_util.py --port PORT).

class _FastHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    wbufsize = 65536                 # head + body leave in one send
    disable_nagle_algorithm = True
    timeout = 30
    BODY = b"ok " * 100 + b"\n"

    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(self.BODY)))
        self.end_headers()
        self.wfile.write(self.BODY)

    def log_message(self, fmt, *args):
        pass


class _FastServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def handle_error(self, request, client_address):
        pass                         # resets by clients going away: not news


def start_fast_origin(fleet):
    """Starts the fast origin as a helper process of <fleet> (stopped and
    cleaned up with it). Returns its base URL."""
    from pf_harness import HelperServer, free_port

    class FastOrigin(HelperServer):
        kind = "origin"

    o = FastOrigin(fleet, "fast-origin", os.path.join("fault", "load_util.py"), free_port())
    fleet.procs.append(o)
    o.start()
    return "http://127.0.0.1:%d" % o.port


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--port":
        _FastServer(("127.0.0.1", int(sys.argv[2])), _FastHandler).serve_forever(0.2)
    else:
        sys.exit("usage: load_util.py --port PORT   (runs the fast origin)")
