// End-to-end attnrt::Runtime::forward on the named shape sets: GFLOP/s and %
// of the peak of the runtime's thread count measured in the same run
// (gbench_meter.hpp), and GB/s of Q, K, V and O, per second of wall time.
// The runtime is configured from the environment (ATTNRT_NUM_THREADS,
// ATTNRT_ISA, ...). attnrt-bench gives the same calls with their baselines.
// pipeline/...: the same calls with the strategy forced, one per pipeline.
#include <benchmark/benchmark.h>

#include <attnrt/attnrt.hpp>

#include <string>
#include <string_view>

#include "bench/gbench_meter.hpp"
#include "bench/peak.hpp"
#include "bench/shapes.hpp"
#include "bench/timing.hpp"
#include "bench/workload.hpp"
#include "kernels/pipelines/pipeline.hpp"

namespace attnrt::bench {
namespace {

Runtime& runtime() {
  static Runtime rt;
  return rt;
}

void end_to_end(benchmark::State& state, const Shape& shape, Strategy strategy) {
  Runtime& rt = runtime();
  const Workload w(shape);
  Params params;
  params.causal = shape.causal;
  params.strategy = strategy;
  release_openmp_threads();                        // (the workload filled its tensors in parallel)
  rt.forward(w.q(), w.k(), w.v(), w.o(), params);  // warm-up: first-touch scratch, worker threads
  const PeakMeter meter(Clock::wall, rt.num_threads(), arithmetic_of(shape.dtype, rt.kernel_set(shape.dtype)));
  for (auto _ : state) rt.forward(w.q(), w.k(), w.v(), w.o(), params);
  meter.report_flops(state, flops(shape));
  using benchmark::Counter;
  state.counters["GB"] = Counter(bytes_moved(shape) * 1e-9, Counter::kIsIterationInvariantRate);
  state.SetLabel(rt.isa() + ", " + std::to_string(rt.num_threads()) + " threads");
}

// "B4_H32:8_M1_N4096_D128_fp32": no spaces or slashes inside a shape.
std::string label_of(const Shape& s) {
  std::string label = s.label();
  for (char& c : label) c = c == ' ' ? '_' : c == '/' ? ':' : c;
  return label;
}

void add(const std::string& name, const Shape& shape, Strategy strategy) {
  benchmark::RegisterBenchmark(name.c_str(), end_to_end, shape, strategy)
      ->Unit(benchmark::kMillisecond)
      ->UseRealTime();
}

[[maybe_unused]] const bool registered = [] {
  // "e2e/decode/B4_H32:8_M1_N4096_D128_fp32": the plan table's choice.
  for (std::string_view set : {"prefill", "decode", "skinny", "causal"})
    for (const Shape& s : shape_set(set)) add("e2e/" + std::string(set) + "/" + label_of(s), s, Strategy::automatic);
  // "pipeline/two_pass/B1_H16_M512_N512_D128_fp32": each pipeline on the first
  // prefill and decode shapes, whatever the table would pick.
  for (std::string_view set : {"prefill", "decode"})
    for (const auto s : {kernels::Strategy::online, kernels::Strategy::two_pass, kernels::Strategy::three_pass})
      add("pipeline/" + std::string(kernels::strategy_name(s)) + "/" + label_of(shape_set(set).front()),
          shape_set(set).front(), static_cast<Strategy>(s));
  return true;
}();

}  // namespace
}  // namespace attnrt::bench
