// The softmax pieces of the avx512 sets on a 14-row strip of S: row max,
// the fused exp2 pass that writes an fp32 P panel, and the rescale of O.
// (exp2_rows_pairs, for the bf16 set, is in softmax_rows_bf16.cpp.)
#include "kernels/avx512/intrinsics.hpp"

#include <algorithm>
#include <cstdint>
#include <limits>

#include "kernels/avx512/convert.hpp"
#include "kernels/avx512/exp2.hpp"
#include "kernels/avx512/ops.hpp"
#include "kernels/avx512/transpose.hpp"

namespace attnrt::kernels::avx512 {
namespace {

template <Exp2Precision P>
void exp2_rows_impl(const float* s, std::int64_t lds, int cols, const float* mx, float* sum,
                    float* p) {
  __m512 m[kMr];
  for (int r = 0; r < kMr; ++r) m[r] = _mm512_set1_ps(mx[r]);
  const __mmask16 rows = first16(kMr);
  __m512 acc = _mm512_setzero_ps();  // lane r: sum of row r
  for (int c = 0; c < cols; c += 16) {
    const int w = std::min(16, cols - c);
    const __mmask16 valid = first16(w);
    __m512 e[16];
    for (int r = 0; r < kMr; ++r) {
      const __m512 x = _mm512_sub_ps(_mm512_maskz_loadu_ps(valid, s + r * lds + c), m[r]);
      e[r] = _mm512_maskz_mov_ps(valid, exp2<P>(x));  // columns past cols are 0
    }
    for (int r = kMr; r < 16; ++r) e[r] = _mm512_setzero_ps();
    transpose16x16(e);  // e[j]: column c + j, lane r = row r
    for (int j = 0; j < w; ++j) _mm512_mask_storeu_ps(p + (c + j) * kMr, rows, e[j]);
    for (int j = 0; j < 16; j += 2) acc = _mm512_add_ps(acc, _mm512_add_ps(e[j], e[j + 1]));
  }
  alignas(64) float lanes[16];
  _mm512_store_ps(lanes, acc);
  for (int r = 0; r < kMr; ++r) sum[r] += lanes[r];
}

}  // namespace

void row_max(const float* s, std::int64_t lds, int cols, float* mx) {
  const __m512 neg_inf = _mm512_set1_ps(-std::numeric_limits<float>::infinity());
  for (int r = 0; r < kMr; ++r) {
    const float* row = s + r * lds;
    // max(x, m) returns m when x is NaN: a NaN score never becomes the max
    // (it still turns P and the row sum into NaN later).
    __m512 m0 = _mm512_set1_ps(mx[r]), m1 = m0;
    int c = 0;
    for (; c + 32 <= cols; c += 32) {
      m0 = _mm512_max_ps(_mm512_loadu_ps(row + c), m0);
      m1 = _mm512_max_ps(_mm512_loadu_ps(row + c + 16), m1);
    }
    for (; c < cols; c += 16)
      m0 = _mm512_max_ps(_mm512_mask_loadu_ps(neg_inf, first16(cols - c), row + c), m0);
    mx[r] = _mm512_reduce_max_ps(_mm512_max_ps(m0, m1));
  }
}

void exp2_rows(const float* s, std::int64_t lds, int cols, const float* m, float* sum,
               void* p_panel, Exp2Precision precision) {
  float* p = static_cast<float*>(p_panel);
  if (precision == Exp2Precision::accurate)
    exp2_rows_impl<Exp2Precision::accurate>(s, lds, cols, m, sum, p);
  else
    exp2_rows_impl<Exp2Precision::fast>(s, lds, cols, m, sum, p);
}

void rescale(float* o, std::int64_t ldo, int cols, const float* alpha) {
  for (int r = 0; r < kMr; ++r) {
    float* row = o + r * ldo;
    const __m512 a = _mm512_set1_ps(alpha[r]);
    for (int c = 0; c < cols; c += 16) {
      const __mmask16 k = first16(cols - c);
      _mm512_mask_storeu_ps(row + c, k, _mm512_mul_ps(_mm512_maskz_loadu_ps(k, row + c), a));
    }
  }
}

}  // namespace attnrt::kernels::avx512
