// The kernel-contract suite, tiles and softmax pieces: every entry of
// kernels/kernel_set.hpp but the direct K/V path (test_kernel_paths.cpp),
// on every set under test (tests/kernel_contract.hpp), against double
// precision. Packed panels are mostly built by the set's packers and read
// back through its micro-kernels (an A panel is read by multiplying it with
// an identity V); the layout tests read them where kernel_set.hpp says.
// Inputs come with NaN in the gaps of their strided rows and buffers come
// pre-filled with garbage, so a packer that reads outside its rows or leaves
// padding unwritten shows up as NaN. Sets this CPU cannot run are skipped.
#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "kernels/convert.hpp"
#include "kernels/kernel_set.hpp"
#include "tests/kernel_contract.hpp"
#include "tests/tolerances.hpp"

namespace attnrt::test {
namespace {

// ---- Q·Kᵀ ------------------------------------------------------------------

TEST_P(KernelSetTest, PackQPackKAndQkMatchDoubleDotProducts) {
  const KernelSet& k = ks();
  std::mt19937 rng(1);
  const int d_sizes[] = {1, 2, 3, 7, 8, 15, 16, 17, 31, 32, 33, 64, 80, 96, 128, 255, 256, 512};
  for (const int d : d_sizes)
    for (const int rows : {std::max(1, k.mr - 1), 2 * k.mr + 1})
      for (const float alpha : {1.0f, -0.37f}) {
        const int keys = k.nr + 3, dp = round_up(d, k.k_pack);
        SCOPED_TRACE("d " + std::to_string(d) + " rows " + std::to_string(rows) + " alpha " + std::to_string(alpha));
        HostTensor q = matrix(dtype(), rows, d), kk = matrix(dtype(), keys, d);
        q.fill_uniform(rng);
        kk.fill_uniform(rng);
        Buffer qa(kernels::a_panels_bytes(k, rows, d), 0xff), kb(kernels::k_panels_bytes(k, keys, d), 0xff);
        k.pack_q(src(q), ld(q), rows, d, qa.data());
        k.pack_k(src(kk), ld(kk), keys, d, kb.data());
        ASSERT_TRUE(qa.guard_intact()) << "pack_q wrote past a_panels_bytes";
        ASSERT_TRUE(kb.guard_intact()) << "pack_k wrote past k_panels_bytes";

        const std::int64_t lds = k.nr + 5;
        const std::size_t a_panel = kernels::a_panels_bytes(k, k.mr, d), b_panel = kernels::k_panels_bytes(k, k.nr, d);
        for (int pa = 0; pa * k.mr < rows; ++pa)
          for (int pb = 0; pb * k.nr < keys; ++pb) {
            std::vector<float> s(k.mr * lds, kSentinel);
            k.qk(dp, qa.bytes() + pa * a_panel, kb.bytes() + pb * b_panel, alpha, s.data(), lds);
            for (int r = 0; r < k.mr; ++r) {
              for (int c = 0; c < k.nr; ++c) {
                const int i = pa * k.mr + r, j = pb * k.nr + c;
                const float got = s[r * lds + c];
                if (i >= rows || j >= keys) {
                  ASSERT_EQ(got, 0.0f) << "padding S[" << i << "][" << j << "]";
                  continue;
                }
                double dot = 0, mag = 0;
                for (int x = 0; x < d; ++x) {
                  dot += q.get(0, 0, i, x) * kk.get(0, 0, j, x);
                  mag += std::fabs(q.get(0, 0, i, x) * kk.get(0, 0, j, x));
                }
                const double tol = std::fabs(alpha) * mag * ((dp + 2) * kU + 2 * pack_rel()) + 1e-30;
                ASSERT_NEAR(got, alpha * dot, tol) << "S[" << i << "][" << j << "]";
              }
              for (int c = k.nr; c < lds; ++c) ASSERT_EQ(s[r * lds + c], kSentinel) << "qk wrote past nr";
            }
          }
      }
}

// ---- P·V ---------------------------------------------------------------------

TEST_P(KernelSetTest, PackVAndPvInitAccMatchDouble) {
  const KernelSet& k = ks();
  std::mt19937 rng(2);
  for (const int keys : {1, 2, 3, 7, 16, 33, 64, 100, 257})
    for (const int dv : {1, 7, k.nv, k.nv + 1, 80, 2 * k.nv + 3}) {
      SCOPED_TRACE("keys " + std::to_string(keys) + " dv " + std::to_string(dv));
      const int kp = round_up(keys, k.k_pack), real = std::max(1, k.mr - 1);
      // Two (P, V) pairs: O = P1·V1 (init), then O += P2·V2 (acc).
      HostTensor p1 = matrix(dtype(), real, keys), p2 = matrix(dtype(), real, keys);
      HostTensor v1 = matrix(dtype(), keys, dv), v2 = matrix(dtype(), keys, dv);
      p1.fill_uniform(rng, 0.0, 1.0);
      p2.fill_uniform(rng, 0.0, 1.0);
      v1.fill_uniform(rng);
      v2.fill_uniform(rng);
      Buffer a1(kernels::a_panels_bytes(k, k.mr, keys), 0xff), a2(kernels::a_panels_bytes(k, k.mr, keys), 0xff);
      Buffer b1(kernels::v_panels_bytes(k, keys, dv), 0xff), b2(kernels::v_panels_bytes(k, keys, dv), 0xff);
      k.pack_q(src(p1), ld(p1), real, keys, a1.data());
      k.pack_q(src(p2), ld(p2), real, keys, a2.data());
      k.pack_v(src(v1), ld(v1), keys, dv, b1.data());
      k.pack_v(src(v2), ld(v2), keys, dv, b2.data());
      ASSERT_TRUE(b1.guard_intact()) << "pack_v wrote past v_panels_bytes";

      const std::int64_t ldo = round_up(dv, k.nv) + 4;
      const std::size_t v_panel = kernels::v_panels_bytes(k, keys, k.nv);
      std::vector<float> o(k.mr * ldo, kSentinel);
      for (int c = 0; c < dv; c += k.nv) k.pv_init(kp, a1.data(), b1.bytes() + (c / k.nv) * v_panel, o.data() + c, ldo);
      std::vector<float> after_init = o;
      for (int c = 0; c < dv; c += k.nv) k.pv_acc(kp, a2.data(), b2.bytes() + (c / k.nv) * v_panel, o.data() + c, ldo);

      for (int r = 0; r < k.mr; ++r) {
        for (int c = 0; c < round_up(dv, k.nv); ++c) {
          if (r >= real || c >= dv) {
            ASSERT_EQ(o[r * ldo + c], 0.0f) << "padding O[" << r << "][" << c << "]";
            continue;
          }
          const PvWant want = pv_want(p1, v1, p2, v2, keys, r, c);
          const double tol = want.mag * ((kp + 3) * kU + 2 * pack_rel()) + 1e-30;
          ASSERT_NEAR(after_init[r * ldo + c], want.init, tol) << "pv_init O[" << r << "][" << c << "]";
          ASSERT_NEAR(o[r * ldo + c], want.acc, tol) << "pv_acc O[" << r << "][" << c << "]";
        }
        for (int c = round_up(dv, k.nv); c < ldo; ++c) ASSERT_EQ(o[r * ldo + c], kSentinel) << "pv wrote past its panels";
      }
    }
}

// ---- row max -------------------------------------------------------------------

TEST_P(KernelSetTest, RowMax) {
  const KernelSet& k = ks();
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> u(-50.0f, 50.0f);
  // Six kinds of rows; `phase` rotates them so every kind meets every row
  // of the strip, however small mr is.
  for (int phase = 0; phase < 6; ++phase) {
    for (const int cols : {1, 3, k.nr - 1, k.nr, k.nr + 1, 2 * k.nr + 5, 100}) {
      if (cols < 1) continue;
      SCOPED_TRACE("cols " + std::to_string(cols) + " phase " + std::to_string(phase));
      const std::int64_t lds = cols + 7;
      std::vector<float> s(k.mr * lds);
      std::vector<float> mx(k.mr, -kInff);
      for (int r = 0; r < k.mr; ++r) {
        float* row = s.data() + r * lds;
        for (int c = 0; c < cols; ++c) row[c] = u(rng);
        for (int c = cols; c < lds; ++c) row[c] = c % 2 ? kInff : kNaNf;  // must not be read
        switch ((r + phase) % 6) {
          case 1: std::fill(row, row + cols, -kInff); break;                     // all masked
          case 2: for (int c = 0; c < cols; c += 2) row[c] = -kInff; break;      // partly masked
          case 3: mx[r] = 1000.0f; break;                                        // max already higher
          case 4:  // the largest score, then a NaN after it
            row[0] = 60.0f;
            row[cols / 2] = kNaNf;
            break;
          case 5:  // a NaN, then the largest score last
            row[0] = kNaNf;
            if (cols > 1) row[cols - 1] = 60.0f;
            break;
        }
      }
      std::vector<float> in = mx;
      k.row_max(s.data(), lds, k.mr, cols, mx.data());
      for (int r = 0; r < k.mr; ++r) {
        const float* row = s.data() + r * lds;
        float finite_max = in[r];
        bool nan = false;
        for (int c = 0; c < cols; ++c) {
          nan |= std::isnan(row[c]);
          if (row[c] > finite_max) finite_max = row[c];
        }
        if (nan) {
          // A NaN may win or be ignored, but it must never hide a larger
          // finite score (that would overflow exp2 later).
          EXPECT_TRUE(std::isnan(mx[r]) || mx[r] == finite_max) << "row " << r << ": " << mx[r] << " vs " << finite_max;
        } else {
          EXPECT_EQ(mx[r], finite_max) << "row " << r;
        }
      }
    }
  }
}

// ---- exp2 rows -----------------------------------------------------------------

// Arguments x = S - m covering [-150, 0] densely, the edges of the normal and
// subnormal ranges, and below.
std::vector<float> exp2_arguments() {
  std::vector<float> x;
  for (int i = 0; i <= 15000; ++i) x.push_back(-150.0f * static_cast<float>(i) / 15000.0f);
  std::mt19937 rng(4);
  std::uniform_real_distribution<float> u(-150.0f, 0.0f);
  for (int i = 0; i < 5000; ++i) x.push_back(u(rng));
  for (float e : {0.0f, -0.0f, -1e-7f, -0.5f, -1.0f, -125.5f, -126.0f, -126.5f, -127.0f, -148.5f, -149.0f,
                  -149.5f, -149.99f, -150.0f, -150.01f, -150.5f, -151.0f, -200.0f, -1e30f, -kInff})
    x.push_back(e);
  return x;
}

TEST_P(KernelSetTest, Exp2RowsAccuracyZerosAndSums) {
  const KernelSet& k = ks();
  const std::vector<float> xs = exp2_arguments();
  for (const Exp2Precision prec : {Exp2Precision::accurate, Exp2Precision::fast}) {
    const bool accurate = prec == Exp2Precision::accurate;
    const bool narrow_p = kernels::pv_path(k, prec).elem == 2;  // P held as bf16/fp16: one more rounding
    const bool fp16_p_flushes = narrow_p && k.dtype == kernels::DType::f16 && k.fp_mode_enter;
    const double rel = accurate ? 0.0 : exp2_fast_rel_error(k.name);
    SCOPED_TRACE(accurate ? "accurate" : "fast");
    double worst_ulp = 0, worst_rel = 0;
    const int cols = 61;  // odd: exercises k_pack padding
    const int kp = round_up(cols, k.k_pack);
    const std::int64_t lds = cols + 3;
    std::size_t next = 0;
    while (next < xs.size()) {
      // One strip: mr rows of `cols` arguments each. Row 0 is shifted by a
      // nonzero max m = 2 to check the subtraction; its arguments are
      // rounded to multiples of 2^-15 so that S = x + 2 and S - m are exact.
      std::vector<float> s(k.mr * lds, kNaNf), m(k.mr, 0.0f), sum(k.mr, 0.75f);
      std::vector<float> x(k.mr * cols, -kInff);
      m[0] = 2.0f;
      for (int r = 0; r < k.mr; ++r)
        for (int c = 0; c < cols; ++c) {
          float v = next < xs.size() ? xs[next++] : -kInff;
          if (r == 0 && std::isfinite(v)) v = std::round(v * 32768.0f) / 32768.0f;
          x[r * cols + c] = v;
          s[r * lds + c] = v + m[r];
        }
      Buffer p(kernels::a_panels_bytes(k, k.mr, cols), 0xff);
      k.exp2_rows(s.data(), lds, k.mr, cols, m.data(), sum.data(), p.data(), prec);
      ASSERT_TRUE(p.guard_intact()) << "exp2_rows wrote past its P panel";
      const std::vector<float> got = read_a_panel(p.data(), kp, prec);
      for (int r = 0; r < k.mr; ++r) {
        double want_sum = 0.75, sum_tol = 0;
        for (int c = 0; c < cols; ++c) {
          const double xv = x[r * cols + c], want = std::exp2(xv), g = got[r * kp + c];
          want_sum += want;
          if (xv < -150.0) {
            ASSERT_EQ(g, 0.0f) << "exp2(" << xv << ") must be exactly 0";
            continue;
          }
          // Results below 2^-126 (fp32 subnormals) may be flushed to 0
          // (kernel_set.hpp): FEXPA has no subnormal range. An fp16 P
          // under its set's mode (FZ16, held as the pipelines hold it)
          // flushes below fp16's smallest normal, 2^-14.
          if (xv < -126.0 && g == 0.0f) continue;
          if (fp16_p_flushes && xv < -14.0 && g == 0.0f) continue;
          const double err = std::fabs(g - want);
          double tol = accurate ? kExp2AccurateUlp * ulp_f32(want) : rel * want + ulp_f32(want);
          if (narrow_p) tol += std::ldexp(want, -8) + std::ldexp(1.0, -24);
          sum_tol += tol;
          if (accurate) worst_ulp = std::max(worst_ulp, err / ulp_f32(want));
          else if (want > 1e-30) worst_rel = std::max(worst_rel, err / want);
          ASSERT_LE(err, tol) << "exp2(" << xv << ") = " << g << ", want " << want;
        }
        for (int c = cols; c < kp; ++c) ASSERT_EQ(got[r * kp + c], 0.0f) << "P padding column " << c;
        sum_tol += (cols + 2) * kU * want_sum;
        ASSERT_NEAR(sum[r], want_sum, sum_tol) << "row sum " << r;
      }
    }
    ::testing::Test::RecordProperty(accurate ? "exp2_accurate_max_ulp" : "exp2_fast_max_rel",
                                    std::to_string(accurate ? worst_ulp : worst_rel));
  }
}

// A strip of a few real rows asks row_max and exp2_rows for those rows only
// (kernel_set.hpp): each of them as a call for all mr rows gives it, and
// nothing is written past the P panel.
TEST_P(KernelSetTest, SoftmaxOfTheFirstRowsMatchesAllRows) {
  const KernelSet& k = ks();
  const int cols = 37, kp = round_up(cols, k.k_pack);
  const std::int64_t lds = cols + 5;
  std::mt19937 rng(11);
  std::uniform_real_distribution<float> u(-20.0f, 0.0f);
  std::vector<float> s(k.mr * lds);
  for (float& x : s) x = u(rng);
  for (const Exp2Precision prec : {Exp2Precision::accurate, Exp2Precision::fast}) {
    std::vector<float> m_all(k.mr, -kInff), sum_all(k.mr, 0.5f);
    k.row_max(s.data(), lds, k.mr, cols, m_all.data());
    Buffer p_all(kernels::a_panels_bytes(k, k.mr, cols), 0xff);
    k.exp2_rows(s.data(), lds, k.mr, cols, m_all.data(), sum_all.data(), p_all.data(), prec);
    const std::vector<float> want = read_a_panel(p_all.data(), kp, prec);
    for (int rows = 1; rows < k.mr; ++rows) {
      std::vector<float> m(k.mr, -kInff), sum(k.mr, 0.5f);
      k.row_max(s.data(), lds, rows, cols, m.data());
      Buffer p(kernels::a_panels_bytes(k, k.mr, cols), 0xff);
      k.exp2_rows(s.data(), lds, rows, cols, m.data(), sum.data(), p.data(), prec);
      ASSERT_TRUE(p.guard_intact()) << "exp2_rows(" << rows << " rows) wrote past its P panel";
      const std::vector<float> got = read_a_panel(p.data(), kp, prec);
      for (int r = 0; r < rows; ++r) {
        ASSERT_EQ(m[r], m_all[r]) << "row_max(" << rows << " rows), row " << r;
        ASSERT_EQ(sum[r], sum_all[r]) << "exp2_rows(" << rows << " rows), sum of row " << r;
        for (int c = 0; c < kp; ++c)
          ASSERT_EQ(got[r * kp + c], want[r * kp + c]) << "exp2_rows(" << rows << " rows), P[" << r << "][" << c << "]";
      }
    }
  }
}

TEST_P(KernelSetTest, Exp2RowsNanStaysNan) {
  const KernelSet& k = ks();
  const int cols = 9, kp = round_up(cols, k.k_pack);
  for (const Exp2Precision prec : {Exp2Precision::accurate, Exp2Precision::fast}) {
    std::vector<float> s(k.mr * cols, -1.0f), m(k.mr, 0.0f), sum(k.mr, 0.0f);
    s[0 * cols + 4] = kNaNf;  // row 0 has a NaN score
    Buffer p(kernels::a_panels_bytes(k, k.mr, cols), 0xff);
    k.exp2_rows(s.data(), cols, k.mr, cols, m.data(), sum.data(), p.data(), prec);
    const std::vector<float> got = read_a_panel(p.data(), kp, prec);
    EXPECT_TRUE(std::isnan(got[0 * kp + 4]));
    EXPECT_TRUE(std::isnan(sum[0]));
    for (int r = 1; r < k.mr; ++r) {
      EXPECT_NEAR(sum[r], cols * 0.5, 1e-3) << r;
      for (int c = 0; c < cols; ++c) EXPECT_NEAR(got[r * kp + c], 0.5, 1e-3) << r << "," << c;
    }
  }
}

// ---- rescale and normalize -------------------------------------------------------

TEST_P(KernelSetTest, RescaleIsExactAndStaysInItsColumns) {
  const KernelSet& k = ks();
  std::mt19937 rng(5);
  std::uniform_real_distribution<float> u(-2.0f, 2.0f);
  for (const int cols : {1, 7, k.nv, k.nv + 3, 3 * k.nv}) {
    SCOPED_TRACE("cols " + std::to_string(cols));
    const std::int64_t ldo = cols + 5;
    std::vector<float> o(k.mr * ldo), alpha(k.mr);
    for (float& x : o) x = u(rng);
    for (int r = 0; r < k.mr; ++r) alpha[r] = r == 0 ? 0.0f : r == 1 ? 1.0f : u(rng);
    const std::vector<float> before = o;
    k.rescale(o.data(), ldo, cols, alpha.data());
    for (int r = 0; r < k.mr; ++r)
      for (int c = 0; c < ldo; ++c) {
        const float want = c < cols ? before[r * ldo + c] * alpha[r] : before[r * ldo + c];
        ASSERT_EQ(o[r * ldo + c], want) << "O[" << r << "][" << c << "]";
      }
  }
}

TEST_P(KernelSetTest, NormalizeToEveryOutputDtype) {
  const KernelSet& k = ks();
  std::mt19937 rng(6);
  std::uniform_real_distribution<float> u(-3.0f, 3.0f);
  for (const DType out_t : {DType::f32, DType::f16, DType::bf16})
    for (const int cols : {1, 7, 33, k.nv, 80, kernels::kMaxHeadDim})
      for (const int rows : {1, std::max(1, k.mr - 1), k.mr}) {
        SCOPED_TRACE("out " + std::to_string(static_cast<int>(out_t)) + " cols " + std::to_string(cols) + " rows " +
                     std::to_string(rows));
        const std::int64_t ldo = round_up(cols, k.nv), ld_out = cols + 5;
        std::vector<float> o(k.mr * ldo), inv(k.mr);
        for (float& x : o) x = u(rng);
        for (float& x : inv) x = 1.0f / (1.0f + std::fabs(u(rng)));
        inv[0] = 0.0f;  // an empty row: O = 0
        const std::size_t esz = kernels::dtype_size(out_t);
        Buffer out((k.mr + 1) * ld_out * esz, kCanaryFill);
        ASSERT_FALSE(k.normalize(o.data(), ldo, rows, cols, inv.data(), out.data(), ld_out, out_t))
            << "finite values reported non-finite";
        ASSERT_TRUE(out.guard_intact());
        const unsigned char* bytes = static_cast<const unsigned char*>(out.data());
        for (int r = 0; r < k.mr + 1; ++r)
          for (int c = 0; c < ld_out; ++c) {
            const unsigned char* cell = bytes + (r * ld_out + c) * esz;
            if (r >= rows || c >= cols) {
              for (std::size_t b = 0; b < esz; ++b) ASSERT_EQ(cell[b], kCanaryFill) << "wrote out[" << r << "][" << c << "]";
              continue;
            }
            const float want = o[r * ldo + c] * inv[r];
            std::uint32_t got_bits = 0, want_bits = 0;
            std::memcpy(&got_bits, cell, esz);
            switch (out_t) {
              case DType::f32: std::memcpy(&want_bits, &want, 4); break;
              case DType::f16: want_bits = kernels::float_to_fp16(want); break;
              case DType::bf16: want_bits = kernels::float_to_bf16(want); break;
            }
            // +0 and -0 are both an exact 0.
            if (want == 0.0f && (got_bits & ~(esz == 4 ? 0x80000000u : 0x8000u)) == 0) continue;
            ASSERT_EQ(got_bits, want_bits) << "out[" << r << "][" << c << "] for " << want;
          }
      }
}

// normalize reports a NaN or inf anywhere in what it stores (the row block
// then recomputes that row), and nothing outside it: columns past cols and
// rows past rows may hold anything.
TEST_P(KernelSetTest, NormalizeReportsNonFiniteValues) {
  const KernelSet& k = ks();
  constexpr float kInf = std::numeric_limits<float>::infinity();
  for (const int cols : {1, 7, k.nv + 3, kernels::kMaxHeadDim})
    for (const int rows : {1, k.mr}) {
      const std::int64_t ldo = round_up(cols, k.nv) + k.nv;
      std::vector<float> o(k.mr * ldo, 0.5f), inv(k.mr, 0.25f), out(k.mr * ldo);
      for (int r = rows; r < k.mr; ++r) o[r * ldo] = kInf;  // rows not asked for
      for (int c = cols; c < ldo; ++c) o[c] = std::nanf("");  // past cols
      ASSERT_FALSE(k.normalize(o.data(), ldo, rows, cols, inv.data(), out.data(), ldo, DType::f32))
          << "cols " << cols << " rows " << rows << ": reported a value it does not store";
      for (const float bad : {kInf, -kInff, std::nanf("")})
        for (const int c : {0, cols - 1, cols / 2}) {
          const int r = rows - 1;
          const float keep = o[r * ldo + c];
          o[r * ldo + c] = bad;
          EXPECT_TRUE(k.normalize(o.data(), ldo, rows, cols, inv.data(), out.data(), ldo, DType::f32))
              << "cols " << cols << " rows " << rows << ": missed " << bad << " at column " << c;
          o[r * ldo + c] = keep;
        }
      // inf x 0 (an empty row's inverse) is NaN: reported too.
      o[(rows - 1) * ldo] = kInf;
      inv[rows - 1] = 0.0f;
      EXPECT_TRUE(k.normalize(o.data(), ldo, rows, cols, inv.data(), out.data(), ldo, DType::f32));
    }
}

// S = alpha * Q·Kᵀ through pack_q, pack_k and qk on whole tiles, gathered
// into rows x keys (row stride keys).
std::vector<float> scores(const KernelSet& ks, const Matrix& q, const Matrix& k, float alpha) {
  const int rows = q.rows, keys = k.rows, d = q.cols, dp = round_up(d, ks.k_pack);
  Buffer qp(kernels::a_panels_bytes(ks, rows, d)), kp(kernels::k_panels_bytes(ks, keys, d));
  ks.pack_q(q.data(), q.ld, rows, d, qp.get());
  ks.pack_k(k.data(), k.ld, keys, d, kp.get());
  const int rp = round_up(rows, ks.mr), cp = round_up(keys, ks.nr);
  const std::int64_t lds = cp + 3;  // odd stride: stores must not assume alignment
  std::vector<float> s(static_cast<std::size_t>(rp) * lds, kNaNf);
  const std::size_t a_strip = kernels::a_panels_bytes(ks, ks.mr, d);
  const std::size_t b_panel = kernels::k_panels_bytes(ks, ks.nr, d);
  for (int i = 0; i < rp; i += ks.mr)
    for (int j = 0; j < cp; j += ks.nr)
      ks.qk(dp, qp.get<char>() + (i / ks.mr) * a_strip, kp.get<char>() + (j / ks.nr) * b_panel,
            alpha, s.data() + i * lds + j, lds);
  // Padding rows and keys see zero-filled panels: their scores are exactly 0.
  for (int i = 0; i < rp; ++i)
    for (int j = 0; j < cp; ++j)
      if (i >= rows || j >= keys) {
        EXPECT_EQ(s[i * lds + j], 0.0f) << "padding score " << i << "," << j;
      }
  std::vector<float> out(static_cast<std::size_t>(rows) * keys);
  for (int i = 0; i < rows; ++i)
    for (int j = 0; j < keys; ++j) out[static_cast<std::size_t>(i) * keys + j] = s[i * lds + j];
  return out;
}

TEST_P(KernelSetTest, PackersWriteTheDocumentedLayout) {
  const KernelSet& ks = this->ks();
  std::mt19937 rng(11);
  for (int d : {1, 2, 7, 8, 9, 33, 80, 128}) {
    for (int rows : {1, 5, ks.mr, ks.mr + 1, 2 * ks.mr + 3}) {
      SCOPED_TRACE("d=" + std::to_string(d) + " rows=" + std::to_string(rows));
      const Matrix m(rows, d, d + 5, ks.dtype, rng);
      const int dp = round_up(d, ks.k_pack);
      Buffer a(kernels::a_panels_bytes(ks, rows, d), 0xff),
          b(kernels::k_panels_bytes(ks, rows, d), 0xff);
      ks.pack_q(m.data(), m.ld, rows, d, a.get());
      ks.pack_k(m.data(), m.ld, rows, d, b.get());
      for (int i = 0; i < round_up(rows, ks.mr); ++i)
        for (int p = 0; p < dp; ++p) {
          const double want = i < rows && p < d ? m.at(i, p) : 0.0;
          const std::size_t strip = static_cast<std::size_t>(i / ks.mr) * ks.mr * dp;
          ASSERT_EQ(packed_value(ks, a.get(), strip + kernels::a_panel_index(ks, i % ks.mr, p, dp)), want)
              << i << "," << p;
        }
      for (int j = 0; j < round_up(rows, ks.nr); ++j)
        for (int p = 0; p < dp; ++p) {
          const double want = j < rows && p < d ? m.at(j, p) : 0.0;
          ASSERT_EQ(packed_value(ks, b.get(), panel_index(ks.nr, ks.k_pack, j, p, dp)), want)
              << j << "," << p;
        }
      // The same matrix as V: keys = rows, dv = d.
      const int kp = round_up(rows, ks.k_pack);
      Buffer v(kernels::v_panels_bytes(ks, rows, d), 0xff);
      ks.pack_v(m.data(), m.ld, rows, d, v.get());
      for (int c = 0; c < round_up(d, ks.nv); ++c)
        for (int p = 0; p < kp; ++p) {
          const double want = p < rows && c < d ? m.at(p, c) : 0.0;
          ASSERT_EQ(packed_value(ks, v.get(), panel_index(ks.nv, ks.k_pack, c, p, kp)), want)
              << p << "," << c;
        }
    }
  }
}

TEST_P(KernelSetTest, QkTilesMatchDoubleAndTheGenericSet) {
  std::mt19937 rng(12);
  for (int d : {1, 7, 33, 64, 80, 128, 257}) {
    for (auto [rows, keys] : {std::pair{1, 1}, {7, 33}, {ks().mr + 1, ks().nr + 1}, {19, 70}}) {
      SCOPED_TRACE("d=" + std::to_string(d) + " rows=" + std::to_string(rows) +
                   " keys=" + std::to_string(keys));
      const Matrix q(rows, d, d + 3, ks().dtype, rng), k(keys, d, d + 1, ks().dtype, rng);
      const float alpha = 0.37f;
      const std::vector<float> s = scores(ks(), q, k, alpha);
      const std::vector<float> g = scores(generic(), q, k, alpha);
      for (int i = 0; i < rows; ++i)
        for (int j = 0; j < keys; ++j) {
          double dot = 0, mag = 0;
          for (int p = 0; p < d; ++p) {
            dot += q.at(i, p) * k.at(j, p);
            mag += std::fabs(q.at(i, p) * k.at(j, p));
          }
          // fp32 accumulation of d exact products: a few ulp per term at most.
          const double tol = alpha * (2.0 * d * std::ldexp(mag, -24) + 1e-30);
          const float got = s[static_cast<std::size_t>(i) * keys + j];
          ASSERT_NEAR(got, alpha * dot, tol) << "S[" << i << "][" << j << "]";
          ASSERT_NEAR(got, g[static_cast<std::size_t>(i) * keys + j], 2 * tol) << "vs generic";
        }
    }
  }
}

TEST_P(KernelSetTest, PvTilesOnPanelsWrittenInPlace) {
  const KernelSet& ks = this->ks();
  std::mt19937 rng(13);
  std::uniform_real_distribution<float> u(0.0f, 1.0f);
  for (int keys : {1, 2, 7, 16, 33, 100}) {
    for (int dv : {1, 9, 64, 80}) {
      SCOPED_TRACE("keys=" + std::to_string(keys) + " dv=" + std::to_string(dv));
      const int kp = round_up(keys, ks.k_pack);
      const Matrix v(keys, dv, dv + 2, ks.dtype, rng);
      Buffer vp(kernels::v_panels_bytes(ks, keys, dv));
      ks.pack_v(v.data(), v.ld, keys, dv, vp.get());
      // Two P panels (compute type, as exp2_rows writes them), padding zero.
      Buffer p1(kernels::a_panels_bytes(ks, ks.mr, keys)),
          p2(kernels::a_panels_bytes(ks, ks.mr, keys));
      std::vector<double> pv1(static_cast<std::size_t>(ks.mr) * keys), pv2(pv1.size());
      for (int r = 0; r < ks.mr; ++r)
        for (int c = 0; c < keys; ++c) {
          const std::size_t at = kernels::a_panel_index(ks, r, c, kp);
          set_packed(ks, p1.get(), at, u(rng));
          set_packed(ks, p2.get(), at, u(rng));
          pv1[r * keys + c] = packed_value(ks, p1.get(), at);
          pv2[r * keys + c] = packed_value(ks, p2.get(), at);
        }
      const int ldo = round_up(dv, ks.nv) + 5;
      std::vector<float> o(static_cast<std::size_t>(ks.mr) * ldo, kNaNf);  // init must not read O
      const std::size_t v_panel = static_cast<std::size_t>(ks.nv) * kp * ks.packed_elem;
      for (int c0 = 0; c0 < dv; c0 += ks.nv)
        ks.pv_init(kp, p1.get(), vp.get<char>() + (c0 / ks.nv) * v_panel, o.data() + c0, ldo);
      for (int c0 = 0; c0 < dv; c0 += ks.nv)
        ks.pv_acc(kp, p2.get(), vp.get<char>() + (c0 / ks.nv) * v_panel, o.data() + c0, ldo);
      for (int r = 0; r < ks.mr; ++r)
        for (int c = 0; c < round_up(dv, ks.nv); ++c) {
          double want = 0, mag = 0;
          for (int p = 0; c < dv && p < keys; ++p) {
            want += (pv1[r * keys + p] + pv2[r * keys + p]) * v.at(p, c);
            mag += (pv1[r * keys + p] + pv2[r * keys + p]) * std::fabs(v.at(p, c));
          }
          ASSERT_NEAR(o[r * ldo + c], want, 2.0 * keys * std::ldexp(mag, -24) + 1e-30)
              << r << "," << c;
        }
      for (int r = 0; r < ks.mr; ++r)  // columns past the tiles untouched
        for (int c = round_up(dv, ks.nv); c < ldo; ++c) ASSERT_TRUE(std::isnan(o[r * ldo + c]));
    }
  }
}

TEST_P(KernelSetTest, RowMaxIgnoresNaNAndHandlesTails) {
  const KernelSet& ks = this->ks();
  std::mt19937 rng(14);
  std::uniform_real_distribution<float> u(-50.0f, 50.0f);
  for (int cols : {1, 3, 7, 8, 9, 15, 16, 17, 31, 33, 100, 257}) {
    const std::int64_t lds = cols + 9;
    std::vector<float> s(static_cast<std::size_t>(ks.mr) * lds,
                         1e30f);  // past cols: must not count
    for (int r = 0; r < ks.mr; ++r)
      for (int c = 0; c < cols; ++c) s[r * lds + c] = u(rng);
    s[0 * lds + cols - 1] = kNaNf;  // NaN never becomes the max
    if (ks.mr > 1) s[1 * lds + 0] = 60.0f;
    if (ks.mr > 2) std::fill(s.begin() + 2 * lds, s.begin() + 2 * lds + cols, -kInff);
    std::vector<float> mx(ks.mr, -kInff), want(ks.mr, -kInff);
    mx[ks.mr - 1] = want[ks.mr - 1] = 55.0f;  // the running max takes part
    for (int r = 0; r < ks.mr; ++r)           // the generic set's rule, row by row (its mr differs)
      for (int c = 0; c < cols; ++c) want[r] = s[r * lds + c] > want[r] ? s[r * lds + c] : want[r];
    ks.row_max(s.data(), lds, ks.mr, cols, mx.data());
    for (int r = 0; r < ks.mr; ++r) EXPECT_EQ(mx[r], want[r]) << "cols=" << cols << " row " << r;
  }
}

// exp2_rows against double math: P within `ulp` ulp of exp2 (after the
// compute type's rounding), zeros in the padding, -inf -> 0, NaN -> NaN,
// sums of what was written added to the old sums.
void check_exp2_rows(const KernelSet& ks, Exp2Precision prec) {
  std::mt19937 rng(15);
  std::uniform_real_distribution<float> u(-30.0f, 10.0f);
  const bool accurate = prec == Exp2Precision::accurate;
  const bool narrow_p = kernels::pv_path(ks, prec).elem == 2;
  // fp16 P (the fast path of an SVE fp16 set): sums are of the fp32 values
  // before P's rounding, and P has fp16's subnormal spacing.
  const bool fp16_p = narrow_p && kernels::pv_path(ks, prec).pv_acc != ks.pv_acc;
  const double fast_rel = exp2_fast_rel_error(ks.name);  // 2e-3 on x86
  for (int cols : {1, 2, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 100, 256}) {
    SCOPED_TRACE("cols=" + std::to_string(cols));
    const std::int64_t lds = cols + 7;
    const int kp = round_up(cols, ks.k_pack);
    std::vector<float> s(static_cast<std::size_t>(ks.mr) * lds, kNaNf);
    std::vector<float> m(ks.mr), sum(ks.mr), sum0(ks.mr);
    for (int r = 0; r < ks.mr; ++r) {
      m[r] = u(rng);
      sum[r] = sum0[r] = static_cast<float>(r);
      for (int c = 0; c < cols; ++c) s[r * lds + c] = m[r] + u(rng) - 10.0f;  // mostly <= m
    }
    s[0] = -kInff;
    if (cols > 2) s[lds + 2] = -1000.0f;
    // Around the flush threshold 2^-126 (kernel_set.hpp: below it P may be 0).
    constexpr float kEdge[] = {-125.5f, -125.9f, -126.0f, -126.2f, -126.5f, -126.8f, -127.0f, -140.0f, -149.5f};
    if (ks.mr > 3)
      for (int c = 0; c < cols && c < static_cast<int>(std::size(kEdge)); ++c) s[3 * lds + c] = m[3] + kEdge[c];
    const bool has_nan = ks.mr > 2 && cols > 1;
    if (has_nan) s[2 * lds + cols - 1] = kNaNf;
    Buffer p(kernels::a_panels_bytes(ks, ks.mr, cols) + 256, 0xcc);
    ks.exp2_rows(s.data(), lds, ks.mr, cols, m.data(), sum.data(), p.get(), prec);
    for (int r = 0; r < ks.mr; ++r) {
      double row_sum = 0;
      for (int c = 0; c < kp; ++c) {
        const double got = p_value(ks, prec, p.get(), kernels::a_panel_index(ks, r, c, kp));
        row_sum += got;
        if (c >= cols) {
          ASSERT_EQ(got, 0.0) << "padding column " << c;
          continue;
        }
        const float x = s[r * lds + c] - m[r];
        if (std::isnan(x)) {
          ASSERT_TRUE(std::isnan(got)) << r << "," << c;
          continue;
        }
        if (x == -kInff) {
          ASSERT_EQ(got, 0.0) << r << "," << c;
          continue;
        }
        const double want = std::exp2(static_cast<double>(x));
        if (got == 0.0 && want < 0x1p-126) continue;  // flushed, as the contract allows
        if (narrow_p) {  // bf16 (or fp16) P: the rounding of P dominates
          const double rel = accurate ? 1.01 * 0x1p-8 : std::max(1.5 * 0x1p-8, fast_rel + 1.01 * 0x1p-11);
          ASSERT_NEAR(got, want, rel * want + (fp16_p ? 0x1p-24 : 1e-38)) << r << "," << c;
        } else if (accurate) {
          const float wantf = static_cast<float>(want);
          const auto gu = std::bit_cast<std::uint32_t>(static_cast<float>(got));
          const auto wu = std::bit_cast<std::uint32_t>(wantf);
          ASSERT_LE(gu > wu ? gu - wu : wu - gu, 4u) << r << "," << c << " x=" << x;
        } else {
          ASSERT_NEAR(got, want, fast_rel * want + 1e-37) << r << "," << c << " x=" << x;
        }
      }
      if (has_nan && r == 2) {
        EXPECT_TRUE(std::isnan(sum[r]));
        continue;
      }
      EXPECT_NEAR(sum[r], sum0[r] + row_sum, (fp16_p ? 1e-3 : 1e-6) * (sum0[r] + row_sum)) << "row " << r;
    }
    // Nothing written past the panel.
    const std::size_t end = kernels::a_panels_bytes(ks, ks.mr, cols);
    for (std::size_t b = end; b < end + 256; ++b)
      ASSERT_EQ(p.get<unsigned char>()[b], 0xcc) << "byte " << b;
  }
}

TEST_P(KernelSetTest, Exp2RowsAccurate) { check_exp2_rows(ks(), Exp2Precision::accurate); }
TEST_P(KernelSetTest, Exp2RowsFast) { check_exp2_rows(ks(), Exp2Precision::fast); }

TEST_P(KernelSetTest, RescaleTouchesOnlyItsColumns) {
  const KernelSet& ks = this->ks();
  for (int cols : {1, 7, 8, 9, 33, 128}) {
    const std::int64_t ldo = cols + 3;
    std::vector<float> o(static_cast<std::size_t>(ks.mr) * ldo), alpha(ks.mr);
    for (std::size_t i = 0; i < o.size(); ++i) o[i] = static_cast<float>(i % 97) - 40.0f;
    for (int r = 0; r < ks.mr; ++r) alpha[r] = 0.5f + 0.25f * r;
    std::vector<float> want = o;
    for (int r = 0; r < ks.mr; ++r)
      for (int c = 0; c < cols; ++c) want[r * ldo + c] *= alpha[r];
    ks.rescale(o.data(), ldo, cols, alpha.data());
    EXPECT_EQ(o, want) << "cols=" << cols;
  }
}

// normalize must match the scalar conversions of kernels/convert.hpp bit for
// bit (NaN only as NaN), for every output dtype, and write nothing else.
TEST_P(KernelSetTest, NormalizeRoundsSpecialValuesLikeStoreRow) {
  const KernelSet& ks = this->ks();
  std::mt19937 rng(16);
  std::uniform_real_distribution<float> u(-3.0f, 3.0f);
  for (DType out_t : {DType::f32, DType::f16, DType::bf16}) {
    for (int cols : {1, 7, 8, 9, 16, 33, 80, 130}) {
      for (int rows : {1, ks.mr}) {
        SCOPED_TRACE(std::string(dtype_short(out_t)) + " cols=" + std::to_string(cols) +
                     " rows=" + std::to_string(rows));
        const std::int64_t ldo = round_up(cols, 16) + 4, ld_out = cols + 3;
        std::vector<float> o(static_cast<std::size_t>(ks.mr) * ldo), inv(ks.mr);
        for (auto& x : o) x = u(rng);
        for (int r = 0; r < ks.mr; ++r) inv[r] = 1.0f / (1.0f + r);
        // Values that test rounding: ties, fp16 overflow and subnormals, NaN, inf.
        const float special[] = {1.0009765625f, 1.00048828125f, 65520.0f, 1e5f,        3e-6f,
                                 1e-8f,         kNaNf,           -kInff,    1.00390625f, -0.0f};
        for (int i = 0; i < static_cast<int>(std::size(special)) && i < cols; ++i)
          o[i] = special[i];
        const std::size_t esz = kernels::dtype_size(out_t);
        std::vector<unsigned char> got(static_cast<std::size_t>(ks.mr) * ld_out * esz, 0xab),
            want = got;
        ks.normalize(o.data(), ldo, rows, cols, inv.data(), got.data(), ld_out, out_t);
        for (int r = 0; r < rows; ++r) {
          std::vector<float> row(cols);
          for (int c = 0; c < cols; ++c) row[c] = o[r * ldo + c] * inv[r];
          kernels::store_row(row.data(), cols, want.data() + r * ld_out * esz, out_t);
        }
        auto decode = [&](const unsigned char* e) -> float {
          if (out_t == DType::f32) return *reinterpret_cast<const float*>(e);
          const std::uint16_t h = static_cast<std::uint16_t>(e[0] | e[1] << 8);
          return out_t == DType::f16 ? kernels::fp16_to_float(h) : kernels::bf16_to_float(h);
        };
        for (std::size_t b = 0; b < got.size(); b += esz) {
          if (std::isnan(decode(&want[b])))
            ASSERT_TRUE(std::isnan(decode(&got[b]))) << "element " << b / esz;
          else
            ASSERT_EQ(std::memcmp(&got[b], &want[b], esz), 0)
                << "element " << b / esz << ": " << decode(&got[b]) << " vs " << decode(&want[b]);
        }
      }
    }
  }
}

// qk_rows and pv_rows (a row block's last, short strip): the first `rows`
// rows of the full tiles bit for bit (the same arithmetic), and nothing of
// S or O past them written. Panels are fp32 in these sets whatever the
// input dtype, so the fp32 sibling packs them.
TEST_P(KernelSetTest, ShortStripTilesMatchTheFullTiles) {
  const KernelSet& ks = this->ks();
  if (!ks.qk_rows || !ks.pv_rows) GTEST_SKIP() << ks.name << " has no short-strip tiles";
  const KernelSet& f32 = *contract_set(ks.name, DType::f32);
  std::mt19937 rng(31);
  const auto expect_rows = [&](const std::vector<float>& part, const std::vector<float>& full, int rows,
                               std::int64_t ld, int cols, const char* what) {
    for (int r = 0; r < ks.mr; ++r)
      for (int c = 0; c < ld; ++c) {
        const float got = part[r * ld + c];
        if (r < rows && c < cols)
          ASSERT_EQ(std::bit_cast<std::uint32_t>(got), std::bit_cast<std::uint32_t>(full[r * ld + c]))
              << what << "(" << rows << ") [" << r << "][" << c << "]";
        else
          ASSERT_TRUE(std::isnan(got)) << what << "(" << rows << ") wrote [" << r << "][" << c << "]";
      }
  };
  for (int d : {1, 16, 33, 128}) {  // Q·Kᵀ over d, or P·V over d keys
    SCOPED_TRACE("d=" + std::to_string(d));
    const Matrix q(ks.mr, d, d, DType::f32, rng), k(ks.nr, d, d, DType::f32, rng);
    const Matrix v(d, ks.nv, ks.nv, DType::f32, rng), v2(d, ks.nv, ks.nv, DType::f32, rng);
    Buffer qa(kernels::a_panels_bytes(ks, ks.mr, d)), kb(kernels::k_panels_bytes(ks, ks.nr, d));
    Buffer vb(kernels::v_panels_bytes(ks, d, ks.nv)), vb2(kernels::v_panels_bytes(ks, d, ks.nv));
    f32.pack_q(q.data(), q.ld, ks.mr, d, qa.get());  // Q, and P over d keys (the same A layout)
    f32.pack_k(k.data(), k.ld, ks.nr, d, kb.get());
    f32.pack_v(v.data(), v.ld, d, ks.nv, vb.get());
    f32.pack_v(v2.data(), v2.ld, d, ks.nv, vb2.get());
    const int dp = round_up(d, ks.k_pack);
    const std::int64_t lds = ks.nr + 3, ldo = ks.nv + 5;
    std::vector<float> s_full(ks.mr * lds, kNaNf), o_full(ks.mr * ldo, kNaNf);
    ks.qk(dp, qa.get(), kb.get(), 0.37f, s_full.data(), lds);
    ks.pv_init(dp, qa.get(), vb.get(), o_full.data(), ldo);
    ks.pv_acc(dp, qa.get(), vb2.get(), o_full.data(), ldo);
    for (int rows = 1; rows < ks.mr; ++rows) {
      std::vector<float> s_part(s_full.size(), kNaNf), o_part(o_full.size(), kNaNf);
      ks.qk_rows(rows, dp, qa.get(), kb.get(), 0.37f, s_part.data(), lds);
      expect_rows(s_part, s_full, rows, lds, ks.nr, "qk_rows");
      ks.pv_rows(rows, dp, qa.get(), vb.get(), o_part.data(), ldo, false);
      ks.pv_rows(rows, dp, qa.get(), vb2.get(), o_part.data(), ldo, true);
      expect_rows(o_part, o_full, rows, ldo, ks.nv, "pv_rows");
    }
  }
}

// The direct K/V path through online and two_pass, as the plans use it: few
// rows per block (one strip, or two in step), fp32, the accurate precision. The set under test is copied with its packers and packed

// ---- tiles of random dense rows, within a relative bound --------------------

TEST_P(KernelSetTest, RowMaxAndRescaleAtEveryTail) {
  const KernelSet& ks = this->ks();
  std::mt19937 rng(5);
  std::uniform_real_distribution<float> u(-50.0f, 50.0f);
  for (int cols : {1, 7, 33, 100}) {
    const std::int64_t ld = cols + 2;
    std::vector<float> s(ks.mr * ld);
    for (float& x : s) x = u(rng);
    std::vector<float> mx(ks.mr), want(ks.mr);
    for (int r = 0; r < ks.mr; ++r) {
      s[r * ld + (r * 5) % cols] = 60.0f + r;  // the max, somewhere in the row
      s[r * ld + cols] = 1e9f;                 // past the end: must be ignored
      mx[r] = r == 1 ? 100.0f : -kInff;        // a larger running max stays
      want[r] = r == 1 ? 100.0f : 60.0f + r;
    }
    ks.row_max(s.data(), ld, ks.mr, cols, mx.data());
    for (int r = 0; r < ks.mr; ++r) EXPECT_EQ(mx[r], want[r]) << "cols " << cols << " r " << r;
    std::vector<float> o = s, alpha(ks.mr);
    for (int r = 0; r < ks.mr; ++r) alpha[r] = 0.25f * (r + 1);
    ks.rescale(o.data(), ld, cols, alpha.data());
    for (int r = 0; r < ks.mr; ++r)
      for (std::int64_t c = 0; c < ld; ++c) EXPECT_EQ(o[r * ld + c], c < cols ? s[r * ld + c] * alpha[r] : s[r * ld + c]);
  }
}

// S = alpha·Q·Kᵀ for a strip of dense rows (mr - 1 real) and a K tile (nr -
// 3 real keys), within 1e-6 of the products' magnitudes.
TEST_P(KernelSetTest, QkTileWithinARelativeBound) {
  const KernelSet& ks = this->ks();
  for (int d : {1, 7, 33, 96}) {
    SCOPED_TRACE("d " + std::to_string(d));
    std::mt19937 rng(d);
    const int rows = ks.mr - 1, keys = ks.nr - 3, dp = round_up(d, ks.k_pack);
    const Matrix q(rows, d, d, ks.dtype, rng), k(keys, d, d, ks.dtype, rng);
    Buffer qp(kernels::a_panels_bytes(ks, rows, d)), kp(kernels::k_panels_bytes(ks, keys, d));
    ks.pack_q(q.data(), d, rows, d, qp.data());
    ks.pack_k(k.data(), d, keys, d, kp.data());
    const std::int64_t lds = ks.nr + 5;
    std::vector<float> s(ks.mr * lds, -1.0f);
    const float alpha = 0.37f;
    ks.qk(dp, qp.data(), kp.data(), alpha, s.data(), lds);
    for (int r = 0; r < ks.mr; ++r)
      for (int j = 0; j < ks.nr; ++j) {
        double want = 0, mag = 0;
        if (r < rows && j < keys)
          for (int p = 0; p < d; ++p) {
            const double t = q.at(r, p) * k.at(j, p);
            want += t, mag += std::fabs(t);
          }
        EXPECT_NEAR(s[r * lds + j], alpha * want, 1e-6 * alpha * mag + 1e-30) << "r " << r << " key " << j;
      }
    // Nothing outside the tile is written.
    for (int r = 0; r < ks.mr; ++r)
      for (std::int64_t j = ks.nr; j < lds; ++j) EXPECT_EQ(s[r * lds + j], -1.0f);
  }
}

// O = P·V (init) then O += P·V (acc) on one V panel on the P·V path of each
// precision (its FP mode held), P as exp2_rows writes it for that precision.
TEST_P(KernelSetTest, PvPathOfEachPrecisionOnExp2RowsP) {
  const KernelSet& ks = this->ks();
  for (const Exp2Precision prec : {Exp2Precision::accurate, Exp2Precision::fast})
    for (const int keys : {1, 7, 33, 257}) {
      SCOPED_TRACE(std::string(prec == Exp2Precision::fast ? "fast" : "accurate") + " keys " + std::to_string(keys));
      std::mt19937 rng(keys);
      const int mr = ks.mr, dv = ks.nv - 5, kp = round_up(keys, ks.k_pack);
      const kernels::PvPath path = kernels::pv_path(ks, prec);
      // P from scores in [-4, 0].
      const std::int64_t lds = keys + 1;
      std::vector<float> s(mr * lds);
      std::uniform_real_distribution<float> u(-4.0f, 0.0f);
      for (float& x : s) x = u(rng);
      std::vector<float> m(mr, 0.0f), sum(mr, 0.0f);
      Buffer p(kernels::a_panels_bytes(ks, mr, keys + 64));
      ks.exp2_rows(s.data(), lds, mr, keys, m.data(), sum.data(), p.data(), prec);
      const Matrix v(keys, dv, dv, ks.dtype, rng);
      Buffer vp(kernels::v_panels_bytes(ks, keys, dv));
      path.pack_v(v.data(), dv, keys, dv, vp.data());
      const std::int64_t ldo = ks.nv + 3;
      std::vector<float> o(mr * ldo, -1.0f);
      {
        const kernels::FpModeScope mode(ks);
        path.pv_init(kp, p.data(), vp.data(), o.data(), ldo);
        path.pv_acc(kp, p.data(), vp.data(), o.data(), ldo);
      }
      // fp16 accumulation (noepi) rounds the running sum at every step.
      const bool narrow = path.pv_acc != ks.pv_acc && path.elem == 2;
      const double rel = narrow ? 2.0 * keys * std::ldexp(1.0, -11) : 1e-6;
      for (int r = 0; r < mr; ++r)
        for (int c = 0; c < ks.nv; ++c) {
          double want = 0, mag = 0;
          if (c < dv)
            for (int j = 0; j < keys; ++j) {
              const double t = p_value(ks, prec, p.data(), kernels::a_panel_index(ks, r, j, kp)) * v.at(j, c);
              want += t, mag += std::fabs(t);
            }
          EXPECT_NEAR(o[r * ldo + c], 2 * want, 2 * rel * mag + 1e-30) << "r " << r << " c " << c;
        }
      for (int r = 0; r < mr; ++r)
        for (std::int64_t c = ks.nv; c < ldo; ++c) EXPECT_EQ(o[r * ldo + c], -1.0f);
    }
}

}  // namespace
}  // namespace attnrt::test
