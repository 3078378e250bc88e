// attnrt-bench's output: a table for people, or one JSON object per shape
// and line for scripts (x86-targets.sh reads gflops, pct_peak, peak_gflops,
// baseline_gflops, seconds, max_abs_err, gbps, peak_gbps). Fields are only
// ever added. "isa" and "strategy" say what ran: the kernel set of the
// shape's dtype and the resolved strategy ("requested_strategy" keeps the
// option); "plan" holds the plan's fields (null where its strategy reads
// none); "ceiling_*" and "softmax_overhead" come from ceiling.hpp.
// The peaks are sampled after every rep (PeakProbe): "peak_gflops" and
// "peak_gbps" are the medians of the shape's samples, "pct_peak" and "pct_bw"
// the medians over reps of the rep's rate over the peak sampled right after
// it ("ceiling_pct_peak" and "baseline_pct_peak" likewise). A target shape
// (shape_file.hpp) adds "name", "target" ("peak" or "bw"), "target_pct" and
// "target_met" (pct_peak or pct_bw against target_pct). "run_peak_gflops"
// and "run_peak_gbps" are the run-level peaks (best of the run's start and
// end), "run_pct_peak" the median GFLOP/s over run_peak_gflops.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "bench/check.hpp"
#include "bench/options.hpp"
#include "bench/peak.hpp"
#include "bench/shape_file.hpp"
#include "bench/shapes.hpp"
#include "bench/timing.hpp"
#include "runtime/internal/attnrt_internal.hpp"

namespace attnrt::bench {

// What holds for every shape of the run.
struct RunInfo {
  std::string kernel_sets;  // per dtype, from the Runtime: "fp32 avx512, fp16 avx512, bf16 avx512_bf16"
  std::string uarch;        // the Runtime's tuning row: "zen4", ...
  int threads;              // from the Runtime
  std::string strategy;     // as requested
  std::string precision;
  int reps;
  Peaks peaks;              // run-level: best of the run's start and end
  std::string baseline;     // baseline_description()
};

struct ShapeResult {
  Shape shape;
  std::string name;  // the target shape's name, "" for others
  Target target;
  std::string isa;  // the kernel set of the shape's dtype
  rt::Plan plan;    // the plan the call ran
  Timing attnrt;
  CheckResult check;
  // Per rep, in order: the seconds of attnrt, the ceiling and the baseline,
  // then the peak of the dtype's arithmetic and the read bandwidth sampled
  // right after them (PeakProbe).
  std::vector<double> attnrt_reps, ceiling_reps, baseline_reps;
  std::vector<double> peak_gflops_reps, read_gbps_reps;
  // Per rep, where perf events are allowed (cycles.hpp): the call's FLOPs
  // per cycle over the FMA loop's FLOPs per cycle, in %; empty otherwise.
  std::vector<double> pct_peak_cycles_reps;
  Timing ceiling;   // the GEMM-only ceiling (ceiling.hpp) of the same plan
  bool ceiling_ran; // its output was finite
  std::optional<Timing> baseline;
  std::optional<CheckResult> baseline_check;
  bool pass() const { return check.pass() && ceiling_ran && (!baseline_check || baseline_check->pass()); }
};

void print_header(const RunInfo& run);
void print_row(const RunInfo& run, const ShapeResult& r);
void print_json(const RunInfo& run, const ShapeResult& r);
// One line per shape: how it compares with its target and the baseline.
void print_verdicts(const std::vector<ShapeResult>& results);

}  // namespace attnrt::bench
