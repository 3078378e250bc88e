#!/usr/bin/env bash
# The emulated AArch64/SVE step of CI: cross-build with
# cmake/toolchains/aarch64-a64fx.cmake, run the emulation-sized tests under
# qemu-aarch64 at 512 bits (-cpu a64fx) and the vector-length-agnostic ones
# at 128 and 256 bits, then check the llvm-mca A64FX estimates against their
# records (bench/mca/a64fx_estimates.txt), and the whole-call model of S1-S6
# against its own (bench/mca/a64fx_model.txt: no row may fall, no target miss).
#
# Usage: scripts/ci-sve.sh [--install-deps]
#   --install-deps   apt-get install what this needs (root, Debian 12):
#                    g++-aarch64-linux-gnu qemu-user llvm-19
# Environment:
#   ATTNRT_SVE_BUILD     build directory (default build-sve)
#   ATTNRT_JOBS          parallel build jobs (default 2)
#   ATTNRT_EMU_A64FX_TESTS  ctest arguments at 512 bits (default: the sve suite,
#                           the sweep on sve512, kernel_sets on the SVE sets;
#                           "" = every test)
#   ATTNRT_EMU_VLA_TESTS    ctest arguments at 128 and 256 bits (default: the
#                           same for the vector-length-agnostic set `sve`)
#   ATTNRT_EMU_A64FX_FILTER, ATTNRT_EMU_VLA_FILTER
#                           GTEST_FILTER of each ("" = every case)
#   ATTNRT_EMU_TIMEOUT      seconds per test (default 600); qemu runs under it too
#   ATTNRT_EMU_TARGETS      test executables to cross-build (default: the ones
#                           the selections above run and attnrt-fuzz; "" =
#                           all, as needed when a selection is "")
#   ATTNRT_EMU_FUZZ_SECONDS the differential fuzzer's time at 512 bits (default
#                           40; half that at 128 and at 256; 0 = none), seeded
#                           by ATTNRT_FUZZ_SEED or the date, as ci-fuzz.sh
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "${1:-}" = "--install-deps" ]; then
  apt-get update -qq
  apt-get install -y --no-install-recommends g++-aarch64-linux-gnu qemu-user llvm-19 >/dev/null
fi
for tool in aarch64-linux-gnu-g++ qemu-aarch64 cmake ninja python3; do
  command -v "$tool" >/dev/null || { echo "ci-sve: $tool missing (scripts/ci-sve.sh --install-deps)"; exit 2; }
done

build=${ATTNRT_SVE_BUILD:-build-sve}
jobs=${ATTNRT_JOBS:-2}
per_test=${ATTNRT_EMU_TIMEOUT:-600}
export ATTNRT_QEMU_TIMEOUT=$per_test
# Tests size themselves for the emulator (e.g. the forward sweep keeps its
# small cases and runs them on the SVE sets only).
export ATTNRT_TEST_EMULATED=1

echo "== ci-sve: cross build ($build)"
nice -n 10 cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_TOOLCHAIN_FILE=cmake/toolchains/aarch64-a64fx.cmake \
  -DATTNRT_BUILD_BENCH=OFF -DATTNRT_BUILD_EXAMPLES=OFF >/dev/null
# Only what the qemu runs below execute: the other test executables would be
# compiled for nothing (ctest's -R never selects them; native runs cover them).
targets=${ATTNRT_EMU_TARGETS-test_sve_kernels test_forward_sweep test_kernel_sets test_few_rows_sweep test_pipelines test_quant_kv test_paged_kv test_varlen test_cache_write attnrt-fuzz}
nice -n 10 cmake --build "$build" -j "$jobs" ${targets:+--target $targets}

# On Intel hosts qemu's 256-bit host vectors slow its SSE helpers many
# times over (cmake/toolchains/qemu-hide-avx2.c): qemu runs with AVX2 hidden.
if grep -qm1 GenuineIntel /proc/cpuinfo; then
  cc -O2 -shared -fPIC -o "$build/qemu-hide-avx2.so" cmake/toolchains/qemu-hide-avx2.c
  export ATTNRT_QEMU_PRELOAD=$(realpath "$build")/qemu-hide-avx2.so
fi

status=0
run() {  # qemu cpu, ctest selection arguments (one string, split like a shell would), gtest filter
  local -a select
  eval "select=($2)"
  echo "== ci-sve: ctest ${select[*]} (GTEST_FILTER=$3) under qemu-aarch64 -cpu $1"
  # A discovered case runs under its own --gtest_filter, which overrides
  # GTEST_FILTER: a parameterized one ("/" in its name, one per kernel set)
  # would run at every vector length whatever the filter keeps, or be
  # listed once under the first run's filter. Such suites run as shards.
  local discovered
  discovered=$(ctest --test-dir "$build" -N "${select[@]}" | sed -n 's/^ *Test *#[0-9]*: //p' | grep / || true)
  if [ -n "$discovered" ]; then
    echo "ci-sve: parameterized cases selected one by one, which GTEST_FILTER cannot choose among" \
      "(give their suite SHARDS in tests/CMakeLists.txt):"
    echo "$discovered" | head -5
    status=1
    return
  fi
  GTEST_FILTER=$3 ATTNRT_QEMU_CPU=$1 timeout $((per_test * 4)) nice -n 10 ctest --test-dir "$build" \
    --output-on-failure --timeout "$per_test" "${select[@]}" || status=1
}
# At 512 bits: the SVE tests, the forward sweep on the A64FX default set,
# the kernel-set suite and the few-row sweep (direct K/V, every tail) on
# the 512-bit sets (sve512_12x2's fp16 set is sve512's), the pipelines'
# direct K/V tests and the plans the SVE sets get, and the serving inputs'
# suites (quantized, paged and varlen K/V: their SVE cases; the cache
# writer's codes, portable code compiled for AArch64); at 128 and 256
# bits the same for the vector-length-agnostic set `sve` (the 512-bit sets
# cannot run there; `sve` is tested at the lengths it is built for, not
# again at 512). ctest picks the suites (the big ones run as shards, each a
# process); GTEST_FILTER takes out the cases of the sets not meant for this
# vector length (tests size themselves under ATTNRT_TEST_EMULATED), and the
# kernel-contract suite's pipeline and whole-call cases sized for native
# runs (the sweep, few_rows and pipelines suites run those paths here).
suites="'^(sve|sweep|kernel_sets|few_rows|quant_kv|paged|varlen|cache_write)\\.|^pipelines\\.(Pipelines\\.DirectKv|Plans\\.)'"
a64fx_tests="-j$jobs -R $suites"
native_only='*.EveryPipelineMatchesReference/*:*.DirectKvPipelinesMatchReference/*:*.ForwardThroughTheRuntime/*'
a64fx_filter="-*/sve_*:Sweep/*/sve512_12x2_*:Registry/*/sve512_12x2_f16:Default/*:Registry/*/generic_*:$native_only"
vla_tests="-j$jobs -R $suites"
vla_filter="-*/sve512*:Default/*:Registry/*/generic_*:$native_only"
run a64fx "${ATTNRT_EMU_A64FX_TESTS-$a64fx_tests}" "${ATTNRT_EMU_A64FX_FILTER-$a64fx_filter}"
run max,sve128=on "${ATTNRT_EMU_VLA_TESTS-$vla_tests}" "${ATTNRT_EMU_VLA_FILTER-$vla_filter}"
run max,sve256=on "${ATTNRT_EMU_VLA_TESTS-$vla_tests}" "${ATTNRT_EMU_VLA_FILTER-$vla_filter}"

# The differential fuzzer (tests/fuzz/) at each vector length: random
# shapes, strides, serving inputs and the caller's floating-point modes on
# the SVE sets (and the portable ones) under the AArch64 FPCR.
fuzz_seconds=${ATTNRT_EMU_FUZZ_SECONDS:-40}
fuzz_seed=${ATTNRT_FUZZ_SEED:-$(date -u +%Y%m%d)}
fuzz() {  # qemu cpu, seconds
  echo "== ci-sve: attnrt-fuzz --seed $fuzz_seed --seconds $2 under qemu-aarch64 -cpu $1"
  ATTNRT_QEMU_CPU=$1 ATTNRT_QEMU_TIMEOUT=$(($2 + per_test)) nice -n 10 cmake/toolchains/qemu-aarch64.sh \
    "$build/tests/fuzz/attnrt-fuzz" --seed "$fuzz_seed" --seconds "$2" || status=1
}
if [ "$fuzz_seconds" -gt 0 ] && [ -x "$build/tests/fuzz/attnrt-fuzz" ]; then
  fuzz a64fx "$fuzz_seconds"
  fuzz max,sve128=on $((fuzz_seconds / 2))
  fuzz max,sve256=on $((fuzz_seconds / 2))
fi

echo "== ci-sve: llvm-mca A64FX estimates against bench/mca/a64fx_estimates.txt"
python3 bench/mca/estimate.py --check bench/mca/a64fx_estimates.txt \
  --model --check-model bench/mca/a64fx_model.txt || status=1
exit $status
