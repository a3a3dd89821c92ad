#!/usr/bin/env bash
# Builds every libFuzzer target (fuzz/fuzz_*.c) with clang in build-fuzz/ and
# runs each for SECONDS (default $PF_FUZZ_SECONDS, else 60) on a temporary
# copy of its seed corpus, tests/corpus/<name without "fuzz_">/, JOBS targets
# at a time ($PF_FUZZ_JOBS, default 2). Exits non-zero when a target fails to
# build or finds a crash (or leak, or slow unit); crash inputs are kept in
# build-fuzz/artifacts/ and belong in the target's corpus once fixed (the
# unit tests replay them). A target without a seed corpus fails too.
#
# Prints one line per target, "fuzz: result <target> ok|FAILED", which
# scripts/test.sh counts (one test each), then "fuzz: N passed, M failed".
#
# Usage: scripts/fuzz.sh [SECONDS] [TARGET...]
# Needs clang and libclang-rt-14-dev (libFuzzer and the sanitizer runtimes);
# llvm-symbolizer (package llvm-14) makes crash stacks readable.
set -u

secs=${1:-${PF_FUZZ_SECONDS:-60}}
[ $# -gt 0 ] && shift
jobs=${PF_FUZZ_JOBS:-2}
root=$(cd "$(dirname "$0")/.." && pwd)
build="$root/build-fuzz"
artifacts="$build/artifacts"
results="$build/results"
cc=${CC:-clang}

case "$secs" in
    ''|*[!0-9]*) echo "usage: $0 [SECONDS] [TARGET...]" >&2; exit 2 ;;
esac
case "$jobs" in
    ''|0|*[!0-9]*) echo "fuzz: PF_FUZZ_JOBS must be a positive number" >&2; exit 2 ;;
esac
mkdir -p "$build"

if [ -z "${ASAN_SYMBOLIZER_PATH:-}" ] && [ -x /usr/lib/llvm-14/bin/llvm-symbolizer ]; then
    export ASAN_SYMBOLIZER_PATH=/usr/lib/llvm-14/bin/llvm-symbolizer
fi
# The fuzz targets abort on their own findings; keep the reports whole.
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=1"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:+$UBSAN_OPTIONS:}print_stacktrace=1"

if [ $# -gt 0 ]; then
    targets="$*"
else
    targets=$(cd "$root/fuzz" && ls fuzz_*.c 2>/dev/null | sed 's/\.c$//')
fi
[ -n "$targets" ] || { echo "fuzz: no targets in fuzz/" >&2; exit 1; }

CC="$cc" cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DPF_FUZZ=ON -DPF_SANITIZE=ON -DPF_BUILD_TESTS=OFF >"$build/configure.log" 2>&1 || {
    cat "$build/configure.log" >&2
    echo "fuzz: configure failed" >&2
    for t in $targets; do echo "fuzz: result $t FAILED (configure)"; done
    exit 1
}

mkdir -p "$artifacts"
rm -rf "$results"
mkdir -p "$results"

# Builds the targets one by one (the libraries build with the first one); a
# target that fails to build is not run, whatever binary an older build left.
built=" "
for t in $targets; do
    if cmake --build "$build" --target "$t" -j"${PF_BUILD_JOBS:-$(nproc)}" \
            >"$build/$t.build.log" 2>&1; then
        built="$built$t "
    else
        tail -n 30 "$build/$t.build.log" >&2
        echo "fuzz: $t: build failed (log: $build/$t.build.log)" >&2
    fi
done

# Runs target $1; writes ok or FAILED to $results/$1.
run_one() {
    local t="$1" corpus_src="$root/tests/corpus/${1#fuzz_}" work dict="" rc
    case "$built" in
        *" $t "*) ;;
        *) echo FAILED >"$results/$t"; return ;;
    esac
    if [ -z "$(ls -A "$corpus_src" 2>/dev/null)" ]; then
        echo "fuzz: $t: no seed corpus in $corpus_src" >&2
        echo FAILED >"$results/$t"; return
    fi
    work=$(mktemp -d "${TMPDIR:-/tmp}/pf-$t.XXXXXX")
    cp -R "$corpus_src/." "$work/"
    [ -f "$root/fuzz/$t.dict" ] && dict="-dict=$root/fuzz/$t.dict"
    echo "fuzz: $t for ${secs}s (corpus: $corpus_src)"
    # -max_total_time ends a healthy run; timeout(1) only catches a hang.
    # shellcheck disable=SC2086
    timeout -k 10 $((secs + 120)) "$build/fuzz/$t" -max_total_time="$secs" -timeout=10 \
        -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$artifacts/$t-" $dict \
        "$work" >"$build/$t.log" 2>&1
    rc=$?
    if [ $rc -ne 0 ]; then
        {
            tail -n 60 "$build/$t.log"
            echo "fuzz: $t: FAILED (exit $rc), log $build/$t.log, artifacts in $artifacts"
        } >&2
        echo FAILED >"$results/$t"
    else
        echo "fuzz: $t: ok ($(grep -E '^stat::number_of_executed_units' "$build/$t.log" | awk '{print $2}') runs)"
        echo ok >"$results/$t"
    fi
    rm -rf "$work"
}

running=0
for t in $targets; do
    if [ "$running" -ge "$jobs" ]; then
        wait -n
        running=$((running - 1))
    fi
    run_one "$t" &
    running=$((running + 1))
done
wait

passed=0 failed=0
for t in $targets; do
    r=$(cat "$results/$t" 2>/dev/null || echo FAILED)
    echo "fuzz: result $t $r"
    if [ "$r" = ok ]; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
done
echo "fuzz: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
