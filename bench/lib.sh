# Shared helpers for bench/run.sh, bench/idle_tunnels.sh, bench/snapshot_apply.sh.
# Sourced, not executed. Everything runs on loopback; every process started
# here is tracked in BENCH_PIDS and stopped by bench_cleanup (by pid only).
#
# Env: PF_NODE_BIN (skip the build), BENCH_RUN_DIR (/tmp/pf-bench-run),
#      BENCH_BUILD_DIR ($BENCH_RUN_DIR/build), ORIGIN_PORT (18080).

BENCH_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_DIR="$(cd "$BENCH_DIR/.." && pwd)"
RUN="${BENCH_RUN_DIR:-/tmp/pf-bench-run}"
export BENCH_RUN_DIR="$RUN"
mkdir -p "$RUN"; chmod 755 "$RUN"
ORIGIN_PORT="${ORIGIN_PORT:-18080}"
export ORIGIN_PORT ORIGIN="127.0.0.1:$ORIGIN_PORT"
BENCH_PIDS=()

log() { printf '[bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

bench_cleanup() {
  local p alive
  for p in "${BENCH_PIDS[@]}"; do kill "$p" 2>/dev/null; done
  for _ in $(seq 50); do
    alive=0; for p in "${BENCH_PIDS[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
    [ $alive = 0 ] && break; sleep 0.1
  done
  for p in "${BENCH_PIDS[@]}"; do kill -0 "$p" 2>/dev/null && kill -9 "$p" 2>/dev/null; done
  BENCH_PIDS=()
}

wait_port() {  # port [tries of 0.1 s]
  for _ in $(seq "${2:-100}"); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.1; done
  echo "port $1 never opened" >&2; return 1
}

port_is_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# free_port START: first port >= START nobody listens on
free_port() {
  local p="$1"
  while ! port_is_free "$p"; do p=$((p + 1)); done
  echo "$p"
}

# Builds proxyfleet-node (Release, no tests) unless PF_NODE_BIN is set.
bench_node_bin() {
  if [ -n "${PF_NODE_BIN:-}" ]; then
    [ -x "$PF_NODE_BIN" ] || { echo "PF_NODE_BIN=$PF_NODE_BIN is not executable" >&2; return 1; }
    echo "$PF_NODE_BIN"; return 0
  fi
  local b="${BENCH_BUILD_DIR:-$RUN/build}"
  log "building proxyfleet-node (Release) in $b"
  cmake -S "$REPO_DIR" -B "$b" -DCMAKE_BUILD_TYPE=Release -DPF_BUILD_TESTS=OFF >"$RUN/cmake.log" 2>&1 &&
    cmake --build "$b" -j"$(nproc)" --target proxyfleet-node >"$RUN/build.log" 2>&1 ||
    { echo "build failed; see $RUN/cmake.log $RUN/build.log" >&2; return 1; }
  echo "$b/proxyfleet-node"
}

# node_start NAME MODE LISTEN_PORT ADMIN_PORT [REDIS_PORT] [LOG_LEVEL]
# Writes $RUN/NAME/node.json and starts the node; sets NODE_PID.
# NODE_BIN_USE (default $NODE_BIN) picks the binary; NODE_EXTRA is JSON text
# appended inside "node"; unset, it admits the loopback upstreams the
# benchmarks use (', "upstream_allow_private": true'); set it empty for a
# binary older than that key (the A/B base of bench/run.sh).
node_start() {
  local name="$1" mode="$2" port="$3" admin="$4" rport="${5:-6379}" level="${6:-warn}"
  local bin="${NODE_BIN_USE:-$NODE_BIN}"
  local d="$RUN/$name"; mkdir -p "$d"
  cat > "$d/node.json" <<JSON
{
  "redis": { "url": "redis://127.0.0.1:$rport/0", "prefix": "pf" },
  "log": { "level": "$level" },
  "node": {
    "id": "bench-$name",
    "listen": "127.0.0.1:$port",
    "admin_listen": "127.0.0.1:$admin",
    "mode": "$mode",
    "max_clients": 100000,
    "idle_timeout_ms": 600000,
    "report_interval_ms": 2000,
    "retries": 2,
    "destination_allow": ["127.0.0.0/8"],
    "connect_ports": []${NODE_EXTRA-, \"upstream_allow_private\": true}
  }
}
JSON
  "$bin" --check-config --config "$d/node.json" || { echo "node config rejected" >&2; return 1; }
  "$bin" --config "$d/node.json" >"$d/node.log" 2>&1 & NODE_PID=$!
  BENCH_PIDS+=("$NODE_PID")
  wait_port "$port" && wait_port "$admin"
}

# redis_start PORT: private redis-server without persistence; sets REDIS_PID.
redis_start() {
  local port="$1" d="$RUN/redis-$1"; mkdir -p "$d"
  redis-server --bind 127.0.0.1 --port "$port" --save '' --appendonly no --dir "$d" \
    --logfile "$d/redis.log" --daemonize no & REDIS_PID=$!
  BENCH_PIDS+=("$REDIS_PID")
  wait_port "$port"
}

# pool_write_one RPORT UPSTREAM_PORT VERSION EPOCH: one-upstream snapshot + notice.
pool_write_one() {
  local rp="$1" up="$2" ver="$3" ep="$4"
  local rec="{\"scheme\":\"http\",\"host\":\"127.0.0.1\",\"port\":$up,\"provider\":\"bench\",\"expires_at_ms\":0,\"weight\":1,\"latency_ms\":0}"
  redis-cli -p "$rp" DEL '{pf}:v1:pool:upstreams' >/dev/null
  redis-cli -p "$rp" HSET '{pf}:v1:pool:upstreams' "http://127.0.0.1:$up" "$rec" >/dev/null
  redis-cli -p "$rp" HSET '{pf}:v1:pool:meta' version "$ver" epoch "$ep" count 1 \
    updated_at_ms "$(date +%s%3N)" controller_id bench >/dev/null
  redis-cli -p "$rp" PUBLISH '{pf}:v1:pool:events' "$ver $ep" >/dev/null
}

# metric ADMIN_PORT NAME: value of an unlabelled pf_node_NAME metric
metric() { curl -fsS "http://127.0.0.1:$1/metrics" 2>/dev/null | awk -v n="pf_node_$2" '$1==n {print $2}'; }

# wait_pool ADMIN_PORT VERSION: until the node serves that pool version (10 s)
wait_pool() {
  for _ in $(seq 100); do
    [ "$(metric "$1" pool_version)" = "$2" ] && return 0; sleep 0.1
  done
  echo "node on admin port $1 never loaded pool version $2" >&2; return 1
}

# rss_kib PID
rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
