// exp2_rows of the avx512_bf16 set: like exp2_rows, but P is written as a
// bf16 pair panel [kp/2][14][2] for vdpbf16ps (vcvtne2ps2bf16: round to
// nearest even). The row sums add up the rounded values, so the weights
// the P·V kernel applies sum exactly to what O is divided by.
#include "kernels/avx512/intrinsics.hpp"

#include <algorithm>
#include <bit>
#include <cstdint>

#include "kernels/avx512/convert.hpp"
#include "kernels/avx512/exp2.hpp"
#include "kernels/avx512/ops.hpp"
#include "kernels/avx512/transpose.hpp"

namespace attnrt::kernels::avx512 {
namespace {

template <Exp2Precision P>
void exp2_rows_pairs_impl(const float* s, std::int64_t lds, int cols, const float* mx, float* sum,
                          float* p) {  // p: one 32-bit word per pair
  __m512 m[kMr];
  for (int r = 0; r < kMr; ++r) m[r] = _mm512_set1_ps(mx[r]);
  const __mmask16 rows = first16(kMr);
  const __m512i high_half = _mm512_set1_epi32(static_cast<int>(0xffff0000u));
  __m512 acc = _mm512_setzero_ps();  // lane r: sum of row r
  for (int c = 0; c < cols; c += 32) {
    const int w = std::min(32, cols - c);
    const __mmask16 v0 = first16(w), v1 = first16(w - 16);
    __m512 e[16];
    for (int r = 0; r < kMr; ++r) {
      const float* row = s + r * lds + c;
      const __m512 lo =
          _mm512_maskz_mov_ps(v0, exp2<P>(_mm512_sub_ps(_mm512_maskz_loadu_ps(v0, row), m[r])));
      const __m512 hi = _mm512_maskz_mov_ps(
          v1, exp2<P>(_mm512_sub_ps(_mm512_maskz_loadu_ps(v1, row + 16), m[r])));
      // Word j of the result is columns (2j, 2j+1): one pair, as the panel wants.
      e[r] = std::bit_cast<__m512>(_mm512_cvtne2ps_pbh(hi, lo));
    }
    for (int r = kMr; r < 16; ++r) e[r] = _mm512_setzero_ps();
    transpose16x16(e);  // e[j]: pair c/2 + j, lane r = row r
    const int pairs = (w + 1) / 2;
    for (int j = 0; j < pairs; ++j) _mm512_mask_storeu_ps(p + (c / 2 + j) * kMr, rows, e[j]);
    for (int j = 0; j < pairs; ++j) {
      const __m512i pr = _mm512_castps_si512(e[j]);
      const __m512 even = _mm512_castsi512_ps(_mm512_slli_epi32(pr, 16));
      const __m512 odd = _mm512_castsi512_ps(_mm512_and_si512(pr, high_half));
      acc = _mm512_add_ps(acc, _mm512_add_ps(even, odd));
    }
  }
  alignas(64) float lanes[16];
  _mm512_store_ps(lanes, acc);
  for (int r = 0; r < kMr; ++r) sum[r] += lanes[r];
}

}  // namespace

// All 14 rows whatever `rows` asks (the set has no few-row P·V): the pairs
// are transposed 16 rows at a time.
void exp2_rows_pairs(const float* s, std::int64_t lds, int /*rows*/, int cols, const float* m,
                     float* sum, void* p_panel, Exp2Precision precision) {
  float* p = static_cast<float*>(p_panel);
  if (precision == Exp2Precision::accurate)
    exp2_rows_pairs_impl<Exp2Precision::accurate>(s, lds, cols, m, sum, p);
  else
    exp2_rows_pairs_impl<Exp2Precision::fast>(s, lds, cols, m, sum, p);
}

}  // namespace attnrt::kernels::avx512
