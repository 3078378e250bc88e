// What is specific to the SVE kernel sets (kernels/sve), under any SVE
// vector length: set selection, FEXPA exp2 (its error, and exact zeros and
// powers of two), the fp16 Q·Kᵀ and P·V of the fast precision, and the FZ16
// scope. The sets' contract is test_kernel_sets.cpp's and
// test_kernel_paths.cpp's. Shapes are sized for qemu (about 1e6-1e7 FLOP
// each). 512-bit sets are checked only when svcntw() == 16.
#include <arm_sve.h>
#include <gtest/gtest.h>
#include <sys/auxv.h>

#include <attnrt/attnrt.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <iterator>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "kernels/convert.hpp"
#include "kernels/kernel_set.hpp"
#include "kernels/registry.hpp"
#include "tests/harness.hpp"
#include "tests/tolerances.hpp"

namespace {

using namespace attnrt;
using kernels::DType;
using kernels::Exp2Precision;
using kernels::KernelSet;

constexpr float kInf = std::numeric_limits<float>::infinity();

bool has_sve() { return (getauxval(AT_HWCAP) & (1ul << 22)) != 0; }
int sve_lanes() { return has_sve() ? static_cast<int>(svcntw()) : 0; }

#define REQUIRE_SVE() \
  if (!has_sve()) GTEST_SKIP() << "no SVE on this CPU"

const KernelSet* find_set(const char* name, DType t) {
  for (const KernelSet* ks : kernels::kernel_sets(t))
    if (ks && std::strcmp(ks->name, name) == 0) return ks;
  return nullptr;
}

// The SVE set names this CPU may run: the 512-bit ones only at 16 lanes.
std::vector<std::string> runnable_sets() {
  std::vector<std::string> names{"sve"};
  if (sve_lanes() == 16) names.insert(names.begin(), {"sve512", "sve512_12x2"});
  return names;
}

// ---- selection -----------------------------------------------------------

attnrt_status make_runtime(const char* isa, int threads, attnrt_runtime** rt) {
  attnrt_config cfg;
  attnrt_config_init(&cfg);
  cfg.isa = isa;
  cfg.num_threads = threads;
  return attnrt_runtime_create(&cfg, rt);
}

TEST(SveSelection, RuntimePicksTheSetForThisVectorLength) {
  REQUIRE_SVE();
  attnrt_runtime* rt = nullptr;
  ASSERT_EQ(make_runtime(nullptr, 1, &rt), ATTNRT_OK) << attnrt_last_error();
  EXPECT_STREQ(attnrt_runtime_isa(rt), sve_lanes() == 16 ? "sve512" : "sve");
  attnrt_runtime_destroy(rt);
}

TEST(SveSelection, FixedWidthSetsNeverRunAtAnotherLength) {
  REQUIRE_SVE();
  for (const char* name : {"sve512", "sve512_12x2"}) {
    attnrt_runtime* rt = nullptr;
    const attnrt_status st = make_runtime(name, 1, &rt);
    if (sve_lanes() == 16) {
      EXPECT_EQ(st, ATTNRT_OK) << attnrt_last_error();
    } else {
      EXPECT_EQ(st, ATTNRT_UNSUPPORTED) << name << " accepted at " << 32 * sve_lanes() << " bits";
    }
    if (rt) attnrt_runtime_destroy(rt);
  }
}

TEST(SveSelection, TileWidthsFollowTheVectorLength) {
  REQUIRE_SVE();
  const int vl = sve_lanes();
  const KernelSet* f32 = find_set("sve", DType::f32);
  const KernelSet* f16 = find_set("sve", DType::f16);
  ASSERT_TRUE(f32 && f16);
  EXPECT_EQ(f32->mr, 8);
  EXPECT_EQ(f32->nr, 3 * vl);
  EXPECT_EQ(f16->mr, 12);
  EXPECT_EQ(f16->nr, 4 * vl);
  EXPECT_EQ(f16->nv, 4 * vl);
  if (vl == 16) {
    EXPECT_EQ(find_set("sve512", DType::f32)->nr, 48);
    EXPECT_EQ(find_set("sve512_12x2", DType::f32)->nr, 32);
  }
}

// ---- exp2_rows -------------------------------------------------------------

// Scores with the values exp2 must get right at the edges, then random.
std::vector<float> edge_scores(int rows, int cols, std::int64_t lds, std::mt19937& rng) {
  std::vector<float> s(rows * lds, 0.0f);
  const float edges[] = {0.0f, -0.5f, -1e-3f, -10.7f, -125.9f, -126.0f, -126.5f, -149.5f, -200.0f,
                         -kInf, -63.99f, -1.0f / 128, -3.0f / 128};
  std::uniform_real_distribution<float> u(-30.0f, 0.0f);
  int i = 0;
  for (int r = 0; r < rows; ++r)
    for (int c = 0; c < cols; ++c, ++i) s[r * lds + c] = i < 13 ? edges[i] : u(rng);
  return s;
}

void check_exp2_rows(const KernelSet& ks, Exp2Precision prec, int cols) {
  std::mt19937 rng(cols);
  const int mr = ks.mr;
  const std::int64_t lds = cols + 3;
  std::vector<float> s = edge_scores(mr, cols, lds, rng);
  std::vector<float> m(mr), sum(mr, 1.0f);
  for (int r = 0; r < mr; ++r) m[r] = r % 3 == 0 ? 0.0f : 2.5f;  // shift some rows
  for (int r = 0; r < mr; ++r)
    for (int c = 0; c < cols; ++c) s[r * lds + c] += m[r];
  const bool fp16_p = prec == Exp2Precision::fast && ks.pv_acc_fast;
  std::vector<float> p32(static_cast<std::size_t>(mr) * (cols + 64), -7.0f);
  std::vector<std::uint16_t> p16(p32.size(), 0xffff);
  ks.exp2_rows(s.data(), lds, ks.mr, cols, m.data(), sum.data(), fp16_p ? (void*)p16.data() : (void*)p32.data(), prec);
  for (int r = 0; r < mr; ++r) {
    double ref_sum = 1.0;
    for (int c = 0; c < cols; ++c) {
      const float x = s[r * lds + c] - m[r];
      const double want = x < -126.0f ? 0.0 : std::exp2(static_cast<double>(x));
      const float got = fp16_p ? kernels::fp16_to_float(p16[c * mr + r]) : p32[c * mr + r];
      ref_sum += got;
      if (x < -126.0f) {
        EXPECT_EQ(got, 0.0f) << "x=" << x;
        continue;
      }
      double tol = prec == Exp2Precision::accurate ? 4.0 * std::ldexp(1.0, std::ilogb(want) - 23)
                                                   : 0.0055 * want;
      if (fp16_p) tol += std::ldexp(1.0, -11) * want + std::ldexp(1.0, -24);
      EXPECT_NEAR(got, want, tol) << "x=" << x << " r=" << r << " c=" << c;
    }
    if (!fp16_p) EXPECT_NEAR(sum[r], ref_sum, 1e-5 * ref_sum) << "row " << r;
    else EXPECT_NEAR(sum[r], ref_sum, 1e-3 * ref_sum) << "row " << r;
  }
}

TEST(SveExp2, FexpaRowsAtEveryTail) {
  REQUIRE_SVE();
  for (const std::string& name : runnable_sets())
    for (DType t : {DType::f32, DType::f16})
      for (Exp2Precision prec : {Exp2Precision::accurate, Exp2Precision::fast})
        for (int cols : {1, 7, 13, 33, 100}) {
          SCOPED_TRACE(name + " dtype " + std::to_string(int(t)) + " prec " + std::to_string(int(prec)) +
                       " cols " + std::to_string(cols));
          check_exp2_rows(*find_set(name.c_str(), t), prec, cols);
        }
}

TEST(SveExp2, NanStaysNan) {
  REQUIRE_SVE();
  for (const std::string& name : runnable_sets())
    for (Exp2Precision prec : {Exp2Precision::accurate, Exp2Precision::fast}) {
      const KernelSet& ks = *find_set(name.c_str(), DType::f32);
      std::vector<float> s(ks.mr * 5, -1.0f), m(ks.mr, 0.0f), sum(ks.mr, 0.0f), p(ks.mr * 64);
      s[2] = std::numeric_limits<float>::quiet_NaN();
      ks.exp2_rows(s.data(), 5, ks.mr, 5, m.data(), sum.data(), p.data(), prec);
      EXPECT_TRUE(std::isnan(p[2 * ks.mr])) << name;
      EXPECT_TRUE(std::isnan(sum[0])) << name;
      EXPECT_EQ(p[3 * ks.mr], 0.5f) << name;
    }
}

// ---- micro-kernels -----------------------------------------------------------

std::vector<float> random_rows(std::size_t n, std::mt19937& rng) {
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  std::vector<float> v(n);
  for (float& x : v) x = u(rng);
  return v;
}

// ---- fp16 Q·Kᵀ of the fast precision (qk_fp16.hpp) ---------------------------

// S of one tile on the set's Q·Kᵀ path for `prec` (under its FP mode), from
// fp16 Q rows [rows x d] and K rows [keys x d].
std::vector<float> qk_tile(const KernelSet& ks, Exp2Precision prec, const std::vector<std::uint16_t>& q,
                           const std::vector<std::uint16_t>& k, int rows, int keys, int d, float alpha,
                           std::int64_t lds) {
  const kernels::QkPath path = kernels::qk_path(ks, prec);
  std::vector<char> qp(kernels::a_panels_bytes(ks, rows, d)), kp(kernels::k_panels_bytes(ks, keys, d));
  std::vector<float> s(ks.mr * lds, -1.0f);
  const kernels::FpModeScope mode(ks);
  path.pack_q(q.data(), d, rows, d, qp.data());
  path.pack_k(k.data(), d, keys, d, kp.data());
  path.qk(d, qp.data(), kp.data(), alpha, s.data(), lds);
  return s;
}

// Inputs of a fast Q·Kᵀ check: uniform, cancelling (each row's terms sum
// to almost nothing: large partial sums, tiny result), or large enough that
// fp16 sums overflow (the kernel must fall back to fp32).
enum class QkInputs { uniform, cancelling, overflowing };

void check_qk_fast(const KernelSet& ks, int d, QkInputs kind) {
  std::mt19937 rng(d * 3 + static_cast<int>(kind));
  const int rows = ks.mr - 1, keys = ks.nr - 3;
  std::vector<float> qf = random_rows(rows * d, rng), kf = random_rows(keys * d, rng);
  if (kind == QkInputs::cancelling)  // k's second half repeats its first negated, q's too: t_p pairs up
    for (std::vector<float>* x : {&qf, &kf})
      for (std::size_t r = 0; r < x->size() / d; ++r)
        for (int p = d / 2; p < 2 * (d / 2); ++p) (*x)[r * d + p] = (x == &qf ? 1.0f : -1.0f) * (*x)[r * d + p - d / 2] * 1.001f;
  if (kind == QkInputs::overflowing) {  // row 0 · key 0 = d·240² > 65504 for d >= 2
    std::fill(qf.begin(), qf.begin() + d, 1.0f);
    std::fill(kf.begin(), kf.begin() + d, 1.0f);
  }
  const float big = kind == QkInputs::overflowing ? 240.0f : kind == QkInputs::cancelling ? 16.0f : 1.0f;
  std::vector<std::uint16_t> q(qf.size()), k(kf.size());
  for (std::size_t i = 0; i < qf.size(); ++i) q[i] = kernels::float_to_fp16(big * qf[i]);
  for (std::size_t i = 0; i < kf.size(); ++i) k[i] = kernels::float_to_fp16(big * kf[i]);
  const std::int64_t lds = ks.nr + 5;
  const float alpha = -0.37f;
  const std::vector<float> fast = qk_tile(ks, Exp2Precision::fast, q, k, rows, keys, d, alpha, lds);
  const std::vector<float> exact = qk_tile(ks, Exp2Precision::accurate, q, k, rows, keys, d, alpha, lds);
  // qk_fp16.hpp's bound: gamma_L on the flush blocks, the fp32 flushes, FZ16.
  constexpr int L = 64;
  const double u = std::ldexp(1.0, -11), gamma = L * u / (1 - L * u);
  const double rel = gamma + ((d + L - 1) / L + 1) * std::ldexp(1.0, -24) * (1 + gamma);
  for (int r = 0; r < ks.mr; ++r) {
    for (int j = 0; j < ks.nr; ++j) {
      const float got = fast[r * lds + j];
      if (r >= rows || j >= keys) {
        ASSERT_EQ(got, 0.0f) << "padding S[" << r << "][" << j << "]";
        continue;
      }
      double dot = 0, mag = 0, flushed = 0;
      for (int p = 0; p < d; ++p) {
        const double qv = kernels::fp16_to_float(q[r * d + p]), kv = kernels::fp16_to_float(k[j * d + p]);
        dot += qv * kv, mag += std::fabs(qv * kv), flushed += 1 + std::fabs(qv) + std::fabs(kv);
      }
      const double tol = std::fabs(alpha) * (rel * mag + std::ldexp(flushed, -14));
      ASSERT_NEAR(got, alpha * dot, tol) << "S[" << r << "][" << j << "]";
    }
    for (std::int64_t j = ks.nr; j < lds; ++j) ASSERT_EQ(fast[r * lds + j], -1.0f) << "qk wrote past nr";
  }
  // A tile whose fp16 sums overflow is recomputed in fp32: the accurate path's bits.
  if (kind == QkInputs::overflowing && d >= 2) {
    EXPECT_EQ(fast, exact);
  } else if (kind == QkInputs::uniform && d >= 33) {
    EXPECT_NE(fast, exact) << "no fp16 rounding anywhere: did the fp16 sums run?";
  }
}

TEST(SveKernels, QkFastAgainstDoubleProductAndItsBound) {
  REQUIRE_SVE();
  for (const std::string& name : runnable_sets()) {
    const KernelSet& ks = *find_set(name.c_str(), DType::f16);
    for (QkInputs kind : {QkInputs::uniform, QkInputs::cancelling, QkInputs::overflowing})
      for (int d : {1, 7, 33, 63, 64, 65, 128, 200, 512}) {
        SCOPED_TRACE(name + " kind " + std::to_string(int(kind)) + " d " + std::to_string(d));
        check_qk_fast(ks, d, kind);
        if (HasFatalFailure()) return;
      }
  }
}

// inf and NaN in Q or K reach S exactly as on the accurate path (the fast
// kernel recomputes such tiles in fp32).
TEST(SveKernels, QkFastNonFiniteInputsMatchTheAccuratePath) {
  REQUIRE_SVE();
  for (const std::string& name : runnable_sets()) {
    const KernelSet& ks = *find_set(name.c_str(), DType::f16);
    const int rows = ks.mr, keys = ks.nr, d = 96;
    std::mt19937 rng(5);
    std::vector<std::uint16_t> q(rows * d), k(keys * d);
    std::uniform_real_distribution<float> u(-1.0f, 1.0f);
    for (auto& x : q) x = kernels::float_to_fp16(u(rng));
    for (auto& x : k) x = kernels::float_to_fp16(u(rng));
    q[3 * d + 70] = kernels::float_to_fp16(std::numeric_limits<float>::quiet_NaN());  // row 3
    k[5 * d + 2] = kernels::float_to_fp16(kInf);                                      // key 5
    k[40 % keys * d + 90] = kernels::float_to_fp16(-kInf);                            // another key
    const std::int64_t lds = keys;
    const std::vector<float> fast = qk_tile(ks, Exp2Precision::fast, q, k, rows, keys, d, 0.5f, lds);
    const std::vector<float> exact = qk_tile(ks, Exp2Precision::accurate, q, k, rows, keys, d, 0.5f, lds);
    for (std::size_t i = 0; i < fast.size(); ++i) {
      SCOPED_TRACE(name + " S[" + std::to_string(i / lds) + "][" + std::to_string(i % lds) + "]");
      if (std::isnan(exact[i]))
        ASSERT_TRUE(std::isnan(fast[i]));
      else
        ASSERT_EQ(fast[i], exact[i]);
    }
    EXPECT_TRUE(std::isnan(fast[3 * lds + 7]));
    EXPECT_TRUE(std::isinf(fast[0 * lds + 5]) || std::isnan(fast[0 * lds + 5]));
  }
}

// Every SVE set reads K and V in place for every dtype (the contract suite
// checks the direct kernels of whatever set has them).
TEST(SveKernels, EverySetHasTheDirectPath) {
  REQUIRE_SVE();
  for (const std::string& name : runnable_sets())
    for (DType t : {DType::f32, DType::f16, DType::bf16}) EXPECT_TRUE(kernels::has_direct_kv(*find_set(name.c_str(), t))) << name;
}

TEST(SveKernels, OnlyFp16SetsHaveTheNoepiPath) {
  REQUIRE_SVE();
  for (const std::string& name : runnable_sets()) {
    EXPECT_EQ(find_set(name.c_str(), DType::f32)->pv_acc_fast, nullptr);
    const KernelSet* f16 = find_set(name.c_str(), DType::f16);
    EXPECT_NE(f16->pv_acc_fast, nullptr);
    EXPECT_EQ(f16->elem_fast, 2u);
    EXPECT_EQ(kernels::pv_path(*f16, Exp2Precision::accurate).pv_acc, f16->pv_acc);
    // And the fp16 Q·Kᵀ, for the fast precision only.
    EXPECT_EQ(find_set(name.c_str(), DType::f32)->qk_fast, nullptr);
    EXPECT_NE(f16->qk_fast, nullptr);
    EXPECT_EQ(f16->qk_elem_fast, 2u);
    EXPECT_EQ(kernels::qk_path(*f16, Exp2Precision::accurate).qk, f16->qk);
    EXPECT_EQ(kernels::qk_path(*f16, Exp2Precision::fast).qk, f16->qk_fast);
  }
}

// ---- FZ16 ------------------------------------------------------------------

std::uint64_t fpcr() {
  std::uint64_t v;
  __asm__ volatile("mrs %0, fpcr" : "=r"(v));
  return v;
}
void set_fpcr(std::uint64_t v) { __asm__ volatile("msr fpcr, %0" : : "r"(v)); }
constexpr std::uint64_t kFz16 = 1ull << 19;

TEST(SveFpMode, Fz16OnlyInsideTheScope) {
  REQUIRE_SVE();
  const KernelSet& ks = *find_set("sve", DType::f16);
  const std::uint64_t before = fpcr();
  ASSERT_EQ(before & kFz16, 0u);
  {
    const kernels::FpModeScope mode(ks);
    EXPECT_NE(fpcr() & kFz16, 0u);
  }
  EXPECT_EQ(fpcr(), before);
  // A caller that already had FZ16 keeps it.
  set_fpcr(before | kFz16);
  { const kernels::FpModeScope mode(ks); }
  EXPECT_EQ(fpcr(), before | kFz16);
  set_fpcr(before);
}

TEST(SveFpMode, NoepiFlushesFp16SubnormalsUnderTheScope) {
  REQUIRE_SVE();
  const KernelSet& ks = *find_set("sve", DType::f16);
  const int mr = ks.mr, nv = ks.nv;
  std::vector<std::uint16_t> p(mr, kernels::float_to_fp16(std::ldexp(1.0f, -20)));  // subnormal fp16
  std::vector<std::uint16_t> v(nv, kernels::float_to_fp16(1.0f));
  std::vector<float> o(mr * nv);
  ks.pv_init_fast(1, p.data(), v.data(), o.data(), nv);
  EXPECT_EQ(o[0], std::ldexp(1.0f, -20));
  {
    const kernels::FpModeScope mode(ks);
    ks.pv_init_fast(1, p.data(), v.data(), o.data(), nv);
  }
  EXPECT_EQ(o[0], 0.0f);
}

// ---- whole forward passes ------------------------------------------------------

// The fast precision's fp16 Q·Kᵀ on wide heads (several flushes per tile)
// and long rows (many key blocks), fp16 inputs.
TEST(SveForward, Fp16FastOnWideHeadsAndLongRows) {
  REQUIRE_SVE();
  const test::Spec cases[] = {
      {.M = 25, .N = 700, .D = 512, .Dv = 512},                         // D 512: 8 flushes per tile
      {.Hq = 2, .M = 13, .N = 300, .D = 200, .Dv = 72, .causal = true},  // D 200: a partial last flush
      {.M = 3, .N = 32768, .D = 64, .Dv = 64},                          // N 32768
  };
  for (const std::string& isa : runnable_sets())
    for (test::Spec spec : cases) {
      spec.dtype = ATTNRT_F16;
      spec.precision = ATTNRT_EXP2_FAST;
      test::expect_forward_matches(isa, spec);
    }
}

TEST(SveForward, CallerFpcrUnchangedByFp16Work) {
  REQUIRE_SVE();
  const std::uint64_t before = fpcr();
  test::expect_forward_matches("sve", {.dtype = ATTNRT_F16, .Hq = 2, .Hkv = 2, .M = 12, .N = 40, .D = 16, .Dv = 16,
                                       .precision = ATTNRT_EXP2_FAST});
  EXPECT_EQ(fpcr(), before);
}

}  // namespace
