// exp2 over an array with the avx2 kernels' vector exp2, for tests and
// benchmarks (which are compiled without AVX2 flags and call it through
// kernel_set.hpp).
#include <immintrin.h>

#include "kernels/avx2/exp2.hpp"
#include "kernels/avx2/kernel_set.hpp"

namespace attnrt::kernels::avx2 {
namespace {

template <Exp2Precision P>
void exp2_array_impl(const float* x, float* y, std::int64_t n) {
  std::int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, exp2<P>(_mm256_loadu_ps(x + i)));
  if (i < n) {
    float buf[8] = {};
    for (std::int64_t j = i; j < n; ++j) buf[j - i] = x[j];
    _mm256_storeu_ps(buf, exp2<P>(_mm256_loadu_ps(buf)));
    for (std::int64_t j = i; j < n; ++j) y[j] = buf[j - i];
  }
}

}  // namespace

void exp2_array(const float* x, float* y, std::int64_t n, Exp2Precision precision) {
  if (precision == Exp2Precision::accurate)
    exp2_array_impl<Exp2Precision::accurate>(x, y, n);
  else
    exp2_array_impl<Exp2Precision::fast>(x, y, n);
}

}  // namespace attnrt::kernels::avx2
