// One decode row's Q·Kᵀ over bf16 K rows on AVX512_BF16 (vdpbf16ps: 32
// bf16 products summed in pairs into 16 fp32 lanes per instruction), for
// the avx512 set's FewRowKernels entry that needs it. The widening loop
// (x86/few_rows.hpp) spends per 16 elements a widen, a shift and an FMA,
// then a chain of shuffles, adds and a scalar store per key; here each key
// is NV instructions on its own accumulator and sixteen keys are finished
// together (key_sums.hpp).
//
// Exact as the widening loop is, for a q whose elements are bf16 values
// (the pipelines widen bf16 Q rows): each product of two bf16 values is
// exact in fp32. Subnormal inputs are read as zero, as under the runtime's
// floating-point environment (fp_env.hpp) anyway. Rows it cannot take
// exactly (an element of q not a bf16 value, D > 256) return false and are
// left to the widening loop.
#include "kernels/avx512/intrinsics.hpp"

#include <bit>
#include <cstdint>

#include "kernels/avx512/convert.hpp"
#include "kernels/avx512/key_sums.hpp"
#include "kernels/avx512/ops.hpp"
#include "kernels/rows_ahead.hpp"
#include "kernels/x86/few_rows.hpp"

namespace attnrt::kernels::avx512 {
namespace {

constexpr int kMostD = 256;  // q's pairs stay in 8 zmm registers

// Scores of a group's keys (x86::KeyGroup16: lanes past its keys repeat a
// row and are not stored), in fours: a call of fewer keys (a small page's)
// computes only the fours it stores.
template <int NV, x86::Prefetch P>
static inline void qk_keys16(const __m512bh (&qv)[NV], __m512 scale, int d, x86::KeyGroup16<P, Bf16>& keys,
                             float* s) {
  __m512 groups[4];
  const Bf16* kr = nullptr;
#pragma GCC unroll 4
  for (int g = 0; g < 4; ++g) {
    if (4 * g >= keys.span()) {
      groups[g] = _mm512_setzero_ps();
      continue;
    }
    __m512 acc[4];
#pragma GCC unroll 4
    for (int r = 0; r < 4; ++r) {
      kr = keys.row(4 * g + r, d, kr);
      acc[r] = _mm512_setzero_ps();
#pragma GCC unroll 8
      for (int i = 0; i < NV; ++i) {
        const __m512i kv = _mm512_maskz_loadu_epi16(first32(d - 32 * i), kr + 32 * i);
        acc[r] = _mm512_dpbf16_ps(acc[r], std::bit_cast<__m512bh>(kv), qv[i]);
      }
    }
    groups[g] = sum_chunks4(acc);
  }
  store_key_group(keys, _mm512_mul_ps(sum_groups4(groups), scale), s);
}

template <int NV, x86::Prefetch P>
static inline bool qk_row(int keys, int d, const float* q, const Bf16* k, std::int64_t ldk, float alpha,
                          float* s, int rows_ahead, RowsAfter next) {
  __m512bh qv[NV];
  __mmask16 inexact = 0;
  const __m512i low_half = _mm512_set1_epi32(0xffff);
#pragma GCC unroll 8
  for (int i = 0; i < NV; ++i) {
    const __m512 lo = _mm512_maskz_loadu_ps(first16(d - 32 * i), q + 32 * i);
    const __m512 hi = _mm512_maskz_loadu_ps(first16(d - 32 * i - 16), q + 32 * i + 16);
    inexact |= _mm512_test_epi32_mask(_mm512_castps_si512(lo), low_half);
    inexact |= _mm512_test_epi32_mask(_mm512_castps_si512(hi), low_half);
    qv[i] = _mm512_cvtne2ps_pbh(hi, lo);
  }
  if (inexact) return false;
  const __m512 scale = _mm512_set1_ps(alpha);
  x86::for_each_key16<P>(keys, k, ldk, next, rows_ahead, [&](x86::KeyGroup16<P, Bf16>& g) {
    qk_keys16<NV, P>(qv, scale, d, g, s);
  });
  return true;
}

}  // namespace

template <x86::Prefetch P>
bool qk_bf16_row_dot(int keys, int d, const float* q, const Bf16* k, std::int64_t ldk, float alpha, float* s,
                     int rows_ahead, RowsAfter next) {
  if (d > kMostD) return false;
  switch ((d + 31) / 32) {
    case 1: return qk_row<1, P>(keys, d, q, k, ldk, alpha, s, rows_ahead, next);
    case 2: return qk_row<2, P>(keys, d, q, k, ldk, alpha, s, rows_ahead, next);
    case 3: return qk_row<3, P>(keys, d, q, k, ldk, alpha, s, rows_ahead, next);
    case 4: return qk_row<4, P>(keys, d, q, k, ldk, alpha, s, rows_ahead, next);
    case 5: return qk_row<5, P>(keys, d, q, k, ldk, alpha, s, rows_ahead, next);
    case 6: return qk_row<6, P>(keys, d, q, k, ldk, alpha, s, rows_ahead, next);
    case 7: return qk_row<7, P>(keys, d, q, k, ldk, alpha, s, rows_ahead, next);
    default: return qk_row<8, P>(keys, d, q, k, ldk, alpha, s, rows_ahead, next);
  }
}

#define ATTNRT_QK_BF16_ROW_DOT(P)                                                                              \
  template bool qk_bf16_row_dot<x86::Prefetch::P>(int, int, const float*, const Bf16*, std::int64_t, float, float*, \
                                                  int, RowsAfter);
ATTNRT_QK_BF16_ROW_DOT(l1)
ATTNRT_QK_BF16_ROW_DOT(l2)
ATTNRT_QK_BF16_ROW_DOT(l1_and_l2)

}  // namespace attnrt::kernels::avx512
