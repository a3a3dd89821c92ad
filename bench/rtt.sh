#!/usr/bin/env bash
# Time to first byte through upstreams one real RTT away (issue 14 item 4).
#
#   curl -> pool node -> delay_relay (RTT_MS) -> HTTP upstream (direct node) ----> nginx
#   curl -> pool node -> delay_relay (RTT_MS) -> microsocks (user/pass) ----------> nginx
#   curl -> pool node -> delay_relay (RTT_MS) -> stunnel4 (TLS) -> direct node --> nginx
#
# tc netem does not work on this machine, so bench/delay_relay.c (built here)
# holds every byte RTT_MS/2 in each direction, and the first bytes of a new
# connection one RTT more (the TCP handshake, see its header). Only the
# node -> upstream leg is far; client, node, upstreams and origin share
# loopback. Each upstream kind has its own one-upstream pool node per
# variant, and each pool node its own relay (its accepted count is the
# number of upstream connections the node opened).
#
# Variants, measured in the same run, trial by trial in turn:
#   base  reuse across clients and preconnect off (EXTRA_BASE, node JSON
#         text: reuse_max_idle_per_upstream 0, preconnect_ratio 0)
#   warm  both on (EXTRA_WARM: reuse_max_idle_per_upstream 8,
#         preconnect_ratio 1); run only when the binary accepts those keys
#         (--check-config), else said so and skipped (base then runs the
#         binary as it is)
# Paths per upstream kind, each trial one new client connection (curl):
#   tunnel  curl -p: CONNECT through the node, then GET /small in the tunnel;
#           TTFB = first byte of the origin's answer, CONNECT included
#   http    absolute-form GET /small through the node
# Each trial is bounded (curl --max-time 5); TRIALS per (kind, path,
# variant), GAP_MS between trials. Median and p90 (nearest rank) in ms
# and in RTTs.
#
# Usage: bench/rtt.sh    (env: PF_NODE_BIN, RTT_MS [20], TRIALS [25],
#        GAP_MS [150], KINDS ["http socks5 tls"], EXTRA_BASE, EXTRA_WARM,
#        BENCH_RUN_DIR)
# Raw lines: $BENCH_RUN_DIR/rtt-raw.txt; summary on stdout and in rtt-summary.md.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
ORIGIN_PORT=$(free_port "$ORIGIN_PORT")   # another run may hold the default one
export ORIGIN_PORT ORIGIN="127.0.0.1:$ORIGIN_PORT"
RTT_MS="${RTT_MS:-20}"
TRIALS="${TRIALS:-25}"
GAP_MS="${GAP_MS:-150}"
KINDS="${KINDS:-http socks5 tls}"
# node JSON text appended inside "node" for each variant
EXTRA_BASE="${EXTRA_BASE-, \"reuse_max_idle_per_upstream\": 0, \"preconnect_ratio\": 0}"
EXTRA_WARM="${EXTRA_WARM-, \"reuse_max_idle_per_upstream\": 8, \"preconnect_ratio\": 1}"
[ $((RTT_MS % 2)) = 0 ] && [ "$RTT_MS" -ge 2 ] || { echo "RTT_MS must be even and >= 2" >&2; exit 1; }
[ "$TRIALS" -ge 1 ] && [ "$TRIALS" -le 1000 ] || { echo "TRIALS must be 1..1000" >&2; exit 1; }
BENCH_USER=bench
BENCH_PASS="bench-$(head -c 6 /dev/urandom | od -An -tx1 | tr -d ' \n')"

for t in stunnel4 openssl microsocks redis-server redis-cli nginx curl cc; do
  command -v "$t" >/dev/null || { echo "$t is missing (apt-get install stunnel4 openssl microsocks redis-server nginx curl gcc)" >&2; exit 1; }
done
NODE_BIN="$(bench_node_bin)" || exit 1
T="$RUN/rtt"; rm -rf "$T"; mkdir -p "$T"
cleanup() { bench_cleanup; "$BENCH_DIR/origin.sh" stop >/dev/null 2>&1; }
trap cleanup EXIT INT TERM

RELAY="$T/delay_relay"
cc -O2 -Wall -Wextra -Werror -o "$RELAY" "$BENCH_DIR/delay_relay.c" ||
  { echo "delay_relay build failed" >&2; exit 1; }
"$BENCH_DIR/origin.sh" start >/dev/null || exit 1

# ---- the private CA and stunnel's certificate (127.0.0.1)
ossl() { openssl "$@" >>"$T/openssl.log" 2>&1 || { echo "openssl $1 failed; see $T/openssl.log" >&2; exit 1; }; }
ossl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$T/ca.key" \
  -out "$T/ca.pem" -days 2 -subj /CN=pf-bench-ca -addext basicConstraints=critical,CA:TRUE \
  -addext keyUsage=critical,keyCertSign,cRLSign
printf 'subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' > "$T/ext.cnf"
ossl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$T/proxy.key" \
  -out "$T/proxy.csr" -subj /CN=127.0.0.1
ossl x509 -req -in "$T/proxy.csr" -CA "$T/ca.pem" -CAkey "$T/ca.key" -CAcreateserial \
  -out "$T/proxy.pem" -days 1 -extfile "$T/ext.cnf"

# node_conf NAME MODE PORT ADMIN EXTRA_JSON: writes $T/NAME.json; fails if rejected
node_conf() {
  cat > "$T/$1.json" <<JSON
{
  "redis": { "url": "redis://127.0.0.1:$P_REDIS/0", "prefix": "$1" },
  "log": { "level": "warn" },
  "node": {
    "id": "bench-$1", "listen": "127.0.0.1:$3", "admin_listen": "127.0.0.1:$4",
    "mode": "$2", "max_clients": 1000, "idle_timeout_ms": 600000,
    "report_interval_ms": 2000, "retries": 0, "destination_allow": ["127.0.0.0/8"],
    "upstream_allow_private": true, "upstream_ca_file": "$T/ca.pem", "connect_ports": []$5
  }
}
JSON
  "$NODE_BIN" --check-config --config "$T/$1.json" >"$T/$1.check" 2>&1
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
# next_port VAR: VAR = the next free port above the last one handed out
next_port() { NP=$(free_port $((NP + 1))); printf -v "$1" %s "$NP"; }

NP=13700
P_REDIS=$(free_port 16590)
redis_start "$P_REDIS" || exit 1
next_port P_DIRECT; next_port P_DIRECT_ADM
node_conf direct direct "$P_DIRECT" "$P_DIRECT_ADM" \
  ", \"users\": [{\"user\": \"$BENCH_USER\", \"pass\": \"$BENCH_PASS\"}]" ||
  { cat "$T/direct.check" >&2; exit 1; }
node_run direct "$P_DIRECT" "$P_DIRECT_ADM" || exit 1
next_port P_SOCKS
microsocks -i 127.0.0.1 -p "$P_SOCKS" -u "$BENCH_USER" -P "$BENCH_PASS" >"$T/microsocks.log" 2>&1 &
BENCH_PIDS+=("$!")
next_port P_TLS
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
stunnel4 "$T/stunnel.conf" >"$T/stunnel.log" 2>&1 &
BENCH_PIDS+=("$!")
wait_port "$P_SOCKS" && wait_port "$P_TLS" || exit 1

VARIANTS="base"
if node_conf probe-warm pool 1 2 "$EXTRA_WARM" && [ -n "$EXTRA_WARM" ]; then
  VARIANTS="base warm"
else   # a binary older than the reuse and preconnect keys: its own behaviour is the base
  log "warm variant skipped: EXTRA_WARM is empty or the node rejects it ($(head -c 300 "$T/probe-warm.check"))"
  EXTRA_BASE=""
fi

# per (variant, kind): relay -> upstream, pool node -> relay
declare -A NODE_PORT NODE_ADM RELAY_PID
for v in $VARIANTS; do
  [ "$v" = base ] && extra="$EXTRA_BASE" || extra="$EXTRA_WARM"
  for k in $KINDS; do
    case "$k" in
      http) scheme=http; up=$P_DIRECT ;;
      socks5) scheme=socks5; up=$P_SOCKS ;;
      tls) scheme=https; up=$P_TLS ;;
      *) echo "unknown kind $k (http socks5 tls)" >&2; exit 1 ;;
    esac
    next_port rp
    "$RELAY" -l "$rp" -t "127.0.0.1:$up" -d $((RTT_MS / 2)) -T 3600 >"$T/relay-$v-$k.log" 2>&1 &
    RELAY_PID[$v-$k]=$!; BENCH_PIDS+=("$!")
    wait_port "$rp" || exit 1
    name="$v-$k"; next_port np; next_port na
    node_conf "$name" pool "$np" "$na" "$extra" || { cat "$T/$name.check" >&2; exit 1; }
    node_run "$name" "$np" "$na" || exit 1
    pool_one "$name" "$scheme" "$rp"
    wait_pool "$na" 1 || exit 1
    NODE_PORT[$name]=$np; NODE_ADM[$name]=$na
    log "$name: node :$np -> relay :$rp -> $scheme upstream :$up"
  done
done

# relay_accepted VARIANT KIND: connections the relay accepted so far
relay_accepted() {
  local f="$T/relay-$1-$2.log" pid="${RELAY_PID[$1-$2]}" n0 n1
  n0=$(grep -c '^accepted=' "$f")
  kill -USR1 "$pid" 2>/dev/null || { echo -1; return; }
  for _ in $(seq 50); do
    n1=$(grep -c '^accepted=' "$f"); [ "$n1" -gt "$n0" ] && break; sleep 0.02
  done
  sed -n 's/^accepted=\([0-9]*\) .*/\1/p' "$f" | tail -1
}
# trial VARIANT KIND PATH: one new client connection, prints "code ttfb_s"
trial() {
  local p=()
  [ "$3" = tunnel ] && p=(-p)
  curl -sS "${p[@]}" -x "127.0.0.1:${NODE_PORT[$1-$2]}" --max-time 5 -o /dev/null \
    -w '%{http_code} %{time_starttransfer}' "http://$ORIGIN/small" 2>>"$T/curl.err" || true
}

RAW="$RUN/rtt-raw.txt"; : > "$RAW"
{
  echo "date=$(date -u +%FT%TZ) nproc=$(nproc) kernel=$(uname -r) loadavg=$(cut -d' ' -f1-3 /proc/loadavg)"
  echo "cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)"
  echo "node_bin=$NODE_BIN rtt_ms=$RTT_MS trials=$TRIALS gap_ms=$GAP_MS kinds=\"$KINDS\" variants=\"$VARIANTS\""
  echo "extra_base=$EXTRA_BASE"
  echo "extra_warm=$EXTRA_WARM"
} | tee "$RUN/rtt-run-info.txt" >&2

# warm-up: one request per node and path (pool loaded, TLS session cached,
# use seen by the preconnect), then a pause longer than a few RTTs
for v in $VARIANTS; do for k in $KINDS; do for path in http tunnel; do
  r=$(trial "$v" "$k" "$path")
  [ "${r%% *}" = 200 ] || { log "warm-up $v $k $path failed ($r); see $T/*.log"; exit 1; }
done; done; done
sleep 1

gap_s=$(awk -v g="$GAP_MS" 'BEGIN{printf "%.3f", g / 1000}')
for k in $KINDS; do
  for path in tunnel http; do
    declare -A acc0
    for v in $VARIANTS; do acc0[$v]=$(relay_accepted "$v" "$k"); done
    log "$k $path: $TRIALS trials x variants ($VARIANTS)"
    for i in $(seq "$TRIALS"); do
      for v in $VARIANTS; do
        r=$(trial "$v" "$k" "$path")
        printf 'variant=%s kind=%s path=%s trial=%s code=%s ttfb_ms=%s\n' "$v" "$k" "$path" "$i" \
          "${r%% *}" "$(awk -v s="${r#* }" 'BEGIN{printf "%.2f", s * 1000}')" >> "$RAW"
        sleep "$gap_s"
      done
    done
    for v in $VARIANTS; do
      printf 'variant=%s kind=%s path=%s upstream_conns=%s\n' "$v" "$k" "$path" \
        $(( $(relay_accepted "$v" "$k") - ${acc0[$v]} )) >> "$RAW"
    done
  done
done
echo "loadavg_after=$(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$RUN/rtt-run-info.txt" >&2
for v in $VARIANTS; do for k in $KINDS; do
  curl -fsS "http://127.0.0.1:${NODE_ADM[$v-$k]}/metrics" > "$T/metrics-$v-$k.txt" 2>/dev/null
  kill -0 "${RELAY_PID[$v-$k]}" 2>/dev/null || { log "relay $v-$k died; see $T/relay-$v-$k.log"; exit 1; }
done; done

# ---- median and p90 per (kind, path, variant); saved = base - warm
awk -v rtt="$RTT_MS" -v trials="$TRIALS" '
  function field(k,   i) { for (i = 1; i <= NF; i++) if (index($i, k "=") == 1) return substr($i, length(k) + 2); return "" }
  function sortv(key,   n, i, j, t) {
    n = split(vals[key], a, " ")
    for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] + 0 < a[i] + 0) { t = a[i]; a[i] = a[j]; a[j] = t }
    return n
  }
  function med(key,   n) { n = sortv(key); return n == 0 ? -1 : (n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2) }
  function p90(key,   n, r) { n = sortv(key); if (n == 0) return -1; r = int(0.9 * n + 0.999999); return a[r < 1 ? 1 : r] }
  {
    v = field("variant"); k = field("kind"); p = field("path"); key = k SUBSEP p SUBSEP v
    if (!((k SUBSEP p) in seenkp)) { seenkp[k SUBSEP p] = 1; kps[++nkp] = k SUBSEP p }
    if (!(v in seenv)) { seenv[v] = 1; vs[++nv] = v }
    c = field("upstream_conns"); if (c != "") { conns[key] = c; next }
    if (field("code") == "200") vals[key] = vals[key] " " field("ttfb_ms"); else fails[key]++
  }
  END {
    printf "| upstream | path | variant | TTFB median ms | p90 ms | median RTTs | failed | upstream conns / %d trials |\n", trials
    print "|---|---|---|---:|---:|---:|---:|---:|"
    for (i = 1; i <= nkp; i++) for (j = 1; j <= nv; j++) {
      split(kps[i], kp, SUBSEP); key = kps[i] SUBSEP vs[j]; m = med(key)
      printf "| %s | %s | %s | %.1f | %.1f | %.2f | %d | %s |\n", kp[1], kp[2], vs[j], m, p90(key), m / rtt, fails[key], conns[key]
    }
    if (nv < 2) exit
    print ""
    print "| upstream | path | saved median ms | saved RTTs |"
    print "|---|---|---:|---:|"
    for (i = 1; i <= nkp; i++) {
      split(kps[i], kp, SUBSEP); b = med(kps[i] SUBSEP "base"); w = med(kps[i] SUBSEP "warm")
      printf "| %s | %s | %.1f | %.2f |\n", kp[1], kp[2], b - w, (b - w) / rtt
    }
  }' "$RAW" | tee "$RUN/rtt-summary.md"
