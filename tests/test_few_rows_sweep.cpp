// The few-row paths (skinny prefill, decode, GQA groups stacked as rows)
// on every kernel set and dtype, over every tail a register tile can have:
// Dv and D from 1 to 64 (every residue mod 16, so mod every vector width) and
// a sample up to 512, 1 to 16 query rows, GQA groups of 1 to 16 heads, and
// the fast precision on blocks of up to 4 rows. Each
// shape runs with the planner's plan and, where the set has the direct K/V
// path, with the other choice of it. An avx2 fp16/bf16 tail of 9-15 columns
// once came out wrong on 5-16 rows with nothing else failing.
#include <attnrt/attnrt.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/internal/attnrt_internal.hpp"
#include "tests/harness.hpp"

namespace attnrt::test {
namespace {

// Under emulation (scripts/ci-sve.sh) only the SVE sets, on every eighth shape.

std::vector<Spec> few_row_specs(attnrt_dtype t) {
  std::vector<Spec> out;
  // Every Dv in 1..64 meets every row count 1..16; D walks 1..64 in another
  // order, so every D meets every row count too. Every fifth shape causal.
  int i = 0;
  for (std::int64_t dv = 1; dv <= 64; ++dv)
    for (std::int64_t rows = 1; rows <= 16; ++rows, ++i)
      out.push_back({.dtype = t, .M = rows, .N = 37, .D = (dv * 37 + rows) % 64 + 1, .Dv = dv,
                     .causal = i % 5 == 0});
  // GQA decode: groups of 1..16 query heads per KV head stacked as rows,
  // against every Dv residue mod 16 after three whole vectors.
  for (std::int64_t g = 1; g <= 16; ++g)
    for (std::int64_t dv = 49; dv <= 64; ++dv)
      out.push_back({.dtype = t, .B = 1, .Hq = 2 * g, .Hkv = 2, .M = 1, .N = 67, .D = 64, .Dv = dv,
                     .layout = g % 2 ? Layout::bhsd : Layout::bshd});
  // Larger head dims, a sample.
  const std::int64_t large[][2] = {{72, 72}, {128, 57}, {137, 121}, {256, 256}, {263, 200}, {509, 384}, {512, 512}};
  for (const auto& [d, dv] : large)
    for (std::int64_t rows : {1, 5, 12, 16})
      out.push_back({.dtype = t, .B = 1, .Hq = 2, .Hkv = 1, .M = rows, .N = 40, .D = d, .Dv = dv});
  // Fast exp2 on the blocks of at most 4 packed rows (decode, small GQA
  // groups): a set whose fast P·V path reads another P (SVE fp16) takes
  // the direct path there too, with the accurate P·V path (strip.hpp
  // direct_kv), and packs with the fast one when the test flips it.
  const std::size_t accurate = out.size();
  for (std::size_t i = 0; i < accurate; ++i)
    if (out[i].M * (out[i].Hq / out[i].Hkv) <= 4) {
      Spec s = out[i];
      s.precision = ATTNRT_EXP2_FAST;
      out.push_back(s);
    }
  return out;
}

std::vector<BackendCase> few_row_cases() {
  std::vector<BackendCase> out;
  for (const BackendCase& c : backend_cases()) {
    if (c.backend.strategy == kernels::Strategy::three_pass) continue;  // packs K/V always
    if (emulated() && !c.backend.isa.starts_with("sve")) continue;
    out.push_back(c);
  }
  return out;
}

class FewRows : public ::testing::TestWithParam<BackendCase> {};

TEST_P(FewRows, EveryTailMatchesReference) {
  const BackendCase& c = GetParam();
  if (!cpu_runs(c.backend.isa, c.dtype)) GTEST_SKIP() << c.backend.isa << " needs CPU features this machine lacks";
  CRuntime rt(c.backend.isa, 1);
  ASSERT_EQ(rt.status(), ATTNRT_OK) << rt.error();
  const bool direct = kernels::has_direct_kv(rt::kernel_set_of(rt.get(), c.dtype));
  const std::vector<Spec> specs = few_row_specs(c.dtype);
  int failures = 0;
  for (std::size_t i = 0; i < specs.size() && failures < 5; i += emulated() ? 8 : 1) {
    const Spec& spec = specs[i];
    SCOPED_TRACE(spec.name());
    Problem p(spec);
    const RefResult ref = p.reference();
    // The planner's plan, then (with a direct path) the other choice.
    for (int flip = 0; flip <= (direct ? 1 : 0); ++flip) {
      SCOPED_TRACE(flip ? "direct K/V flipped" : "planned");
      HostTensor o = p.make_o();
      std::optional<HostTensor> lse = p.make_lse();
      const attnrt_params params = p.params(lse ? &lse->c() : nullptr, c.backend.strategy);
      rt::Plan plan = rt::planned(rt.get(), p.q().c(), p.k().c(), p.v().c(), o.c(), params);
      plan.blocking.direct_kv ^= flip;
      rt::forward_with_plan(rt.get(), p.q().c(), p.k().c(), p.v().c(), o.c(), params, plan);
      const auto ok = matches_reference(o, lse ? &*lse : nullptr, ref, tolerance(spec.dtype, spec.precision));
      EXPECT_TRUE(ok);
      failures += !ok;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Sets, FewRows, ::testing::ValuesIn(few_row_cases()),
                         [](const ::testing::TestParamInfo<BackendCase>& info) { return info.param.name(); });
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(FewRows);

}  // namespace
}  // namespace attnrt::test
