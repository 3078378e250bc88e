// The bf16 GEMM micro-kernel of the avx512_bf16 set: C[14 x 32] (fp32) from
// an A panel [k/2][14][2] and a B panel [k/2][32][2] of bf16 pairs, with
// vdpbf16ps: each instruction multiplies 16 pairs and adds both products to
// 16 fp32 accumulators, so one k step covers two k. One body serves Q·Kᵀ,
// P·V init and P·V accumulate through the epilogue parameter.
//
// Per pair step: two B loads, 14 A pairs (32 bits) broadcast into a register
// (broadcast_fma.hpp) and 28 vdpbf16ps; 28 accumulators, as in the fp32
// kernel.
#pragma once

#include "kernels/avx512/intrinsics.hpp"

#include <bit>
#include <cstdint>

#include "kernels/avx512/broadcast_fma.hpp"
#include "kernels/avx512/epilogue.hpp"
#include "kernels/avx512/ops.hpp"

namespace attnrt::kernels::avx512 {

// Reinterprets 32 16-bit lanes as the bf16 vector type vdpbf16ps takes.
static inline __m512bh as_bf16x32(__m512i v) { return std::bit_cast<__m512bh>(v); }

// kp: k padded to even (the panels' depth in bf16 elements).
template <Epilogue E>
static inline void gemm_bf16_14x2(int kp, const std::uint32_t* __restrict a,
                                  const std::uint32_t* __restrict b, float alpha,
                                  float* __restrict c, std::int64_t ldc) {
  __m512 acc[kMr][2];
  for (int i = 0; i < kMr; ++i) acc[i][0] = acc[i][1] = _mm512_setzero_ps();
  const int pairs = kp / 2;
  // Not unrolled: 28 independent multiply-adds per step already hide the
  // latency, and unrolling made GCC 12 spill accumulators.
#pragma GCC unroll 1
  for (int p = 0; p < pairs; ++p) {
    const __m512bh b0 = as_bf16x32(_mm512_loadu_si512(b + p * kNr));
    const __m512bh b1 = as_bf16x32(_mm512_loadu_si512(b + p * kNr + 16));
#pragma GCC unroll 14
    for (int i = 0; i < kMr; ++i) {
      const __m512bh x = as_bf16x32(broadcast(a + p * kMr + i));
      acc[i][0] = _mm512_dpbf16_ps(acc[i][0], x, b0);
      acc[i][1] = _mm512_dpbf16_ps(acc[i][1], x, b1);
    }
  }
  store_tile<E>(acc, alpha, c, ldc);
}

}  // namespace attnrt::kernels::avx512
