#!/bin/sh
# Builds every libFuzzer target (fuzz/fuzz_*.c) with clang in build-fuzz/ and
# runs each for SECONDS (default 60) on a temporary copy of its seed corpus,
# tests/corpus/<name without "fuzz_">/. Exits non-zero when a target fails to
# build or finds a crash; crash inputs are kept in build-fuzz/artifacts/ and
# belong in the target's corpus once fixed (the unit tests replay them).
#
# Usage: scripts/fuzz.sh [SECONDS] [TARGET...]
set -u

secs=${1:-60}
[ $# -gt 0 ] && shift
root=$(cd "$(dirname "$0")/.." && pwd)
build="$root/build-fuzz"
artifacts="$build/artifacts"
cc=${CC:-clang}

mkdir -p "$build"
case "$secs" in
    ''|*[!0-9]*) echo "usage: $0 [SECONDS] [TARGET...]" >&2; exit 2 ;;
esac

CC="$cc" cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DPF_FUZZ=ON -DPF_SANITIZE=ON -DPF_BUILD_TESTS=OFF >"$build/configure.log" 2>&1 || {
    cat "$build/configure.log" >&2
    echo "fuzz: configure failed" >&2
    exit 1
}

if [ $# -gt 0 ]; then
    targets="$*"
else
    targets=$(cd "$root/fuzz" && ls fuzz_*.c 2>/dev/null | sed 's/\.c$//')
fi
[ -n "$targets" ] || { echo "fuzz: no targets in fuzz/" >&2; exit 1; }

mkdir -p "$artifacts"
status=0
for t in $targets; do
    if ! cmake --build "$build" --target "$t" -j"$(nproc)" >"$build/$t.build.log" 2>&1; then
        tail -n 30 "$build/$t.build.log" >&2
        echo "fuzz: $t: build failed" >&2
        status=1
        continue
    fi
    corpus_src="$root/tests/corpus/${t#fuzz_}"
    work=$(mktemp -d "${TMPDIR:-/tmp}/pf-$t.XXXXXX")
    [ -d "$corpus_src" ] && cp -R "$corpus_src/." "$work/"
    dict=""
    [ -f "$root/fuzz/$t.dict" ] && dict="-dict=$root/fuzz/$t.dict"
    echo "fuzz: $t for ${secs}s (corpus: $corpus_src)"
    # shellcheck disable=SC2086
    "$build/fuzz/$t" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 -artifact_prefix="$artifacts/$t-" $dict "$work" \
        >"$build/$t.log" 2>&1
    rc=$?
    if [ $rc -ne 0 ]; then
        tail -n 40 "$build/$t.log" >&2
        echo "fuzz: $t: FAILED (exit $rc), artifacts in $artifacts" >&2
        status=1
    else
        echo "fuzz: $t: ok ($(grep -E '^stat::number_of_executed_units' "$build/$t.log" | awk '{print $2}') runs)"
    fi
    rm -rf "$work"
done
exit $status
