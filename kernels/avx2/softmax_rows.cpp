// The softmax pieces of the avx2 sets on a 6-row strip of S: row max, the
// fused exp2 pass that writes the P panel, and the rescale of O.
#include <immintrin.h>

#include <cstdint>
#include <limits>

#include "kernels/avx2/exp2.hpp"
#include "kernels/avx2/lanes.hpp"
#include "kernels/avx2/ops.hpp"
#include "kernels/avx2/transpose.hpp"

namespace attnrt::kernels::avx2 {
namespace {

float hmax(__m256 v) {
  __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  m = _mm_max_ps(m, _mm_movehl_ps(m, m));
  m = _mm_max_ss(m, _mm_movehdup_ps(m));
  return _mm_cvtss_f32(m);
}

// exp2 of 8 columns [c, c + w) of the six rows minus their maxima, w <= 8;
// lanes past w are 0. Writes the columns into the P panel at p (column j at
// p + 6j; `last` says whether they end the panel) and adds them to the
// per-row sums held in lanes 0..5 of `sum`.
template <Exp2Precision P>
inline void exp2_block(const float* s, std::int64_t lds, int c, int w, const __m256 m[kMr],
                       float* p, bool last, __m256& sum) {
  __m256 e[kMr], col[8];
  if (w == 8) {
    for (int r = 0; r < kMr; ++r)
      e[r] = exp2<P>(_mm256_sub_ps(_mm256_loadu_ps(s + r * lds + c), m[r]));
  } else {
    const __m256i mask = first_lanes(w);
    for (int r = 0; r < kMr; ++r) {
      const __m256 x = _mm256_maskload_ps(s + r * lds + c, mask);
      e[r] = _mm256_and_ps(exp2<P>(_mm256_sub_ps(x, m[r])), _mm256_castsi256_ps(mask));
    }
  }
  transpose6x8(e, col);
  if (last)
    store_columns6(p, col, w);
  else
    for (int j = 0; j < 8; ++j) _mm256_storeu_ps(p + kMr * j, col[j]);  // see store_columns6
  const __m256 s01 = _mm256_add_ps(col[0], col[1]), s23 = _mm256_add_ps(col[2], col[3]);
  const __m256 s45 = _mm256_add_ps(col[4], col[5]), s67 = _mm256_add_ps(col[6], col[7]);
  sum = _mm256_add_ps(sum, _mm256_add_ps(_mm256_add_ps(s01, s23), _mm256_add_ps(s45, s67)));
}

template <Exp2Precision P>
void exp2_rows_impl(const float* s, std::int64_t lds, int cols, const float* mx, float* sum,
                    float* p) {
  __m256 m[kMr];
  for (int r = 0; r < kMr; ++r) m[r] = _mm256_set1_ps(mx[r]);
  __m256 acc = _mm256_setzero_ps();
  int c = 0;
  for (; c + 8 < cols; c += 8) exp2_block<P>(s, lds, c, 8, m, p + c * kMr, false, acc);
  if (c < cols) exp2_block<P>(s, lds, c, cols - c, m, p + c * kMr, true, acc);
  alignas(32) float lanes[8];
  _mm256_store_ps(lanes, acc);
  for (int r = 0; r < kMr; ++r) sum[r] += lanes[r];
}

}  // namespace

void row_max(const float* s, std::int64_t lds, int cols, float* mx) {
  constexpr float kNegInf = -std::numeric_limits<float>::infinity();
  for (int r = 0; r < kMr; ++r) {
    const float* row = s + r * lds;
    // max(x, m) returns m when x is NaN: a NaN score never becomes the max
    // (it still turns P and the row sum into NaN later).
    __m256 m0 = _mm256_set1_ps(mx[r]), m1 = m0;
    int c = 0;
    for (; c + 16 <= cols; c += 16) {
      m0 = _mm256_max_ps(_mm256_loadu_ps(row + c), m0);
      m1 = _mm256_max_ps(_mm256_loadu_ps(row + c + 8), m1);
    }
    if (c + 8 <= cols) {
      m0 = _mm256_max_ps(_mm256_loadu_ps(row + c), m0);
      c += 8;
    }
    if (c < cols) {
      if (cols >= 8) {  // the last 8 columns again: max does not mind repeats
        m1 = _mm256_max_ps(_mm256_loadu_ps(row + cols - 8), m1);
      } else {
        const __m256i mask = first_lanes(cols - c);
        const __m256 x = _mm256_blendv_ps(
            _mm256_set1_ps(kNegInf), _mm256_maskload_ps(row + c, mask), _mm256_castsi256_ps(mask));
        m1 = _mm256_max_ps(x, m1);
      }
    }
    mx[r] = hmax(_mm256_max_ps(m0, m1));
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
    const __m256 a = _mm256_set1_ps(alpha[r]);
    int c = 0;
    for (; c + 8 <= cols; c += 8)
      _mm256_storeu_ps(row + c, _mm256_mul_ps(_mm256_loadu_ps(row + c), a));
    for (; c < cols; ++c) row[c] *= alpha[r];
  }
}

}  // namespace attnrt::kernels::avx2
