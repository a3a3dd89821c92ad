#!/usr/bin/env bash
# proxyfleet-node throughput benchmark: one hop (direct mode), two hops
# (pool-mode node -> direct-mode node) and the anchors (tinyproxy, squid,
# privoxy, tinyproxy>squid, haproxy), all in one run against a private nginx
# origin.
# Each target is measured with proxy-bench.sh, which takes its own `direct`
# reference in the same invocation, so every ratio comes from one run.
#
# Usage: bench/run.sh            (env knobs below)
#   PF_NODE_BIN  node binary to use (default: build Release into $BENCH_RUN_DIR/build)
#   PF_NODE_BIN_BASE  a second node binary (e.g. built from an older commit):
#                its one hop and two hops run as targets "base" and
#                "base>base" in the same run (own Redis; started without
#                the keys newer than it), for a same-run A/B
#   NODE_EXTRA_BASE  JSON text appended inside "node" of the base nodes
#                (default none; e.g. ', "upstream_allow_private": true' for a
#                base that knows that key, so its two hops may dial loopback)
#   REPS         repetitions (3); medians are reported
#   ANCHORS      space-separated subset of: tinyproxy squid privoxy haproxy tinyproxy>squid squid>tinyproxy
#                (default "tinyproxy squid privoxy haproxy tinyproxy>squid"; missing binaries are skipped)
#                haproxy runs in HTTP mode, routing absolute-form requests by
#                their URI (set-dst url_ip / url_port, server 0.0.0.0:0), one
#                thread; it does not tunnel CONNECT, so only its http-forward and
#                bulk-forward lines count
#   DUR BULK_DUR CONNS BULK_CONNS   passed to proxy-bench.sh (8 5 64 4)
#   LABELS_BANS  1: two more pool nodes in front of the same direct node, both
#                with a user "bench": "pf-auth>pf-node" (one upstream, no bans,
#                client user "bench") and "pf-lb>pf-node" (10,000 labelled
#                upstreams, 1,000 bans of which 20 on the origin's host, client
#                user "bench-country-us"), each with its own Redis; the summary
#                ends with their quotients (issue 12, "Speed")
#   BENCH_RUN_DIR  scratch dir (/tmp/pf-bench-run)
# Every single-process target's http-forward and bulk-forward lines carry its
# CPU seconds and requests (MB) per CPU-second (proxy-bench.sh PROXY_PID); for
# a chain, the CPU of its first hop.
# Output: raw lines in $BENCH_RUN_DIR/results-raw.txt, summary (markdown) on
# stdout and in $BENCH_RUN_DIR/summary.md.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
REPS="${REPS:-3}"
ANCHORS="${ANCHORS:-tinyproxy squid privoxy haproxy tinyproxy>squid}"
declare -A TPID   # target name -> pid whose CPU proxy-bench.sh samples

NODE_BIN="$(bench_node_bin)" || exit 1
cleanup() { bench_cleanup; "$BENCH_DIR/origin.sh" stop >/dev/null 2>&1; }
trap cleanup EXIT INT TERM

"$BENCH_DIR/origin.sh" start >/dev/null || exit 1

# ---- proxyfleet: direct node, Redis, pool node pointing at the direct node
P_NODE=$(free_port 13400); P_NODE_ADM=$(free_port $((P_NODE + 1)))
P_HOP=$(free_port $((P_NODE_ADM + 1))); P_HOP_ADM=$(free_port $((P_HOP + 1)))
P_REDIS=$(free_port 16390)
node_start direct direct "$P_NODE" "$P_NODE_ADM" || exit 1; PID_DIRECT=$NODE_PID
redis_start "$P_REDIS" || exit 1
node_start hop pool "$P_HOP" "$P_HOP_ADM" "$P_REDIS" || exit 1; PID_HOP=$NODE_PID
EPOCH="$(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n')"
pool_write_one "$P_REDIS" "$P_NODE" 1 "$EPOCH"
wait_pool "$P_HOP_ADM" 1 || exit 1
log "node direct :$P_NODE (pid $PID_DIRECT), node pool :$P_HOP (pid $PID_HOP) -> :$P_NODE, redis :$P_REDIS"
NODE_PIDS="$PID_DIRECT $PID_HOP"
BASE_TARGETS=()
if [ -n "${PF_NODE_BIN_BASE:-}" ]; then
  [ -x "$PF_NODE_BIN_BASE" ] || { log "PF_NODE_BIN_BASE=$PF_NODE_BIN_BASE is not executable"; exit 1; }
  P_B=$(free_port $((P_REDIS + 1))); P_B_ADM=$(free_port $((P_B + 1)))
  P_BH=$(free_port $((P_B_ADM + 1))); P_BH_ADM=$(free_port $((P_BH + 1)))
  P_BREDIS=$(free_port $((P_BH_ADM + 1)))
  NODE_BIN_USE="$PF_NODE_BIN_BASE" NODE_EXTRA="${NODE_EXTRA_BASE-}" node_start base-direct direct "$P_B" "$P_B_ADM" || exit 1
  NODE_PIDS="$NODE_PIDS $NODE_PID"
  redis_start "$P_BREDIS" || exit 1
  NODE_BIN_USE="$PF_NODE_BIN_BASE" NODE_EXTRA="${NODE_EXTRA_BASE-}" node_start base-hop pool "$P_BH" "$P_BH_ADM" "$P_BREDIS" || exit 1
  NODE_PIDS="$NODE_PIDS $NODE_PID"
  pool_write_one "$P_BREDIS" "$P_B" 1 "$EPOCH"
  wait_pool "$P_BH_ADM" 1 || exit 1
  BASE_TARGETS=("base:127.0.0.1:$P_B" "base>base:127.0.0.1:$P_BH")
  TPID[base]=$(echo "$NODE_PIDS" | awk '{ print $(NF-1) }'); TPID['base>base']=$NODE_PID
  log "base node ($PF_NODE_BIN_BASE) direct :$P_B, pool :$P_BH -> :$P_B, redis :$P_BREDIS"
fi

declare -A CREDS_OF=()
if [ "${LABELS_BANS:-0}" = 1 ]; then
  srcs=$(ls "$REPO_DIR"/common/*.c | grep -v -e '/version\.c$' -e '/cli\.c$')
  # shellcheck disable=SC2086
  ${CC:-cc} -std=c11 -O2 -D_GNU_SOURCE -I"$REPO_DIR/common" "$BENCH_DIR/lb_gen.c" $srcs \
    -lcjson -lcrypto -o "$RUN/lb_gen" || { log "lb_gen build failed"; exit 1; }
  USERS_EXTRA=', "upstream_allow_private": true, "users": [{"user": "bench", "pass": "bench"}]'
  P_AUTH=$(free_port 13600); P_AUTH_ADM=$(free_port $((P_AUTH + 1)))
  P_LB=$(free_port $((P_AUTH_ADM + 1))); P_LB_ADM=$(free_port $((P_LB + 1)))
  P_AREDIS=$(free_port 16420); P_LREDIS=$(free_port $((P_AREDIS + 1)))
  redis_start "$P_AREDIS" || exit 1
  redis_start "$P_LREDIS" || exit 1
  NODE_EXTRA="$USERS_EXTRA" node_start auth-hop pool "$P_AUTH" "$P_AUTH_ADM" "$P_AREDIS" || exit 1
  NODE_PIDS="$NODE_PIDS $NODE_PID"; TPID["pf-auth>pf-node"]=$NODE_PID
  pool_write_one "$P_AREDIS" "$P_NODE" 1 "$EPOCH"
  # bans written straight into Redis are not announced: load them before
  # the node starts, which reads them all when it connects
  "$RUN/lb_gen" "$P_NODE" 10000 1000 20 127.0.0.1 "$(date +%s%3N)" 1 "$EPOCH" |
    redis-cli -p "$P_LREDIS" --pipe >"$RUN/lb_gen.log" 2>&1 || { log "loading the pool failed"; exit 1; }
  NODE_EXTRA="$USERS_EXTRA" node_start lb-hop pool "$P_LB" "$P_LB_ADM" "$P_LREDIS" || exit 1
  NODE_PIDS="$NODE_PIDS $NODE_PID"; TPID["pf-lb>pf-node"]=$NODE_PID
  wait_pool "$P_AUTH_ADM" 1 || exit 1
  wait_pool "$P_LB_ADM" 1 || exit 1
  for _ in $(seq 100); do [ "$(metric "$P_LB_ADM" bans)" = 1000 ] && break; sleep 0.1; done
  [ "$(metric "$P_LB_ADM" bans)" = 1000 ] || { log "lb node holds $(metric "$P_LB_ADM" bans) bans, not 1000"; exit 1; }
  CREDS_OF["pf-auth>pf-node"]="bench:bench"
  CREDS_OF["pf-lb>pf-node"]="bench-country-us:bench"
  BASE_TARGETS+=("pf-auth>pf-node:127.0.0.1:$P_AUTH" "pf-lb>pf-node:127.0.0.1:$P_LB")
  log "labels+bans: pool :$P_LB (10000 upstreams, 1000 bans, redis :$P_LREDIS), plain :$P_AUTH (redis :$P_AREDIS), both -> :$P_NODE"
fi

# ---- anchors (configs as in the shared anchors.sh)
A="$RUN/anchors"; mkdir -p "$A"
tinyproxy_start() {  # port [upstream-port]
  local port="$1" up="${2:-}" d="$A/tinyproxy-$1"; mkdir -p "$d"; chmod 777 "$d"
  cat > "$d/tinyproxy.conf" <<CONF
User nobody
Group nogroup
Port $port
Listen 127.0.0.1
Timeout 600
MaxClients 1024
LogFile "$d/tinyproxy.log"
LogLevel Error
PidFile "$d/tinyproxy.pid"
Allow 127.0.0.1
ConnectPort $ORIGIN_PORT
DisableViaHeader Yes
CONF
  [ -n "$up" ] && echo "Upstream http 127.0.0.1:$up" >> "$d/tinyproxy.conf"
  tinyproxy -d -c "$d/tinyproxy.conf" >"$d/stdout.log" 2>&1 & BENCH_PIDS+=($!)
  wait_port "$port"
}
squid_start() {  # port [parent-port]
  local port="$1" up="${2:-}" d="$A/squid-$1"; mkdir -p "$d"; chown proxy:proxy "$d" 2>/dev/null || chmod 777 "$d"
  cat > "$d/squid.conf" <<CONF
http_port 127.0.0.1:$port
acl localhost_src src 127.0.0.1/32
acl bench_ports port $ORIGIN_PORT
acl CONNECT method CONNECT
http_access deny !bench_ports
http_access allow localhost_src
http_access deny all
cache deny all
cache_mem 16 MB
access_log none
cache_store_log none
cache_log $d/cache.log
pid_filename $d/squid.pid
coredump_dir $d
shutdown_lifetime 1 seconds
max_filedescriptors 16384
forwarded_for delete
via off
client_persistent_connections on
server_persistent_connections on
CONF
  if [ -n "$up" ]; then
    printf 'cache_peer 127.0.0.1 parent %s 0 no-query no-digest default\nnever_direct allow all\n' "$up" >> "$d/squid.conf"
  fi
  squid -N -f "$d/squid.conf" >"$d/stdout.log" 2>&1 & BENCH_PIDS+=($!)
  wait_port "$port"
}
privoxy_start() {  # port
  local port="$1" d="$A/privoxy-$1"; mkdir -p "$d"
  printf '{+limit-connect{%s}}\n/\n' "$ORIGIN_PORT" > "$d/bench.action"
  cat > "$d/config" <<CONF
confdir $d
logdir $d
actionsfile bench.action
listen-address 127.0.0.1:$port
toggle 0
enable-remote-toggle 0
enable-edit-actions 0
accept-intercepted-requests 0
keep-alive-timeout 30
default-server-timeout 30
connection-sharing 1
socket-timeout 30
max-client-connections 1024
CONF
  privoxy --no-daemon "$d/config" >"$d/stdout.log" 2>&1 & BENCH_PIDS+=($!)
  wait_port "$port"
}

haproxy_start() {  # port
  local port="$1" d="$A/haproxy-$1"; mkdir -p "$d"
  cat > "$d/haproxy.cfg" <<CONF
global
  nbthread 1
  maxconn 4096
defaults
  mode http
  timeout connect 5s
  timeout client 30s
  timeout server 30s
  timeout http-keep-alive 30s
frontend fwd
  bind 127.0.0.1:$port
  default_backend by_uri
backend by_uri
  http-reuse safe
  http-request set-dst url_ip
  http-request set-dst-port url_port
  server any 0.0.0.0:0
CONF
  haproxy -db -f "$d/haproxy.cfg" >"$d/stdout.log" 2>&1 & BENCH_PIDS+=($!)
  wait_port "$port"
}

TARGETS=("pf-node:127.0.0.1:$P_NODE" "pf-node>pf-node:127.0.0.1:$P_HOP" "${BASE_TARGETS[@]}")
TPID[pf-node]=$PID_DIRECT; TPID['pf-node>pf-node']=$PID_HOP
P_A=$(free_port 18880)
next_port() { P_A=$(free_port $((P_A + 1))); }
for a in $ANCHORS; do
  case "$a" in
    tinyproxy) command -v tinyproxy >/dev/null || { log "tinyproxy missing, skipped"; continue; }
      tinyproxy_start "$P_A" && TARGETS+=("tinyproxy:127.0.0.1:$P_A") && TPID[tinyproxy]=${BENCH_PIDS[-1]}; next_port ;;
    squid) command -v squid >/dev/null || { log "squid missing, skipped"; continue; }
      squid_start "$P_A" && TARGETS+=("squid:127.0.0.1:$P_A") && TPID[squid]=${BENCH_PIDS[-1]}; next_port ;;
    privoxy) command -v privoxy >/dev/null || { log "privoxy missing, skipped"; continue; }
      privoxy_start "$P_A" && TARGETS+=("privoxy:127.0.0.1:$P_A") && TPID[privoxy]=${BENCH_PIDS[-1]}; next_port ;;
    haproxy) command -v haproxy >/dev/null || { log "haproxy missing, skipped"; continue; }
      haproxy_start "$P_A" && TARGETS+=("haproxy:127.0.0.1:$P_A") && TPID[haproxy]=${BENCH_PIDS[-1]}; next_port ;;
    'tinyproxy>squid') up=$P_A; squid_start "$up" || continue; next_port
      tinyproxy_start "$P_A" "$up" && TARGETS+=("tinyproxy>squid:127.0.0.1:$P_A"); next_port ;;
    'squid>tinyproxy') up=$P_A; tinyproxy_start "$up" || continue; next_port
      squid_start "$P_A" "$up" && TARGETS+=("squid>tinyproxy:127.0.0.1:$P_A"); next_port ;;
    *) log "unknown anchor $a, skipped" ;;
  esac
done

RAW="$RUN/results-raw.txt"; : > "$RAW"
{
  echo "date=$(date -u +%FT%TZ) nproc=$(nproc) kernel=$(uname -r)"
  echo "cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)"
  echo "node_bin=$NODE_BIN base=${PF_NODE_BIN_BASE:-none} reps=$REPS DUR=${DUR:-8} BULK_DUR=${BULK_DUR:-5} CONNS=${CONNS:-64} BULK_CONNS=${BULK_CONNS:-4}"
} | tee "$RUN/run-info.txt" >&2
for rep in $(seq "$REPS"); do
  for t in "${TARGETS[@]}"; do
    name="${t%%:*}"; hp="${t#*:}"
    log "rep $rep/$REPS: $name"
    LABEL="$name" PROXY_PID="${TPID[$name]:-}" "$BENCH_DIR/proxy-bench.sh" "$hp" ${CREDS_OF[$name]:+"${CREDS_OF[$name]}"} | sed "s/^/rep=$rep /" | tee -a "$RAW" >&2
  done
  for p in $NODE_PIDS; do kill -0 "$p" 2>/dev/null || { log "node pid $p died; see $RUN/*/node.log"; exit 1; }; done
done

# node-side view: failures the nodes generated during the whole run
for n in "direct:$P_NODE_ADM" "hop:$P_HOP_ADM" ${P_LB_ADM:+"lb-hop:$P_LB_ADM"}; do
  curl -fsS "http://127.0.0.1:${n#*:}/metrics" > "$RUN/metrics-${n%%:*}.txt" 2>/dev/null
  log "node ${n%%:*}: $(grep -E '^pf_node_(errors_total|errors_50[234]_total|responses_total\{class="5xx"\}|rejected_over_limit_total|ban_skips_total|label_misses_total)' "$RUN/metrics-${n%%:*}.txt" | tr '\n' ' ')"
done

python3 "$BENCH_DIR/summarize.py" "$RAW" pf-node 'pf-node>pf-node' | tee "$RUN/summary.md"
