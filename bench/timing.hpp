// Repetition timing: every rep timed on its own, the median reported.
#pragma once

#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <utility>
#include <vector>

namespace attnrt::bench {

// Ends the bench's own OpenMP team (the baseline's, the peak loops', the
// workload's): libgomp's idle threads spin on after a parallel region, on
// the cores attnrt's workers need next. On two threads B4 H32/8 M1 N4096
// D128 was timed at 48 GFLOP/s right after them and at 66 with
// OMP_WAIT_POLICY=passive. Called before attnrt is timed; the next
// parallel region starts a new team.
inline void release_openmp_threads() { omp_pause_resource_all(omp_pause_soft); }

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

// The median over reps of num[r] / den[r]: a ratio of two calls timed in
// the same round, so a drift of the machine's speed over the run (a
// neighbour's load, the clock) cancels in each term, as it does not in a
// ratio of the two medians.
inline double median_of_ratios(const std::vector<double>& num, const std::vector<double>& den) {
  std::vector<double> r;
  for (std::size_t i = 0; i < num.size() && i < den.size(); ++i) r.push_back(num[i] / den[i]);
  return r.empty() ? 0.0 : summarize(r).median;
}

// Two calls timed alternately: each one's median and best, and `pairs`,
// the median of b's time over a's in each rep (a's speed over b's).
struct Alternated {
  Timing a, b;
  double pairs;
};

// Two calls timed alternately in one run (`reps` each), so that their ratio
// survives a busy machine: each rep right after an untimed call of its own
// (warm caches for both), and which goes first alternates too, so a
// neighbour's burst or a clock step favours neither.
template <class A, class B>
Alternated time_alternately(int reps, A&& a, B&& b) {
  std::vector<double> ta, tb;
  for (int r = 0; r < reps; ++r)
    for (int i = 0; i < 2; ++i) {
      if ((r + i) % 2 == 0) {
        a();
        ta.push_back(seconds_of(a));
      } else {
        b();
        tb.push_back(seconds_of(b));
      }
    }
  return {summarize(ta), summarize(tb), median_of_ratios(tb, ta)};
}

// The line of a's speed over b's: the ratio of the medians, of the bests,
// and the median of the pairs, beside issue 20's target for it.
inline void print_speed_ratio(const char* what, const Alternated& t, double target) {
  std::printf("  %s GFLOP/s: %.3f median, %.3f best, %.3f median of pairs (issue 20 target: >= %.2f)\n", what,
              t.b.median / t.a.median, t.b.min / t.a.min, t.pairs, target);
}

}  // namespace attnrt::bench
