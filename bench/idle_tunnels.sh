#!/usr/bin/env bash
# Memory per idle CONNECT tunnel: starts a fresh direct-mode node, opens N
# tunnels through it (bench/idle_tunnels.c; they end at a sink that holds them)
# and reports the node's RSS growth per tunnel (VmRSS from /proc/<pid>/status).
#
# Usage: bench/idle_tunnels.sh [N]      (default 10000; env PF_NODE_BIN, HOLD (3 s))
# The node needs 2 fds per tunnel and the tool 2 (client + sink). The script
# raises `ulimit -n` as far as the hard limit allows; if that still cannot
# hold N tunnels, N is lowered and the reduction is printed.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
N="${1:-10000}"
NODE_BIN="$(bench_node_bin)" || exit 1
trap bench_cleanup EXIT INT TERM

want=$((2 * N + 64))
hard="$(ulimit -Hn)"
if [ "$hard" != unlimited ] && [ "$hard" -lt "$want" ]; then
  ulimit -Hn "$want" 2>/dev/null || true
  hard="$(ulimit -Hn)"
fi
if [ "$hard" = unlimited ]; then ulimit -n "$want"; else ulimit -n "$hard"; fi
lim="$(ulimit -n)"
if [ "$lim" -lt "$want" ]; then
  n2=$(( (lim - 64) / 2 ))
  log "open-files limit $lim (hard $hard) cannot hold $N tunnels (node needs 2 fds each); using N=$n2"
  N=$n2
fi

gcc -O2 -Wall -o "$RUN/idle_tunnels" "$BENCH_DIR/idle_tunnels.c" || exit 1
P=$(free_port 13500); PA=$(free_port $((P + 1)))
node_start idle direct "$P" "$PA" || exit 1
log "node pid $NODE_PID on :$P, opening $N idle tunnels"
timeout 180 "$RUN/idle_tunnels" -p "127.0.0.1:$P" -P "$NODE_PID" -n "$N" -H "${HOLD:-3}" -T 90
rc=$?
curl -fsS "http://127.0.0.1:$PA/metrics" 2>/dev/null | grep -E '^pf_node_(tunnels_total|conns_active|conn_closed_total)' | grep -v ' 0$' >&2
exit $rc
