#!/usr/bin/env bash
# A fleet on one box: a private redis-server, the controller with a file
# provider of NUP upstreams, NNODES pool-mode nodes. Every upstream record
# points at one direct-mode node (distinct user names make distinct ids; the
# direct node has no users and strips Proxy-Authorization), so every
# upstream works and nothing is dialed off loopback. The controller runs
# without health checks (controller.health absent): nothing probes the
# 10,000 addresses.
#
# Phases:
#   1. start everything, wait until every node serves the first pool;
#   2. change PCT % of the upstreams every second for STEPS s (user names
#      renamed: each change removes and adds ids);
#   3. restart Redis (SIGTERM, DOWN_S s down, start empty on the same port):
#      the controller republishes under a new epoch, the nodes resync.
# A curl loop through node 1 to a loopback origin runs across 2 and 3.
#
# Reports: notice-to-applied latency (controller log "pool published" to
# each node log "pool reloaded"/"pool updated"), Redis CPU and bytes out per
# change (/proc/<pid>/stat, INFO stats), node RSS, the time until every node
# serves the new epoch after the restart, Redis's peak connections and CPU
# meanwhile, and the failed client requests through node 1.
#
# Usage: bench/fleet_scale.sh
#   env: NNODES (100) NUP (10000) PCT (1; 0.01 = one upstream) STEPS (60) DOWN_S (1)
#        LEASE_MS (30000: on a shared 2-core box the controller is starved for
#        seconds while 100 nodes decode; a lapsed lease means a new epoch
#        and every node reading the whole pool again)
#        NODE_EXTRA (JSON members appended inside "node", e.g.
#        ', "resync_spread_ms": 2000') PF_BUILD (a Release build dir holding
#        both binaries; default: built in $BENCH_RUN_DIR/build)
set -uo pipefail
export BENCH_RUN_DIR="${BENCH_RUN_DIR:-/tmp/pf-fleet-run}"
. "$(dirname "$0")/lib.sh"
NNODES="${NNODES:-100}"; NUP="${NUP:-10000}"; PCT="${PCT:-1}"; STEPS="${STEPS:-60}"
DOWN_S="${DOWN_S:-1}"
PY="$BENCH_DIR/fleet_scale.py"
CURL_MAX=20000                     # bound of the client loop
STOP_FILE="$RUN/curl.stop"
CURL_PID=""; ORIGIN_STARTED=0

echo "machine: $(nproc) cores, $(awk '/MemTotal/ {print int($2/1024)}' /proc/meminfo) MiB, load $(cut -d' ' -f1-3 /proc/loadavg), $(date -u +%FT%TZ), tree $(git -C "$REPO_DIR" rev-parse --short HEAD 2>/dev/null)"
cleanup() {
  touch "$STOP_FILE"
  [ -n "$CURL_PID" ] && kill "$CURL_PID" 2>/dev/null
  bench_cleanup
  [ $ORIGIN_STARTED = 1 ] && ORIGIN_PORT="$P_ORIGIN" "$BENCH_DIR/origin.sh" stop >/dev/null 2>&1
}
trap cleanup EXIT INT TERM

# ---- build --------------------------------------------------------------
B="${PF_BUILD:-$RUN/build}"
if [ -z "${PF_BUILD:-}" ]; then
  log "building proxyfleet-node and proxyfleet-controller (Release) in $B"
  cmake -S "$REPO_DIR" -B "$B" -DCMAKE_BUILD_TYPE=Release -DPF_BUILD_TESTS=OFF >"$RUN/cmake.log" 2>&1 &&
    nice -n 5 cmake --build "$B" -j2 --target proxyfleet-node proxyfleet-controller \
      >"$RUN/build.log" 2>&1 || { echo "build failed; see $RUN/build.log" >&2; exit 1; }
fi
NODE_BIN="$B/proxyfleet-node"; CTL_BIN="$B/proxyfleet-controller"
[ -x "$NODE_BIN" ] && [ -x "$CTL_BIN" ] || { echo "no binaries in $B" >&2; exit 1; }

# Each node: a listener, its admin port only on node 1, two Redis
# connections, a few descriptors of its own: well under the limit.
need_fds=$((NNODES * 16 + 512))
if [ "$(ulimit -n)" -lt "$need_fds" ]; then
  echo "ulimit -n $(ulimit -n) < $need_fds needed for $NNODES nodes" >&2; exit 1
fi

rm -rf "$RUN"/node-* "$RUN/controller" "$RUN"/redis-* "$STOP_FILE"
P_ORIGIN=$(free_port 18380)
ORIGIN_PORT="$P_ORIGIN" "$BENCH_DIR/origin.sh" start >/dev/null || exit 1; ORIGIN_STARTED=1
P_DIRECT=$(free_port 23100); P_DIRECT_ADM=$(free_port $((P_DIRECT + 1)))
NODE_EXTRA_SAVED="${NODE_EXTRA-}"; unset NODE_EXTRA
node_start fleet-direct direct "$P_DIRECT" "$P_DIRECT_ADM" 6379 warn || exit 1
# A port off the ranges other scripts start from, and a prefix of our own:
# nothing else on the box writes this fleet's keys.
P_REDIS=$(free_port $((26000 + RANDOM % 4000)))
PFX=fleetbench
redis_start "$P_REDIS" || exit 1

# ---- controller ---------------------------------------------------------
mkdir -p "$RUN/controller"
LIST="$RUN/controller/upstreams.txt"
python3 "$PY" drive "$LIST" "$P_DIRECT" "$NUP" 0 1 "$PCT" /dev/null || exit 1
P_CTL_ADM=$(free_port 23180)
cat > "$RUN/controller/controller.json" <<JSON
{
  "redis": { "url": "redis://127.0.0.1:$P_REDIS/0", "prefix": "$PFX" },
  "log": { "level": "info" },
  "controller": {
    "id": "fleet-ctl",
    "admin_listen": "127.0.0.1:$P_CTL_ADM",
    "poll_interval_ms": 100,
    "lease_ms": ${LEASE_MS:-30000},
    "default_ttl_s": 86400,
    "providers": [
      { "name": "fleet", "type": "file", "path": "$LIST", "format": "lines",
        "interval_ms": 100, "max_body_bytes": 8388608, "allow_private": true }
    ]
  }
}
JSON
"$CTL_BIN" --check-config --config "$RUN/controller/controller.json" || exit 1
"$CTL_BIN" --config "$RUN/controller/controller.json" >"$RUN/controller/controller.log" 2>&1 &
CTL_PID=$!; BENCH_PIDS+=("$CTL_PID")
for _ in $(seq 200); do
  grep -q "pool published: version" "$RUN/controller/controller.log" && break; sleep 0.1
done
grep -q "pool published: version" "$RUN/controller/controller.log" ||
  { echo "controller never published" >&2; tail -5 "$RUN/controller/controller.log" >&2; exit 1; }
V0="$(redis-cli -p "$P_REDIS" HGET "{$PFX}:v1:pool:meta" version)"
log "controller published version $V0 of $NUP upstreams"

# ---- nodes --------------------------------------------------------------
node_conf() {  # i listen admin
  cat <<JSON
{
  "redis": { "url": "redis://127.0.0.1:$P_REDIS/0", "prefix": "$PFX" },
  "log": { "level": "info" },
  "node": {
    "id": "fleet-$1",
    "listen": "127.0.0.1:$2",
    "admin_listen": "$3",
    "mode": "pool",
    "max_clients": 64,
    "retries": 2,
    "destination_allow": ["127.0.0.0/8"],
    "connect_ports": [],
    "upstream_allow_private": true${NODE_EXTRA_SAVED}
  }
}
JSON
}
wait_all_epoch() {  # epoch deadline_s [count]: until that many nodes logged a pool of that epoch
  local deadline=$(( $(date +%s) + $2 )) n=0 want="${3:-$NNODES}"
  while [ "$(date +%s)" -lt "$deadline" ]; do
    n=$(grep -l -E "pool (reloaded|updated): version [0-9]+ .*epoch $1" "$RUN"/node-*/node.log 2>/dev/null | wc -l)
    [ "$n" -ge "$want" ] && return 0
    sleep 0.25
  done
  echo "only $n of $want nodes hold epoch $1" >&2; return 1
}
EPOCH0="$(redis-cli -p "$P_REDIS" HGET "{$PFX}:v1:pool:meta" epoch)"
# Started ten at a time, each ten once they serve the pool: the start is
# not what is measured (the restart below is).
NODE_PIDS=(); NODE_PORTS=()
port=24000
for i in $(seq "$NNODES"); do
  d="$RUN/node-$i"; mkdir -p "$d"
  port=$(free_port "$port"); adm=""
  if [ "$i" = 1 ]; then P_SAMPLE_ADM=$(free_port $((port + 1))); adm="127.0.0.1:$P_SAMPLE_ADM"; fi
  node_conf "$i" "$port" "$adm" > "$d/node.json"
  if [ "$i" = 1 ]; then "$NODE_BIN" --check-config --config "$d/node.json" || exit 1; fi
  "$NODE_BIN" --config "$d/node.json" >"$d/node.log" 2>&1 &
  NODE_PIDS+=($!); BENCH_PIDS+=($!); NODE_PORTS+=("$port")
  port=$((port + 2))
  if [ $((i % 10)) = 0 ] || [ "$i" = "$NNODES" ]; then wait_all_epoch "$EPOCH0" 120 "$i" || exit 1; fi
done
P_SAMPLE="${NODE_PORTS[0]}"
for p in "${NODE_PORTS[@]}"; do wait_port "$p" 200 || exit 1; done
log "$NNODES nodes serve the pool (epoch $EPOCH0)"

# ---- client loop through node 1 (bounded: count, stop file, time) ------
client_loop() {
  local n=0 fail=0 code end=$(( $(date +%s) + STEPS + 120 ))
  while [ ! -e "$STOP_FILE" ] && [ $n -lt $CURL_MAX ] && [ "$(date +%s)" -lt "$end" ]; do
    code=$(curl -sS -o /dev/null -w '%{http_code}' --max-time 5 -x "http://127.0.0.1:$P_SAMPLE" \
           "http://127.0.0.1:$P_ORIGIN/small" 2>>"$RUN/curl.err")
    n=$((n + 1)); [ "$code" = 200 ] || { fail=$((fail + 1)); echo "$(date +%T.%3N) $code" >> "$RUN/curl.err"; }
    sleep 0.05
  done
  echo "$n $fail" > "$RUN/curl.result"
}
: > "$RUN/curl.err"; rm -f "$RUN/curl.result" "$RUN/steps.txt"
client_loop & CURL_PID=$!

# ---- change phase -------------------------------------------------------
hz=$(getconf CLK_TCK)
redis_ticks() { awk '{print $14 + $15}' "/proc/$REDIS_PID/stat"; }
redis_stat() { redis-cli -p "$P_REDIS" INFO "$1" | tr -d '\r' | awk -F: -v k="$2" '$1==k {print $2}'; }
out0=$(redis_stat stats total_net_output_bytes); in0=$(redis_stat stats total_net_input_bytes)
t0=$(redis_ticks); ms0=$(date +%s%3N)
log "changing $PCT% of $NUP upstreams every second for $STEPS s"
timeout $((STEPS + 30)) python3 "$PY" drive "$LIST" "$P_DIRECT" "$NUP" "$STEPS" 1 "$PCT" "$RUN/steps.txt"
sleep 1   # the last change's poll, publish and apply
ms1=$(date +%s%3N); t1=$(redis_ticks)
out1=$(redis_stat stats total_net_output_bytes); in1=$(redis_stat stats total_net_input_bytes)
VLAST="$(redis-cli -p "$P_REDIS" HGET "{$PFX}:v1:pool:meta" version)"
# Every node at the last version (30 s at most) before the figures are read.
for _ in $(seq 120); do
  n=0
  for f in "$RUN"/node-*/node.log; do
    grep -q -E "pool (reloaded|updated): version $VLAST " "$f" && n=$((n + 1))
  done
  [ $n -ge "$NNODES" ] && break; sleep 0.25
done
echo "== change phase: $STEPS changes of $PCT% of $NUP upstreams, $NNODES nodes =="
python3 "$PY" report "$RUN" "$NNODES" "$ms0" "$ms1" | tee "$RUN/report.txt"
NV=$(sed -n 's/^VERSIONS=//p' "$RUN/report.txt"); NV=${NV:-1}; [ "$NV" -gt 0 ] || NV=1
awk -v t="$((t1 - t0))" -v hz="$hz" -v ms="$((ms1 - ms0))" -v o="$((out1 - out0))" \
    -v i="$((in1 - in0))" -v nv="$NV" -v nn="$NNODES" 'BEGIN {
  printf "redis CPU: %.2f s over %.1f s = %.0f%% of one core\n", t / hz, ms / 1000, 100 * t / hz / (ms / 1000)
  printf "redis bytes out: %.0f per change (%.0f per node per change), in: %.0f per change\n", o / nv, o / nv / nn, i / nv
}'
rss_sum=0; rss_max=0
for p in "${NODE_PIDS[@]}"; do r=$(rss_kib "$p"); rss_sum=$((rss_sum + r)); [ "$r" -gt $rss_max ] && rss_max=$r; done
echo "node RSS: mean $((rss_sum / NNODES)) KiB, max $rss_max KiB, total $((rss_sum / 1024)) MiB"
echo "controller RSS: $(rss_kib "$CTL_PID") KiB"

# ---- Redis restart ------------------------------------------------------
log "restarting Redis (down ${DOWN_S}s)"
kill "$REDIS_PID"
for _ in $(seq 100); do kill -0 "$REDIS_PID" 2>/dev/null || break; sleep 0.1; done
kill -0 "$REDIS_PID" 2>/dev/null && { echo "redis $REDIS_PID did not stop" >&2; exit 1; }
old=("${BENCH_PIDS[@]}"); BENCH_PIDS=()
for p in "${old[@]}"; do [ "$p" = "$REDIS_PID" ] || BENCH_PIDS+=("$p"); done
sleep "$DOWN_S"
redis_start "$P_REDIS" || exit 1
up_ms=$(date +%s%3N)
: > "$RUN/redis-samples.txt"
EPOCH1=""; deadline=$(( $(date +%s) + 60 ))
while [ "$(date +%s)" -lt "$deadline" ]; do
  echo "$(date +%s%3N) $(redis_ticks) $(redis_stat clients connected_clients)" >> "$RUN/redis-samples.txt"
  [ -n "$EPOCH1" ] || EPOCH1="$(redis-cli -p "$P_REDIS" HGET "{$PFX}:v1:pool:meta" epoch)"
  if [ -n "$EPOCH1" ]; then
    n=$(grep -l -E "pool (reloaded|updated): version [0-9]+ .*epoch $EPOCH1" "$RUN"/node-*/node.log 2>/dev/null | wc -l)
    [ "$n" -ge "$NNODES" ] && break
  fi
  sleep 0.1
done
for _ in $(seq 10); do   # one more second of samples after the last node
  echo "$(date +%s%3N) $(redis_ticks) $(redis_stat clients connected_clients)" >> "$RUN/redis-samples.txt"
  sleep 0.1
done
touch "$STOP_FILE"; wait "$CURL_PID"; CURL_PID=""
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "== Redis restart (down ${DOWN_S}s), new epoch ${EPOCH1:-none} =="
python3 "$PY" resync "$RUN" "$NNODES" "${EPOCH1:-none}" "$up_ms" "$RUN/redis-samples.txt" | tee "$RUN/resync.txt"
read -r nreq nfail < "$RUN/curl.result"
echo "client requests through node 1: $nreq, failed: $nfail (change phase and restart)"
[ "$nfail" = 0 ] || tail -5 "$RUN/curl.err" >&2
grep -q '^RESYNC_MS=' "$RUN/resync.txt" && [ "$nfail" = 0 ]
