// Runs the parts of a partition on the workers of a placement. Two kinds:
// oneTBB (a task_arena per domain whose threads are pinned to the domain's
// cores; callers only wait, so many server threads can share the workers)
// and OpenMP (for HPC jobs: one call at a time, its team pinned; the calling
// thread is worker 0).
#pragma once

#include <memory>

#include "scheduler/function_ref.hpp"
#include "scheduler/placement.hpp"

namespace attnrt::scheduler {

enum class ExecutorKind { tbb, openmp };

class Executor {
 public:
  virtual ~Executor() = default;
  virtual const char* name() const = 0;
  int workers() const { return placement_.workers(); }
  const Placement& placement() const { return placement_; }

  // Calls body(part, worker) once for every part in [0, parts), parts <=
  // workers() * parts_per_worker, and returns when all are done. Part p
  // belongs to the domain of worker p / parts_per_worker and runs on a worker
  // of that domain, whichever is free (oneTBB) or in team order (OpenMP).
  // `worker` names the worker running it: no two bodies running at the same
  // time, across all callers, get the same one, so it can index per-worker
  // memory. Safe to call from many threads at once; at most workers() bodies
  // run at any moment.
  virtual void run(int parts, int parts_per_worker, FunctionRef<void(int part, int worker)> body) = 0;

 protected:
  explicit Executor(const Placement& placement) : placement_(placement) {}
  const Placement& placement_;  // owned by the caller; outlives the executor
};

// Whether this build has the executor (oneTBB is optional).
bool has_executor(ExecutorKind kind);
const char* executor_name(ExecutorKind kind);

// The placement must outlive the executor.
std::unique_ptr<Executor> make_executor(ExecutorKind kind, const Placement& placement);

}  // namespace attnrt::scheduler
