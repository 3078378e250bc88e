// One decode row's q as three signed 8-bit digits of a 23-bit fixed point
// relative to its largest |q|, the form in which the int8 Q·Kᵀ kernels
// multiply it with K codes in integers (int8_vnni.cpp on vpdpbusd,
// qk_row_i8_amx.cpp on AMX tiles): q = (d0 + 256 d1 + 65536 d2) units.
#pragma once

#include "kernels/avx512/intrinsics.hpp"

#include "kernels/avx512/convert.hpp"

namespace attnrt::kernels::avx512 {

// The fixed point: |q| <= 2^22 units, so d2 stays within 65.
inline constexpr float kQUnits = 4194304.0f;

// The largest |q| of the row's d elements, or false for a row the digits do
// not represent: an element not finite, or the largest outside [2^-100,
// FLT_MAX] (below, the step kQUnits / qmax could overflow; above, it and
// the units are finite).
static inline bool q_digits_take(const float* q, int d, float* qmax) {
  __m512 m = _mm512_setzero_ps();
  __mmask16 nan = 0;  // (max drops NaN lanes)
  for (int x = 0; x < d; x += 16) {
    const __m512 v = _mm512_maskz_loadu_ps(first16(d - x), q + x);
    m = _mm512_max_ps(m, _mm512_abs_ps(v));
    nan |= _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
  }
  *qmax = _mm512_reduce_max_ps(m);
  return !nan && *qmax >= 0x1p-100f && *qmax <= 3.4e38f;
}

// The digits of 16 elements of q (to_units: kQUnits / qmax), balanced
// base-256: each the low byte sign-extended, the rest carried.
static inline void q_digits(__m512 qv, __m512 to_units, __m512i (&ds)[3]) {
  const auto low_digit = [](__m512i v) { return _mm512_srai_epi32(_mm512_slli_epi32(v, 24), 24); };
  const __m512i units =
      _mm512_cvt_roundps_epi32(_mm512_mul_ps(qv, to_units), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  ds[0] = low_digit(units);
  const __m512i r1 = _mm512_srai_epi32(_mm512_sub_epi32(units, ds[0]), 8);
  ds[1] = low_digit(r1);
  ds[2] = _mm512_srai_epi32(_mm512_sub_epi32(r1, ds[1]), 8);
}

}  // namespace attnrt::kernels::avx512
