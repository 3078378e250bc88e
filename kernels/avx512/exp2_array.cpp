// exp2 over an array with the avx512 kernels' vector exp2, for tests and
// benchmarks (which are compiled without AVX-512 flags and call it through
// kernel_set.hpp).
#include "kernels/avx512/intrinsics.hpp"

#include "kernels/avx512/convert.hpp"
#include "kernels/avx512/exp2.hpp"
#include "kernels/avx512/kernel_set.hpp"

namespace attnrt::kernels::avx512 {
namespace {

template <Exp2Precision P>
void exp2_array_impl(const float* x, float* y, std::int64_t n) {
  for (std::int64_t i = 0; i < n; i += 16) {
    const int w = n - i < 16 ? static_cast<int>(n - i) : 16;
    _mm512_mask_storeu_ps(y + i, first16(w), exp2<P>(_mm512_maskz_loadu_ps(first16(w), x + i)));
  }
}

}  // namespace

void exp2_array(const float* x, float* y, std::int64_t n, Exp2Precision precision) {
  if (precision == Exp2Precision::accurate)
    exp2_array_impl<Exp2Precision::accurate>(x, y, n);
  else
    exp2_array_impl<Exp2Precision::fast>(x, y, n);
}

}  // namespace attnrt::kernels::avx512
