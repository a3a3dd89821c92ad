#!/usr/bin/env bash
# Profile a direct-mode node under one load scenario.
#   bench/profile.sh tunnel|setup|bulk|forward [perf|strace]   (default perf)
# perf:   `perf record -e cpu-clock -g` on the node for PROF_SECS (5) while the
#         load runs; prints the top of `perf report` (self time).
# strace: `strace -c -f` on the node for PROF_SECS; prints syscall counts and
#         the number of requests served meanwhile (syscalls per request).
# Build with frame pointers for readable call graphs, e.g.
#   cmake -S . -B /tmp/pf-prof -DCMAKE_BUILD_TYPE=Release -DPF_BUILD_TESTS=OFF \
#         -DCMAKE_C_FLAGS='-g -fno-omit-frame-pointer'
#   PF_NODE_BIN=/tmp/pf-prof/proxyfleet-node bench/profile.sh tunnel
set -uo pipefail
. "$(dirname "$0")/lib.sh"
MODE="${1:?usage: $0 tunnel|setup|bulk|forward [perf|strace]}"; TOOL="${2:-perf}"
SECS="${PROF_SECS:-5}"
NODE_BIN="$(bench_node_bin)" || exit 1
STARTED_ORIGIN=0
cleanup() { bench_cleanup; [ $STARTED_ORIGIN = 1 ] && "$BENCH_DIR/origin.sh" stop >/dev/null 2>&1; }
trap cleanup EXIT INT TERM
if [ "$("$BENCH_DIR/origin.sh" status)" != running ]; then
  "$BENCH_DIR/origin.sh" start >/dev/null || exit 1; STARTED_ORIGIN=1
fi
CL="$RUN/connload"
[ -x "$CL" ] && [ "$CL" -nt "$BENCH_DIR/connload.c" ] || gcc -O2 -Wall -o "$CL" "$BENCH_DIR/connload.c" || exit 1
P=$(free_port 13700); PA=$(free_port $((P + 1)))
node_start prof direct "$P" "$PA" || exit 1
D=$((SECS + 3))
case "$MODE" in
  tunnel)  timeout $((D + 10)) "$CL" -p "127.0.0.1:$P" -t "$ORIGIN" -m tunnel -c 64 -d "$D" -w 1 -u /small > "$RUN/prof-load.txt" 2>&1 & ;;
  setup)   timeout $((D + 10)) "$CL" -p "127.0.0.1:$P" -t "$ORIGIN" -m setup -c 64 -d "$D" -w 1 -u /small > "$RUN/prof-load.txt" 2>&1 & ;;
  bulk)    timeout $((D + 10)) "$CL" -p "127.0.0.1:$P" -t "$ORIGIN" -m tunnel -c 4 -d "$D" -w 1 -u /big > "$RUN/prof-load.txt" 2>&1 & ;;
  forward) BENCH_URL="http://$ORIGIN/small" timeout $((D + 10)) wrk -t1 -c64 -d"${D}s" -s "$BENCH_DIR/forward.lua" \
             "http://127.0.0.1:$P/" > "$RUN/prof-load.txt" 2>&1 & ;;
  *) echo "unknown mode $MODE" >&2; exit 2 ;;
esac
LOAD=$!
sleep 1.5
req0="$(metric "$PA" requests_total)"; b0="$(metric "$PA" bytes_out_total)"
if [ "$TOOL" = strace ]; then
  timeout "$SECS" strace -c -f -p "$NODE_PID" -o "$RUN/prof-strace.txt" 2>/dev/null
  sleep 0.2
else
  perf record -e cpu-clock -g -p "$NODE_PID" -o "$RUN/prof-perf.data" -- sleep "$SECS" >/dev/null 2>&1
fi
req1="$(metric "$PA" requests_total)"; b1="$(metric "$PA" bytes_out_total)"
wait "$LOAD"
echo "load: $(grep -E '^mode=|WRKRESULT' "$RUN/prof-load.txt")"
echo "node requests/tunnels during profile: $((req1 - req0)), bytes out: $(( ${b1:-0} - ${b0:-0} ))"
if [ "$TOOL" = strace ]; then
  cat "$RUN/prof-strace.txt"
else
  perf report -i "$RUN/prof-perf.data" --no-children --sort dso,symbol --stdio 2>/dev/null | grep -v '^$' | grep '%' | head -40
fi
