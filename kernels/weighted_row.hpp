// One row's share of a weighted sum as the reference forms it in double
// (tests/reference.cpp), whatever the thread's flush-to-zero mode: the
// exact rows of the pipelines, the split-KV merge and the MPI merge weigh
// through it. And a sink joining a row's log-sum-exp, as the pipelines'
// row finish and the MPI merge join it.
#pragma once

#include <cmath>
#include <limits>
#include <numbers>

namespace attnrt::kernels {

// Below this, double's e^x rounds to 0.
inline constexpr double kExpUnderflow = -1075 * std::numbers::ln2;

// acc[c] += e^x · row[c], c < n, for the row load() returns: a key's, or
// a partial result's, of weight e^x (x <= 0) relative to its row's
// largest. Nothing where e^x rounds to 0 (the row never loaded); where it
// is subnormal, only the row's inf and NaN, whole. Any positive weight
// keeps an inf in V, but a weight flushed to 0 (the workers flush
// subnormals: fp_env.hpp; fp32's e^x is 0 below e^-104) turns it into NaN
// or, skipped, drops it (attnrt-fuzz 20261201:20357: ALiBi put such a key
// 733 below its row's max, and the exact row came out finite). Returns
// e^x, for the row's sum.
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

// A sink (a logit with no value) joining keys whose log-sum-exp exceeds it
// by diff (natural units): the keys' share of the new total, e^(keys -
// total), and how far the total lies above the larger of the two. Both
// from diff alone, never a difference of the two sides, so neither side's
// size costs precision.
template <class T>
struct SinkJoin {
  T share, rest;
};
template <class T>
SinkJoin<T> join_sink(T diff) {
  const T rest = std::log1p(std::exp(-std::abs(diff)));
  return {diff >= 0 ? std::exp(-rest) : std::exp(diff - rest), rest};
}

}  // namespace attnrt::kernels
