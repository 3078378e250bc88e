#!/usr/bin/env bash
# Builds and runs every test: the native suite, the same suite under
# AddressSanitizer + UndefinedBehaviorSanitizer, and the stages below.
# Usage: bash scripts/test.sh   (build trees go to build-test-*/)
set -uo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc)
passed=0 failed=0 status=0

# count_ctest <log>: adds every ctest summary in the log to the totals.
count_ctest() {
  local line p f t
  while read -r line; do
    f=$(echo "$line" | sed -E 's/.* ([0-9]+) tests? failed out of ([0-9]+).*/\1/')
    t=$(echo "$line" | sed -E 's/.*out of ([0-9]+).*/\1/')
    passed=$((passed + t - f)); failed=$((failed + f))
  done < <(grep -E '[0-9]+% tests passed, [0-9]+ tests? failed out of [0-9]+' "$1")
}

# run_stage <name> <log> <command...>: runs a stage, shows its output, counts its tests.
run_stage() {
  local name=$1 log=$2; shift 2
  echo "=== $name: $*"
  "$@" 2>&1 | tee "$log"
  local rc=${PIPESTATUS[0]}
  grep -qE 'tests passed, [0-9]+ tests? failed out of' "$log" || { echo "=== $name: ran no test"; rc=1; }
  count_ctest "$log"
  [ "$rc" -eq 0 ] || { echo "=== $name: FAILED (exit $rc)"; status=1; }
}

# run_check <name> <log> <command...>: a stage that is one check, passed by its exit code.
run_check() {
  local name=$1 log=$2; shift 2
  echo "=== $name: $*"
  if "$@" >"$log" 2>&1; then
    passed=$((passed + 1)); echo "=== $name: ok"
  else
    failed=$((failed + 1)); status=1; echo "=== $name: FAILED"; tail -40 "$log"
  fi
}

# run_ctest <name> <build dir> [ctest args...]
run_ctest() {
  local name=$1 dir=$2; shift 2
  run_stage "$name" "$dir.ctest.log" ctest --test-dir "$dir" --output-on-failure -j"$jobs" "$@"
}

# configure_build <dir> [cmake args...]
configure_build() {
  local dir=$1; shift
  cmake -S . -B "$dir" -G Ninja "$@" >"$dir.configure.log" 2>&1 &&
    cmake --build "$dir" -j"$jobs" >"$dir.build.log" 2>&1 ||
    { echo "=== build $dir failed:"; tail -40 "$dir.build.log" "$dir.configure.log" 2>/dev/null; status=1; return 1; }
}

if configure_build build-test-release -DCMAKE_BUILD_TYPE=Release; then
  run_ctest native build-test-release
fi
# The installed package: CMake config and pkg-config files, used by a user's project.
if [ -d build-test-release ]; then
  run_check install build-test-install.log bash scripts/check-install.sh build-test-release build-test-install
fi

if configure_build build-test-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DATTNRT_SANITIZE=address,undefined \
     -DATTNRT_BUILD_BENCH=OFF; then
  ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 run_ctest asan+ubsan build-test-asan
fi

# ThreadSanitizer: concurrent callers and the executors (oneTBB), race-free.
run_check tsan build-test-tsan.log bash scripts/ci-tsan.sh "$PWD/build-test-tsan"

# AArch64: the SVE kernel sets cross-built and tested under qemu at 512, 128
# and 256 bits, and the llvm-mca A64FX estimates checked against their records.
run_stage sve build-test-sve.log env ATTNRT_SVE_BUILD=build-test-sve bash scripts/ci-sve.sh

# The avx512 kernels' llvm-mca estimates (Intel models; the CI CPU may lack
# AVX-512, so they are estimated, never measured) against their records.
run_check avx512-mca build-test-avx512-mca.log python3 bench/mca/avx512_estimate.py --check bench/mca/avx512_estimates.txt

echo "$passed passed, $failed failed"
exit $status
