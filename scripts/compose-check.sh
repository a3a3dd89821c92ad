#!/usr/bin/env bash
# End-to-end check of compose.yaml on a fresh Debian 12 machine (as root):
# bootstrap docker and the base images (scripts/docker-bootstrap.sh), build,
# start the fleet with N nodes, send requests through the load balancer to
# the demo origin, and check the Redis keys the fleet writes. With the
# "monitoring" profile (default), check that Prometheus follows the node
# replicas through `--scale node=N+1` and back. Then two
# failure drills under client load: one node SIGKILLed, Redis restarted
# (each prints a "FIGURES drill-..." line). Prints one PASS/FAIL line per
# check and the time of each phase; always tears the project down (down -v
# --remove-orphans), also on failure or Ctrl-C.
#
# Usage: scripts/compose-check.sh
# Env:
#   PF_CHECK_NODES     node replicas (default 3, at most PF_LB_SLOTS: lb slots)
#   PF_CHECK_REQUESTS  requests through the lb (default 20)
#   PF_LB_PORT         host port of the lb on 127.0.0.1 (default 3128; when
#                      unset and 3128 is taken, the first free of 13128..13228)
#   PF_COMPOSE_PROJECT project name (default pfcheck)
#   PF_COMPOSE         compose command, e.g. "docker-compose" (default:
#                      "docker compose" when available, else docker-compose)
#   PF_SKIP_BOOTSTRAP  1 = do not run scripts/docker-bootstrap.sh
#   PF_SKIP_DRILLS     1 = skip the two failure drills at the end (a node
#                      SIGKILLed under load, Redis restarted under load)
#   PF_CHECK_SENTINEL  1 = run the fleet with the "sentinel" profile
#                      (docker/sentinel.env: a replica, three sentinels, the
#                      fleet asking them) and, instead of the two drills,
#                      SIGKILL the Redis master under load: 0 failed
#                      requests, every node and the controller writing to the
#                      promoted replica (prints "FIGURES drill-sentinel ...")
#   PF_CHECK_MONITORING 1 (default) = run with the "monitoring" profile and
#                      check that Prometheus scrapes every node replica, then
#                      PF_CHECK_NODES + 1 after `--scale node=<N+1>` (and N
#                      again after scaling back), and the controller;
#                      0 = without Prometheus
#   PF_PROMETHEUS_PORT host port of Prometheus on 127.0.0.1 (default 9090;
#                      when unset and 9090 is taken, the first free of
#                      19090..19190)
# Exit status: 0 all checks passed, 1 a check failed, 2 bad usage.
set -uo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
NODES=${PF_CHECK_NODES:-3}
REQUESTS=${PF_CHECK_REQUESTS:-20}
PROJECT=${PF_COMPOSE_PROJECT:-pfcheck}
LB_PORT_FIXED=${PF_LB_PORT:-}
export PF_LB_PORT=${PF_LB_PORT:-3128}
LB="127.0.0.1:$PF_LB_PORT"
# The commit the images report (--version, build_info): the context has no .git.
PF_GIT_COMMIT=$(git -C "$ROOT" rev-parse --short=12 HEAD 2>/dev/null || true)
export PF_GIT_COMMIT
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
LOAD_PIDS=()   # client load loops of the drills, stopped by teardown

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
SENTINEL=${PF_CHECK_SENTINEL:-0}
COMPOSE_EXTRA=()
EXTRA_CONTAINERS=0
if [ "$SENTINEL" = 1 ]; then
    COMPOSE_EXTRA=(--env-file "$ROOT/docker/sentinel.env" --profile sentinel)
    EXTRA_CONTAINERS=4      # redis-replica, sentinel-1..3
fi
MONITORING=${PF_CHECK_MONITORING:-1}
MON_CONTAINERS=0
PROM_PORT_FIXED=${PF_PROMETHEUS_PORT:-}
export PF_PROMETHEUS_PORT=${PF_PROMETHEUS_PORT:-9090}
if [ "$MONITORING" = 1 ]; then
    COMPOSE_EXTRA+=(--profile monitoring)
    MON_CONTAINERS=1        # prometheus
    EXTRA_CONTAINERS=$((EXTRA_CONTAINERS + MON_CONTAINERS))
fi
compose() {
    local limit=$1
    shift
    timeout "$limit" "${COMPOSE[@]}" "${COMPOSE_EXTRA[@]}" -f "$ROOT/compose.yaml" -p "$PROJECT" "$@"
}

# Redis through the redis service's own redis-cli (nothing is published).
rcli() { compose 20 exec -T redis redis-cli --raw "$@" </dev/null | tr -d '\r'; }
# rcli_batch: commands on stdin, one per line, answers in order (one exec).
rcli_batch() { compose 20 exec -T redis redis-cli --raw | tr -d '\r'; }

teardown() {
    local rc=$?
    trap - EXIT INT TERM
    local p
    for p in "${LOAD_PIDS[@]}"; do kill "$p" 2>/dev/null; done
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

# Prints "<id> <name> <state> <restarts>" for every container of the project
# that should be running. The one-shot keygen service (compose.yaml) is left
# out once it exited 0; exited with any other code it is listed, so the
# checks below report it.
long_running_containers() {
    local id line svc code
    for id in $(compose 30 ps -a -q 2>/dev/null); do
        line=$(docker inspect -f '{{index .Config.Labels "com.docker.compose.service"}} {{.State.ExitCode}} {{.Id}} {{.Name}} {{.State.Status}} {{.RestartCount}}' "$id" 2>/dev/null) || continue
        read -r svc code line <<<"$line"
        if [ "$svc" = keygen ] && [ "$code" = 0 ] && [[ "$line" == *" exited "* ]]; then
            continue
        fi
        line=${line/ \// }
        echo "$line"
    done
}

# --- bootstrap -----------------------------------------------------------
phase bootstrap
if [ "${PF_SKIP_BOOTSTRAP:-0}" != 1 ]; then
    timeout 1500 "$ROOT/scripts/docker-bootstrap.sh" || abort "bootstrap: scripts/docker-bootstrap.sh"
fi
# curl: requests through the lb; python3: Prometheus' JSON answers.
for tool in curl python3; do
    command -v "$tool" >/dev/null 2>&1 && continue
    DEBIAN_FRONTEND=noninteractive timeout 300 apt-get install -y -qq "$tool" >/dev/null \
        || { timeout 300 apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
             timeout 300 apt-get install -y -qq "$tool" >/dev/null; } \
        || abort "bootstrap: installing $tool"
done
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
if [ "$MONITORING" = 1 ] && port_busy "$PF_PROMETHEUS_PORT"; then
    if [ -n "$PROM_PORT_FIXED" ]; then
        abort "up: something already listens on 127.0.0.1:$PF_PROMETHEUS_PORT (PF_PROMETHEUS_PORT)"
    fi
    for p in $(seq 19090 19190); do
        port_busy "$p" || { PF_PROMETHEUS_PORT=$p; break; }
    done
    say "127.0.0.1:9090 is in use; publishing Prometheus on 127.0.0.1:$PF_PROMETHEUS_PORT instead"
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

# --- every service is hardened (compose.yaml x-hardened) --------------------
phase hardening
# Read-only root filesystem, every capability dropped, no-new-privileges and
# bounded json-file logs, on every container of the project (the one-shot
# keygen included), as Docker applied them.
hard_bad=""
hard_n=0
for id in $(compose 30 ps -a -q 2>/dev/null); do
    line=$(docker inspect -f '{{.Name}} ro={{.HostConfig.ReadonlyRootfs}} drop={{join .HostConfig.CapDrop ","}} add={{join .HostConfig.CapAdd ","}} sec={{join .HostConfig.SecurityOpt ","}} log={{.HostConfig.LogConfig.Type}} size={{index .HostConfig.LogConfig.Config "max-size"}} files={{index .HostConfig.LogConfig.Config "max-file"}} user={{.Config.User}}' "$id" 2>/dev/null) || continue
    hard_n=$((hard_n + 1))
    name=${line%% *}
    for want in "ro=true" "drop=ALL" "add= " "sec=no-new-privileges:true" "log=json-file" "size=10m" "files=3"; do
        [[ "$line " == *" $want"* ]] || hard_bad+=" ${name#/}(${want%% })"
    done
    [[ "$line" == *" user=" ]] || [[ "$line" == *" user=0"* ]] || [[ "$line" == *" user=root"* ]] \
        && hard_bad+=" ${name#/}(runs as root)"
done
if [ "$hard_n" -ge $((NODES + 6 + EXTRA_CONTAINERS)) ] && [ -z "$hard_bad" ]; then
    pass "hardening: $hard_n containers read-only, no capabilities, no-new-privileges, non-root, logs rotated"
else
    fail "hardening: $hard_n containers checked; missing:${hard_bad:- (too few containers)}"
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
# The slots follow PF_LB_SLOTS (compose.yaml, default 16), not a fixed 10.
want_slots=${PF_LB_SLOTS:-16}
slots=$(compose 10 exec -T lb bash -c \
        'exec 3<>/dev/tcp/127.0.0.1/8404 && printf "GET /stats;csv HTTP/1.0\r\n\r\n" >&3 && cat <&3' \
        </dev/null 2>/dev/null | awk -F, '$1 == "nodes" && $2 ~ /^node[0-9]+$/ { n++ } END { print n + 0 }')
if [ "${slots:-0}" -eq "$want_slots" ]; then
    pass "lb: $slots server slots (PF_LB_SLOTS=$want_slots)"
else
    fail "lb: ${slots:-0} server slots, expected PF_LB_SLOTS=$want_slots"
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
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 -x "http://$LB" http://127.0.0.1:3180/healthz 2>/dev/null)
if [ "$code" = 403 ]; then
    pass "policy: GET http://127.0.0.1:3180/ through the fleet refused (403)"
else
    fail "policy: GET http://127.0.0.1:3180/ through the fleet answered $code, expected 403"
fi
# The nodes' admin ports: "node" resolves, but not into the demo network.
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 -x "http://$LB" http://node:3180/stats 2>/dev/null)
if [ "$code" = 403 ]; then
    pass "policy: GET http://node:3180/stats through the fleet refused (403)"
else
    fail "policy: GET http://node:3180/stats through the fleet answered $code, expected 403"
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
while read -r id cname cstate crestarts; do
    ncontainers=$((ncontainers + 1))
    if [ "$cstate" != running ] || [ "$crestarts" != 0 ]; then
        restarts="$restarts ${cname}(${cstate:-?},restarts=${crestarts:-?})"
    fi
done < <(long_running_containers)
# redis, controller, upstream-a, upstream-b, origin, lb + the nodes (+ the
# replica and the three sentinels with PF_CHECK_SENTINEL=1).
want_containers=$((6 + EXTRA_CONTAINERS + NODES))
if [ -z "$restarts" ] && [ "$ncontainers" -eq "$want_containers" ]; then
    pass "containers: all $ncontainers running, none restarted"
elif [ -z "$restarts" ]; then
    fail "containers: $ncontainers in the project, expected $want_containers"
else
    fail "containers: not running or restarted:$restarts"
fi

# --- monitoring profile: Prometheus follows the scaling ------------------------
# Prometheus (docker/prometheus/prometheus.yml) finds the nodes with
# dns_sd_configs on the "node" service name and the controller on
# "controller". Asked through its published port: /api/v1/targets.
if [ "$MONITORING" = 1 ]; then
    phase monitoring
    PROM="http://127.0.0.1:$PF_PROMETHEUS_PORT"
    # scripts/monitoring-check.py asks Prometheus' HTTP API.
    mcheck() { timeout 60 python3 "$ROOT/scripts/monitoring-check.py" "$@"; }
    # prom_targets: "<node targets> <node targets up> <controller targets up>
    # <alert rules loaded>", or nothing when Prometheus does not answer.
    prom_targets() { mcheck targets "$PROM" 2>/dev/null | grep -E '^[0-9]+ [0-9]+ [0-9]+ [0-9]+$'; }
    # prom_wait N: until Prometheus has exactly N node targets, all up (60 s).
    prom_wait() {
        local deadline=$(( $(date +%s) + 60 ))
        PT_N=0 PT_UP=0 PT_CTL=0 PT_RULES=0
        while :; do
            read -r PT_N PT_UP PT_CTL PT_RULES < <(prom_targets)
            [ "${PT_N:-0}" = "$1" ] && [ "${PT_UP:-0}" = "$1" ] && return 0
            [ "$(date +%s)" -ge "$deadline" ] && return 1
            sleep 1
        done
    }
    if prom_wait "$NODES"; then
        pass "monitoring: Prometheus sees $PT_UP node targets up with --scale node=$NODES"
    else
        fail "monitoring: Prometheus has ${PT_N:-0} node targets, ${PT_UP:-0} up, after 60 s (expected $NODES up; http://$PROM/api/v1/targets)"
    fi
    want_rules=$(grep -c '^ *- alert: ' "$ROOT/docs/prometheus/alerts.yml")
    if [ "${PT_CTL:-0}" = 1 ] && [ "${PT_RULES:-0}" = "$want_rules" ]; then
        pass "monitoring: the controller target is up and the $PT_RULES alert rules of docs/prometheus/alerts.yml are loaded"
    else
        fail "monitoring: ${PT_CTL:-0} controller targets up (expected 1), ${PT_RULES:-0} alert rules loaded (expected $want_rules)"
    fi
    # The healthy fleet trips no alert: every rule inactive (not even
    # pending) at an evaluation (every 15 s) once all targets are up.
    deadline=$(( $(date +%s) + 60 ))
    while :; do
        out=$(mcheck alerts "$PROM") && break
        [ "$(date +%s)" -ge "$deadline" ] && break
        sleep 2
    done
    if [ -z "$out" ]; then
        pass "monitoring: every alert rule inactive on the healthy fleet"
    else
        fail "monitoring: alerts on the healthy fleet after 60 s: $out"
    fi
    # Every dashboard panel has data from the live fleet (its queries as
    # Grafana sends them with "All" selected).
    if out=$(mcheck dashboard "$PROM" "$ROOT/docs/grafana/proxyfleet.json"); then
        pass "monitoring: docs/grafana/proxyfleet.json: $out"
    else
        fail "monitoring: docs/grafana/proxyfleet.json: $out"
    fi
    more=$((NODES + 1))
    t0=$(now_ms)
    compose 300 up -d --no-deps --no-recreate --scale node="$more" node >"$LOG_DIR/scale-up.log" 2>&1 \
        || { cat "$LOG_DIR/scale-up.log"; abort "monitoring: compose up --scale node=$more"; }
    if prom_wait "$more"; then
        pass "monitoring: Prometheus sees $PT_UP node targets up $(( $(now_ms) - t0 )) ms after --scale node=$more"
    else
        fail "monitoring: Prometheus has ${PT_N:-0} node targets, ${PT_UP:-0} up, 60 s after --scale node=$more (expected $more up)"
    fi
    # Back to N for the drills: compose stops the newest replica (SIGTERM,
    # the node drains and exits), Prometheus drops its target, the lb its
    # server, and its heartbeat key leaves Redis (deleted or expired).
    t0=$(now_ms)
    compose 300 up -d --no-deps --no-recreate --scale node="$NODES" node >"$LOG_DIR/scale-down.log" 2>&1 \
        || { cat "$LOG_DIR/scale-down.log"; abort "monitoring: compose up --scale node=$NODES"; }
    if prom_wait "$NODES"; then
        pass "monitoring: Prometheus sees $PT_UP node targets up $(( $(now_ms) - t0 )) ms after scaling back to --scale node=$NODES"
    else
        fail "monitoring: Prometheus has ${PT_N:-0} node targets, ${PT_UP:-0} up, 60 s after scaling back to $NODES"
    fi
    deadline=$(( $(date +%s) + 60 ))
    while :; do
        up=$(lb_up_count)
        nkeys=$(rcli --scan --pattern "$PREFIX:node:*" | grep -cE ':node:[^:]+$')
        [ "${up:-0}" = "$NODES" ] && [ "$nkeys" = "$NODES" ] && break
        [ "$(date +%s)" -ge "$deadline" ] && break
        sleep 1
    done
    if [ "${up:-0}" = "$NODES" ] && [ "$nkeys" = "$NODES" ]; then
        pass "monitoring: back to $NODES nodes: $up UP in haproxy, $nkeys heartbeat keys"
    else
        abort "monitoring: after scaling back to $NODES: ${up:-0} UP in haproxy, $nkeys heartbeat keys (expected $NODES each)"
    fi
fi

# --- failure drills -------------------------------------------------------------
# Two drills on the running fleet, each under bounded client load through
# the lb: a node is SIGKILLed, then Redis is restarted (and comes back
# empty: compose.yaml runs it without persistence). Each prints one
# "FIGURES drill-..." line with what it measured (docs/reliability.md).
if [ "${PF_SKIP_DRILLS:-0}" = 1 ]; then
    say "drills skipped (PF_SKIP_DRILLS=1)"
    exit 0
fi

# Redis without `compose exec` (Compose v1 spends about a second per exec):
# the drills poll it several times a second. Bounded like everything else.
REDIS_CID=$(compose 30 ps -q redis 2>/dev/null | head -n 1)
rfast() { timeout 10 docker exec "$REDIS_CID" redis-cli --raw "$@" </dev/null 2>/dev/null | tr -d '\r'; }
# rfast_batch: commands on stdin, one per line, answers in order.
rfast_batch() { timeout 10 docker exec -i "$REDIS_CID" redis-cli --raw 2>/dev/null | tr -d '\r'; }
# report_interval_ms of docker/config/node.json: heartbeat TTL is 3 x that.
REPORT_MS=$(sed -n 's/.*"report_interval_ms"[[:space:]]*:[[:space:]]*\([0-9]*\).*/\1/p' \
    "$ROOT/docker/config/node.json" | head -n 1)
REPORT_MS=${REPORT_MS:-2000}
HB_TTL_MS=$((3 * REPORT_MS))

# load_start NAME SECONDS: DRILL_LOOPS sequential curl loops through the lb,
# each bounded in time (SECONDS, plus one request's --max-time) and in count
# (DRILL_MAX_REQUESTS); each request on a new connection, so the lb picks a
# node for every one. One line per request in $LOG_DIR/NAME.load:
# "<start ms> <http code> <seconds>".
DRILL_LOOPS=3
DRILL_MAX_REQUESTS=3000
load_loop() {
    local out=$1 end_ms=$2 n=0 t r
    while [ "$n" -lt "$DRILL_MAX_REQUESTS" ]; do
        t=$(( ${EPOCHREALTIME/./} / 1000 ))
        [ "$t" -ge "$end_ms" ] && break
        r=$(curl -s -o /dev/null -w '%{http_code} %{time_total}' --max-time 5 \
            -x "http://$LB" "$ORIGIN_URL" 2>/dev/null)
        printf '%s %s\n' "$t" "${r:-000 0}" >>"$out"
        n=$((n + 1))
    done
}
load_start() {
    local out="$LOG_DIR/$1.load" end_ms i
    end_ms=$(( $(now_ms) + $2 * 1000 ))
    : >"$out"
    LOAD_PIDS=()
    for i in $(seq "$DRILL_LOOPS"); do
        load_loop "$out" "$end_ms" &
        LOAD_PIDS+=($!)
    done
}
load_wait() {
    local p
    for p in "${LOAD_PIDS[@]}"; do wait "$p" 2>/dev/null; done
    LOAD_PIDS=()
}
# load_stats NAME FROM_MS TO_MS: "<requests> <failed> <requests in
# [FROM,TO)> <failed in [FROM,TO)> <requests from TO on> <failed from TO on>
# <slowest s>"; a failure is anything but a 200.
load_stats() {
    awk -v a="$2" -v b="$3" '
        { n++; f += ($2 != 200); if ($3 + 0 > slow) slow = $3 + 0
          if ($1 >= a && $1 < b) { wn++; wf += ($2 != 200) }
          if ($1 >= b) { an++; af += ($2 != 200) } }
        END { printf "%d %d %d %d %d %d %.3f\n", n, f, wn, wf, an, af, slow }' \
        "$LOG_DIR/$1.load"
}

# --- sentinel drill (PF_CHECK_SENTINEL=1): SIGKILL the master mid-load -------
# The sentinels (down-after-milliseconds 5000 in compose.yaml) promote the
# replica; the nodes serve their cache meanwhile and, like the controller,
# follow +switch-master to the new master, where their heartbeats and the
# controller's must appear again. Replaces the two drills below.
drill_sentinel() {
    local replica_cid s1_cid old new t_kill t_switch="" t_conv="" k
    replica_cid=$(compose 30 ps -q redis-replica 2>/dev/null | head -n 1)
    s1_cid=$(compose 30 ps -q sentinel-1 2>/dev/null | head -n 1)
    [ -n "$replica_cid" ] && [ -n "$s1_cid" ] || abort "drill sentinel: replica or sentinel-1 missing"
    sget() { timeout 10 docker exec "$s1_cid" redis-cli -p 26379 --raw \
                 SENTINEL get-master-addr-by-name pfmaster </dev/null 2>/dev/null | head -n 1 | tr -d '\r'; }
    rrep() { timeout 10 docker exec "$replica_cid" redis-cli --raw "$@" </dev/null 2>/dev/null | tr -d '\r'; }
    old=$(sget)
    [ -n "$old" ] || abort "drill sentinel: sentinel-1 names no master"
    mapfile -t live_keys < <(rfast --scan --pattern "$PREFIX:node:*" | grep -E ':node:[^:]+$' | sort)
    say "drill sentinel: master $old, ${#live_keys[@]} live nodes"
    # The killed master stays dead (see drill_kill).
    docker update --restart=no "$REDIS_CID" >/dev/null 2>&1 || true
    load_start sentinel 30
    sleep 3
    t_kill=$(now_ms)
    timeout 30 docker kill "$REDIS_CID" >/dev/null || fail "drill sentinel: docker kill redis"
    while [ $(( $(now_ms) - t_kill )) -lt 60000 ]; do
        new=$(sget)
        if [ -n "$new" ] && [ "$new" != "$old" ]; then t_switch=$(now_ms); break; fi
        sleep 0.2
    done
    [ -n "$t_switch" ] || abort "drill sentinel: no failover within 60 s (sentinel-1 still names $old)"
    # Converged: every live node's heartbeat and the controller's written on
    # the new master after the switch.
    while [ $(( $(now_ms) - t_switch )) -lt 30000 ]; do
        local ok=1 cmds out i=0
        cmds=$(printf 'TIME\nHGET %s heartbeat_at_ms' "$PREFIX:controller")
        for k in "${live_keys[@]}"; do cmds+=$(printf '\nHMGET %s updated_at_ms redis_connected' "$k"); done
        mapfile -t out < <(timeout 10 docker exec -i "$replica_cid" redis-cli --raw <<<"$cmds" 2>/dev/null | tr -d '\r')
        [[ "${out[2]:-}" =~ ^[0-9]+$ ]] && [ "${out[2]}" -gt "$t_switch" ] || ok=0
        i=3
        for k in "${live_keys[@]}"; do
            [[ "${out[i]:-}" =~ ^[0-9]+$ ]] && [ "${out[i]}" -gt "$t_switch" ] && [ "${out[i+1]:-}" = 1 ] || ok=0
            i=$((i + 2))
        done
        if [ "$ok" = 1 ]; then t_conv=$(now_ms); break; fi
        sleep 0.3
    done
    load_wait
    local sn=0 sf=0 swn=0 swf=0 sslow=0
    read -r sn sf swn swf _ _ sslow < <(load_stats sentinel "$t_kill" "${t_conv:-$(now_ms)}")
    if [ "$(rrep ROLE | head -n 1)" = master ] && [ "$(rrep HGET "$PREFIX:pool:meta" count)" = 2 ]; then
        pass "drill sentinel: redis-replica is the master ($new) and holds the pool"
    else
        fail "drill sentinel: redis-replica is not a master with the pool (role $(rrep ROLE | head -n 1))"
    fi
    if [ -n "$t_conv" ]; then
        pass "drill sentinel: failover $((t_switch - t_kill)) ms after the kill; the controller and ${#live_keys[@]} nodes wrote to the new master $((t_conv - t_switch)) ms after sentinel-1 named it"
    else
        fail "drill sentinel: the controller and the nodes did not all write to the new master within 30 s of the switch"
    fi
    if [ "$sn" -gt 0 ] && [ "$sf" -eq 0 ]; then
        pass "drill sentinel: $sf of $sn requests failed ($swn sent between the kill and convergence); slowest ${sslow} s"
    else
        fail "drill sentinel: $sf of $sn requests failed, $swf of $swn between the kill and convergence (must be 0); slowest ${sslow} s; log $LOG_DIR/sentinel.load"
    fi
    echo "FIGURES drill-sentinel nodes=${#live_keys[@]} clients=$DRILL_LOOPS requests=$sn failed=$sf requests_until_converged=$swn slowest_s=$sslow switch_after_kill_ms=$((t_switch - t_kill)) converged_after_switch_ms=$([ -n "$t_conv" ] && echo $((t_conv - t_switch)) || echo none)"
}
if [ "$SENTINEL" = 1 ]; then
    phase drill-sentinel
    drill_sentinel
    exit 0
fi

# --- drill 1: kill a node mid-load ---------------------------------------------
KILLED=0
victim=""
drill_kill() {
    # The victim: one node container, its heartbeat key ({pf}:v1:node:<id>, id
    # "<hostname>-<pid>", hostname = short container id) and the others' keys.
    mapfile -t node_cids < <(compose 30 ps -q node 2>/dev/null | grep . | sort)
    victim=${node_cids[0]:-}
    victim_host=$(docker inspect -f '{{.Config.Hostname}}' "$victim" 2>/dev/null)
    mapfile -t hb_keys < <(rfast --scan --pattern "$PREFIX:node:*" | grep -E ':node:[^:]+$' | sort)
    victim_key=""
    others=()
    for k in "${hb_keys[@]}"; do
        if [ -n "$victim_host" ] && [[ "$k" == "$PREFIX:node:$victim_host-"* ]]; then
            victim_key=$k
        else
            others+=("$k")
        fi
    done
    if [ -z "$victim" ] || [ -z "$victim_key" ] || [ "${#others[@]}" -ne $((NODES - 1)) ]; then
        abort "drill kill: cannot pick a victim (container '${victim:0:12}', key '$victim_key', ${#others[@]} other keys, expected $((NODES - 1)))"
    fi
    say "drill kill: victim $(docker inspect -f '{{.Name}}' "$victim" | tr -d /) ($victim_key)"
    # A killed container must stay dead whatever the Docker version does with
    # restart: unless-stopped after `docker kill`: a restarted one would come
    # back with the same hostname and pid 1, hence the same node id and key.
    docker update --restart=no "$victim" >/dev/null 2>&1 || true

    # Window in which failures may happen, from the node's death (at the
    # latest when `docker kill` returns): the lb notices a dead node on the
    # first connect that fails (observe layer4) or after fall (2) x inter
    # (1 s) of checks, plus timeout connect (1 s): docker/lb/haproxy.cfg.
    KILL_WINDOW_MS=3000
    # Each sequential client has at most one connection on the victim when it
    # dies; those cannot be replayed (TCP mode). Later ones are redispatched.
    KILL_MAX_FAIL=$DRILL_LOOPS
    load_start kill 12
    sleep 4
    t_kill=$(now_ms)
    timeout 30 docker kill "$victim" >/dev/null || fail "drill kill: docker kill ${victim:0:12}"
    t_dead=$(now_ms)
    KILLED=1
    # The victim's heartbeat key must expire within its TTL (3 x report
    # interval) of the node's death. When it expires is Redis's clock (the
    # host's) plus the key's PTTL, read after the kill: a dead node cannot
    # refresh it any more, and polling alone would add its own latency
    # (a docker exec each). The poll confirms that the key goes; bounded.
    due_ms="" t_gone="" no_ttl=0
    while [ $(( $(now_ms) - t_dead )) -lt $((HB_TTL_MS + 5000)) ]; do
        ts="" tus="" pttl=""
        { read -r ts; read -r tus; read -r pttl; } < <(printf 'TIME\nPTTL %s\n' "$victim_key" | rfast_batch)
        if [ "$pttl" = -2 ]; then
            t_gone=$(now_ms)
            break
        fi
        [ "$pttl" = -1 ] && no_ttl=1
        if [[ "$pttl" =~ ^[0-9]+$ ]] && [[ "$ts" =~ ^[0-9]+$ ]] && [[ "$tus" =~ ^[0-9]+$ ]]; then
            due_ms=$(( ts * 1000 + 10#$tus / 1000 + pttl ))
        fi
        sleep 0.2
    done
    load_wait
    kill_ms=$((t_dead - t_kill))
    kn=0 kf=0 kwn=0 kwf=0 kan=0 kaf=0 kslow=0
    read -r kn kf kwn kwf kan kaf kslow < <(load_stats kill "$t_kill" $((t_dead + KILL_WINDOW_MS)))
    window="from the kill to ${KILL_WINDOW_MS} ms after docker kill returned (${kill_ms} ms)"
    if [ "$kn" -gt 0 ] && [ "$kf" -le "$KILL_MAX_FAIL" ] && [ "$kaf" -eq 0 ] && [ "$kan" -gt 0 ]; then
        pass "drill kill: lb kept serving: $kf of $kn requests failed (bound $KILL_MAX_FAIL), $kwf of $kwn $window, 0 of $kan after; slowest ${kslow} s"
    else
        fail "drill kill: $kf of $kn requests failed (bound $KILL_MAX_FAIL), $kwf of $kwn $window, $kaf of $kan after (must be 0); slowest ${kslow} s; log $LOG_DIR/kill.load"
    fi
    # Expired at: exactly due_ms when a PTTL was read after the kill, else
    # (gone at the first poll) no later than when the poll saw it gone.
    expire_ms=""
    if [ -n "$due_ms" ]; then
        expire_ms=$((due_ms - t_kill))
    elif [ -n "$t_gone" ]; then
        expire_ms=$((t_gone - t_kill))
    fi
    gone_ms=""
    [ -n "$t_gone" ] && gone_ms=$((t_gone - t_kill))
    # The node may have refreshed the key just before it died, and SIGKILL
    # lands at the latest when `docker kill` returns: 1 s of slack on top.
    expire_bound_ms=$((kill_ms + HB_TTL_MS + 1000))
    if [ -n "$gone_ms" ] && [ "$no_ttl" = 0 ] && [ "$expire_ms" -le "$expire_bound_ms" ]; then
        pass "drill kill: $victim_key expired ${expire_ms} ms after the kill (bound ${expire_bound_ms} ms: docker kill ${kill_ms} ms + TTL ${HB_TTL_MS} ms + 1000 ms), seen gone at ${gone_ms} ms"
    else
        fail "drill kill: $victim_key expired at ${expire_ms:-?} ms, seen gone at ${gone_ms:-never} ms after the kill (bound ${expire_bound_ms} ms; no TTL: $no_ttl)"
    fi
    present=0
    for k in "${others[@]}"; do
        p=$(rfast PTTL "$k")
        [[ "$p" =~ ^[0-9]+$ ]] && [ "$p" -gt 0 ] && present=$((present + 1))
    done
    if [ "$present" -eq "${#others[@]}" ]; then
        pass "drill kill: the other $present heartbeat keys are present and refreshed"
    else
        fail "drill kill: $present of ${#others[@]} other heartbeat keys present"
    fi
    # The lb now has one server fewer: marked down, then MAINT once Docker's
    # DNS stops answering its address.
    deadline=$(( $(date +%s) + 15 ))
    while :; do
        up=$(lb_up_count)
        [ "${up:-0}" -eq $((NODES - 1)) ] && break
        [ "$(date +%s)" -ge "$deadline" ] && break
        sleep 1
    done
    if [ "${up:-0}" -eq $((NODES - 1)) ]; then
        pass "drill kill: haproxy has $up node servers UP (was $NODES)"
    else
        fail "drill kill: haproxy has ${up:-0} node servers UP, expected $((NODES - 1))"
    fi
    echo "FIGURES drill-kill-node nodes=$NODES clients=$DRILL_LOOPS requests=$kn failed=$kf failed_in_window=$kwf window_ms=$((kill_ms + KILL_WINDOW_MS)) failed_after=$kaf slowest_s=$kslow heartbeat_expired_after_ms=${expire_ms:-none} heartbeat_seen_gone_ms=${gone_ms:-none} docker_kill_ms=$kill_ms ttl_ms=$HB_TTL_MS"
}
phase drill-kill
if [ "$NODES" -ge 2 ]; then
    drill_kill
else
    say "drill kill skipped: needs at least 2 nodes (PF_CHECK_NODES=$NODES)"
fi

# --- drill 2: restart Redis -------------------------------------------------
phase drill-redis
# compose.yaml runs Redis without persistence, so it comes back empty: the
# controller must find the snapshot gone, publish it again under a new
# epoch, and every live node must load it and report it in its heartbeat.
# A marker key outside the schema tells whether the data really went away.
mapfile -t live_keys < <(rfast --scan --pattern "$PREFIX:node:*" | grep -E ':node:[^:]+$' | sort)
old_version="" old_epoch=""
{ read -r old_version; read -r old_epoch; } < <(rfast HMGET "$PREFIX:pool:meta" version epoch)
rfast SET pfcheck:drill-marker 1 >/dev/null
say "drill redis: before: pool version $old_version epoch $old_epoch, ${#live_keys[@]} live nodes"
if [ "${#live_keys[@]}" -ne $((NODES - KILLED)) ]; then
    fail "drill redis: ${#live_keys[@]} heartbeat keys before the restart, expected $((NODES - KILLED)) live nodes"
fi
# Converged: meta is back with the 2 upstreams, the controller hash names
# the same epoch, and every live node reports that epoch and version with
# redis_connected 1 (its first report after a reconnect says 0).
converged() {
    local cmds out v e c ce k
    cmds=$(printf 'HMGET %s version epoch count\nHGET %s epoch\n' "$PREFIX:pool:meta" "$PREFIX:controller")
    for k in "${live_keys[@]}"; do
        cmds+=$(printf '\nHMGET %s pool_version pool_epoch pool_size redis_connected' "$k")
    done
    mapfile -t out < <(rfast_batch <<<"$cmds")
    v=${out[0]:-} e=${out[1]:-} c=${out[2]:-} ce=${out[3]:-}
    [[ "$v" =~ ^[0-9]+$ ]] && [ -n "$e" ] && [ "$c" = 2 ] || return 1
    [ -z "$T_META" ] && T_META=$(now_ms)
    NEW_VERSION=$v NEW_EPOCH=$e
    [ "$ce" = "$e" ] || return 1
    local i=4
    for k in "${live_keys[@]}"; do
        [ "${out[i]:-}" = "$v" ] && [ "${out[i+1]:-}" = "$e" ] && [ "${out[i+2]:-}" = "$c" ] \
            && [ "${out[i+3]:-}" = 1 ] || return 1
        i=$((i + 4))
    done
    return 0
}
T_META="" NEW_VERSION="" NEW_EPOCH=""
REDIS_CONVERGE_BOUND_MS=30000
load_start redis 12
sleep 2
t_restart=$(now_ms)
timeout 60 docker restart "$REDIS_CID" >/dev/null || fail "drill redis: docker restart ${REDIS_CID:0:12}"
t_back=$(now_ms)
t_conv=""
while [ $(( $(now_ms) - t_restart )) -lt "$REDIS_CONVERGE_BOUND_MS" ]; do
    if converged; then t_conv=$(now_ms); break; fi
    sleep 0.2
done
marker=$(rfast EXISTS pfcheck:drill-marker)
rfast DEL pfcheck:drill-marker >/dev/null
load_wait
conv_ms=""
[ -n "$t_conv" ] && conv_ms=$((t_conv - t_restart))
meta_ms=""
[ -n "$T_META" ] && meta_ms=$((T_META - t_restart))
if [ -n "$conv_ms" ]; then
    pass "drill redis: converged ${conv_ms} ms after the restart (Redis back at $((t_back - t_restart)) ms, pool republished at ${meta_ms} ms): version $NEW_VERSION epoch $NEW_EPOCH on the controller and ${#live_keys[@]} nodes"
else
    fail "drill redis: not converged ${REDIS_CONVERGE_BOUND_MS} ms after the restart (pool republished at ${meta_ms:-never} ms; now: $(rfast HMGET "$PREFIX:pool:meta" version epoch count | tr '\n' ' '))"
    for k in "${live_keys[@]}"; do
        say "  $k: $(rfast HMGET "$k" pool_version pool_epoch pool_size redis_connected | tr '\n' ' ')"
    done
fi
if [ "$marker" = 0 ]; then
    # Data lost: the controller must have picked a new epoch (redis-keys.md).
    if [ -n "$NEW_EPOCH" ] && [ "$NEW_EPOCH" != "$old_epoch" ]; then
        pass "drill redis: Redis came back empty; new pool epoch $NEW_EPOCH (was $old_epoch)"
    else
        fail "drill redis: Redis came back empty but the pool epoch is '$NEW_EPOCH' (was $old_epoch)"
    fi
else
    # compose.yaml runs Redis without persistence so that this drill is the
    # data-loss case; a Redis that kept its data did not test it
    fail "drill redis: Redis kept its data across the restart (persistence on in compose.yaml?); the drill needs an empty restart"
fi
rn=0 rf=0 rwn=0 rwf=0 rslow=0
read -r rn rf rwn rwf _ _ rslow < <(load_stats redis "$t_restart" "${t_conv:-$(now_ms)}")
if [ "$rn" -gt 0 ] && [ "$rf" -eq 0 ]; then
    pass "drill redis: $rf of $rn requests failed during the drill ($rwn sent between the restart and convergence); slowest ${rslow} s"
else
    fail "drill redis: $rf of $rn requests failed during the drill, $rwf of $rwn between the restart and convergence (must be 0: nodes serve from their cache); slowest ${rslow} s; log $LOG_DIR/redis.load"
fi
# After convergence: sequential requests with the origin page.
body=$(mktemp)
ok=0
bad=""
for i in $(seq 10); do
    code=$(curl -s -o "$body" -w '%{http_code}' --max-time 10 -x "http://$LB" "$ORIGIN_URL" 2>/dev/null)
    if [ "$code" = 200 ] && grep -qF "$ORIGIN_TEXT" "$body"; then
        ok=$((ok + 1))
    else
        bad="$bad #$i:$code"
    fi
done
rm -f "$body"
if [ "$ok" -eq 10 ]; then
    pass "drill redis: 10/10 requests after convergence returned the origin page"
else
    fail "drill redis: $ok/10 requests after convergence returned the origin page; failed:$bad"
fi
# Nothing crashed along the way: a crash of the controller or of a node on
# losing Redis would be hidden by restart: unless-stopped and by the
# convergence above (a restarted node keeps its id: same hostname, pid 1).
# `docker restart` does not count as a restart here; the victim is exited.
restarts=""
nrunning=0
while read -r id cname cstate crestarts; do
    if [ -n "$victim" ] && [[ "$id" == "$victim"* || "$victim" == "$id"* ]]; then
        [ "$cstate" = running ] && restarts="$restarts ${cname}(killed,but running)"
        continue
    fi
    if [ "$cstate" = running ] && [ "$crestarts" = 0 ]; then
        nrunning=$((nrunning + 1))
    else
        restarts="$restarts ${cname}(${cstate:-?},restarts=${crestarts:-?})"
    fi
done < <(long_running_containers)
if [ -z "$restarts" ] && [ "$nrunning" -eq $((6 + MON_CONTAINERS + NODES - KILLED)) ]; then
    pass "drills: $nrunning containers still run and none restarted; the killed node stayed down"
else
    fail "drills: $nrunning containers running without restart (expected $((6 + MON_CONTAINERS + NODES - KILLED))); not running, restarted or revived:$restarts"
fi
echo "FIGURES drill-restart-redis nodes=${#live_keys[@]} clients=$DRILL_LOOPS requests=$rn failed=$rf requests_until_converged=$rwn failed_until_converged=$rwf slowest_s=$rslow redis_back_ms=$((t_back - t_restart)) republished_ms=${meta_ms:-none} converged_ms=${conv_ms:-none} data_lost=$([ "$marker" = 0 ] && echo yes || echo no) epoch=$old_epoch->${NEW_EPOCH:-none}"
# teardown and the summary run from the EXIT trap.
