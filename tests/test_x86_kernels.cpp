// The x86-64 kernel sets (avx2, avx512, avx512_bf16), piece by piece against
// double-precision math and the generic set, then through every
// pipeline and end to end through attnrt::Runtime against
// tests/reference.hpp. A set this CPU cannot run is skipped, never failed;
// one this build lacks is skipped too.
//
// Built a second time as test_avx512_emulated (ATTNRT_AVX512_SIMDE): there
// the avx512 sets are this folder's sources compiled on a portable emulation
// of the intrinsics (tests/avx512_emulation.hpp), renamed to namespace
// avx512_simde, so their logic runs on any x86-64 CPU.
#include <attnrt/attnrt.hpp>
#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "kernels/convert.hpp"
#include "kernels/pipelines/pipeline.hpp"
#include "kernels/problem.hpp"
#include "kernels/registry.hpp"
#include "runtime/src/cpu_features.hpp"
#include "tests/reference.hpp"
#include "tests/tolerances.hpp"

#ifdef ATTNRT_HAVE_AVX2
#include "kernels/avx2/kernel_set.hpp"
#endif
#if defined(ATTNRT_HAVE_AVX512) || defined(ATTNRT_AVX512_SIMDE)
#include "kernels/avx512/kernel_set.hpp"
#endif

namespace attnrt::test {
namespace {

using kernels::DType;
using kernels::Exp2Precision;
using kernels::KernelSet;
using kernels::round_up;

constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

const char* dtype_name(DType t) {
  return t == DType::f32 ? "f32" : t == DType::f16 ? "f16" : "bf16";
}

#ifdef ATTNRT_AVX512_SIMDE
constexpr bool kEmulated = true;
bool cpu_runs(std::uint32_t) { return true; }

// The emulated avx512 sets (and the generic one, for comparisons).
const KernelSet* find_set(const std::string& name, DType t) {
  if (name == "avx512") return kernels::avx512::kernel_set(t);
  if (name == "avx512_bf16") return kernels::avx512::bf16_kernel_set(t);
  for (const KernelSet* ks : kernels::kernel_sets(t))
    if (ks && name == "generic" && name == ks->name) return ks;
  return nullptr;
}
#else
constexpr bool kEmulated = false;
bool cpu_runs(std::uint32_t features) { return (features & rt::cpu_features().bits) == features; }

// The registered set called `name` for inputs of dtype t, or null.
const KernelSet* find_set(const std::string& name, DType t) {
  for (const KernelSet* ks : kernels::kernel_sets(t))
    if (ks && name == ks->name) return ks;
  return nullptr;
}
#endif

// 64-byte aligned scratch, as the pipelines' workspace is.
class Buffer {
 public:
  explicit Buffer(std::size_t bytes, unsigned char fill = 0)
      : bytes_(bytes), p_(static_cast<unsigned char*>(std::aligned_alloc(64, round_up64(bytes)))) {
    std::memset(p_, fill, round_up64(bytes));
  }
  ~Buffer() { std::free(p_); }
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
  template <class T = void>
  T* get() const {
    return reinterpret_cast<T*>(p_);
  }
  std::size_t bytes() const { return bytes_; }

 private:
  static std::size_t round_up64(std::size_t b) { return (b + 63) / 64 * 64 + 64; }
  std::size_t bytes_;
  unsigned char* p_;
};

// A matrix of inputs in dtype t, with the exact values it holds as doubles.
struct Matrix {
  int rows, cols;
  std::int64_t ld;
  DType t;
  std::vector<std::uint16_t> half;  // f16/bf16 storage
  std::vector<float> single;        // f32 storage
  std::vector<double> value;        // rows x cols, what the storage holds
  std::size_t first = 0;            // storage index of row 0 (64-byte aligned)

  Matrix(int r, int c, std::int64_t ld_, DType t_, std::mt19937& rng, float lo = -1.0f,
         float hi = 1.0f)
      : rows(r), cols(c), ld(ld_), t(t_), value(static_cast<std::size_t>(r) * c) {
    std::uniform_real_distribution<float> u(lo, hi);
    // Room to start on a 64-byte boundary: rows ld apart are then aligned
    // exactly when ld * element size is a multiple of 64.
    const std::size_t room = 64;
    if (t == DType::f32) {
      single.assign(static_cast<std::size_t>(r) * ld + room, kNaN);  // NaN between rows
      first = (64 - reinterpret_cast<std::uintptr_t>(single.data()) % 64) % 64 / sizeof(float);
    } else {
      half.assign(static_cast<std::size_t>(r) * ld + room, 0x7e00);
      first = (64 - reinterpret_cast<std::uintptr_t>(half.data()) % 64) % 64 / sizeof(std::uint16_t);
    }
    for (int i = 0; i < r; ++i)
      for (int j = 0; j < c; ++j) {
        const float x = u(rng);
        const std::size_t at = first + static_cast<std::size_t>(i) * ld + j;
        double v;
        if (t == DType::f32) {
          single[at] = x;
          v = x;
        } else if (t == DType::f16) {
          half[at] = kernels::float_to_fp16(x);
          v = kernels::fp16_to_float(half[at]);
        } else {
          half[at] = kernels::float_to_bf16(x);
          v = kernels::bf16_to_float(half[at]);
        }
        value[static_cast<std::size_t>(i) * c + j] = v;
      }
  }
  const void* data() const {
    return t == DType::f32 ? static_cast<const void*>(single.data() + first) : half.data() + first;
  }
  const float* f32() const { return single.data() + first; }
  // Element j of row 0.
  const void* col(int j) const {
    return static_cast<const char*>(data()) + static_cast<std::size_t>(j) * (t == DType::f32 ? 4 : 2);
  }
  double at(int i, int j) const { return value[static_cast<std::size_t>(i) * cols + j]; }
};

// A packed element as double: fp32, or bf16 when the set packs 2-byte pairs.
double packed_value(const KernelSet& ks, const void* base, std::size_t index) {
  if (ks.packed_elem == 4) return static_cast<const float*>(base)[index];
  return kernels::bf16_to_float(static_cast<const std::uint16_t*>(base)[index]);
}
void set_packed(const KernelSet& ks, void* base, std::size_t index, double v) {
  if (ks.packed_elem == 4)
    static_cast<float*>(base)[index] = static_cast<float>(v);
  else
    static_cast<std::uint16_t*>(base)[index] = kernels::float_to_bf16(static_cast<float>(v));
}

// Index of element (column j, depth p) of B panels of width w (nr or nv) and
// kp depth (kernel_set.hpp layouts: [kp][w], or [kp/2][w][2] with k_pack 2).
// A panels: kernels::a_panel_index.
std::size_t panel_index(int w, int k_pack, int i, int p, int kp) {
  const std::size_t base = static_cast<std::size_t>(i / w) * w * kp;
  if (k_pack == 1) return base + static_cast<std::size_t>(p) * w + i % w;
  return base + (static_cast<std::size_t>(p / 2) * w + i % w) * 2 + p % 2;
}

struct SetCase {
  const char* name;
  DType t;
};
void PrintTo(const SetCase& c, std::ostream* os) { *os << c.name << "/" << dtype_name(c.t); }
std::string case_name(const ::testing::TestParamInfo<SetCase>& info) {
  return std::string(info.param.name) + "_" + dtype_name(info.param.t);
}
// Every x86 set and input dtype, for the kernel and the end-to-end suites.
constexpr SetCase kSetCases[] = {{"avx2", DType::f32},   {"avx2", DType::f16},   {"avx2", DType::bf16},
                                 {"avx512", DType::f32}, {"avx512", DType::f16}, {"avx512", DType::bf16},
                                 {"avx512_bf16", DType::bf16}};

class X86Set : public ::testing::TestWithParam<SetCase> {
 protected:
  void SetUp() override {
    ks_ = find_set(GetParam().name, GetParam().t);
    if (!ks_)
      GTEST_SKIP() << GetParam().name << " is not in this build for " << dtype_name(GetParam().t);
    if (!cpu_runs(ks_->requires_cpu))
      GTEST_SKIP() << GetParam().name << " needs CPU features this machine lacks ("
                   << rt::cpu_features().describe() << ")";
    generic_ = find_set("generic", GetParam().t);
    ASSERT_NE(generic_, nullptr);
  }
  const KernelSet* ks_ = nullptr;
  const KernelSet* generic_ = nullptr;
};

// S = alpha * Q·Kᵀ through pack_q, pack_k and qk on whole tiles, gathered
// into rows x keys (row stride keys).
std::vector<float> scores(const KernelSet& ks, const Matrix& q, const Matrix& k, float alpha) {
  const int rows = q.rows, keys = k.rows, d = q.cols, dp = round_up(d, ks.k_pack);
  Buffer qp(kernels::a_panels_bytes(ks, rows, d)), kp(kernels::k_panels_bytes(ks, keys, d));
  ks.pack_q(q.data(), q.ld, rows, d, qp.get());
  ks.pack_k(k.data(), k.ld, keys, d, kp.get());
  const int rp = round_up(rows, ks.mr), cp = round_up(keys, ks.nr);
  const std::int64_t lds = cp + 3;  // odd stride: stores must not assume alignment
  std::vector<float> s(static_cast<std::size_t>(rp) * lds, kNaN);
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

TEST_P(X86Set, PackingIsExactAndZeroPadded) {
  const KernelSet& ks = *ks_;
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

TEST_P(X86Set, QkTilesMatchDoubleAndGeneric) {
  std::mt19937 rng(12);
  for (int d : {1, 7, 33, 64, 80, 128, 257}) {
    for (auto [rows, keys] : {std::pair{1, 1}, {7, 33}, {ks_->mr + 1, ks_->nr + 1}, {19, 70}}) {
      SCOPED_TRACE("d=" + std::to_string(d) + " rows=" + std::to_string(rows) +
                   " keys=" + std::to_string(keys));
      const Matrix q(rows, d, d + 3, ks_->dtype, rng), k(keys, d, d + 1, ks_->dtype, rng);
      const float alpha = 0.37f;
      const std::vector<float> s = scores(*ks_, q, k, alpha);
      const std::vector<float> g = scores(*generic_, q, k, alpha);
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

TEST_P(X86Set, PvTilesInitAndAccumulate) {
  const KernelSet& ks = *ks_;
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
      std::vector<float> o(static_cast<std::size_t>(ks.mr) * ldo, kNaN);  // init must not read O
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

// ---- the direct K/V path (K and V read in place), where the set has it ----

// qk_direct on every row count of a direct row block (1..16), key and head
// dim tails, odd row strides with NaN between rows (a read past a row's end
// shows up as NaN): exactly S[0..rows)[0..keys) written, within fp32
// rounding of the double dot products.
TEST_P(X86Set, QkDirectMatchesDouble) {
  const KernelSet& ks = *ks_;
  if (!kernels::has_direct_kv(ks)) GTEST_SKIP() << ks.name << " has no direct K/V path for this dtype";
  constexpr float kSentinel = 12345.0f;
  constexpr int kMostRows = 16;
  std::mt19937 rng(21);
  for (int d : {1, 7, 33, 41, 128, 256})  // 41: the few-row kernels' 8-float steps after their 16/32
    for (int keys : {0, 1, 7, 33, 257}) {
      const Matrix q(kMostRows, d, d + 3, DType::f32, rng), k(keys, d, d + 1, ks.dtype, rng);
      const std::int64_t lds = keys + 5;
      for (int rows = 1; rows <= kMostRows; ++rows) {
        SCOPED_TRACE("d=" + std::to_string(d) + " keys=" + std::to_string(keys) + " rows=" + std::to_string(rows));
        const float alpha = rows % 2 ? 0.37f : -1.0f;
        std::vector<float> s(static_cast<std::size_t>(kMostRows) * lds, kSentinel);
        ks.qk_direct(rows, keys, d, q.f32(), q.ld, k.data(), k.ld, alpha, s.data(), lds);
        for (int i = 0; i < kMostRows; ++i)
          for (int j = 0; j < lds; ++j) {
            const float got = s[i * lds + j];
            if (i >= rows || j >= keys) {
              ASSERT_EQ(got, kSentinel) << "qk_direct wrote S[" << i << "][" << j << "]";
              continue;
            }
            double dot = 0, mag = 0;
            for (int x = 0; x < d; ++x) {
              dot += q.at(i, x) * k.at(j, x);
              mag += std::fabs(q.at(i, x) * k.at(j, x));
            }
            ASSERT_NEAR(got, alpha * dot, std::fabs(alpha) * (d + 2) * std::ldexp(mag, -24) + 1e-30)
                << "S[" << i << "][" << j << "]";
          }
      }
    }
}

// pv_direct_init then pv_direct_acc (where the set has them) over the
// nv-column slices of V (the last one `dv % nv` wide), V rows read in place
// with an odd stride: O against double, O's padding columns up to the slice
// exactly 0, nothing past it written, and bit for bit the packed path's
// result on the same P panels (the same arithmetic in the same order). Then
// pv_direct_rows, if any, on the first 1..pv_direct_rows_max rows of the
// same panels.
TEST_P(X86Set, PvDirectMatchesDoubleAndThePackedPath) {
  const KernelSet& ks = *ks_;
  if (!kernels::has_direct_kv(ks)) GTEST_SKIP() << ks.name << " has no direct K/V path for this dtype";
  std::mt19937 rng(22);
  std::uniform_real_distribution<float> u(0.0f, 1.0f);
  for (int keys : {0, 1, 7, 16, 33, 257})  // 0: init still means O = 0
    for (int dv : {1, 33, 64, 130, 256}) {  // 64, 130: pass widths of the avx512 few-row P·V
      SCOPED_TRACE("keys=" + std::to_string(keys) + " dv=" + std::to_string(dv));
      const Matrix v1(keys, dv, dv + 3, ks.dtype, rng), v2(keys, dv, dv + 1, ks.dtype, rng);
      // Two P panels as exp2_rows writes them (A layout, fp32).
      Buffer p1(kernels::a_panels_bytes(ks, ks.mr, keys)), p2(kernels::a_panels_bytes(ks, ks.mr, keys));
      std::vector<double> pv1(static_cast<std::size_t>(ks.mr) * keys), pv2(pv1.size());
      for (int r = 0; r < ks.mr; ++r)
        for (int c = 0; c < keys; ++c) {
          const std::size_t at = kernels::a_panel_index(ks, r, c, keys);
          pv1[r * keys + c] = p1.get<float>()[at] = u(rng);
          pv2[r * keys + c] = p2.get<float>()[at] = u(rng);
        }
      const auto want = [&](int r, int c, bool both) {
        double w = 0, mag = 0;
        for (int p = 0; p < keys; ++p) {
          const double a = pv1[r * keys + p] * v1.at(p, c) + (both ? pv2[r * keys + p] * v2.at(p, c) : 0.0);
          w += a;
          mag += std::fabs(pv1[r * keys + p] * v1.at(p, c)) + (both ? std::fabs(pv2[r * keys + p] * v2.at(p, c)) : 0.0);
        }
        return std::pair{w, (2 * keys + 3) * std::ldexp(mag, -24) + 1e-30};
      };
      if (ks.pv_direct_init) {
        const int ldo = round_up(dv, ks.nv) + 5;
        std::vector<float> o(static_cast<std::size_t>(ks.mr) * ldo, kNaN);  // init must not read O
        for (int c0 = 0; c0 < dv; c0 += ks.nv)
          ks.pv_direct_init(keys, p1.get(), v1.col(c0), v1.ld, std::min(ks.nv, dv - c0), o.data() + c0, ldo);
        const std::vector<float> after_init = o;
        for (int c0 = 0; c0 < dv; c0 += ks.nv)
          ks.pv_direct_acc(keys, p2.get(), v2.col(c0), v2.ld, std::min(ks.nv, dv - c0), o.data() + c0, ldo);

        Buffer b1(kernels::v_panels_bytes(ks, keys, dv)), b2(kernels::v_panels_bytes(ks, keys, dv));
        ks.pack_v(v1.data(), v1.ld, keys, dv, b1.get());
        ks.pack_v(v2.data(), v2.ld, keys, dv, b2.get());
        const std::size_t v_panel = kernels::v_panels_bytes(ks, keys, ks.nv);
        std::vector<float> packed(o.size(), kNaN);
        for (int c0 = 0; c0 < dv; c0 += ks.nv)
          ks.pv_init(keys, p1.get(), b1.get<char>() + (c0 / ks.nv) * v_panel, packed.data() + c0, ldo);
        for (int c0 = 0; c0 < dv; c0 += ks.nv)
          ks.pv_acc(keys, p2.get(), b2.get<char>() + (c0 / ks.nv) * v_panel, packed.data() + c0, ldo);

        for (int r = 0; r < ks.mr; ++r) {
          for (int c = 0; c < round_up(dv, ks.nv); ++c) {
            const float got = o[r * ldo + c];
            ASSERT_EQ(std::bit_cast<std::uint32_t>(got), std::bit_cast<std::uint32_t>(packed[r * ldo + c]))
                << "direct " << got << " vs packed " << packed[r * ldo + c] << " at O[" << r << "][" << c << "]";
            if (c >= dv) {
              ASSERT_EQ(after_init[r * ldo + c], 0.0f) << "padding O[" << r << "][" << c << "] after init";
              ASSERT_EQ(got, 0.0f) << "padding O[" << r << "][" << c << "]";
              continue;
            }
            const auto [w_init, tol_init] = want(r, c, false);
            const auto [w_acc, tol_acc] = want(r, c, true);
            ASSERT_NEAR(after_init[r * ldo + c], w_init, tol_init) << "pv_direct_init O[" << r << "][" << c << "]";
            ASSERT_NEAR(got, w_acc, tol_acc) << "pv_direct_acc O[" << r << "][" << c << "]";
          }
          for (int c = round_up(dv, ks.nv); c < ldo; ++c)
            ASSERT_TRUE(std::isnan(o[r * ldo + c])) << "pv_direct wrote O[" << r << "][" << c << "]";
        }
      }

      if (!ks.pv_direct_rows) continue;
      for (int rows = 1; rows <= ks.pv_direct_rows_max; ++rows) {
        const std::int64_t ldr = dv + 4;
        std::vector<float> out(static_cast<std::size_t>(rows) * ldr, kNaN);
        ks.pv_direct_rows(rows, keys, p1.get(), v1.data(), v1.ld, dv, out.data(), ldr, false);
        const std::vector<float> out_init = out;
        ks.pv_direct_rows(rows, keys, p2.get(), v2.data(), v2.ld, dv, out.data(), ldr, true);
        for (int r = 0; r < rows; ++r) {
          for (int c = 0; c < dv; ++c) {
            const auto [w_init, tol_init] = want(r, c, false);
            const auto [w_acc, tol_acc] = want(r, c, true);
            ASSERT_NEAR(out_init[r * ldr + c], w_init, tol_init) << "pv_direct_rows(" << rows << ") init O[" << r << "][" << c << "]";
            ASSERT_NEAR(out[r * ldr + c], w_acc, tol_acc) << "pv_direct_rows(" << rows << ") accumulate O[" << r << "][" << c << "]";
          }
          for (int c = dv; c < ldr; ++c)
            ASSERT_TRUE(std::isnan(out[r * ldr + c])) << "pv_direct_rows(" << rows << ") wrote O[" << r << "][" << c << "]";
        }
      }
    }
}

TEST_P(X86Set, RowMaxIgnoresNaNAndHandlesTails) {
  const KernelSet& ks = *ks_;
  std::mt19937 rng(14);
  std::uniform_real_distribution<float> u(-50.0f, 50.0f);
  for (int cols : {1, 3, 7, 8, 9, 15, 16, 17, 31, 33, 100, 257}) {
    const std::int64_t lds = cols + 9;
    std::vector<float> s(static_cast<std::size_t>(ks.mr) * lds,
                         1e30f);  // past cols: must not count
    for (int r = 0; r < ks.mr; ++r)
      for (int c = 0; c < cols; ++c) s[r * lds + c] = u(rng);
    s[0 * lds + cols - 1] = kNaN;  // NaN never becomes the max
    if (ks.mr > 1) s[1 * lds + 0] = 60.0f;
    if (ks.mr > 2) std::fill(s.begin() + 2 * lds, s.begin() + 2 * lds + cols, -kInf);
    std::vector<float> mx(ks.mr, -kInf), want(ks.mr, -kInf);
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
  for (int cols : {1, 2, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 100, 256}) {
    SCOPED_TRACE("cols=" + std::to_string(cols));
    const std::int64_t lds = cols + 7;
    const int kp = round_up(cols, ks.k_pack);
    std::vector<float> s(static_cast<std::size_t>(ks.mr) * lds, kNaN);
    std::vector<float> m(ks.mr), sum(ks.mr), sum0(ks.mr);
    for (int r = 0; r < ks.mr; ++r) {
      m[r] = u(rng);
      sum[r] = sum0[r] = static_cast<float>(r);
      for (int c = 0; c < cols; ++c) s[r * lds + c] = m[r] + u(rng) - 10.0f;  // mostly <= m
    }
    s[0] = -kInf;
    if (cols > 2) s[lds + 2] = -1000.0f;
    // Around the flush threshold 2^-126 (kernel_set.hpp: below it P may be 0).
    constexpr float kEdge[] = {-125.5f, -125.9f, -126.0f, -126.2f, -126.5f, -126.8f, -127.0f, -140.0f, -149.5f};
    if (ks.mr > 3)
      for (int c = 0; c < cols && c < static_cast<int>(std::size(kEdge)); ++c) s[3 * lds + c] = m[3] + kEdge[c];
    const bool has_nan = ks.mr > 2 && cols > 1;
    if (has_nan) s[2 * lds + cols - 1] = kNaN;
    Buffer p(kernels::a_panels_bytes(ks, ks.mr, cols) + 256, 0xcc);
    ks.exp2_rows(s.data(), lds, ks.mr, cols, m.data(), sum.data(), p.get(), prec);
    for (int r = 0; r < ks.mr; ++r) {
      double row_sum = 0;
      for (int c = 0; c < kp; ++c) {
        const double got = packed_value(ks, p.get(), kernels::a_panel_index(ks, r, c, kp));
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
        if (x == -kInf) {
          ASSERT_EQ(got, 0.0) << r << "," << c;
          continue;
        }
        const double want = std::exp2(static_cast<double>(x));
        if (got == 0.0 && want < 0x1p-126) continue;  // flushed, as the contract allows
        if (ks.packed_elem == 2) {  // bf16 P: the rounding of P to bf16 dominates
          ASSERT_NEAR(got, want, std::ldexp(want, -8) * (accurate ? 1.01 : 1.5) + 1e-38)
              << r << "," << c;
        } else if (accurate) {
          const float wantf = static_cast<float>(want);
          const auto gu = std::bit_cast<std::uint32_t>(static_cast<float>(got));
          const auto wu = std::bit_cast<std::uint32_t>(wantf);
          ASSERT_LE(gu > wu ? gu - wu : wu - gu, 4u) << r << "," << c << " x=" << x;
        } else {
          ASSERT_NEAR(got, want, 2e-3 * want + 1e-37) << r << "," << c << " x=" << x;
        }
      }
      if (has_nan && r == 2) {
        EXPECT_TRUE(std::isnan(sum[r]));
        continue;
      }
      EXPECT_NEAR(sum[r], sum0[r] + row_sum, 1e-6 * (sum0[r] + row_sum)) << "row " << r;
    }
    // Nothing written past the panel.
    const std::size_t end = kernels::a_panels_bytes(ks, ks.mr, cols);
    for (std::size_t b = end; b < end + 256; ++b)
      ASSERT_EQ(p.get<unsigned char>()[b], 0xcc) << "byte " << b;
  }
}

TEST_P(X86Set, Exp2RowsAccurate) { check_exp2_rows(*ks_, Exp2Precision::accurate); }
TEST_P(X86Set, Exp2RowsFast) { check_exp2_rows(*ks_, Exp2Precision::fast); }

TEST_P(X86Set, RescaleTouchesOnlyItsColumns) {
  const KernelSet& ks = *ks_;
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
TEST_P(X86Set, NormalizeEveryOutputDtype) {
  const KernelSet& ks = *ks_;
  std::mt19937 rng(16);
  std::uniform_real_distribution<float> u(-3.0f, 3.0f);
  for (DType out_t : {DType::f32, DType::f16, DType::bf16}) {
    for (int cols : {1, 7, 8, 9, 16, 33, 80, 130}) {
      for (int rows : {1, ks.mr}) {
        SCOPED_TRACE(std::string(dtype_name(out_t)) + " cols=" + std::to_string(cols) +
                     " rows=" + std::to_string(rows));
        const std::int64_t ldo = round_up(cols, 16) + 4, ld_out = cols + 3;
        std::vector<float> o(static_cast<std::size_t>(ks.mr) * ldo), inv(ks.mr);
        for (auto& x : o) x = u(rng);
        for (int r = 0; r < ks.mr; ++r) inv[r] = 1.0f / (1.0f + r);
        // Values that test rounding: ties, fp16 overflow and subnormals, NaN, inf.
        const float special[] = {1.0009765625f, 1.00048828125f, 65520.0f, 1e5f,        3e-6f,
                                 1e-8f,         kNaN,           -kInf,    1.00390625f, -0.0f};
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

// One head through pipeline `strategy` with the set under test, against the
// double-precision reference: what the runtime does per work item, minus
// the runtime (so it also runs on the emulated sets). Keys j with
// i + diag - left <= j <= i + diag + right (diag = N - M) are visible.
struct HeadCase {
  int m, n, d, dv;
  bool causal;
  int left = -1;  // sliding window: keys at most `left` before the diagonal
  std::int64_t q_ld = 0;  // Q's row stride; 0: d + 1 (rows off 64-byte boundaries)
};

void check_head(const KernelSet& ks, kernels::Strategy strategy, const kernels::Blocking& b,
                const HeadCase& c, Exp2Precision prec, std::mt19937& rng) {
  SCOPED_TRACE(std::string(kernels::strategy_name(strategy)) + " M=" + std::to_string(c.m) +
               " N=" + std::to_string(c.n) + " D=" + std::to_string(c.d) + " Dv=" + std::to_string(c.dv) +
               (c.causal ? " causal" : "") + (c.left >= 0 ? " window " + std::to_string(c.left) : "") +
               (prec == Exp2Precision::fast ? " fast" : " accurate") + (b.direct_kv ? " direct" : ""));
  const Matrix q(c.m, c.d, c.q_ld ? c.q_ld : c.d + 1, ks.dtype, rng, -2.0f, 2.0f);
  const Matrix k(c.n, c.d, c.d, ks.dtype, rng, -2.0f, 2.0f);
  const Matrix v(c.n, c.dv, c.dv + 3, ks.dtype, rng);
  const std::int64_t ldo = c.dv + 2;
  const std::size_t esz = kernels::dtype_size(ks.dtype);
  std::vector<unsigned char> o(static_cast<std::size_t>(c.m) * ldo * esz, 0xff);
  std::vector<float> lse(c.m, kNaN);

  kernels::HeadProblem p{};
  p.dtype = ks.dtype;
  p.m = c.m, p.q_heads = 1, p.n = c.n, p.d = c.d, p.dv = c.dv;
  p.q = q.data(), p.ldq = q.ld, p.k = k.data(), p.ldk = k.ld, p.v = v.data(), p.ldv = v.ld;
  p.o = o.data(), p.ldo = ldo, p.lse = lse.data(), p.ldlse = 1;
  p.scale = 1.0f / std::sqrt(static_cast<float>(c.d));
  p.diag = c.n - c.m, p.band = {c.left, c.causal ? 0 : -1};
  p.precision = prec;
  const std::size_t ws_bytes = kernels::workspace_bytes(strategy, ks, c.d, c.dv, b);
  Buffer ws(ws_bytes);
  kernels::run_pipeline(strategy, ks, p, {0, c.m, 0, c.n}, b, {ws.get(), ws_bytes});

  const auto dt = static_cast<attnrt_dtype>(ks.dtype);
  const attnrt_tensor tq{const_cast<void*>(q.data()), dt, {1, 1, c.m, c.d}, {0, 0, q.ld}};
  const attnrt_tensor tk{const_cast<void*>(k.data()), dt, {1, 1, c.n, c.d}, {0, 0, k.ld}};
  const attnrt_tensor tv{const_cast<void*>(v.data()), dt, {1, 1, c.n, c.dv}, {0, 0, v.ld}};
  attnrt_params params;
  attnrt_params_init(&params);
  params.causal = c.causal;
  params.window_left = c.left;
  params.precision = static_cast<attnrt_precision>(prec);
  const RefResult ref = reference_forward(tq, tk, tv, params);
  const Tolerance tol = tolerance(dt, static_cast<attnrt_precision>(prec));
  double worst_o = 0, worst_l = 0;
  for (int i = 0; i < c.m; ++i) {
    for (int j = 0; j < c.dv; ++j) {
      const unsigned char* e = o.data() + (static_cast<std::size_t>(i) * ldo + j) * esz;
      float got;
      if (ks.dtype == DType::f32)
        std::memcpy(&got, e, 4);
      else {
        const std::uint16_t h = static_cast<std::uint16_t>(e[0] | e[1] << 8);
        got = ks.dtype == DType::f16 ? kernels::fp16_to_float(h) : kernels::bf16_to_float(h);
      }
      ASSERT_FALSE(std::isnan(got)) << "O[" << i << "][" << j << "]";
      if (std::isinf(ref.lse[i])) {
        ASSERT_EQ(got, 0.0f) << "O[" << i << "][" << j << "] of a row that sees no key";
      }
      worst_o = std::max(worst_o, std::fabs(got - ref.o[static_cast<std::size_t>(i) * c.dv + j]));
    }
    ASSERT_FALSE(std::isnan(lse[i]));
    if (std::isinf(ref.lse[i]))  // a row that sees no key: LSE -inf (and O 0, above)
      ASSERT_EQ(lse[i], -kInf) << "lse[" << i << "]";
    else
      worst_l = std::max(worst_l, std::fabs(lse[i] - ref.lse[i]));
  }
  EXPECT_LE(worst_o, tol.o);
  EXPECT_LE(worst_l, tol.lse);
}

// Every pipeline, packed K and V: blocks of 64 rows and 96 keys, and a stage
// of 16 KiB, so two_pass and three_pass stage several chunks (the rescale
// between chunks runs) and three_pass's staged S and P take several blocks.
TEST_P(X86Set, EveryPipelineMatchesReference) {
  const KernelSet& ks = *ks_;
  const HeadCase cases[] = {{33, 257, 64, 64, false},
                            {70, 70, 80, 80, true},
                            {1, 300, 128, 128, false},
                            {129, 517, 33, 7, true},
                            {7, 1, 16, 16, false},
                            {50, 300, 64, 48, false, 40},  // sliding window, no causal bound
                            {40, 17, 32, 24, true}};  // M > N, causal bottom-right: 23 rows see no key
  std::mt19937 rng(18);
  const kernels::Blocking b{round_up(64, ks.mr), round_up(96, kernels::key_step(ks)), 16 * 1024, 2};
  for (kernels::Strategy s : {kernels::Strategy::online, kernels::Strategy::two_pass, kernels::Strategy::three_pass})
    for (const HeadCase& c : cases)
      for (Exp2Precision prec : {Exp2Precision::accurate, Exp2Precision::fast})
        check_head(ks, s, b, c, prec, rng);
}

// qk_rows and pv_rows (a row block's last, short strip): the first `rows`
// rows of the full tiles bit for bit (the same arithmetic), and nothing of
// S or O past them written. Panels are fp32 in these sets whatever the
// input dtype, so the fp32 sibling packs them.
TEST_P(X86Set, ShortStripTilesMatchTheFullTiles) {
  const KernelSet& ks = *ks_;
  if (!ks.qk_rows || !ks.pv_rows) GTEST_SKIP() << ks.name << " has no short-strip tiles";
  const KernelSet& f32 = *find_set(GetParam().name, DType::f32);
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
    std::vector<float> s_full(ks.mr * lds, kNaN), o_full(ks.mr * ldo, kNaN);
    ks.qk(dp, qa.get(), kb.get(), 0.37f, s_full.data(), lds);
    ks.pv_init(dp, qa.get(), vb.get(), o_full.data(), ldo);
    ks.pv_acc(dp, qa.get(), vb2.get(), o_full.data(), ldo);
    for (int rows = 1; rows < ks.mr; ++rows) {
      std::vector<float> s_part(s_full.size(), kNaN), o_part(o_full.size(), kNaN);
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
// kernels for K and V replaced by ones that fail, so a pass proves the
// direct kernels did the work.
int g_packed_kv_calls = 0;
void count_pack(const void*, std::int64_t, int, int, void*) { ++g_packed_kv_calls; }
void count_qk(int, const void*, const void*, float, float*, std::int64_t) { ++g_packed_kv_calls; }
void count_pv(int, const void*, const void*, float*, std::int64_t) { ++g_packed_kv_calls; }

TEST_P(X86Set, DirectKvPipelinesMatchReference) {
  if (!kernels::has_direct_kv(*ks_)) GTEST_SKIP() << ks_->name << " has no direct K/V path for this dtype";
  KernelSet ks = *ks_;
  ks.pack_k = ks.pack_v = count_pack;
  ks.qk = count_qk;
  ks.pv_init = ks.pv_acc = count_pv;
  const HeadCase cases[] = {{1, 257, 128, 128, false},     // decode: pv_direct_rows
                            {1, 33, 7, 33, true},          // decode, odd dims
                            {16, 257, 33, 256, true},      // one block of 16 rows, causal bottom-right
                            {7, 300, 256, 1, false},       // D 256, Dv 1
                            {13, 200, 64, 33, true, 40},   // sliding window
                            {40, 17, 32, 24, true},        // M > N causal: 23 rows see no key
                            // Q rows on 64-byte boundaries: read in place
                            // (the cases above gather them)
                            {12, 300, 256, 64, false, -1, 256},
                            {9, 70, 48, 48, true, -1, 64}};
  std::mt19937 rng(23);
  for (int mb : {ks.mr, 2 * ks.mr})
    for (kernels::Strategy s : {kernels::Strategy::online, kernels::Strategy::two_pass}) {
      // nb 64 keys; two_pass chunks of a few blocks (more than one, so the
      // online rescale between chunks runs too): direct mode stages only S,
      // mb floats per key.
      kernels::Blocking b{mb, round_up(64, kernels::key_step(ks)), 8 * 1024, 2};
      b.direct_kv = true;
      for (const HeadCase& c : cases) {
        g_packed_kv_calls = 0;
        check_head(ks, s, b, c, Exp2Precision::accurate, rng);
        EXPECT_EQ(g_packed_kv_calls, 0) << "the direct path packed K or V";
      }
    }
}

INSTANTIATE_TEST_SUITE_P(Sets, X86Set, ::testing::ValuesIn(kSetCases), case_name);

// ---- the vector exp2 of each ISA on its own --------------------------------

struct Exp2Case {
  const char* isa;
  std::uint32_t needs;
  void (*fn)(const float*, float*, std::int64_t, Exp2Precision);
};
std::string exp2_name(const ::testing::TestParamInfo<Exp2Case>& info) { return info.param.isa; }

class X86Exp2 : public ::testing::TestWithParam<Exp2Case> {
 protected:
  void SetUp() override {
    if (!GetParam().fn) GTEST_SKIP() << GetParam().isa << " is not in this build";
    if (!cpu_runs(GetParam().needs)) GTEST_SKIP() << GetParam().isa << " does not run on this CPU";
  }
};

std::int64_t ulp_distance(float a, float b) {
  // Both non-negative here: ordered like their bit patterns.
  return std::llabs(static_cast<std::int64_t>(std::bit_cast<std::uint32_t>(a)) -
                    static_cast<std::int64_t>(std::bit_cast<std::uint32_t>(b)));
}

TEST_P(X86Exp2, AccurateWithin4UlpOnMinus150To0) {
  // Every 97th float of [-150, 0] (~11.6M), subnormal results included.
  std::vector<float> x;
  const std::uint32_t lo = std::bit_cast<std::uint32_t>(-0.0f),
                      hi = std::bit_cast<std::uint32_t>(-150.0f);
  for (std::uint32_t b = lo; b <= hi; b += 97) x.push_back(std::bit_cast<float>(b));
  x.push_back(-150.0f);
  std::vector<float> y(x.size());
  GetParam().fn(x.data(), y.data(), static_cast<std::int64_t>(x.size()), Exp2Precision::accurate);
  std::int64_t worst = 0;
  float at = 0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    const std::int64_t d =
        ulp_distance(y[i], static_cast<float>(std::exp2(static_cast<double>(x[i]))));
    if (d > worst) worst = d, at = x[i];
  }
  EXPECT_LE(worst, 4) << "at x = " << at;
  RecordProperty("max_ulp", static_cast<int>(worst));
}

TEST_P(X86Exp2, FastWithin2e3Relative) {
  std::vector<float> x;
  for (float v = -125.0f; v <= 0.0f; v += 0.001373f) x.push_back(v);
  std::vector<float> y(x.size());
  GetParam().fn(x.data(), y.data(), static_cast<std::int64_t>(x.size()), Exp2Precision::fast);
  double worst = 0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    const double want = std::exp2(static_cast<double>(x[i]));
    worst = std::max(worst, std::fabs(y[i] - want) / want);
  }
  EXPECT_LT(worst, 2e-3);
  EXPECT_GT(worst, 1e-5) << "fast is no cheaper polynomial than accurate";
}

TEST_P(X86Exp2, SpecialValues) {
  for (Exp2Precision prec : {Exp2Precision::accurate, Exp2Precision::fast}) {
    // Odd count: the tail path runs too.
    const std::vector<float> x = {-kInf,   kNaN,   -kNaN, -1e30f,  -151.0f, -150.5f,
                                  -150.0f, 0.0f,   -0.0f, -149.0f, -126.0f, -125.5f,
                                  127.9f,  128.0f, 1e30f, kInf,    -3.0f};
    std::vector<float> y(x.size());
    GetParam().fn(x.data(), y.data(), static_cast<std::int64_t>(x.size()), prec);
    EXPECT_EQ(y[0], 0.0f);
    EXPECT_TRUE(std::isnan(y[1]));
    EXPECT_TRUE(std::isnan(y[2]));
    EXPECT_EQ(y[3], 0.0f);
    EXPECT_EQ(y[4], 0.0f);
    EXPECT_EQ(y[5], 0.0f);
    EXPECT_EQ(y[6], 0.0f);  // 2^-150 is the tie between 0 and 2^-149: even is 0
    EXPECT_EQ(y[7], 1.0f);  // exp2(0) == 1 exactly: the row max weighs exactly 1
    EXPECT_EQ(y[8], 1.0f);
    if (prec == Exp2Precision::accurate) {
      EXPECT_EQ(y[9], std::ldexp(1.0f, -149));
      EXPECT_EQ(y[10], std::ldexp(1.0f, -126));
      EXPECT_LE(ulp_distance(y[11], static_cast<float>(std::exp2(-125.5))), 4);
      EXPECT_LE(ulp_distance(y[12], static_cast<float>(std::exp2(static_cast<double>(127.9f)))),
                4);  // no overflow near 128
      EXPECT_EQ(y[16], 0.125f);
    }
    EXPECT_EQ(y[13], kInf);
    EXPECT_EQ(y[14], kInf);
    EXPECT_EQ(y[15], kInf);
  }
}

INSTANTIATE_TEST_SUITE_P(Isas, X86Exp2,
                         ::testing::Values(
#if defined(ATTNRT_AVX512_SIMDE)
                             Exp2Case{"avx512", kernels::kFeatureNone, kernels::avx512::exp2_array}
#else
#ifdef ATTNRT_HAVE_AVX2
                             Exp2Case{"avx2", kernels::kFeatureAvx2Fma, kernels::avx2::exp2_array},
#else
                             Exp2Case{"avx2", kernels::kFeatureAvx2Fma, nullptr},
#endif
#ifdef ATTNRT_HAVE_AVX512
                             Exp2Case{"avx512", kernels::kFeatureAvx512,
                                      kernels::avx512::exp2_array}
#else
                             Exp2Case{"avx512", kernels::kFeatureAvx512, nullptr}
#endif
#endif
                             ),
                         exp2_name);

// ---- end to end through the public API --------------------------------------

struct Shape {
  int b, hq, hkv, m, n, d, dv;
  bool causal;
};

class X86EndToEnd : public ::testing::TestWithParam<SetCase> {};

std::vector<std::uint16_t> to_half(const std::vector<float>& x, DType t) {
  std::vector<std::uint16_t> h(x.size());
  for (std::size_t i = 0; i < x.size(); ++i)
    h[i] = t == DType::f16 ? kernels::float_to_fp16(x[i]) : kernels::float_to_bf16(x[i]);
  return h;
}

TEST_P(X86EndToEnd, MatchesReference) {
  const SetCase sc = GetParam();
  if (kEmulated) GTEST_SKIP() << "the runtime runs the native sets, not the emulated ones";
  const KernelSet* ks = find_set(sc.name, sc.t);
  if (!ks) GTEST_SKIP() << sc.name << " is not in this build";
  if (!cpu_runs(ks->requires_cpu)) GTEST_SKIP() << sc.name << " does not run on this CPU";
  // ATTNRT_ISA names the set (avx512_bf16 covers bf16 only; other dtypes
  // choose as usual).
  Config cfg;
  cfg.num_threads = 2;
  cfg.isa = sc.name;
  Runtime rt(cfg);
  const Shape shapes[] = {
      {1, 2, 2, 33, 257, 64, 64, false},   // tails in rows and keys
      {2, 4, 2, 70, 70, 80, 80, true},     // GQA, causal, D = 80
      {1, 3, 1, 1, 300, 128, 128, false},  // decode-like, MQA
      {1, 1, 1, 129, 517, 33, 7, true},    // odd D, Dv; causal bottom-right with N > M
      {1, 2, 1, 7, 1, 16, 16, false},      // one key
      {1, 2, 2, 40, 17, 32, 24, true},     // M > N, causal bottom-right: rows that see no key
  };
  std::mt19937 rng(17);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  for (const Shape& s : shapes) {
    for (Precision prec : {Precision::accurate, Precision::fast}) {
      SCOPED_TRACE("M=" + std::to_string(s.m) + " N=" + std::to_string(s.n) +
                   " D=" + std::to_string(s.d) + " Dv=" + std::to_string(s.dv) +
                   (s.causal ? " causal" : "") + (prec == Precision::fast ? " fast" : " accurate"));
      auto fill = [&](std::size_t n) {
        std::vector<float> v(n);
        for (auto& x : v) x = u(rng) * 2.0f;  // scores of a few units: a real softmax
        return v;
      };
      std::vector<float> qf = fill(static_cast<std::size_t>(s.b) * s.hq * s.m * s.d);
      std::vector<float> kf = fill(static_cast<std::size_t>(s.b) * s.hkv * s.n * s.d);
      std::vector<float> vf = fill(static_cast<std::size_t>(s.b) * s.hkv * s.n * s.dv);
      for (auto& x : vf) x *= 0.5f;  // |V| <= 1, as tolerances.hpp assumes
      std::vector<float> of(static_cast<std::size_t>(s.b) * s.hq * s.m * s.dv, kNaN);
      std::vector<float> lse(static_cast<std::size_t>(s.b) * s.hq * s.m, kNaN);
      std::vector<std::uint16_t> qh, kh, vh, oh;
      void *qd = qf.data(), *kd = kf.data(), *vd = vf.data(), *od = of.data();
      const auto dt = static_cast<attnrt::DType>(sc.t);
      if (sc.t != DType::f32) {
        qh = to_half(qf, sc.t), kh = to_half(kf, sc.t), vh = to_half(vf, sc.t);
        oh.assign(of.size(), 0x7e00);
        qd = qh.data(), kd = kh.data(), vd = vh.data(), od = oh.data();
      }
      const Tensor q = Tensor::bhsd(qd, dt, s.b, s.hq, s.m, s.d);
      const Tensor k = Tensor::bshd(kd, dt, s.b, s.hkv, s.n, s.d);  // strided K
      const Tensor v = Tensor::bhsd(vd, dt, s.b, s.hkv, s.n, s.dv);
      const Tensor o = Tensor::bhsd(od, dt, s.b, s.hq, s.m, s.dv);
      const Tensor l = Tensor::bhsd(lse.data(), attnrt::DType::f32, s.b, s.hq, s.m, 1);
      Params params;
      params.causal = s.causal;
      params.precision = prec;
      params.lse = &l;
      rt.forward(q, k, v, o, params);
      const detail::CParams cp(params);
      const RefResult ref = reference_forward(q.c(), k.c(), v.c(), cp.p);
      const Tolerance tol =
          tolerance(static_cast<attnrt_dtype>(sc.t), static_cast<attnrt_precision>(prec));
      double worst_o = 0, worst_l = 0;
      for (std::size_t i = 0; i < of.size(); ++i) {
        const double got = sc.t == DType::f32   ? of[i]
                           : sc.t == DType::f16 ? kernels::fp16_to_float(oh[i])
                                                : kernels::bf16_to_float(oh[i]);
        ASSERT_FALSE(std::isnan(got)) << "O[" << i << "]";
        worst_o = std::max(worst_o, std::fabs(got - ref.o[i]));
      }
      for (std::size_t i = 0; i < lse.size(); ++i) {
        ASSERT_FALSE(std::isnan(lse[i])) << "lse[" << i << "]";
        if (std::isinf(ref.lse[i]))  // a row that sees no key: LSE -inf (O 0, compared above)
          ASSERT_EQ(lse[i], -kInf) << "lse[" << i << "]";
        else
          worst_l = std::max(worst_l, std::fabs(lse[i] - ref.lse[i]));
      }
      EXPECT_LE(worst_o, tol.o);
      EXPECT_LE(worst_l, tol.lse);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Sets, X86EndToEnd, ::testing::ValuesIn(kSetCases), case_name);

}  // namespace
}  // namespace attnrt::test
