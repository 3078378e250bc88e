// OpenMP: each caller's parallel region makes its own team, so calls are
// admitted one at a time; otherwise N callers would run N teams and N times
// the configured workers. The calling thread is worker 0 of every team and
// is never pinned (the runtime does not change the caller's affinity);
// workers 1.. are pinned on first use.
#include <omp.h>

#include "scheduler/executor.hpp"

namespace attnrt::scheduler {
namespace {

class OpenMpExecutor final : public Executor {
 public:
  explicit OpenMpExecutor(const Placement& p) : Executor(p) {
    // The creating thread's team: made and pinned now rather than in its
    // first call. (Each calling thread has its own team in libgomp.)
    run(workers(), 1, [](int, int) {});
  }
  const char* name() const override { return "openmp"; }

  void run_parts(int parts, int parts_per_worker, FunctionRef<void(int, int)> body) override {
    const int team = (parts + parts_per_worker - 1) / parts_per_worker;
    if (team <= 1) {
      run_in_turn(parts, body);
      return;
    }
    const std::lock_guard<std::mutex> admitted(one_call_);
#pragma omp parallel num_threads(team)
    {
      // Threads take parts as they finish theirs (a team may also be smaller
      // than asked, with OMP_THREAD_LIMIT or nesting).
      const int t = omp_get_thread_num();
      if (t > 0) placement_.pin_current_thread(t);
#pragma omp for schedule(dynamic, 1)
      for (int p = 0; p < parts; ++p) body(p, t);
    }
  }
};

}  // namespace

std::unique_ptr<Executor> make_openmp_executor(const Placement& p) {
  return std::make_unique<OpenMpExecutor>(p);
}

}  // namespace attnrt::scheduler
