// The softmax pieces of the avx2 sets on a 6-row strip of S: row max, the
// fused exp2 pass that writes the P panel, and the rescale of O.
#include <immintrin.h>

#include <cstdint>
#include <limits>

#include "kernels/avx2/exp2.hpp"
#include "kernels/x86/lanes.hpp"
#include "kernels/avx2/ops.hpp"

namespace attnrt::kernels::avx2 {
using namespace x86;  // the 256-bit helpers shared with the avx512 folder
namespace {

float hmax(__m256 v) {
  __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  m = _mm_max_ps(m, _mm_movehl_ps(m, m));
  m = _mm_max_ss(m, _mm_movehdup_ps(m));
  return _mm_cvtss_f32(m);
}

// exp2 of 8 columns [c, c + w) of the first R rows minus their maxima,
// w <= 8, written as the P panel's block at column c (row r at p + r * w: a
// block of the A layout, ops.hpp) and added to the per-row sums; lanes past
// w are neither written nor summed.
template <Exp2Precision P, int R>
inline void exp2_block(const float* s, std::int64_t lds, int c, int w, const float* m, float* p,
                       __m256 sum[kMr]) {
  const __m256i mask = first_lanes(w);
#pragma GCC unroll 6
  for (int r = 0; r < R; ++r) {
    const float* row = s + r * lds + c;
    const __m256 x = w == 8 ? _mm256_loadu_ps(row) : _mm256_maskload_ps(row, mask);
    __m256 e = exp2_softmax<P>(_mm256_sub_ps(x, _mm256_broadcast_ss(m + r)));
    if (w < 8) e = _mm256_and_ps(e, _mm256_castsi256_ps(mask));
    store_upto8(p + r * w, e, w);
    sum[r] = _mm256_add_ps(sum[r], e);
  }
}

// The first R rows (a compile-time count, so the sums stay in registers).
template <Exp2Precision P, int R>
void exp2_rows_impl(const float* s, std::int64_t lds, int cols, const float* mx, float* sum,
                    float* p) {
  __m256 acc[kMr];
  for (int r = 0; r < R; ++r) acc[r] = _mm256_setzero_ps();
  int c = 0;
  for (; c + 8 <= cols; c += 8) exp2_block<P, R>(s, lds, c, 8, mx, p + c * kMr, acc);
  if (c < cols) exp2_block<P, R>(s, lds, c, cols - c, mx, p + c * kMr, acc);
  for (int r = 0; r < R; ++r) sum[r] += sum_lanes(acc[r]);
}

// All six rows, or the few a few-row strip asks for (kernel_set.hpp).
template <Exp2Precision P>
void exp2_rows_impl(const float* s, std::int64_t lds, int rows, int cols, const float* mx,
                    float* sum, float* p) {
  switch (rows) {
    case 1: return exp2_rows_impl<P, 1>(s, lds, cols, mx, sum, p);
    case 2: return exp2_rows_impl<P, 2>(s, lds, cols, mx, sum, p);
    case 3: return exp2_rows_impl<P, 3>(s, lds, cols, mx, sum, p);
    case 4: return exp2_rows_impl<P, 4>(s, lds, cols, mx, sum, p);
    default: return exp2_rows_impl<P, kMr>(s, lds, cols, mx, sum, p);
  }
}

}  // namespace

void row_max(const float* s, std::int64_t lds, int rows, int cols, float* mx) {
  constexpr float kNegInf = -std::numeric_limits<float>::infinity();
  for (int r = 0; r < rows; ++r) {
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

void exp2_rows(const float* s, std::int64_t lds, int rows, int cols, const float* m, float* sum,
               void* p_panel, Exp2Precision precision) {
  float* p = static_cast<float*>(p_panel);
  if (precision == Exp2Precision::accurate)
    exp2_rows_impl<Exp2Precision::accurate>(s, lds, rows, cols, m, sum, p);
  else
    exp2_rows_impl<Exp2Precision::fast>(s, lds, rows, cols, m, sum, p);
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
