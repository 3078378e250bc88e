// Every registered KernelSet on its own, against double precision, through
// the interface of kernels/kernel_set.hpp only: packed panels are built by
// the set's packers and read back through its micro-kernels (an A panel is
// read by multiplying it with an identity V), never by poking at a layout.
// Inputs come with NaN in the gaps of their strided rows and buffers come
// pre-filled with garbage, so a packer that reads outside its rows or leaves
// padding unwritten shows up as NaN. Sets this CPU cannot run are skipped.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <memory>
#include <random>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "kernels/convert.hpp"
#include "kernels/kernel_set.hpp"
#include "kernels/pipelines/strip.hpp"
#include "kernels/registry.hpp"
#include "tests/backends.hpp"
#include "tests/tensors.hpp"
#include "tests/tolerances.hpp"

namespace attnrt::test {
namespace {

using kernels::DType;
using kernels::Exp2Precision;
using kernels::KernelSet;
using kernels::round_up;

constexpr float kNaNf = std::numeric_limits<float>::quiet_NaN();
constexpr float kInff = std::numeric_limits<float>::infinity();
constexpr double kU = 1.0 / (1 << 24);  // fp32 unit roundoff
constexpr float kSentinel = 12345.0f;   // in scratch cells a kernel must not write

// Bytes, 64-byte aligned, filled with `fill`, followed by a guard of fill.
class Buffer {
 public:
  Buffer(std::size_t bytes, unsigned char fill) : bytes_(bytes), fill_(fill), mem_(new unsigned char[bytes + 192]) {
    data_ = mem_.get() + (64 - reinterpret_cast<std::uintptr_t>(mem_.get()) % 64) % 64;
    std::memset(data_, fill, bytes + kGuard);
  }
  void* data() { return data_; }
  std::byte* bytes() { return reinterpret_cast<std::byte*>(data_); }
  bool guard_intact() const {
    return std::all_of(data_ + bytes_, data_ + bytes_ + kGuard, [&](unsigned char c) { return c == fill_; });
  }

 private:
  static constexpr std::size_t kGuard = 64;
  std::size_t bytes_;
  unsigned char fill_;
  std::unique_ptr<unsigned char[]> mem_;
  unsigned char* data_;
};

// A [rows x cols] matrix of the set's dtype with row stride cols + 3 and NaN
// in the gaps (a one-head "cache" view).
HostTensor matrix(attnrt_dtype t, int rows, int cols) {
  return HostTensor(t, {1, 1, rows, cols}, Layout::cache, kNanFill);
}
const void* src(const HostTensor& m) { return m.c().data; }
std::int64_t ld(const HostTensor& m) { return m.c().stride[2]; }

double ulp_f32(double x) {
  const double a = std::fabs(x);
  if (a < std::ldexp(1.0, -126)) return std::ldexp(1.0, -149);
  return std::ldexp(1.0, std::ilogb(a) - 23);
}

// O[r][c] in double after O = P1·V1 (init) and after O += P2·V2 (acc), and
// the sum of the products' magnitudes that bounds their rounding.
struct PvWant {
  double init, acc, mag;
};
PvWant pv_want(const HostTensor& p1, const HostTensor& v1, const HostTensor& p2, const HostTensor& v2,
               int keys, int r, int c) {
  PvWant w{0, 0, 0};
  double second = 0;
  for (int j = 0; j < keys; ++j) {
    const double x1 = p1.get(0, 0, r, j) * v1.get(0, 0, j, c), x2 = p2.get(0, 0, r, j) * v2.get(0, 0, j, c);
    w.init += x1;
    second += x2;
    w.mag += std::fabs(x1) + std::fabs(x2);
  }
  w.acc = w.init + second;
  return w;
}

class KernelSetTest : public ::testing::TestWithParam<const KernelSet*> {
 protected:
  void SetUp() override {
    if (!cpu_runs(ks())) GTEST_SKIP() << ks().name << " needs CPU features this machine lacks";
  }
  const KernelSet& ks() const { return *GetParam(); }
  attnrt_dtype dtype() const { return static_cast<attnrt_dtype>(ks().dtype); }
  // Relative error a panel's conversion may add: none when the packed type
  // holds the input dtype exactly, a bf16 rounding when fp32 is narrowed.
  double pack_rel() const { return ks().dtype == DType::f32 && ks().packed_elem == 2 ? std::ldexp(1.0, -8) : 0.0; }

  // The [mr x kp] matrix an A panel holds (P or Q), read through pv_init
  // with an identity V.
  // Reads a P panel back through the set's own P·V path for `prec` (the
  // fast path may hold P in a narrower type): P times the identity.
  std::vector<float> read_a_panel(const void* a_panel, int kp, Exp2Precision prec = Exp2Precision::accurate) {
    const KernelSet& k = ks();
    const kernels::PvPath pv = kernels::pv_path(k, prec);
    HostTensor eye = matrix(dtype(), kp, kp);
    for (int i = 0; i < kp; ++i)
      for (int j = 0; j < kp; ++j) eye.set(0, 0, i, j, i == j ? 1.0 : 0.0);
    Buffer v(kernels::v_panels_bytes(k, kp, kp), 0xff);
    pv.pack_v(src(eye), ld(eye), kp, kp, v.data());
    const int ldo = round_up(kp, k.nv);
    std::vector<float> o(static_cast<std::size_t>(k.mr) * ldo, kSentinel);
    const std::size_t v_panel = static_cast<std::size_t>(round_up(kp, k.k_pack)) * k.nv * pv.elem;
    for (int c = 0; c < kp; c += k.nv) pv.pv_init(kp, a_panel, v.bytes() + (c / k.nv) * v_panel, o.data() + c, ldo);
    std::vector<float> out(static_cast<std::size_t>(k.mr) * kp);
    for (int r = 0; r < k.mr; ++r)
      for (int c = 0; c < kp; ++c) out[r * kp + c] = o[r * ldo + c];
    return out;
  }
};

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

// ---- the direct K/V path (K and V read in place) -----------------------------

// The fp32 set of the same name: a set with the direct path computes on
// fp32 panels whatever its input dtype (kernel_set.hpp, has_direct_kv).
const KernelSet& fp32_sibling(const KernelSet& k) {
  for (const KernelSet* s : kernels::kernel_sets(DType::f32))
    if (s && std::string(s->name) == k.name) return *s;
  throw std::logic_error(std::string(k.name) + " has no fp32 set");
}

// Element c of a matrix's first row, as a kernel reading it in place takes it.
const void* row_at(const HostTensor& m, int c) {
  return static_cast<const char*>(m.c().data) + static_cast<std::size_t>(c) * (m.dtype() == ATTNRT_F32 ? 4 : 2);
}

// Under emulation (tests/backends.hpp) the direct Q·Kᵀ checks a sample of
// row and key counts (tile edges and past them): qemu runs SVE ~100x slower.

TEST_P(KernelSetTest, QkDirectMatchesDoubleDotProducts) {
  const KernelSet& k = ks();
  if (!kernels::has_direct_kv(k)) GTEST_SKIP() << k.name << " has no direct K/V path for this dtype";
  std::mt19937 rng(11);
  std::vector<int> key_counts;
  for (int keys = 1; keys <= 67; ++keys)
    if (!emulated() || keys <= 9 || keys == 16 || keys == 17 || keys == 33 || keys == 67) key_counts.push_back(keys);
  for (const int d : {8, 33, 64, 128, 256}) {
    // Up to a row block of a few strips: the pipelines hand it whole.
    const int most = 2 * k.mr + 4;
    HostTensor q = matrix(ATTNRT_F32, most, d), kk = matrix(dtype(), 67, d);
    q.fill_uniform(rng);
    kk.fill_uniform(rng);
    for (int rows = 1; rows <= most; ++rows)
      for (const int keys : key_counts) {
        if (emulated() && rows > 5 && rows % k.mr > 1 && rows != most) continue;
        SCOPED_TRACE("d " + std::to_string(d) + " rows " + std::to_string(rows) + " keys " + std::to_string(keys));
        const float alpha = keys % 2 ? 1.0f : -0.37f;
        const std::int64_t lds = keys + 5;
        std::vector<float> s(static_cast<std::size_t>(most) * lds, kSentinel);
        k.qk_direct(rows, keys, d, static_cast<const float*>(src(q)), ld(q), src(kk), ld(kk), alpha, s.data(), lds);
        for (int i = 0; i < most; ++i)
          for (int j = 0; j < lds; ++j) {
            const float got = s[i * lds + j];
            if (i >= rows || j >= keys) {
              ASSERT_EQ(got, kSentinel) << "qk_direct wrote S[" << i << "][" << j << "]";
              continue;
            }
            double dot = 0, mag = 0;
            for (int x = 0; x < d; ++x) {
              dot += q.get(0, 0, i, x) * kk.get(0, 0, j, x);
              mag += std::fabs(q.get(0, 0, i, x) * kk.get(0, 0, j, x));
            }
            ASSERT_NEAR(got, alpha * dot, std::fabs(alpha) * mag * (d + 2) * kU + 1e-30) << "S[" << i << "][" << j << "]";
          }
      }
  }
}

// widen_rows: fp16/bf16 rows with an odd stride (NaN in the gaps) to dense
// fp32 rows, exactly (every fp16 and bf16 value is an fp32 value), and
// nothing written past rows x cols.
TEST_P(KernelSetTest, WidenRowsIsExactAndDense) {
  const KernelSet& k = ks();
  if (!k.widen_rows) GTEST_SKIP() << k.name << " widens no rows for this dtype";
  std::mt19937 rng(14);
  for (const int cols : {1, 7, 8, 15, 16, 17, 33, 128, 130})
    for (const int rows : {1, 3, 16}) {
      SCOPED_TRACE("rows " + std::to_string(rows) + " cols " + std::to_string(cols));
      HostTensor m = matrix(dtype(), rows, cols);
      m.fill_uniform(rng, -1e4, 1e4);
      std::vector<float> out(static_cast<std::size_t>(rows) * cols + 9, kSentinel);
      k.widen_rows(src(m), ld(m), rows, cols, out.data());
      for (int r = 0; r < rows; ++r)
        for (int c = 0; c < cols; ++c)
          ASSERT_EQ(out[r * cols + c], static_cast<float>(m.get(0, 0, r, c))) << "[" << r << "][" << c << "]";
      for (std::size_t i = static_cast<std::size_t>(rows) * cols; i < out.size(); ++i)
        ASSERT_EQ(out[i], kSentinel) << "widen_rows wrote past its rows";
    }
}

// The direct P·V (V rows in place, `cols` of an nv slice) against double:
// pv_direct_init / acc, where the set has them, also bit for bit against the
// packed path on the same P panel (the same arithmetic in the same order),
// then pv_direct_rows on the first 1..pv_direct_rows_max rows.
TEST_P(KernelSetTest, PvDirectMatchesDoubleAndThePackedPath) {
  const KernelSet& k = ks();
  if (!kernels::has_direct_kv(k)) GTEST_SKIP() << k.name << " has no direct K/V path for this dtype";
  std::mt19937 rng(12);
  for (const int keys : {1, 2, 7, 16, 33, 67})
    for (const int dv : {1, 7, k.nv, k.nv + 1, 2 * k.nv + 3, 80, 256}) {
      SCOPED_TRACE("keys " + std::to_string(keys) + " dv " + std::to_string(dv));
      HostTensor p1 = matrix(ATTNRT_F32, k.mr, keys), p2 = matrix(ATTNRT_F32, k.mr, keys);
      HostTensor v1 = matrix(dtype(), keys, dv), v2 = matrix(dtype(), keys, dv);
      p1.fill_uniform(rng, 0.0, 1.0);
      p2.fill_uniform(rng, 0.0, 1.0);
      v1.fill_uniform(rng);
      v2.fill_uniform(rng);
      // P is fp32 (as exp2_rows writes it): the fp32 sibling's packer, whose
      // panels this set's kernels share, or, where the sibling's strips have
      // another height (the SVE fp16 sets: 12 rows, fp32 ones 8), P's
      // elements where a_panel_index() puts them.
      const KernelSet& fp32 = fp32_sibling(k);
      Buffer a1(kernels::a_panels_bytes(k, k.mr, keys), 0xff), a2(kernels::a_panels_bytes(k, k.mr, keys), 0xff);
      for (auto [p, a] : {std::pair{&p1, &a1}, std::pair{&p2, &a2}}) {
        if (fp32.mr == k.mr) {
          fp32.pack_q(src(*p), ld(*p), k.mr, keys, a->data());
          continue;
        }
        for (int r = 0; r < k.mr; ++r)
          for (int c = 0; c < keys; ++c)
            static_cast<float*>(a->data())[kernels::a_panel_index(k, r, c, keys)] = static_cast<float>(p->get(0, 0, r, c));
      }
      const std::int64_t ldo = round_up(dv, k.nv) + 4;

      if (k.pv_direct_init) {
        // Direct: O = P1·V1, then O += P2·V2.
        std::vector<float> o(k.mr * ldo, kSentinel);
        for (int c = 0; c < dv; c += k.nv)
          k.pv_direct_init(keys, a1.data(), row_at(v1, c), ld(v1), std::min(k.nv, dv - c), o.data() + c, ldo);
        const std::vector<float> after_init = o;
        for (int c = 0; c < dv; c += k.nv)
          k.pv_direct_acc(keys, a2.data(), row_at(v2, c), ld(v2), std::min(k.nv, dv - c), o.data() + c, ldo);

        // All dv columns in one call (what the pipelines do): the same slices.
        std::vector<float> whole(k.mr * ldo, kSentinel);
        k.pv_direct_init(keys, a1.data(), src(v1), ld(v1), dv, whole.data(), ldo);
        for (int i = 0; i < k.mr * ldo; ++i) ASSERT_EQ(whole[i], after_init[i]) << "one-call init, O element " << i;
        k.pv_direct_acc(keys, a2.data(), src(v2), ld(v2), dv, whole.data(), ldo);
        for (int i = 0; i < k.mr * ldo; ++i) ASSERT_EQ(whole[i], o[i]) << "one-call accumulate, O element " << i;

        // Packed, the same P panels.
        Buffer b1(kernels::v_panels_bytes(k, keys, dv), 0xff), b2(kernels::v_panels_bytes(k, keys, dv), 0xff);
        k.pack_v(src(v1), ld(v1), keys, dv, b1.data());
        k.pack_v(src(v2), ld(v2), keys, dv, b2.data());
        const std::size_t v_panel = kernels::v_panels_bytes(k, keys, k.nv);
        std::vector<float> packed(k.mr * ldo, kSentinel);
        for (int c = 0; c < dv; c += k.nv) k.pv_init(keys, a1.data(), b1.bytes() + (c / k.nv) * v_panel, packed.data() + c, ldo);
        for (int c = 0; c < dv; c += k.nv) k.pv_acc(keys, a2.data(), b2.bytes() + (c / k.nv) * v_panel, packed.data() + c, ldo);

        for (int r = 0; r < k.mr; ++r) {
          for (int c = 0; c < round_up(dv, k.nv); ++c) {
            const float got = o[r * ldo + c];
            ASSERT_EQ(got, packed[r * ldo + c]) << "direct vs packed O[" << r << "][" << c << "]";
            if (c >= dv) {
              ASSERT_EQ(after_init[r * ldo + c], 0.0f) << "padding O[" << r << "][" << c << "] after init";
              ASSERT_EQ(got, 0.0f) << "padding O[" << r << "][" << c << "]";
              continue;
            }
            const PvWant want = pv_want(p1, v1, p2, v2, keys, r, c);
            const double tol = want.mag * (keys + 3) * kU + 1e-30;
            ASSERT_NEAR(after_init[r * ldo + c], want.init, tol) << "pv_direct_init O[" << r << "][" << c << "]";
            ASSERT_NEAR(got, want.acc, tol) << "pv_direct_acc O[" << r << "][" << c << "]";
          }
          for (int c = round_up(dv, k.nv); c < ldo; ++c) ASSERT_EQ(o[r * ldo + c], kSentinel) << "pv_direct wrote past its slices";
        }
      }

      // A strip's real rows, where the set has a kernel for them: P's first rows.
      if (!k.pv_direct_rows) continue;
      for (int rows = 1; rows <= k.pv_direct_rows_max; ++rows) {
        const std::int64_t ldr = dv + 4;
        std::vector<float> out(static_cast<std::size_t>(rows) * ldr, kSentinel);
        k.pv_direct_rows(rows, keys, a1.data(), src(v1), ld(v1), dv, out.data(), ldr, false);
        const std::vector<float> out_init = out;
        k.pv_direct_rows(rows, keys, a2.data(), src(v2), ld(v2), dv, out.data(), ldr, true);
        for (int r = 0; r < rows; ++r) {
          for (int c = 0; c < dv; ++c) {
            const PvWant want = pv_want(p1, v1, p2, v2, keys, r, c);
            const double tol = want.mag * (keys + 3) * kU + 1e-30;
            ASSERT_NEAR(out_init[r * ldr + c], want.init, tol) << "pv_direct_rows(" << rows << ") init O[" << r << "][" << c << "]";
            ASSERT_NEAR(out[r * ldr + c], want.acc, tol) << "pv_direct_rows(" << rows << ") accumulate O[" << r << "][" << c << "]";
          }
          for (int c = dv; c < ldr; ++c)
            ASSERT_EQ(out[r * ldr + c], kSentinel) << "pv_direct_rows(" << rows << ") wrote O[" << r << "][" << c << "]";
        }
      }
    }
}

// Sets declare the direct path whole or not at all, and only where it can
// run: fp32 inputs, k_pack 1.
TEST_P(KernelSetTest, DirectKvFieldsAreAllOrNothing) {
  const KernelSet& k = ks();
  EXPECT_EQ(k.pv_direct_init != nullptr, k.pv_direct_acc != nullptr) << "pv_direct_init without pv_direct_acc";
  const bool whole_strips = k.pv_direct_init || (k.pv_direct_rows && k.pv_direct_rows_max >= k.mr);
  const bool any = k.qk_direct || k.pv_direct_init || k.pv_direct_rows;
  EXPECT_TRUE(!any || (k.qk_direct && whole_strips)) << "a direct P·V or Q·Kᵀ without the other, or without whole strips";
  if (k.pv_direct_rows) {
    EXPECT_GE(k.pv_direct_rows_max, 1) << "a few-row direct P·V for no rows";
    EXPECT_LE(k.pv_direct_rows_max, k.mr) << "a few-row direct P·V for more rows than a strip";
  }
  if (any) {
    EXPECT_TRUE(kernels::has_direct_kv(k)) << "direct kernels on a set that is not fp32 with k_pack 1";
    EXPECT_EQ(kernels::kDirectPvKeys % kernels::a_block_of(k), 0)
        << "the pipelines' direct P·V calls would start P inside an A panel block";
    EXPECT_EQ(kernels::kDirectPvTurnKeys % kernels::a_block_of(k), 0)
        << "the strips' direct P·V turns would start P inside an A panel block";
  }
}

// Which row blocks read K and V in place (strip.hpp direct_kv, as online and
// two_pass ask per row block): at the accurate precision any block the plan
// marks; at the fast one too where the fast P·V path is the accurate one,
// else (SVE fp16: pv_fp16_12x2_noepi on fp16 P) the few-row blocks (rows <=
// pv_direct_rows_max: decode) only, which begin_row_block then runs on the
// accurate P·V and Q·Kᵀ paths and exp2 (fp32 P, as the direct P·V reads it).
TEST_P(KernelSetTest, DirectKvTakesFewRowBlocksAtTheFastPrecision) {
  const KernelSet& k = ks();
  if (!kernels::has_direct_kv(k)) GTEST_SKIP() << k.name << " has no direct K/V path for this dtype";
  const bool fast_pv = kernels::pv_path(k, Exp2Precision::fast).pv_acc != k.pv_acc;
  if (std::string_view(k.name).starts_with("sve") && k.dtype == DType::f16) {
    EXPECT_TRUE(fast_pv) << "the SVE fp16 sets' fast P·V (fp16 P) is what this test is about";
  }
  // Q of 2 * mr packed rows (one query row per head), d = 5.
  constexpr int d = 5;
  const int rows_max = 2 * k.mr;
  HostTensor q(dtype(), {1, rows_max, 1, d}, Layout::bhsd, 0);
  for (int h = 0; h < rows_max; ++h)
    for (int c = 0; c < d; ++c) q.set(0, h, 0, c, 0.25 * (h + c));
  kernels::HeadProblem p{};
  p.dtype = k.dtype;
  p.m = 1;
  p.q_heads = rows_max;
  p.n = 40;
  p.d = p.dv = d;
  p.q = q.c().data;
  p.ldq = q.c().stride[2];
  p.hsq = q.c().stride[1];
  p.scale = 1.0f;
  p.band = {};
  kernels::Blocking b{.mb = rows_max, .nb = kernels::key_step(k), .stage_bytes = 64 << 10, .pipe_ahead = 2,
                      .direct_kv = true};
  for (int rows = 1; rows <= rows_max; ++rows) {
    SCOPED_TRACE("rows " + std::to_string(rows));
    p.precision = Exp2Precision::accurate;
    EXPECT_TRUE(kernels::direct_kv(k, p, b, rows));
    p.precision = Exp2Precision::fast;
    EXPECT_EQ(kernels::direct_kv(k, p, b, rows), !fast_pv || rows <= k.pv_direct_rows_max);
    if (k.pv_direct_rows && rows <= k.pv_direct_rows_max) {
      EXPECT_TRUE(kernels::direct_kv(k, p, b, rows)) << "a few-row block packed";
    }
    b.direct_kv = false;
    EXPECT_FALSE(kernels::direct_kv(k, p, b, rows)) << "the plan said packed";
    b.direct_kv = true;
  }
  // A decode block at the fast precision: direct, with fp32 P.
  p.precision = Exp2Precision::fast;
  if (!k.pv_direct_rows) return;
  kernels::Carver count;
  kernels::RowBlock rb{};
  kernels::carve_row_block(count, k, d, d, b, &rb);
  Buffer ws(count.used(), 0);
  kernels::Carver carver(ws.data());
  kernels::carve_row_block(carver, k, d, d, b, &rb);
  ASSERT_TRUE(kernels::direct_kv(k, p, b, 1));
  kernels::begin_row_block(k, p, true, 0, 1, &rb);
  EXPECT_TRUE(rb.direct);
  EXPECT_EQ(rb.pv.pv_acc, k.pv_acc) << "a direct block on the fast P·V path";
  EXPECT_EQ(rb.pv.elem, sizeof(float));
  EXPECT_EQ(rb.qk.qk, k.qk);
  // exp2 stays fast where the fast precision's P is fp32 anyway.
  EXPECT_EQ(rb.exp2, fast_pv ? Exp2Precision::accurate : Exp2Precision::fast);
  EXPECT_EQ(kernels::p_offset(k, rb, 3), 3 * k.mr * sizeof(float));
  for (int c = 0; c < d; ++c) EXPECT_EQ(rb.q_rows[c], 0.25f * c) << "Q row 0, column " << c;
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
          // (kernel_set.hpp): FEXPA has no subnormal range.
          if (xv < -126.0 && g == 0.0f) continue;
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
      for (const float bad : {kInf, -kInf, std::nanf("")})
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

std::vector<const KernelSet*> every_set() {
  std::vector<const KernelSet*> out;
  for (attnrt_dtype t : {ATTNRT_F32, ATTNRT_F16, ATTNRT_BF16})
    for (const KernelSet* ks : sets_for(t)) out.push_back(ks);
  return out;
}

INSTANTIATE_TEST_SUITE_P(Registry, KernelSetTest, ::testing::ValuesIn(every_set()),
                         [](const ::testing::TestParamInfo<const KernelSet*>& info) {
                           return std::string(info.param->name) + "_" + dtype_name(static_cast<attnrt_dtype>(info.param->dtype));
                         });

}  // namespace
}  // namespace attnrt::test

namespace attnrt::kernels {
// Names a set in gtest messages (found by argument-dependent lookup).
void PrintTo(const KernelSet* ks, std::ostream* os) { *os << ks->name << "/" << static_cast<int>(ks->dtype); }
}  // namespace attnrt::kernels
