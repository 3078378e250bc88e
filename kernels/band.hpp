// The mask band: which keys a query row sees. One definition for the
// pipelines (HeadProblem) and the scheduler's cost model (ProblemShape).
#pragma once

#include <algorithm>
#include <cstdint>

namespace attnrt::kernels {

// Query row i sees keys j with i + diag - left <= j <= i + diag + right,
// within [0, n); key i + diag is on row i's diagonal. left or right < 0
// leaves that side unbounded. Causal is right = 0, folded in once by the
// runtime (rt::mask_band), which also unbounds sides wider than M + N.
struct Band {
  std::int64_t left = -1, right = -1;

  // Row i's first and one-past-last key of a bounded side, before [0, n) cuts them.
  std::int64_t lo_edge(std::int64_t i, std::int64_t diag) const { return i + diag - left; }
  std::int64_t hi_edge(std::int64_t i, std::int64_t diag) const { return i + diag + right + 1; }

  std::int64_t key_lo(std::int64_t i, std::int64_t diag, std::int64_t n) const {
    return left < 0 ? 0 : std::clamp<std::int64_t>(lo_edge(i, diag), 0, n);
  }
  std::int64_t key_hi(std::int64_t i, std::int64_t diag, std::int64_t n) const {
    return right < 0 ? n : std::clamp<std::int64_t>(hi_edge(i, diag), 0, n);
  }
};

// The diagonal of m query rows against n keys: bottom-right aligned (the
// last row's diagonal is the last key) or top-left.
inline std::int64_t band_diag(bool bottom_right, std::int64_t m, std::int64_t n) {
  return bottom_right ? n - m : 0;
}

}  // namespace attnrt::kernels
