// The micro-kernels of every kernel set this CPU runs, through the KernelSet
// pointers, on data that stays in L1: qk and pv_acc in GFLOP/s and % of the
// peak measured in the same run (gbench_meter.hpp), exp2_rows and the x86
// sets' vector exp2 in cycles per element. `peak/...` times the peak loop
// itself through the same meter (it should read ~100%). Inputs are packed by
// the set's own packers, so every layout is the real one.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <random>
#include <string>
#include <vector>

#include "bench/gbench_meter.hpp"
#include "bench/peak.hpp"
#include "bench/shapes.hpp"
#include "bench/workload.hpp"
#include "kernels/kernel_set.hpp"
#include "kernels/registry.hpp"
#include "runtime/internal/attnrt_internal.hpp"
#ifdef ATTNRT_HAVE_AVX2
#include "kernels/avx2/kernel_set.hpp"
#endif
#ifdef ATTNRT_HAVE_AVX512
#include "kernels/avx512/kernel_set.hpp"
#endif

namespace attnrt::bench {
namespace {

using kernels::KernelSet;

void peak_loop(benchmark::State& state, ThroughputLoop loop, Arithmetic arithmetic) {
  constexpr std::int64_t kIters = 1 << 14;
  volatile float sink = 0;
  const PeakMeter meter(Clock::thread_cpu, 1, arithmetic);
  for (auto _ : state) sink = loop.run(kIters);
  meter.report_flops(state, loop.flops_per_iter * kIters);
  static_cast<void>(sink);
}

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
  const kernels::FpModeScope mode(*ks);  // as a pipeline holds it (AMX tiles configured)
  const PeakMeter meter(Clock::thread_cpu, 1, arithmetic_of(*ks));
  for (auto _ : state) {
    ks->qk(dp, a.data(), b.data(), 0.125f, static_cast<float*>(s.data()), ks->nr);
    benchmark::ClobberMemory();
  }
  meter.report_flops(state, 2.0 * ks->mr * ks->nr * d);
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
  const kernels::FpModeScope mode(*ks);
  const PeakMeter meter(Clock::thread_cpu, 1, arithmetic_of(*ks));
  for (auto _ : state) {
    ks->pv_acc(kp, a.data(), b.data(), static_cast<float*>(o.data()), ks->nv);
    benchmark::ClobberMemory();
  }
  meter.report_flops(state, 2.0 * ks->mr * ks->nv * keys);
}

// P = exp2(S - m) on an mr x range(0) strip, with row sums.
void exp2_rows(benchmark::State& state, const KernelSet* ks, kernels::Exp2Precision precision) {
  const int cols = static_cast<int>(state.range(0));
  Buffer s(sizeof(float) * ks->mr * cols), p(kernels::a_panels_bytes(*ks, ks->mr, cols));
  float* sv = static_cast<float*>(s.data());
  for (int i = 0; i < ks->mr * cols; ++i) sv[i] = -0.01f * static_cast<float>(i % 1000);  // in [-10, 0]
  float m[64] = {}, sum[64] = {};  // mr <= 64 for every set
  const PeakMeter meter;
  for (auto _ : state) {
    ks->exp2_rows(sv, cols, ks->mr, cols, m, sum, p.data(), precision);
    benchmark::ClobberMemory();
  }
  meter.report_elements(state, static_cast<double>(ks->mr) * cols);
}

// The vector exp2 alone (an x86 set's exp2_array) on 4096 values in
// [-30, 0], 32 KiB in and out.
using Exp2Array = void (*)(const float*, float*, std::int64_t, kernels::Exp2Precision);
void exp2_array(benchmark::State& state, Exp2Array fn, kernels::Exp2Precision precision) {
  const std::int64_t n = 4096;
  std::vector<float> x(n), y(n);
  std::mt19937 rng(1);
  std::uniform_real_distribution<float> u(-30.0f, 0.0f);
  for (float& v : x) v = u(rng);
  const PeakMeter meter;
  for (auto _ : state) {
    fn(x.data(), y.data(), n, precision);
    benchmark::ClobberMemory();
  }
  meter.report_elements(state, static_cast<double>(n));
}

void register_exp2_array(const char* isa, Exp2Array fn, std::uint32_t needs) {
  if ((rt::cpu_features().bits & needs) != needs) return;
  for (const auto& [name, precision] : {std::pair{"accurate", kernels::Exp2Precision::accurate},
                                       std::pair{"fast", kernels::Exp2Precision::fast}})
    benchmark::RegisterBenchmark((std::string("exp2_array/") + isa + "/" + name).c_str(), exp2_array, fn,
                                 precision);
}

[[maybe_unused]] const bool registered = [] {
  const std::uint32_t cpu = rt::cpu_features().bits;
  benchmark::RegisterBenchmark("peak/fp32_fma", peak_loop, best_fp32_loop(), Arithmetic::fp32_fma);
  for (const Arithmetic a : {Arithmetic::bf16_dot, Arithmetic::bf16_tiles})
    if (const auto bf16 = bf16_loop(a))
      benchmark::RegisterBenchmark((std::string("peak/") + bf16->kind).c_str(), peak_loop, *bf16, a);
#ifdef ATTNRT_HAVE_AVX2
  register_exp2_array("avx2", kernels::avx2::exp2_array, kernels::kFeatureX86V3);
#endif
#ifdef ATTNRT_HAVE_AVX512
  register_exp2_array("avx512", kernels::avx512::exp2_array, kernels::kFeatureAvx512);
#endif
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
