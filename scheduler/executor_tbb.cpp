// oneTBB: one task_arena per used domain with as many slots as the domain
// has workers and none kept for callers, so only the arena's own threads run
// parts and at most workers() run at once whoever calls. A caller enqueues
// its parts into their domains' arenas and sleeps until the last is done.
//
// A thread running a part claims a free worker number of its domain for the
// length of the part (preferring the one it had last, so it stays on one
// core), pins itself to that worker's core and uses its workspace. TBB's
// slot numbers cannot serve: an arena may have more slots than threads.
#include <oneapi/tbb/global_control.h>
#include <oneapi/tbb/task_arena.h>

#include <sched.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

#include "scheduler/cpu_relax.hpp"
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
    // Never destroyed: the process-wide runtime, made after this on first
    // use, is destroyed after it at exit and still calls add().
    static PoolSize& pool = *new PoolSize;
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

// A domain's arena and which of its workers are busy.
class DomainArena {
 public:
  DomainArena(int first, int count)
      : first_(first), count_(count), arena_(count, 0), busy_((count + 63) / 64) {
    arena_.initialize();
    for (auto& w : busy_) w.store(0, std::memory_order_relaxed);
  }
  tbb::task_arena& arena() { return arena_; }

  // A worker of this domain nobody is running as, `preferred` if it is free.
  // The arena never runs more threads than the domain has workers, so one is
  // always free; the loop only guards against a scheduler that would.
  int claim(int preferred) {
    if (preferred >= first_ && preferred < first_ + count_) {
      const int bit = preferred - first_;
      const std::uint64_t m = std::uint64_t{1} << (bit % 64);
      if (!(busy_[bit / 64].fetch_or(m, std::memory_order_acq_rel) & m)) return preferred;
    }
    for (;;) {
      for (std::size_t w = 0; w < busy_.size(); ++w) {
        const int in_word = std::min(64, count_ - static_cast<int>(w) * 64);
        const std::uint64_t valid = in_word == 64 ? ~std::uint64_t{0} : (std::uint64_t{1} << in_word) - 1;
        std::uint64_t v = busy_[w].load(std::memory_order_relaxed);
        while (~v & valid) {
          const int b = std::countr_zero(~v & valid);
          if (busy_[w].compare_exchange_weak(v, v | (std::uint64_t{1} << b), std::memory_order_acq_rel))
            return first_ + static_cast<int>(w) * 64 + b;
        }
      }
      std::this_thread::yield();
    }
  }
  void release(int worker) {
    const int bit = worker - first_;
    busy_[bit / 64].fetch_and(~(std::uint64_t{1} << (bit % 64)), std::memory_order_release);
  }

 private:
  int first_, count_;
  tbb::task_arena arena_;
  std::vector<std::atomic<std::uint64_t>> busy_;
};

// How long a caller polls for its call's end before it sleeps: a few
// futex wake-up latencies, short against a call long enough to sleep
// through. Waking costs a short call more than its work: decode of 8 heads
// and 16 keys, one worker on a 2-vCPU VM, 18 µs a call sleeping at once,
// 9 polling.
constexpr std::chrono::microseconds kCallerSpin{50};

// The worker this thread ran as last, to claim it again.
thread_local int t_last_worker = -1;

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
  explicit TbbExecutor(const Placement& p)
      : Executor(p),
        arenas_(p.machine().domains().size()) {
    const bool core_free = p.pins() && p.workers() < p.machine().cores();
    for (int w = 0; core_free && w < p.workers(); ++w)
      for (const int cpu : p.cpus(w)) {
        if (static_cast<std::size_t>(cpu) >= worker_cpu_.size()) worker_cpu_.resize(cpu + 1);
        worker_cpu_[cpu] = true;
      }
    PoolSize::add(p.workers());
    for (int d = 0; d < static_cast<int>(arenas_.size()); ++d)
      if (p.workers_in(d) > 0) arenas_[d] = std::make_unique<DomainArena>(p.first_worker(d), p.workers_in(d));
    start_workers();
  }
  ~TbbExecutor() override {
    if (lost_threads()) {  // a forked child: TBB would wait for its parent's threads
      for (auto& a : arenas_) static_cast<void>(a.release());
      return;
    }
    arenas_.clear();
    PoolSize::add(-workers());
  }
  const char* name() const override { return "tbb"; }

  // Has every worker thread made and pinned now rather than in the first
  // calls: one part per worker, and the parts wait for each other, so TBB
  // must bring all threads at once. Bounded, should TBB hold some back.
  void start_workers() {
    std::atomic<int> arrived{0};
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(1);
    run(workers(), 1, [&](int, int) {
      arrived.fetch_add(1, std::memory_order_relaxed);
      while (arrived.load(std::memory_order_relaxed) < workers() && std::chrono::steady_clock::now() < until)
        std::this_thread::yield();
    });
  }

  void run_parts(int parts, int parts_per_worker, FunctionRef<void(int, int)> body) override {
    if (parts <= 0) return;
    Call* call = &t_call;
    call->body = &body;
    call->remaining.store(parts, std::memory_order_relaxed);
    tsan_release(call);
    for (int p = 0; p < parts; ++p) {
      DomainArena* d = arenas_[placement_.domain_of(p / parts_per_worker)].get();
      d->arena().enqueue([this, call, d, p] {
        tsan_acquire(call);
        const int worker = d->claim(t_last_worker);
        t_last_worker = worker;
        placement_.pin_current_thread(worker);
        (*call->body)(p, worker);
        d->release(worker);
        if (call->remaining.fetch_sub(1, std::memory_order_acq_rel) == 1) call->remaining.notify_one();
      });
    }
    if (caller_may_poll()) {
      const auto spin_until = std::chrono::steady_clock::now() + kCallerSpin;
      for (int i = 1; call->remaining.load(std::memory_order_acquire) != 0; ++i) {
        cpu_relax();
        if (i % 64 == 0 && std::chrono::steady_clock::now() > spin_until) break;
      }
    }
    for (int left; (left = call->remaining.load(std::memory_order_acquire)) != 0;)
      call->remaining.wait(left, std::memory_order_acquire);
  }

 private:
  std::vector<std::unique_ptr<DomainArena>> arenas_;  // per machine domain; null if unused
  // A caller polls before it sleeps only where pinned workers leave a core
  // free and it runs on such a core: else its polling delays a worker.
  bool caller_may_poll() const {
    if (worker_cpu_.empty()) return false;
    const int cpu = sched_getcpu();  // (glibc reads it from rseq: no system call)
    return cpu >= 0 && (static_cast<std::size_t>(cpu) >= worker_cpu_.size() || !worker_cpu_[cpu]);
  }

  // The CPUs workers are bound to; empty where no core is left free.
  std::vector<bool> worker_cpu_;
};

}  // namespace

std::unique_ptr<Executor> make_tbb_executor(const Placement& p) { return std::make_unique<TbbExecutor>(p); }

}  // namespace attnrt::scheduler
