#!/usr/bin/env bash
# Builds and runs every test: the native suite, the same suite under
# AddressSanitizer + UndefinedBehaviorSanitizer, and the stages below.
# Usage: bash scripts/test.sh   (build trees go to build-test-*/)
set -uo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc)
passed=0 failed=0 status=0

# ccache: the trees below compile many sources twice with the same flags
# (the tests in the release and sanitizer trees; the library in the release
# tree and in the Python package's build): the second compile is a hit. The
# run must fit with a cold cache, which a fresh clone has.
if command -v ccache >/dev/null; then
  export CCACHE_DIR=${CCACHE_DIR:-$PWD/build-test-ccache} CCACHE_MAXSIZE=${CCACHE_MAXSIZE:-4G}
  # The Python build names GCC g++, CMake by default c++; ccache hashes the
  # name, so every tree names it g++.
  export CC=gcc CXX=g++
  export CMAKE_C_COMPILER_LAUNCHER=ccache CMAKE_CXX_COMPILER_LAUNCHER=ccache
  ccache --zero-stats >/dev/null
fi

# ---- Stage table: each stage's result, wall and CPU time, and budget -------
# CI has 90 minutes on a 2-core runner; the table at the end shows where
# they go. CPU time (user+sys of the stage's processes) stays comparable on
# a busy machine where wall time does not.
stage_names=() stage_results=() stage_walls=() stage_cpus=() stage_budgets=()
tick=$(getconf CLK_TCK)
t_start=$EPOCHREALTIME
# children_cpu: clock ticks of user+sys time of the children this shell has
# waited for (fields 16 and 17 of /proc/<pid>/stat; `times` would need a file).
children_cpu() { local s; read -ra s <"/proc/$$/stat"; echo $((s[15] + s[16])); }
stage_open="" stage_t0="" stage_c0="" stage_f0="" stage_budget=""
# stage_begin <name> [budget s]: starts timing a stage (a begun stage that a
# run_* helper inside it records itself is not recorded twice).
stage_begin() {
  stage_open=$1 stage_budget=${2:-} stage_t0=$EPOCHREALTIME stage_c0=$(children_cpu) stage_f0=$failed
}
# stage_end [result]: records the open stage; the result defaults to FAILED
# if a check or test failed since stage_begin, else ok.
stage_end() {
  [ -n "$stage_open" ] || return 0
  local result=${1:-}
  [ -n "$result" ] || { [ "$failed" -gt "$stage_f0" ] && result=FAILED || result=ok; }
  stage_names+=("$stage_open") stage_results+=("$result") stage_budgets+=("$stage_budget")
  stage_walls+=("$(awk -v a="$stage_t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')")
  stage_cpus+=("$(awk -v a="$stage_c0" -v b="$(children_cpu)" -v t="$tick" 'BEGIN { printf "%.1f", (b - a) / t }')")
  stage_open=""
}
print_stage_table() {
  local i
  echo "=== stages (wall and CPU seconds; CPU = user+sys of the stage's processes)"
  printf '%-16s %-20s %9s %9s %9s\n' stage result wall cpu budget
  for i in "${!stage_names[@]}"; do
    printf '%-16s %-20s %9s %9s %9s\n' "${stage_names[$i]}" "${stage_results[$i]}" \
      "${stage_walls[$i]}" "${stage_cpus[$i]}" "${stage_budgets[$i]:--}"
  done
  printf '%-16s %-20s %9s %9s\n' total "" \
    "$(awk -v a="$t_start" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')" \
    "$(awk -v c="$(children_cpu)" -v t="$tick" 'BEGIN { printf "%.1f", c / t }')"
}

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
  stage_begin "$name"
  echo "=== $name: $*"
  "$@" 2>&1 | tee "$log"
  local rc=${PIPESTATUS[0]}
  grep -qE 'tests passed, [0-9]+ tests? failed out of' "$log" || { echo "=== $name: ran no test"; rc=1; }
  count_ctest "$log"
  [ "$rc" -eq 0 ] || { echo "=== $name: FAILED (exit $rc)"; status=1; }
  [ "$rc" -eq 0 ] && stage_end || stage_end FAILED
}

# run_check <name> <log> <command...>: a stage that is one check, passed by its exit code.
run_check() {
  local name=$1 log=$2; shift 2
  stage_begin "$name"
  echo "=== $name: $*"
  if "$@" >"$log" 2>&1; then
    passed=$((passed + 1)); echo "=== $name: ok"
  else
    failed=$((failed + 1)); status=1; echo "=== $name: FAILED"; tail -40 "$log"
  fi
  stage_end
}

# run_budgeted <name> <seconds> <command...>: run_check with a budget (for
# the stages still being added: their cost is stated up front and cannot
# creep). Past the budget the stage is killed and FAILED. A stage whose log
# has ctest summaries counts their tests instead of one check.
run_budgeted() {
  local name=$1 budget=$2 log=build-test-$1.log rc=0 t0=$EPOCHREALTIME over; shift 2
  stage_begin "$name" "$budget"
  echo "=== $name (budget $budget s): $*"
  # timeout signals the whole process group: the stage's children die too.
  timeout --kill-after=10 "$budget" "$@" >"$log" 2>&1 || rc=$?
  over=$(awk -v a="$t0" -v b="$EPOCHREALTIME" -v n="$budget" 'BEGIN { print (b - a >= n) }')
  if [ "$over" = 1 ] && { [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; }; then
    failed=$((failed + 1)); status=1
    echo "=== $name: FAILED: over its budget of $budget s"; tail -40 "$log"
    stage_end "FAILED (over budget)"; return
  fi
  if grep -qE 'tests passed, [0-9]+ tests? failed out of' "$log"; then
    count_ctest "$log"
  elif [ "$rc" -eq 0 ]; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
  fi
  if [ "$rc" -eq 0 ]; then
    echo "=== $name: ok"; stage_end
  else
    status=1; echo "=== $name: FAILED (exit $rc)"; tail -40 "$log"; stage_end FAILED
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
  stage_begin "${dir#build-test-} build"
  cmake -S . -B "$dir" -G Ninja "$@" >"$dir.configure.log" 2>&1 &&
    cmake --build "$dir" -j"$jobs" >"$dir.build.log" 2>&1 ||
    { echo "=== build $dir failed:"; tail -40 "$dir.build.log" "$dir.configure.log" 2>/dev/null; status=1
      stage_end FAILED; return 1; }
  stage_end ok
}

# The avx512 sets' SIMDe-emulated test is built in this tree only, and only
# where the CPU cannot run the sets (AUTO, tests/CMakeLists.txt). Not
# sanitized: under ASan+UBSan its build took 1413 CPU s on Zen 3 and its
# suite 632 (here ~500 and ~85); the sanitizers check the sets natively on
# CPUs with AVX-512.
if configure_build build-test-release -DCMAKE_BUILD_TYPE=Release -DATTNRT_TEST_AVX512_EMULATION=AUTO; then
  run_ctest native build-test-release -LE mpi  # the mpi stage runs those
fi
# The installed package: CMake config and pkg-config files, used by a user's project.
if [ -d build-test-release ]; then
  run_check install build-test-install.log bash scripts/check-install.sh build-test-release build-test-install
fi

# ASan + UBSan on attnrt's own code (scope library): every access the library
# makes is checked, on buffers the tests allocate with redzones; the tests,
# GoogleTest and the double reference run uninstrumented, built as Release
# (no debug information: the library's own code carries the line tables a
# report names, CMakeLists.txt).
# attnrt_mpi too, where MPI is installed: the mpi stage runs its tests here
# as well (with Open MPI's leaks left unreported).
if configure_build build-test-asan -DCMAKE_BUILD_TYPE=Release -DATTNRT_SANITIZE=address,undefined \
     -DATTNRT_SANITIZE_SCOPE=library -DATTNRT_TEST_AVX512_EMULATION=OFF \
     -DATTNRT_BUILD_BENCH=OFF; then
  ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 run_ctest asan+ubsan build-test-asan -LE mpi
fi

# Stages with a budget (run_budgeted). The differential fuzzer against the
# reference under ASan+UBSan, in the ASan tree (which already built it), for
# two minutes (three made CI on Zen 3 too long; each day's seed is new).
run_budgeted fuzz 180 bash scripts/ci-fuzz.sh build-test-asan 120
# The Python package: pip install . in a fresh venv (only the library and
# the module are built), then its pytest suite.
run_budgeted python 300 bash scripts/ci-python.sh build-test-python-venv
# MPI runs of 1 to 4 ranks on loopback, in the native stage's release tree,
# then in the ASan+UBSan tree where it was configured with MPI.
if [ -f build-test-asan/mpi/CTestTestfile.cmake ]; then
  run_budgeted mpi 240 bash scripts/ci-mpi.sh build-test-release build-test-asan
else
  run_budgeted mpi 240 bash scripts/ci-mpi.sh build-test-release
fi

# ThreadSanitizer: concurrent callers and the executors (oneTBB), race-free.
run_check tsan build-test-tsan.log bash scripts/ci-tsan.sh "$PWD/build-test-tsan"

# AArch64: the SVE kernel sets cross-built and tested under qemu at 512, 128
# and 256 bits, and the llvm-mca A64FX estimates checked against their records.
run_stage sve build-test-sve.log env ATTNRT_SVE_BUILD=build-test-sve bash scripts/ci-sve.sh

# The avx512 kernels' llvm-mca estimates (Intel models; the CI CPU may lack
# AVX-512, so they are estimated, never measured) against their records.
run_check avx512-mca build-test-avx512-mca.log python3 bench/mca/avx512_estimate.py --check bench/mca/avx512_estimates.txt

print_stage_table
command -v ccache >/dev/null && ccache --print-stats | awk '$1 ~ /^(direct|preprocessed)_cache_hit$/ { h += $2 }
  $1 == "cache_miss" { m = $2 } END { printf "ccache: %d hits, %d misses\n", h, m }'
echo "$passed passed, $failed failed"
exit $status
