// exp2 on 16 fp32 lanes with AVX-512F: the one every avx512 kernel uses.
//
//   accurate: degree-5 polynomial (kernels/exp2_coefficients.hpp)
//   fast:     degree-2 polynomial, relative error below 2e-3
//
// x = n + f with n = round(x) and f in [-0.5, 0.5]; vscalefps computes
// p * 2^n with a single rounding, so subnormal results are right to the last
// bit, everything below 2^-150 is exactly 0 and x near 128 does not
// overflow early. The clamp to [-151, 128] only keeps +-inf out of x - n
// (inf - inf would be NaN); it puts the constant first because max/min
// return their second operand when either operand is NaN, so NaN stays NaN.
#pragma once

#include "kernels/avx512/intrinsics.hpp"

#include <iterator>

#include "kernels/exp2_coefficients.hpp"

namespace attnrt::kernels::avx512 {

template <Exp2Precision P>
static inline __m512 exp2(__m512 x) {
  const __m512 xc =
      _mm512_min_ps(_mm512_set1_ps(128.0f), _mm512_max_ps(_mm512_set1_ps(-151.0f), x));
  const __m512 n = _mm512_roundscale_ps(xc, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  const __m512 f = _mm512_sub_ps(xc, n);
  constexpr auto& c = exp2_coefficients<P>();
  constexpr int deg = static_cast<int>(std::size(c)) - 1;
  __m512 p = _mm512_set1_ps(c[deg]);
  for (int i = deg - 1; i >= 0; --i) p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(c[i]));
  return _mm512_scalef_ps(p, n);
}

}  // namespace attnrt::kernels::avx512
