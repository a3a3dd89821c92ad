-- Vendored from /work/shared/bench/forward.lua (shared proxy benchmark harness, 2026-11-21).
-- Local change: the result line also carries max_ms (wrk's maximum latency).
-- wrk script: absolute-form requests for an HTTP forward proxy.
-- Env: BENCH_URL   absolute URL to request (unset: plain origin-form request, i.e. direct)
--      BENCH_HOST  Host header value (default taken from BENCH_URL)
--      BENCH_AUTH  base64 "user:pass" for Proxy-Authorization (optional)
local url  = os.getenv("BENCH_URL")
local auth = os.getenv("BENCH_AUTH")
local host = os.getenv("BENCH_HOST")

if url and url ~= "" then
  if not host or host == "" then host = url:match("^%a+://([^/]+)") end
  wrk.headers["Host"] = host
  if auth and auth ~= "" then wrk.headers["Proxy-Authorization"] = "Basic " .. auth end
  wrk.path = url
end

-- rps counts only 2xx/3xx answers; non-2xx are reported as status errors (s)
done = function(summary, latency, requests)
  local secs = summary.duration / 1e6
  local e = summary.errors
  local errs = e.connect + e.read + e.write + e.status + e.timeout
  io.write(string.format(
    "WRKRESULT rps=%.0f p50_ms=%.3f p99_ms=%.3f errors=%d MBps=%.1f max_ms=%.3f reqs=%d err_detail=c%d/r%d/w%d/s%d/t%d\n",
    (summary.requests - e.status) / secs, latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    errs, summary.bytes / secs / 1048576, latency.max / 1000, summary.requests,
    e.connect, e.read, e.write, e.status, e.timeout))
end
