// End-to-end attnrt::Runtime::forward on the named shape sets, GFLOP/s and
// GB/s as counters (GFLOP and GB, shown per second). The runtime is
// configured from the environment (ATTNRT_NUM_THREADS, ATTNRT_ISA, ...).
#include <benchmark/benchmark.h>

#include <attnrt/attnrt.hpp>

#include <string>
#include <string_view>

#include "bench/shapes.hpp"
#include "bench/workload.hpp"

namespace attnrt::bench {
namespace {

Runtime& runtime() {
  static Runtime rt;
  return rt;
}

void end_to_end(benchmark::State& state, const Shape& shape) {
  Runtime& rt = runtime();
  const Workload w(shape);
  Params params;
  params.causal = shape.causal;
  rt.forward(w.q(), w.k(), w.v(), w.o(), params);  // warm-up: first-touch scratch
  for (auto _ : state) rt.forward(w.q(), w.k(), w.v(), w.o(), params);
  using benchmark::Counter;
  state.counters["GFLOP"] = Counter(flops(shape) * 1e-9, Counter::kIsIterationInvariantRate);
  state.counters["GB"] = Counter(bytes_moved(shape) * 1e-9, Counter::kIsIterationInvariantRate);
  state.SetLabel(rt.isa() + ", " + std::to_string(rt.num_threads()) + " threads");
}

// "e2e/decode/B4_H32:8_M1_N4096_D128_fp32": no spaces or slashes inside a shape.
std::string name_of(std::string_view set, const Shape& s) {
  std::string label = s.label();
  for (char& c : label) c = c == ' ' ? '_' : c == '/' ? ':' : c;
  return "e2e/" + std::string(set) + "/" + label;
}

[[maybe_unused]] const bool registered = [] {
  for (std::string_view set : {"prefill", "decode", "skinny", "causal"})
    for (const Shape& s : shape_set(set))
      benchmark::RegisterBenchmark(name_of(set, s).c_str(), end_to_end, s)
          ->Unit(benchmark::kMillisecond)
          ->UseRealTime();
  return true;
}();

}  // namespace
}  // namespace attnrt::bench
