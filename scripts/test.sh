#!/usr/bin/env bash
# The one test command (README, .ci/run): bash scripts/test.sh
#
# On Debian 12 as root it first installs what the build and tests need
# (skipped when everything is present). Then:
#   0. scripts/check-includes.py: its self-test on the fixture trees, then
#      the tree itself: no include cycle, no include from common/ up into a
#      binary's folder (one test)
#   1. sanitizer build (ASan+UBSan) in build-asan/, full ctest (unit +
#      integration + fault), every test's logs and Redis dumps kept in
#      build-asan/test-tmp/; then tests/secret_scan.py over all of it: no
#      client or upstream password in any log line or Redis value (one test)
#   2. release build (RelWithDebInfo: optimized, no sanitizers, symbols for
#      valgrind's stacks) in build-release/, ctest -L unit
#   3. the integration tests once more on that build, every proxyfleet binary
#      under valgrind memcheck (PF_VALGRIND=1, see tests/integration/pf_harness.py):
#      any memcheck error or definite leak fails the test. Tests labelled
#      "perf" (throughput bounds, tests/CMakeLists.txt) are skipped there.
#   4. scripts/fuzz.sh: every libFuzzer target for PF_FUZZ_SECONDS (default
#      60), PF_FUZZ_JOBS (default 2) at a time; each target counts as one test
#   5. scripts/compose-check.sh when it exists (PF_SKIP_COMPOSE=1 skips it:
#      for local iterations only, CI never sets it)
# Prints "N passed, M failed" (ctest tests of every run, one per fuzz target,
# the include check and the compose check as one test each; a failed configure/build counts as one
# failed test) and exits non-zero when anything failed.
#
# Knobs: PF_CTEST_JOBS (default 2), PF_SKIP_COMPOSE=1, PF_COMPOSE_TIMEOUT_S
# (default 1800), PF_BUILD_JOBS (default nproc), PF_FUZZ_SECONDS (default 60),
# PF_FUZZ_JOBS (default 2), PF_VALGRIND_TIMEOUT_SCALE (default 5: harness
# waits under valgrind).
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

PACKAGES=(
  build-essential cmake pkg-config
  libhiredis-dev libevent-dev libcurl4-openssl-dev libcjson-dev libcriterion-dev
  redis-server redis-tools redis-sentinel curl python3 ca-certificates
  squid tinyproxy microsocks dante-server nginx stunnel4
  clang libclang-rt-14-dev llvm-14 valgrind
  procps iproute2 iptables nftables wrk libssl-dev openssl
  systemd groff-base man-db
  prometheus   # promtool check metrics, rules, config (test_metrics_hygiene.py, test_monitoring.py)
  python3-yaml # tests/integration/test_monitoring.py reads the rules and their tests
  chromium     # headless: the controller's status page (tests/integration/test_status_page.py)
)

log() { printf '\n=== %s\n' "$*"; }

# Installs missing packages when root; never starts their services (squid
# would take 3128, redis 6379): a policy-rc.d denies starts during install.
install_packages() {
  local missing=() p
  for p in "${PACKAGES[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
      missing+=("$p")
    fi
  done
  if [ "${#missing[@]}" -eq 0 ]; then
    log "packages: all present"
    return 0
  fi
  if [ "$(id -u)" -ne 0 ]; then
    log "packages missing (${missing[*]}) and not root: not installing; the build or tests may fail"
    return 0
  fi
  log "packages: installing ${missing[*]}"
  local policy_created=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
    chmod 755 /usr/sbin/policy-rc.d
    policy_created=1
  fi
  local rc=0
  export DEBIAN_FRONTEND=noninteractive
  apt-get update || rc=$?
  if [ "$rc" -eq 0 ]; then
    apt-get install -y --no-install-recommends "${PACKAGES[@]}" || rc=$?
  fi
  if [ "$policy_created" -eq 1 ]; then rm -f /usr/sbin/policy-rc.d; fi
  return "$rc"
}

PASSED=0
FAILED=0
FAILED_WHAT=()

# Runs ctest with the given args, adds its counts to PASSED/FAILED.
run_ctest() {
  local what="$1" dir="$2"; shift 2
  local out="$dir/ctest-$what.log"
  (cd "$dir" && ctest --output-on-failure --no-tests=error "$@") 2>&1 | tee "$out"
  local rc=${PIPESTATUS[0]}
  local line total nfail
  line="$(grep -E 'tests passed, [0-9]+ tests? failed out of [0-9]+' "$out" | tail -1)"
  if [ -n "$line" ]; then
    nfail="$(sed -E 's/.*tests passed, ([0-9]+) tests? failed out of ([0-9]+).*/\1/' <<<"$line")"
    total="$(sed -E 's/.*tests passed, ([0-9]+) tests? failed out of ([0-9]+).*/\2/' <<<"$line")"
    PASSED=$((PASSED + total - nfail))
    FAILED=$((FAILED + nfail))
    if [ "$nfail" -ne 0 ]; then FAILED_WHAT+=("$what: $nfail test(s)"); fi
    if [ "$nfail" -eq 0 ] && [ "$rc" -ne 0 ]; then
      FAILED=$((FAILED + 1)); FAILED_WHAT+=("$what: ctest exit $rc")
    fi
  else
    FAILED=$((FAILED + 1)); FAILED_WHAT+=("$what: ctest produced no summary (exit $rc)")
  fi
}

# configure + build; on failure counts one failed test and returns 1.
build() {
  local what="$1" dir="$2"; shift 2
  log "$what: configure + build in $dir"
  if cmake -S "$ROOT" -B "$dir" "$@" && \
     cmake --build "$dir" -j "${PF_BUILD_JOBS:-$(nproc)}"; then
    return 0
  fi
  FAILED=$((FAILED + 1)); FAILED_WHAT+=("$what: build failed")
  return 1
}

START=$(date +%s)

if ! install_packages; then
  FAILED=$((FAILED + 1)); FAILED_WHAT+=("apt-get install failed")
fi

# 0. the include graph: the self-test first, so a check that finds nothing
# on the tree is one that would have found a cycle
log "includes: scripts/check-includes.py --self-test, then the tree"
if python3 "$ROOT/scripts/check-includes.py" --self-test && \
   python3 "$ROOT/scripts/check-includes.py" --root "$ROOT"; then
  PASSED=$((PASSED + 1))
else
  FAILED=$((FAILED + 1)); FAILED_WHAT+=("check-includes.py")
fi

# 1. everything under ASan + UBSan
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
if build asan "$ROOT/build-asan" -DPF_SANITIZE=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo; then
  log "asan: ctest (unit + integration + fault)"
  # Every test keeps its logs and a dump of each Redis (PF_KEEP_TMP=1) under
  # one directory, for the global secret scan below.
  run_tmp="$ROOT/build-asan/test-tmp"
  rm -rf "$run_tmp" && mkdir -p "$run_tmp"
  TMPDIR="$run_tmp" PF_KEEP_TMP=1 run_ctest asan "$ROOT/build-asan" -j "${PF_CTEST_JOBS:-2}"
  # 1b. no client or upstream password in any log line or Redis value of the
  # whole run (tests/secret_scan.py collects them from the test sources)
  log "secret scan: every log and Redis dump of the asan run"
  # the whole run leaves hundreds of logs and tens of Redis dumps: far
  # fewer means they were written somewhere else and the scan proves nothing
  if python3 "$ROOT/tests/secret_scan.py" --min-files 200 --min-rdb 20 \
       "$run_tmp" "$ROOT/build-asan/Testing/Temporary"; then
    PASSED=$((PASSED + 1))
    rm -rf "$run_tmp"
  else
    FAILED=$((FAILED + 1)); FAILED_WHAT+=("secret scan (logs kept in $run_tmp)")
  fi
fi

# 2. release build, unit tests; 3. its integration tests under valgrind
if build release "$ROOT/build-release" -DPF_SANITIZE=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo \
     -DPF_PY_TEST_TIMEOUT=3000; then
  log "release: ctest -L unit"
  run_ctest release "$ROOT/build-release" -L unit -j "${PF_CTEST_JOBS:-2}"
  log "valgrind: ctest -L integration, binaries under valgrind memcheck"
  PF_VALGRIND=1 PF_TIMEOUT_SCALE="${PF_VALGRIND_TIMEOUT_SCALE:-5}" \
    run_ctest valgrind "$ROOT/build-release" -L integration -LE perf -j "${PF_CTEST_JOBS:-2}"
fi

# 4. fuzz targets, one test each
log "fuzz: scripts/fuzz.sh, ${PF_FUZZ_SECONDS:-60}s per target, ${PF_FUZZ_JOBS:-2} at a time"
fuzz_log="$(mktemp "${TMPDIR:-/tmp}/pf-fuzz.XXXXXX")"
PF_FUZZ_SECONDS="${PF_FUZZ_SECONDS:-60}" PF_FUZZ_JOBS="${PF_FUZZ_JOBS:-2}" \
  bash "$ROOT/scripts/fuzz.sh" 2>&1 | tee "$fuzz_log"
fuzz_rc=${PIPESTATUS[0]}
fuzz_ok="$(grep -cE '^fuzz: result [^ ]+ ok$' "$fuzz_log")"
fuzz_bad="$(grep -cE '^fuzz: result [^ ]+ FAILED' "$fuzz_log")"
PASSED=$((PASSED + fuzz_ok))
FAILED=$((FAILED + fuzz_bad))
while read -r t; do FAILED_WHAT+=("fuzz: $t"); done \
  < <(sed -nE 's/^fuzz: result ([^ ]+) FAILED.*/\1/p' "$fuzz_log")
if [ "$fuzz_bad" -eq 0 ] && [ "$fuzz_rc" -ne 0 ]; then
  FAILED=$((FAILED + 1)); FAILED_WHAT+=("fuzz.sh: exit $fuzz_rc")
fi
rm -f "$fuzz_log"

# 5. compose check
if [ -f "$ROOT/scripts/compose-check.sh" ]; then
  if [ "${PF_SKIP_COMPOSE:-0}" = "1" ]; then
    log "!!!!! COMPOSE CHECK SKIPPED (PF_SKIP_COMPOSE=1): local iterations only, CI never skips it !!!!!"
  else
    log "compose: scripts/compose-check.sh"
    # the full check: 3 nodes, the monitoring profile and both failure
    # drills, whatever the caller's environment says (PF_SKIP_DRILLS,
    # PF_CHECK_NODES and PF_CHECK_MONITORING are for hand runs)
    if timeout "${PF_COMPOSE_TIMEOUT_S:-1800}" env -u PF_SKIP_DRILLS -u PF_CHECK_NODES -u PF_CHECK_MONITORING \
         bash "$ROOT/scripts/compose-check.sh"; then
      PASSED=$((PASSED + 1))
    else
      FAILED=$((FAILED + 1)); FAILED_WHAT+=("compose-check.sh")
    fi
  fi
else
  log "compose: scripts/compose-check.sh not present, nothing to run"
fi

log "done in $(( $(date +%s) - START ))s"
for w in "${FAILED_WHAT[@]+"${FAILED_WHAT[@]}"}"; do echo "FAILED: $w"; done
echo "$PASSED passed, $FAILED failed"
[ "$FAILED" -eq 0 ]
