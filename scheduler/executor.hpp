// Runs the parts of a partition on the workers of a placement. Two kinds:
// oneTBB (a task_arena per domain whose threads are pinned to the domain's
// cores; callers only wait, so many server threads can share the workers)
// and OpenMP (for HPC jobs: one call at a time, its team pinned; the calling
// thread is worker 0).
//
// Neither survives fork(): a child has only the thread that forked. There an
// executor made before the fork, and any made after it, run each call's
// parts one after another on the calling thread (as worker 0, one call at a
// time), so a forked child (Python's multiprocessing) computes rather than
// waits forever for threads it does not have.
#pragma once

#include <memory>
#include <mutex>

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
  void run(int parts, int parts_per_worker, FunctionRef<void(int part, int worker)> body) {
    if (lost_threads()) [[unlikely]] {
      run_in_turn(parts, body);
      return;
    }
    run_parts(parts, parts_per_worker, body);
  }

  // Whether the process forked since this executor was made: its threads
  // are not in this process (its destructor must not wait for them).
  bool lost_threads() const;

 protected:
  explicit Executor(const Placement& placement);
  virtual void run_parts(int parts, int parts_per_worker, FunctionRef<void(int part, int worker)> body) = 0;
  // Every part on the calling thread as worker 0, one call at a time
  // (under one_call_; after a fork, under a mutex made in the child).
  void run_in_turn(int parts, FunctionRef<void(int part, int worker)> body);

  const Placement& placement_;  // owned by the caller; outlives the executor
  // Held by a call whose caller is worker 0 (run_in_turn, an OpenMP team),
  // so no two such calls use worker 0's memory at once.
  std::mutex one_call_;

 private:
  unsigned forks_when_made_;
};

// Whether this build has the executor (oneTBB is optional).
bool has_executor(ExecutorKind kind);
const char* executor_name(ExecutorKind kind);

// The placement must outlive the executor. In a child forked after some
// executor had started threads, an executor whose calls run in turn (TBB and
// OpenMP would wait there for their parent's threads).
std::unique_ptr<Executor> make_executor(ExecutorKind kind, const Placement& placement);

}  // namespace attnrt::scheduler
