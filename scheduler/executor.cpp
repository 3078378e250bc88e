#include "scheduler/executor.hpp"

#include <pthread.h>

#include <atomic>
#include <new>
#include <stdexcept>

namespace attnrt::scheduler {
namespace {

// Children forked since the first executor was made (counted in the child).
std::atomic<unsigned> g_forks{0};

// Admits the calls of executors made before the fork, in the child. Made
// anew there: the parent's copy of any mutex may have been held by a thread
// the child does not have.
alignas(std::mutex) unsigned char g_child_calls[sizeof(std::mutex)];

void on_fork_in_child() {
  new (g_child_calls) std::mutex;
  g_forks.fetch_add(1, std::memory_order_relaxed);
}

unsigned forks() { return g_forks.load(std::memory_order_relaxed); }

void count_forks() {
  static std::once_flag once;
  std::call_once(once, [] { pthread_atfork(nullptr, nullptr, on_fork_in_child); });
}

class InTurnExecutor final : public Executor {
 public:
  explicit InTurnExecutor(const Placement& p) : Executor(p) {}
  const char* name() const override { return "in turn (forked child)"; }
  void run_parts(int parts, int, FunctionRef<void(int, int)> body) override { run_in_turn(parts, body); }
};

}  // namespace

Executor::Executor(const Placement& placement) : placement_(placement) {
  count_forks();
  forks_when_made_ = forks();
}

bool Executor::lost_threads() const { return forks() != forks_when_made_; }

void Executor::run_in_turn(int parts, FunctionRef<void(int, int)> body) {
  std::mutex& admit = lost_threads() ? *std::launder(reinterpret_cast<std::mutex*>(g_child_calls)) : one_call_;
  const std::lock_guard<std::mutex> one_call(admit);
  for (int p = 0; p < parts; ++p) body(p, 0);
}

std::unique_ptr<Executor> make_openmp_executor(const Placement& p);
#if ATTNRT_HAVE_TBB
std::unique_ptr<Executor> make_tbb_executor(const Placement& p);
#endif

bool has_executor(ExecutorKind kind) {
  return kind == ExecutorKind::openmp || (kind == ExecutorKind::tbb && ATTNRT_HAVE_TBB);
}

const char* executor_name(ExecutorKind kind) { return kind == ExecutorKind::tbb ? "tbb" : "openmp"; }

std::unique_ptr<Executor> make_executor(ExecutorKind kind, const Placement& p) {
  if (forks() > 0) return std::make_unique<InTurnExecutor>(p);
#if ATTNRT_HAVE_TBB
  if (kind == ExecutorKind::tbb) return make_tbb_executor(p);
#endif
  if (kind == ExecutorKind::openmp) return make_openmp_executor(p);
  throw std::invalid_argument("this build has no oneTBB executor");
}

}  // namespace attnrt::scheduler
