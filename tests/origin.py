#!/usr/bin/env python3
"""Test origin server: the destination behind the proxies in tests and demos.

    python3 tests/origin.py --port N [--host 127.0.0.1] [--name origin]
                            [--log requests.jsonl]
                            [--tls-cert cert.pem --tls-key key.pem]

With --tls-cert/--tls-key it serves HTTPS (same routes); the handshake runs
in the connection's thread, so a client that never speaks TLS blocks nobody.

A threaded HTTP/1.1 server (keep-alive) on 127.0.0.1. It answers GET, HEAD,
POST, PUT and DELETE; unless a route says otherwise the body is JSON that
identifies the server and echoes the request:

  {"origin": NAME, "method": "GET", "path": "/x?y=1",
   "headers": [["Host", "..."], ...], "client": "127.0.0.1:40312",
   "body_len": 0, "seq": 7}

Routes:
  /chunked          the echo sent with Transfer-Encoding: chunked (3 chunks)
  /big?n=BYTES      a body of exactly BYTES bytes (max 1 GiB) of the repeated
                    line "0123456789abcdefghijklmnopqrstuvwxyz\\n"
                    (&chunked=1 sends it chunked instead of Content-Length)
  /slow?ms=MS       the echo after MS milliseconds (max 60000)
  /status/CODE      the echo with status CODE (no body for 1xx/204/304)
  /blocked?src=IPS&status=CODE&pad=N&chunked=1
                    a site that blocks some clients: to a client whose address
                    is in the comma-separated IPS ("*" = every client) status
                    CODE (default 403) with N bytes of "." (default 0, max
                    1 MiB), then "<p>Please solve the CAPTCHA</p>" and the echo
                    (&chunked=1: in 3 chunks); to the others 200 with the echo
  anything else     200 with the echo

Each request is appended as one JSON line to --log (when given):
  {"ts", "origin", "method", "path", "headers", "client", "body_len", "seq"}
"""

import argparse
import json
import signal
import ssl
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

BIG_LINE = b"0123456789abcdefghijklmnopqrstuvwxyz\n"
BIG_MAX = 1 << 30
SLOW_MAX_MS = 60000

NAME = "origin"
LOG_PATH = None
LOG_LOCK = threading.Lock()
SEQ = [0]


def big_bytes(n):
    """The first <n> bytes of the repeated BIG_LINE pattern (for asserts)."""
    reps = n // len(BIG_LINE) + 1
    return (BIG_LINE * reps)[:n]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "pf-origin/1"
    timeout = 120  # idle keep-alive connections end on their own

    def log_message(self, fmt, *args):
        sys.stderr.write("origin %s: %s %s\n" % (NAME, self.address_string(), fmt % args))

    def read_body(self):
        te = (self.headers.get("Transfer-Encoding") or "").lower()
        if "chunked" in te:
            total = 0
            while True:
                line = self.rfile.readline(1024)
                if not line:
                    break
                size = int(line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    # trailers until the empty line
                    while True:
                        t = self.rfile.readline(8192)
                        if t in (b"\r\n", b"\n", b""):
                            break
                    break
                total += len(self.rfile.read(size))
                self.rfile.readline(8)
            return total
        n = int(self.headers.get("Content-Length") or 0)
        got = 0
        while got < n:
            chunk = self.rfile.read(min(65536, n - got))
            if not chunk:
                break
            got += len(chunk)
        return got

    def record(self, body_len):
        with LOG_LOCK:
            SEQ[0] += 1
            rec = {
                "ts": time.time(),
                "origin": NAME,
                "method": self.command,
                "path": self.path,
                "headers": [[k, v] for k, v in self.headers.items()],
                "client": "%s:%d" % self.client_address[:2],
                "body_len": body_len,
                "seq": SEQ[0],
            }
            if LOG_PATH:
                with open(LOG_PATH, "a") as f:
                    f.write(json.dumps(rec) + "\n")
        return rec

    def echo(self, rec):
        return (json.dumps(rec, indent=None) + "\n").encode()

    def send_body(self, status, body, ctype="application/json", chunked=False):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("X-Origin", NAME)
        no_body = status < 200 or status in (204, 304)
        if no_body:
            self.end_headers()
            return
        if chunked:
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            if self.command == "HEAD":
                return
            if isinstance(body, bytes):
                n = len(body)
                parts = [body[: n // 3], body[n // 3: 2 * n // 3], body[2 * n // 3:]]
            else:
                parts = body
            for p in parts:
                if p:
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(p), p))
            self.wfile.write(b"0\r\n\r\n")
            return
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def send_big(self, n, chunked):
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("X-Origin", NAME)
        if chunked:
            self.send_header("Transfer-Encoding", "chunked")
        else:
            self.send_header("Content-Length", str(n))
        self.end_headers()
        if self.command == "HEAD":
            return
        block = BIG_LINE * 1770  # ~65 KiB, a whole number of lines
        sent = 0
        while sent < n:
            part = block[: n - sent]
            if chunked:
                self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
            else:
                self.wfile.write(part)
            sent += len(part)
        if chunked:
            self.wfile.write(b"0\r\n\r\n")

    def handle_any(self):
        try:
            body_len = self.read_body()
            rec = self.record(body_len)
            url = urllib.parse.urlsplit(self.path)
            q = urllib.parse.parse_qs(url.query)
            path = url.path
            if path == "/chunked":
                return self.send_body(200, self.echo(rec), chunked=True)
            if path == "/big":
                n = max(0, min(int(q.get("n", ["0"])[0]), BIG_MAX))
                return self.send_big(n, q.get("chunked", ["0"])[0] == "1")
            if path == "/slow":
                ms = max(0, min(int(q.get("ms", ["0"])[0]), SLOW_MAX_MS))
                time.sleep(ms / 1000.0)
                return self.send_body(200, self.echo(rec))
            if path == "/blocked":
                srcs = q.get("src", [""])[0].split(",")
                if "*" in srcs or self.client_address[0] in srcs:
                    code = int(q.get("status", ["403"])[0])
                    pad = max(0, min(int(q.get("pad", ["0"])[0]), 1 << 20))
                    body = b"." * pad + b"<p>Please solve the CAPTCHA</p>\n" + self.echo(rec)
                    return self.send_body(code, body, ctype="text/html",
                                          chunked=q.get("chunked", ["0"])[0] == "1")
                return self.send_body(200, self.echo(rec))
            if path.startswith("/status/"):
                try:
                    code = int(path[len("/status/"):])
                except ValueError:
                    code = 400
                if not 100 <= code <= 599 or code == 101:
                    code = 400
                return self.send_body(code, self.echo(rec))
            return self.send_body(200, self.echo(rec))
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        except ValueError:
            self.close_connection = True
            self.send_error(400)

    do_GET = handle_any
    do_HEAD = handle_any
    do_POST = handle_any
    do_PUT = handle_any
    do_DELETE = handle_any


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128
    tls_context = None   # set for --tls-cert: accepted sockets are wrapped

    def get_request(self):
        sock, addr = super().get_request()
        if self.tls_context is not None:
            # handshake on first I/O, in the handler thread
            sock = self.tls_context.wrap_socket(sock, server_side=True,
                                                do_handshake_on_connect=False)
        return sock, addr

    def handle_error(self, request, client_address):
        e = sys.exc_info()[1]
        if isinstance(e, (ssl.SSLError, ConnectionError)):
            # e.g. a port probe that connects and closes without TLS
            sys.stderr.write("origin %s: %s:%d: %s\n" % ((NAME,) + tuple(client_address[:2]) + (e,)))
            return
        super().handle_error(request, client_address)


def main():
    global NAME, LOG_PATH
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--name", default="origin")
    ap.add_argument("--log", default=None, help="JSONL request log")
    ap.add_argument("--tls-cert", default=None, help="PEM certificate: serve HTTPS")
    ap.add_argument("--tls-key", default=None, help="PEM private key of --tls-cert")
    args = ap.parse_args()
    if bool(args.tls_cert) != bool(args.tls_key):
        ap.error("--tls-cert and --tls-key go together")
    NAME = args.name
    LOG_PATH = args.log
    srv = Server((args.host, args.port), Handler)
    if args.tls_cert:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(args.tls_cert, args.tls_key)
        srv.tls_context = ctx

    def stop(signum, frame):
        sys.stderr.flush()
        sys.exit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    sys.stderr.write("origin %s: listening on %s:%d%s\n"
                     % (NAME, args.host, args.port, " (TLS)" if args.tls_cert else ""))
    sys.stderr.flush()
    srv.serve_forever(poll_interval=0.2)


if __name__ == "__main__":
    main()
