#include "bench/gbench_meter.hpp"

#include <algorithm>
#include <chrono>
#include <map>
#include <mutex>
#include <utility>

#include "bench/peak.hpp"
#include "bench/timing.hpp"

namespace attnrt::bench {
namespace {

struct LoopPeak {
  double gflops;           // all threads, per second of each thread's CPU time
  double flops_per_cycle;  // all threads together; 0 without perf events
};

// The best of a few trials, once per (arithmetic, threads): a benchmark
// binary runs many kernels and they all compare with the same figure.
LoopPeak loop_peak(Arithmetic arithmetic, int threads) {
  static std::mutex mutex;
  static std::map<std::pair<Arithmetic, int>, LoopPeak> measured;
  const std::lock_guard<std::mutex> lock(mutex);
  const auto key = std::make_pair(arithmetic, threads);
  if (const auto it = measured.find(key); it != measured.end()) return it->second;
  const auto bf16 = bf16_loop(arithmetic);
  const ComputeProbe probe(bf16 ? *bf16 : best_fp32_loop(), threads);  // its threads exist from here
  const ProcessCycles cycles;
  LoopPeak best{0, 0};
  for (int trial = 0; trial < kPeakTrials; ++trial) {
    const std::uint64_t c0 = cycles.read();
    best.gflops = std::max(best.gflops, probe.sample_gflops());
    const std::uint64_t c1 = cycles.read();
    if (cycles.available() && c1 > c0)
      best.flops_per_cycle = std::max(best.flops_per_cycle, probe.flops_per_sample() / static_cast<double>(c1 - c0));
  }
  return measured[key] = best;
}

double wall_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

}  // namespace

PeakMeter::PeakMeter(Clock clock, int threads, Arithmetic arithmetic)
    : clock_(clock), threads_(threads), arithmetic_(arithmetic), cycles0_(0), time0_(0) {
  loop_peak(arithmetic_, threads_);  // measured before this benchmark's clock starts
  release_openmp_threads();          // (the loop's team, if it ran just now)
  cycles0_ = cycles_.read();
  time0_ = seconds();
}

double PeakMeter::seconds() const { return clock_ == Clock::wall ? wall_seconds() : thread_cpu_seconds(); }

void PeakMeter::report_flops(benchmark::State& state, double flops) const {
  const double secs = seconds() - time0_;
  const std::uint64_t cycles = cycles_.read() - cycles0_;
  const double total = flops * static_cast<double>(state.iterations());
  const LoopPeak peak = loop_peak(arithmetic_, threads_);
  using benchmark::Counter;
  state.counters["GFLOPs"] = Counter(flops * 1e-9, Counter::kIsIterationInvariantRate);
  state.counters["pct_peak"] = 100.0 * total / secs * 1e-9 / peak.gflops;
  if (cycles_.available() && cycles > 0 && peak.flops_per_cycle > 0)
    state.counters["pct_peak_cyc"] = 100.0 * total / static_cast<double>(cycles) / peak.flops_per_cycle;
}

void PeakMeter::report_elements(benchmark::State& state, double elements) const {
  const std::uint64_t cycles = cycles_.read() - cycles0_;
  const double total = elements * static_cast<double>(state.iterations());
  using benchmark::Counter;
  // Inverted rate: seconds per element, printed with an SI prefix ("0.3ns").
  state.counters["time_per_elem"] = Counter(elements, Counter::kIsIterationInvariantRate | Counter::kInvert);
  if (cycles_.available() && cycles > 0) state.counters["cycles_per_elem"] = static_cast<double>(cycles) / total;
}

}  // namespace attnrt::bench
