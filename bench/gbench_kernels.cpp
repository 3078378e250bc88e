// The micro-kernels of every kernel set this CPU runs, through the KernelSet
// pointers: qk and pv_acc in GFLOP/s (counter GFLOP, shown per second),
// exp2_rows in time per element. Inputs are packed by the set's own packers,
// so every layout is the real one.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <string>

#include "bench/shapes.hpp"
#include "bench/workload.hpp"
#include "kernels/kernel_set.hpp"
#include "kernels/registry.hpp"
#include "runtime/src/cpu_features.hpp"

namespace attnrt::bench {
namespace {

using kernels::KernelSet;

// A one-head workload whose Q has `rows` rows and whose K and V have `keys`.
Workload panel_source(const KernelSet& ks, int rows, int keys, int d) {
  Shape s;
  s.batch = s.heads = s.kv_heads = 1;
  s.q_len = rows;
  s.kv_len = keys;
  s.head_dim = s.head_dim_v = d;
  s.dtype = static_cast<DType>(ks.dtype);
  return Workload(s);
}

// S[mr x nr] = Q·Kᵀ over D = range(0).
void qk(benchmark::State& state, const KernelSet* ks) {
  const int d = static_cast<int>(state.range(0)), dp = kernels::round_up(d, ks->k_pack);
  const Workload src = panel_source(*ks, ks->mr, ks->nr, d);
  Buffer a(kernels::a_panels_bytes(*ks, ks->mr, d)), b(kernels::k_panels_bytes(*ks, ks->nr, d));
  Buffer s(sizeof(float) * ks->mr * ks->nr);
  ks->pack_q(src.q().data, d, ks->mr, d, a.data());
  ks->pack_k(src.k().data, d, ks->nr, d, b.data());
  for (auto _ : state) {
    ks->qk(dp, a.data(), b.data(), 0.125f, static_cast<float*>(s.data()), ks->nr);
    benchmark::ClobberMemory();
  }
  const double flops = 2.0 * ks->mr * ks->nr * d;
  state.counters["GFLOP"] = benchmark::Counter(flops * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}

// O[mr x nv] += P·V over range(0) keys (P panels come from pack_q: same layout).
void pv_acc(benchmark::State& state, const KernelSet* ks) {
  const int keys = static_cast<int>(state.range(0)), kp = kernels::round_up(keys, ks->k_pack);
  const Workload src = panel_source(*ks, ks->mr, keys, ks->nv);
  // P is an mr x keys matrix: the Q of a workload with head_dim = keys.
  const Workload p_src = panel_source(*ks, ks->mr, 1, keys);
  Buffer a(kernels::a_panels_bytes(*ks, ks->mr, keys)), b(kernels::v_panels_bytes(*ks, keys, ks->nv));
  Buffer o(sizeof(float) * ks->mr * ks->nv);
  std::fill_n(static_cast<float*>(o.data()), ks->mr * ks->nv, 0.0f);
  ks->pack_q(p_src.q().data, keys, ks->mr, keys, a.data());
  ks->pack_v(src.v().data, ks->nv, keys, ks->nv, b.data());
  for (auto _ : state) {
    ks->pv_acc(kp, a.data(), b.data(), static_cast<float*>(o.data()), ks->nv);
    benchmark::ClobberMemory();
  }
  const double flops = 2.0 * ks->mr * ks->nv * keys;
  state.counters["GFLOP"] = benchmark::Counter(flops * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}

// P = exp2(S - m) on an mr x range(0) strip, with row sums.
void exp2_rows(benchmark::State& state, const KernelSet* ks, kernels::Exp2Precision precision) {
  const int cols = static_cast<int>(state.range(0));
  Buffer s(sizeof(float) * ks->mr * cols), p(kernels::a_panels_bytes(*ks, ks->mr, cols));
  float* sv = static_cast<float*>(s.data());
  for (int i = 0; i < ks->mr * cols; ++i) sv[i] = -0.01f * static_cast<float>(i % 1000);  // in [-10, 0]
  float m[64] = {}, sum[64] = {};  // mr <= 64 for every set
  for (auto _ : state) {
    ks->exp2_rows(sv, cols, cols, m, sum, p.data(), precision);
    benchmark::ClobberMemory();
  }
  const double elements = static_cast<double>(ks->mr) * cols;
  // Inverted rate: seconds per element, printed with an SI prefix ("4.2ns").
  state.counters["time/elem"] = benchmark::Counter(
      elements, benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert);
}

[[maybe_unused]] const bool registered = [] {
  const std::uint32_t cpu = rt::cpu_features().bits;
  for (DType t : {DType::f32, DType::f16, DType::bf16}) {
    for (const KernelSet* ks : kernels::kernel_sets(static_cast<kernels::DType>(t))) {
      if (!ks || (ks->requires_cpu & cpu) != ks->requires_cpu || ks->mr > 64) continue;
      const std::string set = std::string(ks->name) + "/" + dtype_name(t) + "/";
      const std::string tile = std::to_string(ks->mr) + "x";
      benchmark::RegisterBenchmark(("qk/" + set + tile + std::to_string(ks->nr)).c_str(), qk, ks)
          ->ArgName("D")->Arg(64)->Arg(128)->Arg(256);
      benchmark::RegisterBenchmark(("pv_acc/" + set + tile + std::to_string(ks->nv)).c_str(), pv_acc, ks)
          ->ArgName("keys")->Arg(64)->Arg(256)->Arg(512);
      benchmark::RegisterBenchmark(("exp2_rows/" + set + "accurate").c_str(), exp2_rows, ks,
                                   kernels::Exp2Precision::accurate)->ArgName("cols")->Arg(256);
      benchmark::RegisterBenchmark(("exp2_rows/" + set + "fast").c_str(), exp2_rows, ks,
                                   kernels::Exp2Precision::fast)->ArgName("cols")->Arg(256);
    }
  }
  return true;
}();

}  // namespace
}  // namespace attnrt::bench
