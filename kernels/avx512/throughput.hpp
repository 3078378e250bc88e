// Throughput loops of the avx512 sets' GEMM arithmetic: kThroughputChains
// independent chains of one instruction, so nothing but that instruction's
// issue rate limits them. The runtime measures them once to choose between
// the avx512_bf16 and the fp32 set for bf16 inputs (bf16_dot_outpaced), and
// attnrt-bench and the Google benchmarks time them as the machine's peaks.
#pragma once

#include "kernels/avx512/intrinsics.hpp"

#include <cstdint>

namespace attnrt::kernels::avx512 {

// 24 chains of zmm: 2 pipes x latency 4-6 need 8-12; more hides stalls, and
// 24 leave registers for the constants.
inline constexpr int kThroughputChains = 24;

// The sum of the chains, so that no loop is optimized away. Not
// _mm512_reduce_add_ps: GCC 12 warns inside it (-Wuninitialized).
static inline float sum_of_chains(__m512 (&acc)[kThroughputChains]) {
  for (int c = 1; c < kThroughputChains; ++c) acc[0] = _mm512_add_ps(acc[0], acc[c]);
  float lanes[16];
  _mm512_storeu_ps(lanes, acc[0]);
  float s = 0;
  for (float x : lanes) s += x;
  return s;
}

// Every chain is acc = acc * a + b with a just below 1: it converges to a
// normal number, never to overflow or denormals. 2 x 16 flops per chain and
// iteration (throughput.cpp; needs kFeatureAvx512).
float fma_chains(std::int64_t iters);
inline constexpr double kFmaChainsFlops = 2.0 * 16 * kThroughputChains;

// acc = vdpbf16ps(acc, a, a), each lane adding two bf16 products: 4 x 16
// flops per chain and iteration (throughput_bf16.cpp; needs
// kFeatureAvx512 | kFeatureAvx512Bf16).
float bf16_dot_chains(std::int64_t iters);
inline constexpr double kBf16DotChainsFlops = 4.0 * 16 * kThroughputChains;

// The avx512_bf16 set's KernelSet::outpaced (kernel_set.hpp): measured once
// per process, the first time it is asked.
const char* bf16_dot_outpaced();

}  // namespace attnrt::kernels::avx512
