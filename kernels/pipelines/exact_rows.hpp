// Rows whose output came out non-finite, computed again exactly. A key a
// row cannot see (outside its band or the tile's keys, or under a -inf
// bias) is never read and a key of weight 0 adds nothing, so a NaN or inf
// in K, V or bias where a row cannot see it leaves the row as if the key
// were not there; a non-finite value the row does see still makes it
// non-finite. The pipelines multiply such values by a weight of 0 (NaN)
// instead: finite inputs never take this path, and pay one scan of each
// row's fp32 accumulator, still in cache, for it (end_row_block).
#pragma once

#include <cmath>
#include <limits>
#include <numbers>

#include "kernels/problem.hpp"

namespace attnrt::kernels {

// Below this, double's e^x rounds to 0.
inline constexpr double kExpUnderflow = -1075 * std::numbers::ln2;

// acc[c] += e^x · row[c], c < n, for the row load() returns: a key's, or a
// partial result's, of weight e^x (x <= 0) relative to its row's largest,
// as the reference weighs it. Nothing where e^x rounds to 0 (row never
// loaded); where it is subnormal, only the row's inf and NaN, whole: the
// workers flush subnormals to zero (fp_env.hpp), and 0 · inf would drop or
// poison an inf in V that any positive weight keeps (attnrt-fuzz
// 20261201:20357: ALiBi put such a key 733 below its row's max, and the
// exact row came out finite). Returns e^x, for the row's sum.
template <class Load>
double add_weighted_row(double* acc, int n, double x, Load&& load) {
  if (x < kExpUnderflow) return 0.0;
  const float* row = load();
  const double w = std::exp(x);
  if (w >= std::numeric_limits<double>::min()) {
    for (int c = 0; c < n; ++c) acc[c] += w * row[c];
  } else {
    for (int c = 0; c < n; ++c)
      if (!std::isfinite(row[c])) acc[c] += row[c];
  }
  return w;
}

// Whether any of the n fp32 values is NaN or inf.
bool any_nonfinite(const float* row, int n);

// Packed row r of tile t of p computed in double, stored over the
// pipeline's O (and LSE) row.
void exact_row(const HeadProblem& p, const Tile& t, int r);

}  // namespace attnrt::kernels
