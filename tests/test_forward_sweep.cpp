// The public call against the double-precision reference, on every kernel
// set the registry has (sets this CPU cannot run are skipped) and every
// strategy. Each case runs through the C ABI and the C++
// layer on two threads (they must match bit for bit) and on one thread
// (another summation order when two threads split keys: checked against the
// reference).
//
// The sweep is chosen, not a cartesian product: every head dim meets a few
// sequence shapes, every mask meets a few shapes, dtypes and layouts rotate,
// and large head dims stay with small M x N so the suite stays fast.
#include <attnrt/attnrt.h>
#include <attnrt/attnrt.hpp>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "runtime/internal/attnrt_internal.hpp"
#include "tests/harness.hpp"

namespace attnrt::test {
namespace {

constexpr attnrt_dtype kDtypes[] = {ATTNRT_F32, ATTNRT_F16, ATTNRT_BF16};
constexpr Layout kLayouts[] = {Layout::bhsd, Layout::bshd, Layout::cache};
constexpr auto BR = ATTNRT_ALIGN_BOTTOM_RIGHT;
constexpr auto TL = ATTNRT_ALIGN_TOP_LEFT;

struct Shape {
  std::int64_t M, N, D;
};

// Rotates through dtypes and layouts so each group covers all of them.
struct Rotation {
  int i = 0;
  attnrt_dtype dtype() const { return kDtypes[i % 3]; }
  Layout layout() const { return kLayouts[(i / 3 + i) % 3]; }
  void next() { ++i; }
};

std::vector<Spec> sweep_specs() {
  std::vector<Spec> out;
  auto add = [&](Spec s) { out.push_back(std::move(s)); };

  // Head dims x sequence shapes, every dtype. M != N throughout: a bottom-
  // right and top-left mistake would otherwise cancel.
  const std::vector<Shape> dims = {
      {1, 1000, 32}, {1000, 7, 32},  {257, 33, 32},  {7, 257, 64},   {1000, 257, 64},
      {33, 257, 80}, {257, 1, 80},   {1, 33, 96},    {33, 1000, 96}, {257, 7, 128},
      {7, 1000, 128}, {33, 7, 256},  {1, 257, 256},  {257, 33, 256}, {7, 33, 512}};  // 512: the largest allowed
  for (const Shape& sh : dims)
    for (attnrt_dtype t : kDtypes)
      add({.dtype = t, .B = 1, .Hq = 2, .Hkv = 2, .M = sh.M, .N = sh.N, .D = sh.D, .Dv = sh.D});

  // Dv != D.
  Rotation rot;
  const std::vector<std::array<std::int64_t, 4>> dv_cases = {  // D, Dv, M, N
      {64, 128, 33, 257}, {128, 64, 257, 33}, {32, 80, 7, 1000}, {96, 32, 1000, 7},
      {256, 64, 7, 33},   {80, 96, 33, 1},    {64, 256, 1, 257}, {128, 32, 33, 257}};
  for (const auto& [D, Dv, M, N] : dv_cases) {
    add({.dtype = rot.dtype(), .B = 1, .Hq = 2, .Hkv = 1, .M = M, .N = N, .D = D, .Dv = Dv,
         .layout = rot.layout()});
    rot.next();
  }

  // Grouped-query attention: ratios 1, 4, 8 and MQA, in every layout.
  const std::vector<std::array<std::int64_t, 2>> heads = {{4, 4}, {8, 2}, {16, 2}, {8, 1}, {6, 1}};
  for (const auto& [hq, hkv] : heads)
    for (Layout l : kLayouts) {
      add({.dtype = rot.dtype(), .B = 2, .Hq = hq, .Hkv = hkv, .M = 33, .N = 257, .D = 64, .Dv = 64,
           .layout = l});
      rot.next();
    }

  // Layouts on tails: odd head dims, odd lengths.
  for (Layout l : kLayouts)
    for (attnrt_dtype t : kDtypes)
      add({.dtype = t, .B = 3, .Hq = 2, .Hkv = 1, .M = 7, .N = 33, .D = 80, .Dv = 80, .layout = l});

  // Masks, each on a few shapes (M < N, M > N, decode) in rotating dtypes.
  struct Mask {
    bool causal;
    attnrt_causal_align align;
    std::int64_t wl, wr;
  };
  const std::vector<Mask> masks = {
      {true, BR, -1, -1},  {true, TL, -1, -1},  {false, BR, 16, -1}, {false, TL, 16, -1},
      {false, BR, -1, 5},  {false, TL, 8, 3},   {false, BR, 8, 3},   {true, BR, 32, -1},
      {true, TL, 32, -1},  {true, BR, -1, 4},   {false, BR, 0, 0},   {true, TL, 2, -1}};
  const std::vector<Shape> mask_shapes = {{33, 257, 64}, {257, 33, 32}, {1, 1000, 64}, {40, 33, 96}};
  for (const Mask& m : masks)
    for (const Shape& sh : mask_shapes) {
      // One (batch, head) pair per KV head, so the row partition differs
      // between one and two threads and the bit-identity check means something.
      add({.dtype = rot.dtype(), .B = 1, .Hq = 2, .Hkv = 1, .M = sh.M, .N = sh.N, .D = sh.D, .Dv = sh.D,
           .layout = rot.layout(), .causal = m.causal, .align = m.align, .window_left = m.wl,
           .window_right = m.wr});
      rot.next();
    }

  // Windows wider than a key block, on rows split differently by one and by
  // two threads: the key blocks a row sees must not depend on its row block.
  for (attnrt_dtype t : kDtypes) {
    add({.dtype = t, .B = 1, .Hq = 1, .Hkv = 1, .M = 257, .N = 1000, .D = 256, .Dv = 256,
         .window_left = 200});
    add({.dtype = t, .B = 1, .Hq = 1, .Hkv = 1, .M = 257, .N = 1000, .D = 256, .Dv = 128, .causal = true,
         .align = TL, .window_left = 300});
  }

  // Per-batch key lengths, including 0 (a batch with no keys) and N.
  for (attnrt_dtype t : kDtypes) {
    add({.dtype = t, .B = 4, .Hq = 2, .Hkv = 1, .M = 33, .N = 257, .D = 64, .Dv = 64,
         .kv_lens = {0, 257, 128, 1}});
    add({.dtype = t, .B = 4, .Hq = 2, .Hkv = 2, .M = 33, .N = 257, .D = 32, .Dv = 32, .layout = Layout::cache,
         .causal = true, .kv_lens = {257, 0, 33, 7}});
    add({.dtype = t, .B = 4, .Hq = 4, .Hkv = 1, .M = 1, .N = 1000, .D = 128, .Dv = 128,
         .layout = Layout::bshd, .kv_lens = {1000, 999, 0, 500}});
    add({.dtype = t, .B = 3, .Hq = 2, .Hkv = 1, .M = 40, .N = 33, .D = 64, .Dv = 64, .causal = true,
         .align = TL, .window_left = 4, .kv_lens = {33, 20, 0}});
  }

  // Bias: full, broadcast over batch, over heads, over both; -inf entries;
  // one row masked entirely.
  const BiasKind kinds[] = {BiasKind::full, BiasKind::batch1, BiasKind::heads1, BiasKind::both1};
  for (BiasKind k : kinds) {
    add({.dtype = rot.dtype(), .B = 2, .Hq = 4, .Hkv = 2, .M = 33, .N = 257, .D = 64, .Dv = 64,
         .layout = rot.layout(), .bias = k});
    rot.next();
    add({.dtype = rot.dtype(), .B = 2, .Hq = 4, .Hkv = 2, .M = 7, .N = 33, .D = 32, .Dv = 32,
         .layout = rot.layout(), .causal = true, .bias = k, .bias_masked_row = true});
    rot.next();
  }

  // Softcap and explicit scales, alone and with masks and bias.
  for (attnrt_dtype t : kDtypes) {
    add({.dtype = t, .B = 1, .Hq = 2, .Hkv = 2, .M = 33, .N = 257, .D = 64, .Dv = 64, .softcap = 0.5f});
    add({.dtype = t, .B = 1, .Hq = 2, .Hkv = 1, .M = 257, .N = 33, .D = 80, .Dv = 80, .causal = true,
         .bias = BiasKind::full, .softcap = 2.0f});
    add({.dtype = t, .B = 1, .Hq = 2, .Hkv = 2, .M = 33, .N = 257, .D = 32, .Dv = 32, .scale = 2.0f});
    add({.dtype = t, .B = 1, .Hq = 2, .Hkv = 2, .M = 7, .N = 1000, .D = 128, .Dv = 128, .softcap = 30.0f,
         .scale = 0.03f});
  }

  // Everything at once.
  for (attnrt_dtype t : kDtypes)
    for (Layout l : kLayouts) {
      add({.dtype = t, .B = 3, .Hq = 8, .Hkv = 2, .M = 40, .N = 257, .D = 64, .Dv = 32, .layout = l,
           .causal = true, .align = TL, .window_left = 48, .kv_lens = {257, 100, 0},
           .bias = BiasKind::heads1, .bias_masked_row = true, .softcap = 1.5f});
    }

  // ALiBi and sinks: alone, with causal masks in both alignments, windows,
  // key lengths (an empty batch: O = 0, LSE = the sink), a fully masked
  // bias row, softcap, GQA decode grouped and a long decode that two
  // threads split over keys (the sink is counted once; ALiBi calls split
  // rows only: runtime.cpp).
  for (attnrt_dtype t : kDtypes) {
    add({.dtype = t, .B = 1, .Hq = 4, .Hkv = 4, .M = 33, .N = 257, .D = 64, .Dv = 64, .alibi = true});
    add({.dtype = t, .B = 1, .Hq = 4, .Hkv = 2, .M = 33, .N = 257, .D = 64, .Dv = 48, .sinks = true});
    add({.dtype = t, .B = 2, .Hq = 4, .Hkv = 2, .M = 40, .N = 100, .D = 32, .Dv = 32, .causal = true,
         .kv_lens = {100, 0}, .alibi = true, .sinks = true});
    add({.dtype = t, .B = 1, .Hq = 2, .Hkv = 1, .M = 100, .N = 60, .D = 32, .Dv = 32, .causal = true, .align = TL,
         .window_left = 20, .bias = BiasKind::full, .bias_masked_row = true, .softcap = 5.0f, .alibi = true,
         .sinks = true});
    add({.dtype = t, .B = 2, .Hq = 8, .Hkv = 2, .M = 1, .N = 1000, .D = 128, .Dv = 128, .alibi = true,
         .sinks = true});
    add({.dtype = t, .B = 1, .Hq = 2, .Hkv = 1, .M = 1, .N = 4000, .D = 64, .Dv = 64, .sinks = true});
    add({.dtype = t, .B = 1, .Hq = 2, .Hkv = 1, .M = 1, .N = 4000, .D = 64, .Dv = 64, .alibi = true});
  }

  // Without LSE output (the null path).
  for (attnrt_dtype t : kDtypes) {
    add({.dtype = t, .B = 2, .Hq = 2, .Hkv = 1, .M = 33, .N = 257, .D = 64, .Dv = 64, .causal = true,
         .lse = false});
  }

  // Few query rows per head, fp32: where a kernel set has the direct K/V
  // path (K and V read in place), the planner takes it for online and
  // two_pass on such shapes, and the test below runs the other choice too.
  // Odd D and Dv (tails of the direct kernels), grouped GQA whose strips
  // cross heads (BSHD: Q rows with no single stride), masks, key lengths
  // with an empty batch and a fully masked bias row, a long decode that two
  // threads split over keys, and decode over BSHD rows a memory page apart
  // (which the kernels prefetch on every CPU, kv_runs.hpp).
  const std::vector<Spec> few_rows = {
      {.B = 2, .Hq = 8, .Hkv = 2, .M = 1, .N = 1000, .D = 128, .Dv = 128, .layout = Layout::bshd},
      {.B = 1, .Hq = 8, .Hkv = 8, .M = 1, .N = 1000, .D = 128, .Dv = 128, .layout = Layout::bshd},
      {.B = 1, .Hq = 1, .Hkv = 1, .M = 1, .N = 4000, .D = 64, .Dv = 64},
      {.B = 1, .Hq = 8, .Hkv = 2, .M = 4, .N = 257, .D = 33, .Dv = 17, .layout = Layout::bshd},
      {.B = 1, .Hq = 8, .Hkv = 2, .M = 4, .N = 257, .D = 64, .Dv = 80, .causal = true},
      {.B = 1, .Hq = 2, .Hkv = 2, .M = 7, .N = 257, .D = 80, .Dv = 80, .layout = Layout::cache,
       .causal = true, .align = TL, .window_left = 40},
      {.B = 3, .Hq = 2, .Hkv = 1, .M = 7, .N = 257, .D = 256, .Dv = 33, .layout = Layout::bshd,
       .kv_lens = {257, 0, 100}},
      {.B = 1, .Hq = 4, .Hkv = 1, .M = 12, .N = 1000, .D = 96, .Dv = 96, .window_left = 100, .window_right = 20},
      {.B = 2, .Hq = 2, .Hkv = 1, .M = 12, .N = 257, .D = 64, .Dv = 64, .bias = BiasKind::full,
       .bias_masked_row = true, .softcap = 5.0f},
      {.B = 1, .Hq = 2, .Hkv = 2, .M = 16, .N = 33, .D = 8, .Dv = 8, .layout = Layout::bshd, .causal = true},
      {.B = 2, .Hq = 2, .Hkv = 2, .M = 16, .N = 1000, .D = 128, .Dv = 64, .kv_lens = {1000, 17}, .lse = false},
  };
  for (const Spec& s : few_rows) add(s);

  // Fast exp2: a cross-section of the above.
  const std::size_t before_fast = out.size();
  for (std::size_t i = 0; i < before_fast; i += 7) {
    Spec s = out[i];
    s.precision = ATTNRT_EXP2_FAST;
    add(s);
  }
  return out;
}

struct SweepCase {
  Backend backend;
  Spec spec;
};
void PrintTo(const SweepCase& c, std::ostream* os) { *os << c.backend.name() << "_" << c.spec.name(); }

// Under emulation (scripts/ci-sve.sh sets ATTNRT_TEST_EMULATED=1) the sweep
// keeps only cases small enough for qemu (about 1e7 FLOP, about a second
// each emulated) and only the kernel sets the emulator is there for, the SVE
// ones; native runs cover the rest with every case.
bool small_enough_to_emulate(const Spec& s) {
  return s.B * s.Hq * s.M * s.N * (s.D + s.Dv) <= 3'000'000;
}

std::vector<SweepCase> sweep_cases() {
  const bool emu = emulated();
  std::vector<SweepCase> out;
  for (const Spec& s : sweep_specs()) {
    if (emu && !small_enough_to_emulate(s)) continue;
    for (const Backend& b : backends_for(s.dtype))
      if (!emu || b.isa.starts_with("sve")) out.push_back({b, s});
  }
  return out;
}

class ForwardSweep : public ::testing::TestWithParam<SweepCase> {};

// The C++ layer's runtimes, one per kernel set and thread count, shared by
// the cases as shared_runtime shares the C ABI's.
attnrt::Runtime& shared_cpp_runtime(const std::string& isa, int threads) {
  static std::map<std::pair<std::string, int>, std::unique_ptr<attnrt::Runtime>> made;
  std::unique_ptr<attnrt::Runtime>& rt = made[{isa, threads}];
  if (!rt) rt = std::make_unique<attnrt::Runtime>(attnrt::Config{.num_threads = threads, .isa = isa});
  return *rt;
}

TEST_P(ForwardSweep, MatchesReference) {
  const Backend& backend = GetParam().backend;
  const Spec& spec = GetParam().spec;
  if (!cpu_runs(backend.isa, spec.dtype)) GTEST_SKIP() << backend.isa << " needs CPU features this machine lacks";
  Problem p(spec);
  const RefResult ref = p.reference();

  // The C ABI on two threads.
  const CRuntime& rt2 = shared_runtime(backend.isa, 2);
  ASSERT_EQ(rt2.status(), ATTNRT_OK) << rt2.error();
  ASSERT_EQ(attnrt_runtime_kernel_set(rt2.get(), spec.dtype), backend.isa);
  HostTensor o2 = p.make_o();
  std::optional<HostTensor> lse2 = p.make_lse();
  ASSERT_EQ(run_c(rt2.get(), p, o2, lse2 ? &*lse2 : nullptr, backend.strategy), ATTNRT_OK) << attnrt_last_error();
  EXPECT_TRUE(matches_reference(o2, lse2 ? &*lse2 : nullptr, ref, tolerance(spec.dtype, spec.precision)));

  // The C++ layer on two threads: the same bits (results never depend on
  // which API was used, nor on timing). The C++ layer is a wrapper of the
  // C ABI whatever the vector length: under emulation it is not run again,
  // nor under sanitizers, where it repeated the C call's accesses (ASan
  // sweep on Zen 4: 188 -> 153 s).
  auto run_cpp = [&](int threads, HostTensor& o, std::optional<HostTensor>& lse) {
    attnrt::Runtime& rt = shared_cpp_runtime(backend.isa, threads);
    ASSERT_EQ(rt.num_threads(), threads);
    const attnrt::Tensor lse_view = lse ? lse->cpp() : attnrt::Tensor{};
    rt.forward(p.q().cpp(), p.k().cpp(), p.v().cpp(), o.cpp(), p.cpp_params(lse ? &lse_view : nullptr, backend.strategy));
  };
  if (!emulated() && !sanitized()) {
    HostTensor o2cpp = p.make_o();
    std::optional<HostTensor> lse2cpp = p.make_lse();
    run_cpp(2, o2cpp, lse2cpp);
    EXPECT_TRUE(bit_identical(o2, o2cpp)) << "O: 2-thread C call vs 2-thread C++ call";
    if (lse2) {
      EXPECT_TRUE(bit_identical(*lse2, *lse2cpp)) << "LSE: 2-thread C call vs 2-thread C++ call";
    }
  }

  // One thread: rows are not split over workers (no split-KV pieces), so the
  // sums run in another order; the result must still match the reference.
  HostTensor o1 = p.make_o();
  std::optional<HostTensor> lse1 = p.make_lse();
  run_cpp(1, o1, lse1);
  EXPECT_TRUE(matches_reference(o1, lse1 ? &*lse1 : nullptr, ref, tolerance(spec.dtype, spec.precision)));
  EXPECT_TRUE(o1.outside_intact());

  // Where the set has the direct K/V path for this pipeline, the other
  // choice than the planner's: both paths meet every such case.
  const kernels::KernelSet& ks = rt::kernel_set_of(rt2.get(), spec.dtype);
  if (kernels::has_direct_kv(ks) && backend.strategy != kernels::Strategy::three_pass) {
    HostTensor o = p.make_o();
    std::optional<HostTensor> lse = p.make_lse();
    const attnrt_params params = p.params(lse ? &lse->c() : nullptr, backend.strategy);
    rt::Plan plan = rt::planned(rt2.get(), p.q().c(), p.k().c(), p.v().c(), o.c(), params);
    plan.blocking.direct_kv = !plan.blocking.direct_kv;
    SCOPED_TRACE(plan.blocking.direct_kv ? "K/V direct" : "K/V packed");
    rt::forward_with_plan(rt2.get(), p.q().c(), p.k().c(), p.v().c(), o.c(), params, plan);
    EXPECT_TRUE(matches_reference(o, lse ? &*lse : nullptr, ref, tolerance(spec.dtype, spec.precision)));
  }
}

std::string case_name(const ::testing::TestParamInfo<SweepCase>& info) {
  return info.param.backend.name() + "_" + info.param.spec.name();
}

INSTANTIATE_TEST_SUITE_P(Sweep, ForwardSweep, ::testing::ValuesIn(sweep_cases()), case_name);
// Under emulation on a CPU without the emulated sets the sweep may be empty.
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(ForwardSweep);

// The process-wide default runtime (attnrt::attention_forward) with the plan
// table's own strategy choice.
class DefaultRuntime : public ::testing::TestWithParam<Spec> {};

TEST_P(DefaultRuntime, MatchesReference) {
  const Spec& spec = GetParam();
  Problem p(spec);
  HostTensor o = p.make_o();
  std::optional<HostTensor> lse = p.make_lse();
  const attnrt::Tensor lse_view = lse ? lse->cpp() : attnrt::Tensor{};
  attnrt::Params params = p.cpp_params(lse ? &lse_view : nullptr, kernels::Strategy::online);
  params.strategy = attnrt::Strategy::automatic;
  attnrt::attention_forward(p.q().cpp(), p.k().cpp(), p.v().cpp(), o.cpp(), params);
  EXPECT_TRUE(matches_reference(o, lse ? &*lse : nullptr, p.reference(), tolerance(spec.dtype, spec.precision)));
}

std::vector<Spec> default_runtime_specs() {
  std::vector<Spec> out;
  for (attnrt_dtype t : kDtypes) {
    out.push_back({.dtype = t, .B = 2, .Hq = 4, .Hkv = 1, .M = 33, .N = 257, .D = 64, .Dv = 64,
                   .layout = Layout::bshd, .causal = true});
    out.push_back({.dtype = t, .B = 2, .Hq = 2, .Hkv = 2, .M = 1, .N = 1000, .D = 128, .Dv = 128,
                   .layout = Layout::cache, .kv_lens = {1000, 3}});
  }
  return out;
}

INSTANTIATE_TEST_SUITE_P(Default, DefaultRuntime, ::testing::ValuesIn(default_runtime_specs()),
                         [](const ::testing::TestParamInfo<Spec>& info) { return info.param.name(); });

// Every name the sweep uses for a kernel set is one the registry knows for
// that dtype, and every dtype has at least the portable set, last.
TEST(Registry, EveryDtypeEndsWithTheGenericSet) {
  for (attnrt_dtype t : kDtypes) {
    const auto sets = sets_for(t);
    ASSERT_FALSE(sets.empty());
    EXPECT_STREQ(sets.back()->name, "generic");
    EXPECT_EQ(sets.back()->requires_cpu, 0u);
    std::set<std::string> names;
    for (const kernels::KernelSet* ks : sets) {
      EXPECT_EQ(ks->dtype, to_kernel_dtype(t)) << ks->name;
      EXPECT_TRUE(names.insert(ks->name).second) << "duplicate set name " << ks->name;
    }
  }
}

}  // namespace
}  // namespace attnrt::test
