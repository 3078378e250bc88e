// The SVE kernel sets (kernels/sve) under any SVE vector length: set
// selection, FEXPA exp2 and its fused P packing, every micro-kernel against
// a double-precision product, whole forward passes against tests/reference,
// and the FZ16 scope. Shapes are sized for qemu (about 1e6-1e7 FLOP each).
// 512-bit sets are checked only when svcntw() == 16 and skipped otherwise.
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
#include "tests/reference.hpp"
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

// ---- row max and rescale ----------------------------------------------------

TEST(SveSoftmax, RowMaxAndRescaleAtEveryTail) {
  REQUIRE_SVE();
  std::mt19937 rng(5);
  std::uniform_real_distribution<float> u(-50.0f, 50.0f);
  for (const std::string& name : runnable_sets())
    for (int cols : {1, 7, 33, 100}) {
      const KernelSet& ks = *find_set(name.c_str(), DType::f32);
      const std::int64_t ld = cols + 2;
      std::vector<float> s(ks.mr * ld);
      for (float& x : s) x = u(rng);
      std::vector<float> mx(ks.mr), want(ks.mr);
      for (int r = 0; r < ks.mr; ++r) {
        s[r * ld + (r * 5) % cols] = 60.0f + r;  // the max, somewhere in the row
        s[r * ld + cols] = 1e9f;                 // past the end: must be ignored
        mx[r] = r == 1 ? 100.0f : -kInf;          // a larger running max stays
        want[r] = r == 1 ? 100.0f : 60.0f + r;
      }
      ks.row_max(s.data(), ld, ks.mr, cols, mx.data());
      for (int r = 0; r < ks.mr; ++r) EXPECT_EQ(mx[r], want[r]) << name << " cols " << cols << " r " << r;
      std::vector<float> o = s, alpha(ks.mr);
      for (int r = 0; r < ks.mr; ++r) alpha[r] = 0.25f * (r + 1);
      ks.rescale(o.data(), ld, cols, alpha.data());
      for (int r = 0; r < ks.mr; ++r)
        for (std::int64_t c = 0; c < ld; ++c)
          EXPECT_EQ(o[r * ld + c], c < cols ? s[r * ld + c] * alpha[r] : s[r * ld + c]);
    }
}

// ---- micro-kernels -----------------------------------------------------------

std::vector<float> random_rows(std::size_t n, std::mt19937& rng) {
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  std::vector<float> v(n);
  for (float& x : v) x = u(rng);
  return v;
}

// Element i of a row of dtype t, as the kernels see it.
double value(DType t, const void* p, std::size_t i) {
  switch (t) {
    case DType::f32: return static_cast<const float*>(p)[i];
    case DType::f16: return kernels::fp16_to_float(static_cast<const std::uint16_t*>(p)[i]);
    case DType::bf16: return kernels::bf16_to_float(static_cast<const std::uint16_t*>(p)[i]);
  }
  return 0;
}

// S = alpha·Q·Kᵀ for a strip of rows (mr - 1 real) and a K tile (nr - 3 real keys).
void check_qk(const KernelSet& ks, int d) {
  std::mt19937 rng(d);
  const int rows = ks.mr - 1, keys = ks.nr - 3;
  std::vector<float> qf = random_rows(rows * d, rng), kf = random_rows(keys * d, rng);
  std::vector<std::uint16_t> qh(qf.size()), kh(kf.size());
  for (std::size_t i = 0; i < qf.size(); ++i) qh[i] = ks.dtype == DType::f16 ? kernels::float_to_fp16(qf[i]) : kernels::float_to_bf16(qf[i]);
  for (std::size_t i = 0; i < kf.size(); ++i) kh[i] = ks.dtype == DType::f16 ? kernels::float_to_fp16(kf[i]) : kernels::float_to_bf16(kf[i]);
  const void* q = ks.dtype == DType::f32 ? (const void*)qf.data() : (const void*)qh.data();
  const void* k = ks.dtype == DType::f32 ? (const void*)kf.data() : (const void*)kh.data();
  std::vector<char> qp(kernels::a_panels_bytes(ks, rows, d)), kp(kernels::k_panels_bytes(ks, keys, d));
  ks.pack_q(q, d, rows, d, qp.data());
  ks.pack_k(k, d, keys, d, kp.data());
  const std::int64_t lds = ks.nr + 5;
  std::vector<float> s(ks.mr * lds, -1.0f);
  const float alpha = 0.37f;
  ks.qk(d, qp.data(), kp.data(), alpha, s.data(), lds);
  for (int r = 0; r < ks.mr; ++r)
    for (int j = 0; j < ks.nr; ++j) {
      double want = 0, mag = 0;
      if (r < rows && j < keys)
        for (int p = 0; p < d; ++p) {
          const double t = value(ks.dtype, q, r * d + p) * value(ks.dtype, k, j * d + p);
          want += t, mag += std::fabs(t);
        }
      EXPECT_NEAR(s[r * lds + j], alpha * want, 1e-6 * alpha * mag + 1e-30) << "r " << r << " key " << j;
    }
  // Nothing outside the tile is written.
  for (int r = 0; r < ks.mr; ++r)
    for (std::int64_t j = ks.nr; j < lds; ++j) EXPECT_EQ(s[r * lds + j], -1.0f);
}

TEST(SveKernels, QkAgainstDoubleProduct) {
  REQUIRE_SVE();
  for (const std::string& name : runnable_sets())
    for (DType t : {DType::f32, DType::f16, DType::bf16})
      for (int d : {1, 7, 33, 96}) {
        SCOPED_TRACE(name + " dtype " + std::to_string(int(t)) + " d " + std::to_string(d));
        check_qk(*find_set(name.c_str(), t), d);
      }
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
        const double qv = value(DType::f16, q.data(), r * d + p), kv = value(DType::f16, k.data(), j * d + p);
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

// O = P·V (init) then O += P·V (acc) on one V panel, P from exp2_rows.
void check_pv(const KernelSet& ks, Exp2Precision prec, int kp) {
  std::mt19937 rng(kp);
  const int mr = ks.mr, dv = ks.nv - 5;
  const kernels::PvPath path = kernels::pv_path(ks, prec);
  // P from scores in [-4, 0].
  const std::int64_t lds = kp + 1;
  std::vector<float> s(mr * lds);
  std::uniform_real_distribution<float> u(-4.0f, 0.0f);
  for (float& x : s) x = u(rng);
  std::vector<float> m(mr, 0.0f), sum(mr, 0.0f);
  std::vector<char> p(kernels::a_panels_bytes(ks, mr, kp + 64));
  ks.exp2_rows(s.data(), lds, ks.mr, kp, m.data(), sum.data(), p.data(), prec);
  const bool p16 = path.elem == 2;
  auto pval = [&](int c, int r) {
    return p16 ? kernels::fp16_to_float(reinterpret_cast<const std::uint16_t*>(p.data())[c * mr + r])
               : reinterpret_cast<const float*>(p.data())[c * mr + r];
  };
  std::vector<float> vf = random_rows(kp * dv, rng);
  std::vector<std::uint16_t> vh(vf.size());
  for (std::size_t i = 0; i < vf.size(); ++i) vh[i] = ks.dtype == DType::f16 ? kernels::float_to_fp16(vf[i]) : kernels::float_to_bf16(vf[i]);
  const void* v = ks.dtype == DType::f32 ? (const void*)vf.data() : (const void*)vh.data();
  std::vector<char> vp(kernels::v_panels_bytes(ks, kp, dv));
  path.pack_v(v, dv, kp, dv, vp.data());
  const std::int64_t ldo = ks.nv + 3;
  std::vector<float> o(mr * ldo, -1.0f);
  {
    const kernels::FpModeScope mode(ks);
    path.pv_init(kp, p.data(), vp.data(), o.data(), ldo);
    path.pv_acc(kp, p.data(), vp.data(), o.data(), ldo);
  }
  // fp16 accumulation (noepi) rounds the running sum at every step.
  const double rel = p16 ? 2.0 * kp * std::ldexp(1.0, -11) : 1e-6;
  for (int r = 0; r < mr; ++r)
    for (int c = 0; c < ks.nv; ++c) {
      double want = 0, mag = 0;
      if (c < dv)
        for (int k = 0; k < kp; ++k) {
          const double t = pval(k, r) * value(ks.dtype, v, k * dv + c);
          want += t, mag += std::fabs(t);
        }
      EXPECT_NEAR(o[r * ldo + c], 2 * want, 2 * rel * mag + 1e-30) << "r " << r << " c " << c;
    }
  for (int r = 0; r < mr; ++r)
    for (std::int64_t c = ks.nv; c < ldo; ++c) EXPECT_EQ(o[r * ldo + c], -1.0f);
}

TEST(SveKernels, PvInitAndAccAgainstDoubleProduct) {
  REQUIRE_SVE();
  for (const std::string& name : runnable_sets())
    for (DType t : {DType::f32, DType::f16, DType::bf16})
      for (Exp2Precision prec : {Exp2Precision::accurate, Exp2Precision::fast})
        for (int kp : {1, 7, 33, 257}) {
          SCOPED_TRACE(name + " dtype " + std::to_string(int(t)) + " prec " + std::to_string(int(prec)) +
                       " kp " + std::to_string(kp));
          check_pv(*find_set(name.c_str(), t), prec, kp);
        }
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

// ---- the direct K/V path ------------------------------------------------------

// Rows of dtype t (row stride ld, NaN-like garbage in the gaps a kernel must
// not read: 0x7fc0 is a NaN in fp16, bf16 and the high half of fp32).
struct Rows {
  DType t;
  int rows, cols;
  std::int64_t ld;
  std::vector<float> f;
  std::vector<std::uint16_t> h;
  Rows(DType t_, int rows_, int cols_, std::int64_t ld_, std::mt19937& rng) : t(t_), rows(rows_), cols(cols_), ld(ld_) {
    f.assign(static_cast<std::size_t>(rows) * ld + 1, std::numeric_limits<float>::quiet_NaN());
    h.assign(f.size(), 0x7fc0);
    std::uniform_real_distribution<float> u(-1.0f, 1.0f);
    for (int r = 0; r < rows; ++r)
      for (int c = 0; c < cols; ++c) {
        const float x = u(rng);
        f[r * ld + c] = x;
        h[r * ld + c] = t == DType::f16 ? kernels::float_to_fp16(x) : kernels::float_to_bf16(x);
      }
  }
  const void* data() const { return t == DType::f32 ? static_cast<const void*>(f.data()) : h.data(); }
  double at(int r, int c) const { return value(t, data(), static_cast<std::size_t>(r) * ld + c); }
};

// Head dims for the direct kernels: every width 1..64 (each residue mod 4
// and mod every vector length), then a sample up to kMaxHeadDim.
std::vector<int> direct_dims() {
  std::vector<int> dims;
  for (int d = 1; d <= 64; ++d) dims.push_back(d);
  for (int d : {67, 100, 128, 129, 200, 256, 263, 384, 509, 512}) dims.push_back(d);
  return dims;
}

// S = alpha·Q·Kᵀ with K in place: every d, rows from 1 to past a row tile,
// keys 0 to a few tiles (with every residue mod 8); nothing outside
// S[rows x keys] written.
void check_qk_direct(const KernelSet& ks, int d, int rows, int keys, std::mt19937& rng) {
  const Rows q(DType::f32, rows, d, d + 3, rng), k(ks.dtype, keys, d, d + 5, rng);
  const std::int64_t lds = keys + 3;
  std::vector<float> s(static_cast<std::size_t>(rows + 1) * lds, -1.0f);
  const float alpha = 0.37f;
  ks.qk_direct(rows, keys, d, q.f.data(), q.ld, k.data(), k.ld, alpha, s.data(), lds, nullptr);
  for (int r = 0; r <= rows; ++r)
    for (int j = 0; j < lds; ++j) {
      if (r == rows || j >= keys) {
        ASSERT_EQ(s[r * lds + j], -1.0f) << "wrote S[" << r << "][" << j << "]";
        continue;
      }
      double want = 0, mag = 0;
      for (int x = 0; x < d; ++x) {
        const double t = q.at(r, x) * k.at(j, x);
        want += t, mag += std::fabs(t);
      }
      ASSERT_NEAR(s[r * lds + j], alpha * want, alpha * mag * (d + 2) * 0x1p-24 + 1e-30) << "S[" << r << "][" << j << "]";
    }
}

TEST(SveDirect, QkAtEveryTail) {
  REQUIRE_SVE();
  std::mt19937 rng(19);
  for (const std::string& name : runnable_sets())
    for (DType t : {DType::f32, DType::f16, DType::bf16}) {
      const KernelSet& ks = *find_set(name.c_str(), t);
      ASSERT_TRUE(kernels::has_direct_kv(ks)) << name;
      // Each d meets three row counts in turn (four past 64), so every
      // count meets every d residue; keys 0 .. 5 tiles, every residue mod 8.
      constexpr int kRows[] = {1, 2, 3, 4, 5, 7, 8, 12, 13, 17, 25};
      int i = 0;
      for (int d : direct_dims())
        for (int n = 0; n < (d > 64 ? 4 : 3); ++n, ++i) {
          const int rows = kRows[i % std::size(kRows)], keys = i % 41;
          SCOPED_TRACE(name + " dtype " + std::to_string(int(t)) + " d " + std::to_string(d) + " rows " +
                       std::to_string(rows) + " keys " + std::to_string(keys));
          check_qk_direct(ks, d, rows, keys, rng);
        }
    }
}

// O (op)= P·V with V in place against double: pv_direct_init, then
// pv_direct_acc, on all dv columns in one call; P an fp32 panel [kp][mr].
// Columns past dv within the last nv slice get 0, later ones stay.
void check_pv_direct(const KernelSet& ks, int dv, int keys, std::mt19937& rng) {
  const int mr = ks.mr;
  std::uniform_real_distribution<float> u(0.0f, 1.0f);
  std::vector<float> p1(static_cast<std::size_t>(keys) * mr), p2(p1.size());
  for (float& x : p1) x = u(rng);
  for (float& x : p2) x = u(rng);
  const Rows v1(ks.dtype, keys, dv, dv + 3, rng), v2(ks.dtype, keys, dv, dv + 1, rng);
  const int padded = kernels::round_up(dv, ks.nv);
  const std::int64_t ldo = padded + 2;
  std::vector<float> o(static_cast<std::size_t>(mr) * ldo, -1.0f);
  ks.pv_direct_init(keys, p1.data(), v1.data(), v1.ld, dv, o.data(), ldo, nullptr);
  const std::vector<float> init = o;
  ks.pv_direct_acc(keys, p2.data(), v2.data(), v2.ld, dv, o.data(), ldo, nullptr);
  for (int r = 0; r < mr; ++r)
    for (int c = 0; c < ldo; ++c) {
      const float got_init = init[r * ldo + c], got = o[r * ldo + c];
      if (c >= padded) {
        ASSERT_EQ(got, -1.0f) << "wrote O[" << r << "][" << c << "] past the slices";
        continue;
      }
      double w1 = 0, w2 = 0, mag = 0;
      for (int j = 0; c < dv && j < keys; ++j) {
        const double x1 = p1[j * mr + r] * v1.at(j, c), x2 = p2[j * mr + r] * v2.at(j, c);
        w1 += x1, w2 += x2, mag += std::fabs(x1) + std::fabs(x2);
      }
      const double tol = mag * (keys + 3) * 0x1p-24 + 1e-30;
      ASSERT_NEAR(got_init, w1, tol) << "init O[" << r << "][" << c << "]";
      ASSERT_NEAR(got, w1 + w2, tol) << "acc O[" << r << "][" << c << "]";
    }
}

TEST(SveDirect, PvAtEveryTail) {
  REQUIRE_SVE();
  std::mt19937 rng(20);
  for (const std::string& name : runnable_sets())
    for (DType t : {DType::f32, DType::f16, DType::bf16}) {
      const KernelSet& ks = *find_set(name.c_str(), t);
      int i = 0;
      for (int dv : direct_dims())
        for (int keys : {1, 2, 5, 16}) {
          const int k = keys == 16 ? 16 + i++ % 19 : keys;  // up to the pipelines' 16 per call, and past
          SCOPED_TRACE(name + " dtype " + std::to_string(int(t)) + " dv " + std::to_string(dv) + " keys " +
                       std::to_string(k));
          check_pv_direct(ks, dv, k, rng);
        }
    }
}

// widen_rows: exact, dense, nothing past rows x cols (fp16/bf16 sets only).
TEST(SveDirect, WidenRowsExactly) {
  REQUIRE_SVE();
  std::mt19937 rng(21);
  for (const std::string& name : runnable_sets()) {
    EXPECT_EQ(find_set(name.c_str(), DType::f32)->widen_rows, nullptr);
    for (DType t : {DType::f16, DType::bf16})
      for (int cols : {1, 3, 4, 5, 15, 16, 17, 63, 64, 65, 130, 512})
        for (int rows : {1, 4}) {
          const KernelSet& ks = *find_set(name.c_str(), t);
          const Rows m(t, rows, cols, cols + 7, rng);
          std::vector<float> out(static_cast<std::size_t>(rows) * cols + 5, -1.0f);
          ks.widen_rows(m.data(), m.ld, rows, cols, out.data());
          for (int r = 0; r < rows; ++r)
            for (int c = 0; c < cols; ++c) ASSERT_EQ(out[r * cols + c], m.at(r, c)) << name << " [" << r << "][" << c << "]";
          for (std::size_t x = static_cast<std::size_t>(rows) * cols; x < out.size(); ++x) ASSERT_EQ(out[x], -1.0f);
        }
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

struct Case {
  int b, hq, hkv, m, n, d, dv;
  bool causal;
  std::int64_t window_left;
  bool kv_lens;  // batch 0 sees 0 keys, batch 1 some
  int pad = 0;   // extra elements between rows (strided views)
};

std::vector<std::uint16_t> to_half(const std::vector<float>& x, DType t) {
  std::vector<std::uint16_t> h(x.size());
  for (std::size_t i = 0; i < x.size(); ++i)
    h[i] = t == DType::f16 ? kernels::float_to_fp16(x[i]) : kernels::float_to_bf16(x[i]);
  return h;
}

void check_forward(const std::string& isa, DType t, attnrt_precision prec, const Case& c) {
  std::mt19937 rng(c.m * 131 + c.n);
  auto make = [&](int h, int s, int d) {
    return random_rows(static_cast<std::size_t>(c.b) * h * s * (d + c.pad), rng);
  };
  std::vector<float> qf = make(c.hq, c.m, c.d), kf = make(c.hkv, c.n, c.d), vf = make(c.hkv, c.n, c.dv);
  std::vector<std::uint16_t> qh = to_half(qf, t), kh = to_half(kf, t), vh = to_half(vf, t);
  const bool f32 = t == DType::f32;
  std::vector<float> of(static_cast<std::size_t>(c.b) * c.hq * c.m * (c.dv + c.pad));
  std::vector<std::uint16_t> oh(of.size());
  std::vector<float> lse(static_cast<std::size_t>(c.b) * c.hq * c.m);
  const attnrt_dtype dt = static_cast<attnrt_dtype>(t);
  auto view = [&](void* data, int h, int s, int d) {
    const std::int64_t ld = d + c.pad;
    return attnrt_tensor{data, dt, {c.b, h, s, d}, {h * s * ld, s * ld, ld}};
  };
  const attnrt_tensor q = view(f32 ? (void*)qf.data() : qh.data(), c.hq, c.m, c.d);
  const attnrt_tensor k = view(f32 ? (void*)kf.data() : kh.data(), c.hkv, c.n, c.d);
  const attnrt_tensor v = view(f32 ? (void*)vf.data() : vh.data(), c.hkv, c.n, c.dv);
  const attnrt_tensor o = view(f32 ? (void*)of.data() : oh.data(), c.hq, c.m, c.dv);
  const attnrt_tensor l{lse.data(), ATTNRT_F32, {c.b, c.hq, c.m, 1}, {std::int64_t{c.hq} * c.m, c.m, 1}};
  attnrt_params params;
  attnrt_params_init(&params);
  params.causal = c.causal;
  params.window_left = c.window_left;
  params.precision = prec;
  params.lse = &l;
  std::vector<std::int64_t> lens{0, c.n - 3};
  if (c.kv_lens) params.kv_lens = lens.data();
  attnrt_runtime* rt = nullptr;
  ASSERT_EQ(make_runtime(isa.c_str(), 2, &rt), ATTNRT_OK) << attnrt_last_error();
  ASSERT_EQ(attnrt_runtime_forward(rt, &q, &k, &v, &o, &params), ATTNRT_OK) << attnrt_last_error();
  attnrt_runtime_destroy(rt);
  const test::RefResult ref = test::reference_forward(q, k, v, params);
  const test::Tolerance tol = test::tolerance(dt, prec);
  std::size_t i = 0;  // ref.o is dense; o has c.pad extra elements per row
  for (std::size_t row = 0; row < lse.size(); ++row)
    for (int col = 0; col < c.dv; ++col, ++i) {
      const std::size_t at = row * (c.dv + c.pad) + col;
      const double got = f32 ? of[at] : value(t, oh.data(), at);
      ASSERT_FALSE(std::isnan(got)) << "o[" << row << "][" << col << "]";
      ASSERT_NEAR(got, ref.o[i], tol.o) << "o[" << row << "][" << col << "]";
    }
  for (std::size_t i = 0; i < lse.size(); ++i) {
    if (std::isinf(ref.lse[i])) {
      ASSERT_EQ(lse[i], -kInf) << "lse[" << i << "]";
      continue;
    }
    ASSERT_NEAR(lse[i], ref.lse[i], tol.lse) << "lse[" << i << "]";
  }
}

TEST(SveForward, MatchesReference) {
  REQUIRE_SVE();
  const Case cases[] = {
      {1, 2, 1, 33, 57, 64, 64, false, -1, false},  // GQA, tails everywhere
      {2, 2, 2, 7, 40, 33, 17, true, -1, true},     // causal, odd dims, an empty batch
      {1, 1, 1, 20, 70, 16, 96, true, 9, false},    // sliding window
      {1, 1, 1, 1, 257, 7, 7, false, -1, false},    // decode-like
      {1, 1, 1, 20, 9, 8, 8, true, -1, false},      // causal, M > N: fully masked rows
      {1, 2, 1, 13, 33, 24, 40, false, -1, false, 3},  // strided rows
      {1, 1, 1, 12, 300, 256, 256, false, -1, false},  // several key blocks: rescale
  };
  for (const std::string& isa : runnable_sets())
    for (DType t : {DType::f32, DType::f16, DType::bf16})
      for (attnrt_precision prec : {ATTNRT_EXP2_ACCURATE, ATTNRT_EXP2_FAST})
        for (const Case& c : cases) {
          SCOPED_TRACE(isa + " dtype " + std::to_string(int(t)) + " prec " + std::to_string(int(prec)) +
                       " m " + std::to_string(c.m) + " n " + std::to_string(c.n));
          check_forward(isa, t, prec, c);
        }
}

// The fast precision's fp16 Q·Kᵀ on wide heads (several flushes per tile)
// and long rows (many key blocks), fp16 inputs.
TEST(SveForward, Fp16FastOnWideHeadsAndLongRows) {
  REQUIRE_SVE();
  const Case cases[] = {
      {1, 1, 1, 25, 700, 512, 512, false, -1, false},   // D 512: 8 flushes per tile
      {1, 2, 1, 13, 300, 200, 72, true, -1, false},     // D 200: a partial last flush
      {1, 1, 1, 3, 32768, 64, 64, false, -1, false},    // N 32768
  };
  for (const std::string& isa : runnable_sets())
    for (const Case& c : cases) {
      SCOPED_TRACE(isa + " d " + std::to_string(c.d) + " n " + std::to_string(c.n));
      check_forward(isa, DType::f16, ATTNRT_EXP2_FAST, c);
    }
}

TEST(SveForward, CallerFpcrUnchangedByFp16Work) {
  REQUIRE_SVE();
  const std::uint64_t before = fpcr();
  check_forward("sve", DType::f16, ATTNRT_EXP2_FAST, {1, 2, 2, 12, 40, 16, 16, false, -1, false});
  EXPECT_EQ(fpcr(), before);
}

}  // namespace
