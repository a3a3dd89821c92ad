#!/usr/bin/env bash
# Runs a local proxyfleet natively on loopback: bash scripts/run-fleet.sh
#
#   redis-server (free port) <- controller (static provider: the 2 demo upstreams)
#   node-a 127.0.0.1:3128, node-b 127.0.0.1:3129 (pool mode)
#     -> upstream-a / upstream-b (proxyfleet-node in direct mode)
#     -> demo origin (tests/origin.py)
#
# As root on Debian 12 it installs missing packages first; it builds the
# release binaries (build-release/) unless PF_NODE_BIN and PF_CONTROLLER_BIN
# point at built ones. Configs and logs go to .pf-run/ (git-ignored).
# Ctrl-C (SIGINT/SIGTERM) stops every process and exits 0.
#
#   --check   start, curl through both nodes, verify the Redis keys, stop
#             cleanly, exit 0 on success (used by tests/integration/test_run_fleet.py).
#             All ports are free ports in this mode.
#   --run-dir DIR   write configs/logs there instead of .pf-run/
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CHECK=0
RUN_DIR="$ROOT/.pf-run"
while [ $# -gt 0 ]; do
  case "$1" in
    --check) CHECK=1 ;;
    --run-dir) RUN_DIR="$2"; shift ;;
    -h|--help) sed -n '2,18p' "${BASH_SOURCE[0]}"; exit 0 ;;
    *) echo "run-fleet: unknown argument: $1" >&2; exit 2 ;;
  esac
  shift
done
[ "${PF_FLEET_CHECK:-0}" = "1" ] && CHECK=1

say() { printf 'run-fleet: %s\n' "$*"; }
die() { printf 'run-fleet: ERROR: %s\n' "$*" >&2; stop_all; exit 1; }

PACKAGES=(build-essential cmake pkg-config libhiredis-dev libevent-dev libcurl4-openssl-dev
          libcjson-dev libcriterion-dev libssl-dev redis-server redis-tools curl python3)

install_packages() {
  local missing=() p
  for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  [ "${#missing[@]}" -eq 0 ] && return 0
  if [ "$(id -u)" -ne 0 ]; then
    say "missing packages (${missing[*]}); not root, not installing"
    return 0
  fi
  say "installing ${missing[*]}"
  local policy_created=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod 755 /usr/sbin/policy-rc.d
    policy_created=1
  fi
  local rc=0
  DEBIAN_FRONTEND=noninteractive apt-get update || rc=$?
  [ "$rc" -eq 0 ] && { DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}" || rc=$?; }
  [ "$policy_created" -eq 1 ] && rm -f /usr/sbin/policy-rc.d
  return "$rc"
}

PIDS=()       # in start order
NAMES=()
STOPPED=0
STOP_FAILED=0

stop_all() {
  [ "$STOPPED" -eq 1 ] && return 0
  STOPPED=1
  local i pid name rc deadline
  for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
    pid="${PIDS[$i]}"; name="${NAMES[$i]}"
    kill -0 "$pid" 2>/dev/null || continue
    kill -TERM "$pid" 2>/dev/null
    deadline=$(( $(date +%s) + 10 ))
    while kill -0 "$pid" 2>/dev/null && [ "$(date +%s)" -lt "$deadline" ]; do sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then
      say "$name (pid $pid) ignored SIGTERM for 10s, killing"
      kill -KILL "$pid" 2>/dev/null
      STOP_FAILED=1
    fi
    wait "$pid" 2>/dev/null; rc=$?
    if [ "$rc" -ne 0 ] && [[ "$name" != redis* ]]; then
      say "$name exited with code $rc on SIGTERM"
      STOP_FAILED=1
    fi
  done
}

on_signal() {
  echo
  say "stopping"
  stop_all
  exit 0
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_port() {  # name pid port [timeout_s]
  local name="$1" pid="$2" port="$3" deadline=$(( $(date +%s) + ${4:-15} ))
  while ! port_busy "$port"; do
    if ! kill -0 "$pid" 2>/dev/null; then
      tail -n 30 "$RUN_DIR/$name.log" >&2
      die "$name exited before listening on $port (log: $RUN_DIR/$name.log)"
    fi
    [ "$(date +%s)" -ge "$deadline" ] && die "$name not listening on $port after ${4:-15}s"
    sleep 0.1
  done
}

start() {  # name cmd...
  local name="$1"; shift
  "$@" > "$RUN_DIR/$name.log" 2>&1 < /dev/null &
  PIDS+=("$!"); NAMES+=("$name")
}

# ---------------------------------------------------------------------------

install_packages || say "package installation failed; continuing with what is there"
for t in redis-server redis-cli curl python3; do
  command -v "$t" >/dev/null || { echo "run-fleet: $t is not installed" >&2; exit 1; }
done

NODE_BIN="${PF_NODE_BIN:-}"
CTL_BIN="${PF_CONTROLLER_BIN:-}"
STATUS_BIN="${PF_CTL_BIN:-}"   # proxyfleet-ctl
if [ -z "$NODE_BIN" ] || [ -z "$CTL_BIN" ] || [ -z "$STATUS_BIN" ]; then
  BUILD="$ROOT/build-release"
  if [ ! -f "$BUILD/CMakeCache.txt" ]; then
    say "configuring a release build in $BUILD"
    cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DPF_SANITIZE=OFF >/dev/null \
      || { echo "run-fleet: cmake configure failed" >&2; exit 1; }
  fi
  say "building proxyfleet-node, proxyfleet-controller and proxyfleet-ctl"
  cmake --build "$BUILD" -j "$(nproc)" --target proxyfleet-node proxyfleet-controller \
    proxyfleet-ctl >/dev/null \
    || { echo "run-fleet: build failed (run: cmake --build $BUILD)" >&2; exit 1; }
  NODE_BIN="$BUILD/proxyfleet-node"
  CTL_BIN="$BUILD/proxyfleet-controller"
  STATUS_BIN="$BUILD/proxyfleet-ctl"
fi
[ -x "$NODE_BIN" ] || { echo "run-fleet: $NODE_BIN is not executable" >&2; exit 1; }
[ -x "$CTL_BIN" ] || { echo "run-fleet: $CTL_BIN is not executable" >&2; exit 1; }
[ -x "$STATUS_BIN" ] || { echo "run-fleet: $STATUS_BIN is not executable" >&2; exit 1; }

mkdir -p "$RUN_DIR"
rm -f "$RUN_DIR"/*.log "$RUN_DIR"/*.json "$RUN_DIR"/*.jsonl
trap on_signal INT TERM
trap stop_all EXIT

# Ports: the demo nodes on 3128/3129 when free (free ports in --check mode).
pick() {  # preferred
  if [ "$CHECK" -eq 0 ] && [ -n "${1:-}" ] && ! port_busy "$1"; then echo "$1"; else free_port; fi
}
REDIS_PORT=$(free_port)
ORIGIN_PORT=$(free_port)
UP_A=$(free_port); UP_B=$(free_port)
NODE_A=$(pick 3128); NODE_B=$(pick 3129)
while [ "$NODE_B" = "$NODE_A" ]; do NODE_B=$(free_port); done
ADM_A=$(free_port); ADM_B=$(free_port); ADM_UA=$(free_port); ADM_UB=$(free_port); ADM_C=$(free_port)
LEVEL="${PF_LOG_LEVEL_DEMO:-info}"
REDIS_URL="redis://127.0.0.1:$REDIS_PORT/0"
# Seals upstream passwords in Redis (redis.credential_key_file): made on the
# first run, kept across runs (64 hex chars, mode 0600).
KEY_FILE="$RUN_DIR/credential.key"
if [ ! -s "$KEY_FILE" ]; then
  (umask 077 && od -An -N32 -tx1 /dev/urandom | tr -d ' \n' > "$KEY_FILE" && echo >> "$KEY_FILE")
fi

node_conf() {  # id listen admin mode
  cat > "$RUN_DIR/$1.json" <<EOF
{
  "redis": { "url": "$REDIS_URL", "prefix": "pf", "credential_key_file": "$KEY_FILE" },
  "log": { "level": "$LEVEL" },
  "node": {
    "id": "$1",
    "listen": "127.0.0.1:$2",
    "admin_listen": "127.0.0.1:$3",
    "mode": "$4",
    "report_interval_ms": 1000,
    "destination_allow": ["127.0.0.0/8"],
    "upstream_allow_private": ["127.0.0.0/8"],
    "connect_ports": [443, 80, $ORIGIN_PORT]
  }
}
EOF
}
node_conf upstream-a "$UP_A" "$ADM_UA" direct
node_conf upstream-b "$UP_B" "$ADM_UB" direct
node_conf node-a "$NODE_A" "$ADM_A" pool
node_conf node-b "$NODE_B" "$ADM_B" pool
cat > "$RUN_DIR/controller.json" <<EOF
{
  "redis": { "url": "$REDIS_URL", "prefix": "pf", "credential_key_file": "$KEY_FILE" },
  "log": { "level": "$LEVEL" },
  "controller": {
    "id": "ctl-a",
    "admin_listen": "127.0.0.1:$ADM_C",
    "poll_interval_ms": 2000,
    "heartbeat_interval_ms": 1000,
    "providers": [
      { "name": "demo", "type": "static", "allow_private": ["127.0.0.0/8"],
        "upstreams": ["http://127.0.0.1:$UP_A", "http://127.0.0.1:$UP_B"] }
    ]
  }
}
EOF

start redis redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no \
  --dir "$RUN_DIR" --daemonize no --protected-mode no
wait_port redis "${PIDS[-1]}" "$REDIS_PORT"
start origin python3 "$ROOT/tests/origin.py" --port "$ORIGIN_PORT" --name demo-origin \
  --log "$RUN_DIR/origin.requests.jsonl"
wait_port origin "${PIDS[-1]}" "$ORIGIN_PORT"
start upstream-a env -u PF_REDIS_URL -u PF_NODE_ID "$NODE_BIN" --config "$RUN_DIR/upstream-a.json"
wait_port upstream-a "${PIDS[-1]}" "$UP_A"
start upstream-b env -u PF_REDIS_URL -u PF_NODE_ID "$NODE_BIN" --config "$RUN_DIR/upstream-b.json"
wait_port upstream-b "${PIDS[-1]}" "$UP_B"
start controller env -u PF_REDIS_URL -u PF_CONTROLLER_ID "$CTL_BIN" --config "$RUN_DIR/controller.json"
wait_port controller "${PIDS[-1]}" "$ADM_C"
start node-a env -u PF_REDIS_URL -u PF_NODE_ID "$NODE_BIN" --config "$RUN_DIR/node-a.json"
wait_port node-a "${PIDS[-1]}" "$NODE_A"
start node-b env -u PF_REDIS_URL -u PF_NODE_ID "$NODE_BIN" --config "$RUN_DIR/node-b.json"
wait_port node-b "${PIDS[-1]}" "$NODE_B"

rcli() { redis-cli -h 127.0.0.1 -p "$REDIS_PORT" --raw "$@"; }

# Wait until the pool is published and both nodes serve it.
deadline=$(( $(date +%s) + 20 ))
until [ "$(rcli HGET '{pf}:v1:pool:meta' count 2>/dev/null)" = "2" ] && \
      [ "$(rcli HGET '{pf}:v1:node:node-a' pool_size 2>/dev/null)" = "2" ] && \
      [ "$(rcli HGET '{pf}:v1:node:node-b' pool_size 2>/dev/null)" = "2" ]; do
  if [ "$(date +%s)" -ge "$deadline" ]; then
    say "pool not loaded after 20s; meta: $(rcli HGETALL '{pf}:v1:pool:meta' | tr '\n' ' ')"
    [ "$CHECK" -eq 1 ] && die "fleet did not become ready"
    break
  fi
  sleep 0.2
done

cat <<EOF

proxyfleet is running (configs and logs in $RUN_DIR):
  redis       127.0.0.1:$REDIS_PORT
  origin      http://127.0.0.1:$ORIGIN_PORT/
  upstreams   127.0.0.1:$UP_A  127.0.0.1:$UP_B   (direct-mode nodes)
  controller  admin http://127.0.0.1:$ADM_C/metrics
  status page http://127.0.0.1:$ADM_C/
  nodes       127.0.0.1:$NODE_A (admin $ADM_A)  127.0.0.1:$NODE_B (admin $ADM_B)

Try:
  curl -x http://127.0.0.1:$NODE_A http://127.0.0.1:$ORIGIN_PORT/
  $STATUS_BIN --config $RUN_DIR/controller.json status
  redis-cli -p $REDIS_PORT HGETALL '{pf}:v1:pool:meta'

EOF

if [ "$CHECK" -eq 1 ]; then
  fail=0
  check() { if eval "$2"; then say "ok: $1"; else say "FAIL: $1"; fail=1; fi; }
  for port in "$NODE_A" "$NODE_B"; do
    body=$(curl -sS --max-time 10 -x "http://127.0.0.1:$port" "http://127.0.0.1:$ORIGIN_PORT/check-$port")
    check "GET through 127.0.0.1:$port reaches the origin" '[[ "$body" == *demo-origin* ]]'
    body=$(curl -sS --max-time 10 -p -x "http://127.0.0.1:$port" "http://127.0.0.1:$ORIGIN_PORT/tunnel-$port")
    check "CONNECT through 127.0.0.1:$port reaches the origin" '[[ "$body" == *demo-origin* ]]'
  done
  check "pool:meta version >= 1" '[ "$(rcli HGET "{pf}:v1:pool:meta" version)" -ge 1 ] 2>/dev/null'
  check "pool:meta epoch is 16 hex" '[[ "$(rcli HGET "{pf}:v1:pool:meta" epoch)" =~ ^[0-9a-f]{16}$ ]]'
  check "pool:upstreams holds both upstreams" \
    '[ "$(rcli HKEYS "{pf}:v1:pool:upstreams" | sort | tr "\n" " ")" = "$(printf "http://127.0.0.1:%s\n" "$UP_A" "$UP_B" | sort | tr "\n" " ")" ]'
  check "providers = demo" '[ "$(rcli SMEMBERS "{pf}:v1:providers")" = "demo" ]'
  check "provider demo state ok" '[ "$(rcli HGET "{pf}:v1:provider:demo" state)" = "ok" ]'
  check "nodes zset lists node-a and node-b" \
    '[ "$(rcli ZRANGE "{pf}:v1:nodes" 0 -1 | sort | tr "\n" " ")" = "node-a node-b " ]'
  deadline=$(( $(date +%s) + 10 ))
  until [ "$(rcli HGET '{pf}:v1:node:node-a' requests_total)" -ge 2 ] 2>/dev/null || \
        [ "$(date +%s)" -ge "$deadline" ]; do sleep 0.2; done
  check "node-a heartbeat requests_total >= 2" '[ "$(rcli HGET "{pf}:v1:node:node-a" requests_total)" -ge 2 ] 2>/dev/null'
  check "node-a heartbeat has a TTL" '[ "$(rcli PTTL "{pf}:v1:node:node-a")" -gt 0 ]'
  check "proxyfleet-ctl status --check passes" \
    '"$STATUS_BIN" --config "$RUN_DIR/controller.json" status --check'
  check "the status page is served" \
    '[[ "$(curl -sS --max-time 10 "http://127.0.0.1:$ADM_C/")" == *"<title>proxyfleet status</title>"* ]]'
  check "origin saw 4 requests" '[ "$(wc -l < "$RUN_DIR/origin.requests.jsonl")" -eq 4 ]'
  stop_all
  [ "$STOP_FAILED" -eq 0 ] || { say "FAIL: a process did not stop cleanly on SIGTERM"; fail=1; }
  san="ERROR: Address""Sanitizer|ERROR: Leak""Sanitizer|runtime"" error:"
  if grep -lE "$san" "$RUN_DIR"/*.log >/dev/null 2>&1; then
    say "FAIL: sanitizer report in $(grep -lE "$san" "$RUN_DIR"/*.log | tr '\n' ' ')"
    fail=1
  fi
  if [ "$fail" -eq 0 ]; then say "check passed"; exit 0; fi
  for n in controller node-a node-b upstream-a upstream-b; do
    echo "----- $n.log (tail) -----"; tail -n 30 "$RUN_DIR/$n.log"
  done
  say "check FAILED"
  exit 1
fi

say "press Ctrl-C to stop"
while true; do
  for i in "${!PIDS[@]}"; do
    if ! kill -0 "${PIDS[$i]}" 2>/dev/null; then
      say "${NAMES[$i]} exited unexpectedly; log tail:"
      tail -n 20 "$RUN_DIR/${NAMES[$i]}.log"
      stop_all
      exit 1
    fi
  done
  sleep 1 &
  wait $! 2>/dev/null
done
