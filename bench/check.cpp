#include "bench/check.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>

#include "tests/reference.hpp"

namespace attnrt::bench {

CheckResult check_sampled_rows(const attnrt_tensor& q, const attnrt_tensor& k, const attnrt_tensor& v,
                               const attnrt_tensor& o, const attnrt_params& p, double tolerance,
                               int rows) {
  const std::int64_t H = q.shape[1], M = q.shape[2], Dv = v.shape[3];
  const std::int64_t total = q.shape[0] * H * M;
  const std::int64_t samples = std::min<std::int64_t>(rows, total);
  double err = 0;
  for (std::int64_t s = 0; s < samples; ++s) {
    // Evenly spaced over the flattened rows; s = 0 and s = samples-1 hit the ends.
    const std::int64_t r = samples == 1 ? 0 : s * (total - 1) / (samples - 1);
    const std::int64_t b = r / (H * M), h = r / M % H, i = r % M;
    const test::RefRow ref = test::reference_row(q, k, v, p, b, h, i);
    for (std::int64_t c = 0; c < Dv; ++c) {
      const double d = std::fabs(test::load(o, b, h, i, c) - ref.o[c]);
      if (std::isnan(d)) return {std::numeric_limits<double>::quiet_NaN(), tolerance, static_cast<int>(s + 1)};
      err = d > err ? d : err;
    }
  }
  return {err, tolerance, static_cast<int>(samples)};
}

}  // namespace attnrt::bench
