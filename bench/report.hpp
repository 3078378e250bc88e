// attnrt-bench's output: a table for people, or one JSON object per shape
// and line for scripts (x86-targets.sh reads gflops, pct_peak, peak_gflops,
// baseline_gflops, seconds, max_abs_err, gbps, peak_gbps).
#pragma once

#include <optional>
#include <string>

#include "bench/check.hpp"
#include "bench/options.hpp"
#include "bench/peak.hpp"
#include "bench/shapes.hpp"
#include "bench/timing.hpp"

namespace attnrt::bench {

// What holds for every shape of the run.
struct RunInfo {
  std::string isa;       // from the Runtime
  int threads;           // from the Runtime
  std::string strategy;  // as requested
  std::string precision;
  int reps;
  Peaks peaks;
  std::string baseline;  // baseline_description()
};

struct ShapeResult {
  Shape shape;
  Timing attnrt;
  CheckResult check;
  std::optional<Timing> baseline;
  std::optional<CheckResult> baseline_check;
  bool pass() const { return check.pass() && (!baseline_check || baseline_check->pass()); }
};

void print_header(const RunInfo& run);
void print_row(const RunInfo& run, const ShapeResult& r);
void print_json(const RunInfo& run, const ShapeResult& r);

}  // namespace attnrt::bench
