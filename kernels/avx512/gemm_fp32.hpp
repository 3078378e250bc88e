// The fp32 GEMM micro-kernel of the avx512 sets: C[14 x 32] from an A panel
// [k][14] and a B panel [k][32], 28 zmm accumulators. One body serves Q·Kᵀ,
// P·V init and P·V accumulate through the epilogue parameter.
//
// Per k step: two B loads and 28 FMAs whose A operand is broadcast from
// memory inside the FMA (vfmadd231ps zmm, zmm, m32{1to16}, see
// broadcast_fma.hpp): no broadcast registers, 30 loads per 28 FMAs, within
// the two (Intel) or three (Zen 4) loads per cycle. Panels are laid out so
// B rows are 64-byte aligned in the pipelines' workspace; unaligned-load
// instructions are used so a caller's unaligned panel is slow rather than
// a crash.
#pragma once

#include "kernels/avx512/intrinsics.hpp"

#include <cstdint>

#include "kernels/avx512/broadcast_fma.hpp"
#include "kernels/avx512/epilogue.hpp"
#include "kernels/avx512/ops.hpp"

namespace attnrt::kernels::avx512 {

template <Epilogue E>
static inline void gemm_fp32_14x2(int k, const float* __restrict a, const float* __restrict b,
                                  float alpha, float* __restrict c, std::int64_t ldc) {
  __m512 acc[kMr][2];
  for (int i = 0; i < kMr; ++i) acc[i][0] = acc[i][1] = _mm512_setzero_ps();
  // Not unrolled: 28 independent multiply-adds per step already hide the
  // latency, and unrolling made GCC 12 spill accumulators.
#pragma GCC unroll 1
  for (int p = 0; p < k; ++p) {
    const __m512 b0 = _mm512_loadu_ps(b + p * kNr);
    const __m512 b1 = _mm512_loadu_ps(b + p * kNr + 16);
#pragma GCC unroll 14
    for (int i = 0; i < kMr; ++i) {
      acc[i][0] = fmadd_bcast(acc[i][0], b0, a + p * kMr + i);
      acc[i][1] = fmadd_bcast(acc[i][1], b1, a + p * kMr + i);
    }
  }
  store_tile<E>(acc, alpha, c, ldc);
}

}  // namespace attnrt::kernels::avx512
