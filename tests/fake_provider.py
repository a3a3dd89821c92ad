#!/usr/bin/env python3
"""Fake proxy-provider HTTP API: the only thing faked in proxyfleet tests.

    python3 tests/fake_provider.py --port N [--host 127.0.0.1]

Serves HTTP/1.1 (keep-alive) on 127.0.0.1. Every path answers what was set
for it through the control API; a path never set answers 404. Paths are
matched without their query string, so "/list?key=K" is the path "/list".

Control API (JSON in, JSON out):

  POST /_control/set      {"path": "/list", "status": 200, "body": "...",
                           "headers": {"X-A": "b"}, "delay_ms": 0}
                      or  {"path": "/list", "scenario": "good_text",
                           "params": {"upstreams": ["127.0.0.1:3301"]}}
                      or  {"path": "/list", "sequence": [<spec>, <spec>, ...]}
                           (each hit takes the next spec; the last one repeats)
  GET  /_control/hits?path=/list      {"path": "/list", "hits": 3}
  GET  /_control/requests?path=/list  {"path": "/list", "requests": [
                           {"method", "path", "query", "headers", "client", "ts",
                            "served"}]}  (served: the scenario name, else the
                           status as a string, "404" when nothing was set;
                           a literal response may name itself in params.tag)
  POST /_control/reset    forgets every response, hit and request

Scenarios (params in "params"; every scenario also takes status/headers/
delay_ms overrides):

  good_text         200 text/plain, one "host:port" (or full URL) a line
                    params: upstreams (list of str)
  good_json         200 {"code":0,"data":[{"ip","port","expire_time"}]}
                    params: upstreams (list of "ip:port"), ttl_s (300);
                    expire_time is "YYYY-MM-DD HH:MM:SS" in UTC, now + ttl_s
                    unless params.expire_time gives it literally
  empty_200         200 with an empty body
  html_error        200 text/html error page (a captive portal / CDN page)
  truncated_json    200 application/json cut in the middle of a record
  json_error_code   200 {"code":10001,"msg":"IP not whitelisted","data":[]}
  unauthorized_401  401 {"code":401,"msg":"invalid api key"}
  rate_limited_429  429 with Retry-After: 2 (params: retry_after)
  server_error_500  500 text/plain
  hang              sleeps params.seconds (default 60, max 60) before answering
                    200 with an empty body: longer than any client timeout
  oversize          200 text/plain body of params.mib MiB (default 2, max 64)
                    of valid-looking lines, streamed with a Content-Length
  reset             reads the request, then resets the connection (RST: close
                    with SO_LINGER 0) without answering; params.partial (false):
                    first send a 200 head announcing 4096 bytes and 32 of them
  slow_body         200 with the good_text body (params.json true: the
                    good_json body; upstreams, ttl_s as there) and its full
                    Content-Length, trickled at params.bytes_per_s (default 20)
                    bytes a second; the whole send is capped at 60 s
"""

import argparse
import json
import os
import signal
import socket
import struct
import sys
import threading
import time
import urllib.parse
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HANG_MAX_S = 60.0
DELAY_MAX_MS = 60000
OVERSIZE_MAX_MIB = 64
SLOW_MAX_S = 60.0
DEFAULT_UPSTREAMS = ["127.0.0.1:3301", "127.0.0.1:3302"]

SCENARIOS = (
    "good_text", "good_json", "empty_200", "html_error", "truncated_json",
    "json_error_code", "unauthorized_401", "rate_limited_429",
    "server_error_500", "hang", "oversize", "reset", "slow_body",
)


class State:
    """Responses, hit counters and request records; guarded by one lock."""

    def __init__(self):
        self.lock = threading.Lock()
        self.specs = {}      # path -> list of specs (sequence) + cursor
        self.cursor = {}
        self.hits = {}
        self.requests = {}

    def reset(self):
        with self.lock:
            self.specs.clear()
            self.cursor.clear()
            self.hits.clear()
            self.requests.clear()

    def set(self, path, specs):
        with self.lock:
            self.specs[path] = specs
            self.cursor[path] = 0

    def take(self, path, record):
        """Counts a hit on <path> and returns the spec to serve (or None)."""
        with self.lock:
            self.hits[path] = self.hits.get(path, 0) + 1
            reqs = self.requests.setdefault(path, [])
            reqs.append(record)
            if len(reqs) > 1000:
                del reqs[0]
            specs = self.specs.get(path)
            if not specs:
                record["served"] = "404"
                return None
            i = self.cursor[path]
            if i < len(specs) - 1:
                self.cursor[path] = i + 1
            spec = specs[i]
            record["served"] = (spec.get("scenario") or spec.get("params", {}).get("tag")
                                or str(spec.get("status", 200)))
            return spec


STATE = State()


def validate_spec(spec):
    if not isinstance(spec, dict):
        raise ValueError("a response spec must be an object")
    scen = spec.get("scenario")
    if scen is not None and scen not in SCENARIOS:
        raise ValueError("unknown scenario %r (known: %s)" % (scen, ", ".join(SCENARIOS)))
    status = spec.get("status", 200)
    if not isinstance(status, int) or not 100 <= status <= 599:
        raise ValueError("status must be an int in 100..599")
    if not isinstance(spec.get("headers", {}), dict):
        raise ValueError("headers must be an object")
    if not isinstance(spec.get("params", {}), dict):
        raise ValueError("params must be an object")
    body = spec.get("body", "")
    if not isinstance(body, str):
        raise ValueError("body must be a string")
    return spec


def expire_str(ttl_s):
    t = datetime.fromtimestamp(time.time() + ttl_s, tz=timezone.utc)
    return t.strftime("%Y-%m-%d %H:%M:%S")


def split_hostport(s):
    host, _, port = s.rpartition(":")
    host = host.strip("[]")
    try:
        port = int(port)
    except ValueError:
        pass
    return host, port


def render(spec):
    """Returns (status, headers dict, body bytes or None, extra) for <spec>.
    extra carries hang seconds or an oversize byte count."""
    scen = spec.get("scenario")
    params = spec.get("params", {})
    headers = {}
    extra = {}
    status = 200
    if scen is None:
        body = spec.get("body", "").encode()
        headers["Content-Type"] = "text/plain; charset=utf-8"
    elif scen == "good_text":
        ups = params.get("upstreams", DEFAULT_UPSTREAMS)
        body = "".join(u + "\n" for u in ups).encode()
        headers["Content-Type"] = "text/plain; charset=utf-8"
    elif scen == "good_json" or (scen == "slow_body" and params.get("json")):
        ups = params.get("upstreams", DEFAULT_UPSTREAMS)
        ttl = params.get("ttl_s", 300)
        data = []
        for u in ups:
            host, port = split_hostport(u)
            data.append({"ip": host, "port": port,
                         "expire_time": params.get("expire_time") or expire_str(ttl)})
        body = json.dumps({"code": 0, "success": True, "msg": "0", "data": data}).encode()
        headers["Content-Type"] = "application/json"
        if scen == "slow_body":
            extra["slow_bps"] = max(1, int(params.get("bytes_per_s", 20)))
    elif scen == "slow_body":
        ups = params.get("upstreams", DEFAULT_UPSTREAMS)
        body = "".join(u + "\n" for u in ups).encode()
        headers["Content-Type"] = "text/plain; charset=utf-8"
        extra["slow_bps"] = max(1, int(params.get("bytes_per_s", 20)))
    elif scen == "reset":
        body = b""
        extra["reset"] = True
        extra["reset_partial"] = bool(params.get("partial", False))
        headers["Content-Type"] = "text/plain; charset=utf-8"
    elif scen == "empty_200":
        body = b""
        headers["Content-Type"] = "text/plain; charset=utf-8"
    elif scen == "html_error":
        body = (b"<!DOCTYPE html>\n<html><head><title>502 Bad Gateway</title></head>\n"
                b"<body><h1>Bad Gateway</h1><p>The provider is down for maintenance."
                b"</p></body></html>\n")
        headers["Content-Type"] = "text/html; charset=utf-8"
    elif scen == "truncated_json":
        body = b'{"code":0,"data":[{"ip":"127.0.0.1","port":3301,"expire_time":"20'
        headers["Content-Type"] = "application/json"
    elif scen == "json_error_code":
        body = json.dumps({"code": 10001, "success": False, "msg": "IP not whitelisted",
                           "data": []}).encode()
        headers["Content-Type"] = "application/json"
    elif scen == "unauthorized_401":
        status = 401
        body = json.dumps({"code": 401, "msg": "invalid api key"}).encode()
        headers["Content-Type"] = "application/json"
    elif scen == "rate_limited_429":
        status = 429
        body = b"too many requests\n"
        headers["Content-Type"] = "text/plain; charset=utf-8"
        headers["Retry-After"] = str(params.get("retry_after", 2))
    elif scen == "server_error_500":
        status = 500
        body = b"internal server error\n"
        headers["Content-Type"] = "text/plain; charset=utf-8"
    elif scen == "hang":
        body = b""
        extra["hang_s"] = min(float(params.get("seconds", HANG_MAX_S)), HANG_MAX_S)
        headers["Content-Type"] = "text/plain; charset=utf-8"
    elif scen == "oversize":
        mib = min(float(params.get("mib", 2)), OVERSIZE_MAX_MIB)
        extra["oversize_bytes"] = int(mib * 1024 * 1024)
        body = None
        headers["Content-Type"] = "text/plain; charset=utf-8"
    else:  # validated earlier
        raise ValueError(scen)
    if "status" in spec:
        status = spec["status"]
    headers.update(spec.get("headers", {}))
    return status, headers, body, extra


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fake-provider/1"
    timeout = 120  # idle keep-alive connections end on their own

    def log_message(self, fmt, *args):  # one line per request on stderr
        sys.stderr.write("fake_provider: %s %s\n" % (self.address_string(), fmt % args))

    def read_body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n > 0 else b""

    def send_json(self, status, obj):
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def control(self, path, query):
        q = urllib.parse.parse_qs(query)
        if path == "/_control/set" and self.command == "POST":
            try:
                req = json.loads(self.read_body() or b"{}")
                target = req.get("path")
                if not isinstance(target, str) or not target.startswith("/") \
                        or target.startswith("/_control"):
                    raise ValueError("path must be a string starting with / (not /_control)")
                if "sequence" in req:
                    specs = [validate_spec(s) for s in req["sequence"]]
                    if not specs:
                        raise ValueError("sequence must not be empty")
                else:
                    specs = [validate_spec({k: v for k, v in req.items() if k != "path"})]
            except (ValueError, TypeError) as e:
                return self.send_json(400, {"error": str(e)})
            STATE.set(target, specs)
            return self.send_json(200, {"ok": True, "path": target})
        if path == "/_control/reset" and self.command == "POST":
            self.read_body()
            STATE.reset()
            return self.send_json(200, {"ok": True})
        if path == "/_control/hits":
            p = q.get("path", [""])[0]
            with STATE.lock:
                n = STATE.hits.get(p, 0)
            return self.send_json(200, {"path": p, "hits": n})
        if path == "/_control/requests":
            p = q.get("path", [""])[0]
            with STATE.lock:
                reqs = list(STATE.requests.get(p, []))
            return self.send_json(200, {"path": p, "requests": reqs})
        if path == "/_control/health":
            return self.send_json(200, {"ok": True})
        return self.send_json(404, {"error": "unknown control endpoint"})

    def handle_any(self):
        parsed = urllib.parse.urlsplit(self.path)
        path = parsed.path or "/"
        if path.startswith("/_control"):
            return self.control(path, parsed.query)
        self.read_body()
        record = {
            "method": self.command,
            "path": path,
            "query": parsed.query,
            "headers": [[k, v] for k, v in self.headers.items()],
            "client": "%s:%d" % self.client_address[:2],
            "ts": time.time(),
        }
        spec = STATE.take(path, record)
        if spec is None:
            return self.send_json(404, {"error": "no response set for %s" % path})
        status, headers, body, extra = render(spec)
        delay = min(int(spec.get("delay_ms", 0) or 0), DELAY_MAX_MS)
        if delay > 0:
            time.sleep(delay / 1000.0)
        if "hang_s" in extra:
            # Sleep in slices so a closed client does not pin us for long.
            end = time.monotonic() + extra["hang_s"]
            while time.monotonic() < end:
                time.sleep(0.2)
        if extra.get("reset"):
            return self.reset_connection(headers, extra["reset_partial"])
        if "slow_bps" in extra:
            return self.send_slowly(status, headers, body, extra["slow_bps"])
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, str(v))
        if "oversize_bytes" in extra:
            total = extra["oversize_bytes"]
            self.send_header("Content-Length", str(total))
            self.end_headers()
            if self.command == "HEAD":
                return
            line = b"127.0.0.1:3301\n" * 4096  # 60 KiB of lines
            sent = 0
            try:
                while sent < total:
                    chunk = line[: total - sent]
                    self.wfile.write(chunk)
                    sent += len(chunk)
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True
            return
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            try:
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True

    def reset_connection(self, headers, partial):
        """Ends the connection with a RST (SO_LINGER 0 then close), after a
        200 head and 32 of the 4096 announced body bytes when <partial>."""
        sock = self.connection
        try:
            if partial:
                self.send_response(200)
                for k, v in headers.items():
                    self.send_header(k, str(v))
                self.send_header("Content-Length", "4096")
                self.end_headers()
                self.wfile.write(b"127.0.0.1:3301\n" * 2 + b"12")
                self.wfile.flush()
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
        self.close_connection = True
        # detach(): rfile still holds a reference to the socket object, so
        # sock.close() would not close the descriptor (and send the RST) yet.
        try:
            fd = sock.detach()
            if fd >= 0:
                os.close(fd)
        except OSError:
            pass

    def send_slowly(self, status, headers, body, bps):
        """Sends the head at once, then <body> at <bps> bytes a second
        (at most SLOW_MAX_S in all); stops when the client goes away."""
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, str(v))
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command == "HEAD":
            return
        end = time.monotonic() + SLOW_MAX_S
        step = max(1, bps // 10)              # ten writes a second
        try:
            self.wfile.flush()
            for i in range(0, len(body), step):
                if time.monotonic() > end:
                    break
                self.wfile.write(body[i:i + step])
                self.wfile.flush()
                time.sleep(step / float(bps))
        except (BrokenPipeError, ConnectionResetError):
            pass
        self.close_connection = True

    do_GET = handle_any
    do_POST = handle_any
    do_HEAD = handle_any
    do_PUT = handle_any
    do_DELETE = handle_any


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--host", default="127.0.0.1")
    args = ap.parse_args()
    srv = Server((args.host, args.port), Handler)

    def stop(signum, frame):
        # Exit at once: serving threads are daemons, sockets close with us.
        sys.stderr.flush()
        sys.exit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    sys.stderr.write("fake_provider: listening on %s:%d\n" % (args.host, args.port))
    sys.stderr.flush()
    srv.serve_forever(poll_interval=0.2)


if __name__ == "__main__":
    main()
