// What the call promises beyond matching the reference on random data: how
// NaN spreads, that -inf bias masks, that huge scores neither overflow nor
// underflow, the default scale, that O is never written outside its view,
// broadcast inputs, accuracy over rows of many keys, concurrent calls, and
// that the caller's thread state is left alone. Every test runs on every backend (kernel set x strategy) and
// dtype; sets this CPU cannot run are skipped.
#include <attnrt/attnrt.h>
#include <attnrt/attnrt.hpp>
#include <gtest/gtest.h>

#include <cfenv>
#include <cmath>
#include <limits>
#include <random>
#include <thread>
#include <vector>

#if defined(__x86_64__)
#include <xmmintrin.h>
#endif
#if defined(__linux__)
#include <sched.h>
#endif

#include "runtime/internal/attnrt_internal.hpp"
#include "tests/caller_fp_env.hpp"
#include "tests/harness.hpp"

namespace attnrt::test {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

class Semantics : public ::testing::TestWithParam<BackendCase> {
 protected:
  void SetUp() override {
    if (!cpu_runs(backend().isa, dtype()))
      GTEST_SKIP() << backend().isa << " needs CPU features this machine lacks";
  }
  const Backend& backend() const { return GetParam().backend; }
  attnrt_dtype dtype() const { return GetParam().dtype; }
  Tolerance tol() const { return tolerance(dtype(), ATTNRT_EXP2_ACCURATE); }
};

// Rows of the reference that are NaN.
int nan_rows(const RefResult& r) {
  int n = 0;
  for (double x : r.lse) n += std::isnan(x);
  return n;
}

TEST_P(Semantics, NanInQueryRowPoisonsExactlyThatRow) {
  Problem p({.dtype = dtype(), .B = 1, .Hq = 2, .Hkv = 1, .M = 33, .N = 70, .D = 64, .Dv = 64});
  p.q().set(0, 1, 5, 3, kNaN);
  const RefResult ref = p.reference();
  ASSERT_EQ(nan_rows(ref), 1);
  Outputs out = run_backend(backend(), p);
  EXPECT_TRUE(matches_reference(out.o, out.lse_ptr(), ref, tol()));
}

// A +inf score (an fp16 activation that overflowed, a +inf bias) is NaN's
// kin (inf - inf), never a masked row's zeros: on the one-row exact path
// (decode) as on the kernels'.
TEST_P(Semantics, InfiniteScorePoisonsItsRowOnEveryPath) {
  for (const std::int64_t hq : {1, 2})
  for (const std::int64_t m : {1, 33}) {
    SCOPED_TRACE("Hq " + std::to_string(hq) + " M " + std::to_string(m));
    Problem p({.dtype = dtype(), .B = 1, .Hq = hq, .Hkv = 1, .M = m, .N = 64, .D = 64, .Dv = 64});
    p.q().set(0, hq - 1, m - 1, 3, kInf);
    for (std::int64_t j = 0; j < 64; ++j) p.k().set(0, 0, j, 3, 0.5);  // every score of the row +inf
    const RefResult ref = p.reference();
    ASSERT_EQ(nan_rows(ref), 1);
    Outputs out = run_backend(backend(), p);
    EXPECT_TRUE(matches_reference(out.o, out.lse_ptr(), ref, tol()));
  }
}

TEST_P(Semantics, NanInKeyRowPoisonsEveryRowThatSeesIt) {
  // Seen by every row of both query heads sharing KV head 0.
  Problem all({.dtype = dtype(), .B = 1, .Hq = 2, .Hkv = 1, .M = 33, .N = 70, .D = 64, .Dv = 64});
  all.k().set(0, 0, 10, 7, kNaN);
  const RefResult ref_all = all.reference();
  ASSERT_EQ(nan_rows(ref_all), 2 * 33);
  Outputs out_all = run_backend(backend(), all);
  EXPECT_TRUE(matches_reference(out_all.o, out_all.lse_ptr(), ref_all, tol()));

  // Top-left causal: key 10 is seen by rows 10.. only; rows 0..9 stay finite.
  Problem some({.dtype = dtype(), .B = 1, .Hq = 2, .Hkv = 1, .M = 33, .N = 70, .D = 64, .Dv = 64,
                .causal = true, .align = ATTNRT_ALIGN_TOP_LEFT});
  some.k().set(0, 0, 10, 7, kNaN);
  const RefResult ref_some = some.reference();
  ASSERT_EQ(nan_rows(ref_some), 2 * (33 - 10));
  Outputs out_some = run_backend(backend(), some);
  EXPECT_TRUE(matches_reference(out_some.o, out_some.lse_ptr(), ref_some, tol()));
}

TEST_P(Semantics, NegativeInfinityBiasMasks) {
  Problem p({.dtype = dtype(), .B = 1, .Hq = 2, .Hkv = 2, .M = 9, .N = 40, .D = 32, .Dv = 32,
             .bias = BiasKind::batch1});
  HostTensor& bias = *p.bias();
  for (std::int64_t h = 0; h < 2; ++h)
    for (std::int64_t j = 0; j < 40; ++j) {
      if (j != 11) bias.set(0, h, 3, j, -kInf);  // row 3 sees key 11 only
      bias.set(0, h, 4, j, -kInf);                // row 4 sees nothing
    }
  const RefResult ref = p.reference();
  Outputs out = run_backend(backend(), p);
  EXPECT_TRUE(matches_reference(out.o, out.lse_ptr(), ref, tol()));
  // Row 3 is V row 11 exactly as stored (one weight of 1), whatever the
  // reference says.
  for (std::int64_t h = 0; h < 2; ++h)
    for (std::int64_t c = 0; c < 32; ++c)
      EXPECT_NEAR(out.o.get(0, h, 3, c), p.v().get(0, h, 11, c), tol().o) << "h " << h << " c " << c;
}

// Window sides up to INT64_MAX mean what they say (no key hidden), on
// their own, together and with causal, in both alignments; the band
// arithmetic once overflowed and masked every row.
TEST_P(Semantics, WindowsAtTheInt64LimitMeanWhatTheySay) {
  constexpr std::int64_t kMax = std::numeric_limits<std::int64_t>::max();
  const std::int64_t sides[][2] = {{-1, kMax}, {kMax, -1}, {kMax, kMax}, {kMax - 1, 0}, {3, kMax - 1}};
  for (const auto align : {ATTNRT_ALIGN_BOTTOM_RIGHT, ATTNRT_ALIGN_TOP_LEFT})
    for (const auto& [left, right] : sides)
      for (const bool causal : {false, true}) {
        Spec spec{.dtype = dtype(), .B = 1, .Hq = 2, .Hkv = 1, .M = 30, .N = 50, .D = 32, .Dv = 32,
                  .causal = causal, .align = align, .window_left = left, .window_right = right};
        SCOPED_TRACE(spec.name());
        Problem p(spec);
        const RefResult ref = p.reference();
        // The oracle itself: a side of INT64_MAX hides what -1 hides, nothing.
        Spec unbounded = spec;
        unbounded.window_left = left == kMax ? -1 : left;
        unbounded.window_right = right == kMax ? -1 : right;
        const RefResult ref_unbounded = Problem(unbounded, seed_of(spec.name())).reference();
        ASSERT_EQ(ref.lse, ref_unbounded.lse);
        Outputs out = run_backend(backend(), p);
        EXPECT_TRUE(matches_reference(out.o, out.lse_ptr(), ref, tol()));
      }
}

// NaN and inf in K, V and bias where a row cannot see them (outside its
// causal or window band, past its batch's key length, under a -inf bias)
// leave that row as if those keys were not there; rows that see them are
// NaN (or inf in V's column) as the reference says. Serving engines hand
// over uninitialized or recycled cache slots under exactly these masks.
TEST_P(Semantics, HiddenNonFiniteValuesNeverReachARow) {
  struct Case {
    Spec spec;
    std::vector<std::int64_t> keys;  // where to plant NaN/inf (batch 0, every KV head)
    int finite_rows_at_least;        // rows of the reference that must stay finite
  };
  const attnrt_dtype t = dtype();
  std::vector<Case> cases;
  const auto add = [&](Spec spec, std::vector<std::int64_t> keys, int finite) {
    cases.push_back({std::move(spec), std::move(keys), finite});
  };
  // The outside run's example: V[49][0] = +inf is hidden from rows 0..48.
  add({.dtype = t, .M = 64, .N = 64, .D = 64, .Dv = 64, .causal = true}, {49}, 49);
  add({.dtype = t, .Hq = 4, .Hkv = 2, .M = 33, .N = 70, .D = 40, .Dv = 24, .causal = true,
       .align = ATTNRT_ALIGN_TOP_LEFT}, {20, 69}, 4 * 20);
  add({.dtype = t, .Hq = 2, .Hkv = 1, .M = 40, .N = 90, .D = 32, .Dv = 48, .window_left = 6, .window_right = 3},
      {0, 45, 89}, 2 * 20);
  add({.dtype = t, .B = 2, .Hq = 2, .Hkv = 2, .M = 5, .N = 300, .D = 64, .Dv = 64, .kv_lens = {200, 300}},
      {200, 250, 299}, 2 * 2 * 5);
  // A decode step split over keys (two threads) whose first slots are left
  // padding: bias -inf over NaN K and V.
  add({.dtype = t, .Hq = 8, .Hkv = 2, .M = 1, .N = 2000, .D = 128, .Dv = 128, .bias = BiasKind::batch1}, {}, 8);
  add({.dtype = t, .Hq = 2, .Hkv = 1, .M = 12, .N = 100, .D = 16, .Dv = 72, .bias = BiasKind::full}, {}, 2 * 12);
  // NaN bias above the causal diagonal, inf V on a key rows 0..24 cannot see.
  add({.dtype = t, .Hq = 2, .Hkv = 1, .M = 30, .N = 45, .D = 32, .Dv = 32, .causal = true, .bias = BiasKind::full},
      {40}, 2 * 25);
  for (const Case& c : cases) {
    SCOPED_TRACE(c.spec.name());
    Problem p(c.spec);
    std::vector<std::int64_t> keys = c.keys;
    if (HostTensor* bias = p.bias()) {
      // Causal: NaN bias on the keys the band hides. Otherwise left padding:
      // the first 37 keys hidden from every row by -inf, NaN K/V among them.
      const auto [bb, bh, bm, bn] = bias->shape();
      for (std::int64_t b = 0; b < bb; ++b)
        for (std::int64_t h = 0; h < bh; ++h)
          for (std::int64_t i = 0; i < bm; ++i)
            for (std::int64_t j = 0; j < bn; ++j)
              bias->set(b, h, i, j, c.spec.causal ? (j > i + bn - bm ? kNaN : 0.25 * (j % 5))
                                                  : (j < 37 ? -kInf : 0.25 * (j % 5)));
      if (!c.spec.causal)
        for (std::int64_t j = 0; j < 37; j += 4) keys.push_back(j);
    }
    const auto [B, Hkv, N, D] = p.k().shape();
    for (std::int64_t j : keys)
      for (std::int64_t h = 0; h < Hkv; ++h) {
        p.k().set(0, h, j, j % D, kNaN);
        p.v().set(0, h, j, 0, kInf);
        p.v().set(0, h, j, p.v().shape()[3] - 1, j % 2 ? -kInf : kNaN);
      }
    const RefResult ref = p.reference();
    ASSERT_GE(static_cast<int>(ref.lse.size()) - nan_rows(ref), c.finite_rows_at_least);
    Outputs out = run_backend(backend(), p);
    EXPECT_TRUE(matches_reference(out.o, out.lse_ptr(), ref, tol()));
    Outputs one = run_backend(backend(), p, 1);
    EXPECT_TRUE(matches_reference(one.o, one.lse_ptr(), ref, tol()));
  }
}

TEST_P(Semantics, HugeScoresNeitherOverflowNorUnderflow) {
  // Q and K hold -1, 0, 1, so scores are exact integers times the scale:
  // +-64 per unit puts the row maxima near +-1000, far past exp's range in
  // fp32 (and near ties differ by e^-64, so only exact ties share weight).
  for (const float scale : {64.0f, -64.0f}) {
    SCOPED_TRACE(scale);
    Problem p({.dtype = dtype(), .B = 1, .Hq = 2, .Hkv = 1, .M = 33, .N = 257, .D = 64, .Dv = 64,
               .scale = scale});
    std::mt19937 rng(7);
    std::uniform_int_distribution<int> unit(-1, 1);
    for (HostTensor* t : {&p.q(), &p.k()})
      for (std::int64_t h = 0; h < t->shape()[1]; ++h)
        for (std::int64_t s = 0; s < t->shape()[2]; ++s)
          for (std::int64_t d = 0; d < 64; ++d) t->set(0, h, s, d, unit(rng));
    const RefResult ref = p.reference();
    double max_lse = 0;
    for (double x : ref.lse) max_lse = std::max(max_lse, std::fabs(x));
    ASSERT_GT(max_lse, 500.0);
    // LSE is formed in fp32 from a score of that size: a few roundings of
    // 2^-24 relative each (scale*log2e, the max, the final sum) give an
    // absolute error proportional to |LSE|, ~1e-4 at 1000. O is unaffected:
    // its weights are exact ties or below e^-64.
    Tolerance t = tol();
    t.lse += 4 * std::ldexp(max_lse, -24);
    Outputs out = run_backend(backend(), p);
    EXPECT_TRUE(matches_reference(out.o, out.lse_ptr(), ref, t));
  }
}

// An inf in V reaches every row that sees its key with any weight double
// can hold, however small: e^-727 is a subnormal, which the workers' flush
// to zero (fp_env.hpp) would make 0 (0 · inf: NaN, or the key dropped);
// below e^-745 the weight is 0 and the key adds nothing, as in the
// reference. Both for a row's own keys and across split-KV pieces, one of
// which holds the row's keys that far down. And whatever the piece: an inf
// 900 below its row's max but 400 below its piece's (attnrt-fuzz
// 20261208:281219: ALiBi's far keys, two workers) adds nothing either; the
// merge weighed the piece, not the key, and kept it.
TEST_P(Semantics, InfInVSurvivesAWeightOnlyDoubleHolds) {
  struct Case {
    Spec spec;
    std::int64_t low_keys;  // keys 0..low_keys-1 sit `down` below the others
    double down;
    double further = 0;  // and key 0, whose V holds the infs, this much further
  };
  const Case cases[] = {
      {{.dtype = dtype(), .Hq = 2, .Hkv = 1, .M = 5, .N = 64, .D = 32, .Dv = 32, .bias = BiasKind::full}, 1, 727},
      {{.dtype = dtype(), .Hq = 2, .Hkv = 1, .M = 5, .N = 64, .D = 32, .Dv = 32, .bias = BiasKind::full}, 1, 770},
      {{.dtype = dtype(), .Hq = 2, .Hkv = 1, .M = 1, .N = 2000, .D = 64, .Dv = 64, .bias = BiasKind::full}, 1000,
       727},
      {{.dtype = dtype(), .Hq = 2, .Hkv = 1, .M = 1, .N = 2000, .D = 64, .Dv = 64, .bias = BiasKind::full}, 1000,
       500, 400},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(testing::Message() << c.spec.name() << " down " << c.down << " further " << c.further);
    Problem p(c.spec);
    HostTensor& bias = *p.bias();
    const auto [bb, bh, bm, bn] = bias.shape();
    for (std::int64_t b = 0; b < bb; ++b)
      for (std::int64_t h = 0; h < bh; ++h)
        for (std::int64_t i = 0; i < bm; ++i)
          for (std::int64_t j = 0; j < bn; ++j)
            bias.set(b, h, i, j, j == 0 ? -c.down - c.further : j < c.low_keys ? -c.down : 0.0);
    p.v().set(0, 0, 0, 3, kInf);
    p.v().set(0, 0, 0, 5, -kInf);
    const RefResult ref = p.reference();
    // (|q·k·scale| <= 8 here: e^-727 +- 16 is subnormal, e^-770 +- 16 is 0)
    const bool seen = c.down + c.further < 745;
    ASSERT_EQ(std::isinf(ref.o[3]), seen);
    ASSERT_EQ(std::isinf(ref.o[5]), seen);
    Outputs out = run_backend(backend(), p);
    EXPECT_TRUE(matches_reference(out.o, out.lse_ptr(), ref, tol()));
    Outputs one = run_backend(backend(), p, 1);
    EXPECT_TRUE(matches_reference(one.o, one.lse_ptr(), ref, tol()));
  }
}

// The fast precision keeps these promises too, though its Q·Kᵀ may sum in
// fp16 (the SVE fp16 sets): a NaN in K poisons the rows that see it, and
// scores whose fp16 sums would overflow (|q| = |k| = 256 over 64 terms:
// 2^22 > 65504) come out as in fp32, never inf.
TEST_P(Semantics, FastPrecisionKeepsNanAndHugeScores) {
  const Tolerance fast = tolerance(dtype(), ATTNRT_EXP2_FAST);
  Problem nan({.dtype = dtype(), .B = 1, .Hq = 2, .Hkv = 1, .M = 33, .N = 70, .D = 64, .Dv = 64,
               .precision = ATTNRT_EXP2_FAST});
  nan.k().set(0, 0, 10, 7, kNaN);
  const RefResult ref_nan = nan.reference();
  ASSERT_EQ(nan_rows(ref_nan), 2 * 33);
  Outputs out_nan = run_backend(backend(), nan);
  EXPECT_TRUE(matches_reference(out_nan.o, out_nan.lse_ptr(), ref_nan, fast));

  for (const float scale : {1.0f / 1024, -1.0f / 1024}) {
    SCOPED_TRACE(scale);
    Problem p({.dtype = dtype(), .B = 1, .Hq = 2, .Hkv = 1, .M = 33, .N = 257, .D = 64, .Dv = 64,
               .scale = scale, .precision = ATTNRT_EXP2_FAST});
    std::mt19937 rng(11);
    std::uniform_int_distribution<int> unit(-1, 1);
    for (HostTensor* t : {&p.q(), &p.k()})
      for (std::int64_t h = 0; h < t->shape()[1]; ++h)
        for (std::int64_t s = 0; s < t->shape()[2]; ++s)
          for (std::int64_t d = 0; d < 64; ++d) t->set(0, h, s, d, 256.0 * (s % 5 == 0 ? 1 : unit(rng)));
    const RefResult ref = p.reference();
    double max_lse = 0;
    for (double x : ref.lse) max_lse = std::max(max_lse, std::fabs(x));
    ASSERT_GT(max_lse, 500.0);
    // As HugeScoresNeitherOverflowNorUnderflow: fp32 roundings of a score that large.
    Tolerance t = fast;
    t.lse += 4 * std::ldexp(max_lse, -24);
    Outputs out = run_backend(backend(), p);
    EXPECT_TRUE(matches_reference(out.o, out.lse_ptr(), ref, t));
  }
}

TEST_P(Semantics, DefaultScaleIsOneOverSqrtHeadDim) {
  const std::uint32_t seed = 1234;
  Spec spec{.dtype = dtype(), .B = 1, .Hq = 2, .Hkv = 2, .M = 33, .N = 100, .D = 80, .Dv = 80};
  Problem implicit(spec, seed);
  spec.scale = 1.0f / std::sqrt(80.0f);
  Problem explicit_scale(spec, seed);
  spec.scale = 1.0f;
  Problem unit_scale(spec, seed);

  Outputs a = run_backend(backend(), implicit);
  Outputs b = run_backend(backend(), explicit_scale);
  Outputs c = run_backend(backend(), unit_scale);
  EXPECT_TRUE(matches_reference(a.o, a.lse_ptr(), explicit_scale.reference(), tol()));
  EXPECT_TRUE(bit_identical(a.o, b.o));
  // And the scale matters: the unit-scale result is far from it.
  double diff = 0;
  for (std::int64_t h = 0; h < 2; ++h)
    for (std::int64_t i = 0; i < 33; ++i)
      for (std::int64_t d = 0; d < 80; ++d) diff = std::max(diff, std::fabs(a.o.get(0, h, i, d) - c.o.get(0, h, i, d)));
  EXPECT_GT(diff, 10 * tol().o);
}

TEST_P(Semantics, OutputIsNeverWrittenOutsideItsView) {
  // Head dims from 1 up, none a multiple of a vector; a batch with no keys
  // (O written as zeros) next to one with all of them; LSE strided too.
  struct Dims {
    std::int64_t D, Dv, M;
  };
  for (const Dims& dims : {Dims{1, 1, 7}, Dims{7, 33, 33}, Dims{40, 24, 1}, Dims{80, 80, 13}})
    for (const Layout l : {Layout::cache, Layout::bshd, Layout::bhsd}) {
      const Spec spec{.dtype = dtype(), .B = 2, .Hq = 3, .Hkv = 1, .M = dims.M, .N = 45, .D = dims.D,
                      .Dv = dims.Dv, .layout = l, .causal = true, .kv_lens = {0, 45}};
      SCOPED_TRACE(spec.name());
      Problem p(spec);
      Outputs out = run_backend(backend(), p);
      EXPECT_TRUE(out.o.outside_intact());
      EXPECT_TRUE(out.lse->outside_intact());
      EXPECT_TRUE(matches_reference(out.o, out.lse_ptr(), p.reference(), tol()));
    }
}

TEST_P(Semantics, ZeroStrideInputsBroadcast) {
  // One K/V head shared by three batches (batch stride 0), and one query row
  // repeated down the sequence (seq stride 0).
  Problem p({.dtype = dtype(), .B = 1, .Hq = 2, .Hkv = 1, .M = 1, .N = 50, .D = 32, .Dv = 32});
  attnrt_tensor q = p.q().c(), k = p.k().c(), v = p.v().c();
  q.shape[0] = k.shape[0] = v.shape[0] = 3;
  q.stride[0] = k.stride[0] = v.stride[0] = 0;
  q.shape[2] = 5;
  q.stride[2] = 0;
  HostTensor o(dtype(), {3, 2, 5, 32}, Layout::bhsd, kCanaryFill);
  attnrt_params params;
  attnrt_params_init(&params);
  params.strategy = static_cast<attnrt_strategy>(static_cast<int>(backend().strategy));
  CRuntime rt(backend().isa, 2);
  ASSERT_EQ(rt.status(), ATTNRT_OK) << rt.error();
  ASSERT_EQ(attnrt_runtime_forward(rt.get(), &q, &k, &v, &o.c(), &params), ATTNRT_OK) << attnrt_last_error();
  // Every batch and row saw the same inputs, so the reference (which reads
  // through the same strides) has the same row everywhere. Rows need not be
  // the same bits: the scheduler may split some rows' keys over workers.
  EXPECT_TRUE(matches_reference(o, nullptr, reference_forward(q, k, v, params), tol()));
}

// One row over many keys of equal weight: every P·V term rounds against
// the row's growing fp32 sum the same way, so a plain accumulator drifts
// with the keys (decode rows read in place were off by 2.6e-4 to 5.4e-4
// at 2^18 keys on the avx2 and avx512 sets, 13 to 27 times fp32's bound).
// The pipelines bank their sums in double (strip.hpp). K and V broadcast
// one key (seq stride 0): O is V's row and LSE the score plus ln N, on
// decode rows (split over two workers) and on whole strips.
TEST_P(Semantics, LongRowsOfEqualKeysKeepTheirAccuracy) {
  constexpr std::int64_t kN = (std::int64_t{1} << 18) + 5, kD = 16;
  for (const std::int64_t m : {1, 40}) {
    SCOPED_TRACE(m);
    Problem p({.dtype = dtype(), .B = 1, .Hq = 1, .Hkv = 1, .M = m, .N = 1, .D = kD, .Dv = kD});
    std::mt19937 rng(3);
    std::uniform_real_distribution<double> u(0.05, 1.0);
    for (std::int64_t d = 0; d < kD; ++d) {
      p.k().set(0, 0, 0, d, u(rng));
      p.v().set(0, 0, 0, d, u(rng));
      for (std::int64_t i = 0; i < m; ++i) p.q().set(0, 0, i, d, u(rng));
    }
    attnrt_tensor k = p.k().c(), v = p.v().c();
    k.shape[2] = v.shape[2] = kN;
    k.stride[2] = v.stride[2] = 0;
    HostTensor o(dtype(), {1, 1, m, kD}, Layout::bhsd, kCanaryFill), lse(ATTNRT_F32, {1, 1, m, 1}, Layout::bhsd, kCanaryFill);
    attnrt_params params;
    attnrt_params_init(&params);
    params.strategy = static_cast<attnrt_strategy>(static_cast<int>(backend().strategy));
    params.lse = &lse.c();
    CRuntime rt(backend().isa, 2);
    ASSERT_EQ(rt.status(), ATTNRT_OK) << rt.error();
    ASSERT_EQ(attnrt_runtime_forward(rt.get(), &p.q().c(), &k, &v, &o.c(), &params), ATTNRT_OK) << attnrt_last_error();
    double worst = 0, worst_lse = 0;
    for (std::int64_t i = 0; i < m; ++i) {
      double score = 0;
      for (std::int64_t d = 0; d < kD; ++d) score += p.q().get(0, 0, i, d) * p.k().get(0, 0, 0, d);
      score /= std::sqrt(static_cast<double>(kD));
      worst_lse = std::max(worst_lse, std::abs(lse.get(0, 0, i, 0) - (score + std::log(static_cast<double>(kN)))));
      for (std::int64_t d = 0; d < kD; ++d) worst = std::max(worst, std::abs(o.get(0, 0, i, d) - p.v().get(0, 0, 0, d)));
    }
    EXPECT_LE(worst, tol().o);
    EXPECT_LE(worst_lse, tol().lse);
    EXPECT_TRUE(o.outside_intact());
  }
}

// The banks (strip.hpp) under a moving max: ALiBi over causal rows makes
// every later key score higher, so each bank is rescaled to a larger max
// when it is merged. Decode rows read in place (banked every 1024 keys,
// split over two workers) and whole strips (every 8192).
TEST_P(Semantics, BankedSumsFollowARisingMax) {
  for (const auto& [m, n] : {std::pair<std::int64_t, std::int64_t>{1, 3000}, {40, 17000}}) {
    SCOPED_TRACE(m);
    Problem p({.dtype = dtype(), .B = 1, .Hq = 2, .Hkv = 1, .M = m, .N = n, .D = 32, .Dv = 32, .causal = true,
               .alibi = true});
    Outputs out = run_backend(backend(), p);
    EXPECT_TRUE(matches_reference(out.o, out.lse_ptr(), p.reference(), tol()));
  }
}

// A direct P·V cut at a bank point where one strip of the block has begun
// its keys and a later one has not (16 rows, the most a direct block
// takes; a window of 5 puts the last rows' first key past 1024): that
// strip's l is banked before any of its P·V (strip.cpp, bank_row without
// o). With that bank taking a stale o instead, the backends that read K/V
// in place fail here; no other test reaches that path (gcov).
TEST_P(Semantics, BanksOfStripsWhosePvHasNotBegun) {
  for (const auto& [g, n] : {std::pair<std::int64_t, std::int64_t>{1, 1040}, {2, 1040}, {1, 2064}}) {
    SCOPED_TRACE(std::to_string(g) + " " + std::to_string(n));
    Problem p({.dtype = dtype(), .B = 1, .Hq = g, .Hkv = 1, .M = 16 / g, .N = n, .D = 32, .Dv = 32,
               .causal = true, .window_left = 5});
    Outputs out = run_backend(backend(), p);
    EXPECT_TRUE(matches_reference(out.o, out.lse_ptr(), p.reference(), tol()));
  }
}

TEST_P(Semantics, ConcurrentCallsOnOneRuntime) {
  std::vector<Problem> problems;
  for (std::int64_t m : {33, 7, 100, 1})
    problems.emplace_back(Spec{.dtype = dtype(), .B = 2, .Hq = 4, .Hkv = 2, .M = m, .N = 120, .D = 64,
                               .Dv = 64, .causal = true});
  // Each problem alone first, then all at once from four threads, twice.
  std::vector<Outputs> alone;
  for (Problem& p : problems) alone.push_back(run_backend(backend(), p));
  CRuntime rt(backend().isa, 2);
  ASSERT_EQ(rt.status(), ATTNRT_OK) << rt.error();
  std::vector<Outputs> together;
  for (Problem& p : problems) together.push_back({p.make_o(), p.make_lse()});
  std::vector<attnrt_status> status(problems.size(), ATTNRT_OK);
  std::vector<std::thread> threads;
  for (std::size_t i = 0; i < problems.size(); ++i)
    threads.emplace_back([&, i] {
      for (int rep = 0; rep < 2 && status[i] == ATTNRT_OK; ++rep)
        status[i] = run_c(rt.get(), problems[i], together[i].o, together[i].lse_ptr(), backend().strategy);
    });
  for (std::thread& t : threads) t.join();
  for (std::size_t i = 0; i < problems.size(); ++i) {
    EXPECT_EQ(status[i], ATTNRT_OK);
    EXPECT_TRUE(bit_identical(alone[i].o, together[i].o)) << "problem " << i;
    EXPECT_TRUE(bit_identical(*alone[i].lse, *together[i].lse)) << "problem " << i;
  }
}

TEST_P(Semantics, CallerThreadStateIsLeftAlone) {
  Problem p({.dtype = dtype(), .B = 2, .Hq = 4, .Hkv = 2, .M = 100, .N = 120, .D = 64, .Dv = 64});
#if defined(__linux__)
  cpu_set_t before_set, after_set;
  ASSERT_EQ(sched_getaffinity(0, sizeof before_set, &before_set), 0);
#endif
  ASSERT_EQ(std::fesetround(FE_UPWARD), 0);
#if defined(__x86_64__)
  const unsigned mxcsr = _mm_getcsr();
#endif
  Outputs out = run_backend(backend(), p);
  const int round = std::fegetround();
#if defined(__x86_64__)
  const unsigned mxcsr_after = _mm_getcsr();
#endif
  std::fesetround(FE_TONEAREST);
  EXPECT_EQ(round, FE_UPWARD);
#if defined(__x86_64__)
  // Ignore the sticky exception flags (bits 0-5): computing sets them.
  EXPECT_EQ(mxcsr & ~0x3fu, mxcsr_after & ~0x3fu);
#endif
#if defined(__linux__)
  ASSERT_EQ(sched_getaffinity(0, sizeof after_set, &after_set), 0);
  EXPECT_TRUE(CPU_EQUAL(&before_set, &after_set)) << "the call changed the caller's CPU affinity";
#endif
}

// A caller with subnormals flushed (x86's FTZ and DAZ, AArch64's FZ) and
// rounding toward zero gets the bits a default caller gets, under either
// executor: the calling thread runs parts of the call too (OpenMP), so its
// modes must not reach the kernels. The kernels' own mode flushes the
// subnormal V entries; the rounding mode would show through if it were not
// set.
TEST_P(Semantics, CallerFpModeNeverChangesResults) {
  Problem p({.dtype = dtype(), .B = 2, .Hq = 4, .Hkv = 2, .M = 40, .N = 300, .D = 64, .Dv = 64});
  for (std::int64_t s = 0; s < 300; s += 3) p.v().set(1, 1, s, 5, 3e-39);
  std::vector<const char*> executors{"openmp"};
  if (scheduler::has_executor(scheduler::ExecutorKind::tbb)) executors.push_back("tbb");
  for (const char* executor : executors) {
    SCOPED_TRACE(executor);
    attnrt::Runtime rt(attnrt::Config{.num_threads = 2, .executor = executor, .isa = backend().isa});
    auto run = [&](CallerFpMode mode) {
      Outputs out{p.make_o(), p.make_lse()};
      const attnrt::Tensor lse_view = out.lse->cpp();
      const CallerFpEnv env(mode);
      rt.forward(p.q().cpp(), p.k().cpp(), p.v().cpp(), out.o.cpp(), p.cpp_params(&lse_view, backend().strategy));
      return out;
    };
    const Outputs plain = run({}), odd = run({.rounding = FE_TOWARDZERO, .flush = true});
    EXPECT_TRUE(bit_identical(plain.o, odd.o));
    EXPECT_TRUE(bit_identical(*plain.lse, *odd.lse));
  }
}

INSTANTIATE_TEST_SUITE_P(Backends, Semantics, ::testing::ValuesIn(backend_cases()),
                         [](const ::testing::TestParamInfo<BackendCase>& info) { return info.param.name(); });

}  // namespace
}  // namespace attnrt::test
