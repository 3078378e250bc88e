// Final normalization of an O strip into the user's output dtype.
#include <immintrin.h>

#include <cstdint>

#include "kernels/x86/convert.hpp"
#include "kernels/avx2/ops.hpp"

namespace attnrt::kernels::avx2 {
using namespace x86;  // the 256-bit helpers shared with the avx512 folder
namespace {

// x * 0 is 0 for a finite x and NaN for NaN or inf: one FMA per vector
// finds a non-finite value, compared once at the end.
template <class T>
bool normalize_to(const float* o, std::int64_t ldo, int rows, int cols, const float* inv_sum,
                  T* out, std::int64_t ld_out, DType out_type) {
  const __m256 zero = _mm256_setzero_ps();
  __m256 bad = zero;
  float tail_bad = 0.0f;
  for (int r = 0; r < rows; ++r) {
    const float* src = o + r * ldo;
    T* dst = out + r * ld_out;
    const __m256 inv = _mm256_set1_ps(inv_sum[r]);
    int c = 0;
    for (; c + 8 <= cols; c += 8) {
      const __m256 y = _mm256_mul_ps(_mm256_loadu_ps(src + c), inv);
      bad = _mm256_fmadd_ps(y, zero, bad);
      store8(dst + c, y);
    }
    if (c < cols) {  // the tail through the scalar conversions
      float tail[8];
      for (int i = 0; c + i < cols; ++i) {
        tail[i] = src[c + i] * inv_sum[r];
        tail_bad += tail[i] * 0.0f;
      }
      store_row(tail, cols - c, dst + c, out_type);
    }
  }
  bad = _mm256_add_ps(bad, _mm256_set1_ps(tail_bad));
  return _mm256_movemask_ps(_mm256_cmp_ps(bad, bad, _CMP_UNORD_Q)) != 0;
}

}  // namespace

bool normalize(const float* o, std::int64_t ldo, int rows, int cols, const float* inv_sum,
               void* out, std::int64_t ld_out, DType out_type) {
  switch (out_type) {
    case DType::f32:
      return normalize_to(o, ldo, rows, cols, inv_sum, static_cast<float*>(out), ld_out, out_type);
    case DType::f16:
      return normalize_to(o, ldo, rows, cols, inv_sum, static_cast<Fp16*>(out), ld_out, out_type);
    case DType::bf16:
      return normalize_to(o, ldo, rows, cols, inv_sum, static_cast<Bf16*>(out), ld_out, out_type);
  }
  return false;
}

}  // namespace attnrt::kernels::avx2
