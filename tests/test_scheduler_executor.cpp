// Executors: every part runs once, on a worker of its domain; worker numbers
// are never shared by two running bodies, even with many callers; no more
// bodies run at once than there are workers; threads are pinned where the
// placement says (checked through each thread's affinity mask on this
// machine) and the caller's own affinity is left alone.
#include <gtest/gtest.h>
#include <sched.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "runtime/internal/attnrt_internal.hpp"

namespace attnrt::scheduler {
namespace {

// Under ThreadSanitizer only oneTBB: libgomp is not instrumented and its
// barriers look like races.
std::vector<ExecutorKind> kinds() {
  std::vector<ExecutorKind> k;
#if !ATTNRT_TSAN
  k.push_back(ExecutorKind::openmp);
#endif
  if (has_executor(ExecutorKind::tbb)) k.push_back(ExecutorKind::tbb);
  return k;
}

Placement a64fx(int workers = 0) {
  return Placement(Machine::load(std::string(ATTNRT_TEST_DATA) + "/a64fx.xml"), 0, workers, Bind::core);
}

std::vector<int> affinity() {
  cpu_set_t set;
  CPU_ZERO(&set);
  sched_getaffinity(0, sizeof set, &set);
  std::vector<int> cpus;
  for (int c = 0; c < CPU_SETSIZE; ++c)
    if (CPU_ISSET(c, &set)) cpus.push_back(c);
  return cpus;
}

TEST(Executor, RunsEveryPartOnceOnAWorkerOfItsDomain) {
  if (!Machine::can_load()) GTEST_SKIP() << "this build has no hwloc to read topology files";
  const Placement p = a64fx();
  for (ExecutorKind k : kinds()) {
    SCOPED_TRACE(executor_name(k));
    const auto ex = make_executor(k, p);
    EXPECT_EQ(ex->workers(), 48);
    for (auto [parts, per_worker] : {std::pair{1, 1}, {2, 1}, {13, 1}, {48, 1}, {96, 2}, {31, 3}}) {
      std::vector<std::atomic<int>> ran(parts);
      std::vector<int> worker_of(parts, -1);
      ex->run(parts, per_worker, [&](int part, int worker) {
        ran[part].fetch_add(1);
        worker_of[part] = worker;
      });
      for (int i = 0; i < parts; ++i) {
        EXPECT_EQ(ran[i].load(), 1);
        ASSERT_GE(worker_of[i], 0);
        ASSERT_LT(worker_of[i], 48);
        if (k == ExecutorKind::tbb) {
          EXPECT_EQ(p.domain_of(worker_of[i]), p.domain_of(i / per_worker));
        }
      }
    }
  }
}

TEST(Executor, ManyCallersNeverShareAWorkerOrExceedTheWorkers) {
  if (!Machine::can_load()) GTEST_SKIP() << "this build has no hwloc to read topology files";
  for (int workers : {2, 7}) {
    const Placement p = a64fx(workers);
    for (ExecutorKind k : kinds()) {
      SCOPED_TRACE(std::string(executor_name(k)) + " workers " + std::to_string(workers));
      const auto ex = make_executor(k, p);
      std::vector<std::atomic<int>> busy(workers);
      std::atomic<int> active{0}, most{0}, clashes{0}, wrong_domain{0};
      std::atomic<long> bodies{0};
      std::vector<std::thread> callers;
      for (int c = 0; c < 8; ++c)
        callers.emplace_back([&, c] {
          for (int call = 0; call < 100; ++call) {
            const int parts = 1 + (c + call) % (2 * workers);
            ex->run(parts, 2, [&](int part, int worker) {
              if (busy[worker].exchange(1) != 0) clashes.fetch_add(1);
              const int now = active.fetch_add(1) + 1;
              for (int m = most.load(); now > m && !most.compare_exchange_weak(m, now);) {
              }
              if (k == ExecutorKind::tbb && p.domain_of(worker) != p.domain_of(part / 2)) wrong_domain.fetch_add(1);
              volatile double x = 0;
              for (int i = 0; i < 2000; ++i) x = x + i;
              active.fetch_sub(1);
              busy[worker].store(0);
              bodies.fetch_add(1);
            });
          }
        });
      for (auto& t : callers) t.join();
      EXPECT_EQ(clashes.load(), 0);
      EXPECT_EQ(wrong_domain.load(), 0);
      EXPECT_LE(most.load(), workers);
      long expected = 0;
      for (int c = 0; c < 8; ++c)
        for (int call = 0; call < 100; ++call) expected += 1 + (c + call) % (2 * workers);
      EXPECT_EQ(bodies.load(), expected);
    }
  }
}

TEST(Executor, PinsWorkersOnThisMachine) {
  for (Bind bind : {Bind::core, Bind::domain}) {
    const Placement p(Machine::this_system(), 0, 0, bind);
    ASSERT_TRUE(p.pins());
    for (ExecutorKind k : kinds()) {
      SCOPED_TRACE(std::string(executor_name(k)) + " bind " + bind_name(bind));
      const auto ex = make_executor(k, p);
      const std::vector<int> caller_before = affinity();
      std::vector<std::vector<int>> seen(p.workers());
      std::vector<int> checked(p.workers(), 0);
      for (int round = 0; round < 20; ++round) {
        // Each part waits (bounded) for the others to start, so that every
        // worker takes one: OpenMP's dynamic schedule lets a thread that is
        // there first run them all (seen in CI: worker 1 in none of 20
        // rounds while the machine was busy).
        std::atomic<int> arrived{0};
        const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(1);
        ex->run(p.workers(), 1, [&](int, int worker) {
          arrived.fetch_add(1);
          while (arrived.load() < p.workers() && std::chrono::steady_clock::now() < until)
            std::this_thread::yield();
          // OpenMP's worker 0 is the calling thread, which attnrt leaves alone.
          if (k == ExecutorKind::openmp && worker == 0) return;
          seen[worker] = affinity();
          checked[worker] = 1;
        });
      }
      for (int w = 0; w < p.workers(); ++w)
        if (checked[w]) {
          EXPECT_EQ(seen[w], p.cpus(w)) << "worker " << w;
        }
      EXPECT_EQ(affinity(), caller_before) << "the caller's affinity changed";
      EXPECT_GE(std::count(checked.begin(), checked.end(), 1), p.workers() - 1);
    }
  }
}

// Run only by scripts/ci-tsan.sh, which requires ThreadSanitizer to report
// it: proof that the suppressions for oneTBB's internals (tests/tsan.supp)
// do not hide a race in the work attnrt runs on TBB threads. TSan misses a
// single racing pair now and then (3 runs in 60 of one round here), so the
// two parts race in several rounds, each on a variable of its own.
TEST(Executor, DISABLED_RaceCanary) {
  if (!Machine::can_load()) GTEST_SKIP() << "this build has no hwloc to read topology files";
  if (!has_executor(ExecutorKind::tbb)) GTEST_SKIP();
  const Placement p = a64fx(2);  // two workers in two domains: two arenas
  const auto ex = make_executor(ExecutorKind::tbb, p);
  constexpr int kRounds = 16;
  std::vector<int> shared(kRounds, 0);
  for (int round = 0; round < kRounds; ++round) {
    std::atomic<int> arrived{0};
    ex->run(2, 1, [&](int, int) {
      // Meet the other part first (relaxed: no happens-before), so the two
      // writes come from two threads.
      arrived.fetch_add(1, std::memory_order_relaxed);
      const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(60);
      while (arrived.load(std::memory_order_relaxed) < 2 && std::chrono::steady_clock::now() < until)
        std::this_thread::yield();
      shared[round] = shared[round] + 1;  // unsynchronized on purpose
    });
    EXPECT_EQ(arrived.load(), 2);
  }
}

}  // namespace
}  // namespace attnrt::scheduler
