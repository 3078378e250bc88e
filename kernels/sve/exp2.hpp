// exp2 on a vector with FEXPA. FEXPA builds 2^(n/64) from the bits of n + 127·64:
// bits [5:0] index a table of 2^(i/64), bits [13:6] become the exponent. So
// y = x·64 + (1.5·2^23 + 127·64) rounds x·64 to the nearest integer n in its
// low mantissa bits and FEXPA(y) = 2^(n/64): `fast`, relative error at most
// 2^(1/128) - 1 = 0.54%. `accurate` multiplies by a cubic in the residual
// r = x - n/64 (|r| <= 1/128), within about 2 ulp of exp2f.
// Both give exact 0 for -inf and for x < -126 (below the normal range), and
// keep NaN; x must be <= 128 (callers pass x = s - max <= 0).
#pragma once

#include "kernels/sve/flavor.hpp"

namespace attnrt::kernels::sve::ATTNRT_SVE_FLAVOR {

inline constexpr float kFexpaShift = 12582912.0f + 127.0f * 64.0f;  // 1.5·2^23 + 127·64

// exp2(x) on lanes of pg; 0 on the other lanes.
template <bool Accurate>
inline svfloat32_t exp2_fexpa(svbool_t pg, svfloat32_t x) {
  const svbool_t all = svptrue_b32();
  const svfloat32_t y = svmla_x(all, svdup_f32(kFexpaShift), x, svdup_f32(64.0f));
  svfloat32_t e = svexpa_f32(svreinterpret_u32_f32(y));
  if constexpr (Accurate) {
    const svfloat32_t n = svsub_x(all, y, svdup_f32(kFexpaShift));       // round(64x), exact
    const svfloat32_t r = svmla_x(all, x, n, svdup_f32(-1.0f / 64.0f));  // x - n/64
    svfloat32_t q = svmad_x(all, svdup_f32(5.550410866e-2f), r, svdup_f32(2.402265070e-1f));
    q = svmad_x(all, q, r, svdup_f32(6.931471806e-1f));
    e = svmla_x(all, e, e, svmul_x(all, q, r));  // e·(1 + (2^r - 1)); NaN x gives NaN r
  } else {
    e = svmla_x(all, e, x, svdup_f32(0.0f));  // NaN x -> NaN (x·0 is 0 for finite x)
  }
  const svbool_t keep = svbic_z(pg, pg, svcmplt(pg, x, -126.0f));  // also -inf; NaN stays
  return svsel(keep, e, svdup_f32(0.0f));
}

}  // namespace attnrt::kernels::sve::ATTNRT_SVE_FLAVOR
