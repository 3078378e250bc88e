// How close attnrt must come to the double-precision reference, in one place.
// Stated for inputs drawn from [-1, 1] (so |V| <= 1 and every output is a
// weighted mean of V rows): absolute error on O and on LSE.
#pragma once

#include <attnrt/attnrt.h>

#include <cmath>
#include <string_view>

namespace attnrt::test {

struct Tolerance {
  double o;    // max |O - O_ref|
  double lse;  // max |LSE - LSE_ref|
};

inline Tolerance tolerance(attnrt_dtype t, attnrt_precision prec) {
  // Output rounding: fp16 2^-11, bf16 2^-8 relative; P in bf16 adds ~2^-8.
  // A set that keeps P in bf16 (avx512_bf16) sums the rounded P, the
  // weights its P·V applies: LSE is then off by up to log(1 + 2^-8) =
  // 3.9e-3 (found by attnrt-fuzz at 2.1e-3, over the 2e-3 once allowed).
  // fast exp2 (FEXPA alone, 2^(1/128)-1 = 5.4e-3 relative) perturbs each
  // weight, so O by up to ~2x that.
  const bool fast = prec == ATTNRT_EXP2_FAST;
  switch (t) {
    case ATTNRT_F32: return fast ? Tolerance{1.2e-2, 6e-3} : Tolerance{2e-5, 2e-5};
    case ATTNRT_F16: return fast ? Tolerance{1.4e-2, 6e-3} : Tolerance{2e-3, 1e-4};
    case ATTNRT_BF16: return fast ? Tolerance{2.4e-2, 8e-3} : Tolerance{1.6e-2, 4e-3};
    default: break;  // int8/fp8 are K/V dtypes only: the tolerance is q's
  }
  return {0, 0};
}

// LSE is a score plus the log of a sum: where scores are large (ALiBi over
// long rows, big scales or biases) it carries fp32's rounding of them, a
// few ulp of |LSE|, on top of the absolute bound above.
inline double lse_tolerance(Tolerance t, double lse_ref) { return t.lse + std::abs(lse_ref) * 0x1p-20; }

// A kernel set's exp2_rows against exp2 computed in double, for arguments
// x = S - m in [-150, 0] (below -150 and at -inf the result is exactly 0):
// accurate within kExp2AccurateUlp units in the last place of fp32
// (subnormal results included); fast within a relative error that depends on
// the set: 2e-3 in general (the generic degree-3 polynomial measures 7.9e-4,
// the AVX2/AVX-512 degree-2 one 1.96e-3), 5.5e-3 for the SVE sets built on
// FEXPA alone (2^(1/128) - 1 = 5.4e-3).
inline constexpr int kExp2AccurateUlp = 4;
inline double exp2_fast_rel_error(std::string_view set_name) {
  return set_name.starts_with("sve") ? 5.5e-3 : 2e-3;
}

}  // namespace attnrt::test
