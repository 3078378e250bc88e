// The plans `attnrt-bench --tune` times for one call, in two rounds.
//
// Round 1, per strategy (each this build has, or only the requested one):
// the planner's default plan for it (its block sizes derive from the kernel
// set's tiles), then one field at a time halved and doubled: mb, nb, and
// stage_bytes for three_pass or pipe_ahead for two_pass. Sizes are rounded
// up to the kernel set's granules (mb to mr, nb to the key step) and capped
// at what the shape has, so duplicates fall away. When the planner groups
// the query heads of a KV head (Hq > Hkv, few rows), the default plan is
// also timed ungrouped.
// Round 2, per strategy: the best value of each field from round 1 together
// in one plan, if that plan is new.
#pragma once

#include <optional>
#include <vector>

#include "kernels/kernel_set.hpp"
#include "runtime/internal/attnrt_internal.hpp"

namespace attnrt::bench {

bool same_plan(const rt::Plan& a, const rt::Plan& b);

// `only`: the strategy --strategy asked for, or every one built.
std::vector<rt::Plan> first_round(const kernels::KernelSet& ks, const rt::PlanShape& s,
                                  std::optional<kernels::Strategy> only);

// A plan of round 1 and its median time; failed (checked) plans are left out.
struct Timed {
  rt::Plan plan;
  double seconds;
};
std::vector<rt::Plan> second_round(const kernels::KernelSet& ks, const rt::PlanShape& s,
                                   const std::vector<Timed>& first);

}  // namespace attnrt::bench
