// Turning raw Q·Kᵀ tiles into log2-domain scores: softcap, bias and the
// key-interval mask. Shared by every pipeline; runs only on tiles that need
// it (boundary tiles, or when softcap/bias are on).
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>

#include "kernels/problem.hpp"

namespace attnrt::kernels {

inline constexpr float kLog2e = 1.4426950408889634f;
inline constexpr float kLn2 = 0.6931471805599453f;

// The factor the qk micro-kernel applies: straight to log2 units unless a
// softcap must see natural-unit scores first.
inline float qk_alpha(const HeadProblem& p) {
  return p.softcap > 0.0f ? p.scale : p.scale * kLog2e;
}

// Whether keys [k0, k1) are visible to every row in [i0, i1).
inline bool block_unmasked(const HeadProblem& p, std::int64_t i0, std::int64_t i1,
                           std::int64_t k0, std::int64_t k1) {
  // lo() and hi() are monotone in i, so the extreme rows decide.
  return p.key_lo(i1 - 1) <= k0 && p.key_hi(i0) >= k1;
}

// Finishes an S strip of `rows` query rows (first row i0) over keys
// [k0, k0 + cols), stored at s with row stride lds: applies softcap and bias
// (converting to log2 units) and writes -inf outside each row's key interval
// and outside [t_k0, t_k1) (the tile's key range).
inline void finish_scores(const HeadProblem& p, float* s, std::int64_t lds, int rows,
                          std::int64_t i0, std::int64_t k0, int cols, std::int64_t t_k0,
                          std::int64_t t_k1) {
  constexpr float ninf = -std::numeric_limits<float>::infinity();
  const bool cap = p.softcap > 0.0f;
  const float inv_cap = cap ? 1.0f / p.softcap : 0.0f;
  const float cap_log2 = p.softcap * kLog2e;
  for (int r = 0; r < rows; ++r) {
    float* row = s + r * lds;
    const std::int64_t i = i0 + r;
    if (cap)
      for (int c = 0; c < cols; ++c) row[c] = cap_log2 * std::tanh(row[c] * inv_cap);
    if (p.bias) {
      const float* b = p.bias + i * p.ldbias + k0;
      for (int c = 0; c < cols; ++c) row[c] += b[c] * kLog2e;
    }
    const std::int64_t lo = std::max(p.key_lo(i), t_k0), hi = std::min(p.key_hi(i), t_k1);
    for (int c = 0; c < cols; ++c) {
      const std::int64_t key = k0 + c;
      if (key < lo || key >= hi) row[c] = ninf;
    }
  }
}

}  // namespace attnrt::kernels
