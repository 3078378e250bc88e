#include "scheduler/executor.hpp"

#include <stdexcept>

namespace attnrt::scheduler {

std::unique_ptr<Executor> make_openmp_executor(const Placement& p);
#if ATTNRT_HAVE_TBB
std::unique_ptr<Executor> make_tbb_executor(const Placement& p);
#endif

bool has_executor(ExecutorKind kind) {
  return kind == ExecutorKind::openmp || (kind == ExecutorKind::tbb && ATTNRT_HAVE_TBB);
}

const char* executor_name(ExecutorKind kind) { return kind == ExecutorKind::tbb ? "tbb" : "openmp"; }

std::unique_ptr<Executor> make_executor(ExecutorKind kind, const Placement& p) {
#if ATTNRT_HAVE_TBB
  if (kind == ExecutorKind::tbb) return make_tbb_executor(p);
#endif
  if (kind == ExecutorKind::openmp) return make_openmp_executor(p);
  throw std::invalid_argument("this build has no oneTBB executor");
}

}  // namespace attnrt::scheduler
