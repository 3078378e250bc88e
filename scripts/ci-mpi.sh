#!/usr/bin/env bash
# The MPI stage: attnrt_mpi's tests (1 to 4 ranks on this machine, loopback
# only) and the mpi_scaling example on 2 ranks, all ctest tests labelled mpi.
# Usage: bash scripts/ci-mpi.sh [build dir] [sanitizer tree]
#   (default build-test-release; no sanitizer tree)
# Reuses the release tree scripts/test.sh's native stage built, when it was
# configured with MPI (it is whenever MPI is installed): the library is not
# compiled again, only the MPI targets if they are missing. Without such a
# tree it configures build-test-mpi (the library built from scratch: slow).
# Then, when given and configured with MPI, the same tests in the ASan+UBSan
# tree (attnrt_mpi and the core instrumented), with leak checks off: Open MPI
# keeps memory to the end on purpose.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-build-test-release}
sanitized=${2:-}
command -v mpirun >/dev/null || { echo "ci-mpi: no mpirun (bash scripts/install-deps.sh installs Open MPI)" >&2; exit 1; }
targets=(test_mpi_blocks test_mpi_forward mpi_scaling)

if [ ! -f "$dir/CMakeCache.txt" ] || [ ! -f "$dir/mpi/CTestTestfile.cmake" ]; then
  echo "ci-mpi: $dir is not a release tree configured with MPI; configuring build-test-mpi"
  dir=build-test-mpi
  cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=Release -DATTNRT_BUILD_BENCH=OFF \
    -DATTNRT_TEST_AVX512_EMULATION=OFF >/dev/null
  [ -f "$dir/mpi/CTestTestfile.cmake" ] || { echo "ci-mpi: CMake did not find MPI" >&2; exit 1; }
fi
echo "ci-mpi: tree $dir"
cmake --build "$dir" -j"$(nproc)" --target "${targets[@]}"
# One test at a time: each starts up to 4 ranks on few cores already.
ctest --test-dir "$dir" -L mpi --output-on-failure -j1

if [ -n "$sanitized" ]; then
  if [ ! -f "$sanitized/mpi/CTestTestfile.cmake" ]; then
    echo "ci-mpi: $sanitized is not configured with MPI" >&2
    exit 1
  fi
  echo "ci-mpi: sanitized tree $sanitized"
  cmake --build "$sanitized" -j"$(nproc)" --target "${targets[@]}"
  ASAN_OPTIONS=detect_leaks=0 UBSAN_OPTIONS=print_stacktrace=1 \
    ctest --test-dir "$sanitized" -L mpi --output-on-failure -j1
fi
