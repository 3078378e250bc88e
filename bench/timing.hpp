// Repetition timing: every rep timed on its own, the median reported.
#pragma once

#include <algorithm>
#include <chrono>
#include <vector>

namespace attnrt::bench {

template <class F>
double seconds_of(F&& f) {
  const auto t0 = std::chrono::steady_clock::now();
  f();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

struct Timing {
  double median, min;
};

inline Timing summarize(std::vector<double> t) {
  std::sort(t.begin(), t.end());
  const std::size_t n = t.size();
  return {n % 2 ? t[n / 2] : 0.5 * (t[n / 2 - 1] + t[n / 2]), t.front()};
}

}  // namespace attnrt::bench
