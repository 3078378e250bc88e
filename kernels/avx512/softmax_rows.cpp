// The softmax pieces of the avx512 sets on a 14-row strip of S: row max,
// the fused exp2 pass that writes an fp32 P panel (row stores into the A
// panel's [14][16] blocks), and the rescale of O.
// (exp2_rows_pairs, for the bf16 set, is in softmax_rows_bf16.cpp.)
#include "kernels/avx512/intrinsics.hpp"

#include <cstdint>
#include <limits>

#include "kernels/avx512/convert.hpp"
#include "kernels/avx512/exp2.hpp"
#include "kernels/avx512/ops.hpp"

namespace attnrt::kernels::avx512 {
namespace {

// Row by row: S is read front to back, and row r of P goes to row r of each
// [14][16] block of the panel (ops.hpp, kABlock), 16 columns a store. One
// accumulator per row, kept in a register (GCC 12 kept an array of 14 of
// them, indexed across blocks, in memory).
template <Exp2Precision P>
void exp2_rows_impl(const float* s, std::int64_t lds, int rows, int cols, const float* mx,
                    float* sum, float* p) {
  const int full = cols / kABlock * kABlock, tail = cols - full;
  for (int r = 0; r < rows; ++r) {
    const float* row = s + r * lds;
    const __m512 m = _mm512_set1_ps(mx[r]);
    __m512 acc = _mm512_setzero_ps();
    for (int c = 0; c < full; c += kABlock) {
      const __m512 e = exp2<P>(_mm512_sub_ps(_mm512_loadu_ps(row + c), m));
      _mm512_storeu_ps(p + c * kMr + r * kABlock, e);
      acc = _mm512_add_ps(acc, e);
    }
    if (tail > 0) {  // the last block, [14][tail]: lanes past it neither read nor written, summed as 0
      const __mmask16 valid = first16(tail);
      const __m512 e = _mm512_maskz_mov_ps(valid, exp2<P>(_mm512_sub_ps(_mm512_maskz_loadu_ps(valid, row + full), m)));
      _mm512_mask_storeu_ps(p + full * kMr + r * tail, valid, e);
      acc = _mm512_add_ps(acc, e);
    }
    sum[r] += _mm512_reduce_add_ps(acc);
  }
}

template <int Rows>
void rescale_rows(float* o, std::int64_t ldo, int cols, const float* alpha) {
  for (int r = 0; r < Rows; ++r) {
    float* row = o + r * ldo;
    const __m512 a = _mm512_set1_ps(alpha[r]);
    for (int c = 0; c < cols; c += 16) {
      const __mmask16 k = first16(cols - c);
      _mm512_mask_storeu_ps(row + c, k, _mm512_mul_ps(_mm512_maskz_loadu_ps(k, row + c), a));
    }
  }
}

}  // namespace

void row_max(const float* s, std::int64_t lds, int rows, int cols, float* mx) {
  const __m512 neg_inf = _mm512_set1_ps(-std::numeric_limits<float>::infinity());
  for (int r = 0; r < rows; ++r) {
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

void exp2_rows(const float* s, std::int64_t lds, int rows, int cols, const float* m, float* sum,
               void* p_panel, Exp2Precision precision) {
  float* p = static_cast<float*>(p_panel);
  if (precision == Exp2Precision::accurate)
    exp2_rows_impl<Exp2Precision::accurate>(s, lds, rows, cols, m, sum, p);
  else
    exp2_rows_impl<Exp2Precision::fast>(s, lds, rows, cols, m, sum, p);
}

void rescale(float* o, std::int64_t ldo, int cols, const float* alpha) { rescale_rows<kMr>(o, ldo, cols, alpha); }
void rescale_32(float* o, std::int64_t ldo, int cols, const float* alpha) { rescale_rows<32>(o, ldo, cols, alpha); }

}  // namespace attnrt::kernels::avx512
