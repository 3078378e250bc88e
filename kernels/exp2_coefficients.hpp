// Polynomials for 2^f on f in [-0.5, 0.5], shared by the vector exp2 of the
// SIMD kernel sets. Minimax for the relative error with the constant term
// fixed at 1, so exp2(0) == 1 exactly (the row maximum weighs exactly 1).
// Fitted with a Remez exchange in 40-digit arithmetic, rounded to fp32.
#pragma once

#include "kernels/kernel_set.hpp"

namespace attnrt::kernels {

// c[i] multiplies f^i.
// accurate: degree 5, 9.2e-8 relative error (about 1 ulp) before rounding;
// evaluated with FMA in fp32 the result is within 2 ulp of exp2 on all of
// [-151, 128] (checked exhaustively for the avx2 exp2).
inline constexpr float kExp2Accurate[] = {
    1.0f, 6.931469776e-01f, 2.402224209e-01f, 5.550733742e-02f, 9.671512640e-03f, 1.326472758e-03f};
// fast: degree 2, 1.96e-3 relative error.
inline constexpr float kExp2Fast[] = {1.0f, 7.029417940e-01f, 2.398640290e-01f};

template <Exp2Precision P>
constexpr const auto& exp2_coefficients() {
  if constexpr (P == Exp2Precision::accurate)
    return kExp2Accurate;
  else
    return kExp2Fast;
}

}  // namespace attnrt::kernels
