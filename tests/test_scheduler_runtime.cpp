// The runtime on the NUMA scheduler: results against the double-precision
// reference when work is split across many workers (split-KV pieces merged
// through their LSE, rows split across domains), on both executors; the
// environment settings applied, and each bad one an error naming it.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <sys/wait.h>
#include <unistd.h>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "kernels/convert.hpp"
#include "runtime/internal/attnrt_internal.hpp"
#include "tests/caller_fp_env.hpp"
#include "tests/reference.hpp"
#include "tests/tolerances.hpp"

namespace attnrt {
namespace {

const std::string kA64fx = std::string(ATTNRT_TEST_DATA) + "/a64fx.xml";

// Sets environment variables for one scope.
class Env {
 public:
  Env(std::initializer_list<std::pair<const char*, const char*>> vars) {
    for (auto [k, v] : vars) {
      names_.push_back(k);
      setenv(k, v, 1);
    }
  }
  ~Env() {
    for (const char* k : names_) unsetenv(k);
  }

 private:
  std::vector<const char*> names_;
};

attnrt_config config(const char* executor, const char* topology, int threads = 0) {
  attnrt_config c{};
  c.executor = !std::strcmp(executor, "tbb") ? ATTNRT_EXECUTOR_TBB : ATTNRT_EXECUTOR_OPENMP;
  c.topology = topology;
  c.num_threads = threads;
  return c;
}

std::vector<const char*> executors() {
  std::vector<const char*> e{"openmp"};
  if (scheduler::has_executor(scheduler::ExecutorKind::tbb)) e.push_back("tbb");
  return e;
}

struct Case {
  std::int64_t B, Hq, Hkv, M, N, D, Dv;
  attnrt_dtype dtype = ATTNRT_F32;
  bool causal = false;
  std::int64_t left = -1, right = -1;
  attnrt_causal_align align = ATTNRT_ALIGN_BOTTOM_RIGHT;
  std::vector<std::int64_t> kv_lens = {};
  bool bias = false;
  float softcap = 0;
  std::string name;
  std::vector<float> alibi = {};  // slopes per query head, or none
};

// Random inputs in [-1, 1], dense BHSD.
struct Problem {
  Case c;
  std::vector<std::uint16_t> q16, k16, v16, o16;
  std::vector<float> q32, k32, v32, o32, lse, bias;
  attnrt_tensor q, k, v, o, lse_t, bias_t;
  attnrt_params params;

  explicit Problem(const Case& cs, unsigned seed = 1) : c(cs) {
    std::mt19937 rng(seed);
    std::uniform_real_distribution<float> u(-1, 1);
    auto fill = [&](std::vector<float>& f32, std::vector<std::uint16_t>& f16, std::int64_t n, attnrt_tensor& t,
                    std::int64_t h, std::int64_t s, std::int64_t d, bool input) {
      t.dtype = c.dtype;
      t.shape[0] = c.B, t.shape[1] = h, t.shape[2] = s, t.shape[3] = d;
      t.stride[0] = h * s * d, t.stride[1] = s * d, t.stride[2] = d;
      if (c.dtype == ATTNRT_F32) {
        f32.resize(n);
        if (input)
          for (float& x : f32) x = u(rng);
        t.data = f32.data();
      } else {
        f16.resize(n);
        if (input)
          for (auto& x : f16)
            x = c.dtype == ATTNRT_F16 ? kernels::float_to_fp16(u(rng)) : kernels::float_to_bf16(u(rng));
        t.data = f16.data();
      }
    };
    fill(q32, q16, c.B * c.Hq * c.M * c.D, q, c.Hq, c.M, c.D, true);
    fill(k32, k16, c.B * c.Hkv * c.N * c.D, k, c.Hkv, c.N, c.D, true);
    fill(v32, v16, c.B * c.Hkv * c.N * c.Dv, v, c.Hkv, c.N, c.Dv, true);
    fill(o32, o16, c.B * c.Hq * c.M * c.Dv, o, c.Hq, c.M, c.Dv, false);
    lse.assign(c.B * c.Hq * c.M, 7.0f);
    lse_t = {lse.data(), ATTNRT_F32, {c.B, c.Hq, c.M, 1}, {c.Hq * c.M, c.M, 1}};
    attnrt_params_init(&params);
    params.causal = c.causal;
    params.window_left = c.left;
    params.window_right = c.right;
    params.align = c.align;
    params.kv_lens = c.kv_lens.empty() ? nullptr : c.kv_lens.data();
    params.softcap = c.softcap;
    params.lse = &lse_t;
    params.alibi_slopes = c.alibi.empty() ? nullptr : c.alibi.data();
    if (c.bias) {
      bias.resize(c.Hq * c.M * c.N);
      for (float& x : bias) x = u(rng);
      bias_t = {bias.data(), ATTNRT_F32, {1, c.Hq, c.M, c.N}, {c.Hq * c.M * c.N, c.M * c.N, c.N}};
      params.bias = &bias_t;
    }
  }

  double out(std::int64_t i) const {
    if (c.dtype == ATTNRT_F32) return o32[i];
    return c.dtype == ATTNRT_F16 ? kernels::fp16_to_float(o16[i]) : kernels::bf16_to_float(o16[i]);
  }

  void expect_matches_reference() const {
    const test::RefResult ref = test::reference_forward(q, k, v, params);
    const test::Tolerance tol = test::tolerance(c.dtype, params.precision);
    double worst_o = 0, worst_lse = 0;
    for (std::size_t i = 0; i < ref.o.size(); ++i) {
      ASSERT_FALSE(std::isnan(out(i))) << c.name << " O[" << i << "] is NaN";
      worst_o = std::max(worst_o, std::fabs(out(i) - ref.o[i]));
    }
    for (std::size_t i = 0; i < ref.lse.size(); ++i) {
      if (std::isinf(ref.lse[i])) {
        ASSERT_EQ(lse[i], -INFINITY) << c.name << " row " << i << " sees no key";
        continue;
      }
      worst_lse = std::max(worst_lse, std::fabs(lse[i] - ref.lse[i]) / test::lse_tolerance(tol, ref.lse[i]));
    }
    EXPECT_LE(worst_o, tol.o) << c.name;
    EXPECT_LE(worst_lse, 1.0) << c.name << ": |LSE - LSE_ref| over its tolerance";
  }
};

std::vector<Case> cases() {
  std::vector<Case> cs;
  cs.push_back({2, 8, 2, 1, 1000, 64, 64, ATTNRT_F32, false, -1, -1, ATTNRT_ALIGN_BOTTOM_RIGHT, {}, false, 0, "decode GQA"});
  cs.push_back({1, 2, 2, 3, 777, 40, 24, ATTNRT_F32, true, -1, -1, ATTNRT_ALIGN_BOTTOM_RIGHT, {}, false, 0, "skinny causal, D != Dv"});
  cs.push_back({1, 1, 1, 257, 257, 33, 33, ATTNRT_F32, true, -1, -1, ATTNRT_ALIGN_BOTTOM_RIGHT, {}, false, 0, "one head causal 257"});
  cs.push_back({1, 3, 1, 130, 200, 64, 64, ATTNRT_F32, false, 20, 7, ATTNRT_ALIGN_BOTTOM_RIGHT, {}, false, 0, "window"});
  cs.push_back({3, 2, 2, 5, 600, 32, 32, ATTNRT_F32, false, -1, -1, ATTNRT_ALIGN_BOTTOM_RIGHT, {600, 0, 17}, false, 0, "kv_lens with an empty batch"});
  cs.push_back({1, 2, 2, 200, 100, 16, 16, ATTNRT_F32, true, -1, -1, ATTNRT_ALIGN_BOTTOM_RIGHT, {}, false, 0, "causal M > N: masked rows"});
  cs.push_back({1, 2, 2, 64, 500, 32, 32, ATTNRT_F32, false, -1, -1, ATTNRT_ALIGN_BOTTOM_RIGHT, {}, true, 0, "bias"});
  cs.push_back({1, 2, 2, 7, 900, 64, 64, ATTNRT_F32, false, -1, -1, ATTNRT_ALIGN_BOTTOM_RIGHT, {}, false, 20, "softcap"});
  cs.push_back({1, 4, 2, 2, 1500, 64, 64, ATTNRT_F16, false, -1, -1, ATTNRT_ALIGN_BOTTOM_RIGHT, {}, false, 0, "decode fp16"});
  cs.push_back({1, 4, 2, 2, 1500, 64, 64, ATTNRT_BF16, true, -1, -1, ATTNRT_ALIGN_BOTTOM_RIGHT, {}, false, 0, "decode bf16"});
  cs.push_back({2, 3, 3, 33, 33, 7, 7, ATTNRT_F32, true, -1, -1, ATTNRT_ALIGN_TOP_LEFT, {}, false, 0, "small top-left"});
  // ALiBi rows whose peak term is far from 0 (a negative slope peaks at key
  // 0, thousands of keys before the query; top-left rows see keys far
  // ahead): LSE near +-1200, where fp32's spacing would skew split pieces.
  cs.push_back({1, 2, 2, 1, 4000, 64, 64, ATTNRT_F32, false, -1, -1, ATTNRT_ALIGN_BOTTOM_RIGHT, {}, false, 0,
                "decode ALiBi", {-0.3f, 0.25f}});
  cs.push_back({1, 2, 1, 3, 3000, 32, 32, ATTNRT_BF16, false, -1, -1, ATTNRT_ALIGN_TOP_LEFT, {}, false, 0,
                "skinny ALiBi top-left bf16", {0.4f, -0.05f}});
  return cs;
}

int split_lines(const rt::Runtime& rt, const Problem& p) {
  const rt::Runtime::Split s = rt.split(p.q, p.k, p.v, p.params);
  std::vector<std::byte> state(scheduler::Partition::state_bytes(rt.placement().workers(), s.options.parts_per_worker));
  const scheduler::Partition part(s.shape, s.options, rt.placement(), state.data());
  int lines = 0;
  part.for_each_split_line([&](int, int) { ++lines; });
  return lines;
}

TEST(SchedulerRuntime, MatchesTheReferenceWhenSplitAcrossManyWorkers) {
  if (!scheduler::Machine::can_load()) GTEST_SKIP() << "this build has no hwloc to read topology files";
  for (const char* ex : executors()) {
    rt::Runtime rt(config(ex, kA64fx.c_str()));
    ASSERT_EQ(rt.num_threads(), 48);
    int with_splits = 0;
    for (const Case& c : cases()) {
      SCOPED_TRACE(std::string(ex) + ": " + c.name);
      Problem p(c);
      with_splits += split_lines(rt, p) > 0;
      rt.forward(p.q, p.k, p.v, p.o, p.params);
      p.expect_matches_reference();
    }
    EXPECT_GE(with_splits, 6) << "the cases must exercise split-KV";
  }
}

TEST(SchedulerRuntime, MatchesTheReferenceOnThisMachine) {
  for (const char* ex : executors()) {
    rt::Runtime rt(config(ex, nullptr));
    for (const Case& c : cases()) {
      SCOPED_TRACE(std::string(ex) + ": " + c.name);
      Problem p(c);
      rt.forward(p.q, p.k, p.v, p.o, p.params);
      p.expect_matches_reference();
    }
  }
}

TEST(SchedulerRuntime, SplitResultsDoNotDependOnTheExecutor) {
  if (!scheduler::Machine::can_load()) GTEST_SKIP() << "this build has no hwloc to read topology files";
  if (executors().size() < 2) GTEST_SKIP() << "one executor in this build";
  rt::Runtime a(config("openmp", kA64fx.c_str())), b(config("tbb", kA64fx.c_str()));
  for (const Case& c : cases()) {
    Problem pa(c), pb(c);
    a.forward(pa.q, pa.k, pa.v, pa.o, pa.params);
    b.forward(pb.q, pb.k, pb.v, pb.o, pb.params);
    EXPECT_EQ(pa.o32, pb.o32) << c.name;
    EXPECT_EQ(pa.o16, pb.o16) << c.name;
    EXPECT_EQ(0, std::memcmp(pa.lse.data(), pb.lse.data(), pa.lse.size() * sizeof(float))) << c.name;
  }
}

// The plan and the partition (the cost model's cuts) are the calling
// thread's arithmetic: made in its rounding mode they moved split-KV
// boundaries on some shapes, and with them the result's bits (this one, on
// one CMG of an A64FX, under FE_UPWARD).
TEST(SchedulerRuntime, TheCallersRoundingModeDoesNotMoveTheSplits) {
  if (!scheduler::Machine::can_load()) GTEST_SKIP() << "this build has no hwloc to read topology files";
  rt::Runtime rt(config(executors().back(), kA64fx.c_str(), 12));
  const Case c{.B = 2, .Hq = 16, .Hkv = 4, .M = 25, .N = 8726, .D = 32, .Dv = 32, .name = "B2 H16/4 M25 N8726"};
  Problem nearest(c);
  rt.forward(nearest.q, nearest.k, nearest.v, nearest.o, nearest.params);
  for (int mode : {FE_UPWARD, FE_DOWNWARD, FE_TOWARDZERO}) {
    SCOPED_TRACE(mode);
    Problem p(c);
    {
      const test::CallerFpEnv env({.rounding = mode});
      rt.forward(p.q, p.k, p.v, p.o, p.params);
    }
    EXPECT_EQ(p.o32, nearest.o32);
    EXPECT_EQ(0, std::memcmp(p.lse.data(), nearest.lse.data(), p.lse.size() * sizeof(float)));
  }
}

TEST(SchedulerRuntime, AppliesDomainsThreadsAndBindFromTheEnvironment) {
  if (!scheduler::Machine::can_load()) GTEST_SKIP() << "this build has no hwloc to read topology files";
  const Env env{{"ATTNRT_TOPOLOGY", kA64fx.c_str()}, {"ATTNRT_DOMAINS", "1,3"}, {"ATTNRT_BIND", "domain"}};
  attnrt_config c;
  rt::config_from_env(c);
  rt::Runtime rt(c);
  EXPECT_EQ(rt.num_threads(), 24);
  EXPECT_EQ(rt.placement().workers_in(0), 0);
  EXPECT_EQ(rt.placement().workers_in(1), 12);
  EXPECT_EQ(rt.placement().bind(), scheduler::Bind::domain);
  const Env threads{{"ATTNRT_NUM_THREADS", "6"}};
  rt::config_from_env(c);
  rt::Runtime six(c);
  EXPECT_EQ(six.placement().workers_in(1), 3);
  EXPECT_EQ(six.placement().workers_in(3), 3);
}

// three_pass stages S in half of a core's share of its domain's L2, within
// [128 KiB, 2 MiB]: the plan follows the machine, not a constant.
TEST(SchedulerRuntime, ThreePassStageIsHalfACoresL2Share) {
  if (!scheduler::Machine::can_load()) GTEST_SKIP() << "this build has no hwloc to read topology files";
  const struct {
    std::string topology;
    std::size_t stage;
  } cases[] = {
      {kA64fx, std::size_t{8} * 1024 * 1024 / 12 / 2},  // 8 MiB per CMG of 12 cores
      {"package:1 [numa(memory=1073741824)] l2:2(size=1048576) core:1 pu:1", 512 * 1024},
      {"package:1 [numa(memory=1073741824)] l2:1(size=8388608) core:2 pu:1", 2 * 1024 * 1024},
      {"package:1 [numa(memory=1073741824)] l2:1(size=1048576) core:8 pu:1", 128 * 1024},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.topology);
    rt::Runtime r(config("openmp", c.topology.c_str(), 1));
    Problem p({.B = 1, .Hq = 2, .Hkv = 2, .M = 64, .N = 300, .D = 32, .Dv = 32, .name = "stage"});
    p.params.strategy = ATTNRT_STRATEGY_THREE_PASS;
    EXPECT_EQ(r.plan_for(p.q, p.k, p.v, p.o, p.params).blocking.stage_bytes, c.stage);
  }
}

// The message of the error creating a runtime from the environment.
std::string create_error(std::initializer_list<std::pair<const char*, const char*>> vars) {
  const Env env(vars);
  attnrt_runtime* r = nullptr;
  const attnrt_status s = attnrt_runtime_create(nullptr, &r);
  attnrt_runtime_destroy(r);
  return s == ATTNRT_OK ? "" : attnrt_last_error();
}

TEST(SchedulerRuntime, EachBadSettingIsAnErrorNamingIt) {
  const std::string a64fx = kA64fx;
  EXPECT_EQ(create_error({{"ATTNRT_TOPOLOGY", "package:x"}}).rfind("ATTNRT_TOPOLOGY (package:x): ", 0), 0u);
  EXPECT_EQ(create_error({{"ATTNRT_DOMAINS", "0-1"}}),
            "ATTNRT_DOMAINS (0-1): domain 1 does not exist: the machine has domains 0-0");
  if (scheduler::Machine::can_load()) {
    EXPECT_EQ(create_error({{"ATTNRT_TOPOLOGY", a64fx.c_str()}, {"ATTNRT_DOMAINS", "2,7"}}),
              "ATTNRT_DOMAINS (2,7): domain 7 does not exist: the machine has domains 0-3");
  }
  EXPECT_EQ(create_error({{"ATTNRT_DOMAINS", "x"}}).rfind("ATTNRT_DOMAINS (x) must be", 0), 0u);
  EXPECT_EQ(create_error({{"ATTNRT_BIND", "socket"}}), "ATTNRT_BIND (socket) must be core, domain or none");
  EXPECT_EQ(create_error({{"ATTNRT_EXECUTOR", "pthreads"}}), "ATTNRT_EXECUTOR (pthreads) must be openmp or tbb");
  EXPECT_EQ(create_error({{"ATTNRT_NUM_THREADS", "0"}}), "ATTNRT_NUM_THREADS (0) must be an integer in [1, 4096]");
  EXPECT_EQ(create_error({{"ATTNRT_VERBOSE", "yes"}}), "ATTNRT_VERBOSE (yes) must be 0 or 1");

  // The same values given in code name the config field.
  attnrt_config c{};
  c.domains = "3";
  attnrt_runtime* r = nullptr;
  EXPECT_EQ(attnrt_runtime_create(&c, &r), ATTNRT_CONFIG_ERROR);
  EXPECT_EQ(std::string(attnrt_last_error()), "config.domains (3): domain 3 does not exist: the machine has domains 0-0");
  c = attnrt_config{};
  c.topology = "/nonexistent/topology.xml";
  EXPECT_EQ(attnrt_runtime_create(&c, &r), ATTNRT_CONFIG_ERROR);
  EXPECT_EQ(std::string(attnrt_last_error()).rfind("config.topology (/nonexistent/topology.xml): ", 0), 0u);
}

TEST(SchedulerRuntime, VerboseShowsTopologyPinningAndEachCall) {
  attnrt_config c = config(executors().back(), nullptr);
  c.verbose = 1;
  ::testing::internal::CaptureStderr();
  {
    rt::Runtime rt(c);
    Problem p(cases()[0]);
    rt.forward(p.q, p.k, p.v, p.o, p.params);
  }
  const std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_NE(err.find("topology: this machine"), std::string::npos) << err;
  EXPECT_NE(err.find("w0->cpu"), std::string::npos) << err;
  EXPECT_NE(err.find("arena:"), std::string::npos) << err;
  EXPECT_NE(err.find("M=1 N=1000"), std::string::npos) << err;
  EXPECT_NE(err.find("gflops="), std::string::npos) << err;
}

// Whether a child forked while another thread allocates can allocate. Not
// under GCC 12's sanitizers, whose runtimes take no lock around fork()
// (LLVM added ASan's pthread_atfork handler in 2023): the child can wait
// forever on that thread's allocator lock, in any program (a bare
// fork-and-allocate loop built with ASan hung 1 child in 2000 here). The
// runtime is linked in whenever the library is sanitized, whatever the
// scope, so the busy-thread fork is tested in native builds only, where
// glibc's malloc locks around fork.
constexpr bool kMallocIsForkSafe = !ATTNRT_TEST_SANITIZED;

// A forked child (Python's multiprocessing, a pre-forking server) has none
// of its parent's worker threads: there the runtimes made before the fork,
// the process-wide one and one made in the child run each call's parts in
// turn on the calling thread, giving the parent's results bit for bit,
// rather than waiting forever for threads that are not there.
TEST(SchedulerRuntime, ForkedChildComputesTheParentsResults) {
  for (const char* ex : executors()) {
    SCOPED_TRACE(ex);
    std::vector<std::unique_ptr<rt::Runtime>> made;
    made.push_back(std::make_unique<rt::Runtime>(config(ex, nullptr)));
    if (scheduler::Machine::can_load()) made.push_back(std::make_unique<rt::Runtime>(config(ex, kA64fx.c_str())));
    // Each way to call, with what it gave in the parent.
    std::vector<std::function<attnrt_status(Problem&)>> calls;
    for (const auto& r : made)
      calls.push_back([&r = *r](Problem& c) {
        r.forward(c.q, c.k, c.v, c.o, c.params);
        return ATTNRT_OK;
      });
    calls.push_back([](Problem& c) { return attnrt_attention_forward(&c.q, &c.k, &c.v, &c.o, &c.params); });
    std::vector<std::vector<float>> want;
    for (auto& call : calls) {
      Problem c(cases()[0]);
      ASSERT_EQ(call(c), ATTNRT_OK) << attnrt_last_error();
      want.push_back(c.o32);
    }
    // Another thread in the middle of calls on the first runtime as the
    // process forks: the child must not inherit its hold on the runtime.
    std::atomic<bool> stop{false};
    std::thread busy([&] {
      Problem c(cases()[0]);
      while (!stop.load()) calls[0](c);
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    if (!kMallocIsForkSafe) {  // (and the workers given time to finish freeing the last call's tasks)
      stop = true;
      busy.join();
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    const pid_t child = fork();
    if (child == 0) {
      alarm(120);  // a hang ends as SIGALRM
      int wrong = 0;
      for (std::size_t i = 0; i < calls.size(); ++i) {
        Problem c(cases()[0]);
        wrong += calls[i](c) != ATTNRT_OK || c.o32 != want[i];
      }
      rt::Runtime fresh(config(ex, nullptr));
      Problem c(cases()[0]);
      fresh.forward(c.q, c.k, c.v, c.o, c.params);
      wrong += c.o32 != want[0];
      _exit(wrong);
    }
    stop = true;
    if (busy.joinable()) busy.join();
    ASSERT_GE(child, 0);
    int status = 0;
    ASSERT_EQ(waitpid(child, &status, 0), child);
    ASSERT_TRUE(WIFEXITED(status)) << "the child hung or crashed: signal " << WTERMSIG(status);
    EXPECT_EQ(WEXITSTATUS(status), 0) << "calls in the child gave other results than in the parent";
  }
}

// Run in a child process by DefaultRuntimeEndsCleanlyAtExit: a program that
// only uses the process-wide runtime, so that it is made first and destroyed
// last.
TEST(SchedulerRuntimeChild, DISABLED_UsesOnlyTheDefaultRuntime) {
  Problem p(cases()[0]);
  ASSERT_EQ(attnrt_attention_forward(&p.q, &p.k, &p.v, &p.o, &p.params), ATTNRT_OK) << attnrt_last_error();
}

TEST(SchedulerRuntime, DefaultRuntimeEndsCleanlyAtExit) {
  const std::string self = ::testing::internal::GetArgvs()[0];
  for (const char* ex : executors()) {
    const std::string cmd = std::string("ATTNRT_EXECUTOR=") + ex + " '" + self +
                            "' --gtest_also_run_disabled_tests --gtest_filter=SchedulerRuntimeChild.* >/dev/null 2>&1";
    const int status = std::system(cmd.c_str());
    if (WIFEXITED(status) && (WEXITSTATUS(status) == 126 || WEXITSTATUS(status) == 127))
      GTEST_SKIP() << "cannot run this test binary again here (an emulated cross build?)";
    EXPECT_EQ(status, 0) << ex << ": the child failed or crashed at exit";
  }
}

}  // namespace
}  // namespace attnrt
