// Final normalization of an O strip into the user's output dtype; tails by
// masked stores.
#include "kernels/avx512/intrinsics.hpp"

#include <cstdint>

#include "kernels/avx512/convert.hpp"
#include "kernels/avx512/ops.hpp"

namespace attnrt::kernels::avx512 {
namespace {

// x * 0 is 0 for a finite x and NaN for NaN or inf: one FMA per vector
// finds a non-finite value, summed over the lanes once.
template <class T>
bool normalize_to(const float* o, std::int64_t ldo, int rows, int cols, const float* inv_sum,
                  T* out, std::int64_t ld_out) {
  const __m512 zero = _mm512_setzero_ps();
  __m512 bad = zero;
  for (int r = 0; r < rows; ++r) {
    const float* src = o + r * ldo;
    T* dst = out + r * ld_out;
    const __m512 inv = _mm512_set1_ps(inv_sum[r]);
    for (int c = 0; c < cols; c += 16) {
      const __m512 y = _mm512_mul_ps(_mm512_maskz_loadu_ps(first16(cols - c), src + c), inv);
      bad = _mm512_fmadd_ps(y, zero, bad);
      store16(dst + c, y, cols - c);
    }
  }
  return _mm512_cmp_ps_mask(bad, bad, _CMP_UNORD_Q) != 0;
}

}  // namespace

bool normalize(const float* o, std::int64_t ldo, int rows, int cols, const float* inv_sum,
               void* out, std::int64_t ld_out, DType out_type) {
  switch (out_type) {
    case DType::f32:
      return normalize_to(o, ldo, rows, cols, inv_sum, static_cast<float*>(out), ld_out);
    case DType::f16:
      return normalize_to(o, ldo, rows, cols, inv_sum, static_cast<Fp16*>(out), ld_out);
    case DType::bf16:
      return normalize_to(o, ldo, rows, cols, inv_sum, static_cast<Bf16*>(out), ld_out);
  }
  return false;
}

}  // namespace attnrt::kernels::avx512
