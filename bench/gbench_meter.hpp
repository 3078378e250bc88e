// What every Google Benchmark of attnrt reports beside its own rate: the
// share of this machine's peak, measured in the same process. The box's
// clock moves and it may be shared, so a GFLOP/s figure alone means little;
// the ratio to an FMA loop timed alike does. Two ratios, as attnrt-bench
// gives them:
//   pct_peak      FLOPs per second over the loop's (per thread CPU second
//                 for kernels, per wall second for runtime calls)
//   pct_peak_cyc  FLOPs per user-mode cycle over the loop's (perf events,
//                 where allowed): moves with neither the clock nor a
//                 neighbour's share of the core
// The loop is the FP32 FMA one (bench/peak.hpp), or the bf16 dot product for
// kernel sets that compute with it; it is measured once per team size.
#pragma once

#include <benchmark/benchmark.h>

#include <cstdint>

#include "bench/cycles.hpp"
#include "bench/peak.hpp"

namespace attnrt::bench {

// What a benchmark's rate is per: the CPU time of the calling thread (a
// kernel run on it), or wall time (a runtime call whose work runs on its
// workers; register it with UseRealTime()).
enum class Clock { thread_cpu, wall };

class PeakMeter {
 public:
  // Starts measuring: make it right before the benchmark's loop, once every
  // thread the benchmark runs on exists (cycles are counted on the threads
  // alive now). `threads`: how many run the work, the peak's team size.
  explicit PeakMeter(Clock clock = Clock::thread_cpu, int threads = 1,
                     Arithmetic arithmetic = Arithmetic::fp32_fma);

  // After the loop: GFLOPs (shown per second), pct_peak and pct_peak_cyc for
  // `flops` per iteration.
  void report_flops(benchmark::State& state, double flops) const;

  // After the loop: cycles_per_elem (and time_per_elem) for `elements` per
  // iteration, for kernels whose work is not FLOPs (exp2).
  void report_elements(benchmark::State& state, double elements) const;

 private:
  double seconds() const;
  Clock clock_;
  int threads_;
  Arithmetic arithmetic_;
  ProcessCycles cycles_;
  std::uint64_t cycles0_;
  double time0_;
};

}  // namespace attnrt::bench
