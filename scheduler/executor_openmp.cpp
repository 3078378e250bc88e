#include <omp.h>

#include <algorithm>

#include "scheduler/executor.hpp"

namespace attnrt::scheduler {
namespace {

class OpenMpExecutor final : public Executor {
 public:
  explicit OpenMpExecutor(int workers) : workers_(workers) {}
  const char* name() const override { return "openmp"; }
  int workers() const override { return workers_; }
  void run(std::int64_t items, FunctionRef<void(std::int64_t, int)> body) override {
    const int team = static_cast<int>(std::min<std::int64_t>(workers_, items));
    if (team <= 1) {
      for (std::int64_t i = 0; i < items; ++i) body(i, 0);
      return;
    }
#pragma omp parallel for schedule(dynamic, 1) num_threads(team)
    for (std::int64_t i = 0; i < items; ++i) body(i, omp_get_thread_num());
  }

 private:
  int workers_;
};

}  // namespace

std::unique_ptr<Executor> make_openmp_executor(int workers) {
  return std::make_unique<OpenMpExecutor>(workers);
}

}  // namespace attnrt::scheduler
