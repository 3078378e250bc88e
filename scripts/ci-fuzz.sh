#!/usr/bin/env bash
# Differential fuzzing under ASan + UBSan for a time budget (issue 18).
# Usage: bash scripts/ci-fuzz.sh <build dir> [seconds]   (default 180)
# Reuses a tree already configured with sanitizers (CI passes the ASan test
# stage's), building only attnrt-fuzz there. The seed is today's date
# (YYYYMMDD), or ATTNRT_FUZZ_SEED; it is printed first, and a failure prints
# the case and the command that replays it. Half the time the cases run one
# at a time; the other half from two threads at once over shared runtimes
# (--callers 2, seed SEED2), as a server calls.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:?usage: ci-fuzz.sh <build dir> [seconds]}
seconds=${2:-180}
seed=${ATTNRT_FUZZ_SEED:-$(date -u +%Y%m%d)}
echo "ci-fuzz: seed $seed, $seconds s, build $dir"

if [ ! -f "$dir/CMakeCache.txt" ]; then
  cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DATTNRT_SANITIZE=address,undefined \
    -DATTNRT_BUILD_BENCH=OFF
fi
cmake --build "$dir" -j"$(nproc)" --target attnrt-fuzz

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1} UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1}
"$dir/tests/fuzz/attnrt-fuzz" --seed "$seed" --seconds $((seconds / 2))
"$dir/tests/fuzz/attnrt-fuzz" --seed "${seed}2" --seconds $((seconds - seconds / 2)) --callers 2
