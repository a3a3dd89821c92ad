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
  echo_key          params.status (default 401) with a body that quotes the
                    request's own query value params.param (default "key")
                    back, as careless APIs do: "invalid key <value>"
                    (params.json true: {"code":1,"msg":"invalid key <value>"})
  provider_shape    200 with the body a real provider sends, params.shape:
                      kdl_text       Kuaidaili format=text: "ip:port" lines
                      kdl_text_auth  Kuaidaili format=text&f_auth=1:
                                     "ip:port:user:pass" lines
                      kdl_json       {"msg":"","code":0,"data":{"count",
                                     "dedup_count","order_left_count",
                                     "proxy_list":["ip:port[:user:pass]"]}}
                      zhima          {"code":0,"success":true,"msg":"0","data":
                                     [{"ip","port","expire_time" (UTC+8),
                                     "city","isp"}]}
                      xiequ          {"code":0,"success":"true","msg":"",
                                     "data":[{"IP","Port","IpAddress"}]}
                      webshare       /api/v2/proxy/list/: {"count","next",
                                     "previous","results":[{"id","username",
                                     "password","proxy_address","port",
                                     "valid","country_code","city_name",
                                     "asn_name", ...}]}, paginated by the
                                     request's ?page=N (params.page_size,
                                     default 2; the next link repeats the
                                     request's query); params.next: "absolute"
                                     (default), "relative" ("?page=N"),
                                     "path" ("/path?page=N"), "foreign"
                                     (another port) or "none"
                      iproyal        "host:port:user:pass" lines (CRLF)
                    params.upstreams: dicts {"host","port","user","pass",
                    "valid","country","city","isp"} or "host:port" strings;
                    params.ttl_s (300) for expiries
  provider_error    the error a real provider sends, params.shape:
                      zhima_whitelist  200 {"code":113,...,"msg":"请添加白名单<ip>"}
                      zhima_balance    200 {"code":114,...,"msg":"账户余额不足"}
                      zhima_rate       200 {"code":111,...,"msg":"提取频繁，请按规定频率提取"}
                      kdl_expired      200 {"msg":"订单已过期","code":-15}
                      kdl_rate         200 {"msg":"调用频率限制...","code":-51}
                      kdl_text_rate    200 "ERROR(-51)：调用频率限制，请稍后再试"
                      xiequ_whitelist  200 {"code":-10,...,"msg":"请将您的IP:<ip>加入白名单"}
                      webshare_401     401 {"detail":"Invalid token."}
                      key_error        200 "KEY_ERROR"
                    params.ip (default 203.0.113.99) in whitelist messages

Bodies with credentials: good_text, slow_body, truncated_json (params.format
"json" or "text" and params.upstreams: the good body cut in half), oversize
(params.line, repeated) and reset with params.partial (the first 32 bytes of
the good_text body of params.upstreams) carry whatever upstream strings the
test gives, "user:pass@host:port" or "host:port:user:pass" included.
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
    "echo_key", "provider_shape", "provider_error",
)
SHAPES = ("kdl_text", "kdl_text_auth", "kdl_json", "zhima", "xiequ", "webshare", "iproyal")
ERROR_SHAPES = ("zhima_whitelist", "zhima_balance", "zhima_rate", "kdl_expired", "kdl_rate",
                "kdl_text_rate", "xiequ_whitelist", "webshare_401", "key_error")


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
    shape = spec.get("params", {}).get("shape")
    if scen == "provider_shape" and shape not in SHAPES:
        raise ValueError("unknown shape %r (known: %s)" % (shape, ", ".join(SHAPES)))
    if scen == "provider_error" and shape not in ERROR_SHAPES:
        raise ValueError("unknown error shape %r (known: %s)" % (shape, ", ".join(ERROR_SHAPES)))
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


def _up_dict(u):
    """An upstream of params.upstreams as a dict (strings are host:port)."""
    if isinstance(u, dict):
        return u
    host, port = split_hostport(u)
    return {"host": host, "port": port}


def _hp(u):
    host = u["host"]
    return "%s:%s" % ("[%s]" % host if ":" in str(host) else host, u["port"])


def _hpup(u):
    return _hp(u) + (":%s:%s" % (u["user"], u["pass"]) if u.get("user") else "")


def expire_str_cn(ttl_s):
    """An expiry as Chinese providers write it: local time of UTC+8."""
    t = datetime.fromtimestamp(time.time() + ttl_s + 8 * 3600, tz=timezone.utc)
    return t.strftime("%Y-%m-%d %H:%M:%S")


def render_shape(params, query, host_header, path):
    """(status, headers, body bytes) of a real provider's good answer."""
    shape = params.get("shape")
    ups = [_up_dict(u) for u in params.get("upstreams", DEFAULT_UPSTREAMS)]
    ttl = params.get("ttl_s", 300)
    text = {"Content-Type": "text/plain; charset=utf-8"}
    js = {"Content-Type": "application/json"}
    if shape == "kdl_text":
        return 200, text, "\n".join(_hp(u) for u in ups).encode()
    if shape in ("kdl_text_auth", "iproyal"):
        return 200, text, "".join(_hpup(u) + "\r\n" for u in ups).encode()
    if shape == "kdl_json":
        return 200, js, json.dumps({"msg": "", "code": 0, "data": {
            "count": len(ups), "dedup_count": len(ups), "order_left_count": 990,
            "proxy_list": [_hpup(u) for u in ups]}}).encode()
    if shape == "zhima":
        return 200, js, json.dumps({"code": 0, "data": [
            {"ip": u["host"], "port": u["port"], "expire_time": expire_str_cn(ttl),
             "city": u.get("city", "徐州市"), "isp": u.get("isp", "电信")} for u in ups],
            "msg": "0", "success": True}, ensure_ascii=False).encode()
    if shape == "xiequ":
        return 200, js, json.dumps({"code": 0, "success": "true", "msg": "", "data": [
            {"IP": u["host"], "Port": u["port"], "IpAddress": u.get("city", "江苏省宿迁市 电信")}
            for u in ups]}, ensure_ascii=False).encode()
    if shape == "webshare":
        size = max(1, int(params.get("page_size", 2)))
        try:
            page = max(1, int(urllib.parse.parse_qs(query).get("page", ["1"])[0]))
        except ValueError:
            page = 1
        chunk = ups[(page - 1) * size: page * size]
        last = page * size >= len(ups)
        style = params.get("next", "absolute")
        # Like Webshare, the next link repeats the request's own query
        # (keys included) with the page moved on.
        qd = urllib.parse.parse_qs(query, keep_blank_values=True)
        qd.setdefault("mode", ["direct"])
        qd["page"] = [str(page + 1)]
        qd["page_size"] = [str(size)]
        q = urllib.parse.urlencode(qd, doseq=True)
        if last or style == "none":
            nxt = None
        elif style == "relative":
            nxt = "?" + q
        elif style == "path":
            nxt = "%s?%s" % (path, q)
        elif style == "foreign":
            h, _, p = host_header.rpartition(":")
            nxt = "http://%s:%d%s?%s" % (h, int(p) + 1, path, q)
        else:
            nxt = "http://%s%s?%s" % (host_header, path, q)
        prev = None if page == 1 else "http://%s%s?page=%d" % (host_header, path, page - 1)
        results = []
        for i, u in enumerate(chunk):
            results.append({
                "id": "d-%d" % (10000 + (page - 1) * size + i),
                "username": u.get("user", ""), "password": u.get("pass", ""),
                "proxy_address": u["host"], "port": u["port"], "valid": u.get("valid", True),
                "last_verification": "2026-11-20T23:34:00.095501-07:00",
                "country_code": u.get("country", "US"), "city_name": u.get("city", "New York"),
                "asn_name": u.get("isp", "Example ISP"), "asn_number": 64500,
                "high_country_confidence": True,
                "created_at": "2026-06-14T11:58:10.246406-07:00"})
        return 200, js, json.dumps({"count": len(ups), "next": nxt, "previous": prev,
                                    "results": results}).encode()
    raise ValueError("unknown shape %r" % shape)


def render_error_shape(params):
    """(status, headers, body bytes) of a real provider's error answer."""
    shape = params.get("shape")
    ip = params.get("ip", "203.0.113.99")
    js = {"Content-Type": "application/json"}
    text = {"Content-Type": "text/plain; charset=utf-8"}
    zhima = lambda code, msg: json.dumps({"code": code, "data": None, "msg": msg,
                                          "success": False}, ensure_ascii=False).encode()
    if shape == "zhima_whitelist":
        return 200, js, zhima(113, "请添加白名单" + ip)
    if shape == "zhima_balance":
        return 200, js, zhima(114, "账户余额不足")
    if shape == "zhima_rate":
        return 200, js, zhima(111, "提取频繁，请按规定频率提取")
    if shape == "kdl_expired":
        return 200, js, json.dumps({"msg": "订单已过期", "code": -15}, ensure_ascii=False).encode()
    if shape == "kdl_rate":
        return 200, js, json.dumps({"msg": "调用频率限制，请稍后再试", "code": -51},
                                   ensure_ascii=False).encode()
    if shape == "kdl_text_rate":
        return 200, text, "ERROR(-51)：调用频率限制，请稍后再试".encode()
    if shape == "xiequ_whitelist":
        return 200, js, json.dumps({"code": -10, "success": "false",
                                    "msg": "请将您的IP:%s加入白名单" % ip, "data": []},
                                   ensure_ascii=False).encode()
    if shape == "webshare_401":
        return 401, js, b'{"detail":"Invalid token."}'
    if shape == "key_error":
        return 200, text, b"KEY_ERROR"
    raise ValueError("unknown error shape %r" % shape)


def good_body(params):
    """The good body of params.upstreams in params.format (text or json)."""
    ups = params.get("upstreams", DEFAULT_UPSTREAMS)
    if params.get("format") == "json":
        data = []
        for u in ups:
            d = _up_dict(u) if isinstance(u, dict) else None
            if d is None:
                cred, _, hp = u.rpartition("@")
                host, port = split_hostport(hp)
                d = {"host": host, "port": port}
                if cred:
                    d["user"], _, d["pass"] = cred.partition(":")
            e = {"ip": d["host"], "port": d["port"], "expire_time": expire_str(300)}
            if d.get("user"):
                e["user"], e["pass"] = d["user"], d.get("pass", "")
            data.append(e)
        return json.dumps({"code": 0, "success": True, "msg": "0", "data": data}).encode()
    return "".join((u if isinstance(u, str) else _hpup(u)) + "\n" for u in ups).encode()


def render(spec, query="", host_header="127.0.0.1", path="/"):
    """Returns (status, headers dict, body bytes or None, extra) for <spec>.
    extra carries hang seconds or an oversize byte count."""
    scen = spec.get("scenario")
    params = spec.get("params", {})
    headers = {}
    extra = {}
    status = 200
    if scen == "provider_shape":
        status, headers, body = render_shape(params, query, host_header, path)
    elif scen == "provider_error":
        status, headers, body = render_error_shape(params)
    elif scen == "echo_key":
        value = urllib.parse.parse_qs(query).get(params.get("param", "key"), [""])[0]
        status = int(params.get("status", 401))
        if params.get("json"):
            body = json.dumps({"code": 1, "msg": "invalid key " + value}).encode()
            headers["Content-Type"] = "application/json"
        else:
            body = ("invalid key " + value + "\n").encode()
            headers["Content-Type"] = "text/plain; charset=utf-8"
    elif scen is None:
        body = spec.get("body", "").encode()
        headers["Content-Type"] = "text/plain; charset=utf-8"
    elif scen == "good_text":
        body = good_body(dict(params, format="text"))
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
        body = good_body(dict(params, format="text"))
        headers["Content-Type"] = "text/plain; charset=utf-8"
        extra["slow_bps"] = max(1, int(params.get("bytes_per_s", 20)))
    elif scen == "reset":
        body = b""
        extra["reset"] = True
        extra["reset_partial"] = bool(params.get("partial", False))
        if "upstreams" in params:
            extra["reset_head"] = good_body(params)[:32]
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
        if "upstreams" in params:
            whole = good_body(params)
            body = whole[: len(whole) // 2]
        else:
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
        extra["oversize_line"] = (params.get("line", "127.0.0.1:3301") + "\n").encode()
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
        status, headers, body, extra = render(spec, parsed.query,
                                              self.headers.get("Host", "127.0.0.1"), path)
        delay = min(int(spec.get("delay_ms", 0) or 0), DELAY_MAX_MS)
        if delay > 0:
            time.sleep(delay / 1000.0)
        if "hang_s" in extra:
            # Sleep in slices so a closed client does not pin us for long.
            end = time.monotonic() + extra["hang_s"]
            while time.monotonic() < end:
                time.sleep(0.2)
        if extra.get("reset"):
            return self.reset_connection(headers, extra["reset_partial"],
                                         extra.get("reset_head"))
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
            line = extra["oversize_line"] * max(1, 61440 // len(extra["oversize_line"]))
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

    def reset_connection(self, headers, partial, head=None):
        """Ends the connection with a RST (SO_LINGER 0 then close), after a
        200 head and 32 of the 4096 announced body bytes when <partial>
        (<head>, else two default lines)."""
        sock = self.connection
        try:
            if partial:
                self.send_response(200)
                for k, v in headers.items():
                    self.send_header(k, str(v))
                self.send_header("Content-Length", "4096")
                self.end_headers()
                self.wfile.write(head if head else b"127.0.0.1:3301\n" * 2 + b"12")
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
