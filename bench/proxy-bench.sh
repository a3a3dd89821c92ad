#!/usr/bin/env bash
# Vendored from /work/shared/bench (the shared proxy benchmark harness, 2026-11-21)
# so that proxyfleet's bench/ is self-contained; keep local changes minimal and marked.
# Benchmark one HTTP forward proxy against the local origin (origin.sh).
# Usage: proxy-bench.sh PROXYHOST:PORT [USER:PASS]
# Env knobs (defaults in brackets):
#   ORIGIN [127.0.0.1:18080]  CONNS [64]  DUR [8] seconds per rps scenario
#   BULK_DUR [5]  BULK_CONNS [4]  LABEL [PROXYHOST:PORT]
#   PROXY_PID [unset] (local) the proxy's pid: the http-forward and
#     bulk-forward, connect-tunnel and connect-setup lines then carry cpu_s (its user+system CPU seconds, all
#     threads, during that run) and per_cpu_s (requests, or MB for bulk, per
#     CPU-second)
# Prints one line per scenario:
#   proxy=... scenario=NAME rps=... p50_ms=... p99_ms=... errors=... [MBps=...] [ratio=...]
set -uo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
PROXY="${1:?usage: $0 PROXYHOST:PORT [USER:PASS]}"
CREDS="${2:-}"
ORIGIN="${ORIGIN:-127.0.0.1:18080}"
CONNS="${CONNS:-64}"; DUR="${DUR:-8}"; BULK_DUR="${BULK_DUR:-5}"; BULK_CONNS="${BULK_CONNS:-4}"
LABEL="${LABEL:-$PROXY}"
RUN="${BENCH_RUN_DIR:-/tmp/bench-run}"; mkdir -p "$RUN"
CL="$RUN/connload"

# build the CONNECT load generator if missing or stale
if [ ! -x "$CL" ] || [ "$HERE/connload.c" -nt "$CL" ]; then
  gcc -O2 -Wall -o "$CL" "$HERE/connload.c" || { echo "connload build failed" >&2; exit 1; }
fi
curl -fsS -o /dev/null "http://$ORIGIN/small" || { echo "origin $ORIGIN not answering; run origin.sh start" >&2; exit 1; }

AUTH_B64=""; CL_AUTH=()
if [ -n "$CREDS" ]; then AUTH_B64="$(printf %s "$CREDS" | base64 -w0)"; CL_AUTH=(-a "$CREDS"); fi

field() { sed -n "s/.*[ ]$1=\([^ ]*\).*/\1/p" <<<"$2"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{ if (b>0) printf "%.3f", a/b; else print "na" }'; }

# wrk_run CONNS DURATION URL-or-empty PATH-for-direct
wrk_run() {
  local c="$1" d="$2" url="$3" target
  if [ -n "$url" ]; then target="http://$PROXY/"; else target="http://$ORIGIN$4"; fi
  BENCH_URL="$url" BENCH_AUTH="$AUTH_B64" timeout $((d + 15)) \
    wrk -t1 -c"$c" -d"${d}s" --timeout 5s -s "$HERE/forward.lua" "$target" 2>&1 | grep '^WRKRESULT' \
    || echo "WRKRESULT rps=0 p50_ms=0 p99_ms=0 errors=-1 MBps=0"
}
cl_run() {  # args passed to connload; always bounded by timeout too
  timeout $((DUR + BULK_DUR + 15)) "$CL" -p "$PROXY" -t "$ORIGIN" "${CL_AUTH[@]}" "$@" 2>&1 | grep '^mode=' \
    || echo "mode=failed rps=0 p50_ms=0 p99_ms=0 errors=-1 MBps=0"
}
# (local) CPU ticks (utime + stime, every thread) of PROXY_PID; empty if unset
cpu_ticks() {
  [ -n "${PROXY_PID:-}" ] && [ -r "/proc/$PROXY_PID/stat" ] || return 0
  awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$PROXY_PID/stat"
}
# (local) with_cpu UNIT DURATION CMD...: runs CMD and, when PROXY_PID is set,
# appends " cpu_s=... per_cpu_s=..." to its WRKRESULT line: UNIT "req" gives
# requests (wrk's reqs, or rps x DURATION) per CPU-second, "MB" gives MBps x DURATION per
# CPU-second
with_cpu() {
  local u="$1" d="$2" t0 t1 l x; shift 2
  t0="$(cpu_ticks)"; l="$("$@")"; t1="$(cpu_ticks)"
  if [ -n "$t0" ] && [ -n "$t1" ]; then
    if [ "$u" = MB ]; then x="$(awk -v m="$(field MBps "$l")" -v d="$d" 'BEGIN{ print m * d }')"
    else x="$(field reqs "$l")"; [ -n "$x" ] || x="$(awk -v r="$(field rps "$l")" -v d="$d" 'BEGIN{ print r * d }')"; fi
    l="$l $(awk -v a="$t0" -v b="$t1" -v hz="$(getconf CLK_TCK)" -v x="${x:-0}" 'BEGIN {
        c = (b - a) / hz
        printf "cpu_s=%.2f per_cpu_s=%s", c, (c > 0) ? sprintf("%.0f", x / c) : "na" }')"
  fi
  printf '%s\n' "$l"
}
emit() {  # scenario line rps-ref
  local s="$1" l="$2" ref="${3:-}" rps
  rps="$(field rps "$l")"
  printf 'proxy=%s scenario=%s rps=%s p50_ms=%s p99_ms=%s errors=%s' "$LABEL" "$s" "$rps" \
    "$(field p50_ms "$l")" "$(field p99_ms "$l")" "$(field errors "$l")"
  case "$s" in bulk-*) printf ' MBps=%s' "$(field MBps "$l")" ;; esac
  [ -n "$(field max_ms "$l")" ] && printf ' max_ms=%s' "$(field max_ms "$l")"   # local: wrk max latency
  [ -n "$ref" ] && printf ' ratio=%s' "$(ratio "$rps" "$ref")"
  [ -n "$(field err_detail "$l")" ] && printf ' err_detail=%s' "$(field err_detail "$l")"
  [ -n "$(field cpu_s "$l")" ] && printf ' cpu_s=%s per_cpu_s=%s' "$(field cpu_s "$l")" "$(field per_cpu_s "$l")"  # local
  printf '\n'
}

# 1. direct: the ceiling on this machine
D="$(wrk_run "$CONNS" "$DUR" "" /small)"; DRPS="$(field rps "$D")"
emit direct "$D"
# 2. http-forward: absolute-form GET through the proxy
emit http-forward "$(with_cpu req "$DUR" wrk_run "$CONNS" "$DUR" "http://$ORIGIN/small")" "$DRPS"
# 3. connect-tunnel: 64 CONNECT tunnels, keep-alive GET /small inside each
emit connect-tunnel "$(with_cpu req "$DUR" cl_run -m tunnel -c "$CONNS" -d "$DUR" -w 1 -u /small)" "$DRPS"
# 4. connect-setup: connect + CONNECT + one GET + close per iteration (rps = tunnels/s)
emit connect-setup "$(with_cpu req "$DUR" cl_run -m setup -c "$CONNS" -d "$DUR" -w 1 -u /small)" "$DRPS"
# 4b. (local) setup-direct: the same cycle straight to the origin (connload -D),
# one TCP connection per cycle instead of two: the ceiling of connect-setup
# on this machine, where generator, proxy and origin share the cores
emit setup-direct "$(cl_run -m setup -c "$CONNS" -d "$DUR" -w 1 -u /small -D)" "$DRPS"
# 5. bulk: 1 MiB bodies, BULK_CONNS streams
BD="$(wrk_run "$BULK_CONNS" "$BULK_DUR" "" /big)"; BDM="$(field MBps "$BD")"
emit bulk-direct "$BD"
BF="$(with_cpu MB "$BULK_DUR" wrk_run "$BULK_CONNS" "$BULK_DUR" "http://$ORIGIN/big")"
BC="$(cl_run -m tunnel -c "$BULK_CONNS" -d "$BULK_DUR" -w 1 -u /big)"
printf '%s MBps_ratio=%s\n' "$(emit bulk-forward "$BF")" "$(ratio "$(field MBps "$BF")" "$BDM")"
printf '%s MBps_ratio=%s\n' "$(emit bulk-connect "$BC")" "$(ratio "$(field MBps "$BC")" "$BDM")"
