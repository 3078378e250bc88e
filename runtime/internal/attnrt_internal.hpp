// The one door from tools (bench/, tests/, examples/) into attnrt's
// internals: the runtime's and the scheduler's headers they may use. It is
// not installed; users see runtime/include/attnrt/ only.
//
// The rule (checked by ctest layering.includes, cmake/check_layering.cmake):
// a tool includes the public headers, this header, and kernels/ headers
// (the single-core kernels and pipelines are tested and timed on their own,
// below every runtime and scheduler state), never runtime/src/ or
// scheduler/ directly.
#pragma once

#include "runtime/src/config.hpp"
#include "runtime/src/cpu_features.hpp"
#include "runtime/src/error.hpp"
#include "runtime/src/head_problem.hpp"
#include "runtime/src/plan.hpp"
#include "runtime/src/plan_override.hpp"
#include "runtime/src/raw_enum.hpp"
#include "runtime/src/runtime.hpp"
#include "runtime/src/tuning.hpp"
#include "scheduler/arena.hpp"
#include "scheduler/cost.hpp"
#include "scheduler/executor.hpp"
#include "scheduler/partition.hpp"
#include "scheduler/placement.hpp"
#include "scheduler/shared_slots.hpp"
#include "scheduler/topology.hpp"
#include "scheduler/tsan.hpp"
