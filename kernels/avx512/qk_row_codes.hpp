// Q·Kᵀ of one query row against 1-byte K codes (int8, fp8) read in place:
// the avx512 set's FewRowKernels::codes[].qk for decode. Key after key, as the 256-bit loop
// of kernels/x86/few_rows.hpp reads fp32 and 16-bit rows, but on zmm: that
// loop keeps 256-bit loads because a plain read of DRAM streamed faster
// with them (Zen 4), which does not apply here (16 codes are one 128-bit
// load whatever width they widen to), while widening is what int8 costs:
// per 16 codes one vpmovsxbd, one vcvtdq2ps and one FMA on zmm against two
// of each on ymm, and Zen 5 runs 512-bit ones at full width.
#pragma once

#include "kernels/avx512/intrinsics.hpp"

#include <cstdint>

#include "kernels/avx512/convert.hpp"
#include "kernels/convert.hpp"
#include "kernels/rows_ahead.hpp"
#include "kernels/x86/few_rows.hpp"
#include "kernels/x86/lanes.hpp"

namespace attnrt::kernels::avx512 {

// s[j] = alpha * q·k_j for keys j < keys: q one fp32 row, K rows of codes
// C (I8, E4m3, E5m2) ldk apart, prefetched as S says (as many bytes ahead
// as fp32 rows). A call of x86::kTwoStreamKeys keys or more takes its
// halves, of x86::kFourStreamKeys its quarters, key by key in turns, as
// the 256-bit loop does.
template <StreamParams S, class C>
static inline void qk_codes_row(int keys, int d, const float* q, const C* k, std::int64_t ldk, float alpha,
                                float* s, RowsAfter next) {
  const float alpha_units = alpha * kUnit<C>;  // (codes read in load16_units' units)
  const auto dot = [&](const C* kr, int j) {
    __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
    int x = 0;
    for (; x + 32 <= d; x += 32) {
      acc0 = _mm512_fmadd_ps(_mm512_loadu_ps(q + x), load16_units(kr + x, 0xffff), acc0);
      acc1 = _mm512_fmadd_ps(_mm512_loadu_ps(q + x + 16), load16_units(kr + x + 16, 0xffff), acc1);
    }
    for (; x < d; x += 16) {
      const __mmask16 lanes = first16(d - x);
      acc0 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(lanes, q + x), load16_units(kr + x, lanes), acc0);
    }
    const __m512 t = _mm512_add_ps(acc0, acc1);
    const __m256 h = _mm256_add_ps(_mm512_castps512_ps256(t), _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(t), 1)));
    s[j] = alpha_units * x86::sum_lanes(h);
  };
  // (Prefetches never fault, past the last key too.)
  x86::CallStreams<x86::kPrefetch<S>, C>(keys, k, ldk, next, S.rows_ahead > 0 ? x86::ahead_of<S, C> : 0, 1, 4)
      .for_each_key(d, dot);
}

}  // namespace attnrt::kernels::avx512
