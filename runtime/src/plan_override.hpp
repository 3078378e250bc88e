// Internal, for attnrt-bench and the tests (never installed): see the plan
// the runtime would choose for a call, and run a call with an explicit plan
// instead (on another kernel set too: Plan::kernel_set). Errors throw
// attnrt::rt::Failure (runtime/src/error.hpp).
#pragma once

#include <attnrt/attnrt.h>

#include <cstddef>

#include "kernels/kernel_set.hpp"
#include "runtime/src/plan.hpp"

namespace attnrt::rt {

// The kernel set `runtime` runs for inputs of dtype t.
const kernels::KernelSet& kernel_set_of(const attnrt_runtime* runtime, attnrt_dtype t);

// Bytes of workspace each worker of `runtime` has: a call whose plan needs
// more runs only as an explicit plan (on per-thread scratch).
std::size_t workspace_per_worker(const attnrt_runtime* runtime);

// The plan `runtime` chooses for this call (checked as forward would).
Plan planned(const attnrt_runtime* runtime, const attnrt_tensor& q, const attnrt_tensor& k,
             const attnrt_tensor& v, const attnrt_tensor& o, const attnrt_params& params);

// Runs the call with `plan` in place of the chosen one (params.strategy is
// ignored). The plan is checked (check_plan), not adjusted.
void forward_with_plan(attnrt_runtime* runtime, const attnrt_tensor& q, const attnrt_tensor& k,
                       const attnrt_tensor& v, const attnrt_tensor& o, const attnrt_params& params,
                       const Plan& plan);

}  // namespace attnrt::rt
