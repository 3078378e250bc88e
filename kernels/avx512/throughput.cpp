// The FMA throughput loop (throughput.hpp) and the one-time measurement that
// decides whether bf16 inputs take the avx512_bf16 set (vdpbf16ps) or the
// fp32 set (bf16 widened to fp32 while packing, then FMAs).
//
// vdpbf16ps does twice an FMA's flops per instruction, but its issue rate
// is the CPU's business: on this project's Sapphire Rapids-class Xeon it
// issues at a quarter of the FMA rate (half the flops), and bf16 attention
// ran 1.6x faster through the fp32 set (S2: 176-180 against 110 GFLOP/s),
// with a smaller error. Elsewhere (Cooper Lake, Zen 4) it matches or beats
// the FMA's flops. No cpuid bit tells the two apart, so the runtime asks the
// loops themselves.
#include "kernels/avx512/intrinsics.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>

#include "kernels/avx512/throughput.hpp"

namespace attnrt::kernels::avx512 {
namespace {

// The bf16 set runs attention at ~92% of the dot product's peak and the
// fp32 set at ~75% of the FMA peak (attnrt-bench, S2, on the Xeon above), so
// the dot product pays off when it does at least 0.8x the FMA's flops.
constexpr double kDotWorthIt = 0.8;

template <class Loop>
double seconds_of(Loop loop, std::int64_t iters) {
  const auto t0 = std::chrono::steady_clock::now();
  volatile float sink = loop(iters);
  static_cast<void>(sink);
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// Flops per second of the dot product over those of the FMA: the best of
// several short alternating runs of each (~0.3 ms in all), so a neighbour's
// burst or the clock's first ramp hits both or neither.
double dot_over_fma_rate() {
  constexpr std::int64_t kIters = 4000;
  double fma = 1e30, dot = 1e30;
  for (int round = 0; round < 5; ++round) {
    fma = std::min(fma, seconds_of(fma_chains, kIters));
    dot = std::min(dot, seconds_of(bf16_dot_chains, kIters));
  }
  return (kBf16DotChainsFlops / dot) / (kFmaChainsFlops / fma);
}

}  // namespace

float fma_chains(std::int64_t iters) {
  __m512 acc[kThroughputChains];
  const __m512 a = _mm512_set1_ps(0.999999f), b = _mm512_set1_ps(1e-6f);
  for (int c = 0; c < kThroughputChains; ++c) acc[c] = _mm512_set1_ps(static_cast<float>(c));
  for (std::int64_t i = 0; i < iters; ++i) {
#pragma GCC unroll 24
    for (int c = 0; c < kThroughputChains; ++c) acc[c] = _mm512_fmadd_ps(acc[c], a, b);
  }
  return sum_of_chains(acc);
}

const char* bf16_dot_outpaced() {
  static char why[200];
  static const bool outpaced = [] {
    const double ratio = dot_over_fma_rate();
    std::snprintf(why, sizeof why,
                  "avx512_bf16's dot product measured at %.2fx the FMA's flops (below %.2fx): "
                  "bf16 takes the fp32 set; ATTNRT_ISA=avx512_bf16 forces vdpbf16ps",
                  ratio, kDotWorthIt);
    return ratio < kDotWorthIt;
  }();
  return outpaced ? why : nullptr;
}

}  // namespace attnrt::kernels::avx512
