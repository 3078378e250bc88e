// exp2 on 16 fp32 lanes with AVX-512F: the one every avx512 kernel uses.
//
//   accurate: degree-5 polynomial (kernels/exp2_coefficients.hpp)
//   fast:     degree-2 polynomial, relative error below 2e-3
//
// x = n + f with n = round(x) and f = x - n in [-0.5, 0.5], f from one
// vreduceps (AVX512DQ): it gives 0 for +-inf and NaN for NaN, so no clamp is
// needed to keep inf - inf out of the polynomial. n = x - f is exact, and a
// subtraction is cheaper than rounding x again (vrndscaleps: an exp2 pass
// ~5% faster on a Sapphire Rapids-class core). vscalefps computes
// p * 2^n with a single rounding, so subnormal results are right to the last
// bit, everything below 2^-150 (n = -inf included) is exactly 0, x near 128
// does not overflow early and NaN stays NaN.
#pragma once

#include "kernels/avx512/intrinsics.hpp"

#include <iterator>

#include "kernels/exp2_coefficients.hpp"

namespace attnrt::kernels::avx512 {

template <Exp2Precision P>
static inline __m512 exp2(__m512 x) {
  constexpr int kNearest = _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC;
  const __m512 f = _mm512_reduce_ps(x, kNearest);
  const __m512 n = _mm512_sub_ps(x, f);
  constexpr auto& c = exp2_coefficients<P>();
  constexpr int deg = static_cast<int>(std::size(c)) - 1;
  __m512 p = _mm512_set1_ps(c[deg]);
  for (int i = deg - 1; i >= 0; --i) p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(c[i]));
  return _mm512_scalef_ps(p, n);
}

}  // namespace attnrt::kernels::avx512
