#!/bin/sh
# Builds bench/select_bench.c with -O2 against the node's selection code
# and common/, and runs it: one pick for (labels, session, domain) over
# 10,000 upstreams and 1,000 bans (docs/benchmarks.md, "Selection").
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
out=${BENCH_RUN_DIR:-/tmp/pf-bench-run}
mkdir -p "$out"
srcs=$(ls "$root"/common/*.c | grep -v -e '/version\.c$' -e '/cli\.c$')
${CC:-cc} -std=c11 -O2 -D_GNU_SOURCE -I"$root/common" -I"$root/node" \
    "$root/bench/select_bench.c" "$root/node/pool_cache.c" "$root/node/pool_build.c" \
    "$root/node/select.c" $srcs -lcjson -lcrypto -o "$out/select_bench"
exec timeout 300 "$out/select_bench"
