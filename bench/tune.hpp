// `attnrt-bench --tune` on one shape: times the candidate plans
// (tune_candidates.hpp) on the shape's tensors, each checked against the
// reference on sampled rows first; a plan that fails the check is reported
// and never timed or chosen.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "bench/check.hpp"
#include "bench/engine.hpp"
#include "bench/options.hpp"
#include "bench/shapes.hpp"
#include "bench/timing.hpp"
#include "runtime/internal/attnrt_internal.hpp"

namespace attnrt::bench {

struct Candidate {
  rt::Plan plan;
  std::optional<Timing> time;  // none unless it passed
  CheckResult check;
  std::string error;           // why attnrt rejected the plan, or ""
  bool pass() const { return error.empty() && check.pass(); }
};

struct TunedShape {
  Shape shape;
  std::string isa;                    // the kernel set of the shape's dtype
  rt::Plan current;                   // the plan the runtime chooses for the call now
  std::vector<Candidate> candidates;  // passing plans fastest first, then the failures
  // The fastest passing plan a tuning rule can express (its head grouping is
  // the planner's: the file format has no field for it); none if all failed.
  std::optional<std::size_t> best;
  // The fastest passing plan of all, when that is not `best`.
  std::optional<std::size_t> best_unwritable;
  bool all_pass() const;
};

// What the plan table matches a call of this shape on.
rt::PlanShape plan_shape(const Shape& s);

TunedShape tune_shape(Engine& engine, const Options& opt, const Shape& shape);

}  // namespace attnrt::bench
