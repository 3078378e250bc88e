// The plan table: strategy and block sizes per (kernel set, shape). The
// requested strategy (call, then config) overrides the table's choice.
#pragma once

#include <attnrt/attnrt.h>

#include <cstdint>

#include "kernels/pipelines/pipeline.hpp"

namespace attnrt::rt {

struct Plan {
  kernels::Strategy strategy;
  kernels::Blocking blocking;
};

// Throws Failure (ATTNRT_UNSUPPORTED) if the requested strategy is not built.
Plan choose_plan(const kernels::KernelSet& ks, int d, int dv, std::int64_t m, std::int64_t n,
                 attnrt_strategy requested);

}  // namespace attnrt::rt
