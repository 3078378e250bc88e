// Turning raw Q·Kᵀ tiles into log2-domain scores: softcap, bias and the
// key-interval mask. Shared by every pipeline; runs only on tiles that need
// it (boundary tiles, or when softcap/bias are on).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>

#include "kernels/pipelines/wide_loops.hpp"
#include "kernels/problem.hpp"

namespace attnrt::kernels {

inline constexpr float kLog2e = 1.4426950408889634f;
inline constexpr float kLn2 = 0.6931471805599453f;

// The factor the qk micro-kernel applies: straight to log2 units unless a
// softcap must see natural-unit scores first.
inline float qk_alpha(const HeadProblem& p) { return p.softcap > 0.0f ? p.scale : p.scale * kLog2e; }

// The first and last query row (within its head) among packed rows
// [r0, r1). Masks are monotone in the row, so these two decide whether a
// key block is visible to all rows or to none. Rows that wrap into the next
// head hold both row 0 and row m - 1.
struct RowSpan {
  std::int64_t first, last;
};
inline RowSpan row_span(const HeadProblem& p, int r0, int r1) {
  const int h = r0 / p.m;
  if ((r1 - 1) / p.m != h) return {0, p.m - 1};
  return {r0 - h * p.m, r1 - 1 - h * p.m};
}

// Whether keys [k0, k1) are visible to every row of the span.
inline bool block_unmasked(const HeadProblem& p, RowSpan rows, std::int64_t k0, std::int64_t k1) {
  return p.key_lo(rows.last) <= k0 && p.key_hi(rows.first) >= k1;
}

// ALiBi for packed row r: its slope (natural units) and the key where its
// term peaks among the keys the row sees (the last for a positive slope, the
// first for a negative one). Scores take the term relative to that peak:
// softmax does not see a per-row constant, scores near the max stay small
// (fp32 keeps their precision over long rows), and LSE adds it back
// (alibi_peak_value).
inline std::int64_t alibi_peak_key(const HeadProblem& p, int r) {
  const std::int64_t i = r % p.m, lo = p.key_lo(i), hi = p.key_hi(i);
  if (hi <= lo) return i + p.diag;  // no key: nothing to shift
  return p.alibi[r / p.m] >= 0.0f ? hi - 1 : lo;
}
// In double, what a split-KV piece's LSE leaves out (lse_unshifted); the
// fp32 value is the same product rounded once.
inline double alibi_peak_shift(const HeadProblem& p, int r) {
  if (!p.alibi) return 0.0;
  return static_cast<double>(p.alibi[r / p.m]) * static_cast<double>(alibi_peak_key(p, r) - (r % p.m + p.diag));
}
inline float alibi_peak_value(const HeadProblem& p, int r) { return static_cast<float>(alibi_peak_shift(p, r)); }

// Finishes an S strip of `rows` packed rows (first r0) over keys
// [k0, k0 + cols), stored at s with row stride lds: applies softcap, bias
// and ALiBi (converting to log2 units) and writes -inf outside each row's key
// interval and outside [t_k0, t_k1) (the tile's key range).
inline void finish_scores(const HeadProblem& p, float* s, std::int64_t lds, int r0, int rows,
                          std::int64_t k0, int cols, std::int64_t t_k0, std::int64_t t_k1) {
  const float masked = -std::numeric_limits<float>::infinity();
  const bool cap = p.softcap > 0.0f;
  const float inv_cap = cap ? 1.0f / p.softcap : 0.0f;
  const float cap_log2 = p.softcap * kLog2e;
  for (int r = 0; r < rows; ++r) {
    float* row = s + r * lds;
    const std::int64_t i = (r0 + r) % p.m;
    if (cap)
      for (int c = 0; c < cols; ++c) row[c] = cap_log2 * std::tanh(row[c] * inv_cap);
    if (p.bias) {
      const float* b = p.bias + p.bias_offset(r0 + r) + k0;
      for (int c = 0; c < cols; ++c) row[c] += b[c] * kLog2e;
    }
    if (p.alibi)  // slope * (key - the row's peak key): see alibi_peak_key
      add_ramp(row, cols, k0 - alibi_peak_key(p, r0 + r), p.alibi[(r0 + r) / p.m] * kLog2e);
    // Masked columns form a prefix and a suffix of the row: no test per element.
    const std::int64_t lo = std::max(p.key_lo(i), t_k0), hi = std::min(p.key_hi(i), t_k1);
    const int c_lo = static_cast<int>(std::clamp<std::int64_t>(lo - k0, 0, cols));
    const int c_hi = static_cast<int>(std::clamp<std::int64_t>(hi - k0, c_lo, cols));
    for (int c = 0; c < c_lo; ++c) row[c] = masked;
    for (int c = c_hi; c < cols; ++c) row[c] = masked;
  }
}

}  // namespace attnrt::kernels
