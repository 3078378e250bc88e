// One decode row's Q·Kᵀ over int8 K codes on VNNI (vpdpbusd: 64 byte
// products summed into 16 int32 lanes per instruction), for the avx512
// set's FewRowKernels entry that needs AVX512_VNNI. Widening each code to
// fp32 costs three zmm operations per 16 codes (vpmovsxbd, vcvtdq2ps, FMA);
// here q is cut into 8-bit digits instead, exactly enough of them for
// fp32's precision, so that each code takes part in one byte product per
// digit: q in 23-bit fixed point relative to the row's largest |q|, as
// three signed digits (q = d0 + 256 d1 + 65536 d2), against the K codes
// made unsigned (xor 0x80, i.e. + 128), whose bias is taken back in the
// accumulators. Integer sums are exact; the one rounding beyond fp32's own
// is the fixed point's, at most 2^-23 of the largest |q| per element. Rows
// it cannot take exactly (q not finite, its largest |q| below 2^-100 or 0,
// D > 256) return false and are left to the widening kernel.
//
// Zen 4, one thread (microbenchmark: D128, 128 keys a call): 6.0 -> 3.6 ns
// per key with K in L1/L2, 9.1 -> 6.5 from DRAM; attnrt-bench --kv-dtype
// int8 S5 (B4 H32 M1 N4096 D128), alternating builds, three runs: 7.19-7.28
// -> 6.33-6.51 ms. P·V stays on widening: the same digits for P (three per
// 128-key chunk, four keys' V codes interleaved per 32-bit lane by byte
// unpacks) ran 4.4 -> 3.1 ns per key in L1/L2 but 6.6 -> 9-10.5 from DRAM,
// and S5 slower than with the widening P·V (7.1-7.4 against 6.7-7.3 ms).
#include "kernels/avx512/intrinsics.hpp"

#include <cstdint>

#include "kernels/avx512/convert.hpp"
#include "kernels/avx512/key_sums.hpp"
#include "kernels/avx512/ops.hpp"
#include "kernels/avx512/q_digits.hpp"
#include "kernels/rows_ahead.hpp"
#include "kernels/x86/few_rows.hpp"

namespace attnrt::kernels::avx512 {
namespace {

// D up to which the low digits' sum d0 + 256 d1 over all of D fits in int32
// (256 x 32896 x 128 < 2^31).
constexpr int kMostD = 256;

// ---- Q·Kᵀ ------------------------------------------------------------------

// Scores of a group's keys (x86::KeyGroup16: lanes past its keys repeat a
// row and are not stored), in fours: a call of fewer keys (a small page's)
// computes only the fours it stores.
template <int NV, x86::Prefetch P>
static inline void qk_keys16(const __m512i (&digit)[3][NV], __m512i bias1, __m512i bias2, __m512i bias0,
                             __m512 unit, int d, x86::KeyGroup16<P, I8>& keys, float* s) {
  const __m512i flip = _mm512_set1_epi8(static_cast<char>(0x80));
  __m512i lo[4], hi[4];
  const I8* kr = nullptr;
#pragma GCC unroll 4
  for (int g = 0; g < 4; ++g) {
    if (4 * g >= keys.span()) {
      lo[g] = hi[g] = _mm512_setzero_si512();
      continue;
    }
    __m512i lo4[4], hi4[4];
#pragma GCC unroll 4
    for (int r = 0; r < 4; ++r) {
      kr = keys.row(4 * g + r, d, kr);
      __m512i kb[NV];
#pragma GCC unroll 4
      for (int i = 0; i < NV; ++i)
        kb[i] = _mm512_xor_si512(_mm512_maskz_loadu_epi8(first64(d - 64 * i), kr + 64 * i), flip);
      // d2 alone; d1 then d0 into one accumulator, d1's sums shifted up a digit
      // between (each digit's bias starts in lane 0).
      __m512i a2 = bias2, a10 = bias1;
#pragma GCC unroll 4
      for (int i = 0; i < NV; ++i) {
        a2 = _mm512_dpbusd_epi32(a2, kb[i], digit[2][i]);
        a10 = _mm512_dpbusd_epi32(a10, kb[i], digit[1][i]);
      }
      a10 = _mm512_slli_epi32(a10, 8);
#pragma GCC unroll 4
      for (int i = 0; i < NV; ++i) a10 = _mm512_dpbusd_epi32(a10, kb[i], digit[0][i]);
      hi4[r] = a2;
      lo4[r] = a10;
    }
    hi[g] = sum_chunks4(hi4);
    lo[g] = sum_chunks4(lo4);
  }
  // q·k in units: 65536 Σd2 k + (256 Σd1 k + Σd0 k), each exact in int32.
  const __m512i low = _mm512_add_epi32(sum_groups4(lo), bias0);
  const __m512 units = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sum_groups4(hi)), _mm512_set1_ps(65536.0f),
                                       _mm512_cvtepi32_ps(low));
  store_key_group(keys, _mm512_mul_ps(units, unit), s);
}

template <int NV, x86::Prefetch P>
static inline void qk_row(int keys, int d, const float* q, float qmax, const I8* k, std::int64_t ldk,
                          float alpha, float* s, int rows_ahead, RowsAfter next) {
  const __m512 to_units = _mm512_set1_ps(kQUnits / qmax);
  __m512i digit[3][NV];
  __m512i sum[3] = {_mm512_setzero_si512(), _mm512_setzero_si512(), _mm512_setzero_si512()};
#pragma GCC unroll 4
  for (int i = 0; i < NV; ++i) {
    __m128i bytes[3][4];
    for (int c = 0; c < 4; ++c) {
      const int x = 64 * i + 16 * c;
      __m512i ds[3];
      q_digits(_mm512_maskz_loadu_ps(first16(d - x), q + x), to_units, ds);
      for (int t = 0; t < 3; ++t) {
        sum[t] = _mm512_add_epi32(sum[t], ds[t]);
        bytes[t][c] = _mm512_cvtepi32_epi8(ds[t]);
      }
    }
    for (int t = 0; t < 3; ++t) {
      __m512i v = _mm512_castsi128_si512(bytes[t][0]);
      v = _mm512_inserti32x4(v, bytes[t][1], 1);
      v = _mm512_inserti32x4(v, bytes[t][2], 2);
      digit[t][i] = _mm512_inserti32x4(v, bytes[t][3], 3);
    }
  }
  // The codes' +128 adds 128 Σ d_t to digit t's sum: taken back from its
  // accumulator's lane 0 (d1's before the shift that scales it).
  const auto bias = [&](int t) { return -128 * _mm512_reduce_add_epi32(sum[t]); };
  const auto lane0 = [](int v) { return _mm512_maskz_mov_epi32(__mmask16(1), _mm512_set1_epi32(v)); };
  const __m512i bias2 = lane0(bias(2)), bias1 = lane0(bias(1));
  const __m512i bias0 = _mm512_set1_epi32(bias(0));  // added to the 16 keys' sums
  const __m512 unit = _mm512_set1_ps(alpha * (qmax / kQUnits));
  x86::for_each_key16<P>(keys, k, ldk, next, rows_ahead, [&](x86::KeyGroup16<P, I8>& g) {
    qk_keys16<NV, P>(digit, bias1, bias2, bias0, unit, d, g, s);
  });
}

}  // namespace

template <x86::Prefetch P>
bool qk_i8_row_vnni(int keys, int d, const float* q, const I8* k, std::int64_t ldk, float alpha, float* s,
                    int rows_ahead, RowsAfter next) {
  float qmax;
  if (d > kMostD || !q_digits_take(q, d, &qmax)) return false;
  if (keys <= 0) return true;
  switch ((d + 63) / 64) {
    case 1: qk_row<1, P>(keys, d, q, qmax, k, ldk, alpha, s, rows_ahead, next); break;
    case 2: qk_row<2, P>(keys, d, q, qmax, k, ldk, alpha, s, rows_ahead, next); break;
    case 3: qk_row<3, P>(keys, d, q, qmax, k, ldk, alpha, s, rows_ahead, next); break;
    default: qk_row<4, P>(keys, d, q, qmax, k, ldk, alpha, s, rows_ahead, next); break;
  }
  return true;
}

#define ATTNRT_QK_I8_ROW_VNNI(P)                                                                                \
  template bool qk_i8_row_vnni<x86::Prefetch::P>(int, int, const float*, const I8*, std::int64_t, float, float*, \
                                                 int, RowsAfter);
ATTNRT_QK_I8_ROW_VNNI(l1)
ATTNRT_QK_I8_ROW_VNNI(l2)
ATTNRT_QK_I8_ROW_VNNI(l1_and_l2)

}  // namespace attnrt::kernels::avx512
