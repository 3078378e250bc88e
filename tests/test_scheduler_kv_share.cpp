// K/V blocks packed once per domain (runtime/src/kv_share.hpp): the shared
// slots' protocol on its own, then the runtime's results bit-identical with
// sharing forced on, automatic and off, over prefill shapes (GQA, causal,
// windows, varlen, paged, fp16) and every strategy, on 4 workers of this
// machine (oversubscribed on 2 cores) and on the 48-worker A64FX topology,
// with several callers at once; and which shapes the automatic rule shares.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <numeric>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "kernels/convert.hpp"
#include "runtime/internal/attnrt_internal.hpp"

namespace attnrt {
namespace {

const std::string kA64fx = std::string(ATTNRT_TEST_DATA) + "/a64fx.xml";

// ---- the slots alone ---------------------------------------------------------

TEST(SharedSlots, FillOnceReadManyRecycleWhenUnread) {
  std::vector<std::byte> mem(64 * 1024);
  scheduler::SharedSlots slots(mem.data(), mem.size());
  ASSERT_TRUE(slots.begin_call(16 * 1024, 2));
  EXPECT_FALSE(slots.begin_call(16 * 1024, 2)) << "a second call while the first holds them";
  const int n = slots.slots();
  ASSERT_GE(n, 2);
  const scheduler::SlotKey a{0, 1, 0, 5}, b{0, 1, 1, 5};
  const scheduler::SlotLease fill = slots.acquire(a);
  ASSERT_TRUE(fill.data && fill.fill);
  std::memset(fill.data, 7, 16);
  slots.publish(fill);
  const scheduler::SlotLease read = slots.acquire(a);
  EXPECT_EQ(read.data, fill.data);
  EXPECT_FALSE(read.fill);
  EXPECT_EQ(std::to_integer<int>(read.data[3]), 7);
  EXPECT_EQ(slots.reads(), 1u);
  // Every other slot taken (filled and still read): no slot left for b
  // while a's two readers hold theirs.
  std::vector<scheduler::SlotLease> others;
  for (int i = 0; i + 1 < n; ++i) {
    others.push_back(slots.acquire({9, i, 0, 0}));
    ASSERT_TRUE(others.back().fill);
    slots.publish(others.back());
  }
  EXPECT_EQ(slots.acquire(b).data, nullptr) << "every slot is read: pack privately";
  slots.release(fill);
  EXPECT_EQ(slots.acquire(b).data, nullptr) << "a still has a reader";
  slots.release(read);
  const scheduler::SlotLease reuse = slots.acquire(b);
  EXPECT_EQ(reuse.data, fill.data) << "a's slot, unread now, is refilled";
  EXPECT_TRUE(reuse.fill);
  slots.publish(reuse);
  slots.release(reuse);
  for (const auto& l : others) slots.release(l);
  slots.end_call();
  ASSERT_TRUE(slots.begin_call(16 * 1024, 2));
  EXPECT_TRUE(slots.acquire(b).fill) << "a new call starts empty";
  slots.end_call();
  EXPECT_FALSE(slots.begin_call(60 * 1024, 2)) << "fewer than 2 slots fit";
}

TEST(SharedSlots, ManyThreadsSeeOnePackingPerKey) {
  std::vector<std::byte> mem(256 * 1024);
  scheduler::SharedSlots slots(mem.data(), mem.size());
  ASSERT_TRUE(slots.begin_call(4096, 4));
  constexpr int kThreads = 4, kKeys = 64;
  std::vector<int> bad(kThreads, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] {
      for (int k = 0; k < kKeys; ++k) {
        std::int32_t value = k * 1000 + 17;
        const scheduler::SlotLease l = slots.acquire({1, 2, 0, k});
        if (!l.data) continue;  // no free slot: would pack privately
        if (l.fill) {
          for (int i = 0; i < 1024; ++i) std::memcpy(l.data + 4 * i, &value, 4);
          slots.publish(l);
        }
        for (int i = 0; i < 1024; ++i) {
          std::int32_t got;
          std::memcpy(&got, l.data + 4 * i, 4);
          bad[t] += got != value;
        }
        slots.release(l);
      }
    });
  for (auto& th : threads) th.join();
  slots.end_call();
  EXPECT_EQ(std::accumulate(bad.begin(), bad.end(), 0), 0);
}

// ---- the runtime ---------------------------------------------------------------

struct Case {
  std::string name;
  std::int64_t B = 1, Hq = 4, Hkv = 4, M = 600, N = 600, D = 64;
  attnrt_dtype dtype = ATTNRT_F32;
  bool causal = false;
  std::int64_t left = -1;
  attnrt_strategy strategy = ATTNRT_STRATEGY_AUTO;
  std::vector<std::int32_t> varlen = {};  // sequence lengths (queries = keys)
  int page_size = 0;                 // paged K/V, pages shuffled
};

// Inputs of a case and a call that writes O and LSE.
struct Call {
  Case c;
  std::vector<std::uint16_t> q16, k16, v16, o16;
  std::vector<float> q32, k32, v32, o32, lse;
  std::vector<std::int32_t> cu, table;
  std::vector<std::int64_t> kv_lens;
  attnrt_tensor q{}, k{}, v{}, o{}, lse_t{};
  attnrt_params params{};

  explicit Call(const Case& cs) : c(cs) {
    std::mt19937 rng(42);
    std::uniform_real_distribution<float> u(-2, 2);
    std::int64_t B = c.B, M = c.M, N = c.N;
    if (!c.varlen.empty()) {
      cu.push_back(0);
      for (auto n : c.varlen) cu.push_back(cu.back() + n);
      B = 1, M = N = cu.back();
    }
    std::int64_t kb = B, kn = N;  // K/V tensor batch and rows (a pool's pages and page rows when paged)
    if (c.page_size) {
      const std::int64_t per = (N + c.page_size - 1) / c.page_size;
      kb = B * per, kn = c.page_size;
      table.resize(kb);
      std::iota(table.begin(), table.end(), 0);
      std::shuffle(table.begin(), table.end(), rng);
      kv_lens.assign(B, N);
    }
    auto fill = [&](std::vector<float>& f32, std::vector<std::uint16_t>& f16, attnrt_tensor& t, std::int64_t b,
                    std::int64_t h, std::int64_t s, bool input) {
      const std::int64_t n = b * h * s * c.D;
      t = {nullptr, c.dtype, {b, h, s, c.D}, {h * s * c.D, s * c.D, c.D}};
      if (c.dtype == ATTNRT_F32) {
        f32.resize(n);
        if (input) std::generate(f32.begin(), f32.end(), [&] { return u(rng); });
        t.data = f32.data();
      } else {
        f16.resize(n);
        if (input) std::generate(f16.begin(), f16.end(), [&] { return kernels::float_to_fp16(u(rng)); });
        t.data = f16.data();
      }
    };
    fill(q32, q16, q, B, c.Hq, M, true);
    fill(k32, k16, k, kb, c.Hkv, kn, true);
    fill(v32, v16, v, kb, c.Hkv, kn, true);
    fill(o32, o16, o, B, c.Hq, M, false);
    lse.assign(B * c.Hq * M, 0);
    lse_t = {lse.data(), ATTNRT_F32, {B, c.Hq, M, 1}, {c.Hq * M, M, 1}};
    attnrt_params_init(&params);
    params.causal = c.causal;
    params.window_left = c.left;
    params.strategy = c.strategy;
    params.lse = &lse_t;
    if (!cu.empty()) {
      params.cu_seqlens_q = params.cu_seqlens_k = cu.data();
      params.num_seqs = static_cast<std::int64_t>(c.varlen.size());
    }
    if (c.page_size) {
      params.block_table = table.data();
      params.block_table_stride = kb / B;
      params.kv_lens = kv_lens.data();
    }
  }
  Call(const Call&) = delete;

  // O and LSE bytes after a call on rt.
  std::vector<std::byte> run(rt::Runtime& rt) {
    rt.forward(q, k, v, o, params);
    std::vector<std::byte> out;
    auto add = [&](const void* p, std::size_t n) {
      const auto* b = static_cast<const std::byte*>(p);
      out.insert(out.end(), b, b + n);
    };
    if (c.dtype == ATTNRT_F32) add(o32.data(), o32.size() * 4); else add(o16.data(), o16.size() * 2);
    add(lse.data(), lse.size() * 4);
    return out;
  }
};

std::vector<Case> cases() {
  std::vector<Case> cs = {
      {.name = "mha"},
      {.name = "gqa_4_1", .Hq = 8, .Hkv = 2},
      {.name = "causal", .Hq = 2, .Hkv = 1, .M = 700, .N = 900, .causal = true},
      {.name = "window", .Hq = 4, .Hkv = 1, .M = 512, .N = 800, .left = 200},
      {.name = "fp16", .Hq = 4, .Hkv = 2, .dtype = ATTNRT_F16},
      {.name = "varlen", .Hq = 4, .Hkv = 2, .varlen = {300, 17, 700}},
      {.name = "paged", .B = 2, .Hq = 4, .Hkv = 1, .M = 300, .N = 700, .page_size = 16},
  };
  const std::size_t base = cs.size();
  for (std::size_t i = 0; i < base; ++i)
    for (attnrt_strategy s : {ATTNRT_STRATEGY_ONLINE, ATTNRT_STRATEGY_TWO_PASS, ATTNRT_STRATEGY_THREE_PASS}) {
      Case x = cs[i];
      x.strategy = s;
      x.name.append(s == ATTNRT_STRATEGY_ONLINE ? "/online" : s == ATTNRT_STRATEGY_TWO_PASS ? "/two_pass" : "/three_pass");
      cs.push_back(x);
    }
  return cs;
}

attnrt_config config(const char* topology, int threads, attnrt_executor executor = ATTNRT_EXECUTOR_TBB) {
  attnrt_config c{};
  attnrt_config_init(&c);
  c.topology = topology;
  c.num_threads = threads;
  c.executor = scheduler::has_executor(scheduler::ExecutorKind::tbb) ? executor : ATTNRT_EXECUTOR_OPENMP;
  return c;
}

// Every case gives the same bytes with sharing off, automatic and forced on,
// and blocks were really read from another worker's packing.
void expect_same_bits(const attnrt_config& cfg) {
  rt::Runtime rt(cfg);
  for (const Case& c : cases()) {
    Call call(c);
    rt.set_kv_share(rt::KvShareMode::off);
    const auto off = call.run(rt);
    rt.set_kv_share(rt::KvShareMode::always);
    const std::uint64_t before = rt.kv_blocks_shared();
    EXPECT_TRUE(call.run(rt) == off) << c.name << ": shared";
    std::printf("%s: %llu blocks read from another worker's packing\n", c.name.c_str(),
                static_cast<unsigned long long>(rt.kv_blocks_shared() - before));
    rt.set_kv_share(rt::KvShareMode::automatic);
    EXPECT_TRUE(call.run(rt) == off) << c.name << ": automatic";
  }
  EXPECT_GT(rt.kv_blocks_shared(), 0u) << "no block was ever read from another worker's packing";
}

TEST(KvShare, BitIdenticalOnFourWorkers) { expect_same_bits(config(nullptr, 4)); }

TEST(KvShare, BitIdenticalOnFourWorkersOpenMp) {
#if ATTNRT_TSAN
  GTEST_SKIP() << "libgomp is not built with ThreadSanitizer (scripts/ci-tsan.sh)";
#endif
  expect_same_bits(config(nullptr, 4, ATTNRT_EXECUTOR_OPENMP));
}

TEST(KvShare, BitIdenticalOnA64fxTopology) { expect_same_bits(config(kA64fx.c_str(), 48)); }

// Callers at once on one runtime: one call holds a domain's slots, the
// others pack privately; every result is the one computed alone.
TEST(KvShare, ConcurrentCallersBitIdentical) {
  rt::Runtime rt(config(nullptr, 4));
  rt.set_kv_share(rt::KvShareMode::always);
  const std::vector<Case> cs = {cases()[0], cases()[1], cases()[2], cases()[5]};
  std::vector<std::unique_ptr<Call>> calls;
  std::vector<std::vector<std::byte>> alone;
  for (const Case& c : cs) {
    calls.push_back(std::make_unique<Call>(c));
    alone.push_back(calls.back()->run(rt));
  }
  std::vector<int> wrong(cs.size(), 0);
  std::vector<std::thread> threads;
  for (std::size_t i = 0; i < cs.size(); ++i)
    threads.emplace_back([&, i] {
      Call mine(cs[i]);  // own buffers: callers must not share outputs
      for (int r = 0; r < 3; ++r) wrong[i] += mine.run(rt) != alone[i];
    });
  for (auto& t : threads) t.join();
  for (std::size_t i = 0; i < cs.size(); ++i) EXPECT_EQ(wrong[i], 0) << cs[i].name;
}

// The automatic rule: a domain shares where its parts split a (batch, KV
// head) group's rows that read the same keys. S2 (B1 H8 M=N=2048) on 48
// A64FX workers: 2 heads per CMG over 24 parts, so yes; on 2 workers of one
// domain, 4 parts of 2 heads each, so no; GQA 8:1 there, yes; S4 (B1 H2
// M12 N32768) on 48 workers: one line per head cut by keys, so no.
bool splits(const char* topology, int threads, std::int64_t Hq, std::int64_t Hkv, std::int64_t M = 2048,
            std::int64_t N = 2048) {
  rt::Runtime rt(config(topology, threads));
  attnrt_tensor q{nullptr, ATTNRT_F32, {1, Hq, M, 128}, {Hq * M * 128, M * 128, 128}};
  attnrt_tensor k{nullptr, ATTNRT_F32, {1, Hkv, N, 128}, {Hkv * N * 128, N * 128, 128}};
  attnrt_params params;
  attnrt_params_init(&params);
  const rt::Runtime::Split s = rt.split(q, k, k, params);
  std::vector<std::byte> state(scheduler::Partition::state_bytes(rt.placement().workers(), s.options.parts_per_worker));
  const scheduler::Partition part(s.shape, s.options, rt.placement(), state.data());
  const int first = rt.placement().first_worker(0) * part.parts_per_worker();
  return part.splits_group(first, first + rt.placement().workers_in(0) * part.parts_per_worker());
}

TEST(KvShare, AutomaticRuleFollowsThePartition) {
  EXPECT_TRUE(splits(kA64fx.c_str(), 48, 8, 8));
  EXPECT_FALSE(splits(nullptr, 2, 8, 8));
  EXPECT_TRUE(splits(nullptr, 2, 8, 1));
  EXPECT_FALSE(splits(kA64fx.c_str(), 48, 2, 2, 12, 32768));
}

}  // namespace
}  // namespace attnrt
