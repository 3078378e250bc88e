// exp2 in portable, branch-free C++ so that loops over it vectorize.
// accurate: Cephes-style degree-6 polynomial on [-0.5, 0.5], ~2 ulp.
// fast:     degree-3 Taylor polynomial, ~6e-4 relative error.
// Both: exp2(-inf) and anything below -151 give exactly 0; NaN stays NaN.
#pragma once

#include <bit>
#include <cstdint>

namespace attnrt::kernels::generic {

template <bool Accurate>
inline float exp2_poly(float x) {
  // Clamp first (a NaN compares false and becomes -151, so no conversion below
  // ever sees NaN; it is put back at the end).
  float xc = x >= -151.0f ? x : -151.0f;
  xc = xc <= 128.0f ? xc : 128.0f;
  const float n = (xc + 12582912.0f) - 12582912.0f;  // round to nearest integer
  const float f = xc - n;                           // in [-0.5, 0.5]
  float p;
  if constexpr (Accurate) {
    p = 1.535336188319500e-4f;
    p = p * f + 1.339887440266574e-3f;
    p = p * f + 9.618437357674640e-3f;
    p = p * f + 5.550332471162809e-2f;
    p = p * f + 2.402264791363012e-1f;
    p = p * f + 6.931472028550421e-1f;
    p = p * f + 1.0f;
  } else {
    p = 5.550410866e-2f;
    p = p * f + 2.402265070e-1f;
    p = p * f + 6.931471806e-1f;
    p = p * f + 1.0f;
  }
  // 2^n as two normal powers of two, so results down to the subnormal range
  // (and exact 0 below it) come out right.
  const std::int32_t ni = static_cast<std::int32_t>(n);
  const std::int32_t n1 = ni / 2, n2 = ni - n1;
  const float s1 = std::bit_cast<float>(static_cast<std::uint32_t>(n1 + 127) << 23);
  const float s2 = std::bit_cast<float>(static_cast<std::uint32_t>(n2 + 127) << 23);
  const float r = p * s1 * s2;
  return x == x ? r : x;
}

}  // namespace attnrt::kernels::generic
