// Many callers at once: every call's result is bit-identical to the same
// call made alone, for prefill and decode requests, with split-KV work on a
// 48-worker (A64FX) placement and with this machine's workers, and through
// the process-wide default runtime. CI runs this under ThreadSanitizer with
// the oneTBB executor (scripts/ci-tsan.sh); libgomp is not instrumented, so
// the OpenMP executor is left out there.
#include <gtest/gtest.h>

#include <cstring>
#include <deque>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "runtime/internal/attnrt_internal.hpp"

namespace attnrt {
namespace {

constexpr int kCallers = 8;
#if ATTNRT_TSAN
constexpr int kRounds = 2;
#else
constexpr int kRounds = 6;
#endif

struct Request {
  std::int64_t B, Hq, Hkv, M, N, D;
  bool causal;
  std::vector<float> q, k, v, o, lse, solo_o, solo_lse;
  attnrt_tensor tq, tk, tv, to, tl;
  attnrt_params params;

  Request(std::int64_t b, std::int64_t hq, std::int64_t hkv, std::int64_t m, std::int64_t n, std::int64_t d,
          bool c, unsigned seed)
      : B(b), Hq(hq), Hkv(hkv), M(m), N(n), D(d), causal(c) {
    std::mt19937 rng(seed);
    std::uniform_real_distribution<float> u(-1, 1);
    q.resize(B * Hq * M * D), k.resize(B * Hkv * N * D), v.resize(B * Hkv * N * D);
    for (auto* t : {&q, &k, &v})
      for (float& x : *t) x = u(rng);
    o.assign(B * Hq * M * D, 0), lse.assign(B * Hq * M, 0);
    tq = {q.data(), ATTNRT_F32, {B, Hq, M, D}, {Hq * M * D, M * D, D}};
    tk = {k.data(), ATTNRT_F32, {B, Hkv, N, D}, {Hkv * N * D, N * D, D}};
    tv = {v.data(), ATTNRT_F32, {B, Hkv, N, D}, {Hkv * N * D, N * D, D}};
    to = {o.data(), ATTNRT_F32, {B, Hq, M, D}, {Hq * M * D, M * D, D}};
    tl = {lse.data(), ATTNRT_F32, {B, Hq, M, 1}, {Hq * M, M, 1}};
    attnrt_params_init(&params);
    params.causal = causal;
    params.lse = &tl;
  }
  Request(const Request&) = delete;  // the tensors point into it
  Request& operator=(const Request&) = delete;

  void clear() {
    std::fill(o.begin(), o.end(), -1.0f);
    std::fill(lse.begin(), lse.end(), -1.0f);
  }
  bool same_as_solo() const {
    return std::memcmp(o.data(), solo_o.data(), o.size() * 4) == 0 &&
           std::memcmp(lse.data(), solo_lse.data(), lse.size() * 4) == 0;
  }
};

// A mix of prefill and decode requests per caller.
std::vector<std::deque<Request>> requests() {
  std::vector<std::deque<Request>> all(kCallers);
  for (int c = 0; c < kCallers; ++c) {
    const unsigned s = 100 * c;
    all[c].emplace_back(1, 4, 2, 1, 700 + 37 * c, 64, false, s + 1);   // decode, GQA
    all[c].emplace_back(1, 2, 2, 96 + c, 160, 32, c % 2 == 0, s + 2);  // prefill, causal on half
    all[c].emplace_back(2, 2, 1, 3, 500, 64, true, s + 3);             // skinny
  }
  return all;
}

template <class Call>
void expect_concurrent_calls_match_solo(Call&& call) {
  auto all = requests();
  for (auto& mine : all)
    for (Request& r : mine) {
      r.clear();
      call(r);
      r.solo_o = r.o;
      r.solo_lse = r.lse;
    }
  std::vector<int> mismatches(kCallers, 0);
  std::vector<std::thread> threads;
  for (int c = 0; c < kCallers; ++c)
    threads.emplace_back([&, c] {
      for (int round = 0; round < kRounds; ++round)
        for (Request& r : all[c]) {
          r.clear();
          call(r);
          mismatches[c] += !r.same_as_solo();
        }
    });
  for (auto& t : threads) t.join();
  for (int c = 0; c < kCallers; ++c) EXPECT_EQ(mismatches[c], 0) << "caller " << c;
}

std::vector<attnrt_executor> executors() {
  std::vector<attnrt_executor> e;
  if (scheduler::has_executor(scheduler::ExecutorKind::tbb)) e.push_back(ATTNRT_EXECUTOR_TBB);
#if !ATTNRT_TSAN
  e.push_back(ATTNRT_EXECUTOR_OPENMP);
#endif
  return e;
}

TEST(Concurrency, CallsMatchSoloCallsOnA64fxPlacement) {
  if (!scheduler::Machine::can_load()) GTEST_SKIP() << "this build has no hwloc to read topology files";
  const std::string topo = std::string(ATTNRT_TEST_DATA) + "/a64fx.xml";
  for (attnrt_executor ex : executors()) {
    attnrt_config c{};
    c.executor = ex;
    c.topology = topo.c_str();
    rt::Runtime rt(c);
    SCOPED_TRACE(rt.executor().name());
    expect_concurrent_calls_match_solo([&](Request& r) { rt.forward(r.tq, r.tk, r.tv, r.to, r.params); });
  }
}

TEST(Concurrency, CallsMatchSoloCallsOnThisMachine) {
  for (attnrt_executor ex : executors()) {
    attnrt_config c{};
    c.executor = ex;
    rt::Runtime rt(c);
    SCOPED_TRACE(rt.executor().name());
    expect_concurrent_calls_match_solo([&](Request& r) { rt.forward(r.tq, r.tk, r.tv, r.to, r.params); });
  }
}

TEST(Concurrency, DefaultRuntimeServesManyThreads) {
  expect_concurrent_calls_match_solo([](Request& r) {
    ASSERT_EQ(attnrt_attention_forward(&r.tq, &r.tk, &r.tv, &r.to, &r.params), ATTNRT_OK) << attnrt_last_error();
  });
}

}  // namespace
}  // namespace attnrt
