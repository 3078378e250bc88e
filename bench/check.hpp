// The honesty check: sampled output rows against the double-precision
// reference (tests/reference.hpp).
#pragma once

#include <attnrt/attnrt.h>

namespace attnrt::bench {

struct CheckResult {
  double max_abs_err;  // NaN if any checked output was NaN
  double tolerance;
  int rows;            // rows compared
  bool pass() const { return max_abs_err <= tolerance; }  // false for NaN
};

// Compares `rows` output rows of `o` spread evenly over (batch, head, row),
// always the first and the last, with the reference for q, k, v and p.
CheckResult check_sampled_rows(const attnrt_tensor& q, const attnrt_tensor& k, const attnrt_tensor& v,
                               const attnrt_tensor& o, const attnrt_params& p, double tolerance,
                               int rows = 16);

}  // namespace attnrt::bench
