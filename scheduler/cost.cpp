#include "scheduler/cost.hpp"

#include <algorithm>
#include <utility>

namespace attnrt::scheduler {
namespace {

// Sum over t in [0, len) of max(0, g0 + slope * t), slope in {-1, 0, 1}.
double positive_sum(std::int64_t len, std::int64_t g0, int slope) {
  if (len <= 0) return 0;
  if (slope == 0) return g0 > 0 ? static_cast<double>(len) * static_cast<double>(g0) : 0;
  if (slope > 0) {
    const std::int64_t t0 = std::max<std::int64_t>(0, 1 - g0);  // first positive term
    if (t0 >= len) return 0;
    const double cnt = static_cast<double>(len - t0);
    return cnt * static_cast<double>(g0) + (static_cast<double>(t0) + static_cast<double>(len - 1)) * cnt / 2;
  }
  if (g0 <= 0) return 0;
  const double cnt = static_cast<double>(std::min(len, g0));  // terms g0, g0-1, ..., > 0
  return cnt * static_cast<double>(g0) - cnt * (cnt - 1) / 2;
}

}  // namespace

double visible_entries(const ProblemShape& s, std::int64_t b, std::int64_t i0, std::int64_t i1,
                       std::int64_t k0, std::int64_t k1) {
  const std::int64_t n = s.keys_of(b);
  const std::int64_t a = std::clamp<std::int64_t>(k0, 0, n), z = std::clamp<std::int64_t>(k1, 0, n);
  if (i1 <= i0 || z <= a) return 0;
  // Row i sees max(0, min(z, i + c2) - max(a, i + c1)) keys. A window wider
  // than rows + n bounds nothing, and leaving it out keeps the sums in range.
  const std::int64_t diag = s.diag_of(b), wide = s.rows_of(b) + n;
  const kernels::Band& w = s.band;
  const bool lo_moves = w.left >= 0 && w.left < wide, hi_moves = w.right >= 0 && w.right < wide;
  const std::int64_t c1 = lo_moves ? w.lo_edge(0, diag) : diag, c2 = hi_moves ? w.hi_edge(0, diag) : diag + 1;
  // The lower end is i + c1 from i = a - c1 on; the upper end is i + c2 up to
  // i = z - c2. Between these points the count is linear in i.
  std::int64_t p1 = i1, p2 = i1;
  if (lo_moves) p1 = std::clamp(a - c1, i0, i1);
  if (hi_moves) p2 = std::clamp(z - c2 + 1, i0, i1);
  if (p2 < p1) std::swap(p1, p2);
  const std::int64_t pts[4] = {i0, p1, p2, i1};
  double sum = 0;
  for (int j = 0; j < 3; ++j) {
    const std::int64_t s0 = pts[j], len = pts[j + 1] - s0;
    if (len <= 0) continue;
    const bool lo_lin = lo_moves && s0 >= a - c1;
    const bool hi_lin = hi_moves && s0 <= z - c2;
    const std::int64_t g0 = (hi_lin ? s0 + c2 : z) - (lo_lin ? s0 + c1 : a);
    sum += positive_sum(len, g0, static_cast<int>(hi_lin) - static_cast<int>(lo_lin));
  }
  return sum;
}

}  // namespace attnrt::scheduler
