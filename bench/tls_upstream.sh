#!/usr/bin/env bash
# The relay through a TLS upstream against a plain one, in the same run.
#
#   client -> pool node "plain" -> direct node -------------> nginx origin
#   client -> pool node "tls"   -> stunnel4 -> direct node --> nginx origin
#
# One direct-mode node (with credentials) is the upstream of both; stunnel4
# terminates TLS in front of it (a private CA made here with the openssl
# CLI, given to the tls pool node as node.upstream_ca_file). Each pool node
# gets a one-upstream pool in its own key prefix of one redis-server:
# http://bench:...@direct for "plain", https://bench:...@stunnel for "tls".
# Per repetition, plain then tls: proxy-bench.sh (wrk absolute-form,
# CONNECT tunnels with keep-alive GETs, new tunnels/s, 1 MiB bulk via
# absolute-form and CONNECT, each with its own `direct` reference), then one
# 256 MiB stream through a CONNECT tunnel and one absolute-form (curl), with
# the pool node's CPU seconds for it. Prints tls/plain ratios (medians).
#
# Usage: bench/tls_upstream.sh     (env: PF_NODE_BIN, REPS [2], DUR [5],
#        BULK_DUR [5], CONNS [64], BULK_CONNS [4], HUGE_MIB [256], BENCH_RUN_DIR)
# Raw lines: $BENCH_RUN_DIR/tls-raw.txt; summary on stdout and in tls-summary.md.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
REPS="${REPS:-2}"
export DUR="${DUR:-5}" BULK_DUR="${BULK_DUR:-5}"
HUGE_MIB="${HUGE_MIB:-256}"
BENCH_USER=bench
BENCH_PASS="bench-$(head -c 6 /dev/urandom | od -An -tx1 | tr -d ' \n')"

for t in stunnel4 openssl redis-server redis-cli wrk nginx curl gcc; do
  command -v "$t" >/dev/null || { echo "$t is missing (apt-get install stunnel4 openssl redis-server wrk nginx curl gcc)" >&2; exit 1; }
done
NODE_BIN="$(bench_node_bin)" || exit 1
T="$RUN/tls"; rm -rf "$T"; mkdir -p "$T"
cleanup() { bench_cleanup; "$BENCH_DIR/origin.sh" stop >/dev/null 2>&1; rm -f "$RUN/origin/www/huge"; }
trap cleanup EXIT INT TERM

"$BENCH_DIR/origin.sh" start >/dev/null || exit 1
head -c $((HUGE_MIB << 20)) /dev/zero > "$RUN/origin/www/huge"

# ---- the private CA and the proxy's certificate (127.0.0.1)
ossl() { openssl "$@" >>"$T/openssl.log" 2>&1 || { echo "openssl $1 failed; see $T/openssl.log" >&2; exit 1; }; }
ossl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$T/ca.key" \
  -out "$T/ca.pem" -days 2 -subj /CN=pf-bench-ca -addext basicConstraints=critical,CA:TRUE \
  -addext keyUsage=critical,keyCertSign,cRLSign
printf 'subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' > "$T/ext.cnf"
ossl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$T/proxy.key" \
  -out "$T/proxy.csr" -subj /CN=127.0.0.1
ossl x509 -req -in "$T/proxy.csr" -CA "$T/ca.pem" -CAkey "$T/ca.key" -CAcreateserial \
  -out "$T/proxy.pem" -days 1 -extfile "$T/ext.cnf"

# node_conf NAME MODE PORT ADMIN EXTRA_JSON: writes $T/NAME.json
node_conf() {
  cat > "$T/$1.json" <<JSON
{
  "redis": { "url": "redis://127.0.0.1:$P_REDIS/0", "prefix": "$1" },
  "log": { "level": "warn" },
  "node": {
    "id": "bench-$1", "listen": "127.0.0.1:$3", "admin_listen": "127.0.0.1:$4",
    "mode": "$2", "max_clients": 100000, "idle_timeout_ms": 600000,
    "report_interval_ms": 2000, "retries": 2, "destination_allow": ["127.0.0.0/8"],
    "upstream_allow_private": true, "connect_ports": []$5
  }
}
JSON
  "$NODE_BIN" --check-config --config "$T/$1.json" || { echo "node config $1 rejected" >&2; exit 1; }
}
node_run() {  # NAME PORT ADMIN: starts it, sets NODE_PID
  "$NODE_BIN" --config "$T/$1.json" >"$T/$1.log" 2>&1 & NODE_PID=$!
  BENCH_PIDS+=("$NODE_PID")
  wait_port "$2" && wait_port "$3"
}
# pool_one PREFIX SCHEME PORT: a one-upstream pool with credentials + notice
pool_one() {
  local k="{$1}:v1" rec
  rec="{\"scheme\":\"$2\",\"host\":\"127.0.0.1\",\"port\":$3,\"user\":\"$BENCH_USER\",\"pass\":\"$BENCH_PASS\",\"provider\":\"bench\",\"expires_at_ms\":0,\"weight\":1,\"latency_ms\":0}"
  redis-cli -p "$P_REDIS" HSET "$k:pool:upstreams" "$2://127.0.0.1:$3#bench" "$rec" >/dev/null
  redis-cli -p "$P_REDIS" HSET "$k:pool:meta" version 1 epoch 0123456789abcdef count 1 \
    updated_at_ms "$(date +%s%3N)" controller_id bench >/dev/null
  redis-cli -p "$P_REDIS" PUBLISH "$k:pool:events" "1 0123456789abcdef" >/dev/null
}

P_REDIS=$(free_port 16490)
P_DIRECT=$(free_port 13600); P_DIRECT_ADM=$(free_port $((P_DIRECT + 1)))
P_TLS=$(free_port $((P_DIRECT_ADM + 1)))
P_PLAIN_NODE=$(free_port $((P_TLS + 1))); P_PLAIN_ADM=$(free_port $((P_PLAIN_NODE + 1)))
P_TLS_NODE=$(free_port $((P_PLAIN_ADM + 1))); P_TLS_ADM=$(free_port $((P_TLS_NODE + 1)))
redis_start "$P_REDIS" || exit 1
node_conf direct direct "$P_DIRECT" "$P_DIRECT_ADM" \
  ", \"users\": [{\"user\": \"$BENCH_USER\", \"pass\": \"$BENCH_PASS\"}]"
node_run direct "$P_DIRECT" "$P_DIRECT_ADM" || exit 1
cat > "$T/stunnel.conf" <<CONF
foreground = yes
pid =
debug = 3
[proxy]
accept = 127.0.0.1:$P_TLS
connect = 127.0.0.1:$P_DIRECT
cert = $T/proxy.pem
key = $T/proxy.key
CONF
stunnel4 "$T/stunnel.conf" >"$T/stunnel.log" 2>&1 & PID_STUNNEL=$!
BENCH_PIDS+=("$PID_STUNNEL")
wait_port "$P_TLS" || exit 1
node_conf plain pool "$P_PLAIN_NODE" "$P_PLAIN_ADM" ""
node_conf tls pool "$P_TLS_NODE" "$P_TLS_ADM" ", \"upstream_ca_file\": \"$T/ca.pem\""
node_run plain "$P_PLAIN_NODE" "$P_PLAIN_ADM" || exit 1; PID_PLAIN=$NODE_PID
node_run tls "$P_TLS_NODE" "$P_TLS_ADM" || exit 1; PID_TLS=$NODE_PID
pool_one plain http "$P_DIRECT"
pool_one tls https "$P_TLS"
wait_pool "$P_PLAIN_ADM" 1 && wait_pool "$P_TLS_ADM" 1 || exit 1
for p in "$P_PLAIN_NODE" "$P_TLS_NODE"; do   # both paths work before anything is measured
  curl -fsS -o /dev/null -x "127.0.0.1:$p" "http://$ORIGIN/small" &&
    curl -fsS -o /dev/null -p -x "127.0.0.1:$p" "http://$ORIGIN/small" ||
    { echo "the path through the node on :$p does not work; see $T/*.log" >&2; exit 1; }
done
[ "$(metric "$P_TLS_ADM" upstream_tls_handshakes_total)" -ge 2 ] ||
  { echo "the tls node made no TLS handshake" >&2; exit 1; }
log "direct node :$P_DIRECT, stunnel :$P_TLS -> :$P_DIRECT, pool nodes plain :$P_PLAIN_NODE tls :$P_TLS_NODE"

cpu_s() { awk '{printf "%.2f", ($14 + $15) / 100}' "/proc/$1/stat"; }   # utime+stime (USER_HZ 100)
# huge NAME PORT PID MODE(-p or ""): one HUGE_MIB stream, MB/s and the node's CPU seconds
huge() {
  local c0 c1 out mbps
  c0=$(cpu_s "$3")
  # shellcheck disable=SC2086
  out=$(timeout 300 curl -sS $4 -x "127.0.0.1:$2" -o /dev/null -w '%{size_download} %{speed_download}' \
        "http://$ORIGIN/huge") || out="0 0"
  c1=$(cpu_s "$3")
  mbps=$(awk -v s="${out#* }" 'BEGIN{printf "%.1f", s / 1048576}')
  [ "${out%% *}" = "$((HUGE_MIB << 20))" ] || mbps=0
  printf 'rep=%s proxy=%s scenario=huge-%s MBps=%s node_cpu_s=%s\n' "$rep" "$1" \
    "$([ -n "$4" ] && echo connect || echo forward)" "$mbps" "$(awk -v a="$c0" -v b="$c1" 'BEGIN{printf "%.2f", b - a}')"
}

RAW="$RUN/tls-raw.txt"; : > "$RAW"
{
  echo "date=$(date -u +%FT%TZ) nproc=$(nproc) kernel=$(uname -r) loadavg=$(cut -d' ' -f1-3 /proc/loadavg)"
  echo "cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)"
  echo "node_bin=$NODE_BIN reps=$REPS DUR=$DUR BULK_DUR=$BULK_DUR CONNS=${CONNS:-64} BULK_CONNS=${BULK_CONNS:-4} HUGE_MIB=$HUGE_MIB"
  echo "openssl=$(openssl version) stunnel=$(stunnel4 -version 2>&1 | sed -n 's/^stunnel \([0-9.]*\).*/\1/p' | head -1)"
} | tee "$RUN/tls-run-info.txt" >&2
for rep in $(seq "$REPS"); do
  for t in "plain:$P_PLAIN_NODE:$PID_PLAIN" "tls:$P_TLS_NODE:$PID_TLS"; do
    IFS=: read -r name port pid <<<"$t"
    log "rep $rep/$REPS: $name"
    LABEL="$name" "$BENCH_DIR/proxy-bench.sh" "127.0.0.1:$port" | sed "s/^/rep=$rep /" | tee -a "$RAW" >&2
    huge "$name" "$port" "$pid" -p | tee -a "$RAW" >&2
    huge "$name" "$port" "$pid" "" | tee -a "$RAW" >&2
  done
  for p in $PID_PLAIN $PID_TLS $PID_STUNNEL; do
    kill -0 "$p" 2>/dev/null || { log "pid $p died; see $T/*.log"; exit 1; }
  done
done
echo "loadavg_after=$(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$RUN/tls-run-info.txt" >&2
for n in "plain:$P_PLAIN_ADM" "tls:$P_TLS_ADM"; do
  curl -fsS "http://127.0.0.1:${n#*:}/metrics" > "$T/metrics-${n%%:*}.txt"
  log "node ${n%%:*}: $(grep -E '^pf_node_(errors_50[234]_total|upstream_tls_handshakes_total|tunnels_total) ' "$T/metrics-${n%%:*}.txt" | tr '\n' ' ')"
done

# ---- medians per scenario and tls/plain ratios
awk '
  function field(k,   i) { for (i = 1; i <= NF; i++) if (index($i, k "=") == 1) return substr($i, length(k) + 2); return "" }
  function med(key,   n, i, j, t, a) {
    n = split(vals[key], a, " ")
    for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] + 0 < a[i] + 0) { t = a[i]; a[i] = a[j]; a[j] = t }
    return n == 0 ? 0 : (n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2)
  }
  {
    p = field("proxy"); s = field("scenario"); if (p == "" || s == "") next
    m = (s ~ /^(bulk|huge)-/) ? "MBps" : "rps"
    v = field(m); if (v == "") next
    vals[p SUBSEP s] = vals[p SUBSEP s] " " v; metric[s] = m; seen[s] = 1
    if (s !~ /^huge-/) { e = field("errors"); errs[p SUBSEP s] += (e == "" ? 0 : e) }
    c = field("node_cpu_s"); if (c != "") cpu[p SUBSEP s] = cpu[p SUBSEP s] " " c
    if (p == "plain" && !(s in order)) { order[s] = ++ns; names[ns] = s }
  }
  END {
    print "| scenario | unit | plain | tls | tls/plain | errors plain / tls |"
    print "|---|---|---:|---:|---:|---|"
    for (i = 1; i <= ns; i++) {
      s = names[i]; if (s == "direct" || s == "setup-direct" || s == "bulk-direct") continue
      a = med("plain" SUBSEP s); b = med("tls" SUBSEP s)
      printf "| %s | %s | %.1f | %.1f | %s | %d / %d |\n", s, metric[s], a, b,
             (a > 0 ? sprintf("%.3f", b / a) : "na"), errs["plain" SUBSEP s], errs["tls" SUBSEP s]
    }
    for (i = 1; i <= ns; i++) {
      s = names[i]; if (s !~ /^huge-/) continue
      split(cpu["plain" SUBSEP s], x, " "); split(cpu["tls" SUBSEP s], y, " ")
      printf "\n%s: pool node CPU seconds per run, plain:%s  tls:%s\n", s, cpu["plain" SUBSEP s], cpu["tls" SUBSEP s]
    }
    printf "\nreferences (medians): direct %.0f rps, setup-direct %.0f/s, bulk-direct %.1f MB/s\n",
      (med("plain" SUBSEP "direct") + med("tls" SUBSEP "direct")) / 2,
      (med("plain" SUBSEP "setup-direct") + med("tls" SUBSEP "setup-direct")) / 2,
      (med("plain" SUBSEP "bulk-direct") + med("tls" SUBSEP "bulk-direct")) / 2
  }' "$RAW" | tee "$RUN/tls-summary.md"
