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

// Checks of several calls that write the same output, e.g. an input form
// and its dense twin before they are timed against each other.
struct Checks {
  bool pass = true;
  double worst = 0;
  void add(const CheckResult& c) {
    pass = pass && c.pass();
    worst = c.max_abs_err > worst || c.max_abs_err != c.max_abs_err ? c.max_abs_err : worst;  // NaN stays
  }
};
// Runs each call once after fresh() (a cleared output, an idle pool), then
// check(checks) on what it wrote.
template <class Fresh, class Check, class... Calls>
Checks check_each(Fresh fresh, Check check, Calls... calls) {
  Checks checks;
  ((fresh(), calls(), check(checks)), ...);
  return checks;
}

}  // namespace attnrt::bench
