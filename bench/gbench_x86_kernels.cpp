// Single-core speed of the x86 kernel sets' pieces, next to this core's FMA
// peak measured in the same run (the box's clock moves and it may be
// shared, so only ratios taken together mean much):
//   PeakFmaYmm        12 independent ymm FMA chains: the ceiling
//   Qk / PvAcc        micro-kernels on L1-resident panels (GFLOP/s, % of peak)
//   Exp2Array         the vector exp2 alone (ns per element)
//   Exp2Rows          the fused exp2 pass over an mr x cols strip (ns per element)
//   Forward           attnrt::Runtime end to end, one thread
// Run with --benchmark_repetitions=N --benchmark_report_aggregates_only and
// read the max (best of N) on a busy machine.
#include <attnrt/attnrt.hpp>
#include <benchmark/benchmark.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "kernels/registry.hpp"
#include "runtime/src/cpu_features.hpp"
#ifdef ATTNRT_HAVE_AVX2
#include "kernels/avx2/kernel_set.hpp"
#endif
#ifdef ATTNRT_HAVE_AVX512
#include "kernels/avx512/kernel_set.hpp"
#endif

namespace {

using attnrt::kernels::DType;
using attnrt::kernels::Exp2Precision;
using attnrt::kernels::KernelSet;

const KernelSet* runnable_set(const char* name, DType t) {
  for (const KernelSet* ks : attnrt::kernels::kernel_sets(t))
    if (ks && std::strcmp(ks->name, name) == 0 &&
        (ks->requires_cpu & attnrt::rt::cpu_features().bits) == ks->requires_cpu)
      return ks;
  return nullptr;
}

struct Aligned {
  explicit Aligned(std::size_t bytes) : p(std::aligned_alloc(64, (bytes + 63) / 64 * 64)) {
    std::memset(p, 0, (bytes + 63) / 64 * 64);
  }
  ~Aligned() { std::free(p); }
  void* p;
};

void set_flops(benchmark::State& state, double flops_per_iter) {
  state.counters["GFLOPs"] = benchmark::Counter(
      flops_per_iter * static_cast<double>(state.iterations()) * 1e-9, benchmark::Counter::kIsRate);
}

// 12 independent chains of vfmadd231ps ymm: enough to cover latency 4 x 2
// pipes. Inline assembly, so this file needs no AVX2 compiler flags.
void PeakFmaYmm(benchmark::State& state) {
  if (!(attnrt::rt::cpu_features().bits & attnrt::kernels::kFeatureAvx2Fma)) {
    state.SkipWithError("no AVX2+FMA");
    return;
  }
  constexpr std::int64_t kLoops = 1 << 16;
  for (auto _ : state) {
    std::int64_t n = kLoops;
    __asm__ volatile(
        "vxorps %%xmm0, %%xmm0, %%xmm0\n\t"
        "vxorps %%xmm1, %%xmm1, %%xmm1\n\t"
        "vxorps %%xmm2, %%xmm2, %%xmm2\n\t"
        "vxorps %%xmm3, %%xmm3, %%xmm3\n\t"
        "vxorps %%xmm4, %%xmm4, %%xmm4\n\t"
        "vxorps %%xmm5, %%xmm5, %%xmm5\n\t"
        "vxorps %%xmm6, %%xmm6, %%xmm6\n\t"
        "vxorps %%xmm7, %%xmm7, %%xmm7\n\t"
        "vxorps %%xmm8, %%xmm8, %%xmm8\n\t"
        "vxorps %%xmm9, %%xmm9, %%xmm9\n\t"
        "vxorps %%xmm10, %%xmm10, %%xmm10\n\t"
        "vxorps %%xmm11, %%xmm11, %%xmm11\n\t"
        "vxorps %%xmm14, %%xmm14, %%xmm14\n\t"
        "vxorps %%xmm15, %%xmm15, %%xmm15\n\t"
        "1:\n\t"
        "vfmadd231ps %%ymm14, %%ymm15, %%ymm0\n\t"
        "vfmadd231ps %%ymm14, %%ymm15, %%ymm1\n\t"
        "vfmadd231ps %%ymm14, %%ymm15, %%ymm2\n\t"
        "vfmadd231ps %%ymm14, %%ymm15, %%ymm3\n\t"
        "vfmadd231ps %%ymm14, %%ymm15, %%ymm4\n\t"
        "vfmadd231ps %%ymm14, %%ymm15, %%ymm5\n\t"
        "vfmadd231ps %%ymm14, %%ymm15, %%ymm6\n\t"
        "vfmadd231ps %%ymm14, %%ymm15, %%ymm7\n\t"
        "vfmadd231ps %%ymm14, %%ymm15, %%ymm8\n\t"
        "vfmadd231ps %%ymm14, %%ymm15, %%ymm9\n\t"
        "vfmadd231ps %%ymm14, %%ymm15, %%ymm10\n\t"
        "vfmadd231ps %%ymm14, %%ymm15, %%ymm11\n\t"
        "dec %0\n\t"
        "jnz 1b\n\t"
        "vzeroupper\n\t"
        : "+r"(n)
        :
        : "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10",
          "xmm11", "xmm14", "xmm15", "cc");
  }
  set_flops(state, 12.0 * 16.0 * kLoops);
}

// GEMM micro-kernels on panels that stay in L1: k = 128 (D) for qk, the P·V
// depth for pv. Reports GFLOP/s; divide by PeakFmaYmm's.
void Qk(benchmark::State& state, const char* set) {
  const KernelSet* ks = runnable_set(set, DType::f32);
  if (!ks) {
    state.SkipWithError("set not runnable here");
    return;
  }
  const int k = static_cast<int>(state.range(0));
  Aligned a(attnrt::kernels::a_panels_bytes(*ks, ks->mr, k)),
      b(attnrt::kernels::k_panels_bytes(*ks, ks->nr, k));
  std::vector<float> s(static_cast<std::size_t>(ks->mr) * (ks->nr + 16));
  for (auto _ : state) {
    ks->qk(k, a.p, b.p, 0.5f, s.data(), ks->nr + 16);
    benchmark::ClobberMemory();
  }
  set_flops(state, 2.0 * ks->mr * ks->nr * k);
}

void PvAcc(benchmark::State& state, const char* set) {
  const KernelSet* ks = runnable_set(set, DType::f32);
  if (!ks) {
    state.SkipWithError("set not runnable here");
    return;
  }
  const int kp = static_cast<int>(state.range(0));
  Aligned a(attnrt::kernels::a_panels_bytes(*ks, ks->mr, kp)),
      b(attnrt::kernels::v_panels_bytes(*ks, kp, ks->nv));
  std::vector<float> o(static_cast<std::size_t>(ks->mr) * ks->nv);
  for (auto _ : state) {
    ks->pv_acc(kp, a.p, b.p, o.data(), ks->nv);
    benchmark::ClobberMemory();
  }
  set_flops(state, 2.0 * ks->mr * ks->nv * kp);
}

void Exp2Array(benchmark::State& state,
               void (*fn)(const float*, float*, std::int64_t, Exp2Precision), std::uint32_t needs,
               Exp2Precision prec) {
  if ((attnrt::rt::cpu_features().bits & needs) != needs) {
    state.SkipWithError("ISA not runnable here");
    return;
  }
  const std::int64_t n = 4096;  // 32 KiB in and out: L1/L2
  std::vector<float> x(n), y(n);
  std::mt19937 rng(1);
  std::uniform_real_distribution<float> u(-30.0f, 0.0f);
  for (auto& v : x) v = u(rng);
  for (auto _ : state) {
    fn(x.data(), y.data(), n, prec);
    benchmark::ClobberMemory();
  }
  state.counters["ns_per_elem"] =
      benchmark::Counter(static_cast<double>(n) * state.iterations(),
                         benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}

void Exp2Rows(benchmark::State& state, const char* set, DType t, Exp2Precision prec) {
  const KernelSet* ks = runnable_set(set, t);
  if (!ks) {
    state.SkipWithError("set not runnable here");
    return;
  }
  const int cols = static_cast<int>(state.range(0));
  const std::int64_t lds = cols + 16;
  std::vector<float> s(static_cast<std::size_t>(ks->mr) * lds), m(ks->mr, 0.0f), sum(ks->mr, 0.0f);
  std::mt19937 rng(2);
  std::uniform_real_distribution<float> u(-30.0f, 0.0f);
  for (auto& v : s) v = u(rng);
  Aligned p(attnrt::kernels::a_panels_bytes(*ks, ks->mr, cols));
  for (auto _ : state) {
    ks->exp2_rows(s.data(), lds, cols, m.data(), sum.data(), p.p, prec);
    benchmark::ClobberMemory();
  }
  state.counters["ns_per_elem"] =
      benchmark::Counter(static_cast<double>(ks->mr) * cols * state.iterations(),
                         benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}

// B1 H8 M=N=2048 D128 (by default) through the public API on one thread.
void Forward(benchmark::State& state, const char* isa, attnrt::DType t) {
  const KernelSet* ks = runnable_set(isa, static_cast<DType>(t));
  if (!ks) {
    state.SkipWithError("set not runnable here");
    return;
  }
  const int H = 8, M = static_cast<int>(state.range(0)), N = M, D = 128;
  const bool causal = state.range(1) != 0;
  attnrt::Config cfg;
  cfg.num_threads = 1;
  // avx512_bf16 exists only for bf16 and the runtime names one set for every
  // dtype: it is reached as the best set of a CPU that runs it.
  if (std::strcmp(isa, "avx512_bf16") != 0) cfg.isa = isa;
  attnrt::Runtime rt(cfg);
  const std::size_t esz = t == attnrt::DType::f32 ? 4 : 2;
  std::vector<unsigned char> q(esz * H * M * D), k(esz * H * N * D), v(esz * H * N * D),
      o(esz * H * M * D);
  std::mt19937 rng(3);
  for (auto* buf : {&q, &k, &v})
    for (std::size_t i = 0; i < buf->size(); i += esz) {
      const float x = std::uniform_real_distribution<float>(-1.0f, 1.0f)(rng);
      if (esz == 4)
        std::memcpy(buf->data() + i, &x, 4);
      else {  // bf16 / fp16 bits of a small value: truncation is fine for timing
        std::uint32_t u;
        std::memcpy(&u, &x, 4);
        const std::uint16_t h =
            t == attnrt::DType::bf16 ? static_cast<std::uint16_t>(u >> 16) : 0x3c00;
        std::memcpy(buf->data() + i, &h, 2);
      }
    }
  using attnrt::Tensor;
  const Tensor tq = Tensor::bhsd(q.data(), t, 1, H, M, D),
               tk = Tensor::bhsd(k.data(), t, 1, H, N, D);
  const Tensor tv = Tensor::bhsd(v.data(), t, 1, H, N, D),
               to = Tensor::bhsd(o.data(), t, 1, H, M, D);
  attnrt::Params params;
  params.causal = causal;
  for (auto _ : state) rt.forward(tq, tk, tv, to, params);
  const double entries = causal ? 0.5 * M * (M + 1.0) : 1.0 * M * N;
  set_flops(state, 4.0 * H * entries * D);
}

void register_all() {
  benchmark::RegisterBenchmark("PeakFmaYmm", PeakFmaYmm);
  for (const char* set : {"avx2", "avx512"}) {
    benchmark::RegisterBenchmark((std::string("Qk/") + set).c_str(), Qk, set)
        ->Arg(64)
        ->Arg(128)
        ->Arg(256);
    benchmark::RegisterBenchmark((std::string("PvAcc/") + set).c_str(), PvAcc, set)
        ->Arg(128)
        ->Arg(256)
        ->Arg(512);
  }
#ifdef ATTNRT_HAVE_AVX2
  benchmark::RegisterBenchmark("Exp2Array/avx2/accurate", Exp2Array,
                               attnrt::kernels::avx2::exp2_array, attnrt::kernels::kFeatureAvx2Fma,
                               Exp2Precision::accurate);
  benchmark::RegisterBenchmark("Exp2Array/avx2/fast", Exp2Array, attnrt::kernels::avx2::exp2_array,
                               attnrt::kernels::kFeatureAvx2Fma, Exp2Precision::fast);
#endif
#ifdef ATTNRT_HAVE_AVX512
  benchmark::RegisterBenchmark("Exp2Array/avx512/accurate", Exp2Array,
                               attnrt::kernels::avx512::exp2_array, attnrt::kernels::kFeatureAvx512,
                               Exp2Precision::accurate);
  benchmark::RegisterBenchmark("Exp2Array/avx512/fast", Exp2Array,
                               attnrt::kernels::avx512::exp2_array, attnrt::kernels::kFeatureAvx512,
                               Exp2Precision::fast);
#endif
  for (const char* set : {"generic", "avx2", "avx512"}) {
    benchmark::RegisterBenchmark((std::string("Exp2Rows/") + set + "/accurate").c_str(), Exp2Rows,
                                 set, DType::f32, Exp2Precision::accurate)
        ->Arg(256);
    benchmark::RegisterBenchmark((std::string("Exp2Rows/") + set + "/fast").c_str(), Exp2Rows, set,
                                 DType::f32, Exp2Precision::fast)
        ->Arg(256);
  }
  benchmark::RegisterBenchmark("Exp2Rows/avx512_bf16/accurate", Exp2Rows, "avx512_bf16",
                               DType::bf16, Exp2Precision::accurate)
      ->Arg(256);
  for (const char* isa : {"generic", "avx2", "avx512"})
    benchmark::RegisterBenchmark((std::string("Forward/f32/") + isa).c_str(), Forward, isa,
                                 attnrt::DType::f32)
        ->Args({2048, 0})
        ->Args({2048, 1})
        ->Unit(benchmark::kMillisecond);
  benchmark::RegisterBenchmark("Forward/bf16/avx512_bf16", Forward, "avx512_bf16",
                               attnrt::DType::bf16)
      ->Args({2048, 0})
      ->Unit(benchmark::kMillisecond);
}

}  // namespace

int main(int argc, char** argv) {
  register_all();
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
