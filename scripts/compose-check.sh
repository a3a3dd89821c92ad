#!/usr/bin/env bash
# End-to-end check of compose.yaml on a fresh Debian 12 machine (as root):
# bootstrap docker and the base images (scripts/docker-bootstrap.sh), build,
# start the fleet with N nodes, send requests through the load balancer to
# the demo origin, and check the Redis keys the fleet writes. Prints one
# PASS/FAIL line per check and the time of each phase; always tears the
# project down (down -v --remove-orphans), also on failure or Ctrl-C.
#
# Usage: scripts/compose-check.sh
# Env:
#   PF_CHECK_NODES     node replicas (default 3, at most 10: lb slots)
#   PF_CHECK_REQUESTS  requests through the lb (default 20)
#   PF_LB_PORT         host port of the lb on 127.0.0.1 (default 3128; when
#                      unset and 3128 is taken, the first free of 13128..13228)
#   PF_COMPOSE_PROJECT project name (default pfcheck)
#   PF_COMPOSE         compose command, e.g. "docker-compose" (default:
#                      "docker compose" when available, else docker-compose)
#   PF_SKIP_BOOTSTRAP  1 = do not run scripts/docker-bootstrap.sh
# Exit status: 0 all checks passed, 1 a check failed, 2 bad usage.
set -uo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
NODES=${PF_CHECK_NODES:-3}
REQUESTS=${PF_CHECK_REQUESTS:-20}
PROJECT=${PF_COMPOSE_PROJECT:-pfcheck}
LB_PORT_FIXED=${PF_LB_PORT:-}
export PF_LB_PORT=${PF_LB_PORT:-3128}
LB="127.0.0.1:$PF_LB_PORT"
ORIGIN_URL=http://origin/
ORIGIN_TEXT="proxyfleet demo origin: OK"
PREFIX='{pf}:v1'

case "$NODES" in ''|*[!0-9]*) echo "PF_CHECK_NODES must be a number" >&2; exit 2 ;; esac
case "$REQUESTS" in ''|*[!0-9]*) echo "PF_CHECK_REQUESTS must be a number" >&2; exit 2 ;; esac
if [ "$NODES" -lt 1 ] || [ "$NODES" -gt 10 ]; then echo "PF_CHECK_NODES: 1..10" >&2; exit 2; fi

LOG_DIR=$(mktemp -d /tmp/pfcheck.XXXXXX)
FAILS=0
PASSES=0
TIMINGS=()
COMPOSE=()
UP_STARTED=0

now_ms() { date +%s%3N; }
say() { printf 'compose-check: %s\n' "$*"; }
pass() { PASSES=$((PASSES + 1)); printf 'PASS %s\n' "$*"; }
fail() { FAILS=$((FAILS + 1)); printf 'FAIL %s\n' "$*"; }

PHASE_NAME=""
PHASE_T0=0
phase() {
    phase_end
    PHASE_NAME=$1
    PHASE_T0=$(now_ms)
    say "== phase: $PHASE_NAME"
}
phase_end() {
    [ -n "$PHASE_NAME" ] || return 0
    local ms=$(( $(now_ms) - PHASE_T0 ))
    local line
    line=$(printf '%-12s %6d.%01ds' "$PHASE_NAME" $((ms / 1000)) $(((ms % 1000) / 100)))
    TIMINGS+=("$line")
    say "TIME $line"
    PHASE_NAME=""
}

# compose SECONDS ARGS...: one bounded compose command on this project.
compose() {
    local limit=$1
    shift
    timeout "$limit" "${COMPOSE[@]}" -f "$ROOT/compose.yaml" -p "$PROJECT" "$@"
}

# Redis through the redis service's own redis-cli (nothing is published).
rcli() { compose 20 exec -T redis redis-cli --raw "$@" </dev/null | tr -d '\r'; }
# rcli_batch: commands on stdin, one per line, answers in order (one exec).
rcli_batch() { compose 20 exec -T redis redis-cli --raw | tr -d '\r'; }

teardown() {
    local rc=$?
    trap - EXIT INT TERM
    phase_end
    if [ "$UP_STARTED" = 1 ]; then
        if [ "$FAILS" -gt 0 ] || [ "$rc" -ne 0 ]; then
            say "diagnostics (compose ps, last log lines):"
            compose 30 ps 2>&1 || true
            compose 60 logs --no-color --tail=40 2>&1 | tail -n 300 || true
        fi
        phase teardown
        # No -t: each service's stop_grace_period (nodes drain on SIGTERM).
        compose 180 down -v --remove-orphans >/dev/null 2>&1 \
            || { fail "teardown: down -v --remove-orphans"; rc=1; }
        phase_end
    fi
    say "logs: $LOG_DIR"
    say "timings:"
    local t
    for t in "${TIMINGS[@]}"; do printf '  %s\n' "$t"; done
    if [ "$FAILS" -gt 0 ] || [ "$rc" -ne 0 ]; then
        say "FAIL ($PASSES passed, $FAILS failed)"
        exit 1
    fi
    say "PASS ($PASSES checks)"
    exit 0
}
trap teardown EXIT
trap 'fail "interrupted"; exit 1' INT TERM

# Stops the run: the EXIT trap tears down and reports.
abort() { fail "$*"; exit 1; }

# --- bootstrap -----------------------------------------------------------
phase bootstrap
if [ "${PF_SKIP_BOOTSTRAP:-0}" != 1 ]; then
    timeout 1500 "$ROOT/scripts/docker-bootstrap.sh" || abort "bootstrap: scripts/docker-bootstrap.sh"
fi
if ! command -v curl >/dev/null 2>&1; then
    DEBIAN_FRONTEND=noninteractive timeout 300 apt-get install -y -qq curl >/dev/null \
        || { timeout 300 apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
             timeout 300 apt-get install -y -qq curl >/dev/null; } \
        || abort "bootstrap: installing curl"
fi
if [ -n "${PF_COMPOSE:-}" ]; then
    read -r -a COMPOSE <<<"$PF_COMPOSE"
elif docker compose version >/dev/null 2>&1; then
    COMPOSE=(docker compose)
elif command -v docker-compose >/dev/null 2>&1; then
    COMPOSE=(docker-compose)
else
    abort "bootstrap: neither 'docker compose' nor docker-compose found"
fi
say "compose command: ${COMPOSE[*]} ($("${COMPOSE[@]}" version 2>/dev/null | head -n 1))"
compose 60 config -q || abort "compose config: compose.yaml is invalid"
pass "compose config: compose.yaml is valid for ${COMPOSE[*]}"

# --- build ---------------------------------------------------------------
phase build
# The full build output is long; keep it in a file, show its tail on failure.
# v1's classic builder leaves the container of a failed step behind unless
# told otherwise (BuildKit, used by v2, has none).
build_opts=()
[ "${COMPOSE[0]}" = docker-compose ] && build_opts+=(--force-rm)
if ! compose 1200 build "${build_opts[@]}" >"$LOG_DIR/build.log" 2>&1; then
    tail -n 60 "$LOG_DIR/build.log"
    abort "build: compose build (full log: $LOG_DIR/build.log)"
fi
pass "build: all images built"

# --- up --------------------------------------------------------------------
phase up
# A leftover project from an aborted run would change the counts below.
compose 120 down -v --remove-orphans -t 5 >/dev/null 2>&1 || true
port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
if port_busy "$PF_LB_PORT"; then
    if [ -n "$LB_PORT_FIXED" ]; then
        abort "up: something already listens on $LB (PF_LB_PORT=$PF_LB_PORT)"
    fi
    for p in $(seq 13128 13228); do
        port_busy "$p" || { PF_LB_PORT=$p; break; }
    done
    say "127.0.0.1:3128 is in use; publishing the lb on 127.0.0.1:$PF_LB_PORT instead"
    LB="127.0.0.1:$PF_LB_PORT"
fi
UP_STARTED=1
compose 300 up -d --scale node="$NODES" || abort "up: compose up -d --scale node=$NODES"
pass "up: started with $NODES node replicas"

# --- every container with a healthcheck reports healthy ----------------------
phase healthy
# nodes and upstreams: GET /readyz on the admin port; controller: GET
# /healthz; redis: PING; origin: GET /healthz (compose.yaml).
health_report() {
    local id name state
    for id in $(compose 30 ps -a -q 2>/dev/null); do
        read -r name state < <(docker inspect \
            -f '{{.Name}} {{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}}' \
            "$id" 2>/dev/null)
        printf '%s=%s\n' "${name#/}" "${state:-?}"
    done
}
deadline=$(( $(date +%s) + 90 ))
while :; do
    report=$(health_report)
    unhealthy=$(grep -Ev '=(healthy|none)$' <<<"$report" | tr '\n' ' ')
    [ -z "$unhealthy" ] && break
    [ "$(date +%s)" -ge "$deadline" ] && break
    sleep 2
done
if [ -z "$unhealthy" ]; then
    pass "health: $(grep -c '=healthy$' <<<"$report") containers healthy ($(grep -c '=none$' <<<"$report") without healthcheck)"
else
    fail "health: not healthy after 90s: $unhealthy"
fi

# --- wait until the lb sees every node -------------------------------------
phase lb-ready
# HAProxy's CSV stats from inside the lb container (the image has no curl).
lb_up_count() {
    compose 10 exec -T lb bash -c \
        'exec 3<>/dev/tcp/127.0.0.1/8404 && printf "GET /stats;csv HTTP/1.0\r\n\r\n" >&3 && cat <&3' \
        </dev/null 2>/dev/null | awk -F, '$1 == "nodes" && $2 ~ /^node[0-9]+$/ && $18 == "UP" { n++ } END { print n + 0 }'
}
deadline=$(( $(date +%s) + 90 ))
up=0
while :; do
    up=$(lb_up_count)
    [ "${up:-0}" -ge "$NODES" ] && break
    [ "$(date +%s)" -ge "$deadline" ] && break
    sleep 2
done
if [ "${up:-0}" -ge "$NODES" ]; then
    pass "lb: $up node servers UP in haproxy (expected $NODES)"
else
    fail "lb: ${up:-0} node servers UP in haproxy after 90s (expected $NODES)"
fi

# --- first good answer: the controller has published, nodes loaded the pool --
phase first-200
deadline=$(( $(date +%s) + 90 ))
code=000
while :; do
    code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 -x "http://$LB" "$ORIGIN_URL" 2>/dev/null)
    [ "$code" = 200 ] && break
    [ "$(date +%s)" -ge "$deadline" ] && break
    sleep 1
done
if [ "$code" = 200 ]; then
    pass "lb: first 200 from $ORIGIN_URL through http://$LB"
else
    abort "lb: no 200 from $ORIGIN_URL through http://$LB within 90s (last status $code)"
fi

# --- requests ---------------------------------------------------------------
phase requests
body=$(mktemp)
ok=0
bad=""
for i in $(seq "$REQUESTS"); do
    code=$(curl -s -o "$body" -w '%{http_code}' --max-time 10 -x "http://$LB" "$ORIGIN_URL" 2>/dev/null)
    if [ "$code" = 200 ] && grep -qF "$ORIGIN_TEXT" "$body"; then
        ok=$((ok + 1))
    else
        bad="$bad #$i:$code"
    fi
done
if [ "$ok" -eq "$REQUESTS" ]; then
    pass "http: $ok/$REQUESTS GET $ORIGIN_URL via http://$LB answered 200 with the origin page"
else
    fail "http: $ok/$REQUESTS GET $ORIGIN_URL answered 200 with the origin page; failed:$bad"
fi
# The same through a CONNECT tunnel (curl --proxytunnel).
ok=0
bad=""
for i in 1 2 3; do
    code=$(curl -s -p -o "$body" -w '%{http_code}' --max-time 10 -x "http://$LB" "$ORIGIN_URL" 2>/dev/null)
    if [ "$code" = 200 ] && grep -qF "$ORIGIN_TEXT" "$body"; then
        ok=$((ok + 1))
    else
        bad="$bad #$i:$code"
    fi
done
if [ "$ok" -eq 3 ]; then
    pass "connect: 3/3 CONNECT origin:80 tunnels via http://$LB returned the origin page"
else
    fail "connect: $ok/3 CONNECT origin:80 tunnels returned the origin page; failed:$bad"
fi
# SOCKS5 on the same port (a node serves a client whose first byte is 0x05
# as SOCKS5), name resolved by the fleet.
ok=0
bad=""
for i in 1 2 3; do
    code=$(curl -s -o "$body" -w '%{http_code}' --max-time 10 --socks5-hostname "$LB" "$ORIGIN_URL" 2>/dev/null)
    if [ "$code" = 200 ] && grep -qF "$ORIGIN_TEXT" "$body"; then
        ok=$((ok + 1))
    else
        bad="$bad #$i:$code"
    fi
done
rm -f "$body"
if [ "$ok" -eq 3 ]; then
    pass "socks5: 3/3 requests via socks5h://$LB returned the origin page"
else
    fail "socks5: $ok/3 requests via socks5h://$LB returned the origin page; failed:$bad"
fi
# Policy: loopback is outside destination_allow, so the upstream must answer
# 403 instead of reaching its own admin port.
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 -x "http://$LB" http://127.0.0.1:9100/healthz 2>/dev/null)
if [ "$code" = 403 ]; then
    pass "policy: GET http://127.0.0.1:9100/ through the fleet refused (403)"
else
    fail "policy: GET http://127.0.0.1:9100/ through the fleet answered $code, expected 403"
fi
# The nodes' admin ports: "node" resolves, but not into the demo network.
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 -x "http://$LB" http://node:9100/stats 2>/dev/null)
if [ "$code" = 403 ]; then
    pass "policy: GET http://node:9100/stats through the fleet refused (403)"
else
    fail "policy: GET http://node:9100/stats through the fleet answered $code, expected 403"
fi
# Redis sits on the backend network, which the fleet must not reach.
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 -x "http://$LB" http://redis:6379/ 2>/dev/null)
if [ "$code" != 200 ] && [ "$code" != 000 ]; then
    pass "policy: GET http://redis:6379/ through the fleet refused ($code)"
else
    fail "policy: GET http://redis:6379/ through the fleet was not refused (status $code)"
fi

# --- redis keys -------------------------------------------------------------
phase redis
# Give every node one more report interval (2 s) to count the requests.
sleep 3
version="" count="" epoch=""
{ read -r version; read -r count; read -r epoch; } < <(rcli HMGET "$PREFIX:pool:meta" version count epoch)
if [[ "$version" =~ ^[0-9]+$ ]] && [ "$version" -ge 1 ]; then
    pass "redis: $PREFIX:pool:meta version=$version epoch=$epoch count=$count"
else
    fail "redis: $PREFIX:pool:meta has no version (got '$version')"
fi
if [ "$count" = 2 ]; then
    pass "redis: pool holds the 2 demo upstreams"
else
    fail "redis: pool count is '$count', expected 2 (upstream-a, upstream-b)"
fi

server_ms=$(rcli TIME | awk 'NR == 1 { s = $1 } NR == 2 { printf "%.0f\n", s * 1000 + int($1 / 1000) }')
live=$(rcli ZRANGEBYSCORE "$PREFIX:nodes" "$(( ${server_ms:-0} - 10000 ))" +inf | grep -c . )
if [ "$live" -eq "$NODES" ]; then
    pass "redis: $PREFIX:nodes has $live members reported in the last 10 s"
else
    fail "redis: $PREFIX:nodes has $live members reported in the last 10 s, expected $NODES"
fi

# Heartbeat hashes only: node ids have no ':', and {pf}:v1:node:<id>:upstreams
# (per-upstream outcomes) is another key.
mapfile -t node_keys < <(rcli --scan --pattern "$PREFIX:node:*" | grep -E ':node:[^:]+$' | sort)
mapfile -t outcome_keys < <(rcli --scan --pattern "$PREFIX:node:*:upstreams" | grep . | sort)
if [ "${#node_keys[@]}" -eq "$NODES" ]; then
    pass "redis: ${#node_keys[@]} heartbeat keys $PREFIX:node:<id>"
else
    fail "redis: ${#node_keys[@]} heartbeat keys $PREFIX:node:<id>, expected $NODES"
fi
served=0
total=0
for k in "${node_keys[@]}"; do
    pttl="" nepoch="" nsize="" req=""
    { read -r pttl; read -r nepoch; read -r nsize; read -r req; } < <(
        printf 'PTTL %s\nHMGET %s pool_epoch pool_size requests_total\n' "$k" "$k" | rcli_batch)
    if [[ "$pttl" =~ ^[0-9]+$ ]] && [ "$pttl" -gt 0 ]; then
        pass "redis: $k has a TTL (${pttl} ms)"
    else
        fail "redis: $k has no TTL (PTTL $pttl)"
    fi
    if [ -n "$epoch" ] && [ "$nepoch" = "$epoch" ] && [ "$nsize" = "$count" ]; then
        pass "redis: $k serves the published pool (epoch $nepoch, size $nsize)"
    else
        fail "redis: $k pool_epoch='$nepoch' pool_size='$nsize', expected epoch '$epoch' size '$count'"
    fi
    if [[ "$req" =~ ^[0-9]+$ ]]; then
        total=$((total + req))
        [ "$req" -gt 0 ] && served=$((served + 1))
    fi
done
if [ "${#outcome_keys[@]}" -eq "$NODES" ]; then
    pass "redis: ${#outcome_keys[@]} outcome keys $PREFIX:node:*:upstreams"
else
    fail "redis: ${#outcome_keys[@]} outcome keys $PREFIX:node:*:upstreams, expected $NODES"
fi
# The lb spreads the sequential requests (leastconn, equal load = round
# robin), so with N >= 2 more than one node must have served some.
want_served=$(( NODES >= 2 ? 2 : 1 ))
if [ "$served" -ge "$want_served" ]; then
    pass "redis: $served nodes served requests (requests_total sum $total)"
else
    fail "redis: $served nodes served requests (requests_total sum $total), expected >= $want_served"
fi

# --- containers stayed up -----------------------------------------------------
phase stability
restarts=""
ncontainers=0
for id in $(compose 30 ps -a -q 2>/dev/null); do
    ncontainers=$((ncontainers + 1))
    cname="" cstate="" crestarts=""
    read -r cname cstate crestarts < <(docker inspect \
        -f '{{.Name}} {{.State.Status}} {{.RestartCount}}' "$id" 2>/dev/null)
    if [ "$cstate" != running ] || [ "$crestarts" != 0 ]; then
        restarts="$restarts ${cname#/}(${cstate:-?},restarts=${crestarts:-?})"
    fi
done
# redis, controller, upstream-a, upstream-b, origin, lb + the nodes.
want_containers=$((6 + NODES))
if [ -z "$restarts" ] && [ "$ncontainers" -eq "$want_containers" ]; then
    pass "containers: all $ncontainers running, none restarted"
elif [ -z "$restarts" ]; then
    fail "containers: $ncontainers in the project, expected $want_containers"
else
    fail "containers: not running or restarted:$restarts"
fi
# teardown and the summary run from the EXIT trap.
