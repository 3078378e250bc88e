// oneTBB: one task_arena per used domain, as many slots as the domain has
// workers and none kept for callers, so only the arena's own threads run
// parts and at most workers() run at once whoever calls. An observer pins
// each thread entering an arena to the core of its slot. A caller enqueues
// its parts into their domains' arenas and sleeps until the last one is done.
#include <oneapi/tbb/global_control.h>
#include <oneapi/tbb/task_arena.h>
#include <oneapi/tbb/task_scheduler_observer.h>

#include <atomic>
#include <mutex>
#include <vector>

#include "scheduler/executor.hpp"
#include "scheduler/tsan.hpp"

namespace attnrt::scheduler {
namespace {

// TBB's pool is process-wide and by default one thread short of the CPU
// count (it expects the caller to work too). Every live executor adds its
// workers to one global_control, so the pool can fill all arenas at once.
class PoolSize {
 public:
  static void add(int workers) {
    static PoolSize pool;
    const std::lock_guard<std::mutex> lock(pool.mutex_);
    pool.workers_ += workers;
    pool.control_.reset();
    if (pool.workers_ > 0)
      pool.control_ = std::make_unique<tbb::global_control>(tbb::global_control::max_allowed_parallelism,
                                                            pool.workers_ + 1);
  }

 private:
  std::mutex mutex_;
  int workers_ = 0;
  std::unique_ptr<tbb::global_control> control_;
};

class Pinner final : public tbb::task_scheduler_observer {
 public:
  Pinner(tbb::task_arena& arena, const Placement& p, int first, int count)
      : tbb::task_scheduler_observer(arena), placement_(p), first_(first), count_(count) {
    observe(true);
  }
  ~Pinner() override { observe(false); }
  void on_scheduler_entry(bool) override {
    const int slot = tbb::this_task_arena::current_thread_index();
    if (slot >= 0 && slot < count_) placement_.pin_current_thread(first_ + slot);
  }

 private:
  const Placement& placement_;
  int first_, count_;
};

struct DomainArena {
  DomainArena(const Placement& p, int domain)
      : first(p.first_worker(domain)), arena(p.workers_in(domain), 0), pinner(init(arena), p, first, p.workers_in(domain)) {}
  static tbb::task_arena& init(tbb::task_arena& a) {
    a.initialize();
    return a;
  }
  int first;
  tbb::task_arena arena;
  Pinner pinner;
};

// One call in flight from this thread. It lives as long as the thread: the
// worker that finishes last may still be inside notify() when the caller,
// woken by its own check, has already returned.
struct Call {
  const FunctionRef<void(int, int)>* body;
  std::atomic<int> remaining{0};
};
thread_local Call t_call;

class TbbExecutor final : public Executor {
 public:
  explicit TbbExecutor(const Placement& p) : Executor(p), arenas_(p.machine().domains().size()) {
    PoolSize::add(p.workers());
    for (int d = 0; d < static_cast<int>(arenas_.size()); ++d)
      if (p.workers_in(d) > 0) arenas_[d] = std::make_unique<DomainArena>(p, d);
  }
  ~TbbExecutor() override {
    arenas_.clear();
    PoolSize::add(-workers());
  }
  const char* name() const override { return "tbb"; }

  void run(int parts, FunctionRef<void(int, int)> body) override {
    if (parts <= 0) return;
    Call* call = &t_call;
    call->body = &body;
    call->remaining.store(parts, std::memory_order_relaxed);
    tsan_release(call);
    for (int p = 0; p < parts; ++p) {
      DomainArena* d = arenas_[placement_.domain_of(p)].get();
      d->arena.enqueue([call, d, p] {
        tsan_acquire(call);
        const int worker = d->first + tbb::this_task_arena::current_thread_index();
        (*call->body)(p, worker);
        if (call->remaining.fetch_sub(1, std::memory_order_acq_rel) == 1) call->remaining.notify_one();
      });
    }
    for (int left; (left = call->remaining.load(std::memory_order_acquire)) != 0;)
      call->remaining.wait(left, std::memory_order_acquire);
  }

 private:
  std::vector<std::unique_ptr<DomainArena>> arenas_;  // per machine domain; null if unused
};

}  // namespace

std::unique_ptr<Executor> make_tbb_executor(const Placement& p) { return std::make_unique<TbbExecutor>(p); }

}  // namespace attnrt::scheduler
