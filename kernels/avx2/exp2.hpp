// exp2 on 8 fp32 lanes with AVX2 + FMA: the one every avx2 kernel uses.
//
//   accurate: degree-5 polynomial, within 2 ulp of exp2 on [-151, 128]
//             (exhaustively checked once; tests/test_x86_kernels.cpp keeps
//             checking <= 4 ulp on a dense sample)
//   fast:     degree-2 polynomial, relative error below 2e-3
// (kernels/exp2_coefficients.hpp has the polynomials.)
//
// x = n + f with n = round(x) and f in [-0.5, 0.5]. 2^f comes from a
// minimax polynomial for the relative error whose constant term is fixed,
// so exp2(0) == 1 exactly; 2^n from exponent bits. The polynomial returns
// 2 * 2^f and the exponent is built for 2^(n-1), so n = 128 still has a
// normal scale factor and x just below 128 does not overflow. Below 2^-126
// the result is (p * 2^(n-1+64)) * 2^-64: the first product is exact and the
// second rounds once, so subnormal results are right to the last bit and
// everything below 2^-150 is exactly 0 (-inf included). NaN stays NaN: the
// clamps put the constant first because max/min return their second operand
// when either operand is NaN.
//
// Functions here have internal linkage so that every translation unit gets
// its own copy, compiled with its own flags (see kernels/avx2/ops.hpp).
#pragma once

#include <immintrin.h>

#include <iterator>

#include "kernels/exp2_coefficients.hpp"

namespace attnrt::kernels::avx2 {

// 2 * 2^f for f in [-0.5, 0.5] (the coefficients of 2^f, doubled exactly).
template <Exp2Precision P>
static inline __m256 exp2_reduced_times2(__m256 f) {
  constexpr auto& c = exp2_coefficients<P>();
  constexpr int n = static_cast<int>(std::size(c));
  __m256 p = _mm256_set1_ps(2.0f * c[n - 1]);
  for (int i = n - 2; i >= 0; --i) p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(2.0f * c[i]));
  return p;
}

template <Exp2Precision P>
static inline __m256 exp2(__m256 x) {
  const __m256 xc =
      _mm256_min_ps(_mm256_set1_ps(128.0f), _mm256_max_ps(_mm256_set1_ps(-151.0f), x));
  // Adding 1.5 * 2^23 rounds to an integer held in the low mantissa bits; the
  // extra 126 makes those bits the biased exponent of 2^(n-1).
  const __m256 shifter = _mm256_set1_ps(12582912.0f + 126.0f);
  const __m256 t = _mm256_add_ps(xc, shifter);
  const __m256 n = _mm256_sub_ps(t, shifter);
  const __m256 p = exp2_reduced_times2<P>(_mm256_sub_ps(xc, n));
  const __m256i e = _mm256_slli_epi32(_mm256_castps_si256(t), 23);  // 2^(n-1), n >= -125
  const __m256 normal = _mm256_mul_ps(p, _mm256_castsi256_ps(e));
  const __m256i e_up = _mm256_add_epi32(e, _mm256_set1_epi32(64 << 23));  // 2^(n-1+64)
  const __m256 tiny =
      _mm256_mul_ps(_mm256_mul_ps(p, _mm256_castsi256_ps(e_up)), _mm256_set1_ps(0x1p-64f));
  return _mm256_blendv_ps(normal, tiny, _mm256_cmp_ps(n, _mm256_set1_ps(-125.5f), _CMP_LT_OQ));
}

// exp2 of a softmax exponent x = S - max (x <= 0 in use; right up to x =
// 127): the same polynomial with no overflow or subnormal path, ~40% fewer
// instructions than exp2() above. Results below 2^-126 are flushed to 0 as
// the KernelSet contract allows (exp2_rows); -inf gives 0 and NaN stays NaN.
// Clamping at -127 makes n >= -127, so 2^n is built from a biased exponent
// >= 0, and exponent 0 is the value 0: everything below 2^-126.5 is exactly 0.
template <Exp2Precision P>
static inline __m256 exp2_softmax(__m256 x) {
  constexpr auto& c = exp2_coefficients<P>();
  constexpr int deg = static_cast<int>(std::size(c)) - 1;
  const __m256 xc = _mm256_max_ps(_mm256_set1_ps(-127.0f), x);  // NaN passes (second operand)
  const __m256 shifter = _mm256_set1_ps(12582912.0f + 127.0f);   // low bits: n + 127
  const __m256 t = _mm256_add_ps(xc, shifter);
  const __m256 f = _mm256_sub_ps(xc, _mm256_sub_ps(t, shifter));
  __m256 p;
  if constexpr (deg == 5) {
    // Estrin: three independent pairs, then two levels; 12 cycles of FMA
    // latency instead of Horner's 20, so more rows fit in flight.
    const __m256 f2 = _mm256_mul_ps(f, f), f4 = _mm256_mul_ps(f2, f2);
    const __m256 a = _mm256_fmadd_ps(_mm256_set1_ps(c[1]), f, _mm256_set1_ps(c[0]));
    const __m256 b = _mm256_fmadd_ps(_mm256_set1_ps(c[3]), f, _mm256_set1_ps(c[2]));
    const __m256 d = _mm256_fmadd_ps(_mm256_set1_ps(c[5]), f, _mm256_set1_ps(c[4]));
    p = _mm256_fmadd_ps(f4, d, _mm256_fmadd_ps(f2, b, a));
  } else {
    p = _mm256_set1_ps(c[deg]);
    for (int i = deg - 1; i >= 0; --i) p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(c[i]));
  }
  return _mm256_mul_ps(p, _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_castps_si256(t), 23)));
}

}  // namespace attnrt::kernels::avx2
