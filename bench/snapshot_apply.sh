#!/usr/bin/env bash
# Cost of applying a large pool snapshot while traffic flows.
# Starts the origin, a private redis-server, a direct-mode node (the upstream)
# and a pool-mode node; drives wrk (http-forward, 64 conns) through the pool
# node and, meanwhile, publishes K snapshots of NUP upstreams each. Every
# upstream record points at the direct node with its own user name, so each
# is a distinct upstream id that works (the direct node has no users and
# ignores/strips Proxy-Authorization).
#
# Usage: bench/snapshot_apply.sh     env: NUP (10000) K (5) GAP (2 s) CONNS (64) PF_NODE_BIN
# Reports per snapshot the node's own figures: pf_node_pool_apply_max_slice_seconds
# (the longest single event-loop turn the apply took: what blocks requests),
# pf_node_pool_apply_wall_seconds (EXEC reply to swap, wall, spread over
# pf_node_pool_apply_slices turns; pf_node_pool_apply_total_seconds before
# the metrics hygiene change) and the read time from its log; then wrk's
# errors, p99 and max latency over the whole run. A node without the slice
# metrics (older builds) is reported from pf_node_pool_last_apply_seconds and
# the log's "applied in" figure, which then both are the one blocking turn.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
NUP="${NUP:-10000}"; K="${K:-5}"; GAP="${GAP:-2}"; CONNS="${CONNS:-64}"
NODE_BIN="$(bench_node_bin)" || exit 1
STARTED_ORIGIN=0
cleanup() { bench_cleanup; [ $STARTED_ORIGIN = 1 ] && "$BENCH_DIR/origin.sh" stop >/dev/null 2>&1; }
trap cleanup EXIT INT TERM
if [ "$("$BENCH_DIR/origin.sh" status)" != running ]; then
  "$BENCH_DIR/origin.sh" start >/dev/null || exit 1; STARTED_ORIGIN=1
fi

P_NODE=$(free_port 13600); P_NODE_ADM=$(free_port $((P_NODE + 1)))
P_HOP=$(free_port $((P_NODE_ADM + 1))); P_HOP_ADM=$(free_port $((P_HOP + 1)))
P_REDIS=$(free_port 16490)
node_start snap-direct direct "$P_NODE" "$P_NODE_ADM" || exit 1
redis_start "$P_REDIS" || exit 1
node_start snap-pool pool "$P_HOP" "$P_HOP_ADM" "$P_REDIS" info || exit 1; PID_POOL=$NODE_PID
EPOCH="$(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n')"
pool_write_one "$P_REDIS" "$P_NODE" 1 "$EPOCH"
wait_pool "$P_HOP_ADM" 1 || exit 1

# snapshot files (RESP), generated before the load starts
gen() {  # version -> file: MULTI; DEL; HSET upstreams (batches); HSET meta; EXEC; PUBLISH
  python3 - "$1" "$EPOCH" "$NUP" "$P_NODE" > "$RUN/snap-$1.resp" <<'PY'
import sys, hashlib, json, time
ver, epoch, n, port = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
out = sys.stdout.buffer
def cmd(*args):
    out.write(b"*%d\r\n" % len(args))
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out.write(b"$%d\r\n%s\r\n" % (len(a), a))
up, meta, ev = "{pf}:v1:pool:upstreams", "{pf}:v1:pool:meta", "{pf}:v1:pool:events"
cmd("MULTI"); cmd("DEL", up)
batch = []
for i in range(n):
    user = f"v{ver}u{i}"
    rid = f"http://127.0.0.1:{port}#{hashlib.sha1(user.encode()).hexdigest()[:8]}"
    rec = json.dumps({"scheme": "http", "host": "127.0.0.1", "port": port, "user": user, "pass": "p",
                      "provider": "bench", "expires_at_ms": 0, "weight": 1, "latency_ms": 0},
                     separators=(",", ":"))
    batch += [rid, rec]
    if len(batch) >= 2000:
        cmd("HSET", up, *batch); batch = []
if batch:
    cmd("HSET", up, *batch)
cmd("HSET", meta, "version", ver, "epoch", epoch, "count", n,
    "updated_at_ms", int(time.time() * 1000), "controller_id", "bench")
cmd("EXEC")
cmd("PUBLISH", ev, f"{ver} {epoch}")
PY
}
for v in $(seq 2 $((K + 1))); do gen "$v"; done

DUR_W=$((K * GAP + 4))
log "wrk ${DUR_W}s through the pool node; $K snapshots of $NUP upstreams, every ${GAP}s"
BENCH_URL="http://$ORIGIN/small" timeout $((DUR_W + 15)) \
  wrk -t1 -c"$CONNS" -d"${DUR_W}s" --timeout 5s -s "$BENCH_DIR/forward.lua" "http://127.0.0.1:$P_HOP/" \
  > "$RUN/snap-wrk.txt" 2>&1 & WRK=$!
sleep 2
ms_of() { awk -v a="${1:-0}" 'BEGIN{printf "%.2f", a*1000}'; }
max_slice=0; max_total=0
for v in $(seq 2 $((K + 1))); do
  redis-cli -p "$P_REDIS" --pipe < "$RUN/snap-$v.resp" > /dev/null
  if wait_pool "$P_HOP_ADM" "$v"; then
    sleep 0.2   # the retired pool is freed one turn after the swap: count that turn too
    line="$(grep -a "version $v (was" "$RUN/snap-pool/node.log" | tail -1)"
    fetch="$(sed -n 's/.*fetched in \([0-9]*\) ms.*/\1/p' <<<"$line")"
    slice="$(metric "$P_HOP_ADM" pool_apply_max_slice_seconds)"
    if [ -n "$slice" ]; then
      wall="$(metric "$P_HOP_ADM" pool_apply_wall_seconds)"
      [ -n "$wall" ] || wall="$(metric "$P_HOP_ADM" pool_apply_total_seconds)"   # older name
      slice="$(ms_of "$slice")"; total="$(ms_of "$wall")"
      turns="$(metric "$P_HOP_ADM" pool_apply_slices)"
    else   # older node: one blocking turn
      us="$(sed -n 's/.*applied in \([0-9]*\) us.*/\1/p' <<<"$line")"
      slice="$(awk -v u="${us:-0}" -v m="$(ms_of "$(metric "$P_HOP_ADM" pool_last_apply_seconds)")" \
               'BEGIN{u/=1000; printf "%.2f", (u > m ? u : m)}')"
      total="$slice"; turns=1
    fi
    echo "snapshot version=$v upstreams=$(metric "$P_HOP_ADM" pool_size) max_slice_ms=$slice total_apply_ms=$total slices=$turns fetch_ms=${fetch:-?}"
    max_slice="$(awk -v a="$max_slice" -v b="$slice" 'BEGIN{printf "%.2f", (b>a ? b : a)}')"
    max_total="$(awk -v a="$max_total" -v b="$total" 'BEGIN{printf "%.2f", (b>a ? b : a)}')"
  fi
  sleep "$GAP"
done
wait "$WRK"
W="$(grep '^WRKRESULT' "$RUN/snap-wrk.txt")"
echo "max_slice_ms=$max_slice (longest event-loop turn of any apply) max_total_apply_ms=$max_total"
echo "wrk: ${W#WRKRESULT }"
errs="$(sed -n 's/.* errors=\([-0-9]*\) .*/\1/p' <<<"$W")"
curl -fsS "http://127.0.0.1:$P_HOP_ADM/metrics" | grep -E '^pf_node_(errors_total|errors_50[234]_total|redis_reloads_total|redis_bad_records_total|redis_apply_superseded_total|pool_size)' >&2
[ "${errs:-1}" = 0 ]
